package loyalty

import (
	"context"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// lockAccount locks a member's account for the rest of the transaction, creating it when the member has
// none, and first brings it up to date when something is due (lots that matured or expired, a level
// review), so that no caller ever sees an expired point as available.
func (s *Service) lockAccount(ctx context.Context, memberID int64) (*models.LoyaltyAccount, error) {
	tx := s.DB.Conn(ctx)
	var a models.LoyaltyAccount
	err := tx.Clauses(models.ForUpdate()).Where("member_id = ?", memberID).Take(&a).Error
	if models.IsNotFound(err) {
		st, err := s.Settings(ctx)
		if err != nil {
			return nil, err
		}
		lvl, _ := st.reached(0)
		now := s.Now()
		review := now.Add(st.review())
		a = models.LoyaltyAccount{MemberID: memberID, LevelCode: lvl.Code, DueAt: review, ReviewAt: review, CreatedAt: now, UpdatedAt: now}
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&a).Error; err != nil {
			return nil, err
		}
		a = models.LoyaltyAccount{}
		err = tx.Clauses(models.ForUpdate()).Where("member_id = ?", memberID).Take(&a).Error
		if err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	if !a.DueAt.After(s.Now()) {
		if err := s.settle(ctx, &a); err != nil {
			return nil, err
		}
	}
	return &a, nil
}

// saveAccount writes a locked account's balances, level and due times.
func (s *Service) saveAccount(ctx context.Context, a *models.LoyaltyAccount) error {
	a.UpdatedAt = s.Now()
	return s.DB.Conn(ctx).Model(&models.LoyaltyAccount{}).Where("id = ?", a.ID).Updates(map[string]any{
		"available": a.Available, "pending": a.Pending, "debt": a.Debt, "level_code": a.LevelCode,
		"due_at": a.DueAt, "review_at": a.ReviewAt, "updated_at": a.UpdatedAt}).Error
}

// due moves the account's due time forward to t when t is sooner.
func due(a *models.LoyaltyAccount, t *time.Time) {
	if t != nil && t.Before(a.DueAt) {
		a.DueAt = *t
	}
}

// post appends an entry to the ledger and reports whether it is new: an entry with the same member,
// source and kind already there means its effect was applied before, and the caller applies nothing.
func (s *Service) post(ctx context.Context, memberID int64, source, kind string, points int64, note, actor string) (bool, error) {
	e := models.LoyaltyEntry{MemberID: memberID, Source: source, Kind: kind, Points: points, Note: note, Actor: actor, CreatedAt: s.Now()}
	res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&e)
	return res.RowsAffected == 1, res.Error
}

// credit adds points to a locked account as a new lot: a pending lot (matures at availableAt, or when
// its purchase is fulfilled when nil) or an available one expiring at expiresAt. Points that become
// available pay the member's debt first. It returns the lot.
func (s *Service) credit(ctx context.Context, a *models.LoyaltyAccount, source, state string, points int64, availableAt, expiresAt *time.Time) (models.LoyaltyLot, error) {
	lot := models.LoyaltyLot{MemberID: a.MemberID, Source: source, State: state, Points: points, Remaining: points,
		AvailableAt: availableAt, ExpiresAt: expiresAt, CreatedAt: s.Now()}
	switch state {
	case LotPending:
		a.Pending += points
		due(a, availableAt)
	case LotAvailable:
		paid := min(a.Debt, points)
		a.Debt -= paid
		lot.Remaining -= paid
		a.Available += lot.Remaining
		due(a, expiresAt)
	default:
		return lot, fmt.Errorf("credit to a %s lot", state)
	}
	if err := s.DB.Conn(ctx).Create(&lot).Error; err != nil {
		return lot, err
	}
	if state == LotAvailable && !expiresAt.After(s.Now()) {
		return lot, s.expireLot(ctx, a, &lot)
	}
	return lot, nil
}

// availableLots returns a member's available lots with points left, oldest expiry first: the order they
// are spent in.
func (s *Service) availableLots(ctx context.Context, memberID int64) ([]models.LoyaltyLot, error) {
	var lots []models.LoyaltyLot
	err := s.DB.Conn(ctx).Where("member_id = ? AND state = ? AND remaining > 0", memberID, LotAvailable).
		Order("expires_at").Order("id").Find(&lots).Error
	return lots, err
}

