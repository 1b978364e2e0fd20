package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"github.com/o2ohub/o2ohub/webhook"
)

// TestDeliveredSignedAndVerifiable: an event reaches a real receiver as the documented body, signed so
// that the consumer package verifies it; the secret is shown once and never logged.
func TestDeliveredSignedAndVerifiable(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		rc := newReceiver(t, nil)
		secret := r.endpoint("erp", rc.srv.URL+"/hooks", "order.paid")
		r.enqueue("order.created", "O1", map[string]any{"order_no": "O1", "store": "S01", "total_fen": 1290}) // not subscribed
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1", "amount_fen": 1290})
		r.pump()
		got := rc.received()
		if len(got) != 1 {
			t.Fatalf("received %d deliveries, want 1 (order.paid only)", len(got))
		}
		verify(t, secret, got[0], r.clk.Now())
		m := got[0].msg
		if m.Type != "order.paid" || m.ID != "evt_2" || m.Sequence != 2 || m.ID != got[0].header.Get(webhook.HeaderID) {
			t.Fatalf("message %+v, webhook-id %q", m, got[0].header.Get(webhook.HeaderID))
		}
		var data map[string]any
		if err := json.Unmarshal(m.Data, &data); err != nil || data["order_no"] != "O1" || data["amount_fen"] != float64(1290) {
			t.Fatalf("data %s (%v)", m.Data, err)
		}
		if err := webhook.VerifyAt("whsec_"+strings.Repeat("A", 43)+"=", got[0].header, got[0].body, 5*time.Minute, r.clk.Now()); err == nil {
			t.Fatal("a wrong secret verified")
		}
		if ds := r.deliveries("erp"); len(ds) != 1 || ds[0].Status != events.DeliveryDelivered || ds[0].LastStatus != 204 {
			t.Fatalf("deliveries %+v", ds)
		}
		v, err := r.svc.GetEndpoint(r.ctx, "erp")
		if err != nil || v.Secret != "" {
			t.Fatalf("GetEndpoint shows the secret again: %+v %v", v, err)
		}
		if strings.Contains(r.log.String(), secret) || strings.Contains(r.log.String(), strings.TrimPrefix(secret, "whsec_")) {
			t.Fatal("the secret is in the log")
		}
	})
}

// TestRetriedOnScheduleThenDeadLetteredThenRetried: a 500 is tried again on the schedule (immediately,
// 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 24 h, each up to a tenth later), then dead-lettered with one alert;
// a retry by an operator sends it again with the same webhook-id.
func TestRetriedOnScheduleThenDeadLetteredThenRetried(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		var ok atomic.Bool
		rc := newReceiver(t, func(int, events.Message) (int, http.Header) {
			if ok.Load() {
				return 200, nil
			}
			return 500, nil
		})
		r.endpoint("erp", rc.srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		for try := 1; try <= len(events.Schedule); try++ {
			if n := r.pump(); n != 1 {
				t.Fatalf("try %d: %d deliveries sent", try, n)
			}
			d := r.deliveries("erp")[0]
			if d.Attempts != try || d.Tries != try || d.LastStatus != 500 {
				t.Fatalf("try %d: %+v", try, d)
			}
			if try == len(events.Schedule) {
				if d.Status != events.DeliveryDead {
					t.Fatalf("after the last try the delivery is %s", d.Status)
				}
				break
			}
			wait := events.Schedule[try]
			if d.Status != events.DeliveryFailed || d.NextAt.Before(r.clk.Now().Add(wait)) || d.NextAt.After(r.clk.Now().Add(wait+wait/10)) {
				t.Fatalf("try %d: next at %v, want %v after %v (+10%%)", try, d.NextAt, wait, r.clk.Now())
			}
			r.clk.Add(wait - time.Millisecond)
			if n := r.pump(); n != 0 {
				t.Fatalf("try %d: sent again before its time", try)
			}
			r.clk.Add(wait/10 + time.Millisecond)
		}
		r.clk.Add(48 * time.Hour)
		if n := r.pump(); n != 0 {
			t.Fatal("a dead letter was sent again by itself")
		}
		alerts, err := r.svc.Alerts(r.ctx, true, 0, 10)
		if err != nil || len(alerts) != 1 || alerts[0].Kind != "webhook_dead_letter" || alerts[0].OrderNo != "O1" || alerts[0].Count != 1 {
			t.Fatalf("alerts %+v %v", alerts, err)
		}
		ok.Store(true)
		d := r.deliveries("erp")[0]
		if err := r.svc.RetryDelivery(r.ctx, "erp", d.ID); err != nil {
			t.Fatal(err)
		}
		r.pump()
		got := rc.received()
		if d := r.deliveries("erp")[0]; d.Status != events.DeliveryDelivered || len(got) != len(events.Schedule)+1 {
			t.Fatalf("after the retry: %+v, %d requests", d, len(got))
		}
		if got[0].header.Get(webhook.HeaderID) != got[len(got)-1].header.Get(webhook.HeaderID) {
			t.Fatal("the retry changed the webhook-id")
		}
	})
}

