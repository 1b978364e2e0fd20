package core_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// This file tests referral rebates as the order flow drives them. Its helpers are prefixed rf.

type rfEnv struct{ *loEnv }

// rfSetup is loSetup with the referral settings st (hold 0 unless set) and the points' hold 0.
func rfSetup(t testing.TB, db *models.DB, st referral.Settings) *rfEnv {
	t.Helper()
	e := &rfEnv{loSetup(t, db, func(l *loyalty.Settings) { l.HoldDays = 0 })}
	hubtest.Must(e.svc.Referral.PutSettings(e.ctx, st, "test"))
	return e
}

func (e *rfEnv) code(t testing.TB, member int64) string {
	t.Helper()
	return hubtest.Must(e.svc.Referral.View(e.ctx, member)).Code
}

func (e *rfEnv) bind(t testing.TB, member, referrer int64) {
	t.Helper()
	hubtest.Must(e.svc.Referral.Bind(e.ctx, member, e.code(t, referrer)))
}

func (e *rfEnv) rebates(t testing.TB, member int64) referral.Rebates {
	t.Helper()
	hubtest.Must(e.svc.RecordLoyaltyDue(e.ctx, 1000)) // the loyalty worker records the referred members' payments
	return hubtest.Must(e.svc.Referral.View(e.ctx, member)).Rebates
}

// wantConflict checks that err is a refusal (a conflict).
func wantConflict(t testing.TB, why string, err error) {
	t.Helper()
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("%s: %v, want a conflict", why, err)
	}
}

// rfCheck checks every referral account against its ledger and rebates: the ledger sums to pending +
// available - debt, payouts sum to paid out, pending and available are what the rebates in those states
// have left, and nothing is negative.
func rfCheck(t testing.TB, db *models.DB, why string) {
	t.Helper()
	var accts []models.ReferralAccount
	if err := db.Conn(t.Context()).Find(&accts).Error; err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		var sums struct{ Ledger, Payouts, Pend, Earned int64 }
		db.Conn(t.Context()).Raw(`SELECT
			(SELECT COALESCE(SUM(amount_fen), 0) FROM referral_entries WHERE member_id = ?) AS ledger,
			(SELECT COALESCE(SUM(amount_fen), 0) FROM referral_entries WHERE member_id = ? AND kind = 'payout') AS payouts,
			(SELECT COALESCE(SUM(amount_fen - reversed_fen), 0) FROM referral_rebates WHERE referrer_id = ? AND state = 'pending') AS pend,
			(SELECT COALESCE(SUM(amount_fen - reversed_fen), 0) FROM referral_rebates WHERE referrer_id = ? AND state = 'available') AS earned`,
			a.MemberID, a.MemberID, a.MemberID, a.MemberID).Scan(&sums)
		if a.PendingFen < 0 || a.AvailableFen < 0 || a.DebtFen < 0 || sums.Ledger != a.PendingFen+a.AvailableFen-a.DebtFen ||
			-sums.Payouts != a.PaidOutFen || sums.Pend != a.PendingFen || sums.Earned+sums.Payouts != a.AvailableFen-a.DebtFen {
			t.Fatalf("%s: member %d account %+v; ledger %d, payouts %d, pending rebates %d, available rebates %d", why, a.MemberID, a, sums.Ledger, sums.Payouts, sums.Pend, sums.Earned)
		}
		if a.DebtFen > 0 && a.AvailableFen > 0 {
			t.Fatalf("%s: member %d has a debt of %d and %d available", why, a.MemberID, a.DebtFen, a.AvailableFen)
		}
	}
}

