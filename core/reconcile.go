package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Payment attempt states.
const (
	attemptOpen      = "open"
	attemptPaid      = "paid"
	attemptClosed    = "closed"
	attemptAbandoned = "abandoned"
)

// maxCheckDelay caps the growing delay between two queries of one payment attempt.
const maxCheckDelay = 10 * time.Minute

// ReconcilePayments checks up to limit due payment attempts with their providers. An unpaid order's
// attempt is queried a while after its prepay, and then at growing intervals, so a payment whose
// notification was lost is still applied; the attempt of an order that expired, was cancelled or was
// paid another way is queried once more (a payment found then goes through ApplyPayment, which refunds
// what cannot be kept) and closed at the provider. Attempts are claimed with a lease (SKIP LOCKED on
// PostgreSQL), so replicas share the work.
func (s *Service) ReconcilePayments(ctx context.Context, limit int) (int, error) {
	due, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", attemptOpen) }, "next_check_at", "checks", limit,
		func(a *models.PaymentAttempt) int64 { a.Checks++; return a.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, att := range due { // one attempt's failure does not hold up the others
		errs = append(errs, s.checkAttempt(ctx, att))
	}
	return len(due), errors.Join(errs...)
}

func (s *Service) checkAttempt(ctx context.Context, att models.PaymentAttempt) error {
	var ord models.Order
	if err := s.DB.Conn(ctx).Take(&ord, att.OrderID).Error; err != nil {
		return err
	}
	pending := Status(ord.Status) == StatusPendingPayment
	checker := s.gateways[att.Provider].checker
	if checker == nil { // nothing to ask: the attempt simply ends with its order's payability
		if pending {
			return s.setAttempt(ctx, att.ID, map[string]any{"next_check_at": nil})
		}
		return s.setAttempt(ctx, att.ID, map[string]any{"status": attemptClosed, "next_check_at": nil})
	}
	st, err := checker.QueryPayment(ctx, ord.OrderNo)
	if err != nil {
		return s.attemptFailed(ctx, att, ord, fmt.Errorf("query: %w", err))
	}
	if st.Paid {
		res, err := s.ApplyPayment(ctx, st.Payment)
		if err != nil {
			return s.attemptFailed(ctx, att, ord, fmt.Errorf("apply queried payment: %w", err))
		}
		s.Log.InfoContext(ctx, "payment found by query", "provider", att.Provider, "order_no", ord.OrderNo, "result", res)
		return s.setAttempt(ctx, att.ID, map[string]any{"status": attemptPaid, "next_check_at": nil, "last_error": ""})
	}
	if pending {
		delay := s.opts.PaymentCheckAfter << min(att.Checks, 8)
		return s.setAttempt(ctx, att.ID, map[string]any{"next_check_at": s.Now().Add(min(delay, maxCheckDelay)), "last_error": ""})
	}
	if !st.Closed {
		if err := checker.ClosePayment(ctx, ord.OrderNo); err != nil {
			return s.attemptFailed(ctx, att, ord, fmt.Errorf("close: %w", err))
		}
		s.Log.InfoContext(ctx, "payment closed at provider", "provider", att.Provider, "order_no", ord.OrderNo, "order_status", ord.Status)
	}
	return s.setAttempt(ctx, att.ID, map[string]any{"status": attemptClosed, "next_check_at": nil, "last_error": ""})
}

// attemptFailed records a failed check and schedules the next; the tenth failure in a row is alerted.
func (s *Service) attemptFailed(ctx context.Context, att models.PaymentAttempt, ord models.Order, err error) error {
	s.Log.WarnContext(ctx, "payment check failed", "provider", att.Provider, "order_no", ord.OrderNo, "checks", att.Checks, "err", err)
	delay := min(time.Duration(att.Checks)*time.Minute, maxCheckDelay)
	if err := s.setAttempt(ctx, att.ID, map[string]any{"next_check_at": s.Now().Add(delay), "last_error": err.Error()}); err != nil {
		return err
	}
	if att.Checks == 10 {
		return events.Alert(ctx, s.Env, "payment_check_failing", ord.OrderNo, fmt.Sprintf("%s: %d checks failed, last: %v", att.Provider, att.Checks, err))
	}
	return nil
}

func (s *Service) setAttempt(ctx context.Context, id int64, set map[string]any) error {
	return s.DB.Conn(ctx).Model(&models.PaymentAttempt{}).Where("id = ? AND status = ?", id, attemptOpen).Updates(set).Error
}

// checkAttemptsNow makes the reconciler look at an order's open attempts at once (except provider's, when
// given): the order has left pending_payment, so their transactions must be closed.
func (s *Service) checkAttemptsNow(ctx context.Context, orderID int64, except string) error {
	return s.DB.Conn(ctx).Model(&models.PaymentAttempt{}).Where("order_id = ? AND status = ? AND provider <> ?", orderID, attemptOpen, except).
		Update("next_check_at", s.Now()).Error
}