// TestTimeoutIsAFailure: an endpoint that does not answer within the timeout fails the try.
func TestTimeoutIsAFailure(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		release := make(chan struct{})
		defer close(release)
		rc := newReceiver(t, func(int, events.Message) (int, http.Header) { <-release; return 200, nil })
		r.endpoint("erp", rc.srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		r.pump() // the rig's sender gives up after 2 s
		d := r.deliveries("erp")[0]
		if d.Status != events.DeliveryFailed || d.Attempts != 1 || d.LastStatus != 0 || d.LastError == "" {
			t.Fatalf("%+v", d)
		}
	})
}

// TestGoneDisablesAndRetryAfterWaits: 410 disables the endpoint with an alert, and its deliveries wait
// until it is enabled again; 429 and 503 with Retry-After wait as asked without using a step of the
// schedule.
func TestGoneDisablesAndRetryAfterWaits(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		var status atomic.Int64
		status.Store(410)
		rc := newReceiver(t, func(int, events.Message) (int, http.Header) {
			s := int(status.Load())
			if s == 429 || s == 503 {
				return s, http.Header{"Retry-After": {"120"}}
			}
			return s, nil
		})
		r.endpoint("erp", rc.srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		r.pump()
		v, _ := r.svc.GetEndpoint(r.ctx, "erp")
		if v.Enabled || !strings.Contains(v.DisabledReason, "410") {
			t.Fatalf("after 410: %+v", v)
		}
		alerts, _ := r.svc.Alerts(r.ctx, true, 0, 10)
		if len(alerts) != 1 || alerts[0].Kind != "webhook_endpoint_gone" {
			t.Fatalf("alerts %+v", alerts)
		}
		r.enqueue("order.accepted", "O1", map[string]any{"order_no": "O1", "store": "S01", "by": "clerk"})
		r.clk.Add(time.Hour)
		if n := r.pump(); n != 0 || len(rc.received()) != 1 {
			t.Fatal("a disabled endpoint was sent to")
		}
		status.Store(429)
		yes := true
		if _, err := r.svc.PutEndpoint(r.ctx, "erp", events.Endpoint{URL: rc.srv.URL, Events: []string{"*"}, Enabled: &yes}); err != nil {
			t.Fatal(err)
		}
		r.pump()
		d := r.deliveries("erp")
		if len(d) != 1 { // the endpoint was disabled when order.accepted was sequenced
			t.Fatalf("deliveries %+v", d)
		}
		if d[0].Attempts != 0 || d[0].Status != events.DeliveryFailed || !d[0].NextAt.Equal(r.clk.Now().Add(120*time.Second)) {
			t.Fatalf("after 429 with Retry-After 120: %+v (now %v)", d[0], r.clk.Now())
		}
		status.Store(503)
		r.clk.Add(120 * time.Second)
		r.pump()
		if d := r.deliveries("erp")[0]; d.Attempts != 0 || d.Tries != 3 {
			t.Fatalf("after 503 with Retry-After: %+v", d)
		}
		status.Store(200)
		r.clk.Add(120 * time.Second)
		r.pump()
		if d := r.deliveries("erp")[0]; d.Status != events.DeliveryDelivered {
			t.Fatalf("%+v", d)
		}
	})
}

