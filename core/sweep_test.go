package core_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/metrics"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// replica returns another Service on the fixture's database and clock, as another process would run it
// with opts.
func (f *fixture) replica(opts core.Options) *core.Service {
	return core.New(domain.NewEnv(f.db, f.clock, slog.New(slog.NewTextHandler(io.Discard, nil))), opts)
}

// fixtureOptions are the options setup runs the fixture's Service with.
var fixtureOptions = core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 10000, PublicURL: "http://127.0.0.1/"}

// Three replicas sweep a burst of thousands of expired multi-item orders while shoppers keep reserving
// the same hot rows: every order is expired exactly once, each of its items released exactly once, and
// no transaction meets a deadlock (the sweeps lock one order's rows at a time, in (store, product)
// order, as CreateOrder does).
func TestReplicasExpireEachOrderOnceWhileOrdersArePlaced(t *testing.T) {
	const makers = 6
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		// Deadlocks are PostgreSQL's: SQLite runs one writer at a time, so a smaller burst shows the rest.
		due, placed := 150, 30
		if db.Postgres() {
			due, placed = 2000, 200
		}
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "BREAD", Name: "面包", PriceFen: 890}))
		for _, sku := range []string{"MILK", "EGG", "BREAD"} {
			hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", sku, 5000, "test"))
		}
		alice, bob := f.member(t, "alice"), f.member(t, "bob")
		orders := [][]core.ItemInput{
			{{SKU: "MILK", Qty: 1}, {SKU: "EGG", Qty: 2}, {SKU: "BREAD", Qty: 3}},
			{{SKU: "BREAD", Qty: 1}, {SKU: "MILK", Qty: 2}},
			{{SKU: "EGG", Qty: 1}, {SKU: "BREAD", Qty: 1}},
		}
		var items int64
		for i := range due {
			items += int64(len(orders[i%len(orders)]))
		}
		// The due orders are placed by several goroutines at once, only to set the burst up quickly.
		began := time.Now()
		var setup sync.WaitGroup
		for m := range makers {
			setup.Add(1)
			go func() {
				defer setup.Done()
				for i := m; i < due; i += makers {
					in := orders[i%len(orders)]
					if _, err := f.svc.CreateOrder(f.ctx, alice, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: in}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
		}
		setup.Wait()
		if t.Failed() {
			return
		}
		placedAt := time.Now()
		f.clock.Add(time.Hour)
		deadlocksBefore, retriedBefore := pgDeadlocks(t, f), deadlockRetries(t)

		replicas := []*core.Service{f.svc, f.replica(fixtureOptions), f.replica(fixtureOptions)}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		start := make(chan struct{})
		for _, svc := range replicas {
			goSweep(t, &wg, start, &mu, &total, func() (int, error) { return svc.ExpireDue(f.ctx, 100) })
		}
		wg.Add(1)
		go func() { // a shopper placing orders on the same rows meanwhile; these are not due
			defer wg.Done()
			<-start
			for i := range placed {
				in := []core.ItemInput{{SKU: "EGG", Qty: 1}, {SKU: "MILK", Qty: 1}}
				if _, err := replicas[i%len(replicas)].CreateOrder(f.ctx, bob, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: in}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		t.Logf("%d orders placed in %v, expired by three services in %v", due, placedAt.Sub(began), time.Since(placedAt))
		noDeadlocks(t, f, "the expiry burst", deadlocksBefore, retriedBefore)
		if total != due {
			t.Fatalf("replicas expired %d orders, want exactly %d", total, due)
		}
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 100)); n != 0 {
			t.Fatalf("%d orders left to expire", n)
		}
		if n := f.count(t, "orders", "status = ?", string(core.StatusExpired)); n != int64(due) {
			t.Fatalf("%d expired orders, want %d", n, due)
		}
		if n := f.count(t, "orders", "status = ?", string(core.StatusPendingPayment)); n != int64(placed) {
			t.Fatalf("%d orders pending, want the %d placed meanwhile", n, placed)
		}
		if n := f.count(t, "events", "topic = ?", "order.expired"); n != int64(due) {
			t.Fatalf("%d order.expired events, want %d", n, due)
		}
		var twice int64
		if err := f.db.Conn(f.ctx).Raw(`SELECT COUNT(*) FROM (SELECT order_no, product_id FROM stock_movements WHERE kind = 'expire'
			GROUP BY order_no, product_id HAVING COUNT(*) <> 1) x`).Scan(&twice).Error; err != nil {
			t.Fatal(err)
		}
		if twice != 0 {
			t.Fatalf("%d order items released more than once", twice)
		}
		if n := f.count(t, "stock_movements", "kind = ?", "expire"); n != items {
			t.Fatalf("%d release movements, want %d", n, items)
		}
		for sku, reserved := range map[string]int64{"MILK": int64(placed), "EGG": int64(placed), "BREAD": 0} {
			if st := f.stock(t, sku); st.OnHand != 5000 || st.Reserved != reserved {
				t.Fatalf("%s = %+v, want on hand 5000 with %d reserved by the orders placed meanwhile", sku, st, reserved)
			}
		}
	})
}

