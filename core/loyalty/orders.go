package loyalty

import (
	"context"
	"errors"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// ProviderPoints is the payment provider of an order paid entirely with points.
const ProviderPoints = "points"

// Quote is what loyalty does to an order being placed: the settings version it is placed under, the
// member's level discount and the points it uses with their value.
type Quote struct {
	SettingsID  int64
	DiscountFen int64
	PointsUsed  int64
	PointsFen   int64
}

// CashFen is what is left to pay of an order after its discount and points.
func CashFen(o models.Order) int64 { return o.TotalFen - o.DiscountFen - o.PointsFen }

// BasisFen is what refunds of an order are counted against: its cash, or for an order paid entirely
// with points the value of its points.
func BasisFen(o models.Order) int64 {
	if c := CashFen(o); c > 0 {
		return c
	}
	return o.PointsFen
}

// Quote prices the loyalty side of an order of goodsFen a member is placing and asking to pay points
// of: the settings version it is placed under, the member's level discount, and the points capped by the
// settings' share of the goods and by the per-order maximum (so asking for more than can be used uses
// what can). Hold then caps them by the member's balance, under the account's lock.
func (s *Service) Quote(ctx context.Context, memberID, goodsFen, points int64) (Quote, error) {
	if points < 0 {
		return Quote{}, domain.Errf(domain.ErrInvalidArgument, "points must be 0 or more")
	}
	st, err := s.Settings(ctx)
	if err != nil {
		return Quote{}, err
	}
	q := Quote{SettingsID: st.Version}
	if st.discounts() { // the member's level matters only when some level has a discount
		var a models.LoyaltyAccount
		err = s.DB.Conn(ctx).Where("member_id = ?", memberID).Take(&a).Error
		if models.IsNotFound(err) {
			lvl, _ := st.reached(0)
			a = models.LoyaltyAccount{LevelCode: lvl.Code}
		} else if err != nil {
			return Quote{}, err
		}
		lvl, _ := st.level(a.LevelCode)
		q.DiscountFen = goodsFen * lvl.DiscountPct / 100
	}
	use := min(points, (goodsFen-q.DiscountFen)*st.MaxSharePct/100/st.PointValueFen)
	if st.MaxPointsPerOrder > 0 {
		use = min(use, st.MaxPointsPerOrder)
	}
	q.PointsUsed, q.PointsFen = use, use*st.PointValueFen
	return q, nil
}

// Hold takes the points an order being placed uses (PointsUsed, as Quote capped them) from its member,
// oldest lots first, in the caller's transaction: they stay taken when it is paid and come back when it
// expires or is cancelled unpaid (Release). It first caps them by the member's balance, under the lock
// of the member's account, and writes the order's points and their value again when it lowers them: of
// concurrent orders spending the same points, one takes them and the others get what is left. A member
// who owes points cannot use any (domain.ErrConflict). Holding an order's points again does nothing.
func (s *Service) Hold(ctx context.Context, ord *models.Order) error {
	if ord.MemberID == nil || ord.PointsUsed == 0 {
		return nil
	}
	a, err := s.lockAccount(ctx, *ord.MemberID)
	if err != nil {
		return err
	}
	if a.Debt > 0 {
		return domain.Errf(domain.ErrConflict, "points cannot be used until a debt of %d points is earned back", a.Debt)
	}
	if use := min(ord.PointsUsed, a.Available); use < ord.PointsUsed {
		value := ord.PointsFen / ord.PointsUsed // the settings' point value the order was quoted at
		ord.PointsUsed, ord.PointsFen = use, use*value
		if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ?", ord.ID).
			Updates(map[string]any{"points_used": ord.PointsUsed, "points_fen": ord.PointsFen}).Error; err != nil {
			return err
		}
		if use == 0 {
			return nil
		}
	}
	return s.spend(ctx, a, OrderSource(ord.OrderNo), ord.PointsUsed)
}

// Spend takes points from a member under source (a purchase's source), oldest lots first, in the
// caller's transaction, for the features that spend points outside an order: all of them or none
// (domain.ErrConflict when the member has fewer available, or owes points). Spending under the same
// source again does nothing.
func (s *Service) Spend(ctx context.Context, memberID int64, source string, points int64) error {
	if points <= 0 {
		return domain.Errf(domain.ErrInvalidArgument, "points must be positive")
	}
	a, err := s.lockAccount(ctx, memberID)
	if err != nil {
		return err
	}
	var done int64
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyEntry{}).Where("member_id = ? AND source = ? AND kind = ?", memberID, source, KindSpend).Count(&done).Error; err != nil || done > 0 {
		return err // spent already
	}
	if a.Debt > 0 {
		return domain.Errf(domain.ErrConflict, "points cannot be used until a debt of %d points is earned back", a.Debt)
	}
	if a.Available < points {
		return domain.Errf(domain.ErrConflict, "points: %d asked, only %d available", points, a.Available)
	}
	return s.spend(ctx, a, source, points)
}

