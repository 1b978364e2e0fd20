package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
)

// This file joins the order flow to the loyalty room: each step of an order calls loyalty once, in the
// step's transaction (placed: Quote and Hold; completed or delivered: Fulfilled; refunded: Refunded;
// expired or cancelled unpaid: Release), and a member merge moves the member's points. A payment only
// marks its order loyalty_due in the update that marks it paid: the points, level and referral rebates
// it earns are recorded just after it commits (loyaltyPaid), so a payment notification costs no more
// statements for a member than for anyone else.

// wireLoyalty registers what the loyalty room needs of the rest of core: merges of members, and the
// "points" provider that refunds orders paid entirely with points.
func (s *Service) wireLoyalty() {
	s.Members.OnMerge(s.Loyalty.Merge)
	s.RegisterGateway(pointsGateway{})
}

// pointsGateway is the provider of orders paid entirely with points: nothing to prepay, and a refund is
// done at once (the points come back through CompleteRefund, as any refund's do).
type pointsGateway struct{}

var _ Refunder = pointsGateway{}

// Provider names the points provider.
func (pointsGateway) Provider() string { return loyalty.ProviderPoints }

// Prepay refuses: an order paid with points is paid when it is placed.
func (pointsGateway) Prepay(context.Context, PrepayRequest) (PrepayResult, error) {
	return PrepayResult{}, domain.Errf(domain.ErrInvalidArgument, "points are not a payment provider; use points when placing the order")
}

// Refund completes a refund of an order paid with points at once.
func (pointsGateway) Refund(_ context.Context, r RefundRequest) (RefundResult, error) {
	return RefundResult{Outcome: RefundDone, ProviderRefundID: r.RefundNo}, nil
}

// loyaltyPaid records what the payment of a paid order marked loyalty_due means to its member (points
// earned, the level reached, rebates of the referrers fixed on it) and clears the mark, in the caller's
// transaction, which holds the order's row lock. Whichever comes first does it, once: the loyalty worker
// (RecordLoyaltyDue, woken by the payment), a later step of the order (fulfilled, refunded), or a read
// of the member's points (recordMemberLoyalty). It then catches up with the steps ord has passed since
// (handed over or delivered, refunds that succeeded), so the member ends where recording at once would
// have left them whatever recorded the steps (each step applies once).
func (s *Service) loyaltyPaid(ctx context.Context, ord models.Order) error {
	if !ord.LoyaltyDue {
		return nil
	}
	paidAt := s.Now()
	if ord.PaidAt != nil {
		paidAt = *ord.PaidAt
	}
	if err := s.Loyalty.Paid(ctx, ord, paidAt); err != nil {
		return err
	}
	if err := s.Referral.Paid(ctx, ord, paidAt); err != nil {
		return err
	}
	if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ?", ord.ID).Update("loyalty_due", false).Error; err != nil {
		return err
	}
	if st := Status(ord.Status); st == StatusCompleted || st == StatusDelivered {
		if err := s.Loyalty.Fulfilled(ctx, ord); err != nil {
			return err
		}
		if err := s.Referral.Fulfilled(ctx, ord); err != nil {
			return err
		}
	}
	var last models.Refund
	err := s.DB.Conn(ctx).Where("order_id = ? AND provider_txn = ? AND status = ?", ord.ID, ord.ProviderTxn, RefundSucceeded).
		Order("id DESC").Take(&last).Error
	if models.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.loyaltyRefunded(ctx, ord, last); err != nil {
		return err
	}
	return s.referralRefunded(ctx, ord, last)
}

// RecordLoyaltyDue records the points, level and rebates of up to n paid orders still marked
// loyalty_due, oldest first, each in a transaction of its own that takes the order with SKIP LOCKED and
// then its member's accounts (the lock order of every order step), so several replicas share the work.
// An order that fails is alerted and left for the next run, after the others. It returns how many it
// recorded, and the failures.
func (s *Service) RecordLoyaltyDue(ctx context.Context, n int) (int, error) {
	done := 0
	var failed []int64
	var errs error
	for done < n {
		var ord models.Order
		err := s.DB.Tx(ctx, func(ctx context.Context) error {
			ord = models.Order{}
			q := s.DB.Conn(ctx).Clauses(models.ForUpdateSkipLocked()).Where("loyalty_due")
			if len(failed) > 0 {
				q = q.Where("id NOT IN ?", failed)
			}
			err := q.Order("id").Take(&ord).Error
			if models.IsNotFound(err) {
				return nil
			}
			if err != nil {
				return err
			}
			return s.loyaltyPaid(ctx, ord)
		})
		switch {
		case err != nil && ord.ID == 0:
			return done, errors.Join(errs, err)
		case err != nil:
			failed = append(failed, ord.ID)
			errs = errors.Join(errs, fmt.Errorf("order %s: %w", ord.OrderNo, err))
			if ctx.Err() == nil {
				if aerr := s.DB.Tx(ctx, func(ctx context.Context) error {
					return events.Alert(ctx, s.Env, "loyalty_record_failed", ord.OrderNo,
						"what the payment earned its member could not be recorded; it is tried again every interval: "+err.Error())
				}); aerr != nil {
					errs = errors.Join(errs, aerr)
				}
			}
		case ord.ID == 0:
			return done, errs
		default:
			done++
		}
	}
	return done, errs
}