// deadlockRetries is how many transactions this process has retried after a PostgreSQL deadlock
// (models.DB.Tx counts each one in metrics.TxRetries).
func deadlockRetries(t testing.TB) float64 {
	var m dto.Metric
	if err := metrics.TxRetries.WithLabelValues("deadlock").Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

// noDeadlocks fails the test when a transaction of this process met a deadlock since retriedBefore (the
// counter is the process's, and the tests that call this one are not parallel, so none of the other
// tests of this package runs meanwhile); a deadlock that was not retried fails the sweep or the order
// it hit, which the caller checks. PostgreSQL's own count since pgBefore is logged, not asserted: it
// covers the whole database, which the tests of other packages, run in parallel, share.
func noDeadlocks(t testing.TB, f *fixture, what string, pgBefore int64, retriedBefore float64) {
	t.Helper()
	if n := deadlockRetries(t) - retriedBefore; n != 0 {
		t.Errorf("%s: %v transactions retried after a deadlock, want none", what, n)
	}
	if d := pgDeadlocks(t, f); d >= 0 {
		t.Logf("%s: PostgreSQL counted %d deadlocks in the whole database meanwhile (other packages' tests included)", what, d-pgBefore)
	}
}

// pgDeadlocks is PostgreSQL's count of deadlocks in this database, or -1 on SQLite.
func pgDeadlocks(t testing.TB, f *fixture) int64 {
	if !f.db.Postgres() {
		return -1
	}
	var n int64
	if err := f.db.Conn(f.ctx).Raw("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()").Scan(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// An order that cannot be expired (its stock row lost the reservation, as a bad manual edit would do)
// fails alone: the sweep still expires the others in the same batch and reports the failure.
func TestSweepGoesOnPastAFailingOrder(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "BREAD", Name: "面包", PriceFen: 890}))
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "BREAD", 10, "test"))
		alice := f.member(t, "alice")
		bad := f.order(t, alice, "BREAD", 2) // oldest: the sweep meets it first
		f.clock.Add(time.Second)
		var good []core.OrderView
		for range 4 {
			good = append(good, f.order(t, alice, "MILK", 1))
		}
		// The reservation of the first order vanishes behind the hub's back.
		if err := db.Conn(f.ctx).Exec("UPDATE stocks SET reserved = 0 WHERE product_id = (SELECT id FROM products WHERE sku = 'BREAD')").Error; err != nil {
			t.Fatal(err)
		}
		f.clock.Add(time.Hour)
		n, err := f.svc.ExpireDue(f.ctx, 10)
		if err == nil || !strings.Contains(err.Error(), "reservation of product") {
			t.Fatalf("sweep error = %v, want the missing reservation reported", err)
		}
		if errors.Is(err, domain.ErrConflict) {
			t.Fatalf("sweep error %v is a conflict, want a fault", err)
		}
		if n != len(good) {
			t.Fatalf("sweep expired %d orders, want the %d good ones", n, len(good))
		}
		for _, o := range good {
			if v := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); v.Status != core.StatusExpired {
				t.Fatalf("order %s is %s, want expired", o.OrderNo, v.Status)
			}
		}
		if v := hubtest.Must(f.svc.Order(f.ctx, alice, bad.OrderNo)); v.Status != core.StatusPendingPayment {
			t.Fatalf("failing order %s is %s, want it rolled back to pending_payment", bad.OrderNo, v.Status)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 10 || st.Reserved != 0 {
			t.Fatalf("MILK = %+v, want every good order's reservation released", st)
		}
		if n := f.count(t, "events", "topic = ? AND key = ?", "order.expired", bad.OrderNo); n != 0 {
			t.Fatalf("failing order has %d order.expired events", n)
		}
		// Once the row is repaired, the next sweep expires it.
		if err := db.Conn(f.ctx).Exec("UPDATE stocks SET reserved = 2 WHERE product_id = (SELECT id FROM products WHERE sku = 'BREAD')").Error; err != nil {
			t.Fatal(err)
		}
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 10)); n != 1 {
			t.Fatalf("after the repair the sweep expired %d orders, want 1", n)
		}
		if st := f.stock(t, "BREAD"); st.OnHand != 10 || st.Reserved != 0 {
			t.Fatalf("BREAD = %+v, want released", st)
		}
	})
}

