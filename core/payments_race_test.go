package core_test

import (
	"sync"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// applyAtOnce applies the notifications concurrently and counts their results.
func applyAtOnce(t testing.TB, f *fixture, notes ...core.PaymentNotification) map[core.PaymentResult]int {
	t.Helper()
	results := make(chan core.PaymentResult, len(notes))
	var wg sync.WaitGroup
	for _, n := range notes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, err := f.svc.ApplyPayment(f.ctx, n)
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
	return counts
}

func repeated(n core.PaymentNotification, times int) []core.PaymentNotification {
	notes := make([]core.PaymentNotification, times)
	for i := range notes {
		notes[i] = n
	}
	return notes
}

// ApplyPayment records a payment's row with its outcome once the order is locked; deliveries of one
// transaction at once must still record it once and act once, whatever the outcome.
func TestConcurrentDuplicatesOfEveryOutcomeRecordOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		paidTwice := f.order(t, alice, "MILK", 1)
		f.pay(t, paidTwice, "T-first", paidTwice.TotalFen)
		wrong := f.order(t, alice, "MILK", 1)
		for _, tc := range []struct {
			name  string
			n     core.PaymentNotification
			want  core.PaymentResult
			table string // where the one action shows
			where string
		}{
			{"unknown order", core.PaymentNotification{OrderNo: "NO-SUCH-ORDER", TransactionID: "T-unknown", AmountFen: 100},
				core.PaymentUnknownOrder, "alerts", "kind = 'payment_unknown_order'"},
			{"wrong amount", core.PaymentNotification{OrderNo: wrong.OrderNo, TransactionID: "T-wrong", AmountFen: wrong.TotalFen + 1},
				core.PaymentAmountMismatch, "alerts", "kind = 'payment_amount_mismatch'"},
			{"second payment of a paid order", core.PaymentNotification{OrderNo: paidTwice.OrderNo, TransactionID: "T-second", AmountFen: paidTwice.TotalFen},
				core.PaymentRefundRequired, "refunds", "provider_txn = 'T-second'"},
		} {
			tc.n.Provider, tc.n.PaidAt = "sandbox", f.clock.Now()
			counts := applyAtOnce(t, f, repeated(tc.n, 20)...)
			if counts[tc.want] != 1 || counts[core.PaymentDuplicate] != 19 {
				t.Errorf("%s: results %v, want 1 %s and 19 duplicates", tc.name, counts, tc.want)
			}
			if n := f.count(t, "payments", "provider_txn = ? AND result = ?", tc.n.TransactionID, string(tc.want)); n != 1 {
				t.Errorf("%s: %d payment rows with result %s, want 1", tc.name, n, tc.want)
			}
			if n := f.count(t, tc.table, tc.where); n != 1 {
				t.Errorf("%s: %d rows in %s, want 1", tc.name, n, tc.table)
			}
		}
		if got := hubtest.Must(f.svc.Order(f.ctx, alice, wrong.OrderNo)); got.Status != core.StatusPendingPayment {
			t.Errorf("after wrong amounts the order is %s", got.Status)
		}
	})
}

// Two different transactions paying one order at once: one pays it, the other is refunded.
func TestConcurrentPaymentsOfOneOrderByTwoTransactions(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		o := f.order(t, f.member(t, "alice"), "MILK", 2)
		n := core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, AmountFen: o.TotalFen, PaidAt: f.clock.Now()}
		a, b := n, n
		a.TransactionID, b.TransactionID = "T-a", "T-b"
		counts := applyAtOnce(t, f, a, b)
		if counts[core.PaymentApplied] != 1 || counts[core.PaymentRefundRequired] != 1 {
			t.Fatalf("results %v, want one applied and one refund_required", counts)
		}
		if st := f.stock(t, "MILK"); st.OnHand != 3 || st.Reserved != 0 {
			t.Fatalf("stock = %+v, want on hand 3, reserved 0 (committed once)", st)
		}
		if n := f.count(t, "refunds", "order_id IS NOT NULL"); n != 1 {
			t.Fatalf("%d refunds, want 1", n)
		}
		if n := f.count(t, "payments", "result = ?", string(core.PaymentApplied)); n != 1 {
			t.Fatalf("%d applied payment rows, want 1", n)
		}
	})
}
