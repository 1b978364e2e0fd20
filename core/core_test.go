package core_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"gorm.io/gorm"
)

type fixture struct {
	svc   *core.Service
	db    *models.DB
	clock *testclock.Clock
	ctx   context.Context
}

// newFixture builds the service on db, its clock at 2026-11-23 02:00 UTC, with the tests' options as
// changed by edit (when not nil).
func newFixture(db *models.DB, edit func(*core.Options)) *fixture {
	f := &fixture{db: db, clock: testclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)), ctx: context.Background()}
	opts := core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 10000, PublicURL: "http://127.0.0.1/"}
	if edit != nil {
		edit(&opts)
	}
	f.svc = core.New(domain.NewEnv(db, f.clock, slog.New(slog.DiscardHandler)), opts)
	return f
}

func setup(t testing.TB, db *models.DB) *fixture {
	t.Helper()
	f := newFixture(db, nil)
	hubtest.Must(f.svc.Catalog.PutStore(f.ctx, catalog.StoreInput{Code: "S01", Name: "人民广场店", Lat: 31.2354, Lng: 121.4757}))
	hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "MILK", Name: "牛奶", PriceFen: 1590}))
	hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "EGG", Name: "鸡蛋", PriceFen: 1980}))
	return f
}

func (f *fixture) member(t testing.TB, name string) int64 {
	return hubtest.Must(f.svc.Members.SignIn(f.ctx, "sandbox", name, name)).Member.ID
}

func (f *fixture) stock(t testing.TB, sku string) catalog.StockView {
	return hubtest.Must(f.svc.Catalog.Stock(f.ctx, "S01", sku))
}

func (f *fixture) order(t testing.TB, member int64, sku string, qty int64) core.OrderView {
	return hubtest.Must(f.svc.CreateOrder(f.ctx, member, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: sku, Qty: qty}}}))
}

func (f *fixture) pay(t testing.TB, o core.OrderView, txn string, amount int64) core.PaymentResult {
	return hubtest.Must(f.svc.ApplyPayment(f.ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, TransactionID: txn, AmountFen: amount, PaidAt: f.clock.Now()}))
}

func (f *fixture) count(t testing.TB, table, where string, args ...any) int64 {
	var n int64
	if err := f.db.Conn(f.ctx).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func TestConcurrentShoppersNeverOversell(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10, "test"))
		members := make([]int64, 200)
		for i := range members {
			members[i] = f.member(t, fmt.Sprintf("u%d", i))
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok, short := 0, 0
		var other []error
		for _, m := range members {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.CreateOrder(f.ctx, m, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					ok++
				case errors.Is(err, domain.ErrOutOfStock):
					short++
				default:
					other = append(other, err)
				}
			}()
		}
		wg.Wait()
		if len(other) > 0 {
			t.Fatalf("unexpected errors: %v", other[:min(3, len(other))])
		}
		if ok != 10 || short != 190 {
			t.Fatalf("orders placed = %d, out of stock = %d; want 10 and 190", ok, short)
		}
		st := f.stock(t, "MILK")
		if st.OnHand != 10 || st.Reserved != 10 || st.Available != 0 {
			t.Fatalf("stock = %+v, want on hand 10, reserved 10", st)
		}
		if n := f.count(t, "orders", "status = ?", "pending_payment"); n != 10 {
			t.Fatalf("%d pending orders in the database, want 10", n)
		}
	})
}

func TestConcurrentDuplicateNotificationsApplyOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		o := f.order(t, f.member(t, "alice"), "MILK", 2)
		results := make(chan core.PaymentResult, 50)
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := f.svc.ApplyPayment(f.ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, TransactionID: "T1", AmountFen: o.TotalFen, PaidAt: f.clock.Now()})
				if err != nil {
					t.Error(err)
				}
				results <- r
			}()
		}
		wg.Wait()
		close(results)
		counts := map[core.PaymentResult]int{}
		for r := range results {
			counts[r]++
		}
		if counts[core.PaymentApplied] != 1 || counts[core.PaymentDuplicate] != 49 {
			t.Fatalf("results = %v, want 1 applied and 49 duplicates", counts)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 3 || st.Reserved != 0 {
			t.Fatalf("stock = %+v, want on hand 3, reserved 0 (committed once)", st)
		}
		if n := f.count(t, "stock_movements", "kind = ?", "sale"); n != 1 {
			t.Fatalf("%d sale movements, want 1", n)
		}
		if n := f.count(t, "events", "topic = ?", "order.paid"); n != 1 {
			t.Fatalf("%d order.paid events, want 1", n)
		}
	})
}

