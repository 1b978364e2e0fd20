package core

import (
	"context"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
)

// This file joins the order flow to the referral room: the referrers are fixed on an order when it is
// placed (placeAt), and its rebates follow it when it is paid (pay), fulfilled (pickedUp, Deliver) and
// refunded (CompleteRefund), each in the step's transaction; a member merge merges the referral sides.
// An order without a referrer (ReferrerID nil) costs none of these steps a statement.

// referralRefunded tells the referral room, in CompleteRefund's transaction, that refund r of an order
// with referrers succeeded, with what the order's refunds have now given back in all.
func (s *Service) referralRefunded(ctx context.Context, ord models.Order, r models.Refund) error {
	if ord.ReferrerID == nil || r.ProviderTxn != ord.ProviderTxn {
		return nil
	}
	sum, err := s.refundedSoFar(ctx, ord)
	if err != nil {
		return err
	}
	return s.Referral.Refunded(ctx, ord, r.RefundNo, sum)
}

// referralAdmin checks that an actor is a signed-in admin staff account: the shared admin token acts
// for no one and may not pay rebates out.
func referralAdmin(a staff.Actor) error {
	if a.Username == "" {
		return domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	if !a.IsAdmin() || a.Username == staff.AdminTokenActor.Username {
		return domain.Errf(domain.ErrForbidden, "only a signed-in admin staff account may see a member's rebates or record a payout")
	}
	return nil
}

// PayoutRebates records, for a signed-in admin, that a referrer's available rebates were paid out,
// with who and why.
func (s *Service) PayoutRebates(ctx context.Context, a staff.Actor, in referral.Payout) (referral.Entry, error) {
	if err := referralAdmin(a); err != nil {
		return referral.Entry{}, err
	}
	return s.Referral.Payout(ctx, in, a.Username)
}

// MemberReferral returns a member's referral side (code, rebates, latest ledger entries) for a
// signed-in admin.
func (s *Service) MemberReferral(ctx context.Context, a staff.Actor, memberID int64) (referral.View, error) {
	if err := referralAdmin(a); err != nil {
		return referral.View{}, err
	}
	if _, err := s.Members.Member(ctx, memberID); err != nil {
		return referral.View{}, err
	}
	return s.Referral.View(ctx, memberID)
}
