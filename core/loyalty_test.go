package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// This file tests points and levels as the order flow drives them. Its helpers are prefixed lo.

type loEnv struct{ *soEnv }

// loSetup is soSetup with the loyalty settings edit makes of the defaults (when not nil).
func loSetup(t testing.TB, db *models.DB, edit func(*loyalty.Settings)) *loEnv {
	t.Helper()
	e := &loEnv{soSetup(t, db)}
	if edit != nil {
		st := hubtest.Must(e.svc.Loyalty.Settings(e.ctx)).Settings
		edit(&st)
		hubtest.Must(e.svc.Loyalty.PutSettings(e.ctx, st, "test"))
	}
	return e
}

// place places a pickup order at store using points.
func (e *loEnv) place(t testing.TB, member int64, store string, items []core.ItemInput, points int64) (core.OrderView, error) {
	t.Helper()
	return e.svc.CreateOrder(e.ctx, member, core.OrderInput{Store: store, Fulfillment: core.FulfillmentPickup, Items: items, Points: points})
}

// payCash pays what is left of an order in cash through soProvider.
func (e *loEnv) payCash(t testing.TB, o core.OrderView) core.PaymentResult {
	t.Helper()
	return hubtest.Must(e.svc.ApplyPayment(e.ctx, core.PaymentNotification{Provider: soProvider, OrderNo: o.OrderNo, TransactionID: "T-" + o.OrderNo, AmountFen: o.CashFen, PaidAt: e.clock.Now()}))
}

// bought places and pays an order of items at S01.
func (e *loEnv) bought(t testing.TB, member int64, items []core.ItemInput, points int64) core.OrderView {
	t.Helper()
	o := hubtest.Must(e.place(t, member, "S01", items, points))
	if o.CashFen > 0 {
		if r := e.payCash(t, o); r != core.PaymentApplied {
			t.Fatalf("paying %s: %s", o.OrderNo, r)
		}
	}
	return o
}

// fulfil accepts, prepares and hands over a paid pickup order.
func (e *loEnv) fulfil(t testing.TB, o core.OrderView) {
	t.Helper()
	a := staff.AdminTokenActor
	hubtest.Must(e.svc.AcceptOrder(e.ctx, a, o.OrderNo))
	hubtest.Must(e.svc.MarkReady(e.ctx, a, o.OrderNo))
	hubtest.Must(e.svc.CompletePickup(e.ctx, a, o.OrderNo))
}

func (e *loEnv) points(t testing.TB, member int64) loyalty.Points {
	t.Helper()
	return hubtest.Must(e.svc.Me(e.ctx, member)).Points // the member's own view: every payment of theirs is in it
}

func (e *loEnv) give(t testing.TB, member, points int64) {
	t.Helper()
	hubtest.Must(e.svc.Loyalty.Adjust(e.ctx, member, loyalty.Adjustment{Points: points, Reason: "test"}, "tester"))
}

// loCheck checks every account against its ledger and lots: the ledger sums to available + pending -
// debt, the lots hold exactly the available and pending points, and nothing is negative.
func loCheck(t testing.TB, db *models.DB, why string) {
	t.Helper()
	var accts []models.LoyaltyAccount
	if err := db.Conn(t.Context()).Find(&accts).Error; err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		var sums struct{ Ledger, Avail, Pend int64 }
		db.Conn(t.Context()).Raw(`SELECT
			(SELECT COALESCE(SUM(points), 0) FROM loyalty_entries WHERE member_id = ?) AS ledger,
			(SELECT COALESCE(SUM(remaining), 0) FROM loyalty_lots WHERE member_id = ? AND state = 'available') AS avail,
			(SELECT COALESCE(SUM(remaining), 0) FROM loyalty_lots WHERE member_id = ? AND state = 'pending') AS pend`, a.MemberID, a.MemberID, a.MemberID).Scan(&sums)
		if a.Available < 0 || a.Pending < 0 || a.Debt < 0 || sums.Ledger != a.Available+a.Pending-a.Debt || sums.Avail != a.Available || sums.Pend != a.Pending {
			t.Fatalf("%s: member %d account %+v; ledger %d, available lots %d, pending lots %d", why, a.MemberID, a, sums.Ledger, sums.Avail, sums.Pend)
		}
		if a.Debt > 0 && a.Available > 0 {
			t.Fatalf("%s: member %d has a debt of %d and %d available", why, a.MemberID, a.Debt, a.Available)
		}
	}
}

