package loyalty

import (
	"context"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Merge folds member from's points into member into, in the caller's (merge) transaction: ledger, lots,
// allocations and purchases move, balances and debts add up, a debt is paid at once from the available
// points (as it would have been had it been one member's all along), and the level is the higher of the
// two, raised further when the purchases together reach a higher one. The account of from goes. A merge
// already done (from has no account any more) does nothing.
func (s *Service) Merge(ctx context.Context, from, into int64) error {
	if from == into {
		return nil
	}
	tx := s.DB.Conn(ctx)
	var src models.LoyaltyAccount
	err := tx.Clauses(models.ForUpdate()).Where("member_id = ?", from).Take(&src).Error
	if models.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// Both accounts are locked, from's first: a merge locks its member rows before, so no two merges of
	// the same pair run at once, and everything else locks one account only.
	a, err := s.lockAccount(ctx, into)
	if err != nil {
		return err
	}
	for _, table := range []string{"loyalty_entries", "loyalty_lots", "loyalty_allocations", "loyalty_purchases"} {
		if err := tx.Table(table).Where("member_id = ?", from).Update("member_id", into).Error; err != nil {
			return err
		}
	}
	if err := tx.Delete(&models.LoyaltyAccount{}, src.ID).Error; err != nil {
		return err
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return err
	}
	if _, r1 := st.level(src.LevelCode); r1 > func() int { _, r := st.level(a.LevelCode); return r }() {
		a.LevelCode = src.LevelCode
	}
	a.Available += src.Available
	a.Pending += src.Pending
	a.Debt += src.Debt
	if a.Debt > 0 && a.Available > 0 {
		paid := min(a.Debt, a.Available)
		if err := s.take(ctx, a, "", paid); err != nil {
			return err
		}
		a.Debt -= paid
	}
	if src.DueAt.Before(a.DueAt) {
		a.DueAt = src.DueAt
	}
	if err := s.upgrade(ctx, a, st.Settings); err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "loyalty accounts merged", "from", from, "into", into)
	return s.saveAccount(ctx, a)
}

// Sweep brings up to limit accounts whose next event is due up to date, one account per transaction
// (domain.SweepDue, so several replicas share the work): earned points whose hold has passed become
// available, points past their expiry expire, and levels due for review are reviewed (the only time a
// level goes down).
func (s *Service) Sweep(ctx context.Context, limit int) (int, error) {
	all := func(q *gorm.DB) *gorm.DB { return q }
	return domain.SweepDue(ctx, s.Env, all, "due_at", limit, func(ctx context.Context, a *models.LoyaltyAccount) (bool, error) {
		return true, s.settle(ctx, a)
	})
}
