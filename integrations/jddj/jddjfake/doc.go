// Package jddjfake is a working, in-memory JD Daojia (京东到家) open platform for one app and one
// merchant, for the hub's tests and its sandbox mode. It speaks JD's wire format, so the jddj connector
// (or any independent client) can use the fake's URL as its base. It must never talk to the real JD.
//
// What it does:
//
//   - Serves the API paths (with or without "/djapi") as form POSTs or GETs: every request's system
//     parameters, app key and token (10013), signature (jddj.Sign, 10014) and timestamp (within 6 minutes
//     of its clock, else 10015) are checked, and answers use JD's envelope {"code","msg","data":"<json
//     text>","success"} (encryptData instead of data when Options.Encrypt). Unknown paths get 10018.
//   - ocs/orderAcceptOperate (accept or refuse only a new order), the four goods-picked calls (only for a
//     confirmed order, and only the call matching its deliveryCarrierNo, 9966 for every fake order),
//     order/es/query (by orderId, or orderStartTime window with deliveryStationNo and orderStatus; pageSize
//     at most 100) and stock/batchUpdateCurrentQtys.
//   - Limits: stock/batchUpdateCurrentQtys takes at most 50 SKUs a call (10015 beyond) and 300 calls in
//     any minute per merchant; the 301st answers 10032 and locks every stock call out (10032) for one
//     minute, on the injected clock. JD publishes no figures for the other calls, so the fake limits none.
//   - State: stations (AddShop; stock for an unknown station answers retCode 1), stock per station and
//     SKU code, orders with their states new (41000) → confirmed (32000) → prepared (32000) → completed
//     (33060), or cancelled (20020), a day sequence per station and China day (orderNum), the buyer paying
//     the list price, no platform subsidy and an 8% commission (kept by the fake: JD's query has none).
//   - Pushes: form POSTs to PushURL + "/djsw/<msg>" (newOrder, orderWaitOutStore, userCancelOrder,
//     finishOrder, newAfterSaleBill) with token, app_key, timestamp, format, v, sign and jd_param_json
//     {"billId","statusId","timestamp"} (or encrypt_jd_param_json), re-sent every RetryInterval until the
//     answer is HTTP 200 with exactly {"code":"0","msg":"success","data":""}, at most 20 times.
//   - Controls: PlaceOrder, CancelOrder, RefundLines, FinishOrder, SetDropPushes, Order, Stock, Calls,
//     StockCalls, Pushes, Commission, PushForm; and POST /sandbox/orders for a command-line tool.
package jddjfake