func TestDuplicatePaymentNotificationGrantsPointsOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice := e.member(t, "alice")
		o := hubtest.Must(e.place(t, alice, "S01", soMilkEgg, 0)) // 5160 fen: 51 points at 1 a yuan
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := e.svc.ApplyPayment(e.ctx, core.PaymentNotification{Provider: soProvider, OrderNo: o.OrderNo, TransactionID: "T1", AmountFen: o.CashFen, PaidAt: e.clock.Now()}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		e.payCash(t, o) // and once more, later, under another transaction id: refunded, earns nothing
		if p := e.points(t, alice); p.Pending != 51 || p.Available != 0 {
			t.Fatalf("points %+v, want 51 pending", p)
		}
		if n := e.count(t, "loyalty_entries", "kind = ?", "earn"); n != 1 {
			t.Fatalf("%d earn entries, want 1", n)
		}
		// Fulfilled: available after the hold of 7 days, not before.
		e.fulfil(t, o)
		e.fulfil2(t, o) // a repeated completion changes nothing
		e.clock.Add(7*24*time.Hour - time.Second)
		hubtest.Must(e.svc.Loyalty.Sweep(e.ctx, 10))
		if p := e.points(t, alice); p.Pending != 51 {
			t.Fatalf("points %+v before the hold ended, want 51 pending", p)
		}
		e.clock.Add(time.Second)
		if n := hubtest.Must(e.svc.Loyalty.Sweep(e.ctx, 10)); n != 1 {
			t.Fatalf("sweep handled %d accounts, want 1", n)
		}
		p := e.points(t, alice)
		if p.Available != 51 || p.Pending != 0 || len(p.Expiring) != 1 || !p.Expiring[0].ExpiresAt.Equal(e.clock.Now().Add(365*24*time.Hour)) {
			t.Fatalf("points %+v after the hold, want 51 available expiring in 365 days", p)
		}
		loCheck(t, db, "after the hold")
	})
}

// fulfil2 completes an order that is already completed: refused, and nothing earned twice.
func (e *loEnv) fulfil2(t testing.TB, o core.OrderView) {
	t.Helper()
	if _, err := e.svc.CompletePickup(e.ctx, staff.AdminTokenActor, o.OrderNo); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("completing twice: %v, want a conflict", err)
	}
}

func TestConcurrentSpendsOfTheSamePointsOneWins(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice := e.member(t, "alice")
		e.give(t, alice, 1000)
		stores := []string{"S01", "S02", "S05", "S07"}
		var wg sync.WaitGroup
		var mu sync.Mutex
		var won, lost int
		for i := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, err := e.place(t, alice, stores[i%len(stores)], soMilkEgg, 1000) // 5160 fen: up to half by points
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil && o.PointsUsed == 1000:
					won++
				case err == nil && o.PointsUsed == 0, errors.Is(err, domain.ErrConflict):
					lost++
				default:
					t.Errorf("order: %+v, %v", o, err)
				}
			}()
		}
		wg.Wait()
		if won != 1 || lost != 7 {
			t.Fatalf("%d orders spent the points and %d did not, want 1 and 7", won, lost)
		}
		if p := e.points(t, alice); p.Available != 0 {
			t.Fatalf("points %+v, want none left", p)
		}
		if n := e.count(t, "orders", "points_used > 0"); n != 1 {
			t.Fatalf("%d orders hold points", n)
		}
		loCheck(t, db, "after the race")
	})
}