func TestReferralCycleAndSelfReferralThroughAMergeRefused(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 1000})
		a, b, c := e.member(t, "a"), e.member(t, "b"), e.member(t, "c")
		_, err := e.svc.Referral.Bind(e.ctx, a, e.code(t, a))
		wantConflict(t, "own code", err)
		e.bind(t, b, a)
		_, err = e.svc.Referral.Bind(e.ctx, a, e.code(t, b))
		wantConflict(t, "a→b→a", err)
		e.bind(t, c, b)
		_, err = e.svc.Referral.Bind(e.ctx, a, e.code(t, c))
		wantConflict(t, "a→c→b→a", err)
		e.bind(t, b, a) // the same binding again answers it
		_, err = e.svc.Referral.Bind(e.ctx, b, e.code(t, c))
		wantConflict(t, "bound twice", err)
		if _, err := e.svc.Referral.Bind(e.ctx, b, "0O1IL"); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("malformed code: %v", err)
		}

		// Two identities of one person (merged by phone): the code of the merged one is the survivor's.
		wx, ali := e.member(t, "wx"), e.member(t, "ali")
		aliCode := e.code(t, ali)
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, wx, "13800000011"))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, ali, "13800000011")) // ali merges into wx
		_, err = e.svc.Referral.Bind(e.ctx, wx, aliCode)
		wantConflict(t, "self-referral through a merged identity", err)
		_, err = e.svc.Referral.Bind(e.ctx, ali, aliCode) // the merged member's own session, if it had one
		wantConflict(t, "self-referral from the merged identity", err)
		// A merge that would close a cycle drops the link: x→wx, and wx's other identity ali2 was bound
		// to x earlier; when ali2 merges into wx, wx→x would close wx→x→wx.
		x, ali2 := e.member(t, "x"), e.member(t, "ali2")
		e.bind(t, ali2, x)
		e.bind(t, x, wx)
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, ali2, "13800000011"))
		if v := hubtest.Must(e.svc.Referral.View(e.ctx, wx)); v.Referrer != nil || v.Referred != 1 {
			t.Fatalf("after the merge wx has referrer %+v and %d referred, want none and x", v.Referrer, v.Referred)
		}
		// A referred the member B it merges with: the link is dropped.
		p, q := e.member(t, "p"), e.member(t, "q")
		e.bind(t, q, p)
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, p, "13800000012"))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, q, "13800000012"))
		if v := hubtest.Must(e.svc.Referral.View(e.ctx, p)); v.Referrer != nil || v.Referred != 0 {
			t.Fatalf("after p and q merged: %+v, want no link left", v)
		}
		if n := e.count(t, "referral_links", "member_id = referrer_id"); n != 0 {
			t.Fatalf("%d self-links", n)
		}

		// A member who has paid for an order is no longer new.
		old, r := e.member(t, "old"), e.member(t, "r")
		e.bought(t, old, soMilk, 0)
		_, err = e.svc.Referral.Bind(e.ctx, old, e.code(t, r))
		wantConflict(t, "bound after a paid order", err)

		// Concurrent binds that would close a ring: one of each pair wins.
		for i := range 10 {
			m1, m2 := e.member(t, fmt.Sprintf("ring1-%d", i)), e.member(t, fmt.Sprintf("ring2-%d", i))
			c1, c2 := e.code(t, m1), e.code(t, m2)
			var wg sync.WaitGroup
			start := make(chan struct{})
			errs := make([]error, 2)
			for j, pair := range [][2]any{{m1, c2}, {m2, c1}} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[j] = e.svc.Referral.Bind(e.ctx, pair[0].(int64), pair[1].(string))
				}()
			}
			close(start)
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("concurrent a→b and b→a: %v and %v, want one bound and one refused", errs[0], errs[1])
			}
		}
	})
}

func TestRebindBetweenPlacingAndPayingPaysTheReferrerFixedOnTheOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 1000, HoldDays: 3})
		a, c, b, b2 := e.member(t, "a"), e.member(t, "c"), e.member(t, "b"), e.member(t, "b2")
		e.bind(t, b2, c) // b2, b's other identity, was referred by c first
		e.clock.Add(time.Minute)
		e.bind(t, b, a)
		o1 := hubtest.Must(e.place(t, b, "S01", soMilkEgg, 0)) // referrer a fixed: 10% of 5160
		// b2 merges into b: the earlier binding (c) is b's now.
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, b, "13800000021"))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, b2, "13800000021"))
		if v := hubtest.Must(e.svc.Referral.View(e.ctx, b)); v.Referrer == nil || v.Referrer.Code != e.code(t, c) {
			t.Fatalf("b's referrer after the merge: %+v, want c", v.Referrer)
		}
		e.payCash(t, o1)
		if ra, rc := e.rebates(t, a), e.rebates(t, c); ra.PendingFen != 516 || rc.PendingFen != 0 {
			t.Fatalf("after paying the first order: a %+v, c %+v; want 516 pending for a", ra, rc)
		}
		o2 := e.bought(t, b, soMilk, 0) // placed after the merge: c's
		if rc := e.rebates(t, c); rc.PendingFen != 159 {
			t.Fatalf("c %+v, want 159 pending", rc)
		}
		// Fulfilled: available after the hold of 3 days.
		e.fulfil(t, o1)
		e.fulfil(t, o2)
		e.clock.Add(3*24*time.Hour - time.Second)
		hubtest.Must(e.svc.Referral.Sweep(e.ctx, 10))
		if ra := e.rebates(t, a); ra.PendingFen != 516 {
			t.Fatalf("a %+v before the hold ended", ra)
		}
		e.clock.Add(time.Second)
		if n := hubtest.Must(e.svc.Referral.Sweep(e.ctx, 10)); n != 2 {
			t.Fatalf("sweep settled %d accounts, want 2", n)
		}
		if ra, rc := e.rebates(t, a), e.rebates(t, c); ra.AvailableFen != 516 || ra.PendingFen != 0 || rc.AvailableFen != 159 {
			t.Fatalf("after the hold: a %+v, c %+v", ra, rc)
		}
		rfCheck(t, db, "after the rebind")
	})
}

