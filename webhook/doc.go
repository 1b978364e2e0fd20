// Package webhook signs and verifies o2ohub's outgoing webhooks, which follow the Standard Webhooks
// specification (https://www.standardwebhooks.com).
//
// It is written for the POS, ERP and warehouse teams that consume o2ohub webhooks: import it, hand
// Verify the endpoint's secret, the request headers and the raw body, and answer 2xx only when it
// returns nil. It is also the hub's own signer (Sign, NewSecret), so both sides share one
// implementation of the scheme, checked against the specification's published test vector.
//
// The scheme: every delivery carries the headers webhook-id (the event id, the same on every retry),
// webhook-timestamp (unix seconds) and webhook-signature, a space-separated list of "v1,<sig>" entries
// where sig is the standard base64 of HMAC-SHA256(key, id + "." + timestamp + "." + body) and key is the
// base64-decoded part of the secret after "whsec_". During a secret rotation a delivery carries one
// signature per secret, and a receiver holding either secret accepts it.
//
// The package is a leaf: it imports only the standard library, keeps no state, never logs, and never
// puts a secret into an error. Capping the body size and choosing status codes are the caller's job.
package webhook
