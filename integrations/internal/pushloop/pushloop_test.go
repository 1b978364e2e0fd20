package pushloop

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestSendRetriesUntilTheExactAck: a push is posted again until the answer is the acknowledgement, then
// counted once; a dropped push is never posted; Close stops the loop.
func TestSendRetriesUntilTheExactAck(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) < 3 {
			w.Write([]byte("not yet"))
			return
		}
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	l := New(nil, time.Millisecond, nil)
	acked := func(status int, body []byte) bool { return status == 200 && string(body) == "ok" }
	l.Send(srv.URL, "text/plain", func() string { return "push" }, acked)
	for deadline := time.Now().Add(5 * time.Second); l.Acknowledged() == 0 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if n := hits.Load(); l.Acknowledged() != 1 || n != 3 {
		t.Fatalf("acknowledged %d after %d posts, want 1 after 3", l.Acknowledged(), n)
	}
	l.SetDrop(true)
	l.Send(srv.URL, "text/plain", func() string { return "push" }, acked)
	l.Close()
	l.Send(srv.URL, "text/plain", func() string { return "push" }, acked)
	if n := hits.Load(); n != 3 {
		t.Fatalf("%d posts, want no more after dropping and closing", n)
	}
}
