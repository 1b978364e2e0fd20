package referral

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// OrderSource is the ledger source of the rebate of an order's tier.
func OrderSource(orderNo string, tier int64) string { return fmt.Sprintf("order:%s#%d", orderNo, tier) }

// Placed fixes the referrers of a member's order being placed, in the caller's (placing) transaction:
// the shopper's referrer (tier 1) and, when the settings pay two tiers, that referrer's own referrer
// (tier 2), each with the share and hold of the settings in force. The order's ReferrerID is set (in
// the row and in ord). Whoever the shopper is bound to later, the order pays the referrers fixed here.
// An order of a member without a referrer, or placed while rebates are off, fixes none.
func (s *Service) Placed(ctx context.Context, ord *models.Order) error {
	if ord.MemberID == nil {
		return nil
	}
	buyer := *ord.MemberID
	l1, err := s.link(ctx, buyer)
	if err != nil || l1 == nil {
		return err
	}
	st, err := s.Settings(ctx)
	if err != nil || st.Tier1Bps == 0 {
		return err
	}
	now := s.Now()
	rows := []models.ReferralRebate{{OrderNo: ord.OrderNo, Tier: 1, ReferrerID: l1.ReferrerID, BuyerID: buyer, Bps: st.Tier1Bps, HoldDays: st.HoldDays,
		State: StatePlaced, CreatedAt: now, UpdatedAt: now}}
	if st.Tier2Bps > 0 {
		l2, err := s.link(ctx, l1.ReferrerID)
		if err != nil {
			return err
		}
		if l2 != nil && l2.ReferrerID != buyer {
			rows = append(rows, models.ReferralRebate{OrderNo: ord.OrderNo, Tier: 2, ReferrerID: l2.ReferrerID, BuyerID: buyer, Bps: st.Tier2Bps,
				HoldDays: st.HoldDays, State: StatePlaced, CreatedAt: now, UpdatedAt: now})
		}
	}
	if err := s.DB.Conn(ctx).Create(&rows).Error; err != nil {
		return err
	}
	ord.ReferrerID = &l1.ReferrerID
	return s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ?", ord.ID).Update("referrer_id", l1.ReferrerID).Error
}

// rebates returns an order's rebates in the given states, by referrer (the order their accounts are
// locked in).
func (s *Service) rebates(ctx context.Context, orderNo string, states ...string) ([]models.ReferralRebate, error) {
	var out []models.ReferralRebate
	err := s.DB.Conn(ctx).Where("order_no = ? AND state IN ?", orderNo, states).Order("referrer_id").Order("tier").Find(&out).Error
	return out, err
}

