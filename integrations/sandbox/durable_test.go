package sandbox_test

// Tests of the sandbox provider's durable trades against a real hub (internal/hubtest) on SQLite and,
// when O2OHUB_TEST_POSTGRES is set, PostgreSQL: notifications outlive the process that owed them, replicas
// send each once, and the hub's reconciler finds a payment whose notification never arrives.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

const hubSecret = "sbx-durable-secret"

// counter stands between the sandbox and the hub and counts the notifications each order got through.
type counter struct {
	mu   sync.Mutex
	hub  string
	down bool
	got  map[string]int
}

func (c *counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	down, hub := c.down, c.hub
	c.mu.Unlock()
	if down {
		http.Error(w, "hub unreachable", http.StatusBadGateway)
		return
	}
	body, _ := io.ReadAll(r.Body)
	var n sandbox.Notification
	_ = json.Unmarshal(body, &n)
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := httptest.NewRecorder()
	target, _ := url.Parse(hub)
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(rec, r)
	if rec.Code/100 == 2 {
		c.mu.Lock()
		c.got[n.OrderNo]++
		c.mu.Unlock()
	}
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

// env is a hub whose notify URL points at a counter in front of it, with gateway registered as its
// sandbox provider.
type env struct {
	*hubtest.Hub
	count *counter
	gw    *sandbox.Gateway
	token string
}

func newEnv(t testing.TB, db *models.DB, delay time.Duration) *env {
	t.Helper()
	e := &env{count: &counter{got: map[string]int{}}}
	proxy := httptest.NewServer(e.count)
	t.Cleanup(proxy.Close)
	e.Hub = hubtest.New(t, db, hubtest.WithSandbox(hubSecret),
		hubtest.WithCore(func(o *core.Options) { o.PublicURL = proxy.URL }),
		hubtest.WithDeps(func(h *hubtest.Hub, d *handlers.Deps) {
			e.gw = sandbox.NewGateway(db, hubSecret, delay, h.Log)
			t.Cleanup(e.gw.Close)
			h.Service.RegisterGateway(e.gw)
		}))
	e.count.hub = e.URL
	e.Stock(hubtest.S01, hubtest.Milk, 100)
	e.token, _ = e.SandboxLogin("alice")
	return e
}

// order places a pickup order and starts its sandbox payment.
func (e *env) order() core.OrderView {
	e.T.Helper()
	var o core.OrderView
	e.Call("POST", "/api/v1/orders", e.token, map[string]any{"store": "S01", "fulfillment": "pickup",
		"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(201).JSON(&o)
	e.Call("POST", "/api/v1/orders/"+o.OrderNo+"/pay", e.token, map[string]string{"provider": "sandbox"}).Expect(200)
	return o
}

// payNow makes the simulated shoppers of every open trade pay now and their notifications due, as
// time passing would.
func payNow(t testing.TB, db *models.DB) {
	t.Helper()
	now := time.Now().UTC().Add(-time.Second)
	if err := db.Conn(context.Background()).Exec("UPDATE sandbox_trades SET paid_at = ?, notify_due_at = ? WHERE status = 'open'", now, now).Error; err != nil {
		t.Fatal(err)
	}
}

func (e *env) trade(orderNo string) models.SandboxTrade {
	e.T.Helper()
	var tr models.SandboxTrade
	if err := e.DB.Conn(context.Background()).Where("order_no = ?", orderNo).Take(&tr).Error; err != nil {
		e.T.Fatal(err)
	}
	return tr
}

func (c *counter) deliveries(orderNo string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got[orderNo]
}

func (c *counter) setDown(down bool) {
	c.mu.Lock()
	c.down = down
	c.mu.Unlock()
}

// TestNotificationOutlivesItsProcess: a notification still owed when its gateway stops (the process
// dies) is delivered by the next gateway on the same database, once.
func TestNotificationOutlivesItsProcess(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newEnv(t, db, time.Hour) // the shopper pays an hour after the prepay
		o := e.order()
		e.gw.Close() // the process dies with the notification owed
		payNow(t, db)
		next := sandbox.NewGateway(db, hubSecret, time.Hour, e.Log) // the process restarted
		t.Cleanup(next.Close)
		e.WaitFor("the order paid", func() bool { return e.OrderStatus(o.OrderNo) == core.StatusPaid })
		e.WaitFor("the notification acknowledged", func() bool { return e.trade(o.OrderNo).NotifiedAt != nil })
		if n := e.count.deliveries(o.OrderNo); n != 1 {
			t.Fatalf("%d notifications reached the hub, want 1", n)
		}
		if tr := e.trade(o.OrderNo); tr.Status != "paid" || tr.NotifyDueAt != nil || tr.NotifyAttempts != 1 {
			t.Fatalf("trade = %+v, want paid, nothing more owed, one attempt", tr)
		}
		if n := e.Count("payments", "order_no = ?", o.OrderNo); n != 1 {
			t.Fatalf("%d payments recorded, want 1", n)
		}
	})
}

// TestReplicasNotifyOnce: two gateways on one database (two replicas) share the notifications: each
// order's reaches the hub once.
func TestReplicasNotifyOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newEnv(t, db, time.Hour)
		other := sandbox.NewGateway(db, hubSecret, time.Hour, e.Log)
		t.Cleanup(other.Close)
		var orders []core.OrderView
		for range 8 {
			orders = append(orders, e.order())
		}
		payNow(t, db) // all due at once, for both sweeps
		// Besides their own sweeps, both replicas sweep at the same moment, several times over.
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 6 {
			gw := []*sandbox.Gateway{e.gw, other}[i%2]
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				gw.DeliverDue(context.Background(), 3)
			}()
		}
		close(start)
		wg.Wait()
		for _, o := range orders {
			e.WaitFor("order "+o.OrderNo+" paid", func() bool { return e.OrderStatus(o.OrderNo) == core.StatusPaid })
			e.WaitFor("its notification acknowledged", func() bool { return e.trade(o.OrderNo).NotifiedAt != nil })
		}
		for _, o := range orders {
			if n := e.count.deliveries(o.OrderNo); n != 1 {
				t.Errorf("order %s: %d notifications reached the hub, want 1", o.OrderNo, n)
			}
		}
	})
}

