package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// This file tests the provider-channel parts of core: the payment reconciler, merchant refunds and refund
// notices, the channel task outbox, the fulfilment steps and unionid-linked sign-in. Its helpers and doubles
// are prefixed ch so that they do not collide with other test files of the package.

// chGateway is a payment provider double: a PaymentGateway that is also a PaymentChecker, a Refunder and
// a RefundQuerier, with scripted answers and call counters. It is safe for concurrent use.
type chGateway struct {
	name string
	svc  *core.Service // for the notice sent from inside Refund (noticeFirst)

	mu            sync.Mutex
	prepays       int
	paid          map[string]core.PaymentNotification // orders the provider says were paid
	queries       map[string]int
	closes        map[string]int
	closeFailures int                // the next closeFailures ClosePayment calls fail
	refundOutcome core.RefundOutcome // the answer to Refund; done when empty
	queryOutcomes []core.RefundOutcome
	noticeFirst   bool // Refund delivers the success notice before it answers
	refunds       []core.RefundRequest
	refundQueries []core.RefundRequest
	notices       []core.RefundNoticeResult
	noticeErrs    []error
}

func chNewGateway(f *fixture, name string) *chGateway {
	g := &chGateway{name: name, svc: f.svc, paid: map[string]core.PaymentNotification{}, queries: map[string]int{}, closes: map[string]int{}}
	f.svc.RegisterGateway(g)
	return g
}

func (g *chGateway) Provider() string { return g.name }

func (g *chGateway) Prepay(_ context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prepays++
	return core.PrepayResult{PrepayID: "P" + req.OrderNo, Params: map[string]any{"prepay_id": "P" + req.OrderNo}}, nil
}

// setPaid makes the provider report o as paid by transaction txn.
func (g *chGateway) setPaid(o core.OrderView, txn string, at time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.paid[o.OrderNo] = core.PaymentNotification{Provider: g.name, OrderNo: o.OrderNo, TransactionID: txn, AmountFen: o.TotalFen, PaidAt: at}
}

func (g *chGateway) QueryPayment(_ context.Context, orderNo string) (core.PaymentState, error) {
	time.Sleep(2 * time.Millisecond) // a provider round trip, so concurrent reconcilers overlap
	g.mu.Lock()
	defer g.mu.Unlock()
	g.queries[orderNo]++
	if n, ok := g.paid[orderNo]; ok {
		return core.PaymentState{Paid: true, Payment: n}, nil
	}
	return core.PaymentState{}, nil
}

func (g *chGateway) ClosePayment(_ context.Context, orderNo string) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closes[orderNo]++
	if g.closeFailures > 0 {
		g.closeFailures--
		return errors.New("close: provider unavailable")
	}
	return nil
}

func (g *chGateway) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	g.mu.Lock()
	g.refunds = append(g.refunds, req)
	out, first := g.refundOutcome, g.noticeFirst
	g.mu.Unlock()
	if out == "" {
		out = core.RefundDone
	}
	if first { // the provider's notification overtakes its answer
		res, err := g.svc.CompleteRefund(ctx, core.RefundNotice{Provider: g.name, RefundNo: req.RefundNo, ProviderRefundID: "PR-" + req.RefundNo,
			AmountFen: req.AmountFen, Succeeded: true})
		g.mu.Lock()
		g.notices, g.noticeErrs = append(g.notices, res), append(g.noticeErrs, err)
		g.mu.Unlock()
	}
	res := core.RefundResult{Outcome: out, ProviderRefundID: "PR-" + req.RefundNo}
	if out == core.RefundRejected {
		res.Detail = "insufficient merchant balance"
	}
	return res, nil
}

func (g *chGateway) QueryRefund(_ context.Context, req core.RefundRequest) (core.RefundResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.refundQueries = append(g.refundQueries, req)
	out := core.RefundAccepted
	if len(g.queryOutcomes) > 0 {
		out = g.queryOutcomes[0]
		if len(g.queryOutcomes) > 1 {
			g.queryOutcomes = g.queryOutcomes[1:]
		}
	}
	return core.RefundResult{Outcome: out, ProviderRefundID: "PR-" + req.RefundNo}, nil
}

func (g *chGateway) set(fn func(g *chGateway)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	fn(g)
}

func (g *chGateway) nQueries(orderNo string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.queries[orderNo]
}

func (g *chGateway) nCloses(orderNo string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closes[orderNo]
}

func (g *chGateway) refundReqs() []core.RefundRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]core.RefundRequest(nil), g.refunds...)
}

func (g *chGateway) refundQueryReqs() []core.RefundRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]core.RefundRequest(nil), g.refundQueries...)
}

// chMessenger is a Messenger double that fails its next sends with scripted errors.
type chMessenger struct {
	channel string

	mu    sync.Mutex
	errs  []error
	calls int
	sent  []core.ShopperMessage
}

func chNewMessenger(f *fixture, channel string, errs ...error) *chMessenger {
	m := &chMessenger{channel: channel, errs: errs}
	f.svc.RegisterMessenger(m)
	return m
}

func (m *chMessenger) Channel() string { return m.channel }

func (m *chMessenger) SendMessage(_ context.Context, msg core.ShopperMessage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls++
	if len(m.errs) > 0 {
		err := m.errs[0]
		m.errs = m.errs[1:]
		if err != nil {
			return err
		}
	}
	m.sent = append(m.sent, msg)
	return nil
}

func (m *chMessenger) state() (calls int, sent []core.ShopperMessage) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls, append([]core.ShopperMessage(nil), m.sent...)
}

// chShipper is a ShippingReporter double.
type chShipper struct {
	provider string

	mu      sync.Mutex
	reports []core.Shipment
}

func (r *chShipper) Provider() string { return r.provider }

func (r *chShipper) ReportShipping(_ context.Context, s core.Shipment) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reports = append(r.reports, s)
	return nil
}

func (r *chShipper) shipments() map[string]core.Shipment {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]core.Shipment{}
	for _, s := range r.reports {
		out[s.OrderNo] = s
	}
	return out
}

// chPay applies a payment of the whole of o through provider.
func chPay(f *fixture, provider string, o core.OrderView, txn string) core.PaymentResult {
	return hubtest.Must(f.svc.ApplyPayment(f.ctx, core.PaymentNotification{Provider: provider, OrderNo: o.OrderNo, TransactionID: txn, AmountFen: o.TotalFen, PaidAt: f.clock.Now()}))
}

// chOrder places an order for qty MILK at S01, for pickup or delivery.
func chOrder(f *fixture, member int64, delivery bool, qty int64) core.OrderView {
	in := core.OrderInput{Store: "S01", Fulfillment: core.FulfillmentPickup, Items: []core.ItemInput{{SKU: "MILK", Qty: qty}}}
	if delivery {
		lat, lng := 31.2360, 121.4760
		in.Fulfillment, in.Address = core.FulfillmentDelivery, &core.AddressInput{Text: "南京东路1号", Lat: &lat, Lng: &lng}
	}
	return hubtest.Must(f.svc.CreateOrder(f.ctx, member, in))
}

// chPaidOrder places an order for qty MILK and pays it through provider with transaction txn.
func chPaidOrder(t testing.TB, f *fixture, member int64, delivery bool, qty int64, provider, txn string) core.OrderView {
	t.Helper()
	o := chOrder(f, member, delivery, qty)
	if r := chPay(f, provider, o, txn); r != core.PaymentApplied {
		t.Fatalf("paying order %s: %s", o.OrderNo, r)
	}
	return o
}