func TestRefundAfterThePointsWereSpentLeavesADebtThatBlocksSpending(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) { st.HoldDays, st.EarnPointsPerYuan, st.MaxSharePct = 0, 10, 100 })
		alice := e.member(t, "alice")
		first := e.bought(t, alice, soMilkEgg, 0) // 5160 fen: 516 points
		e.fulfil(t, first)
		if p := e.points(t, alice); p.Available != 516 {
			t.Fatalf("points %+v, want 516 available", p)
		}
		spent := e.bought(t, alice, soMilk, 516) // 1590 fen: 516 of it by points
		if spent.PointsUsed != 516 || spent.CashFen != 1590-516 {
			t.Fatalf("order %+v, want 516 points used", spent)
		}
		hubtest.Must(e.svc.RefundOrder(e.ctx, first.OrderNo, 0, "returned"))
		p := e.points(t, alice)
		// The 516 points are gone: all of them are owed. The spending order's 107 points (1074 fen cash)
		// stay pending until it is fulfilled, and then pay the debt.
		if p.Available != 0 || p.Pending != 107 || p.Debt != 516 {
			t.Fatalf("points %+v after the refund, want a debt of 516 and 107 pending", p)
		}
		_, err := e.place(t, alice, "S01", soMilk, 10)
		if !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("spending with a debt: %v, want a conflict", err)
		}
		// Earning pays the debt back first; then points can be spent again.
		o := e.bought(t, alice, []core.ItemInput{{SKU: "MILK", Qty: 5}, {SKU: "EGG", Qty: 2}}, 0) // 11910 fen: 1191 points
		e.fulfil(t, o)
		e.fulfil(t, spent)
		if p := e.points(t, alice); p.Debt != 0 || p.Available != 1191+107-516 {
			t.Fatalf("points %+v, want the debt paid: %d left", p, 1191+107-516)
		}
		hubtest.Must(e.place(t, alice, "S01", soMilk, 10))
		loCheck(t, db, "after the debt")
	})
}

func TestThreePartialRefundsOfAnOddTotalReverseExactly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) { st.EarnPointsPerYuan = 3; st.MaxSharePct = 100 })
		alice := e.member(t, "alice")
		e.give(t, alice, 101)
		o := e.bought(t, alice, soMilkEgg, 101) // 5160 fen, 101 by points: 5059 cash, 151 points earned
		if o.CashFen != 5059 {
			t.Fatalf("order %+v", o)
		}
		p := e.points(t, alice)
		if p.Pending != 151 || p.Available != 0 {
			t.Fatalf("points %+v, want 151 pending", p)
		}
		for i, amount := range []int64{1000, 1687, 2372} {
			hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, amount, "part"))
			cum := []int64{1000, 2687, 5059}[i]
			p := e.points(t, alice)
			wantPending, wantBack := 151-151*cum/5059, 101*cum/5059
			if p.Pending != wantPending || p.Available != wantBack {
				t.Fatalf("after refund %d: points %+v, want %d pending and %d given back", i+1, p, wantPending, wantBack)
			}
		}
		if p := e.points(t, alice); p.Pending != 0 || p.Available != 101 || p.Debt != 0 {
			t.Fatalf("after the whole refund: %+v, want the 101 points back and nothing else", p)
		}
		loCheck(t, db, "after three refunds")
	})
}

func TestThresholdReachedExactlyUpgradesAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) {
			st.Levels = []loyalty.Level{{Code: "basic", Name: "普通", MultiplierPct: 100}, {Code: "silver", Name: "银卡", ThresholdFen: 5160 + 1590, MultiplierPct: 200}}
		})
		alice := e.member(t, "alice")
		e.bought(t, alice, soMilkEgg, 0)
		if l := hubtest.Must(e.svc.Me(e.ctx, alice)).Level; l.Code != "basic" {
			t.Fatalf("level %+v, want basic", l)
		}
		o := e.bought(t, alice, soMilk, 0) // exactly the threshold
		if l := hubtest.Must(e.svc.Me(e.ctx, alice)).Level; l.Code != "silver" || l.Name != "银卡" {
			t.Fatalf("level %+v, want silver", l)
		}
		// A refund does not lower the level; the review does.
		hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, 0, "returned"))
		if l := hubtest.Must(e.svc.Me(e.ctx, alice)).Level; l.Code != "silver" {
			t.Fatalf("level %+v after a refund, want still silver", l)
		}
		e.clock.Add(30 * 24 * time.Hour)
		hubtest.Must(e.svc.Loyalty.Sweep(e.ctx, 10))
		if l := hubtest.Must(e.svc.Me(e.ctx, alice)).Level; l.Code != "basic" {
			t.Fatalf("level %+v after the review, want basic", l)
		}
		// Reaching silver again (5160 + 5160 net) upgrades after the order that reaches it: the next
		// earns double (1590 fen: 31 points, not 15).
		e.bought(t, alice, soMilkEgg, 0)
		e.bought(t, alice, soMilk, 0)
		if p := e.points(t, alice); p.Pending != 51+51+31 {
			t.Fatalf("points %+v", p)
		}
	})
}