// lockAccounts locks the accounts of the referrers of rebates, in member-id order.
func (s *Service) lockAccounts(ctx context.Context, rebates []models.ReferralRebate) (map[int64]*models.ReferralAccount, error) {
	ids := []int64{}
	for _, r := range rebates {
		ids = append(ids, r.ReferrerID)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := map[int64]*models.ReferralAccount{}
	for _, id := range ids {
		if out[id] != nil {
			continue
		}
		a, err := s.lockAccount(ctx, id)
		if err != nil {
			return nil, err
		}
		out[id] = a
	}
	return out, nil
}

// saveAccounts writes locked accounts back.
func (s *Service) saveAccounts(ctx context.Context, accts map[int64]*models.ReferralAccount) error {
	for _, a := range accts {
		if err := s.saveAccount(ctx, a); err != nil {
			return err
		}
	}
	return nil
}

// Paid records, in the caller's (payment) transaction, that an order with referrers fixed on it was
// paid: each fixed rebate earns its share of the cash paid for goods (rounded down to the fen), pending
// until the order is fulfilled plus the hold. Paying the same order again earns nothing more.
func (s *Service) Paid(ctx context.Context, ord models.Order, paidAt time.Time) error {
	if ord.ReferrerID == nil {
		return nil
	}
	rbs, err := s.rebates(ctx, ord.OrderNo, StatePlaced)
	if err != nil || len(rbs) == 0 {
		return err
	}
	accts, err := s.lockAccounts(ctx, rbs)
	if err != nil {
		return err
	}
	cash, basis := max(loyalty.CashFen(ord), 0), max(loyalty.BasisFen(ord), 0)
	now := s.Now()
	for _, rb := range rbs {
		amount := cash * rb.Bps / 10000
		res := s.DB.Conn(ctx).Model(&models.ReferralRebate{}).Where("id = ? AND state = ?", rb.ID, StatePlaced).Updates(map[string]any{
			"state": StatePending, "basis_fen": basis, "amount_fen": amount, "paid_at": paidAt.UTC(), "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 || amount == 0 {
			continue
		}
		fresh, err := s.post(ctx, rb.ReferrerID, OrderSource(rb.OrderNo, rb.Tier), KindEarn, amount, fmt.Sprintf("tier %d rebate of order %s", rb.Tier, rb.OrderNo), "")
		if err != nil {
			return err
		}
		if fresh {
			accts[rb.ReferrerID].PendingFen += amount
		}
	}
	return s.saveAccounts(ctx, accts)
}

// Fulfilled records, in the caller's transaction, that an order with referrers was completed or
// delivered: its rebates become available after the hold fixed on them. A second call does nothing.
func (s *Service) Fulfilled(ctx context.Context, ord models.Order) error {
	if ord.ReferrerID == nil {
		return nil
	}
	rbs, err := s.rebates(ctx, ord.OrderNo, StatePending)
	if err != nil || len(rbs) == 0 {
		return err
	}
	accts, err := s.lockAccounts(ctx, rbs)
	if err != nil {
		return err
	}
	now := s.Now()
	settle := false
	for _, rb := range rbs {
		if rb.FulfilledAt != nil {
			continue
		}
		at := now.Add(time.Duration(rb.HoldDays) * 24 * time.Hour)
		if err := s.DB.Conn(ctx).Model(&models.ReferralRebate{}).Where("id = ? AND fulfilled_at IS NULL", rb.ID).
			Updates(map[string]any{"fulfilled_at": now, "available_at": at, "updated_at": now}).Error; err != nil {
			return err
		}
		a := accts[rb.ReferrerID]
		if a.DueAt == nil || at.Before(*a.DueAt) {
			a.DueAt = &at
		}
		settle = settle || !at.After(now)
	}
	if settle {
		for _, a := range accts {
			if err := s.settle(ctx, a); err != nil {
				return err
			}
		}
	}
	return s.saveAccounts(ctx, accts)
}

// Refunded records, in the caller's transaction, that refunds of an order with referrers have now given
// back refundedFen in all (of its refund basis, loyalty.BasisFen): each rebate is reversed to the same
// proportion of the cumulative refund, rounded down, so partial refunds add up to exactly the whole.
// A pending rebate loses the money from its own pending amount; an available one from the referrer's
// available money, and what was already paid out becomes a debt, paid back first by rebates that become
// available later. Each refund (refundNo) is applied once.
func (s *Service) Refunded(ctx context.Context, ord models.Order, refundNo string, refundedFen int64) error {
	if ord.ReferrerID == nil {
		return nil
	}
	rbs, err := s.rebates(ctx, ord.OrderNo, StatePending, StateAvailable)
	if err != nil || len(rbs) == 0 {
		return err
	}
	accts, err := s.lockAccounts(ctx, rbs)
	if err != nil {
		return err
	}
	for _, rb := range rbs {
		if rb.BasisFen <= 0 {
			continue
		}
		// Locking the account may have matured the rebate: read its state again.
		if err := s.DB.Conn(ctx).Take(&rb, rb.ID).Error; err != nil {
			return err
		}
		if rb.State != StatePending && rb.State != StateAvailable {
			continue
		}
		cum := min(max(refundedFen, 0), rb.BasisFen)
		to := rb.AmountFen * cum / rb.BasisFen
		d := to - rb.ReversedFen
		if d <= 0 {
			continue
		}
		src := fmt.Sprintf("refund:%s#%d", refundNo, rb.Tier)
		fresh, err := s.post(ctx, rb.ReferrerID, src, KindReverse, -d, "refund of order "+ord.OrderNo, "")
		if err != nil {
			return err
		}
		if !fresh {
			continue
		}
		if err := s.reverse(ctx, accts[rb.ReferrerID], &rb, d, rb.State); err != nil {
			return err
		}
	}
	return s.saveAccounts(ctx, accts)
}

// reverse takes d fen of rebate rb back from its referrer's locked account and records it on the rebate,
// which moves to state.
func (s *Service) reverse(ctx context.Context, a *models.ReferralAccount, rb *models.ReferralRebate, d int64, state string) error {
	switch rb.State {
	case StatePending:
		a.PendingFen -= d
	case StateAvailable:
		x := min(d, a.AvailableFen)
		a.AvailableFen -= x
		a.DebtFen += d - x
	default:
		return fmt.Errorf("reverse a %s rebate", rb.State)
	}
	rb.ReversedFen += d
	res := s.DB.Conn(ctx).Model(&models.ReferralRebate{}).Where("id = ? AND reversed_fen = ?", rb.ID, rb.ReversedFen-d).
		Updates(map[string]any{"reversed_fen": rb.ReversedFen, "state": state, "updated_at": s.Now()})
	if res.Error == nil && res.RowsAffected != 1 {
		return fmt.Errorf("rebate %d changed under its account's lock", rb.ID)
	}
	rb.State = state
	return res.Error
}

// post appends an entry to the rebate ledger and reports whether it is new: an entry with the same
// member, source and kind already there means its effect was applied before.
func (s *Service) post(ctx context.Context, memberID int64, source, kind string, amountFen int64, note, actor string) (bool, error) {
	e := models.ReferralEntry{MemberID: memberID, Source: source, Kind: kind, AmountFen: amountFen, Note: note, Actor: actor, CreatedAt: s.Now()}
	res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	return res.RowsAffected == 1, res.Error
}

// lockAccount locks a referrer's account for the rest of the transaction, creating it when there is
// none, and first makes the rebates whose hold has passed available.
func (s *Service) lockAccount(ctx context.Context, memberID int64) (*models.ReferralAccount, error) {
	tx := s.DB.Conn(ctx)
	var a models.ReferralAccount
	err := tx.Clauses(models.ForUpdate()).Where("member_id = ?", memberID).Take(&a).Error
	if models.IsNotFound(err) {
		now := s.Now()
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.ReferralAccount{MemberID: memberID, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
			return nil, err
		}
		err = tx.Clauses(models.ForUpdate()).Where("member_id = ?", memberID).Take(&a).Error
	}
	if err != nil {
		return nil, err
	}
	if a.DueAt != nil && !a.DueAt.After(s.Now()) {
		if err := s.settle(ctx, &a); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// saveAccount writes a locked account's balances and due time.
func (s *Service) saveAccount(ctx context.Context, a *models.ReferralAccount) error {
	a.UpdatedAt = s.Now()
	return s.DB.Conn(ctx).Model(&models.ReferralAccount{}).Where("id = ?", a.ID).Updates(map[string]any{
		"pending_fen": a.PendingFen, "available_fen": a.AvailableFen, "paid_out_fen": a.PaidOutFen, "debt_fen": a.DebtFen,
		"due_at": a.DueAt, "updated_at": a.UpdatedAt}).Error
}

// settle makes a locked account's rebates whose hold has passed available (their money pays any debt
// first), sets its next due time and saves it.
func (s *Service) settle(ctx context.Context, a *models.ReferralAccount) error {
	now := s.Now()
	tx := s.DB.Conn(ctx)
	var due []models.ReferralRebate
	if err := tx.Where("referrer_id = ? AND state = ? AND available_at <= ?", a.MemberID, StatePending, now).Order("id").Find(&due).Error; err != nil {
		return err
	}
	for _, rb := range due {
		r := rb.AmountFen - rb.ReversedFen
		res := tx.Model(&models.ReferralRebate{}).Where("id = ? AND state = ?", rb.ID, StatePending).Updates(map[string]any{"state": StateAvailable, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			continue
		}
		a.PendingFen -= r
		paid := min(a.DebtFen, r)
		a.DebtFen -= paid
		a.AvailableFen += r - paid
	}
	var next []models.ReferralRebate
	if err := tx.Where("referrer_id = ? AND state = ? AND available_at IS NOT NULL", a.MemberID, StatePending).Order("available_at").Limit(1).Find(&next).Error; err != nil {
		return err
	}
	a.DueAt = nil
	if len(next) == 1 {
		a.DueAt = next[0].AvailableAt
	}
	return s.saveAccount(ctx, a)
}

// Sweep makes available the rebates whose hold has passed, for up to limit referrers' accounts, one
// account per transaction (domain.SweepDue, so several replicas share the work).
func (s *Service) Sweep(ctx context.Context, limit int) (int, error) {
	return domain.SweepDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q }, "due_at", limit, func(ctx context.Context, a *models.ReferralAccount) (bool, error) {
		return true, s.settle(ctx, a)
	})
}