// takeLot takes n points out of a lot of a locked account, recording the allocation to spend source
// when source is not empty.
func (s *Service) takeLot(ctx context.Context, a *models.LoyaltyAccount, lot *models.LoyaltyLot, n int64, source string) error {
	if n <= 0 {
		return nil
	}
	lot.Remaining -= n
	if lot.State == LotPending {
		a.Pending -= n
	} else {
		a.Available -= n
	}
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyLot{}).Where("id = ?", lot.ID).Update("remaining", lot.Remaining).Error; err != nil {
		return err
	}
	if source == "" {
		return nil
	}
	return s.DB.Conn(ctx).Create(&models.LoyaltyAllocation{MemberID: a.MemberID, Source: source, LotID: lot.ID, Points: n}).Error
}

// take spends n available points of a locked account, oldest lots first, recording where they came
// from under source. The caller has checked that the account has them.
func (s *Service) take(ctx context.Context, a *models.LoyaltyAccount, source string, n int64) error {
	lots, err := s.availableLots(ctx, a.MemberID)
	if err != nil {
		return err
	}
	for i := range lots {
		if n == 0 {
			break
		}
		x := min(n, lots[i].Remaining)
		if err := s.takeLot(ctx, a, &lots[i], x, source); err != nil {
			return err
		}
		n -= x
	}
	if n > 0 {
		return fmt.Errorf("member %d: lots hold %d points fewer than the account says", a.MemberID, n)
	}
	return nil
}

// claw takes n points back from a locked account: from lot first (the lot the points were earned in,
// pending or available; 0 for none), then from the available lots oldest first, and what they cannot
// cover becomes debt. When source is not empty the points taken are recorded as a spend of source.
func (s *Service) claw(ctx context.Context, a *models.LoyaltyAccount, lotID int64, n int64, source string) error {
	if lotID != 0 && n > 0 {
		var lot models.LoyaltyLot
		if err := s.DB.Conn(ctx).Take(&lot, lotID).Error; err != nil {
			return err
		}
		if lot.State != LotExpired && lot.MemberID == a.MemberID {
			x := min(n, lot.Remaining)
			if err := s.takeLot(ctx, a, &lot, x, source); err != nil {
				return err
			}
			n -= x
		}
	}
	if n > 0 {
		x := min(n, a.Available)
		if err := s.take(ctx, a, source, x); err != nil {
			return err
		}
		n -= x
	}
	a.Debt += n
	return nil
}

// giveBack returns n points a spend (source spend) took, as new available lots that keep the expiry of
// the lots they came from (the latest-expiring first), paying any debt first; points beyond what the
// spend recorded get the full expiry of settings st. lotSource names the new lots.
func (s *Service) giveBack(ctx context.Context, a *models.LoyaltyAccount, spend, lotSource string, n int64, st Settings) error {
	var allocs []struct {
		models.LoyaltyAllocation
		ExpiresAt *time.Time
	}
	err := s.DB.Conn(ctx).Table("loyalty_allocations").Select("loyalty_allocations.*, loyalty_lots.expires_at").
		Joins("JOIN loyalty_lots ON loyalty_lots.id = loyalty_allocations.lot_id").
		Where("loyalty_allocations.source = ? AND loyalty_allocations.returned < loyalty_allocations.points", spend).
		Order("loyalty_lots.expires_at DESC").Order("loyalty_allocations.id DESC").Scan(&allocs).Error
	if err != nil {
		return err
	}
	for _, al := range allocs {
		if n == 0 {
			break
		}
		x := min(n, al.Points-al.Returned)
		if err := s.DB.Conn(ctx).Model(&models.LoyaltyAllocation{}).Where("id = ?", al.ID).Update("returned", gorm.Expr("returned + ?", x)).Error; err != nil {
			return err
		}
		exp := al.ExpiresAt
		if exp == nil {
			t := s.Now().Add(st.expiry())
			exp = &t
		}
		if _, err := s.credit(ctx, a, lotSource, LotAvailable, x, nil, exp); err != nil {
			return err
		}
		n -= x
	}
	if n > 0 {
		exp := s.Now().Add(st.expiry())
		_, err := s.credit(ctx, a, lotSource, LotAvailable, n, nil, &exp)
		return err
	}
	return nil
}

// expireLot ends an available lot of a locked account whose time has come: what is left of it expires
// in the ledger.
func (s *Service) expireLot(ctx context.Context, a *models.LoyaltyAccount, lot *models.LoyaltyLot) error {
	if lot.Remaining > 0 {
		if _, err := s.post(ctx, a.MemberID, fmt.Sprintf("lot:%d", lot.ID), KindExpire, -lot.Remaining, "", ""); err != nil {
			return err
		}
		a.Available -= lot.Remaining
	}
	lot.Remaining, lot.State = 0, LotExpired
	return s.DB.Conn(ctx).Model(&models.LoyaltyLot{}).Where("id = ?", lot.ID).Updates(map[string]any{"remaining": 0, "state": LotExpired}).Error
}