func TestPaymentOutcomes(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 3, "test"))
		alice := f.member(t, "alice")

		// A wrong amount is recorded and alerted; the order stays unpaid and its stock reserved.
		o := f.order(t, alice, "MILK", 1)
		if r := f.pay(t, o, "T-wrong", o.TotalFen-1); r != core.PaymentAmountMismatch {
			t.Fatalf("wrong amount: %s", r)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusPendingPayment {
			t.Fatalf("after a wrong amount the order is %s", got.Status)
		}
		if n := f.count(t, "alerts", "kind = ? AND order_no = ?", "payment_amount_mismatch", o.OrderNo); n != 1 {
			t.Fatalf("%d mismatch alerts, want 1", n)
		}
		// The right amount then pays it.
		if r := f.pay(t, o, "T1", o.TotalFen); r != core.PaymentApplied {
			t.Fatalf("right amount: %s", r)
		}
		// A second transaction for a paid order is money to give back; the order stays paid.
		if r := f.pay(t, o, "T2", o.TotalFen); r != core.PaymentRefundRequired {
			t.Fatalf("second payment: %s", r)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusPaid {
			t.Fatalf("after a second payment the order is %s", got.Status)
		}
		if n := f.count(t, "refunds", "status = ? AND amount_fen = ?", "requested", o.TotalFen); n != 1 {
			t.Fatalf("%d refunds requested, want 1", n)
		}
		// A payment for an order we never made is recorded, not applied.
		ghost := core.OrderView{OrderNo: "20990101000000000000"}
		if r := f.pay(t, ghost, "T3", 100); r != core.PaymentUnknownOrder {
			t.Fatalf("unknown order: %s", r)
		}
		if n := f.count(t, "payments", "result = ?", "unknown_order"); n != 1 {
			t.Fatalf("unknown-order payment not recorded")
		}
		// A payment after the shopper cancelled is refunded.
		c := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.CancelOrder(f.ctx, alice, c.OrderNo))
		if r := f.pay(t, c, "T4", c.TotalFen); r != core.PaymentRefundRequired {
			t.Fatalf("after cancel: %s", r)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, c.OrderNo)); got.Status != core.StatusRefunding {
			t.Fatalf("paid after cancel: order is %s, want refunding", got.Status)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 2 || st.Reserved != 0 {
			t.Fatalf("stock = %+v, want on hand 2 (one sold), nothing reserved", st)
		}
		// Bad notifications are refused before anything is written.
		if _, err := f.svc.ApplyPayment(f.ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, TransactionID: "T5", AmountFen: 0}); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("zero amount: %v", err)
		}
	})
}