func TestOrderCoveredEntirelyByPointsIsPaidAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) { st.MaxSharePct = 100 })
		alice := e.member(t, "alice")
		e.give(t, alice, 6000)
		o := hubtest.Must(e.place(t, alice, "S01", soMilkEgg, 999999))
		if o.Status != core.StatusPaid || o.PointsUsed != 5160 || o.PointsValueFen != 5160 || o.CashFen != 0 || o.Provider != loyalty.ProviderPoints {
			t.Fatalf("order %+v, want paid by 5160 points", o)
		}
		e.checkStock(t, "paid by points", heldAt("S01", soMilkEgg))
		if n := len(e.events(t, "order.paid", o.OrderNo)); n != 1 {
			t.Fatalf("%d order.paid events", n)
		}
		if _, err := e.svc.StartPayment(e.ctx, alice, o.OrderNo, soProvider); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("paying a paid order: %v", err)
		}
		if p := e.points(t, alice); p.Available != 840 || p.Pending != 0 {
			t.Fatalf("points %+v, want 840 left and nothing earned", p)
		}
		// Cancelled: the points come back through the points provider's refund.
		v := hubtest.Must(e.svc.CancelOrder(e.ctx, alice, o.OrderNo))
		if v.Status != core.StatusRefunded {
			t.Fatalf("cancelled: %+v", v)
		}
		if p := e.points(t, alice); p.Available != 6000 {
			t.Fatalf("points %+v after the cancellation, want all 6000 back", p)
		}
		e.checkStock(t, "cancelled", nil)
		loCheck(t, db, "after the points order")
	})
}

func TestHeldPointsComeBackWhenTheOrderExpires(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) { st.ExpiryDays = 1 })
		alice := e.member(t, "alice")
		e.give(t, alice, 300) // expires in a day
		e.clock.Add(12 * time.Hour)
		e.give(t, alice, 200) // expires a day later than now
		o := hubtest.Must(e.place(t, alice, "S01", soMilkEgg, 400))
		if p := e.points(t, alice); o.PointsUsed != 400 || p.Available != 100 {
			t.Fatalf("order %+v, points %+v; want 400 held and 100 left", o, p)
		}
		e.clock.Add(20 * time.Minute)
		if n := hubtest.Must(e.svc.ExpireDue(e.ctx, 10)); n != 1 {
			t.Fatalf("expired %d orders", n)
		}
		p := e.points(t, alice)
		if p.Available != 500 || len(p.Expiring) != 2 || p.Expiring[0].Points != 300 || p.Expiring[1].Points != 200 {
			t.Fatalf("points %+v after the expiry, want 500 back with their own expiry dates", p)
		}
		if _, err := e.svc.CancelOrder(e.ctx, alice, o.OrderNo); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("cancel an expired order: %v", err)
		}
		// The first lot's day ends: its 300 points expire, the others stay.
		e.clock.Add(12 * time.Hour)
		hubtest.Must(e.svc.Loyalty.Sweep(e.ctx, 10))
		if p := e.points(t, alice); p.Available != 200 {
			t.Fatalf("points %+v, want 200 after the first lot expired", p)
		}
		// Paid late anyway (the stock is still there): the points are taken again, as a debt when gone.
		if r := e.payCash(t, o); r != core.PaymentApplied {
			t.Fatalf("late payment: %s", r)
		}
		if p := e.points(t, alice); p.Available != 0 || p.Debt != 200 {
			t.Fatalf("points %+v after the late payment, want 400 taken again: 200 and a debt of 200", p)
		}
		loCheck(t, db, "after the expiry")
	})
}