// chStep runs one fulfilment step on an order.
func chStep(f *fixture, orderNo, step string) error {
	var err error
	switch step {
	case "accept":
		_, err = f.svc.AcceptOrder(f.ctx, staff.AdminTokenActor, orderNo)
	case "ready":
		_, err = f.svc.MarkReady(f.ctx, staff.AdminTokenActor, orderNo)
	case "pickup":
		_, err = f.svc.CompletePickup(f.ctx, staff.AdminTokenActor, orderNo)
	case "dispatch":
		_, err = f.svc.Dispatch(f.ctx, staff.AdminTokenActor, orderNo, core.Courier{Name: "张三", TrackingNo: "SF1"})
	case "deliver":
		_, err = f.svc.Deliver(f.ctx, staff.AdminTokenActor, orderNo)
	default:
		panic("unknown step " + step)
	}
	return err
}

func chSteps(t testing.TB, f *fixture, orderNo string, steps ...string) {
	t.Helper()
	for _, s := range steps {
		if err := chStep(f, orderNo, s); err != nil {
			t.Fatalf("step %s of order %s: %v", s, orderNo, err)
		}
	}
}

// chStatus reads an order's status straight from the database.
func chStatus(t testing.TB, f *fixture, orderNo string) core.Status {
	t.Helper()
	var s []string
	if err := f.db.Conn(f.ctx).Table("orders").Where("order_no = ?", orderNo).Pluck("status", &s).Error; err != nil || len(s) != 1 {
		t.Fatalf("status of order %s: %v (%d rows)", orderNo, err, len(s))
	}
	return core.Status(s[0])
}

// chAttempt reads the latest payment attempt of an order with a provider.
func chAttempt(t testing.TB, f *fixture, orderNo, provider string) models.PaymentAttempt {
	t.Helper()
	var a models.PaymentAttempt
	err := f.db.Conn(f.ctx).Where("order_id = (SELECT id FROM orders WHERE order_no = ?) AND provider = ?", orderNo, provider).Order("id DESC").Take(&a).Error
	if err != nil {
		t.Fatalf("payment attempt of %s with %s: %v", orderNo, provider, err)
	}
	return a
}

func chRefund(t testing.TB, f *fixture, refundNo string) models.Refund {
	t.Helper()
	var r models.Refund
	if err := f.db.Conn(f.ctx).Where("refund_no = ?", refundNo).Take(&r).Error; err != nil {
		t.Fatalf("refund %s: %v", refundNo, err)
	}
	return r
}

func chTasks(t testing.TB, f *fixture, orderNo, kind string) []models.Task {
	t.Helper()
	var ts []models.Task
	if err := f.db.Conn(f.ctx).Where("order_no = ? AND kind = ?", orderNo, kind).Order("id").Find(&ts).Error; err != nil {
		t.Fatal(err)
	}
	return ts
}

func chMember(t testing.TB, f *fixture, id int64) models.Member {
	t.Helper()
	var m models.Member
	if err := f.db.Conn(f.ctx).Take(&m, id).Error; err != nil {
		t.Fatal(err)
	}
	return m
}

// chReconcile runs the reconciler once and checks how many attempts it took.
func chReconcile(t testing.TB, f *fixture, want int, why string) {
	t.Helper()
	if n := hubtest.Must(f.svc.ReconcilePayments(f.ctx, 10)); n != want {
		t.Fatalf("%s: reconciler checked %d attempts, want %d", why, n, want)
	}
}

// ---- payment reconciler ----

func TestReconcilerAppliesALostPaymentOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 2)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
		g.setPaid(o, "T-lost", f.clock.Now()) // paid, but the notification never comes

		chReconcile(t, f, 0, "at once")
		f.clock.Add(2*time.Minute - time.Second)
		chReconcile(t, f, 0, "just before PaymentCheckAfter")
		if q := g.nQueries(o.OrderNo); q != 0 {
			t.Fatalf("provider asked %d times before PaymentCheckAfter", q)
		}
		f.clock.Add(time.Second)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := f.svc.ReconcilePayments(f.ctx, 10)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if total != 1 || g.nQueries(o.OrderNo) != 1 {
			t.Fatalf("8 reconcilers checked %d attempts and queried %d times, want 1 and 1", total, g.nQueries(o.OrderNo))
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusPaid {
			t.Fatalf("order is %s after the reconciler found its payment, want paid", st)
		}
		if n := f.count(t, "payments", "provider = ? AND provider_txn = ? AND result = ?", "fakepay", "T-lost", "applied"); n != 1 {
			t.Fatalf("%d applied payments, want 1", n)
		}
		if n := f.count(t, "events", "topic = ?", "order.paid"); n != 1 {
			t.Fatalf("%d order.paid events, want 1", n)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 3 || st.Reserved != 0 {
			t.Fatalf("stock = %+v, want on hand 3, nothing reserved (committed once)", st)
		}
		if a := chAttempt(t, f, o.OrderNo, "fakepay"); a.Status != "paid" || a.NextCheckAt != nil {
			t.Fatalf("attempt = %s (next check %v), want paid with no further check", a.Status, a.NextCheckAt)
		}
		if c := g.nCloses(o.OrderNo); c != 0 {
			t.Fatalf("a paid attempt was closed %d times", c)
		}
		f.clock.Add(time.Hour)
		chReconcile(t, f, 0, "an hour after the payment was found")
	})
}

func TestReconcilerBacksOffWhileUnpaid(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
		// PaymentCheckAfter (2 min) after the prepay, then doubling, capped at 10 minutes.
		for i, gap := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute} {
			f.clock.Add(gap - time.Second)
			chReconcile(t, f, 0, fmt.Sprintf("check %d, a second early", i+1))
			f.clock.Add(time.Second)
			chReconcile(t, f, 1, fmt.Sprintf("check %d, on time", i+1))
			if q := g.nQueries(o.OrderNo); q != i+1 {
				t.Fatalf("after check %d the provider was asked %d times", i+1, q)
			}
			a := chAttempt(t, f, o.OrderNo, "fakepay")
			if a.Status != "open" || a.Checks != i+1 || a.NextCheckAt == nil {
				t.Fatalf("after check %d attempt = %+v, want open with %d checks and a next check", i+1, a, i+1)
			}
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusPendingPayment {
			t.Fatalf("an unpaid order became %s", st)
		}
		if c := g.nCloses(o.OrderNo); c != 0 {
			t.Fatalf("the open attempt of an unpaid order was closed %d times", c)
		}
	})
}

func TestReconcilerClosesTheAttemptOfAnExpiredOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
		// Checks at +2, +6 and +14 minutes find it unpaid; the next is due at +24.
		for _, gap := range []time.Duration{2 * time.Minute, 4 * time.Minute, 8 * time.Minute} {
			f.clock.Add(gap)
			chReconcile(t, f, 1, "unpaid order")
		}
		f.clock.Add(2 * time.Minute) // +16: past the 15 minute deadline
		chReconcile(t, f, 0, "before the expiry ran")
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 10)); n != 1 {
			t.Fatalf("expired %d orders", n)
		}
		// The expiry makes the attempt due at once: asked once more, then closed.
		chReconcile(t, f, 1, "after expiry")
		if q, c := g.nQueries(o.OrderNo), g.nCloses(o.OrderNo); q != 4 || c != 1 {
			t.Fatalf("queries = %d, closes = %d; want 4 and 1", q, c)
		}
		if a := chAttempt(t, f, o.OrderNo, "fakepay"); a.Status != "closed" || a.NextCheckAt != nil {
			t.Fatalf("attempt = %s (next check %v), want closed for good", a.Status, a.NextCheckAt)
		}
		f.clock.Add(time.Hour)
		chReconcile(t, f, 0, "after the close")
		if c := g.nCloses(o.OrderNo); c != 1 {
			t.Fatalf("closed %d times", c)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusExpired {
			t.Fatalf("order is %s, want expired", st)
		}
	})
}