func TestExpiryReleasesStockAndLatePayments(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 2, "test"))
		alice, bob := f.member(t, "alice"), f.member(t, "bob")
		a := f.order(t, alice, "MILK", 2)
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 100)); n != 0 {
			t.Fatalf("expired %d orders before their deadline", n)
		}
		f.clock.Add(16 * time.Minute)
		if _, err := f.svc.StartPayment(f.ctx, alice, a.OrderNo, "sandbox"); !errors.Is(err, domain.ErrInvalidArgument) && !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("paying an order past its deadline: %v", err)
		}
		if n := hubtest.Must(f.svc.ExpireDue(f.ctx, 100)); n != 1 {
			t.Fatalf("expired %d orders, want 1", n)
		}
		if st := f.stock(t, "MILK"); st.Reserved != 0 || st.Available != 2 {
			t.Fatalf("after expiry stock = %+v, want all available", st)
		}
		// The payment arrives late but the stock is still there: the order is honoured.
		if r := f.pay(t, a, "T-late", a.TotalFen); r != core.PaymentApplied {
			t.Fatalf("late payment with stock: %s", r)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 0 || st.Reserved != 0 {
			t.Fatalf("after late payment stock = %+v, want none left", st)
		}
		// Now one that expires, loses its stock to someone else, and is paid late: refund.
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 1, "test"))
		b := f.order(t, bob, "MILK", 1)
		f.clock.Add(16 * time.Minute)
		hubtest.Must(f.svc.ExpireDue(f.ctx, 100))
		f.order(t, alice, "MILK", 1)
		if r := f.pay(t, b, "T-gone", b.TotalFen); r != core.PaymentRefundRequired {
			t.Fatalf("late payment without stock: %s", r)
		}
		got := hubtest.Must(f.svc.Order(f.ctx, bob, b.OrderNo))
		if got.Status != core.StatusRefunding || got.Note == "" {
			t.Fatalf("late payment without stock: order %s (%q), want refunding with a reason", got.Status, got.Note)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 1 || st.Reserved != 1 {
			t.Fatalf("stock = %+v, want alice's reservation untouched", st)
		}
	})
}

func TestTwoExpiryWorkersExpireEachOrderOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 500, "test"))
		m := f.member(t, "alice")
		for range 120 {
			f.order(t, m, "MILK", 2)
		}
		f.clock.Add(time.Hour)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					n, err := f.svc.ExpireDue(f.ctx, 7)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					total += n
					mu.Unlock()
					if n == 0 {
						return
					}
				}
			}()
		}
		wg.Wait()
		if total != 120 {
			t.Fatalf("workers expired %d orders, want exactly 120", total)
		}
		if st := f.stock(t, "MILK"); st.Reserved != 0 || st.OnHand != 500 {
			t.Fatalf("stock = %+v, want everything released once", st)
		}
		if n := f.count(t, "stock_movements", "kind = ?", "expire"); n != 120 {
			t.Fatalf("%d release movements, want 120", n)
		}
	})
}

func TestPhoneBindingMergesMembers(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		hubtest.Must(f.svc.Members.BindPhone(f.ctx, alice, "+86 138-0000-0000"))
		// The same person signs in on another channel, orders, then proves the same phone.
		other := hubtest.Must(f.svc.Members.SignIn(f.ctx, "alipay", "2088000000000001", "alice on alipay"))
		o := f.order(t, other.Member.ID, "MILK", 1)
		merged := hubtest.Must(f.svc.Members.BindPhone(f.ctx, other.Member.ID, "13800000000"))
		if merged.ID != alice || merged.Phone != "138****0000" {
			t.Fatalf("merged member = %+v, want alice (%d) with a masked phone", merged, alice)
		}
		if len(merged.Identities) != 2 {
			t.Fatalf("identities after merge = %v, want sandbox and alipay", merged.Identities)
		}
		if _, err := f.svc.Order(f.ctx, alice, o.OrderNo); err != nil {
			t.Fatalf("the order did not move to the surviving member: %v", err)
		}
		if id := hubtest.Must(f.svc.Members.Authenticate(f.ctx, other.Token)); id != alice {
			t.Fatalf("the merged member's session points at %d, want %d", id, alice)
		}
		if n := f.count(t, "member_merges", "from_id = ? AND into_id = ?", other.Member.ID, alice); n != 1 {
			t.Fatalf("merge not recorded")
		}
		if _, err := f.svc.Members.BindPhone(f.ctx, alice, "12345"); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("bad phone: %v", err)
		}
	})
}

func TestConcurrentPhoneBindingEndsInOneMember(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		ids := make([]int64, 8)
		for i := range ids {
			ids[i] = f.member(t, fmt.Sprintf("u%d", i))
		}
		var wg sync.WaitGroup
		for _, id := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.Members.BindPhone(f.ctx, id, "13900000000"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := f.count(t, "members", "merged_into IS NULL"); n != 1 {
			t.Fatalf("%d unmerged members remain, want 1", n)
		}
		if n := f.count(t, "identities", "member_id = (SELECT id FROM members WHERE phone = ?)", "13900000000"); n != 8 {
			t.Fatalf("the surviving member has %d identities, want 8", n)
		}
	})
}

