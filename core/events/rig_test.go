package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/integrations/egress"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/webhook"
)

// rig is one events Service on a test database with a movable clock and a log the test can read.
type rig struct {
	t   testing.TB
	ctx context.Context
	db  *models.DB
	clk *testclock.Clock
	env domain.Env
	svc *events.Service
	log *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

var start = time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)

func newRig(t testing.TB, db *models.DB, opts events.Options) *rig {
	clk := testclock.New(start)
	return newRigOn(t, db, clk, opts)
}

// newRigOn is another replica: a Service of its own on the same database and clock.
func newRigOn(t testing.TB, db *models.DB, clk *testclock.Clock, opts events.Options) *rig {
	buf := &syncBuffer{}
	env := domain.NewEnv(db, clk, slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	sender := egress.New(egress.Options{AllowHTTP: true, AllowPrivate: true, Timeout: 2 * time.Second})
	r := &rig{t: t, ctx: context.Background(), db: db, clk: clk, env: env, svc: events.New(env, sender, opts), log: buf}
	t.Cleanup(r.svc.Wait)
	return r
}

// endpoint creates an endpoint and returns its secret.
func (r *rig) endpoint(name, url string, types ...string) string {
	r.t.Helper()
	if len(types) == 0 {
		types = []string{"*"}
	}
	v, err := r.svc.PutEndpoint(r.ctx, name, events.Endpoint{URL: url, Events: types})
	if err != nil {
		r.t.Fatalf("endpoint %s: %v", name, err)
	}
	if v.Secret == "" {
		r.t.Fatalf("endpoint %s: no secret shown on creation", name)
	}
	return v.Secret
}

// enqueue writes one event in a transaction of its own.
func (r *rig) enqueue(topic, key string, data map[string]any) {
	r.t.Helper()
	if err := r.db.Tx(r.ctx, func(ctx context.Context) error { return events.Enqueue(ctx, r.env, topic, key, data) }); err != nil {
		r.t.Fatal(err)
	}
}

// pump sequences what was written and sends what is due, and waits for the sends to finish.
func (r *rig) pump() int {
	r.t.Helper()
	if _, err := r.svc.Sequence(r.ctx, 500); err != nil {
		r.t.Fatal(err)
	}
	n, err := r.svc.Deliver(r.ctx)
	if err != nil {
		r.t.Fatal(err)
	}
	r.svc.Wait()
	return n
}

// drain pumps until nothing more is due now.
func (r *rig) drain() {
	r.t.Helper()
	for r.pump() > 0 {
	}
}

// deliveries are the endpoint's deliveries, oldest first.
func (r *rig) deliveries(name string) []events.DeliveryView {
	r.t.Helper()
	ds, err := r.svc.Deliveries(r.ctx, name, "", 0, 500)
	if err != nil {
		r.t.Fatal(err)
	}
	for i, j := 0, len(ds)-1; i < j; i, j = i+1, j-1 {
		ds[i], ds[j] = ds[j], ds[i]
	}
	return ds
}

// receiver is a webhook consumer on loopback that records what it is sent and answers with answer.
type receiver struct {
	t      testing.TB
	srv    *httptest.Server
	mu     sync.Mutex
	got    []received
	answer func(n int, m events.Message) (int, http.Header)
}

type received struct {
	header http.Header
	body   []byte
	msg    events.Message
}

func newReceiver(t testing.TB, answer func(n int, m events.Message) (int, http.Header)) *receiver {
	rc := &receiver{t: t, answer: answer}
	if rc.answer == nil {
		rc.answer = func(int, events.Message) (int, http.Header) { return http.StatusNoContent, nil }
	}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var m events.Message
		_ = json.Unmarshal(body, &m)
		rc.mu.Lock()
		rc.got = append(rc.got, received{header: req.Header.Clone(), body: body, msg: m})
		n := len(rc.got)
		rc.mu.Unlock()
		status, h := rc.answer(n, m)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"ok":false,"why":"test answer"}`))
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) received() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

// verify checks a received request's signature as a consumer would, with the webhook package.
func verify(t testing.TB, secret string, g received, now time.Time) {
	t.Helper()
	if err := webhook.VerifyAt(secret, g.header, g.body, 5*time.Minute, now); err != nil {
		t.Fatalf("delivery %s does not verify: %v", g.header.Get(webhook.HeaderID), err)
	}
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