// TestRetryAfterForeverEndsInTheDeadLetters: an endpoint that answers every try with 429 and a short
// Retry-After is humoured for 72 hours after the delivery was created; then each 429 uses a step of the
// schedule, and the delivery dies like any failing one, with its alert.
func TestRetryAfterForeverEndsInTheDeadLetters(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		rc := newReceiver(t, func(int, events.Message) (int, http.Header) {
			return http.StatusTooManyRequests, http.Header{"Retry-After": {"3600"}}
		})
		r.endpoint("erp", rc.srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		for range 200 {
			r.pump()
			d := r.deliveries("erp")[0]
			if d.Status == events.DeliveryDead {
				if age := r.clk.Now().Sub(d.CreatedAt); age < 72*time.Hour {
					t.Fatalf("dead after %v, want at least 72 h of waiting as asked", age)
				}
				alerts, _ := r.svc.Alerts(r.ctx, true, 0, 10)
				if len(alerts) != 1 || alerts[0].Kind != "webhook_dead_letter" {
					t.Fatalf("alerts %+v", alerts)
				}
				return
			}
			if d.NextAt != nil && d.NextAt.After(r.clk.Now()) {
				r.clk.Set(d.NextAt.Add(time.Minute)) // past the try's lease too
			}
		}
		t.Fatalf("still alive after 200 tries of 429: %+v", r.deliveries("erp")[0])
	})
}

// TestOrderedPerOrderUnderConcurrencyAndFailures: many orders' events, sent concurrently to an endpoint
// that fails some tries, reach it in each order's sequence: no event of an order is accepted before the
// ones before it.
func TestOrderedPerOrderUnderConcurrencyAndFailures(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		var mu sync.Mutex
		accepted, tried := map[string][]int64{}, map[string]bool{}
		rc := newReceiver(t, func(n int, m events.Message) (int, http.Header) {
			mu.Lock()
			again := tried[m.ID]
			tried[m.ID] = true
			mu.Unlock()
			if n%3 == 0 && !again { // every third request fails, once per event
				return 500, nil
			}
			var d struct {
				OrderNo string `json:"order_no"`
			}
			_ = json.Unmarshal(m.Data, &d)
			mu.Lock()
			accepted[d.OrderNo] = append(accepted[d.OrderNo], m.Sequence)
			mu.Unlock()
			return 200, nil
		})
		r.endpoint("erp", rc.srv.URL, "*")
		const orders, steps = 12, 5
		var wg sync.WaitGroup
		for o := range orders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				no := fmt.Sprintf("O%d", o)
				for range steps {
					r.enqueue("order.paid", no, map[string]any{"order_no": no})
				}
			}()
		}
		wg.Wait()
		for round := 0; round < 200; round++ {
			r.pump()
			if len(r.deliveriesWith("erp", events.DeliveryDelivered)) == orders*steps {
				break
			}
			r.clk.Add(6 * time.Second) // past the 5 s retry
		}
		if n := len(r.deliveriesWith("erp", events.DeliveryDelivered)); n != orders*steps {
			t.Fatalf("%d of %d delivered", n, orders*steps)
		}
		for no, seqs := range accepted {
			if len(seqs) != steps {
				t.Fatalf("order %s: %d events accepted: %v", no, len(seqs), seqs)
			}
			for i := 1; i < len(seqs); i++ {
				if seqs[i] <= seqs[i-1] {
					t.Fatalf("order %s: events accepted out of order: %v", no, seqs)
				}
			}
		}
	})
}

func (r *rig) deliveriesWith(name, status string) []events.DeliveryView {
	r.t.Helper()
	ds, err := r.svc.Deliveries(r.ctx, name, status, 0, 500)
	if err != nil {
		r.t.Fatal(err)
	}
	return ds
}