func TestDuplicatePaymentNotificationPostsOneRebate(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 1000, Tier2Bps: 250})
		a, b, c := e.member(t, "a"), e.member(t, "b"), e.member(t, "c")
		e.bind(t, b, a)
		e.bind(t, c, b)
		o := hubtest.Must(e.place(t, c, "S01", soMilkEgg, 0)) // 5160: 516 to b, 129 to a
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
		e.payCash(t, o) // another transaction id later: refunded, earns nothing
		if rb, ra := e.rebates(t, b), e.rebates(t, a); rb.PendingFen != 516 || ra.PendingFen != 129 {
			t.Fatalf("rebates b %+v, a %+v; want 516 and 129 pending", rb, ra)
		}
		if n := e.count(t, "referral_entries", "kind = ?", referral.KindEarn); n != 2 {
			t.Fatalf("%d earn entries, want 2 (one a tier)", n)
		}
		// An order paid entirely with points pays no cash, so no rebate; one without a referrer fixes none.
		if n := e.count(t, "orders", "referrer_id IS NOT NULL"); n != 1 {
			t.Fatalf("%d orders with a referrer", n)
		}
		e.bought(t, a, soMilk, 0)
		if n := e.count(t, "referral_rebates", "1 = 1"); n != 2 {
			t.Fatalf("%d rebates, want 2", n)
		}
		rfCheck(t, db, "after the duplicates")
	})
}

func TestThreePartialRefundsReverseARebateExactly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 777, Tier2Bps: 333})
		a, b, c := e.member(t, "a"), e.member(t, "b"), e.member(t, "c")
		e.bind(t, b, a)
		e.bind(t, c, b)
		o := e.bought(t, c, soMilkEgg, 0) // 5160: 400 to b (5160*777/10000 = 400.9), 171 to a
		if rb, ra := e.rebates(t, b), e.rebates(t, a); rb.PendingFen != 400 || ra.PendingFen != 171 {
			t.Fatalf("rebates b %+v, a %+v", rb, ra)
		}
		e.fulfil(t, o) // hold 0: available at once, so the refunds reverse available money
		for i, amount := range []int64{1001, 1687, 2472} {
			hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, amount, "part"))
			cum := []int64{1001, 2688, 5160}[i]
			rb, ra := e.rebates(t, b), e.rebates(t, a)
			if rb.AvailableFen != 400-400*cum/5160 || ra.AvailableFen != 171-171*cum/5160 {
				t.Fatalf("after refund %d: b %+v, a %+v; want %d and %d left", i+1, rb, ra, 400-400*cum/5160, 171-171*cum/5160)
			}
		}
		if rb, ra := e.rebates(t, b), e.rebates(t, a); rb != (referral.Rebates{}) || ra != (referral.Rebates{}) {
			t.Fatalf("after the whole refund: b %+v, a %+v; want nothing", rb, ra)
		}
		// The same on a pending rebate.
		e2 := e.bought(t, c, soMilkEgg, 0)
		for _, amount := range []int64{1001, 1687, 2472} {
			hubtest.Must(e.svc.RefundOrder(e.ctx, e2.OrderNo, amount, "part"))
		}
		if rb := e.rebates(t, b); rb != (referral.Rebates{}) {
			t.Fatalf("after refunding the pending order: %+v", rb)
		}
		rfCheck(t, db, "after three refunds")
	})
}