func TestMergedMembersPoolTheirPoints(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) {
			st.HoldDays, st.EarnPointsPerYuan, st.MaxSharePct = 0, 10, 100
			st.Levels = []loyalty.Level{{Code: "basic", Name: "普通"}, {Code: "silver", Name: "银卡", ThresholdFen: 6000}}
		})
		wx, ali := e.member(t, "wx"), e.member(t, "ali")
		o := e.bought(t, wx, soMilkEgg, 0) // 516 points pending, net 5160
		hubtest.Must(e.svc.AcceptOrder(e.ctx, staff.AdminTokenActor, o.OrderNo))
		e.give(t, ali, 300)
		spent := e.bought(t, ali, soMilk, 300) // 1290 cash: 129 pending; net 1290
		e.fulfil(t, spent)
		hubtest.Must(e.svc.RefundOrder(e.ctx, spent.OrderNo, 0, "returned")) // 300 back; 129 clawed
		e.give(t, wx, 50)
		hubtest.Must(e.place(t, ali, "S01", soMilk, 300)) // the 300 held by an unpaid order
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, wx, "13800000001"))
		into := hubtest.Must(e.svc.Members.BindPhone(e.ctx, ali, "13800000001")).ID
		if into != wx {
			t.Fatalf("merged into %d, want %d", into, wx)
		}
		p := e.points(t, wx)
		if p.Pending != 516 || p.Available != 50 || p.Debt != 0 {
			t.Fatalf("merged points %+v, want 516 pending and 50 available", p)
		}
		if l := hubtest.Must(e.svc.Me(e.ctx, wx)).Level; l.Code != "basic" {
			t.Fatalf("level %+v: net 5160 + 0 stays basic", l)
		}
		if n := e.count(t, "loyalty_accounts", "member_id = ?", ali); n != 0 {
			t.Fatalf("the merged member kept an account")
		}
		// The held order now belongs to wx: when it expires, its points come back to wx.
		e.clock.Add(time.Hour)
		hubtest.Must(e.svc.ExpireDue(e.ctx, 10))
		if p := e.points(t, wx); p.Available != 350 {
			t.Fatalf("points %+v, want 350", p)
		}
		hubtest.Must(e.svc.MarkReady(e.ctx, staff.AdminTokenActor, o.OrderNo))
		hubtest.Must(e.svc.CompletePickup(e.ctx, staff.AdminTokenActor, o.OrderNo))
		if p := e.points(t, wx); p.Available != 866 {
			t.Fatalf("points %+v, want 866", p)
		}
		loCheck(t, db, "after the merge")
	})
}

func TestMergeSettlesADebtWithTheOtherMembersPoints(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, func(st *loyalty.Settings) { st.HoldDays, st.EarnPointsPerYuan, st.MaxSharePct = 0, 10, 100 })
		wx, ali := e.member(t, "wx"), e.member(t, "ali")
		o := e.bought(t, ali, soMilkEgg, 0)
		e.fulfil(t, o) // 516 available
		e.bought(t, ali, soMilk, 516)
		hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, 0, "returned")) // 516 clawed, all owed
		if p := e.points(t, ali); p.Debt != 516 || p.Pending != 107 {
			t.Fatalf("points %+v, want a debt of 516", p)
		}
		e.give(t, wx, 1000)
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, wx, "13800000002"))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, ali, "13800000002"))
		if p := e.points(t, wx); p.Debt != 0 || p.Available != 484 || p.Pending != 107 {
			t.Fatalf("merged points %+v, want the debt paid from the 1000: 484 left, 107 pending", p)
		}
		loCheck(t, db, "after the merge")
	})
}

var _ = fmt.Sprint

func TestCounterReturnOfAnOrderPartlyPaidWithPoints(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice := e.member(t, "alice")
		e.give(t, alice, 1000)
		o := e.bought(t, alice, soMilkEgg, 1000) // 5160 fen: 1000 by points, 4160 cash
		e.fulfil(t, o)
		before := len(e.gw.refundReqs())
		// One milk of 1590 fen: its share of the cash, 1590*4160/5160 = 1281 fen, and 1000*1281/4160 =
		// 307 points back.
		hubtest.Must(e.svc.ReturnItems(e.ctx, staff.AdminTokenActor, o.OrderNo, core.ReturnInput{Items: []core.ItemInput{{SKU: "MILK", Qty: 1}}}))
		if reqs := e.gw.refundReqs(); len(reqs) != before+1 || reqs[before].AmountFen != 1281 || reqs[before].TotalFen != 4160 {
			t.Fatalf("refunds %+v, want 1281 of the 4160 fen paid", reqs[before:])
		}
		if p := e.points(t, alice); p.Available != 307 {
			t.Fatalf("points %+v, want 307 back", p)
		}
		hubtest.Must(e.svc.ReturnItems(e.ctx, staff.AdminTokenActor, o.OrderNo, core.ReturnInput{Items: []core.ItemInput{{SKU: "MILK", Qty: 1}, {SKU: "EGG", Qty: 1}}}))
		reqs := e.gw.refundReqs()
		if len(reqs) != before+2 || reqs[before+1].AmountFen != 4160-1281 {
			t.Fatalf("refunds %+v, want the rest of the cash", reqs[before:])
		}
		if p := e.points(t, alice); p.Available != 1000 || p.Pending != 0 {
			t.Fatalf("points %+v, want all 1000 back and the 41 earned clawed", p)
		}
		loCheck(t, db, "after the returns")
	})
}