// TestHangingEndpointDoesNotDelayAnother: while one endpoint holds every request open, another receives
// all its events.
func TestHangingEndpointDoesNotDelayAnother(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{PerEndpoint: 4, InFlight: 8})
		release := make(chan struct{})
		hang := newReceiver(t, func(int, events.Message) (int, http.Header) { <-release; return 200, nil })
		fine := newReceiver(t, nil)
		r.endpoint("slow", hang.srv.URL, "*")
		r.endpoint("fine", fine.srv.URL, "*")
		for i := range 20 {
			r.enqueue("order.paid", fmt.Sprintf("O%d", i), map[string]any{"order_no": fmt.Sprintf("O%d", i)})
		}
		ctx, cancel := context.WithCancel(r.ctx)
		done := make(chan struct{})
		go func() { defer close(done); r.svc.Run(ctx, func(error) {}) }()
		waitFor(t, "the fine endpoint to receive all 20", func() bool { return len(fine.received()) == 20 })
		if n := len(hang.received()); n > 4 {
			t.Fatalf("the hanging endpoint holds %d requests, more than its share of 4", n)
		}
		close(release)
		cancel()
		<-done
	})
}

// TestReplayKeepsIDs: a replayed time range is sent again with the events' original webhook-ids, in
// order, and only the types asked for.
func TestReplayKeepsIDs(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		rc := newReceiver(t, nil)
		r.endpoint("erp", rc.srv.URL, "*")
		r.enqueue("order.created", "O1", map[string]any{"order_no": "O1", "store": "S01", "total_fen": 100})
		r.clk.Add(time.Minute)
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		r.clk.Add(time.Minute)
		r.enqueue("order.paid", "O2", map[string]any{"order_no": "O2"})
		r.drain()
		first := rc.received()
		n, err := r.svc.ReplayEvents(r.ctx, "erp", events.Replay{From: start.Add(30 * time.Second), To: r.clk.Now().Add(time.Second), Types: []string{"order.paid"}})
		if err != nil || n != 2 || len(first) != 3 {
			t.Fatalf("replay queued %d, %v (first sent %d)", n, err, len(first))
		}
		r.drain()
		bodies := map[string]string{}
		for _, g := range first {
			bodies[g.header.Get(webhook.HeaderID)] = string(g.body)
		}
		again := rc.received()[len(first):]
		if len(again) != 2 || again[0].msg.ID == again[1].msg.ID {
			t.Fatalf("replayed %d", len(again))
		}
		for _, g := range again { // two orders: in either order
			id := g.header.Get(webhook.HeaderID)
			if g.msg.Type != "order.paid" || bodies[id] != string(g.body) {
				t.Fatalf("replayed %s is not the event first sent with that id: %s, first %s", id, g.body, bodies[id])
			}
		}
		if _, err := r.svc.ReplayEvents(r.ctx, "erp", events.Replay{From: r.clk.Now(), To: start}); err == nil {
			t.Fatal("a range ending before it starts was accepted")
		}
	})
}

// TestTwoWorkersNeverSendOneEventAtOnce: two replicas running the worker on one database share the
// deliveries: each event is sent once, never by both at the same time.
func TestTwoWorkersNeverSendOneEventAtOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		a := newRig(t, db, events.Options{Interval: 10 * time.Millisecond})
		b := newRigOn(t, db, a.clk, events.Options{Interval: 10 * time.Millisecond})
		var mu sync.Mutex
		inflight, max := map[string]int{}, 0
		count := map[string]int{}
		rc := newReceiver(t, func(_ int, m events.Message) (int, http.Header) {
			mu.Lock()
			inflight[m.ID]++
			count[m.ID]++
			if inflight[m.ID] > max {
				max = inflight[m.ID]
			}
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
			mu.Lock()
			inflight[m.ID]--
			mu.Unlock()
			return 200, nil
		})
		a.endpoint("erp", rc.srv.URL, "*")
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		for _, r := range []*rig{a, b} {
			wg.Add(1)
			go func() { defer wg.Done(); r.svc.Run(ctx, func(error) {}) }()
		}
		const n = 150
		for i := range n {
			a.enqueue("order.paid", fmt.Sprintf("O%d", i%40), map[string]any{"order_no": fmt.Sprintf("O%d", i%40)})
		}
		waitFor(t, "every event delivered", func() bool { return len(a.deliveriesWith("erp", events.DeliveryDelivered)) == n })
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if max != 1 || len(count) != n {
			t.Fatalf("%d distinct events received, most at once for one event %d", len(count), max)
		}
		for id, c := range count {
			if c != 1 {
				t.Fatalf("event %s sent %d times", id, c)
			}
		}
	})
}
