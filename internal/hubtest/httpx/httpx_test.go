package httpx_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
)

func TestCallSendsJSONAndBearer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "path": r.URL.RequestURI(), "auth": r.Header.Get("Authorization"),
			"type": r.Header.Get("Content-Type"), "body": string(b), "x": r.Header.Get("X-Test")})
	}))
	defer srv.Close()
	checked := 0
	c := &httpx.Client{Base: srv.URL, Check: func(testing.TB, httpx.Response) { checked++ }}
	var got map[string]string
	c.Call(t, "POST", "/a?b=1", "tok", map[string]int{"n": 1}).Expect(200).JSON(&got)
	want := map[string]string{"method": "POST", "path": "/a?b=1", "auth": "Bearer tok", "type": "application/json", "body": `{"n":1}`, "x": ""}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	c.Send(t, httpx.Request{Method: "PUT", Path: "/", Body: "raw", ContentType: "text/csv", Header: http.Header{"X-Test": {"1"}}}).JSON(&got)
	if got["body"] != "raw" || got["type"] != "text/csv" || got["auth"] != "" || got["x"] != "1" {
		t.Errorf("raw request arrived as %v", got)
	}
	if c.Call(t, "GET", "/", "", nil).JSON(&got); got["type"] != "" || got["body"] != "" {
		t.Errorf("a request without a body arrived as %v", got)
	}
	if checked != 3 {
		t.Errorf("Check saw %d answers, want 3", checked)
	}
}
