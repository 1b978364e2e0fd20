// Package handlers owns the HTTP surface: the gin engine, its middleware (request ids, logging, auth,
// body limits, rate limits), the JSON error format, the webhooks and the OpenAPI document. Each handler
// decodes, authenticates, calls one core method and encodes; business rules live in core. Errors reach
// the client through one table (errors.go: kind → status, API code, the console's Chinese message), and
// every provider's notification through one webhook door (webhook.go) over a notificationVerifier.
package handlers