func TestReconcilerLatePaymentFoundByQuery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		alice, bob := f.member(t, "alice"), f.member(t, "bob")
		for _, tc := range []struct {
			name      string
			stockGone bool
			want      core.Status
		}{
			{"stock still there: kept", false, core.StatusPaid},
			{"stock gone: refunded", true, core.StatusRefunding},
		} {
			hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 1, "test"))
			o := f.order(t, alice, "MILK", 1)
			hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
			f.clock.Add(16 * time.Minute)
			if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 10)); n != 1 {
				t.Fatalf("%s: expired %d orders", tc.name, n)
			}
			if tc.stockGone {
				f.order(t, bob, "MILK", 1)
			}
			g.setPaid(o, "T-late-"+o.OrderNo, f.clock.Now().Add(-time.Minute))
			chReconcile(t, f, 1, tc.name)
			if st := chStatus(t, f, o.OrderNo); st != tc.want {
				t.Fatalf("%s: order is %s, want %s", tc.name, st, tc.want)
			}
			if c := g.nCloses(o.OrderNo); c != 0 {
				t.Fatalf("%s: a paid transaction was closed %d times", tc.name, c)
			}
			if a := chAttempt(t, f, o.OrderNo, "fakepay"); a.Status != "paid" {
				t.Fatalf("%s: attempt is %s, want paid", tc.name, a.Status)
			}
			refunds := f.count(t, "refunds", "provider = ? AND provider_txn = ? AND amount_fen = ?", "fakepay", "T-late-"+o.OrderNo, o.TotalFen)
			st := f.stock(t, "MILK")
			if tc.stockGone {
				if refunds != 1 || st.OnHand != 1 || st.Reserved != 1 {
					t.Fatalf("%s: refunds = %d, stock = %+v; want the payment refunded and bob's reservation untouched", tc.name, refunds, st)
				}
				if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "refund_required", o.OrderNo); n != 1 {
					t.Fatalf("%s: %d refund_required alerts", tc.name, n)
				}
			} else if refunds != 0 || st.OnHand != 0 || st.Reserved != 0 {
				t.Fatalf("%s: refunds = %d, stock = %+v; want the payment kept and the stock sold", tc.name, refunds, st)
			}
		}
	})
}

func TestReconcilerRetriesAFailedClose(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) { g.closeFailures = 1 })
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
		hubtest.Must(f.svc.CancelOrder(f.ctx, alice, o.OrderNo)) // due at once
		chReconcile(t, f, 1, "after cancel")
		a := chAttempt(t, f, o.OrderNo, "fakepay")
		if a.Status != "open" || !strings.Contains(a.LastError, "close") {
			t.Fatalf("after a failed close the attempt = %s (%q), want open with the error", a.Status, a.LastError)
		}
		chReconcile(t, f, 0, "right after the failure")
		f.clock.Add(59 * time.Second)
		chReconcile(t, f, 0, "before the retry delay")
		f.clock.Add(time.Second)
		chReconcile(t, f, 1, "the retry")
		if c := g.nCloses(o.OrderNo); c != 2 {
			t.Fatalf("closes = %d, want 2 (one failed, one retried)", c)
		}
		if a := chAttempt(t, f, o.OrderNo, "fakepay"); a.Status != "closed" || a.LastError != "" {
			t.Fatalf("after the retry the attempt = %s (%q), want closed", a.Status, a.LastError)
		}
	})
}

func TestPaymentThroughOneProviderClosesTheOthers(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		ga, gb := chNewGateway(f, "fakepay"), chNewGateway(f, "otherpay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "fakepay"))
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "otherpay"))
		if r := chPay(f, "fakepay", o, "TA"); r != core.PaymentApplied {
			t.Fatalf("payment through A: %s", r)
		}
		if a := chAttempt(t, f, o.OrderNo, "fakepay"); a.Status != "paid" || a.NextCheckAt != nil {
			t.Fatalf("A's attempt = %s (next %v), want paid", a.Status, a.NextCheckAt)
		}
		if b := chAttempt(t, f, o.OrderNo, "otherpay"); b.Status != "open" || b.NextCheckAt == nil || b.NextCheckAt.After(f.clock.Now()) {
			t.Fatalf("B's attempt = %s (next %v), want open and due now", b.Status, b.NextCheckAt)
		}
		chReconcile(t, f, 1, "after the payment through A")
		if q, c := gb.nQueries(o.OrderNo), gb.nCloses(o.OrderNo); q != 1 || c != 1 {
			t.Fatalf("B queried %d, closed %d; want 1 and 1", q, c)
		}
		if q, c := ga.nQueries(o.OrderNo), ga.nCloses(o.OrderNo); q != 0 || c != 0 {
			t.Fatalf("A queried %d, closed %d; want neither", q, c)
		}
		if b := chAttempt(t, f, o.OrderNo, "otherpay"); b.Status != "closed" {
			t.Fatalf("B's attempt is %s, want closed", b.Status)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusPaid {
			t.Fatalf("order is %s", st)
		}
	})
}

func TestReconcilerWithoutPaymentChecker(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		f.svc.RegisterGateway(&countingGateway{}) // a gateway that can neither query nor close
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "counting"))
		f.clock.Add(2 * time.Minute)
		chReconcile(t, f, 1, "first check")
		if a := chAttempt(t, f, o.OrderNo, "counting"); a.Status != "open" || a.NextCheckAt != nil {
			t.Fatalf("attempt = %s (next %v), want open with no further checks", a.Status, a.NextCheckAt)
		}
		f.clock.Add(14 * time.Minute)
		chReconcile(t, f, 0, "nothing to ask")
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 10)); n != 1 {
			t.Fatalf("expired %d", n)
		}
		chReconcile(t, f, 1, "after expiry")
		if a := chAttempt(t, f, o.OrderNo, "counting"); a.Status != "closed" || a.NextCheckAt != nil {
			t.Fatalf("attempt = %s (next %v), want closed", a.Status, a.NextCheckAt)
		}
	})
}

// ---- refunds ----