// spend takes points the locked account has, once per source.
func (s *Service) spend(ctx context.Context, a *models.LoyaltyAccount, source string, points int64) error {
	if fresh, err := s.post(ctx, a.MemberID, source, KindSpend, -points, "", ""); err != nil || !fresh {
		return err
	}
	if err := s.take(ctx, a, source, points); err != nil {
		return err
	}
	return s.saveAccount(ctx, a)
}

// Release gives back the points an unpaid order held, when it expires or is cancelled, in the caller's
// transaction, with the expiry of the lots they came from. Releasing twice gives back once.
func (s *Service) Release(ctx context.Context, ord models.Order) error {
	if ord.MemberID == nil || ord.PointsUsed == 0 {
		return nil
	}
	a, err := s.lockAccount(ctx, *ord.MemberID)
	if err != nil {
		return err
	}
	src := OrderSource(ord.OrderNo)
	if fresh, err := s.post(ctx, a.MemberID, src, KindRelease, ord.PointsUsed, "order not paid", ""); err != nil || !fresh {
		return err
	}
	st, err := s.orderSettings(ctx, ord)
	if err != nil {
		return err
	}
	if err := s.giveBack(ctx, a, src, src, ord.PointsUsed, st); err != nil {
		return err
	}
	return s.saveAccount(ctx, a)
}

// orderSettings returns the settings an order was placed under (those in force for one without).
func (s *Service) orderSettings(ctx context.Context, ord models.Order) (Settings, error) {
	if ord.LoyaltySettingsID != nil {
		return s.version(ctx, *ord.LoyaltySettingsID, nil)
	}
	v, err := s.Settings(ctx)
	return v.Settings, err
}

// Purchase is a paid purchase that earns points and counts towards its member's level: an order of
// the storefront (Paid records those) or, for the features built on this room, a sale at the till.
type Purchase struct {
	MemberID int64
	// Source names the purchase, unique among all purchases: "order:<no>" (OrderSource) for an order,
	// a prefix of its own (such as "sale:<store>:<no>") for anything else. Points the purchase was paid
	// with must have been spent (Spend) under the same source.
	Source string
	// SettingsID is the settings version the purchase was made under; 0 for the version in force.
	SettingsID int64
	// PaidFen is the cash paid for goods: what earns points and counts towards the level.
	PaidFen int64
	// BasisFen is what its refunds are counted against (PaidFen when 0; the points' value for a purchase
	// paid entirely with points).
	BasisFen int64
	// PointsUsed is how many points paid for it, given back in proportion when it is refunded.
	PointsUsed int64
	PaidAt     time.Time
}