// TestReconcilerFindsUndeliveredPayment: the hub never gets the notification (its notify URL does not
// answer), but QueryPayment says paid, with the amount and time, and core's reconciler applies it.
func TestReconcilerFindsUndeliveredPayment(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newEnv(t, db, time.Hour)
		e.count.setDown(true)
		o := e.order()
		ctx := context.Background()
		if st, err := e.gw.QueryPayment(ctx, o.OrderNo); err != nil || st.Paid || st.Closed {
			t.Fatalf("before the shopper pays: %+v, %v; want neither paid nor closed", st, err)
		}
		payNow(t, db)
		e.WaitFor("a failed delivery", func() bool { tr := e.trade(o.OrderNo); return tr.NotifyAttempts >= 1 && tr.LastError != "" })
		tr := e.trade(o.OrderNo)
		st, err := e.gw.QueryPayment(ctx, o.OrderNo)
		if err != nil || !st.Paid || st.Payment.AmountFen != o.TotalFen || st.Payment.TransactionID != sandbox.TransactionID(o.OrderNo) ||
			!st.Payment.PaidAt.Equal(tr.PaidAt) || st.Payment.Provider != sandbox.Provider {
			t.Fatalf("query = %+v, %v; want paid %d fen at %s", st, err, o.TotalFen, tr.PaidAt)
		}
		if e.OrderStatus(o.OrderNo) != core.StatusPendingPayment {
			t.Fatalf("order is %s before the reconciler ran", e.OrderStatus(o.OrderNo))
		}
		e.Clock.Add(2*time.Minute + time.Second) // past core's default PaymentCheckAfter
		if _, err := e.Service.ReconcilePayments(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if s := e.OrderStatus(o.OrderNo); s != core.StatusPaid {
			t.Fatalf("order is %s after the reconciler ran, want paid", s)
		}
		if n := e.count.deliveries(o.OrderNo); n != 0 {
			t.Fatalf("%d notifications got through an unreachable hub", n)
		}
		// Closing a paid trade is refused, as a real provider refuses.
		if err := e.gw.ClosePayment(ctx, o.OrderNo); !errors.Is(err, sandbox.ErrPaid) {
			t.Fatalf("close of a paid trade = %v, want ErrPaid", err)
		}
	})
}

// TestClosePaymentStopsNotification: a trade closed before the shopper pays is never notified, and
// queries say closed.
func TestClosePaymentStopsNotification(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newEnv(t, db, time.Hour)
		o := e.order()
		ctx := context.Background()
		if err := e.gw.ClosePayment(ctx, o.OrderNo); err != nil {
			t.Fatal(err)
		}
		if err := e.gw.ClosePayment(ctx, o.OrderNo); err != nil {
			t.Fatalf("closing again: %v", err)
		}
		payNow(t, db) // the hour passes
		if n, err := e.gw.DeliverDue(ctx, 10); err != nil || n != 0 {
			t.Fatalf("DeliverDue = %d, %v; want nothing to deliver", n, err)
		}
		if st, err := e.gw.QueryPayment(ctx, o.OrderNo); err != nil || st.Paid || !st.Closed {
			t.Fatalf("query = %+v, %v; want closed", st, err)
		}
		if tr := e.trade(o.OrderNo); tr.Status != "closed" || tr.NotifyDueAt != nil || tr.NotifyAttempts != 0 {
			t.Fatalf("trade = %+v", tr)
		}
		if _, err := e.gw.Prepay(ctx, core.PrepayRequest{OrderNo: o.OrderNo, AmountFen: o.TotalFen, NotifyURL: e.URL}); err == nil {
			t.Fatal("a closed trade was prepaid again")
		}
	})
}

// TestRefundsRecordedOnce: refunds are made at once, recorded on the trade, once per refund number, and
// never beyond what was paid.
func TestRefundsRecordedOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := newEnv(t, db, time.Millisecond)
		o := e.order()
		e.WaitFor("the order paid", func() bool { return e.OrderStatus(o.OrderNo) == core.StatusPaid })
		ctx := context.Background()
		req := core.RefundRequest{OrderNo: o.OrderNo, TransactionID: sandbox.TransactionID(o.OrderNo), RefundNo: "R1", AmountFen: 100, TotalFen: o.TotalFen}
		for range 2 { // submitted again after a timeout: the same refund
			if res, err := e.gw.Refund(ctx, req); err != nil || res.Outcome != core.RefundDone {
				t.Fatalf("refund = %+v, %v", res, err)
			}
		}
		if tr := e.trade(o.OrderNo); tr.RefundedFen != 100 {
			t.Fatalf("refunded %d fen, want 100", tr.RefundedFen)
		}
		over := req
		over.RefundNo, over.AmountFen = "R2", o.TotalFen
		if _, err := e.gw.Refund(ctx, over); err == nil {
			t.Fatal("refunds beyond the amount paid were accepted")
		}
		rest := req
		rest.RefundNo, rest.AmountFen = "R3", o.TotalFen-100
		if _, err := e.gw.Refund(ctx, rest); err != nil {
			t.Fatal(err)
		}
		if tr := e.trade(o.OrderNo); tr.RefundedFen != o.TotalFen {
			t.Fatalf("refunded %d fen, want %d", tr.RefundedFen, o.TotalFen)
		}
	})
}
