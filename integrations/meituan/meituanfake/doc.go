// Package meituanfake is a working, in-memory Meituan Flash Buy open platform (waimaiopen.meituan.com) for
// the hub's tests and its sandbox mode. It speaks Meituan's wire format with real signatures (the signer
// is meituan.Sign), so the connector in package meituan, or any independent client, can be pointed at it.
// It must never talk to real Meituan; load no real credentials into it.
//
// What it serves ([Fake] is an http.Handler):
//
//   - APIPrefix + order/confirm, order/cancel, order/preparationMealComplete, order/getOrderDetail,
//     order/getOrderDaySeq, order/getOrderIdByDaySeq and retail/sku/stock, as GET with a query or POST with a
//     form body (system parameters app_id, timestamp, sig in either). Every call is checked: parameters
//     present (701), app_id (702), sig over the URL as called, scheme and host included (703); then the
//     shop (803), the order (806) and its state (808: confirm only a new order, preparationMealComplete only
//     a confirmed one, cancel only an open one). Answers are {"data":"ok"}, {"data":…} or
//     {"data":"ng","error":{"code":…,"msg":…}}; retail/sku/stock answers result_code 2 (partly) or 3 (all
//     refused) with error_list when SKUs are refused (delisted ones: 1015).
//   - POST /sandbox/orders: {"shop_id":…,"lines":[{"code","name","qty","price_fen"}]} → {"order_id":…}.
//
// Limits: PROTOCOLS.md gives Meituan no quota for error 711 and no batch size for retail/sku/stock, so the
// fake enforces neither (the connector's 200 per call is an unconfirmed reading); nor does it refuse old
// timestamps, for which no window is documented either. [Fake.FailNext] plays a
// 711 rate limit or a 700 system error on the next call to one API instead.
//
// Pushes: for each event (paid, confirmed, cancel, refund, finished) the fake posts a form to PushURL + "/"
// + event, signed with that URL over the plain values, with detail, extras, caution, recipient_*, wm_poi_*
// and poi_receive_detail URL-encoded twice, as Meituan sends them. A push is sent again every
// RetryInterval until the answer is 2xx with the body exactly {"data":"ok"} (surrounding white space
// aside), at most 20 times. Confirm and cancel calls push too, as Meituan does.
//
// The controls play the buyer, the rider and the platform: [Fake.AddShop], [Fake.PlaceOrder],
// [Fake.CancelOrder], [Fake.RefundLines], [Fake.FinishOrder], [Fake.SetDropPushes], [Fake.DelistSKU],
// [Fake.FailNext], and read its state: [Fake.Order], [Fake.Stock], [Fake.Calls], [Fake.StockCalls],
// [Fake.Pushes]. Orders get a commission (foodShareFeeChargeByPoi) of 8% of the goods, rounded down, and
// no platform subsidy.
package meituanfake