// A payment only marks its order loyalty_due: what it earns is recorded just after it commits, once,
// by whichever comes first of the loyalty worker (several of them racing), a later step of the order, or
// the member reading their points.
func TestPaidOrdersEarnOnceJustAfterThePaymentCommits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		for _, sku := range []string{"MILK", "EGG"} {
			hubtest.Must(e.svc.Catalog.SetStock(e.ctx, "S01", sku, 1000, "test"))
		}
		var members []int64
		for i := range 6 {
			members = append(members, e.member(t, fmt.Sprintf("m%d", i)))
		}
		for range 4 {
			for _, m := range members {
				e.bought(t, m, soMilkEgg, 0) // 5160 fen: 51 points each
			}
		}
		if n := e.count(t, "loyalty_entries", "1 = 1"); n != 0 {
			t.Fatalf("%d ledger entries written by the payments themselves, want 0", n)
		}
		if n := e.count(t, "orders", "loyalty_due"); n != 24 {
			t.Fatalf("%d orders due, want 24", n)
		}
		// Four workers at once (replicas on PostgreSQL take disjoint orders with SKIP LOCKED).
		var wg sync.WaitGroup
		var mu sync.Mutex
		recorded := 0
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := e.svc.RecordLoyaltyDue(e.ctx, 100)
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				recorded += n
				mu.Unlock()
			}()
		}
		wg.Wait()
		if recorded != 24 || e.count(t, "orders", "loyalty_due") != 0 || e.count(t, "loyalty_entries", "kind = ?", "earn") != 24 {
			t.Fatalf("workers recorded %d, %d still due, %d earn entries; want 24, 0, 24", recorded,
				e.count(t, "orders", "loyalty_due"), e.count(t, "loyalty_entries", "kind = ?", "earn"))
		}
		if n := hubtest.Must(e.svc.RecordLoyaltyDue(e.ctx, 100)); n != 0 {
			t.Fatalf("a second run recorded %d", n)
		}
		for _, m := range members {
			if p := e.points(t, m); p.Pending != 4*51 {
				t.Fatalf("member %d: %+v, want %d pending", m, p, 4*51)
			}
		}

		// A refund that completes before any worker ran records the earning first, then its reversal.
		o := e.bought(t, members[0], soMilkEgg, 0)
		hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, o.CashFen, "whole"))
		hubtest.Must(e.svc.ProcessRefunds(e.ctx, 10))
		if n := e.count(t, "loyalty_entries", "source = ? AND kind = ?", loyalty.OrderSource(o.OrderNo), "earn"); n != 1 {
			t.Fatalf("%d earn entries for the refunded order, want 1", n)
		}
		if n := e.count(t, "orders", "loyalty_due"); n != 0 {
			t.Fatalf("%d orders still due after the refund", n)
		}
		if p := e.points(t, members[0]); p.Pending != 4*51 {
			t.Fatalf("after the whole refund: %+v, want %d pending", p, 4*51)
		}
		// A hand-over before any worker ran records the earning and starts its hold.
		o = e.bought(t, members[1], soMilkEgg, 0)
		e.fulfil(t, o)
		if n := e.count(t, "loyalty_lots", "source = ? AND available_at IS NOT NULL", loyalty.OrderSource(o.OrderNo)); n != 1 {
			t.Fatalf("%d lots of the handed-over order with an available time, want 1", n)
		}
	})
}

// The payment wakes the running workers: its points are recorded without waiting for their interval.
func TestAPaymentWakesTheLoyaltyWorker(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice := e.member(t, "alice")
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan struct{})
		go func() { defer close(done); e.svc.RunWorkers(ctx, time.Hour) }()
		defer func() { cancel(); <-done }()
		// The first payment may be recorded by the workers' first run; the second only by a wake.
		for i := int64(1); i <= 2; i++ {
			e.bought(t, alice, soMilkEgg, 0)
			for deadline := time.Now().Add(10 * time.Second); e.count(t, "loyalty_entries", "kind = ?", "earn") < i; time.Sleep(5 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("payment %d: its points were not recorded within 10 s although the worker's interval is an hour", i)
				}
			}
		}
	})
}