// Orders of two stores re-routed to each other at once move their stock both ways between the same rows
// (MoveStocks locks them lowest store id first): every order moves once and both stores end even.
func TestReroutesBetweenTwoStoresBothWays(t *testing.T) {
	const each = 5
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		alice := e.member(t, "alice")
		items := []core.ItemInput{{SKU: "EGG", Qty: 1}, {SKU: "MILK", Qty: 1}}
		want := map[string]string{} // order → the store it must move to
		for range each {
			want[e.paid(t, alice, "S01", items).OrderNo] = "S02"
			want[e.paid(t, alice, "S02", items).OrderNo] = "S01"
		}
		e.clock.Add(soAcceptTimeout)
		deadlocksBefore, retriedBefore := pgDeadlocks(t, e.fixture), deadlockRetries(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		start := make(chan struct{})
		// The options soSetup runs its Service with.
		opts := core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 3000, PublicURL: "http://127.0.0.1/",
			PasswordCost: 4, AcceptTimeout: soAcceptTimeout, RerouteRadiusM: 5000, PickupTTL: soPickupTTL,
			PickupFailLimit: soFailLimit, PickupFailEvery: soFailEvery}
		for _, svc := range []*core.Service{e.svc, e.replica(opts), e.replica(opts)} {
			goSweep(t, &wg, start, &mu, &total, func() (int, error) { return svc.RerouteDue(e.ctx, 2) })
		}
		close(start)
		wg.Wait()
		if t.Failed() {
			return
		}
		noDeadlocks(t, e.fixture, "the re-routes", deadlocksBefore, retriedBefore)
		if total != 2*each {
			t.Fatalf("replicas re-routed %d orders, want %d", total, 2*each)
		}
		for no, to := range want {
			if v := e.view(t, no); v.Store != to || v.Status != core.StatusPaid {
				t.Fatalf("order %s is %s at %s, want paid at %s", no, v.Status, v.Store, to)
			}
			if n := len(e.events(t, "order.rerouted", no)); n != 1 {
				t.Fatalf("order %s: %d order.rerouted events", no, n)
			}
			from := map[string]string{"S01": "S02", "S02": "S01"}[to]
			e.wantOffers(t, no, soOffer{from, "timeout", "system", "not accepted within 5m0s"}, soOffer{to, "offered", "", ""})
		}
		for _, store := range []string{"S01", "S02"} {
			for _, sku := range []string{"MILK", "EGG"} {
				if st := hubtest.Must(e.svc.Catalog.Stock(e.ctx, store, sku)); st.OnHand != soStart-each || st.Reserved != 0 {
					t.Fatalf("%s %s = %+v, want %d on hand", store, sku, st, soStart-each)
				}
			}
		}
		if n := e.count(t, "stock_movements", "kind IN ?", []string{"reroute_in", "reroute_out"}); n != 2*2*2*each {
			t.Fatalf("%d re-route movements, want %d", n, 2*2*2*each)
		}
	})
}
