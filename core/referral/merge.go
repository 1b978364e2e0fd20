package referral

import (
	"context"
	"fmt"
	"sort"

	"github.com/o2ohub/o2ohub/models"
)

// Merge folds member from's referral side into member into, in the caller's (merge) transaction, so
// that the result is what one member would have had:
//
//   - Links: a link between the two (one referred the other) is dropped, since one person cannot refer
//     themselves; members from referred are now referred by into; of the two members' own referrers
//     the earlier binding is kept (one member is bound once), unless it would make a cycle, when the
//     other is tried, and none kept when both would. Codes stay: from's code now names into.
//   - Money: balances add up (a debt is paid at once from the available money), the ledger and rebates
//     move to into, and rebates on orders one of the two placed that pay the other (the referrer and
//     the shopper were one person) are void: reversed in full, as a debt when already paid out, or
//     never earned when the order is not paid yet. Rebates on orders of others stay as fixed.
//
// A merge already done (from has nothing left) does nothing.
func (s *Service) Merge(ctx context.Context, from, into int64) error {
	if from == into {
		return nil
	}
	tx := s.DB.Conn(ctx)
	if err := s.lockLinks(ctx); err != nil {
		return err
	}
	if err := s.mergeLinks(ctx, from, into); err != nil {
		return err
	}
	// Accounts first, each settled with its own rebates, then the rebates and ledger move.
	first, second := min(from, into), max(from, into)
	var accts = map[int64]*models.ReferralAccount{}
	for _, id := range []int64{first, second} {
		var n int64
		if err := tx.Model(&models.ReferralAccount{}).Where("member_id = ?", id).Count(&n).Error; err != nil {
			return err
		}
		if n == 0 && id == from {
			continue
		}
		a, err := s.lockAccount(ctx, id)
		if err != nil {
			return err
		}
		accts[id] = a
	}
	a := accts[into]
	if src := accts[from]; src != nil {
		a.PendingFen += src.PendingFen
		a.AvailableFen += src.AvailableFen
		a.PaidOutFen += src.PaidOutFen
		a.DebtFen += src.DebtFen
		if err := tx.Delete(&models.ReferralAccount{}, src.ID).Error; err != nil {
			return err
		}
	}
	if err := tx.Model(&models.ReferralEntry{}).Where("member_id = ?", from).Update("member_id", into).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.ReferralRebate{}).Where("referrer_id = ?", from).Update("referrer_id", into).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.ReferralRebate{}).Where("buyer_id = ?", from).Update("buyer_id", into).Error; err != nil {
		return err
	}
	var self []models.ReferralRebate
	if err := tx.Where("referrer_id = ? AND buyer_id = ? AND state IN ?", into, into, []string{StatePlaced, StatePending, StateAvailable}).Order("id").Find(&self).Error; err != nil {
		return err
	}
	for i := range self {
		rb := &self[i]
		r := rb.AmountFen - rb.ReversedFen
		if rb.State == StatePlaced || r == 0 {
			if err := tx.Model(&models.ReferralRebate{}).Where("id = ?", rb.ID).Updates(map[string]any{"state": StateVoid, "updated_at": s.Now()}).Error; err != nil {
				return err
			}
			continue
		}
		fresh, err := s.post(ctx, into, fmt.Sprintf("merge:%s#%d", rb.OrderNo, rb.Tier), KindReverse, -r, "the referrer and the shopper of order "+rb.OrderNo+" are one member", "")
		if err != nil {
			return err
		}
		if fresh {
			if err := s.reverse(ctx, a, rb, r, StateVoid); err != nil {
				return err
			}
		}
	}
	paid := min(a.DebtFen, a.AvailableFen)
	a.DebtFen -= paid
	a.AvailableFen -= paid
	s.Log.InfoContext(ctx, "referral sides merged", "from", from, "into", into, "void_rebates", len(self))
	return s.settle(ctx, a)
}

// mergeLinks moves from's referral links to into (see Merge).
func (s *Service) mergeLinks(ctx context.Context, from, into int64) error {
	tx := s.DB.Conn(ctx)
	var own []models.ReferralLink
	if err := tx.Where("member_id IN ?", []int64{from, into}).Find(&own).Error; err != nil {
		return err
	}
	if err := tx.Where("member_id IN ?", []int64{from, into}).Delete(&models.ReferralLink{}).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.ReferralLink{}).Where("referrer_id = ?", from).Update("referrer_id", into).Error; err != nil {
		return err
	}
	sort.Slice(own, func(i, j int) bool {
		if !own[i].CreatedAt.Equal(own[j].CreatedAt) {
			return own[i].CreatedAt.Before(own[j].CreatedAt)
		}
		return own[i].ID < own[j].ID
	})
	for _, l := range own {
		if l.ReferrerID == from || l.ReferrerID == into {
			s.Log.InfoContext(ctx, "referral link dropped by a merge: one member cannot refer themselves", "member", l.MemberID, "referrer", l.ReferrerID)
			continue
		}
		cyc, err := s.reaches(ctx, l.ReferrerID, into)
		if err != nil {
			return err
		}
		if cyc {
			s.Log.InfoContext(ctx, "referral link dropped by a merge: it would make a cycle", "member", l.MemberID, "referrer", l.ReferrerID)
			continue
		}
		return tx.Create(&models.ReferralLink{MemberID: into, ReferrerID: l.ReferrerID, Code: l.Code, CreatedAt: l.CreatedAt}).Error
	}
	return nil
}
