package events_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestHostileEndpointAnswers: an endpoint (the test's own loopback receiver) answers 429 with a
// Retry-After so large it once overflowed into a 290 ms wait, then with a body of NUL bytes, bytes that
// are not UTF-8 and terminal escapes. The delivery waits the longest wait allowed (24 hours) without
// using a step, and the answer's start is stored cleaned (PostgreSQL refuses NUL and invalid UTF-8).
func TestHostileEndpointAnswers(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		var tries atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			if tries.Add(1) == 1 {
				w.Header().Set("Retry-After", "18446744074")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte("bad\x00gateway \xff\xfe\x1b[2J" + strings.Repeat("é", 3000)))
		}))
		t.Cleanup(srv.Close)
		r.endpoint("erp", srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		r.pump()
		d := r.deliveries("erp")
		if len(d) != 1 || d[0].Attempts != 0 || d[0].Status != events.DeliveryFailed || !d[0].NextAt.Equal(r.clk.Now().Add(24*time.Hour)) {
			t.Fatalf("after 429 with Retry-After 18446744074: %+v (now %v)", d, r.clk.Now())
		}
		r.clk.Add(25 * time.Hour)
		r.pump()
		if d = r.deliveries("erp"); d[0].Attempts != 1 || d[0].LastStatus != 500 {
			t.Fatalf("after 500: %+v", d[0])
		}
		if !strings.HasPrefix(d[0].LastBody, "bad gateway") || strings.ContainsAny(d[0].LastBody, "\x00\x1b") || !utf8.ValidString(d[0].LastBody) || len(d[0].LastBody) > 512 {
			t.Fatalf("last body %q", d[0].LastBody)
		}
	})
}
