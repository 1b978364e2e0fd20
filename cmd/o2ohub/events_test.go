package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeEventsHub implements the hub's pull API contract (GET /api/v1/admin/events?after&limit&types with
// the admin bearer token; after=latest answers no events and the newest cursor; errors in the API's
// {"error":{"code","message"}} shape) over an in-memory log, and records what it was asked.
type fakeEventsHub struct {
	token string

	mu       sync.Mutex
	events   []fakeEvent
	asked    []url3 // after, limit, types of each authorised request
	fail503  int    // answer this many requests 503 before serving again
	unavails int    // 503s answered
}

type url3 struct{ after, limit, types string }

type fakeEvent struct {
	ID        string         `json:"id"`
	Type      string         `json:"type"`
	CreatedAt string         `json:"created_at"`
	Sequence  int64          `json:"sequence"`
	Data      map[string]any `json:"data"`
}

// add appends n events, their types cycling through order.paid, stock.changed and order.created.
func (f *fakeEventsHub) add(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for range n {
		seq := int64(len(f.events) + 1)
		typ := []string{"order.paid", "stock.changed", "order.created"}[seq%3]
		f.events = append(f.events, fakeEvent{ID: fmt.Sprintf("evt_%d", seq), Type: typ, CreatedAt: "2026-12-05T10:00:00+08:00",
			Sequence: seq, Data: map[string]any{"order_no": fmt.Sprintf("O%d", seq), "total_fen": 100 * seq}})
	}
}