// The settings are cached only once they are certainly committed: defaults stored by a transaction that
// rolled back are not reused, and what a payment earns under them is recorded.
func TestSettingsStoredByARolledBackTransactionAreNotReused(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := &loEnv{soSetup(t, db)} // no settings stored yet
		boom := errors.New("rolled back")
		err := db.Tx(e.ctx, func(ctx context.Context) error {
			hubtest.Must(e.svc.Loyalty.Settings(ctx)) // stores the defaults
			hubtest.Must(e.svc.Loyalty.Settings(ctx)) // reads them back, uncommitted
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		v := hubtest.Must(e.svc.Loyalty.Settings(e.ctx))
		if n := e.count(t, "loyalty_settings", "id = ?", v.Version); n != 1 {
			t.Fatalf("settings version %d in force, which is not stored", v.Version)
		}
		alice := e.member(t, "alice")
		e.bought(t, alice, soMilkEgg, 0)
		if n, err := e.svc.RecordLoyaltyDue(e.ctx, 10); n != 1 || err != nil {
			t.Fatalf("recorded %d (%v), want 1", n, err)
		}
	})
}

// An order whose earning cannot be recorded is alerted and does not hold up the others; an order that
// passed later steps before its earning was recorded (a replica of an older release handed it over)
// ends as if it had been recorded at once.
func TestLoyaltyWorkerGoesOnPastAFailureAndCatchesUp(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice, bob := e.member(t, "alice"), e.member(t, "bob")
		bad := e.bought(t, alice, soMilkEgg, 0)
		good := e.bought(t, bob, soMilkEgg, 0)
		// The bad order names a settings version that does not exist; the good one was handed over by a
		// replica that knew nothing of loyalty_due.
		hubtest.Must(0, db.Conn(e.ctx).Model(&models.Order{}).Where("order_no = ?", bad.OrderNo).Update("loyalty_settings_id", 999999).Error)
		hubtest.Must(0, db.Conn(e.ctx).Model(&models.Order{}).Where("order_no = ?", good.OrderNo).Update("status", string(core.StatusCompleted)).Error)
		// The member sees their points as recorded so far, not an error.
		if _, err := e.svc.Me(e.ctx, alice); err != nil {
			t.Fatalf("/me of a member whose payment cannot be recorded: %v", err)
		}
		n, err := e.svc.RecordLoyaltyDue(e.ctx, 10)
		if n != 1 || err == nil {
			t.Fatalf("recorded %d (%v), want 1 and the bad order's error", n, err)
		}
		if e.count(t, "alerts", "kind = ? AND order_no = ?", "loyalty_record_failed", bad.OrderNo) != 1 {
			t.Fatal("no alert for the order that could not be recorded")
		}
		if n := e.count(t, "loyalty_lots", "source = ? AND available_at IS NOT NULL", loyalty.OrderSource(good.OrderNo)); n != 1 {
			t.Fatalf("%d lots of the handed-over order with an available time, want 1", n)
		}
		if n := e.count(t, "orders", "loyalty_due"); n != 1 {
			t.Fatalf("%d orders due, want the bad one only", n)
		}
		// Nor does it keep a campaign from starting (it records what it can first).
		c := hubtest.Must(e.svc.Campaigns.Create(e.ctx, campaign.Input{Name: "spring", Audience: campaign.Audience{All: true},
			Inbox: campaign.Inbox{Title: "春季", Body: "新品上架"}}, "tester"))
		if v, err := e.svc.StartCampaign(e.ctx, c.ID); err != nil || v.Status != campaign.StatusRunning {
			t.Fatalf("starting a campaign beside a payment that cannot be recorded: %+v, %v", v, err)
		}
	})
}

// An admin looking a member up by phone sees every payment of theirs, recorded or not yet.
func TestAdminLookupCountsPaymentsNotYetRecorded(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := loSetup(t, db, nil)
		alice := e.member(t, "alice")
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, alice, "13800001111"))
		e.bought(t, alice, soMilkEgg, 0) // 51 points pending
		boss := staff.Actor{Username: "boss", Role: staff.RoleAdmin}
		v := hubtest.Must(e.svc.LookupMember(e.ctx, boss, "13800001111"))
		if v.Points.Pending != 51 || e.count(t, "orders", "loyalty_due") != 0 {
			t.Fatalf("lookup %+v, want 51 pending and nothing left due", v.Points)
		}
	})
}
