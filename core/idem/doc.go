// Package idem keeps the outcomes of requests sent with an Idempotency-Key, so that a client that retries
// a request that creates or moves money or stock (an order, a payment, a cancellation, a refund) gets the
// first answer again instead of acting twice, on any replica.
//
// It owns the idempotency_keys table: one row per (scope, route, key), holding a hash of the request body,
// whether the first request is still running, and its answer once done. It knows nothing of HTTP beyond a
// status, a content type and a body, and nothing of the requests it guards; it must not call the order
// flow. The HTTP layer scopes keys to the caller (a member, a staff account, the admin token) and the route.
package idem