// mature makes a pending lot of a locked account available; its points pay any debt first.
func (s *Service) mature(ctx context.Context, a *models.LoyaltyAccount, lot *models.LoyaltyLot) error {
	r := lot.Remaining
	a.Pending -= r
	paid := min(a.Debt, r)
	a.Debt -= paid
	a.Available += r - paid
	lot.Remaining, lot.State = r-paid, LotAvailable
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyLot{}).Where("id = ?", lot.ID).Updates(map[string]any{"remaining": lot.Remaining, "state": LotAvailable}).Error; err != nil {
		return err
	}
	if lot.ExpiresAt != nil && !lot.ExpiresAt.After(s.Now()) {
		return s.expireLot(ctx, a, lot)
	}
	return nil
}

// settle brings a locked account up to date: pending lots whose time has come mature, available lots
// past their expiry expire, the level is reviewed when its review is due (the only time it can go
// down), and the account's next due time is set. It saves the account.
func (s *Service) settle(ctx context.Context, a *models.LoyaltyAccount) error {
	now := s.Now()
	tx := s.DB.Conn(ctx)
	var matured []models.LoyaltyLot
	if err := tx.Where("member_id = ? AND state = ? AND available_at <= ?", a.MemberID, LotPending, now).Order("id").Find(&matured).Error; err != nil {
		return err
	}
	for i := range matured {
		if err := s.mature(ctx, a, &matured[i]); err != nil {
			return err
		}
	}
	var expired []models.LoyaltyLot
	if err := tx.Where("member_id = ? AND state = ? AND expires_at <= ?", a.MemberID, LotAvailable, now).Order("id").Find(&expired).Error; err != nil {
		return err
	}
	for i := range expired {
		if err := s.expireLot(ctx, a, &expired[i]); err != nil {
			return err
		}
	}
	if !a.ReviewAt.After(now) {
		st, err := s.Settings(ctx)
		if err != nil {
			return err
		}
		net, err := s.netSpend(ctx, a.MemberID, st.Settings)
		if err != nil {
			return err
		}
		lvl, _ := st.reached(net)
		if lvl.Code != a.LevelCode {
			s.Log.InfoContext(ctx, "loyalty level reviewed", "member", a.MemberID, "from", a.LevelCode, "to", lvl.Code)
		}
		a.LevelCode, a.ReviewAt = lvl.Code, now.Add(st.review())
	}
	a.DueAt = a.ReviewAt
	for _, next := range []struct{ state, col string }{{LotPending, "available_at"}, {LotAvailable, "expires_at"}} {
		var lots []models.LoyaltyLot
		if err := tx.Where("member_id = ? AND state = ? AND "+next.col+" IS NOT NULL", a.MemberID, next.state).
			Order(next.col).Limit(1).Find(&lots).Error; err != nil {
			return err
		}
		for _, l := range lots {
			due(a, l.AvailableAt)
			due(a, l.ExpiresAt)
		}
	}
	return s.saveAccount(ctx, a)
}

// netSpend is a member's cash paid minus refunded over the settings' level window.
func (s *Service) netSpend(ctx context.Context, memberID int64, st Settings) (int64, error) {
	var net int64
	err := s.DB.Conn(ctx).Model(&models.LoyaltyPurchase{}).Select("COALESCE(SUM(paid_fen - refunded_fen), 0)").
		Where("member_id = ? AND paid_at >= ?", memberID, s.Now().Add(-st.window())).Scan(&net).Error
	return net, err
}

// upgrade raises a locked account's level to the highest its net spend reaches under the levels of st,
// never lowering it.
func (s *Service) upgrade(ctx context.Context, a *models.LoyaltyAccount, st Settings) error {
	_, cur := st.level(a.LevelCode)
	if cur == len(st.Levels)-1 {
		return nil // at the top already
	}
	net, err := s.netSpend(ctx, a.MemberID, st)
	if err != nil {
		return err
	}
	if lvl, rank := st.reached(net); rank > cur {
		s.Log.InfoContext(ctx, "loyalty level raised", "member", a.MemberID, "from", a.LevelCode, "to", lvl.Code)
		a.LevelCode = lvl.Code
	}
	return nil
}
