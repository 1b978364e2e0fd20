// Package pushrec records the pushes a platform fake delivers, as the hub's webhook receives them, so the
// connectors' fuzz targets can start from genuine signed pushes. Nothing listens: the fake's HTTP client
// hands each request straight to the recorder, so a push keeps the URL it was signed for. It is test
// support; nothing in the hub imports it.
package pushrec

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
)

// Recorder keeps every push it receives and answers it with the connector's own reply, so the fake counts
// it delivered.
type Recorder struct {
	r     market.Receiver
	event func(path string) string
	mu    sync.Mutex
	got   []market.Inbound
}

// New returns a Recorder answering with r. event extracts market.Inbound.Event from a request path.
func New(r market.Receiver, event func(path string) string) *Recorder {
	return &Recorder{r: r, event: event}
}

// Client returns the HTTP client to give the fake: every request it sends is received by the Recorder.
func (rec *Recorder) Client() *http.Client { return &http.Client{Transport: rec} }

// RoundTrip receives one push and answers it.
func (rec *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		body, _ = io.ReadAll(io.LimitReader(req.Body, 1<<20))
		_ = req.Body.Close()
	}
	u := *req.URL
	u.RawQuery, u.Fragment = "", ""
	in := market.Inbound{Method: req.Method, URL: u.String(), Event: rec.event(req.URL.Path), Query: req.URL.Query(),
		Body: body, ContentType: req.Header.Get("Content-Type")}
	rec.mu.Lock()
	rec.got = append(rec.got, in)
	rec.mu.Unlock()
	p, err := rec.r.ReadPush(in)
	rep := rec.r.Reply(p, err)
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", rep.ContentType)
	w.WriteHeader(rep.Status)
	_, _ = w.Write(rep.Body)
	return w.Result(), nil
}

// Wait returns the pushes received once there are at least n, failing t after ten seconds.
func (rec *Recorder) Wait(t testing.TB, n int) []market.Inbound {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rec.mu.Lock()
		got := append([]market.Inbound(nil), rec.got...)
		rec.mu.Unlock()
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("pushrec: %d pushes received, want %d", len(got), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