func TestPartialRefundsThenTheRest(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		m := chNewMessenger(f, "sandbox") // each completed refund messages the shopper
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1") // 1590 fen

		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 500, " 缺货 "))
		if v.Status != "succeeded" || v.AmountFen != 500 || v.OrderStatus != core.StatusPaid || v.RefundNo != o.OrderNo+"R1" || v.Provider != "fakepay" || v.Reason != "缺货" {
			t.Fatalf("partial refund = %+v, want 500 succeeded, order still paid", v)
		}
		reqs := g.refundReqs()
		want := core.RefundRequest{OrderNo: o.OrderNo, RefundNo: o.OrderNo + "R1", TransactionID: "T1", AmountFen: 500, TotalFen: 1590,
			Reason: "缺货", NotifyURL: "http://127.0.0.1/webhooks/fakepay"}
		if len(reqs) != 1 || reqs[0] != want {
			t.Fatalf("provider got %+v, want one %+v", reqs, want)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 4 {
			t.Fatalf("a partial refund moved stock: %+v", st)
		}
		// More than is left is refused, and nothing is recorded or sent.
		if _, err := f.svc.RefundOrder(f.ctx, o.OrderNo, 1091, ""); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("over-refund: %v", err)
		}
		if n := f.count(t, "refunds", "order_id IS NOT NULL"); n != 1 || len(g.refundReqs()) != 1 {
			t.Fatalf("an over-refund was recorded or sent")
		}
		// The rest (amount 0), which the provider only accepts: the order waits in refunding.
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundAccepted })
		v2 := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		if v2.Status != "processing" || v2.AmountFen != 1090 || v2.OrderStatus != core.StatusRefunding || v2.RefundNo != o.OrderNo+"R2" || v2.Reason == "" {
			t.Fatalf("final refund = %+v, want 1090 processing, order refunding", v2)
		}
		if v2.ProviderRefundID != "PR-"+v2.RefundNo {
			t.Fatalf("provider refund id = %q", v2.ProviderRefundID)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 5 || st.Reserved != 0 {
			t.Fatalf("after the full amount of a paid order was refunded stock = %+v, want the unit back on hand", st)
		}
		if _, err := f.svc.RefundOrder(f.ctx, o.OrderNo, 1, ""); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("refund of a refunding order: %v", err)
		}
		if n := len(chTasks(t, f, o.OrderNo, "message")); n != 1 {
			t.Fatalf("%d messages queued with one refund done and one accepted, want 1", n)
		}
		if r := hubtest.Must(f.svc.CompleteRefund(f.ctx, core.RefundNotice{Provider: "fakepay", RefundNo: v2.RefundNo, AmountFen: 1090, Succeeded: true})); r != core.RefundApplied {
			t.Fatalf("completion: %s", r)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusRefunded {
			t.Fatalf("after both refunds the order is %s, want refunded", st)
		}
		if n := f.count(t, "events", "topic = ?", "refund.succeeded"); n != 2 {
			t.Fatalf("%d refund.succeeded events, want 2", n)
		}
		// One order_refunded message per completed refund (the accepted one only once its notice came).
		hubtest.Must(f.svc.CompleteRefund(f.ctx, core.RefundNotice{Provider: "fakepay", RefundNo: v2.RefundNo, AmountFen: 1090, Succeeded: true}))
		if n := hubtest.Must(f.svc.ProcessTasks(f.ctx, 10)); n != 2 {
			t.Fatalf("processed %d tasks, want 2 refund messages", n)
		}
		_, sent := m.state()
		amounts := map[int64]bool{}
		for _, msg := range sent {
			if msg.Kind != core.MessageRefunded || msg.To != "alice" || msg.OrderNo != o.OrderNo {
				t.Fatalf("message = %+v, want order_refunded to alice", msg)
			}
			amounts[msg.AmountFen] = true
		}
		if len(sent) != 2 || !amounts[500] || !amounts[1090] {
			t.Fatalf("messages = %+v, want one of 500 and one of 1090 fen", sent)
		}
	})
}

func TestRefundOrderRefusals(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 50, "test"))
		alice := f.member(t, "alice")
		unpaid := f.order(t, alice, "MILK", 1)
		cancelled := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.CancelOrder(f.ctx, alice, cancelled.OrderNo))
		delivering := chPaidOrder(t, f, alice, true, 1, "fakepay", "T-d")
		chSteps(t, f, delivering.OrderNo, "accept", "dispatch")
		paid := chPaidOrder(t, f, alice, false, 1, "fakepay", "T-p")
		cases := []struct {
			name    string
			orderNo string
			amount  int64
			reason  string
			want    error
		}{
			{"unpaid", unpaid.OrderNo, 0, "", domain.ErrConflict},
			{"cancelled", cancelled.OrderNo, 0, "", domain.ErrConflict},
			{"on its way", delivering.OrderNo, 0, "", domain.ErrConflict},
			{"unknown order", "20990101000000000000", 0, "", domain.ErrNotFound},
			{"negative amount", paid.OrderNo, -1, "", domain.ErrInvalidArgument},
			{"more than paid", paid.OrderNo, paid.TotalFen + 1, "", domain.ErrInvalidArgument},
			{"reason too long", paid.OrderNo, 1, strings.Repeat("长", 81), domain.ErrInvalidArgument},
		}
		for _, tc := range cases {
			if _, err := f.svc.RefundOrder(f.ctx, tc.orderNo, tc.amount, tc.reason); !errors.Is(err, tc.want) {
				t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
		}
		if n := f.count(t, "refunds", "order_id IS NOT NULL"); n != 0 || len(g.refundReqs()) != 0 {
			t.Fatalf("refused refunds left %d rows and %d provider calls", n, len(g.refundReqs()))
		}
		if st := chStatus(t, f, paid.OrderNo); st != core.StatusPaid {
			t.Fatalf("refused refunds moved the order to %s", st)
		}
	})
}

func TestFullRefundRestocksGoodsNotHandedOver(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		delivery bool
		steps    []string
		restock  bool
	}{
		{"paid", false, nil, true},
		{"accepted", false, []string{"accept"}, true},
		{"ready", false, []string{"accept", "ready"}, true},
		{"completed", false, []string{"accept", "ready", "pickup"}, false},
		{"delivered", true, []string{"accept", "dispatch", "deliver"}, false},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 100, "test"))
		alice := f.member(t, "alice")
		for i, tc := range cases {
			o := chPaidOrder(t, f, alice, tc.delivery, 2, "fakepay", fmt.Sprintf("T%d", i))
			chSteps(t, f, o.OrderNo, tc.steps...)
			before := f.stock(t, "MILK")
			v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, "客户退货"))
			if v.AmountFen != o.TotalFen || v.Status != "succeeded" || v.OrderStatus != core.StatusRefunded {
				t.Fatalf("%s: refund = %+v, want the whole %d succeeded and the order refunded", tc.name, v, o.TotalFen)
			}
			after := f.stock(t, "MILK")
			want := before.OnHand
			if tc.restock {
				want += 2
			}
			if after.OnHand != want || after.Reserved != before.Reserved {
				t.Fatalf("%s: stock %+v → %+v, want on hand %d", tc.name, before, after, want)
			}
			movements := f.count(t, "stock_movements", "kind = ? AND order_no = ?", "refund", o.OrderNo)
			if (movements == 1) != tc.restock {
				t.Fatalf("%s: %d refund movements, restock = %v", tc.name, movements, tc.restock)
			}
		}
	})
}