func TestOrderValidation(t *testing.T) {
	f := setup(t, dbtest.SQLite(t))
	hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
	hubtest.Must(f.svc.Catalog.PutStore(f.ctx, catalog.StoreInput{Code: "S09", Name: "关店", Lat: 31.2, Lng: 121.4, Status: "closed"}))
	m := f.member(t, "alice")
	lat, lng := 31.2354, 121.4757
	far := 39.9
	cases := []struct {
		name string
		in   core.OrderInput
		want error
	}{
		{"no items", core.OrderInput{Store: "S01", Fulfillment: "pickup"}, domain.ErrInvalidArgument},
		{"negative qty", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: -1}}}, domain.ErrInvalidArgument},
		{"huge qty", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1000}}}, domain.ErrInvalidArgument},
		{"repeated lines over the limit", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 999}, {SKU: "MILK", Qty: 999}}}, domain.ErrInvalidArgument},
		{"unknown sku", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "NOPE", Qty: 1}}}, domain.ErrNotFound},
		{"unknown store", core.OrderInput{Store: "S99", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}, domain.ErrNotFound},
		{"closed store", core.OrderInput{Store: "S09", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}, domain.ErrConflict},
		{"pickup without store", core.OrderInput{Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}, domain.ErrInvalidArgument},
		{"bad fulfillment", core.OrderInput{Store: "S01", Fulfillment: "drone", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}, domain.ErrInvalidArgument},
		{"delivery without address", core.OrderInput{Fulfillment: "delivery", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}, domain.ErrInvalidArgument},
		{"delivery too far", core.OrderInput{Fulfillment: "delivery", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}, Address: &core.AddressInput{Text: "北京", Lat: &far, Lng: &lng}}, domain.ErrOutOfStock},
		{"not enough stock", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 6}}}, domain.ErrOutOfStock},
		{"item the store does not stock", core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "EGG", Qty: 1}}}, domain.ErrOutOfStock},
		{"delivery", core.OrderInput{Fulfillment: "delivery", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}, Address: &core.AddressInput{Text: "南京东路1号", Lat: &lat, Lng: &lng}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.CreateOrder(f.ctx, m, tc.in)
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if st := f.stock(t, "MILK"); st.Reserved != 1 {
		t.Fatalf("failed orders left reservations: %+v", st)
	}
}

func TestStockCannotDropBelowReservations(t *testing.T) {
	f := setup(t, dbtest.SQLite(t))
	hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
	f.order(t, f.member(t, "alice"), "MILK", 3)
	if _, err := f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 2, "test"); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("setting stock below reservations: %v", err)
	}
	if _, err := f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", -1, "test"); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Fatalf("negative stock: %v", err)
	}
	hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 3, "test"))
	if n := f.count(t, "stock_movements", "kind = ?", "test"); n != 2 {
		t.Fatalf("%d adjustments recorded, want 2", n)
	}
}

