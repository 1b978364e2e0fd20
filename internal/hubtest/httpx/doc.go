// Package httpx owns the tests' HTTP call and expect helpers: send a request to a server under test
// (a JSON body, a bearer token, headers) and check and decode its answer. It imports only the standard
// library, so tests inside handlers can use it as well as internal/hubtest. It is test support:
// production code must not import it.
package httpx