func TestConcurrentRefundsNeverExceedThePayment(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		part := o.TotalFen / 10
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, refused := 0, 0
		var other []error
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.RefundOrder(f.ctx, o.OrderNo, part, "")
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				// Refused because nothing is left: while the order is still paid that is an invalid
				// amount; once the tenth refund moved it to refunding it is a conflict.
				case errors.Is(err, domain.ErrInvalidArgument), errors.Is(err, domain.ErrConflict):
					refused++
				default:
					other = append(other, err)
				}
			}()
		}
		wg.Wait()
		if len(other) > 0 {
			t.Fatalf("unexpected errors: %v", other[:min(3, len(other))])
		}
		if ok != 10 || refused != 10 {
			t.Fatalf("%d refunds accepted, %d refused; want 10 and 10", ok, refused)
		}
		var sent int64
		nos := map[string]bool{}
		for _, r := range g.refundReqs() {
			sent += r.AmountFen
			nos[r.RefundNo] = true
		}
		if sent != o.TotalFen || len(nos) != 10 {
			t.Fatalf("provider refunded %d fen in %d refunds, want %d in 10", sent, len(nos), o.TotalFen)
		}
		var recorded int64
		if err := f.db.Conn(f.ctx).Table("refunds").Select("COALESCE(SUM(amount_fen), 0)").Where("status <> ?", "failed").Scan(&recorded).Error; err != nil {
			t.Fatal(err)
		}
		if recorded != o.TotalFen {
			t.Fatalf("refunds recorded for %d fen, paid %d", recorded, o.TotalFen)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusRefunded {
			t.Fatalf("order is %s, want refunded", st)
		}
		if n := f.count(t, "stock_movements", "kind = ? AND order_no = ?", "refund", o.OrderNo); n != 1 {
			t.Fatalf("stock returned %d times, want once", n)
		}
	})
}

func TestRefundNotices(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundAccepted })
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		if v.Status != "processing" || v.OrderStatus != core.StatusRefunding {
			t.Fatalf("accepted refund = %+v, want processing", v)
		}
		notice := func(n core.RefundNotice) core.RefundNoticeResult { return hubtest.Must(f.svc.CompleteRefund(f.ctx, n)) }

		// Another amount: alerted, nothing changes.
		if r := notice(core.RefundNotice{Provider: "fakepay", RefundNo: v.RefundNo, AmountFen: v.AmountFen - 1, Succeeded: true}); r != core.RefundAmountMismatch {
			t.Fatalf("wrong amount: %s", r)
		}
		if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "refund_amount_mismatch", o.OrderNo); n != 1 {
			t.Fatalf("%d mismatch alerts, want 1", n)
		}
		// A refund we never asked for, and one of ours reported by another provider.
		if r := notice(core.RefundNotice{Provider: "fakepay", RefundNo: "NOPE1", AmountFen: 100, Succeeded: true}); r != core.RefundUnknown {
			t.Fatalf("unknown refund: %s", r)
		}
		if r := notice(core.RefundNotice{Provider: "otherpay", RefundNo: v.RefundNo, AmountFen: v.AmountFen, Succeeded: true}); r != core.RefundUnknown {
			t.Fatalf("refund of another provider: %s", r)
		}
		if n := f.count(t, "alerts", "kind = ?", "refund_unknown"); n != 2 {
			t.Fatalf("%d unknown-refund alerts, want 2", n)
		}
		if r := chRefund(t, f, v.RefundNo); r.Status != "processing" {
			t.Fatalf("after bad notices the refund is %s, want processing", r.Status)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusRefunding {
			t.Fatalf("after bad notices the order is %s", st)
		}
		if n := f.count(t, "events", "topic = ?", "refund.succeeded"); n != 0 {
			t.Fatalf("bad notices wrote %d refund.succeeded events", n)
		}
		// The real one (a provider that does not state the amount), once.
		if r := notice(core.RefundNotice{Provider: "fakepay", RefundNo: v.RefundNo, Succeeded: true}); r != core.RefundApplied {
			t.Fatalf("good notice: %s", r)
		}
		if r := notice(core.RefundNotice{Provider: "fakepay", RefundNo: v.RefundNo, Succeeded: true}); r != core.RefundDuplicate {
			t.Fatalf("repeated notice: %s", r)
		}
		if r := chRefund(t, f, v.RefundNo); r.Status != "succeeded" {
			t.Fatalf("refund is %s, want succeeded", r.Status)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusRefunded {
			t.Fatalf("order is %s, want refunded", st)
		}
	})
}

func TestRefundNoticeOvertakesTheProvidersAnswer(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) { g.refundOutcome, g.noticeFirst = core.RefundAccepted, true })
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		g.mu.Lock()
		notices, errs := g.notices, g.noticeErrs
		g.mu.Unlock()
		if len(notices) != 1 || notices[0] != core.RefundApplied || errs[0] != nil {
			t.Fatalf("notice during Refund: %v %v, want applied", notices, errs)
		}
		if v.Status != "succeeded" || v.OrderStatus != core.StatusRefunded {
			t.Fatalf("refund = %+v; the accepted answer after the notice must not undo it", v)
		}
		if r := chRefund(t, f, v.RefundNo); r.Status != "succeeded" || r.ProviderRefundID != "PR-"+v.RefundNo {
			t.Fatalf("refund row = %+v", r)
		}
		f.clock.Add(48 * time.Hour)
		if n := hubtest.Must(f.svc.ProcessRefunds(f.ctx, 10)); n != 0 {
			t.Fatalf("the worker picked up %d finished refunds", n)
		}
		if len(g.refundQueryReqs()) != 0 || len(g.refundReqs()) != 1 {
			t.Fatalf("provider got %d queries and %d submissions, want 0 and 1", len(g.refundQueryReqs()), len(g.refundReqs()))
		}
		if n := f.count(t, "events", "topic = ?", "refund.succeeded"); n != 1 {
			t.Fatalf("%d refund.succeeded events, want 1", n)
		}
	})
}

func TestProcessingRefundsAreQueried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) {
			g.refundOutcome = core.RefundAccepted
			g.queryOutcomes = []core.RefundOutcome{core.RefundAccepted, core.RefundDone}
		})
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		process := func(want int, why string) {
			t.Helper()
			if n := hubtest.Must(f.svc.ProcessRefunds(f.ctx, 10)); n != want {
				t.Fatalf("%s: worker took %d refunds, want %d", why, n, want)
			}
		}
		// The notification gets 5 minutes, then the worker asks; the next wait is 10 minutes.
		f.clock.Add(5*time.Minute - time.Second)
		process(0, "before the query delay")
		f.clock.Add(time.Second)
		process(1, "first query")
		if q := g.refundQueryReqs(); len(q) != 1 || q[0].RefundNo != v.RefundNo || q[0].AmountFen != o.TotalFen || q[0].TransactionID != "T1" {
			t.Fatalf("queries = %+v", q)
		}
		if r := chRefund(t, f, v.RefundNo); r.Status != "processing" {
			t.Fatalf("still accepted: refund is %s, want processing", r.Status)
		}
		f.clock.Add(10*time.Minute - time.Second)
		process(0, "before the second query")
		f.clock.Add(time.Second)
		process(1, "second query")
		if r := chRefund(t, f, v.RefundNo); r.Status != "succeeded" {
			t.Fatalf("refund is %s after the provider said done", r.Status)
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusRefunded {
			t.Fatalf("order is %s, want refunded", st)
		}
		if len(g.refundReqs()) != 1 || len(g.refundQueryReqs()) != 2 {
			t.Fatalf("%d submissions and %d queries, want 1 and 2", len(g.refundReqs()), len(g.refundQueryReqs()))
		}
		f.clock.Add(48 * time.Hour)
		process(0, "after it succeeded")
	})
}

