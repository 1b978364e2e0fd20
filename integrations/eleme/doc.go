// Package eleme is o2ohub's connector to Ele.me retail (饿了么零售, the open platform at api-be.ele.me):
// it signs and makes the calls the hub owes a shop (order.confirm, order.cancel, order.pickcomplete,
// order.get, order.list, sku.stock.update.batch), verifies and normalises Ele.me's pushes into
// market.Push, and answers them with Ele.me's signed envelope. Sign is the one signer, shared with
// package elemefake, the working fake of the platform beside it.
//
// It must not hold business rules (what an order does next, which store serves it, what stock to show),
// touch a database, log secrets, or import core beyond core/market's types. It never checks a push's
// time window or shop binding: the hub does, with Push.SignedAt and Push.ShopID / Order.ShopID. Amounts
// are integer fen, as Ele.me writes them.
//
// Wire: every call is a form POST to the base URL with cmd, body (JSON text), encrypt "", source,
// ticket (uppercase UUID), timestamp (unix seconds), version "3" and sign (see Sign); the answer is
// {"body":{"errno":0,"error":"success","data":…},"cmd":"resp.<cmd>",…}, errno ≠ 0 a failure. Pushes
// come in the same envelope; our reply is a signed envelope with cmd "resp.<cmd>" and the push's ticket.
//
// Readings (facts marked [?] in PROTOCOLS.md, and details it leaves open):
//
//   - order.create carries only the order id (body {"order_id":…}): public integrations read
//     body.order_id and then call order.get. So a PushOrder has Order nil and the hub calls FetchOrder.
//     Push.ShopID is set only when a body names shop_id.
//   - order.get [seen in answers quoted by integrations]: data {shop{id, baidu_shop_id}, order{order_id,
//     order_index (day sequence, often a string), status, total_fee, user_fee, shop_fee, commission,
//     send_fee, package_fee, discount_fee, create_time (unix seconds, often a string), remark, ext},
//     user{name, phone, address}, products (a list of bags, each a list of lines: custom_sku_id,
//     baidu_product_id, product_name, product_price, product_amount), discount [{fee, baidu_rate,
//     shop_rate, agent_rate, logistics_rate, user_rate}]}. All amounts are integer fen, as numbers or
//     strings: decoded as integers, never floats. Mapping: TotalFen = total_fee (订单总金额; it includes
//     send_fee and package_fee when charged), PaidFen = user_fee, SubsidyFen = Σ discount[].baidu_rate
//     (the platform's share of each discount), CommissionFen = commission. Line.Code = custom_sku_id,
//     PlatformSKU = baidu_product_id, PriceFen = product_price.
//   - Status: 1 → new; 5, 7 → confirmed; 8 → delivering; 9 → completed; 10 → cancelled; 15 (订单退款) →
//     cancelled, unless order.ext.part_refund is set (only part refunded: the order is left as it is).
//     order.pickcomplete does not change Ele.me's status (5).
//   - order.status.push body {order_id, status}: 5 → PushConfirmed, 9 → PushFinished, 10 → PushCancelled,
//     15 → PushStatus with StatusUnknown (whether the whole order was refunded, order.get says), others
//     PushStatus with the mapped status.
//   - order.user.cancel body {order_id, type, cancel_reason, addition_reason} [?]: the buyer asking to
//     cancel. Only type 40 (客服同意) and 60 (商户同意) are read as a cancellation (PushCancelled); the
//     other types are steps of the request, PushStatus with StatusUnknown (the hub may read the order,
//     whose status 10 is authoritative). The type numbers are from Ele.me's docs as remembered, not
//     confirmed in public source.
//   - order.partrefund.push body [seen: a logged push] {order_id, refund_id, type, status, reason,
//     refund_price, refund_products [{custom_sku_id, sku_id, name, number, total_refund}]}: status 20
//     (seen with 商户同意退单) or no status is a refund done → PushRefund with Lines (Code custom_sku_id, Qty
//     number, PriceFen 0: the push gives no unit price); another status is a step of a request →
//     PushStatus with StatusUnknown. A refund of everything still comes as this push; the hub decides.
//   - order.deliveryStatus.push → PushStatus with StatusUnknown (its codes are the rider's, not the
//     order's). Any other command (shop.bind.msg, order.remind.push …) → PushCheck: acknowledged only.
//   - Our acknowledgement: source_order_id of order.create is Ele.me's order id (the hub's own id is not
//     known at this layer). Refusals are errno -1 with a short text, status 400 or 500. The envelope's
//     extra fields a push may carry (e.g. groupId, seen) are not signed and are ignored. Pushes with a
//     non-empty encrypt are refused as malformed (we do not enable body encryption).
//   - Errors [?]: Ele.me's errno table is not public. The connector classifies by the numbers
//     ErrnoAuth (401), ErrnoRateLimited (429), ErrnoSystem (500) — chosen here, spoken by the fake —
//     and, for other numbers, by the words of the error text (sign/签名/source/token/授权/权限 → ErrAuth;
//     limit/频率/限流/频繁 → ErrRateLimited with a RetryAfter of one minute, Ele.me saying none; system
//     error/系统错误/繁忙/超时 → transient); any other errno is ErrRefused. errno 500001 from
//     sku.stock.update.batch [seen] carries {"failed_list":[{custom_sku_id, error_no, error_msg}]} in its
//     error text: ErrRefused with Failed naming those codes, the others taken. HTTP 429 is a rate limit;
//     other non-200 answers and network errors are transient.
//   - order.cancel type [?]: 3 (美食已售完) when the goods are sold out, else -1 (the merchant's own
//     words in reason). There is no reason code beyond type.
//   - Stock: custom_sku_id "code:qty;code:qty" [seen], at most 100 entries, stock 0–99999 [seen]:
//     a level above 99999 is sent as 99999 and a negative one as 0. A code holding ':' or ';' cannot be
//     written in that list: it is refused locally (in Failed) and the others are sent.
//   - Pull: order.list {shop_id, start_time, end_time (unix seconds), page} → data {total, page, pages,
//     list [{order_id, status, create_time}]} [?]. The cursor "v1:start:end:page" walks windows of at most a
//     day, up to ten pages per call; a window ending at the time of the call is re-read next time from
//     two minutes before its end, so late-visible orders are found (ids may repeat).
//   - Responses to calls are signed by Ele.me; the connector does not verify them (they come over TLS from
//     the endpoint it called), and it does not check their cmd.
//   - The Java SDK we read sends secret as a form field too; we never send it (PROTOCOLS.md).
package eleme