func TestStateMachine(t *testing.T) {
	cases := []struct {
		from, to core.Status
		ok       bool
	}{
		{core.StatusPendingPayment, core.StatusPaid, true},
		{core.StatusPendingPayment, core.StatusExpired, true},
		{core.StatusExpired, core.StatusPaid, true},
		{core.StatusPaid, core.StatusPendingPayment, false},
		{core.StatusCancelled, core.StatusPaid, false},
		{core.StatusRefunded, core.StatusPaid, false},
		{core.StatusPaid, core.StatusAccepted, true},
		{core.StatusAccepted, core.StatusReady, true},
		{core.StatusReady, core.StatusCompleted, true},
		{core.StatusDelivering, core.StatusDelivered, true},
		{core.StatusRefunding, core.StatusRefunded, true},
	}
	for _, tc := range cases {
		if got := core.CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("%s → %s allowed = %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
}

func TestDistance(t *testing.T) {
	// 人民广场 to 陆家嘴 is about 3 km.
	d := catalog.DistanceM(31.2304, 121.4737, 31.2397, 121.4998)
	if d < 2500 || d > 3000 {
		t.Fatalf("distance = %.0f m", d)
	}
	if member.MaskPhone("13812345678") != "138****5678" {
		t.Fatal("phone not masked")
	}
}

// refunder is a provider double that records refunds and fails the first failures of them.
type refunder struct {
	mu       sync.Mutex
	failures int
	refunds  []core.RefundRequest
}

func (r *refunder) Provider() string { return "sandbox" }

func (r *refunder) Prepay(context.Context, core.PrepayRequest) (core.PrepayResult, error) {
	return core.PrepayResult{}, errors.New("not used")
}

func (r *refunder) Refund(_ context.Context, req core.RefundRequest) (core.RefundResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return core.RefundResult{}, errors.New("provider unavailable")
	}
	r.refunds = append(r.refunds, req)
	return core.RefundResult{Outcome: core.RefundDone}, nil
}

func TestRefundWorkerReturnsMoneyOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		prov := &refunder{failures: 1}
		f.svc.RegisterGateway(prov)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		hubtest.Must(f.svc.CancelOrder(f.ctx, alice, o.OrderNo))
		f.pay(t, o, "T-after-cancel", o.TotalFen)

		// The provider is down the first time: the refund waits and is retried later.
		if n := hubtest.Must(f.svc.ProcessRefunds(f.ctx, 10)); n != 1 {
			t.Fatalf("processed %d refunds, want 1", n)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusRefunding {
			t.Fatalf("after a failed refund the order is %s", got.Status)
		}
		if n := hubtest.Must(f.svc.ProcessRefunds(f.ctx, 10)); n != 0 {
			t.Fatalf("retried at once (%d), want a delay", n)
		}
		f.clock.Add(10 * time.Minute)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := f.svc.ProcessRefunds(f.ctx, 10); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if len(prov.refunds) != 1 || prov.refunds[0].AmountFen != o.TotalFen || prov.refunds[0].TransactionID != "T-after-cancel" {
			t.Fatalf("refunds sent = %+v, want one of the whole payment", prov.refunds)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusRefunded {
			t.Fatalf("after the refund the order is %s, want refunded", got.Status)
		}
		// A repeated completion (a provider notification arriving again) changes nothing.
		if res, err := f.svc.CompleteRefund(f.ctx, core.RefundNotice{Provider: "sandbox", RefundNo: prov.refunds[0].RefundNo, Succeeded: true}); err != nil || res != core.RefundDuplicate {
			t.Fatalf("repeated completion: %s, %v; want duplicate", res, err)
		}
		if n := f.count(t, "events", "topic = ?", "refund.succeeded"); n != 1 {
			t.Fatalf("%d refund.succeeded events, want 1", n)
		}
	})
}

// countingGateway is a provider double that counts prepays.
type countingGateway struct {
	mu        sync.Mutex
	prepays   int
	notifyURL string
}

func (g *countingGateway) Provider() string { return "counting" }

func (g *countingGateway) Prepay(_ context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.prepays++
	g.notifyURL = req.NotifyURL
	time.Sleep(5 * time.Millisecond) // a provider round trip, so concurrent calls overlap
	return core.PrepayResult{PrepayID: "P" + req.OrderNo, Params: map[string]any{"prepay_id": "P" + req.OrderNo}}, nil
}

func TestConcurrentPayCallsCreateOnePrepay(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		gw := &countingGateway{}
		f.svc.RegisterGateway(gw)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				v, err := f.svc.StartPayment(f.ctx, alice, o.OrderNo, "counting")
				switch {
				case err == nil && v.Params["prepay_id"] == "P"+o.OrderNo:
					mu.Lock()
					ok++
					mu.Unlock()
				case err == nil:
					t.Errorf("params = %v", v.Params)
				case !errors.Is(err, domain.ErrConflict):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if gw.prepays != 1 || ok == 0 {
			t.Fatalf("%d prepays for one order (%d callers got parameters), want exactly 1", gw.prepays, ok)
		}
		if gw.notifyURL != "http://127.0.0.1/webhooks/counting" {
			t.Fatalf("notify URL = %q", gw.notifyURL)
		}
		// Later calls reuse the open prepay.
		hubtest.Must(f.svc.StartPayment(f.ctx, alice, o.OrderNo, "counting"))
		if gw.prepays != 1 {
			t.Fatalf("a repeated pay call prepaid again")
		}
	})
}