// Paid records, in the caller's (payment) transaction, that a member's order was paid at paidAt, as
// Purchased does (the order's cash for goods earns pending points, the purchase counts towards the
// level at once), and takes again the points of an order paid after it had expired (and given them
// back), as a debt when they are gone. Paying the same order twice records it once. An order without a
// member earns nothing.
func (s *Service) Paid(ctx context.Context, ord models.Order, paidAt time.Time) error {
	if ord.MemberID == nil {
		return nil
	}
	a, err := s.lockAccount(ctx, *ord.MemberID)
	if err != nil {
		return err
	}
	src := OrderSource(ord.OrderNo)
	if ord.PointsUsed > 0 {
		var released int64
		if err := s.DB.Conn(ctx).Model(&models.LoyaltyEntry{}).Where("member_id = ? AND source = ? AND kind = ?", a.MemberID, src, KindRelease).Count(&released).Error; err != nil {
			return err
		}
		if released > 0 {
			late := "late:" + ord.OrderNo
			fresh, err := s.post(ctx, a.MemberID, late, KindSpend, -ord.PointsUsed, "order paid after it expired", "")
			if err != nil {
				return err
			}
			if fresh {
				if err := s.claw(ctx, a, 0, ord.PointsUsed, src); err != nil {
					return err
				}
			}
		}
	}
	p := Purchase{MemberID: a.MemberID, Source: src, PaidFen: max(CashFen(ord), 0), BasisFen: BasisFen(ord), PointsUsed: ord.PointsUsed, PaidAt: paidAt}
	if ord.LoyaltySettingsID != nil {
		p.SettingsID = *ord.LoyaltySettingsID
	}
	return s.purchased(ctx, a, p)
}

// Purchased records a paid purchase in the caller's transaction: its cash for goods earns points (the
// settings' rate times the member's level multiplier, rounded down) as a pending lot that becomes
// available once the purchase is fulfilled (PurchaseFulfilled) plus the hold, and the member rises to
// the level its net spend now reaches. Recording the same source twice records it once.
func (s *Service) Purchased(ctx context.Context, p Purchase) error {
	a, err := s.lockAccount(ctx, p.MemberID)
	if err != nil {
		return err
	}
	return s.purchased(ctx, a, p)
}

func (s *Service) purchased(ctx context.Context, a *models.LoyaltyAccount, in Purchase) error {
	if in.SettingsID == 0 {
		cur, err := s.Settings(ctx)
		if err != nil {
			return err
		}
		in.SettingsID = cur.Version
	}
	st, err := s.version(ctx, in.SettingsID, nil)
	if err != nil {
		return err
	}
	if in.BasisFen == 0 {
		in.BasisFen = in.PaidFen
	}
	mult := int64(100)
	if lvl, rank := st.level(a.LevelCode); rank >= 0 {
		mult = lvl.MultiplierPct
	}
	now := s.Now()
	p := models.LoyaltyPurchase{MemberID: a.MemberID, Source: in.Source, SettingsID: in.SettingsID, PaidFen: max(in.PaidFen, 0), BasisFen: max(in.BasisFen, 0),
		PointsUsed: max(in.PointsUsed, 0), Earned: max(in.PaidFen, 0) * st.EarnPointsPerYuan * mult / 10000, PaidAt: in.PaidAt.UTC(), CreatedAt: now, UpdatedAt: now}
	if p.Earned > 0 {
		// The earn entry is what makes a second call do nothing; the purchase is written with it.
		fresh, err := s.post(ctx, a.MemberID, in.Source, KindEarn, p.Earned, "", "")
		if err != nil || !fresh {
			return errors.Join(err, s.saveAccount(ctx, a))
		}
		lot, err := s.credit(ctx, a, in.Source, LotPending, p.Earned, nil, nil)
		if err != nil {
			return err
		}
		p.LotID = &lot.ID
	}
	res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&p)
	if res.Error != nil || res.RowsAffected == 0 {
		return errors.Join(res.Error, s.saveAccount(ctx, a))
	}
	// The levels of the settings the purchase was made under: no need to read the newest.
	if err := s.upgrade(ctx, a, st); err != nil {
		return err
	}
	return s.saveAccount(ctx, a)
}

// Fulfilled records, in the caller's transaction, that a member's paid order was completed or
// delivered, as PurchaseFulfilled does. An order without a member does nothing.
func (s *Service) Fulfilled(ctx context.Context, ord models.Order) error {
	if ord.MemberID == nil {
		return nil
	}
	return s.PurchaseFulfilled(ctx, *ord.MemberID, OrderSource(ord.OrderNo))
}

