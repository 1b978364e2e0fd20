// Package jddj connects the hub to JD Daojia (京东到家) as a market.Connector: it signs and makes the
// calls the hub owes JD (accept or refuse an order, goods picked by delivery mode, order query, batch
// stock) and verifies and normalises JD's pushes to <registered base>/djsw/<msg>. It owns JD's wire
// format and nothing else: no business rules, no database, no time-window or shop-binding checks (the hub
// makes those with Push.SignedAt and the shop ids); it imports only core/market's types and internal/cn.
// Amounts are integer fen; secrets never appear in errors. Package jddjfake beside it is a working JD for
// tests and the sandbox; both use the one pure signer, Sign.
//
// Wire: every call is a form POST to <Base>/<path> with app_key, format=json, jd_param_json (the
// business JSON), timestamp ("yyyy-MM-dd HH:mm:ss", China time), token, v=1.0 and sign =
// upper(hex(MD5(secret + k1v1k2v2… + secret))) over the other parameters sorted, raw values. Answers are
// {"code":"0","msg":…,"data":"<json text>"}; code ≠ "0" is a refusal.
//
// Readings (for the facts PROTOCOLS.md marks [?] or leaves open; "seen" = read in public integrations):
//
//   - Signature: confirmed by an independent PHP SDK (Abbotton/jddj BaseRequest: ksort, then the secret,
//     each "k"+"v", the secret again, strtoupper(md5)). Pushes are signed the same way over the
//     parameters as sent; several Java integrations verify an encrypted push over its decrypted
//     jd_param_json instead, so ReadPush accepts either (both need the secret).
//   - Refusal codes (seen in integrations' code tables): 10013 无效Token令牌, 10014 无效Sign签名 → ErrAuth;
//     10032 over the rate limit → ErrRateLimited, RetryAfter one minute; -10000 业务重试 → transient; 10005
//     missing parameter, 10015 API参数异常, 10018 unknown method, -1 操作失败 → ErrRefused. We found no
//     separate published code for an unknown app key: the fake answers 10013 (the token belongs to the
//     app), and a timestamp outside JD's 6 minutes with 10015. An inner business code ≠ "0" (wrong state,
//     unknown order) is ErrRefused.
//   - encryptData: supported. With no published key, we read it as the push scheme (AES-128-CBC, key
//     secret[0:16], IV secret[16:32], base64), the only key material an app shares with JD; data that
//     does not decrypt is a transient error naming encryptData. The fake speaks it when Options.Encrypt.
//   - Order states (JD's documented list, seen in many integrations): 41000 待处理 and 31020 已付款 → new;
//     32000 等待出库 (accepted by the merchant or automatically; calling the rider does not change it) →
//     confirmed; 33040 配送中 → delivering; 33060 已妥投, 34000 京东已收款, 90000 订单完成 → completed;
//     20020 订单取消, 20040 unpaid timeout, 20060 system revocation → cancelled; 20030 the buyer asked to
//     cancel, 20010 locked, 20050 paused, 31000 awaiting payment → unknown (the order is left as it is).
//     This differs from the task's "32000 new / 31000 awaiting dispatch": every source we read lists 31000
//     as 等待付款 and 32000 as the state after the merchant's accept (orderWaitOutStore is pushed then).
//   - Delivery mode: the order's deliveryCarrierNo (seen, field docs "9966 京东众包, 2938 商家自送, 1130
//     达达同城送, 9999 到店自提"): 9966 → OrderJDZBDelivery, 1130 → OrderDDTCDelivery, 2938 →
//     OrderSerllerDelivery, 9999 → OrderSelfMention; empty or another carrier → OrderJDZBDelivery.
//   - Day sequence: orderNum (当天门店订单序号), a number or a string.
//   - Subsidy and commission: order/es/query carries no commission (integrations compute it from the
//     settlement APIs), so CommissionFen is 0; SubsidyFen is the sum of discount[].platPayMoney (the
//     platform's share of each discount; venderPayMoney is seen beside it).
//   - Reject: orderAcceptOperate has no reason or reason code; the reason and soldOut are not sent.
//   - Pushes: newOrder → PushOrder without Order (the hub calls FetchOrder); userCancelOrder → PushCancelled;
//     finishOrder → PushFinished; orderWaitOutStore, applyCancelOrder, deliveryOrder, pushDeliveryStatus →
//     PushStatus with the statusId mapped (pushDeliveryStatus's statusId is the rider's state: unknown).
//     newAfterSaleBill carries only the after-sale bill id (billId = afsServiceOrder): it is PushRefund with
//     RefundID = billId and no OrderID or Lines, and the hub completes it with FetchRefund, which reads the
//     bill with afs/getAfsService ({"afsServiceOrder"} → result {afsServiceOrder, afsServiceState,
//     orderId, questionDesc, afsDetailList:[{skuIdIsv, skuId, wareName, skuCount, cashMoney}]}, seen in
//     merchants' integrations). States 32 and 114 are read as "refunded" (the units go back); any
//     other state is a request still open or refused, which changes nothing [?].
//     The app_key decides ErrForeign; the token is signed but not compared (it changes when the merchant
//     re-authorises).
//   - Reply: JD's ack {"code":"0","msg":"success","data":""}; refusals in JD's envelope: 10014 for a bad
//     signature, 10013 for another app, 10015 for malformed or stale, -1 with 404 for an unbound shop, and
//     -10000 业务重试 with 500 otherwise.
//   - PullOrders: order/es/query by deliveryStationNo and orderStartTime window, 100 a page, at most 10
//     pages a call. The cursor "v1:<unix seconds>" is the newest orderStartTime seen (that second is read
//     again); a window with no orders moves it to five minutes before now.
//   - Stock: stationNo = ShopID, userPin = Operator, absolute stockQty (negative sent as 0); per-SKU
//     results with code ≠ "0" become CallError.Failed.
package jddj