func TestRefundsOfOneOrderCompletingTogether(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 100, "test"))
		alice := f.member(t, "alice")
		for i := range 20 {
			o := f.order(t, alice, "MILK", 1)
			hubtest.Must(f.svc.CancelOrder(f.ctx, alice, o.OrderNo))
			f.pay(t, o, fmt.Sprintf("A%d", i), o.TotalFen)
			f.pay(t, o, fmt.Sprintf("B%d", i), o.TotalFen)
			var wg sync.WaitGroup
			for _, no := range []string{o.OrderNo + "R1", o.OrderNo + "R2"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := f.svc.CompleteRefund(f.ctx, core.RefundNotice{Provider: "sandbox", RefundNo: no, Succeeded: true}); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusRefunded {
				t.Fatalf("order %d with both refunds done is %s, want refunded", i, got.Status)
			}
		}
	})
}

func TestImportReportsBadCSVRows(t *testing.T) {
	f := setup(t, dbtest.SQLite(t))
	rep := hubtest.Must(f.svc.Catalog.Import(f.ctx, []byte("sku,name,price_fen\nA\"1,bad,100\nOK1,好,100\n"), catalog.FormatAuto))
	if rep.Applied != 1 || rep.Failed != 1 || rep.Errors[0].Row != 2 {
		t.Fatalf("report = %+v, want row 2 failed and the good row applied", rep)
	}
}

func TestOrdersPlacedDuringAMergeFollowTheMember(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 10000, "test"))
		for i := range 10 {
			phone := fmt.Sprintf("1380000%04d", i)
			a, b := f.member(t, fmt.Sprintf("a%d", i)), f.member(t, fmt.Sprintf("b%d", i))
			hubtest.Must(f.svc.Members.BindPhone(f.ctx, a, phone))
			var wg sync.WaitGroup
			for range 4 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := f.svc.CreateOrder(f.ctx, b, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}); err != nil {
						t.Error(err)
					}
				}()
			}
			hubtest.Must(f.svc.Members.BindPhone(f.ctx, b, phone))
			wg.Wait()
			if n := f.count(t, "orders", "member_id = ?", b); n != 0 {
				t.Fatalf("round %d: %d orders left on the merged-away member", i, n)
			}
			if n := f.count(t, "orders", "member_id = ?", a); n != 4 {
				t.Fatalf("round %d: the surviving member has %d orders, want 4", i, n)
			}
		}
	})
}

// goSweep starts a worker that, once start is closed, runs sweep until it finds nothing more, adding what
// it did to total under mu; wg waits for it.
func goSweep(t testing.TB, wg *sync.WaitGroup, start <-chan struct{}, mu *sync.Mutex, total *int, sweep func() (int, error)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		for {
			n, err := sweep()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			*total += n
			mu.Unlock()
			if n == 0 {
				return
			}
		}
	}()
}

// gatedRefunder is a provider whose refunds wait for the test to open its gate.
type gatedRefunder struct {
	refunder
	entered chan struct{}
	gate    chan struct{}
}

func (r *gatedRefunder) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	r.entered <- struct{}{}
	<-r.gate
	return r.refunder.Refund(ctx, req)
}

