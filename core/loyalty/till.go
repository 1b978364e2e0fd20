package loyalty

import (
	"context"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/models"
)

// This file holds what the till (member codes and sales at a store's till, in core) needs of the
// loyalty room beyond the Purchase API: the source a till sale is recorded under, a member's card by id,
// and the points a purchase earned and gave back.

// SaleSource is the source of a till sale in the ledger and purchases: "sale:<store code>:<sale no>".
func SaleSource(store, saleNo string) string { return "sale:" + store + ":" + saleNo }

// SaleReturnSource is the source of a return against a till sale in the ledger.
func SaleReturnSource(store, saleNo, returnNo string) string {
	return "salereturn:" + store + ":" + saleNo + ":" + returnNo
}

// Member returns a member's card as a clerk may see it: the phone masked, the name, level and points.
func (s *Service) Member(ctx context.Context, memberID int64) (MemberView, error) {
	var m models.Member
	err := s.DB.Conn(ctx).Take(&m, memberID).Error
	if models.IsNotFound(err) {
		return MemberView{}, domain.Errf(domain.ErrNotFound, "member %d not found", memberID)
	}
	if err != nil {
		return MemberView{}, err
	}
	v := MemberView{MemberID: m.ID, DisplayName: m.DisplayName}
	if m.Phone != nil {
		v.Phone = member.MaskPhone(*m.Phone)
	}
	v.Summary, err = s.Summary(ctx, m.ID)
	return v, err
}

// PurchasePoints is what a purchase did to its member's points: Earned when it was made, Clawed back by
// its refunds or returns since.
type PurchasePoints struct {
	Earned int64 `json:"earned"`
	Clawed int64 `json:"clawed"`
}

// PurchasePointsOf returns the points of the purchase recorded under source; zero when none is.
func (s *Service) PurchasePointsOf(ctx context.Context, source string) (PurchasePoints, error) {
	var p models.LoyaltyPurchase
	err := s.DB.Conn(ctx).Where("source = ?", source).Take(&p).Error
	if models.IsNotFound(err) {
		return PurchasePoints{}, nil
	}
	return PurchasePoints{Earned: p.Earned, Clawed: p.Clawed}, err
}