// PurchaseFulfilled records, in the caller's transaction, that a purchase (by its source) was handed
// over: the points it earned become available after the hold of the settings it was made under, and
// expire after their expiry days from then. A second call, or one for a purchase not recorded, does
// nothing.
func (s *Service) PurchaseFulfilled(ctx context.Context, memberID int64, source string) error {
	a, err := s.lockAccount(ctx, memberID)
	if err != nil {
		return err
	}
	var p models.LoyaltyPurchase
	err = s.DB.Conn(ctx).Where("source = ?", source).Take(&p).Error
	if models.IsNotFound(err) {
		return nil
	}
	if err != nil || p.FulfilledAt != nil {
		return err
	}
	st, err := s.version(ctx, p.SettingsID, nil)
	if err != nil {
		return err
	}
	now := s.Now()
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyPurchase{}).Where("id = ?", p.ID).Updates(map[string]any{"fulfilled_at": now, "updated_at": now}).Error; err != nil {
		return err
	}
	if p.LotID != nil {
		at, exp := now.Add(st.hold()), now.Add(st.hold()+st.expiry())
		if err := s.DB.Conn(ctx).Model(&models.LoyaltyLot{}).Where("id = ? AND state = ?", *p.LotID, LotPending).
			Updates(map[string]any{"available_at": at, "expires_at": exp}).Error; err != nil {
			return err
		}
		due(a, &at)
		if !at.After(now) {
			return s.settle(ctx, a)
		}
	}
	return s.saveAccount(ctx, a)
}

// Refunded records, in the caller's transaction, that the refunds of a member's paid order have now
// given back refundedFen in all (of BasisFen), as PurchaseRefunded does; refundNo names this refund.
func (s *Service) Refunded(ctx context.Context, ord models.Order, refundNo string, refundedFen int64) error {
	if ord.MemberID == nil {
		return nil
	}
	return s.PurchaseRefunded(ctx, *ord.MemberID, OrderSource(ord.OrderNo), RefundSource(refundNo), refundedFen)
}

// PurchaseRefunded records, in the caller's transaction, that refunds of a purchase (by its source) have
// now given back refundedFen in all, of its BasisFen; refund names this refund (its ledger source, such
// as RefundSource). The points the purchase earned are clawed back and the points it used given back in
// the same proportion of the cumulative refund, rounded down, so partial refunds add up to exactly the
// whole. Clawed-back points come from the purchase's own lot, then the oldest available lots; what the
// balance cannot cover becomes a debt that blocks spending until it is earned back. Each refund is
// applied once; a purchase not recorded does nothing.
func (s *Service) PurchaseRefunded(ctx context.Context, memberID int64, source, refund string, refundedFen int64) error {
	a, err := s.lockAccount(ctx, memberID)
	if err != nil {
		return err
	}
	var p models.LoyaltyPurchase
	err = s.DB.Conn(ctx).Where("source = ?", source).Take(&p).Error
	if models.IsNotFound(err) || (err == nil && p.BasisFen <= 0) {
		return s.saveAccount(ctx, a)
	}
	if err != nil {
		return err
	}
	cum := min(max(refundedFen, 0), p.BasisFen)
	clawTo := p.Earned * cum / p.BasisFen
	returnTo := p.PointsUsed * cum / p.BasisFen
	note := "refund of " + source
	if d := clawTo - p.Clawed; d > 0 {
		fresh, err := s.post(ctx, a.MemberID, refund, KindClawback, -d, note, "")
		if err != nil {
			return err
		}
		if fresh {
			lot := int64(0)
			if p.LotID != nil {
				lot = *p.LotID
			}
			if err := s.claw(ctx, a, lot, d, ""); err != nil {
				return err
			}
			p.Clawed = clawTo
		}
	}
	if d := returnTo - p.Returned; d > 0 {
		fresh, err := s.post(ctx, a.MemberID, refund, KindRelease, d, note, "")
		if err != nil {
			return err
		}
		if fresh {
			st, err := s.version(ctx, p.SettingsID, nil)
			if err != nil {
				return err
			}
			if err := s.giveBack(ctx, a, source, refund, d, st); err != nil {
				return err
			}
			p.Returned = returnTo
		}
	}
	refunded := p.PaidFen * cum / p.BasisFen
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyPurchase{}).Where("id = ?", p.ID).
		Updates(map[string]any{"clawed": p.Clawed, "returned": p.Returned, "refunded_fen": refunded, "updated_at": s.Now()}).Error; err != nil {
		return err
	}
	return s.saveAccount(ctx, a)
}