// TestRefundAnswerSaysWhatHappened: when another replica's worker has claimed a refund and is submitting
// it as the operator's request goes to submit it too, the request waits for that worker and answers with
// what it did (succeeded), not "requested".
func TestRefundAnswerSaysWhatHappened(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		prov := &gatedRefunder{refunder: refunder{failures: 1}, entered: make(chan struct{}, 1), gate: make(chan struct{})}
		f.svc.RegisterGateway(prov)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 2)
		f.pay(t, o, "T-refund", o.TotalFen)
		go func() { <-prov.entered; prov.gate <- struct{}{} }() // the first submission fails at once
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, o.TotalFen/2, "damaged"))
		if v.Status != core.RefundRequested || v.LastError == "" {
			t.Fatalf("refund after a failed submission = %+v", v)
		}
		var r models.Refund
		if err := db.Conn(f.ctx).Where("refund_no = ?", v.RefundNo).Take(&r).Error; err != nil {
			t.Fatal(err)
		}
		f.clock.Add(10 * time.Minute) // its retry is due
		done := make(chan error, 1)
		go func() { _, err := f.svc.ProcessRefunds(f.ctx, 10); done <- err }() // another replica claims it
		<-prov.entered
		answered := make(chan core.RefundView, 1)
		go func() { answered <- hubtest.Must(f.svc.SubmitNow(f.ctx, r)) }()
		time.Sleep(50 * time.Millisecond) // the request is waiting on the other worker
		close(prov.gate)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := <-answered; got.Status != core.RefundSucceeded {
			t.Fatalf("the request answered %q while the other worker refunded it, want succeeded", got.Status)
		}
		if len(prov.refunds) != 1 {
			t.Fatalf("%d refunds reached the provider, want 1", len(prov.refunds))
		}
	})
}

// TestKilledReplicasRefundTakenUpAfterTheShortLease: a replica claims a due refund and dies before it
// submits it (its lease is never renewed). Another replica cannot take the refund while the lease holds,
// and completes it once the lease (seconds, not minutes) has run out; the money goes back once. Driven by
// the movable clock.
func TestKilledReplicasRefundTakenUpAfterTheShortLease(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		prov := &refunder{failures: 1}
		f.svc.RegisterGateway(prov)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)
		f.pay(t, o, "T-killed", o.TotalFen)
		v := hubtest.Must(f.svc.RefundOrder(f.ctx, o.OrderNo, o.TotalFen, "damaged")) // the provider is down: retried later
		if v.Status != core.RefundRequested {
			t.Fatalf("refund = %+v, want requested", v)
		}
		f.clock.Add(10 * time.Minute) // its retry is due
		// The dying replica claims it as its worker does, then is killed: nothing renews its lease.
		claimed, lease, err := domain.ClaimDue(f.ctx, f.svc.Env, func(q *gorm.DB) *gorm.DB {
			return q.Where("status IN ?", []string{core.RefundRequested, core.RefundProcessing})
		}, "next_attempt_at", "attempts", 10, func(r *models.Refund) int64 { r.Attempts++; return r.ID })
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claimed %d refunds (%v)", len(claimed), err)
		}
		lease.Release()
		if domain.LeaseTime > 30*time.Second {
			t.Fatalf("a dead replica's work waits %s; it must be taken up within seconds", domain.LeaseTime)
		}
		other := core.New(domain.NewEnv(db, f.clock, slog.New(slog.DiscardHandler)), core.Options{}) // another replica, same database and clock
		other.RegisterGateway(prov)
		f.clock.Add(domain.LeaseTime - time.Second)
		if n := hubtest.Must(other.ProcessRefunds(f.ctx, 10)); n != 0 {
			t.Fatalf("another replica took %d refunds while the dead one's lease held", n)
		}
		f.clock.Add(2 * time.Second)
		if n := hubtest.Must(other.ProcessRefunds(f.ctx, 10)); n != 1 {
			t.Fatalf("another replica took %d refunds after the lease ran out, want 1", n)
		}
		if len(prov.refunds) != 1 || prov.refunds[0].AmountFen != o.TotalFen {
			t.Fatalf("refunds sent = %+v, want one of the whole payment", prov.refunds)
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, o.OrderNo)); got.Status != core.StatusRefunded {
			t.Fatalf("order is %s, want refunded", got.Status)
		}
	})
}

// TestExpiredSessionsGoAtSignIn: a member's expired sessions are deleted when they sign in again; live
// ones stay.
func TestExpiredSessionsGoAtSignIn(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db) // sessions last an hour here
		alice := f.member(t, "alice")
		f.clock.Add(2 * time.Hour)
		f.member(t, "alice") // the first session has expired
		f.clock.Add(30 * time.Minute)
		f.member(t, "alice")
		if n := f.count(t, "sessions", "member_id = ?", alice); n != 2 {
			t.Fatalf("%d sessions kept, want the 2 live ones", n)
		}
	})
}