// A failed (rejected) partial refund is final, and RefundOrder does not count it: the whole payment can
// still be refunded afterwards. Once it has been, the order ends refunded.
func TestRejectedRefundDoesNotKeepTheOrderRefunding(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundRejected })
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 500, ""))
		if v.Status != "failed" || v.OrderStatus != core.StatusPaid {
			t.Fatalf("rejected refund = %+v, want failed, order paid", v)
		}
		if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "refund_failed", o.OrderNo); n != 1 {
			t.Fatalf("%d refund_failed alerts, want 1", n)
		}
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundDone })
		v2 := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		if v2.AmountFen != o.TotalFen || v2.Status != "succeeded" {
			t.Fatalf("refund of everything after a rejected one = %+v, want %d succeeded", v2, o.TotalFen)
		}
		if v2.OrderStatus != core.StatusRefunded {
			t.Fatalf("the whole payment was refunded but the order is %s, want refunded", v2.OrderStatus)
		}
	})
}

// ---- channel tasks ----

func TestReadyMessageGoesToEveryReachableChannel(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		wechat, sandbox, alipay := chNewMessenger(f, "wechat"), chNewMessenger(f, "sandbox"), chNewMessenger(f, "alipay")
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		if l := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wechat", "o-alice", "alice", member.IdentityRef{Provider: "sandbox", Subject: "alice"})); l.Member.ID != alice {
			t.Fatalf("linked sign-in gave member %d, want alice %d", l.Member.ID, alice)
		}
		bob := hubtest.Must(f.svc.Members.SignIn(f.ctx, "web", "bob", "bob")).Member.ID // on no messenger's channel
		a := chPaidOrder(t, f, alice, false, 2, "sandbox", "TA")
		b := chPaidOrder(t, f, bob, false, 1, "sandbox", "TB")
		chSteps(t, f, a.OrderNo, "accept")
		chSteps(t, f, b.OrderNo, "accept")
		if n := len(chTasks(t, f, a.OrderNo, "message")); n != 0 {
			t.Fatalf("accepting queued %d messages", n)
		}
		readyAt := f.clock.Now()
		chSteps(t, f, a.OrderNo, "ready")
		chSteps(t, f, b.OrderNo, "ready")
		if n := len(chTasks(t, f, a.OrderNo, "message")); n != 2 {
			t.Fatalf("%d messages queued for alice (wechat and sandbox), want 2", n)
		}
		if n := len(chTasks(t, f, b.OrderNo, "message")); n != 0 {
			t.Fatalf("%d messages queued for bob, who is on no messenger's channel", n)
		}
		f.clock.Add(time.Second)
		if n := hubtest.Must(f.svc.ProcessTasks(f.ctx, 10)); n != 2 {
			t.Fatalf("processed %d tasks, want 2", n)
		}
		for _, tc := range []struct {
			m  *chMessenger
			to string
		}{{wechat, "o-alice"}, {sandbox, "alice"}} {
			_, sent := tc.m.state()
			if len(sent) != 1 {
				t.Fatalf("%s got %d messages, want 1", tc.m.channel, len(sent))
			}
			m := sent[0]
			if m.Kind != core.MessageReady || m.To != tc.to || m.OrderNo != a.OrderNo || m.StoreName != "人民广场店" || m.Items != "牛奶" || m.AmountFen != a.TotalFen || !m.At.Equal(readyAt) {
				t.Fatalf("%s message = %+v, want order_ready to %s at %v", tc.m.channel, m, tc.to, readyAt)
			}
		}
		if calls, _ := alipay.state(); calls != 0 {
			t.Fatalf("alipay messenger called %d times", calls)
		}
		for _, task := range chTasks(t, f, a.OrderNo, "message") {
			if task.Status != "done" || task.Attempts != 1 {
				t.Fatalf("task = %+v, want done after one attempt", task)
			}
		}
		f.clock.Add(time.Hour)
		if n := hubtest.Must(f.svc.ProcessTasks(f.ctx, 10)); n != 0 {
			t.Fatalf("delivered tasks ran again (%d)", n)
		}
	})
}

func TestMessageFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		transient := errors.New("channel timeout")
		errs := []error{fmt.Errorf("%w: shopper did not subscribe", core.ErrPermanent), transient}
		for range core.MaxTaskAttempts - 1 { // with the one above: every attempt of one task fails
			errs = append(errs, transient)
		}
		m := chNewMessenger(f, "sandbox", errs...)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		alice := f.member(t, "alice")
		txn := 0
		ready := func() core.OrderView {
			txn++
			o := chPaidOrder(t, f, alice, false, 1, "sandbox", fmt.Sprintf("T%d", txn))
			chSteps(t, f, o.OrderNo, "accept", "ready")
			return o
		}
		process := func(want int, why string) {
			t.Helper()
			if n := hubtest.Must(f.svc.ProcessTasks(f.ctx, 10)); n != want {
				t.Fatalf("%s: processed %d tasks, want %d", why, n, want)
			}
		}

		// A permanent refusal is recorded and not retried.
		o1 := ready()
		process(1, "permanent")
		if ts := chTasks(t, f, o1.OrderNo, "message"); len(ts) != 1 || ts[0].Status != "rejected" || !strings.Contains(ts[0].LastError, "did not subscribe") {
			t.Fatalf("tasks after a permanent failure = %+v, want one rejected", ts)
		}
		f.clock.Add(2 * time.Hour)
		process(0, "a rejected task")

		// A transient failure is retried after the backoff (1 minute after the first attempt).
		o2 := ready()
		process(1, "transient")
		if ts := chTasks(t, f, o2.OrderNo, "message"); ts[0].Status != "pending" || ts[0].Attempts != 1 || ts[0].LastError == "" {
			t.Fatalf("task after a transient failure = %+v, want pending with the error", ts[0])
		}
		process(0, "at once")
		f.clock.Add(59 * time.Second)
		process(0, "before the backoff")
		f.clock.Add(time.Second)
		process(1, "the retry")
		if ts := chTasks(t, f, o2.OrderNo, "message"); ts[0].Status != "pending" {
			// The scripted errors continue: the retry failed again, which the next part uses.
			t.Fatalf("task = %+v", ts[0])
		}
		// Let the o2 task run out of attempts: MaxTaskAttempts failures in all.
		for i := 2; i < core.MaxTaskAttempts; i++ {
			f.clock.Add(time.Hour) // the backoff is capped at an hour
			process(1, fmt.Sprintf("attempt %d", i+1))
		}
		ts := chTasks(t, f, o2.OrderNo, "message")
		if ts[0].Status != "failed" || ts[0].Attempts != core.MaxTaskAttempts {
			t.Fatalf("after %d failures the task = %+v, want failed", core.MaxTaskAttempts, ts[0])
		}
		if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "task_failed", o2.OrderNo); n != 1 {
			t.Fatalf("%d task_failed alerts, want 1", n)
		}
		if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "task_failed", o1.OrderNo); n != 0 {
			t.Fatalf("the rejected task was alerted as failed")
		}
		f.clock.Add(2 * time.Hour)
		process(0, "a failed task")
		if calls, sent := m.state(); calls != 1+core.MaxTaskAttempts || len(sent) != 0 {
			t.Fatalf("messenger called %d times (%d delivered), want %d", calls, len(sent), 1+core.MaxTaskAttempts)
		}

		// The channel works again: a new message goes through at once.
		o3 := ready()
		process(1, "healthy channel")
		if ts := chTasks(t, f, o3.OrderNo, "message"); ts[0].Status != "done" {
			t.Fatalf("task = %+v, want done", ts[0])
		}
	})
}

