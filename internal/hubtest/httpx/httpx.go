package httpx

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Client sends requests to one server and reads its answers whole.
type Client struct {
	// Base is the server's URL, such as an httptest.Server's URL; paths are appended to it.
	Base string
	// HTTP sends the requests; http.DefaultClient when nil.
	HTTP *http.Client
	// Check, when set, looks at every answer before it is returned (for leaked internals, say).
	Check func(t testing.TB, r Response)
}

// Request is one request to the server.
type Request struct {
	// Method is the HTTP method, such as "POST".
	Method string
	// Path is appended to the client's Base; it may carry a query.
	Path string
	// Auth is a bearer token, sent as "Authorization: Bearer <Auth>" when not empty.
	Auth string
	// Body is nil (no body), a string or []byte (sent as is) or any other value (sent as JSON).
	Body any
	// ContentType is the body's type: application/json when empty and there is a body.
	ContentType string
	// Header holds more headers; they replace any set above.
	Header http.Header
}

// Response is the server's whole answer.
type Response struct {
	// Status is the HTTP status code.
	Status int
	// Header holds the answer's headers.
	Header http.Header
	// Body is the whole body.
	Body []byte
	t    testing.TB // the test that Expect and JSON fail
}

// Call sends a request with a JSON body (unless body is nil, a string or []byte) and a bearer token
// (unless auth is empty).
func (c *Client) Call(t testing.TB, method, path, auth string, body any) Response {
	t.Helper()
	return c.Send(t, Request{Method: method, Path: path, Auth: auth, Body: body})
}

// Send sends r, failing the test when it cannot be sent or its answer cannot be read.
func (c *Client) Send(t testing.TB, r Request) Response {
	t.Helper()
	var body io.Reader
	switch b := r.Body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal the body of %s %s: %v", r.Method, r.Path, err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(context.Background(), r.Method, c.Base+r.Path, body)
	if err != nil {
		t.Fatalf("build %s %s: %v", r.Method, r.Path, err)
	}
	if body != nil {
		ct := r.ContentType
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if r.Auth != "" {
		req.Header.Set("Authorization", "Bearer "+r.Auth)
	}
	for k, v := range r.Header {
		req.Header[http.CanonicalHeaderKey(k)] = v
	}
	return c.Do(t, req)
}

// Do sends req as it is and reads the whole answer.
func (c *Client) Do(t testing.TB, req *http.Request) Response {
	t.Helper()
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: read the body: %v", req.Method, req.URL.Path, err)
	}
	r := Response{Status: res.StatusCode, Header: res.Header, Body: b, t: t}
	if c.Check != nil {
		c.Check(t, r)
	}
	return r
}

// Expect fails the test unless the answer has the given status.
func (r Response) Expect(status int) Response {
	r.t.Helper()
	if r.Status != status {
		r.t.Fatalf("got %s, want %d", r, status)
	}
	return r
}

// JSON decodes the answer's body into v, failing the test when it is not that JSON.
func (r Response) JSON(v any) Response {
	r.t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		r.t.Fatalf("decode %T from %s: %v", v, r, err)
	}
	return r
}

// String returns the status and the body, cut after 600 bytes.
func (r Response) String() string {
	b := r.Body
	if len(b) > 600 {
		b = append(b[:600:600], "…"...)
	}
	return fmt.Sprintf("%d %s", r.Status, b)
}
