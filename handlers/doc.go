// Package handlers owns the HTTP surface: the gin engine, its middleware (request ids, logging, auth,
// body limits, rate limits), the JSON error format, the webhooks and the OpenAPI document. Each handler
// decodes, authenticates, calls one core method and encodes; business rules live in core.
package handlers