func TestShippingUploadsOnlyForReportingProviders(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		rep := &chShipper{provider: "fakepay"}
		f.svc.RegisterShippingReporter(rep)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		alice := f.member(t, "alice")
		pickup := chPaidOrder(t, f, alice, false, 1, "fakepay", "T-pickup")
		other := chPaidOrder(t, f, alice, false, 1, "sandbox", "T-other")
		delivery := chPaidOrder(t, f, alice, true, 1, "fakepay", "T-delivery")

		chSteps(t, f, pickup.OrderNo, "accept", "ready")
		if n := len(chTasks(t, f, pickup.OrderNo, "shipping")); n != 0 {
			t.Fatalf("%d shipping uploads before the hand-over", n)
		}
		chSteps(t, f, pickup.OrderNo, "pickup")
		chSteps(t, f, other.OrderNo, "accept", "ready", "pickup")
		chSteps(t, f, delivery.OrderNo, "accept")
		courier := core.Courier{Name: "顺丰 张三", Phone: "13800000000", TrackingNo: "SF100"}
		hubtest.Must(f.svc.Dispatch(f.ctx, staff.AdminTokenActor, delivery.OrderNo, courier))
		chSteps(t, f, delivery.OrderNo, "deliver")
		for _, tc := range []struct {
			name string
			o    core.OrderView
			want int
		}{{"pickup via fakepay", pickup, 1}, {"pickup via sandbox", other, 0}, {"delivery via fakepay", delivery, 1}} {
			ts := chTasks(t, f, tc.o.OrderNo, "shipping")
			if len(ts) != tc.want || (tc.want == 1 && ts[0].Target != "fakepay") {
				t.Fatalf("%s: shipping tasks %+v, want %d to fakepay", tc.name, ts, tc.want)
			}
		}
		if n := hubtest.Must(f.svc.ProcessTasks(f.ctx, 10)); n != 2 {
			t.Fatalf("processed %d tasks, want 2", n)
		}
		got := rep.shipments()
		p, ok := got[pickup.OrderNo]
		if !ok || !p.Pickup || p.TransactionID != "T-pickup" || p.Courier != (core.Courier{}) || p.Identities["sandbox"] != "alice" || p.Items != "牛奶" {
			t.Fatalf("pickup shipment = %+v", p)
		}
		d, ok := got[delivery.OrderNo]
		if !ok || d.Pickup || d.TransactionID != "T-delivery" || d.Courier != courier {
			t.Fatalf("delivery shipment = %+v, want courier %+v", d, courier)
		}
		if len(got) != 2 {
			t.Fatalf("shipments = %+v", got)
		}
	})
}

// ---- fulfilment ----

func TestFulfilmentStepsInOrder(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		delivery bool
		paid     bool
		before   []string
		step     string
		want     error
	}{
		{"accept unpaid", false, false, nil, "accept", domain.ErrConflict},
		{"accept twice", false, true, []string{"accept"}, "accept", domain.ErrConflict},
		{"ready before accept", false, true, nil, "ready", domain.ErrConflict},
		{"pickup before ready", false, true, []string{"accept"}, "pickup", domain.ErrConflict},
		{"ready twice", false, true, []string{"accept", "ready"}, "ready", domain.ErrConflict},
		{"pickup twice", false, true, []string{"accept", "ready", "pickup"}, "pickup", domain.ErrConflict},
		{"ready on a delivery order", true, true, []string{"accept"}, "ready", domain.ErrConflict},
		{"pickup on a delivery order", true, true, []string{"accept"}, "pickup", domain.ErrConflict},
		{"dispatch on a pickup order", false, true, []string{"accept"}, "dispatch", domain.ErrConflict},
		{"deliver on a pickup order", false, true, []string{"accept", "ready"}, "deliver", domain.ErrConflict},
		{"dispatch before accept", true, true, nil, "dispatch", domain.ErrConflict},
		{"deliver before dispatch", true, true, []string{"accept"}, "deliver", domain.ErrConflict},
		{"dispatch twice", true, true, []string{"accept", "dispatch"}, "dispatch", domain.ErrConflict},
		{"pickup flow", false, true, []string{"accept", "ready"}, "pickup", nil},
		{"delivery flow", true, true, []string{"accept", "dispatch"}, "deliver", nil},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 100, "test"))
		alice := f.member(t, "alice")
		for i, tc := range cases {
			o := chOrder(f, alice, tc.delivery, 1)
			if tc.paid {
				chPay(f, "sandbox", o, fmt.Sprintf("T%d", i))
			}
			chSteps(t, f, o.OrderNo, tc.before...)
			before := chStatus(t, f, o.OrderNo)
			err := chStep(f, o.OrderNo, tc.step)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("%s: err = %v, want %v", tc.name, err, tc.want)
			}
			if after := chStatus(t, f, o.OrderNo); err != nil && after != before {
				t.Fatalf("%s: a refused step moved the order %s → %s", tc.name, before, after)
			}
		}
		if err := chStep(f, "20990101000000000000", "accept"); !errors.Is(err, domain.ErrNotFound) {
			t.Fatalf("unknown order: %v", err)
		}
	})
}

func TestDispatchNeedsACourier(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, true, 1, "sandbox", "T1")
		chSteps(t, f, o.OrderNo, "accept")
		for _, c := range []core.Courier{
			{},
			{Phone: "13800000000"},
			{Name: "  ", TrackingNo: "\t"},
			{Name: strings.Repeat("长", 65)},
			{TrackingNo: strings.Repeat("9", 65)},
			{Name: "张三", Phone: strings.Repeat("1", 65)},
		} {
			if _, err := f.svc.Dispatch(f.ctx, staff.AdminTokenActor, o.OrderNo, c); !errors.Is(err, domain.ErrInvalidArgument) {
				t.Fatalf("dispatch with %+v: %v, want invalid argument", c, err)
			}
		}
		if st := chStatus(t, f, o.OrderNo); st != core.StatusAccepted {
			t.Fatalf("refused dispatches moved the order to %s", st)
		}
		want := core.Courier{Name: "张三", Phone: "13800000000", TrackingNo: "SF123"}
		v := hubtest.Must(f.svc.Dispatch(f.ctx, staff.AdminTokenActor, o.OrderNo, core.Courier{Name: " 张三 ", Phone: " 13800000000", TrackingNo: "SF123 "}))
		if v.Status != core.StatusDelivering || v.Courier == nil || *v.Courier != want {
			t.Fatalf("dispatched order = %+v (courier %+v), want delivering with %+v", v, v.Courier, want)
		}
		chSteps(t, f, o.OrderNo, "deliver")
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusDelivered || got.Courier == nil || *got.Courier != want {
			t.Fatalf("the shopper sees %+v (courier %+v)", got, got.Courier)
		}
		// A tracking number alone is enough; a pickup order shows no courier.
		o2 := chPaidOrder(t, f, alice, true, 1, "sandbox", "T2")
		chSteps(t, f, o2.OrderNo, "accept")
		if v := hubtest.Must(f.svc.Dispatch(f.ctx, staff.AdminTokenActor, o2.OrderNo, core.Courier{TrackingNo: "JD9"})); v.Courier == nil || v.Courier.TrackingNo != "JD9" || v.Courier.Name != "" {
			t.Fatalf("dispatch by tracking number: courier %+v", v.Courier)
		}
		p := chPaidOrder(t, f, alice, false, 1, "sandbox", "T3")
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, p.OrderNo)); got.Courier != nil {
			t.Fatalf("a pickup order shows courier %+v", got.Courier)
		}
	})
}