// recordMemberLoyalty records, before a member's points are shown, what their paid orders still marked
// loyalty_due earned, so that a member always sees every payment of theirs (orders another transaction
// holds are left to it). It reports whether it recorded any. A failure is logged, not returned: the
// points are shown as recorded so far, and the worker tries the order again and alerts.
func (s *Service) recordMemberLoyalty(ctx context.Context, memberID int64) bool {
	var due int64
	if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("member_id = ? AND loyalty_due", memberID).Count(&due).Error; err != nil || due == 0 {
		return false
	}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var ords []models.Order
		if err := s.DB.Conn(ctx).Clauses(models.ForUpdateSkipLocked()).Where("member_id = ? AND loyalty_due", memberID).Order("id").Find(&ords).Error; err != nil {
			return err
		}
		for _, ord := range ords {
			if err := s.loyaltyPaid(ctx, ord); err != nil {
				return fmt.Errorf("order %s: %w", ord.OrderNo, err)
			}
		}
		return nil
	})
	if err != nil {
		s.Log.ErrorContext(ctx, "recording a member's payments before showing their points failed", "member", memberID, "err", err)
	}
	return err == nil
}

// wakeLoyalty tells this replica's loyalty worker that a paid order may be due, without waiting.
func (s *Service) wakeLoyalty() {
	select {
	case s.loyaltyWake <- struct{}{}:
	default:
	}
}

// loyaltyFulfilled tells loyalty and referral, in the step's transaction, that a paid order was
// completed or delivered: its points start their hold and its rebates theirs.
func (s *Service) loyaltyFulfilled(ctx context.Context, ord models.Order) error {
	if err := s.loyaltyPaid(ctx, ord); err != nil {
		return err
	}
	if err := s.Loyalty.Fulfilled(ctx, ord); err != nil {
		return err
	}
	return s.Referral.Fulfilled(ctx, ord)
}

// loyaltyRefundSucceeded tells loyalty and referral, in CompleteRefund's transaction, that refund r of
// an order succeeded. When what the order's payment earned is still to be recorded, recording it
// catches up with r too.
func (s *Service) loyaltyRefundSucceeded(ctx context.Context, ord models.Order, r models.Refund) error {
	if ord.LoyaltyDue {
		return s.loyaltyPaid(ctx, ord)
	}
	if err := s.loyaltyRefunded(ctx, ord, r); err != nil {
		return err
	}
	return s.referralRefunded(ctx, ord, r)
}

// cashFen is what is left to pay of an order after its level discount and points.
func cashFen(ord models.Order) int64 { return loyalty.CashFen(ord) }

// payWithPoints pays, in placeAt's transaction, an order whose points cover all of it: the stock it
// reserved is committed and it is paid as a provider's payment would pay it (offered to its store, the
// order.paid event), through the "points" provider.
func (s *Service) payWithPoints(ctx context.Context, ord *models.Order, st models.Store) error {
	for _, it := range ord.Items {
		ok, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, -it.Qty, -it.Qty, "sale", ord.OrderNo)
		if err != nil {
			return err
		}
		if !ok {
			return domain.Errf(domain.ErrConflict, "order %s: reservation of %s is missing", ord.OrderNo, it.SKU)
		}
	}
	n := PaymentNotification{Provider: loyalty.ProviderPoints, TransactionID: ord.OrderNo, OrderNo: ord.OrderNo, PaidAt: s.Now()}
	if err := s.pay(ctx, *ord, st, StatusPendingPayment, s.paidRow(*ord, st, n), n); err != nil {
		return err
	}
	now := n.PaidAt
	ord.Status, ord.PaidAt, ord.Provider, ord.ProviderTxn = string(StatusPaid), &now, n.Provider, n.TransactionID
	return nil
}

