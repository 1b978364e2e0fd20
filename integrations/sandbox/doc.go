// Package sandbox is the built-in simulated payment provider. Its gateway answers prepay requests like a
// real provider and, like a shopper who pays shortly afterwards, posts a notification signed with
// HMAC-SHA256 to the hub's /webhooks/sandbox, which goes through the same core path as a real provider's.
//
// Like a real provider, the sandbox keeps its trades durably: in the hub's database (the sandbox_trades
// and sandbox_refunds tables), not in a process. A prepay writes the trade, paid by the simulated shopper
// a moment later (the gateway's delay); the notification it owes is then sent by a sweep that claims due
// trades with core/domain's ClaimDue lease, so any number of replicas deliver each notification once,
// and a notification pending when a process dies is delivered by whichever process runs the sweep next.
// A notification the hub does not acknowledge (2xx) is retried with a growing delay, up to
// MaxNotifyAttempts. The gateway is also a core.PaymentChecker: QueryPayment answers from the trade, so
// the hub's payment reconciler applies a payment whose notification never arrived, and ClosePayment
// closes a trade not yet paid, which stops its notification. Refunds are made at once and recorded once
// per refund number.
//
// Wire format: a JSON body {"id","order_no","transaction_id","amount_fen","paid_at","status":"SUCCESS"},
// headers Sandbox-Timestamp (Unix seconds) and Sandbox-Signature: "v1=" + hex HMAC-SHA256(secret,
// timestamp + "." + body). A receiver rejects a timestamp more than five minutes off.
package sandbox