func (f *fakeEventsHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, code, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"error":{"code":%q,"message":%q}}`, code, msg)
	}
	if r.Method != http.MethodGet || r.URL.Path != "/api/v1/admin/events" {
		fail(http.StatusNotFound, "not_found", "no such endpoint")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		w.Header().Set("WWW-Authenticate", `Bearer realm="o2ohub-admin"`)
		fail(http.StatusUnauthorized, "unauthenticated", "admin bearer token required")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	f.asked = append(f.asked, url3{q.Get("after"), q.Get("limit"), q.Get("types")})
	if f.unavails < f.fail503 {
		f.unavails++
		w.Header().Set("Retry-After", "0")
		fail(http.StatusServiceUnavailable, "unavailable", "database busy")
		return
	}
	newest := int64(len(f.events))
	page := struct {
		Events    []fakeEvent `json:"events"`
		NextAfter int64       `json:"next_after"`
	}{Events: []fakeEvent{}}
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > 1000 {
		fail(http.StatusBadRequest, "invalid_argument", "limit must be 1 to 1000")
		return
	}
	if q.Get("after") == "latest" {
		page.NextAfter = newest
	} else {
		after, err := strconv.ParseInt(q.Get("after"), 10, 64)
		if err != nil || after < 0 {
			fail(http.StatusBadRequest, "invalid_argument", "after must be a cursor or latest")
			return
		}
		var types []string
		if t := q.Get("types"); t != "" {
			types = strings.Split(t, ",")
		}
		page.NextAfter = after
		for _, e := range f.events[min(after, newest):] {
			if len(page.Events) == limit {
				break
			}
			page.NextAfter = e.Sequence
			if types == nil || slices.Contains(types, e.Type) {
				page.Events = append(page.Events, e)
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(page)
}

func (f *fakeEventsHub) requests() []url3 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.asked)
}

// startTail runs `o2ohub events tail` with args until the test ends, expecting it to stop cleanly.
func startTail(t *testing.T, args []string, env map[string]string, stdout, stderr io.Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr, func(k string) string { return env[k] }) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("events tail stopped with %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("events tail did not stop when cancelled")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// waitLines waits until out holds at least n lines, and returns them.
func waitLines(t *testing.T, out *syncBuffer, n int) []string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n"); out.String() != "" && len(lines) >= n {
			return lines
		}
	}
	t.Fatalf("fewer than %d lines after 20 s:\n%s", n, out.String())
	return nil
}

// TestEventsTailFromStart follows a hub's log from its start with a types filter: every wanted event
// is printed once, in order, as one JSON line, across full pages and a 503 in between; events written
// afterwards follow; the token and the filter reach the hub; the token is never printed.
func TestEventsTailFromStart(t *testing.T) {
	hub := &fakeEventsHub{token: "s3cret-admin-token", fail503: 1}
	hub.add(330) // 220 of the two wanted types: three pages of 100 events scanned, and more
	srv := httptest.NewServer(hub)
	defer srv.Close()
	var stdout, stderr syncBuffer
	stop := startTail(t, []string{"events", "tail", "--url", srv.URL + "/", "--types", "order.paid, stock.changed", "--from-start", "--interval", "20ms"},
		map[string]string{"O2OHUB_ADMIN_TOKEN": hub.token}, &stdout, &stderr)

	waitLines(t, &stdout, 220)
	hub.add(30)
	lines := waitLines(t, &stdout, 240)
	stop()

	var want []int64
	for seq := int64(1); seq <= 360; seq++ {
		if seq%3 != 2 { // order.paid (0) and stock.changed (1), not order.created (2)
			want = append(want, seq)
		}
	}
	var got []int64
	for _, l := range lines {
		var ev fakeEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || strings.Contains(l, "\n") {
			t.Fatalf("line %q is not one JSON event: %v", l, err)
		}
		if ev.Type == "order.created" || ev.ID != fmt.Sprintf("evt_%d", ev.Sequence) || ev.Data["total_fen"] != float64(100*ev.Sequence) {
			t.Fatalf("unexpected event %s", l)
		}
		got = append(got, ev.Sequence)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("printed sequences %v,\nwant %v", got, want)
	}

	asked := hub.requests()
	if asked[0].after != "0" {
		t.Fatalf("first request after=%s, want 0 with --from-start", asked[0].after)
	}
	prev := int64(-1)
	for _, a := range asked {
		if a.types != "order.paid,stock.changed" || a.limit != "100" {
			t.Fatalf("request %+v: want types=order.paid,stock.changed and limit=100", a)
		}
		after, _ := strconv.ParseInt(a.after, 10, 64)
		if after < prev {
			t.Fatalf("the cursor went back: %v", asked)
		}
		prev = after
	}
	if prev < 330 {
		t.Fatalf("the cursor never passed the events written before: %v", asked)
	}
	if !strings.Contains(stderr.String(), "503 Service Unavailable: unavailable: database busy (retrying in") {
		t.Fatalf("the 503 was not reported on stderr: %q", stderr.String())
	}
	if strings.Contains(stdout.String()+stderr.String(), hub.token) {
		t.Fatal("the admin token was printed")
	}
}

// TestEventsTailStartsAtLatest: without --from-start, tail asks for after=latest and prints only the
// events written after it started.
func TestEventsTailStartsAtLatest(t *testing.T) {
	hub := &fakeEventsHub{token: "tok"}
	hub.add(50)
	srv := httptest.NewServer(hub)
	defer srv.Close()
	var stdout, stderr syncBuffer
	stop := startTail(t, []string{"events", "tail", "--url", srv.URL, "--token", "tok", "--interval", "10ms"}, nil, &stdout, &stderr)
	for deadline := time.Now().Add(10 * time.Second); len(hub.requests()) < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("tail asked %v", hub.requests())
		}
	}
	hub.add(3)
	lines := waitLines(t, &stdout, 3)
	stop()
	if len(lines) != 3 || !strings.Contains(lines[0], `"id":"evt_51"`) || !strings.Contains(lines[2], `"id":"evt_53"`) {
		t.Fatalf("printed %q, want evt_51 to evt_53", lines)
	}
	if a := hub.requests(); a[0].after != "latest" || a[0].types != "" || a[1].after != "50" {
		t.Fatalf("requests %+v, want after=latest then after=50, no types", a)
	}
}

// TestEventsTailRefusals: a wrong token ends tail with the hub's 401 message and a hint, without
// printing the token; so does a URL that is not the hub; no token at all is refused before asking.
func TestEventsTailRefusals(t *testing.T) {
	hub := &fakeEventsHub{token: "right"}
	srv := httptest.NewServer(hub)
	defer srv.Close()
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want []string
	}{
		{"wrong token", []string{"events", "tail", "--url", srv.URL}, map[string]string{"O2OHUB_ADMIN_TOKEN": "wrong-token-value"},
			[]string{"401 Unauthorized", "unauthenticated: admin bearer token required", "O2OHUB_ADMIN_TOKEN"}},
		{"not the hub", []string{"events", "tail", "--url", srv.URL + "/elsewhere", "--token", "right"}, nil,
			[]string{"404 Not Found", "no such endpoint", "--url"}},
		{"no token", []string{"events", "tail", "--url", srv.URL}, nil, []string{"no admin token", "O2OHUB_ADMIN_TOKEN"}},
		{"bad url", []string{"events", "tail", "--url", "ftp://x", "--token", "t"}, nil, []string{"--url"}},
		{"bad interval", []string{"events", "tail", "--token", "t", "--interval", "0s"}, nil, []string{"--interval"}},
		{"no subcommand", []string{"events"}, nil, []string{"usage: o2ohub events tail"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var stdout syncBuffer
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := run(ctx, c.args, &stdout, io.Discard, func(k string) string { return c.env[k] })
			if err == nil || ctx.Err() != nil {
				t.Fatalf("err = %v (ctx %v), want a refusal", err, ctx.Err())
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("err %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error()+stdout.String(), "wrong-token-value") {
				t.Errorf("the token was printed: %v", err)
			}
		})
	}
}