// refundedSoFar is what succeeded refunds of an order's payment have given back.
func (s *Service) refundedSoFar(ctx context.Context, ord models.Order) (int64, error) {
	var sum int64
	err := s.DB.Conn(ctx).Model(&models.Refund{}).Select("COALESCE(SUM(amount_fen), 0)").
		Where("order_id = ? AND provider_txn = ? AND status = ?", ord.ID, ord.ProviderTxn, RefundSucceeded).Scan(&sum).Error
	return sum, err
}

// loyaltyPlaced takes the points an order being placed uses, in placeAt's transaction after its stock is
// reserved, and pays at once an order they cover entirely.
func (s *Service) loyaltyPlaced(ctx context.Context, ord *models.Order, st models.Store) error {
	if err := s.Loyalty.Hold(ctx, ord); err != nil {
		return err
	}
	if ord.PointsUsed > 0 && cashFen(*ord) == 0 {
		return s.payWithPoints(ctx, ord, st)
	}
	return nil
}

// loyaltyRefunded tells loyalty, in CompleteRefund's transaction, that refund r of an order succeeded,
// with what the order's refunds have now given back in all.
func (s *Service) loyaltyRefunded(ctx context.Context, ord models.Order, r models.Refund) error {
	if ord.MemberID == nil || r.ProviderTxn != ord.ProviderTxn {
		return nil // a platform order, or the refund of a second payment the order never kept
	}
	sum, err := s.refundedSoFar(ctx, ord)
	if err != nil {
		return err
	}
	return s.Loyalty.Refunded(ctx, ord, r.RefundNo, sum)
}

// MeView is a member as they see themselves, with their level and points.
type MeView struct {
	member.View
	Level    loyalty.LevelView `json:"level"`
	Points   loyalty.Points    `json:"points"`
	Referral MeReferral        `json:"referral"`
}

// MeReferral is the referral side of a member as /me shows it: their code and share path, how many
// members they referred and their rebates (GET /api/v1/me/referral has the ledger).
type MeReferral struct {
	Code      string           `json:"code"`
	SharePath string           `json:"share_path"`
	Referred  int64            `json:"referred"`
	Rebates   referral.Rebates `json:"rebates"`
}

// Me returns the signed-in member with their level, points and referral figures.
func (s *Service) Me(ctx context.Context, memberID int64) (MeView, error) {
	v, err := s.Members.Member(ctx, memberID)
	if err != nil {
		return MeView{}, err
	}
	s.recordMemberLoyalty(ctx, v.ID)
	sum, err := s.Loyalty.Summary(ctx, memberID)
	if err != nil {
		return MeView{}, err
	}
	ref, err := s.Referral.Brief(ctx, v.ID)
	return MeView{View: v, Level: sum.Level, Points: sum.Points,
		Referral: MeReferral{Code: ref.Code, SharePath: ref.SharePath, Referred: ref.Referred, Rebates: ref.Rebates}}, err
}

// MyPoints returns a page of a member's points ledger (loyalty.Service.Ledger), with every payment of
// theirs recorded first.
func (s *Service) MyPoints(ctx context.Context, memberID, before int64, limit int) (loyalty.LedgerPage, error) {
	s.recordMemberLoyalty(ctx, memberID)
	return s.Loyalty.Ledger(ctx, memberID, before, limit)
}

// loyaltyAdmin checks that an actor is a signed-in admin staff account: the shared admin token acts for
// no one and may not look members up or change their points.
func loyaltyAdmin(a staff.Actor) error {
	if a.Username == "" {
		return domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	if !a.IsAdmin() || a.Username == staff.AdminTokenActor.Username {
		return domain.Errf(domain.ErrForbidden, "only a signed-in admin staff account may look members up or adjust points")
	}
	return nil
}

// LookupMember finds the member who holds a phone number, with their level and points, for a signed-in
// admin; the phone is masked in the answer.
func (s *Service) LookupMember(ctx context.Context, a staff.Actor, phone string) (loyalty.MemberView, error) {
	if err := loyaltyAdmin(a); err != nil {
		return loyalty.MemberView{}, err
	}
	v, err := s.Loyalty.Lookup(ctx, phone)
	if err != nil {
		return v, err
	}
	if !s.recordMemberLoyalty(ctx, v.MemberID) {
		return v, nil
	}
	return s.Loyalty.Lookup(ctx, phone) // again, with the payments just recorded
}

// AdjustPoints changes a member's points by hand for a signed-in admin, recorded in the ledger with who
// and why.
func (s *Service) AdjustPoints(ctx context.Context, a staff.Actor, memberID int64, in loyalty.Adjustment) (loyalty.Entry, error) {
	if err := loyaltyAdmin(a); err != nil {
		return loyalty.Entry{}, err
	}
	return s.Loyalty.Adjust(ctx, memberID, in, a.Username)
}
