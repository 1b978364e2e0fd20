// Package elemefake is a working, in-memory Ele.me retail open platform for the hub's tests and its
// sandbox: the API at "POST /" in Ele.me's signed envelope (checked with eleme.Sign: the source, the
// signature, version 3, no encryption), answering {"body":{"errno","error","data"},"cmd":"resp.<cmd>",…}
// signed in turn; shops and the stock each was told; orders with their states; and pushes to the hub's
// webhook URL, signed as Ele.me signs them and sent again every RetryInterval (at most 20 times) until
// the hub answers with the exact acknowledgement: HTTP 200, a signed envelope with cmd "resp.<cmd>", the
// push's ticket, our source, version 3 and body errno 0 (with data.source_order_id for order.create).
// It never talks to the real Ele.me.
//
// Commands: order.get, order.list (20 orders a page, oldest first, by create time within
// [start_time, end_time]), order.confirm (a new order), order.pickcomplete (a confirmed order),
// order.cancel (a new or confirmed order; type 1–8, or -1 with a reason), sku.stock.update.batch by
// custom_sku_id only (at most 100 entries, stock 0–99999, else the whole call is refused; a code the
// shop does not sell — see DeleteSKU — fails with errno 500001 and a failed_list while the others are
// taken). Failures use the numbers of package eleme (ErrnoAuth, ErrnoRateLimited, ErrnoRefused,
// ErrnoSKUFailed).
//
// Limits: Ele.me publishes no rate limit we could confirm, so the fake enforces none; Throttle plays a
// platform refusing calls for a while (errno 429, by the injected clock). It checks no timestamp window
// either (none is documented). The order ids are 19-digit numbers like Ele.me's.
//
// Pushes: PlaceOrder sends order.create {"order_id"}; CancelOrder (the buyer) and FinishOrder (the rider)
// send order.status.push with status 10 and 9; RefundLines sends order.partrefund.push with status 20 and
// refund_products. Confirm, cancel and pickcomplete by the merchant push nothing. SetDropPushes loses new
// pushes so that only the hub's pull finds the order. Orders carry a commission of 8 % (rounded down),
// no platform subsidy, and the customer paid the total.
//
// POST /sandbox/orders with {"shop_id", "lines":[{"code","name","qty","price_fen"}]} places an order in a
// running sandbox and answers {"order_id"}.
package elemefake