func TestConcurrentAcceptOrderOneWins(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		alice := f.member(t, "alice")
		for round := range 3 {
			o := chPaidOrder(t, f, alice, false, 1, "sandbox", fmt.Sprintf("T%d", round))
			var wg sync.WaitGroup
			var mu sync.Mutex
			won, lost := 0, 0
			start := make(chan struct{})
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, err := f.svc.AcceptOrder(f.ctx, staff.AdminTokenActor, o.OrderNo)
					mu.Lock()
					defer mu.Unlock()
					switch {
					case err == nil:
						won++
					case errors.Is(err, domain.ErrConflict):
						lost++
					default:
						t.Error(err)
					}
				}()
			}
			close(start)
			wg.Wait()
			if won != 1 || lost != 1 {
				t.Fatalf("round %d: %d accepts won, %d conflicted; want 1 and 1", round, won, lost)
			}
			if n := f.count(t, "events", "topic = ? AND key = ?", "order.accepted", o.OrderNo); n != 1 {
				t.Fatalf("round %d: %d order.accepted events", round, n)
			}
		}
	})
}

// ---- linked sign-in ----

func TestUnionIDLinksAppsToOneMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		union := member.IdentityRef{Provider: "wxunion", Subject: "U1"}
		a := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp1", "openid-1", "alice", union))
		b := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp2", "openid-2", "alice", union))
		if a.Member.ID != b.Member.ID {
			t.Fatalf("two apps of one unionid gave members %d and %d", a.Member.ID, b.Member.ID)
		}
		again := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp1", "openid-1", "alice", union))
		if again.Member.ID != a.Member.ID || len(again.Member.Identities) != 3 {
			t.Fatalf("sign-in again = %+v, want member %d with wxapp1, wxunion and wxapp2", again.Member, a.Member.ID)
		}
		if n := f.count(t, "members", "id > 0"); n != 1 {
			t.Fatalf("%d members, want 1", n)
		}

		// First sign-ins from eight apps at once, all with a new unionid.
		union2 := member.IdentityRef{Provider: "wxunion", Subject: "U2"}
		ids := make([]int64, 8)
		var wg sync.WaitGroup
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := f.svc.Members.SignIn(f.ctx, fmt.Sprintf("app%d", i), fmt.Sprintf("openid-%d", i), "bob", union2)
				if err != nil {
					t.Error(err)
					return
				}
				ids[i] = l.Member.ID
			}()
		}
		wg.Wait()
		for _, id := range ids {
			if id != ids[0] {
				t.Fatalf("concurrent first sign-ins of one unionid gave members %v, want one", ids)
			}
		}
		if n := f.count(t, "identities", "member_id = ?", ids[0]); n != 9 {
			t.Fatalf("bob has %d identities, want 9", n)
		}
		if n := f.count(t, "members", "id > 0"); n != 2 {
			t.Fatalf("%d members, want alice and bob", n)
		}
	})
}

func TestLinkedSignInMergesAnEarlierMember(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		cases := []struct {
			name, union, oldPhone, canonPhone, wantPhone string
		}{
			{"survivor without phone takes it over", "U1", "13800000001", "", "13800000001"},
			{"survivor keeps its own phone", "U2", "13800000002", "13900000002", "13900000002"},
		}
		for i, tc := range cases {
			union := member.IdentityRef{Provider: "wxunion", Subject: tc.union}
			// Signed in on app 1 before the app was tied to the open platform: no unionid yet.
			old := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp1", fmt.Sprintf("openid-1-%d", i), "alice"))
			hubtest.Must(f.svc.Members.BindPhone(f.ctx, old.Member.ID, tc.oldPhone))
			o := f.order(t, old.Member.ID, "MILK", 1)
			canon := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp2", fmt.Sprintf("openid-2-%d", i), "alice", union))
			if canon.Member.ID == old.Member.ID {
				t.Fatalf("%s: the unionid went to the member of another app's openid", tc.name)
			}
			if tc.canonPhone != "" {
				hubtest.Must(f.svc.Members.BindPhone(f.ctx, canon.Member.ID, tc.canonPhone))
			}
			// App 1 now sees the unionid too.
			got := hubtest.Must(f.svc.Members.SignIn(f.ctx, "wxapp1", fmt.Sprintf("openid-1-%d", i), "alice", union))
			if got.Member.ID != canon.Member.ID || len(got.Member.Identities) != 3 || got.Member.Phone != member.MaskPhone(tc.wantPhone) {
				t.Fatalf("%s: signed in as %+v, want member %d with 3 identities and phone %s", tc.name, got.Member, canon.Member.ID, member.MaskPhone(tc.wantPhone))
			}
			if n := f.count(t, "member_merges", "from_id = ? AND into_id = ? AND reason LIKE ?", old.Member.ID, canon.Member.ID, "linked identity%"); n != 1 {
				t.Fatalf("%s: %d merges recorded, want 1", tc.name, n)
			}
			gone := chMember(t, f, old.Member.ID)
			if gone.MergedInto == nil || *gone.MergedInto != canon.Member.ID || gone.Phone != nil {
				t.Fatalf("%s: merged member = %+v, want merged into %d without a phone", tc.name, gone, canon.Member.ID)
			}
			if kept := chMember(t, f, canon.Member.ID); kept.Phone == nil || *kept.Phone != tc.wantPhone {
				t.Fatalf("%s: survivor phone = %v, want %s", tc.name, kept.Phone, tc.wantPhone)
			}
			if _, err := f.svc.Order(f.ctx, canon.Member.ID, o.OrderNo); err != nil {
				t.Fatalf("%s: the earlier member's order did not move: %v", tc.name, err)
			}
			if id := hubtest.Must(f.svc.Members.Authenticate(f.ctx, old.Token)); id != canon.Member.ID {
				t.Fatalf("%s: the earlier session points at %d, want %d", tc.name, id, canon.Member.ID)
			}
			// The old phone now finds the survivor (or nobody, when the survivor kept its own).
			if n := f.count(t, "members", "phone = ?", tc.oldPhone); (tc.canonPhone == "") != (n == 1) {
				t.Fatalf("%s: %d members hold the old phone", tc.name, n)
			}
		}
	})
}

// A full refund the provider rejects leaves the order refunding with an alert; the operator can refund it
// again, and the order ends refunded without its stock going back twice.
func TestRejectedFullRefundCanBeRetried(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		g := chNewGateway(f, "fakepay")
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundRejected })
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := chPaidOrder(t, f, alice, false, 1, "fakepay", "T1")
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, ""))
		if v.Status != "failed" || v.OrderStatus != core.StatusRefunding {
			t.Fatalf("rejected full refund = %+v, want failed with the order refunding", v)
		}
		g.set(func(g *chGateway) { g.refundOutcome = core.RefundDone })
		v2 := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, 0, "again"))
		if v2.Status != "succeeded" || v2.OrderStatus != core.StatusRefunded || v2.AmountFen != o.TotalFen {
			t.Fatalf("retried refund = %+v, want all of it succeeded and the order refunded", v2)
		}
		if st := hubtest.Must(f.svc.Catalog.Stock(f.ctx, "S01", "MILK")); st.OnHand != 5 {
			t.Fatalf("on_hand %d after the retried refund, want 5 (stock back once)", st.OnHand)
		}
	})
}
