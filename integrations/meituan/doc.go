// Package meituan connects the hub to Meituan Flash Buy (美团闪购, waimaiopen.meituan.com/api/v1): it
// verifies and normalises Meituan's order pushes (paid, confirmed, cancel, refund, finished) and makes the
// calls the hub owes the platform (order/confirm, order/cancel, order/preparationMealComplete,
// order/getOrderDetail, the day-sequence pull and retail/sku/stock). [Sign] is the one signer, shared with
// the fake in package meituanfake.
//
// It owns the wire format only. It holds no business rules and no database, checks no time window or shop
// binding (the hub does, with Push.SignedAt and Push.ShopID), strips nothing from the text of a push, and
// imports nothing of core but core/market's types. Secrets never appear in its errors.
//
// Readings (facts PROTOCOLS.md marks [?] or leaves open, and the reading chosen):
//
//   - Signature of a push over the doubly encoded fields (detail, extras, caution, recipient_*, wm_poi_*,
//     poi_receive_detail): over the value decoded twice, i.e. the plain text the fields stand for.
//     PROTOCOLS.md says to decode them once more "before verifying"; every SDK read signs raw, plain values
//     (easynet-cn/go-meituan utility.go Sign, kyour-cn/meituan-sdk BaseRequest::generateSignature), and
//     the second encoding is a transport artefact on Meituan's side. A value whose second decoding fails is
//     kept as it arrived (the signature then decides), so text never makes a genuine push fail.
//   - Signed URL of a push: Config.PushURL + "/" + event; when PushURL is empty, Inbound.URL.
//   - A POST call carries app_id, timestamp and sig in the query and the business parameters in the form
//     body (easynet-cn/go-meituan shangou/shan_gou_client.go); order calls are GETs with everything in the
//     query, as both SDKs make them.
//   - Reject reason codes: 2009 商品已售完 when sold out, else 2007 "APP方其他原因取消" (Meituan's own default
//     when no code is given; easynet-cn/go-meituan app_cancel_order_reason.go).
//   - Error codes (easynet-cn/go-meituan error_code.go): 711 rate limit → ErrRateLimited, RetryAfter 2 s
//     (711 carries no wait; Meituan's flow control is per-second QPS per app and API — the quota is not
//     published, so 2 s is our choice, unconfirmed); 702 app_id unknown, 703 signature, 708 no API
//     permission, 4001 token expired → ErrAuth; 700 system error → transient; any other code → ErrRefused.
//     Retail batch answers: result_code 1 ok, 2 partly (Failed names the refused SKUs), 3 all refused,
//     4 request refused (the error's code decides).
//   - Stock batch: 200 levels per retail/sku/stock call. Unconfirmed for retail/sku/stock; it is the limit
//     Meituan documents for the sibling medicine/stock ("不超过200组", easynet-cn/go-meituan
//     medicine/medicine_stock_request.go). The connector never sends more; the fake enforces no limit.
//   - Money in getOrderDetail and the paid push (easynet-cn/go-meituan app/app_paid_order_request.go,
//     order/..._poi_receive_detail.go): TotalFen = original_price (yuan, the order before every discount,
//     packaging and delivery included), PaidFen = total (yuan, what the customer paid online), SubsidyFen =
//     Σ poi_receive_detail.actOrderChargeByMt[].moneyCent (fen, what Meituan bore), CommissionFen =
//     poi_receive_detail.foodShareFeeChargeByPoi (fen, 平台服务费). Yuan numbers are read as decimal text
//     (json.Number, cn.Fen), never floats. Without poi_receive_detail (a subscribed field) subsidy and
//     commission are 0. Line price: detail[].price (yuan, the unit price after item discounts).
//   - detail and poi_receive_detail may arrive as JSON text (a string) or as JSON; both are read.
//   - Line code: sku_id, else app_spu_code, else app_food_code (we list every item single-spec with our code
//     as both app_spu_code and sku_id).
//   - Status: 1, 2 → new; 4 → confirmed; 8 → completed; 9 → cancelled; anything else → unknown.
//   - Refund event: a push carrying food (the refunded items) is partial → PushRefund with Lines; without
//     food it is a whole refund → PushCancelled. Only notify_type agree (and part, for partial refunds) is a
//     refund done; apply, reject, cancelRefund … are PushStatus with StatusUnknown (the hub may fetch).
//   - Events: paid, confirmed, cancel, refund as the brief routes them, plus finished (Meituan's 已完成订单
//     推送URL), so a completed order is pushed as PushFinished; any other event is ErrMalformed.
//   - Pull: order/getOrderDaySeq answers the shop's latest day_seq today, order/getOrderIdByDaySeq the id of
//     (date_time, day_seq). Answers are read from {"data":{…}} or {"data":[{…}]} (SDKs disagree). The cursor
//     is "yyyyMMdd:lastSeq" in China time; a past day is probed seq by seq until Meituan refuses (no such
//     order), then the next day starts at 0. At most 50 ids per call.
//   - Push ID: event:order_id:timestamp (Meituan sends no message id).
//   - Reply: {"data":"ok"} with 200; errors {"data":"ng","error":{"code":…,"msg":…}} with 403 (signature,
//     foreign app), 400 (malformed, stale, unknown shop) or 500 (anything else, so Meituan pushes again).
package meituan