func TestRefundAfterPayoutLeavesADebt(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 1000})
		a, b := e.member(t, "a"), e.member(t, "b")
		e.bind(t, b, a)
		o := e.bought(t, b, soMilkEgg, 0)
		e.fulfil(t, o) // 516 available
		boss := e.clerk(t, "boss", "")
		entry := hubtest.Must(e.svc.PayoutRebates(e.ctx, boss, referral.Payout{MemberID: a, AmountFen: 516, Reason: "WeChat transfer 0001"}))
		if entry.Actor != "boss" || entry.AmountFen != -516 || entry.Kind != referral.KindPayout || entry.Note != "WeChat transfer 0001" {
			t.Fatalf("payout entry %+v", entry)
		}
		_, err := e.svc.PayoutRebates(e.ctx, boss, referral.Payout{MemberID: a, AmountFen: 1, Reason: "again"})
		wantConflict(t, "payout above the available amount", err)
		hubtest.Must(e.svc.RefundOrder(e.ctx, o.OrderNo, 0, "returned"))
		if ra := e.rebates(t, a); ra.DebtFen != 516 || ra.AvailableFen != 0 || ra.PaidOutFen != 516 {
			t.Fatalf("after the refund: %+v, want a debt of 516", ra)
		}
		// The next rebate pays the debt first.
		o2 := e.bought(t, b, []core.ItemInput{{SKU: "MILK", Qty: 4}}, 0) // 6360: 636
		e.fulfil(t, o2)
		if ra := e.rebates(t, a); ra.DebtFen != 0 || ra.AvailableFen != 636-516 {
			t.Fatalf("after the next rebate: %+v, want the debt paid and 120 available", ra)
		}
		// A merge of the referrer with the shopper voids the rebates between them, as a debt when paid out.
		hubtest.Must(e.svc.PayoutRebates(e.ctx, boss, referral.Payout{MemberID: a, AmountFen: 120, Reason: "cash"}))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, a, "13800000031"))
		hubtest.Must(e.svc.Members.BindPhone(e.ctx, b, "13800000031"))
		if ra := e.rebates(t, a); ra.DebtFen != 636 || ra.AvailableFen != 0 || ra.PaidOutFen != 636 {
			t.Fatalf("after a and b merged: %+v, want the 636 paid for b's order owed", ra)
		}
		if n := e.count(t, "referral_rebates", "state <> ?", referral.StateVoid); n != 0 {
			t.Fatalf("%d rebates between a and b left", n)
		}
		rfCheck(t, db, "after the debt")
	})
}

func TestPayoutsBySignedInAdminOnlyAndNeverAboveTheAvailable(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := rfSetup(t, db, referral.Settings{Tier1Bps: 2000})
		a, b := e.member(t, "a"), e.member(t, "b")
		e.bind(t, b, a)
		o := e.bought(t, b, []core.ItemInput{{SKU: "MILK", Qty: 2}, {SKU: "EGG", Qty: 1}}, 0) // 5160: 1032
		e.fulfil(t, o)
		in := referral.Payout{MemberID: a, AmountFen: 300, Reason: "bank transfer"}
		if _, err := e.svc.PayoutRebates(e.ctx, staff.AdminTokenActor, in); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("payout by the shared admin token: %v, want forbidden", err)
		}
		if _, err := e.svc.PayoutRebates(e.ctx, e.clerk(t, "clerk1", "S01"), in); !errors.Is(err, domain.ErrForbidden) {
			t.Fatalf("payout by a clerk: %v, want forbidden", err)
		}
		boss := e.clerk(t, "boss", "")
		if _, err := e.svc.PayoutRebates(e.ctx, boss, referral.Payout{MemberID: a, AmountFen: 0}); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("empty payout: %v", err)
		}
		var wg sync.WaitGroup
		var mu sync.Mutex
		paid, refused := 0, 0
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := e.svc.PayoutRebates(e.ctx, boss, in)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					paid++
				case errors.Is(err, domain.ErrConflict):
					refused++
				default:
					t.Errorf("payout: %v", err)
				}
			}()
		}
		wg.Wait()
		if paid != 3 || refused != 5 {
			t.Fatalf("%d payouts of 300 recorded and %d refused from 1032, want 3 and 5", paid, refused)
		}
		if ra := e.rebates(t, a); ra.AvailableFen != 132 || ra.PaidOutFen != 900 {
			t.Fatalf("rebates %+v, want 132 left and 900 paid out", ra)
		}
		// The same key records once.
		k := referral.Payout{MemberID: a, AmountFen: 100, Reason: "cash", Key: "k1"}
		first := hubtest.Must(e.svc.PayoutRebates(e.ctx, boss, k))
		if again := hubtest.Must(e.svc.PayoutRebates(e.ctx, boss, k)); again.ID != first.ID {
			t.Fatalf("a retried payout recorded twice: %+v, %+v", first, again)
		}
		if ra := e.rebates(t, a); ra.AvailableFen != 32 {
			t.Fatalf("rebates %+v, want 32 left", ra)
		}
		rfCheck(t, db, "after the payouts")
	})
}
