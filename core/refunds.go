package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/models"
)

// Refund states.
const (
	refundRequested  = "requested"
	refundProcessing = "processing"
	refundSucceeded  = "succeeded"
	refundFailed     = "failed"
)

// MaxRefundAttempts is how often the worker submits a refund before it gives up and alerts an operator.
const MaxRefundAttempts = 8

// Refunder is a payment gateway that can send money back. Submit must be idempotent on RefundNo: the
// worker may submit the same refund again after a crash or a timeout.
type Refunder interface {
	Refund(ctx context.Context, req RefundRequest) (RefundOutcome, error)
}

// RefundRequest is one refund as a provider needs it.
type RefundRequest struct {
	OrderNo       string
	RefundNo      string
	TransactionID string
	AmountFen     int64
	TotalFen      int64
	Reason        string
	NotifyURL     string
}

// RefundOutcome is a provider's answer to a refund: done at once, or accepted with its result to follow
// by notification (passed to CompleteRefund).
type RefundOutcome string

// The refund outcomes a provider can give.
const (
	RefundDone     RefundOutcome = "done"
	RefundAccepted RefundOutcome = "accepted"
)

// ProcessRefunds submits up to limit due refunds to their providers. Each refund is claimed in a short
// transaction (SKIP LOCKED on PostgreSQL, so replicas share the work), submitted outside it, and its
// result recorded; failures are retried with growing delays.
func (s *Service) ProcessRefunds(ctx context.Context, limit int) (int, error) {
	var due []models.Refund
	err := s.db.Tx(ctx, func(ctx context.Context) error {
		now := s.now()
		err := s.db.Conn(ctx).Clauses(models.ForUpdateSkipLocked()).
			Where("status = ? AND next_attempt_at <= ?", refundRequested, now).Order("next_attempt_at").Limit(limit).Find(&due).Error
		if err != nil {
			return err
		}
		for _, r := range due {
			// Claim it: no other worker takes it again until this lease runs out.
			err := s.db.Conn(ctx).Model(&models.Refund{}).Where("id = ?", r.ID).
				Updates(map[string]any{"next_attempt_at": now.Add(5 * time.Minute), "attempts": r.Attempts + 1, "updated_at": now}).Error
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, r := range due {
		if err := s.submitRefund(ctx, r); err != nil {
			return 0, err
		}
	}
	return len(due), nil
}

func (s *Service) submitRefund(ctx context.Context, r models.Refund) error {
	var ord models.Order
	if err := s.db.Conn(ctx).Take(&ord, r.OrderID).Error; err != nil {
		return err
	}
	gw, ok := s.gateways[r.Provider].(Refunder)
	var outcome RefundOutcome
	var err error
	if !ok {
		err = fmt.Errorf("payment provider %q is not enabled or cannot refund", r.Provider)
	} else {
		outcome, err = gw.Refund(ctx, RefundRequest{OrderNo: ord.OrderNo, RefundNo: r.RefundNo, TransactionID: r.ProviderTxn, AmountFen: r.AmountFen,
			TotalFen: ord.TotalFen, Reason: r.Reason, NotifyURL: s.notifyURL(r.Provider)})
	}
	if err != nil {
		attempts := r.Attempts + 1
		set := map[string]any{"last_error": err.Error(), "next_attempt_at": s.now().Add(time.Duration(attempts*attempts) * time.Minute), "updated_at": s.now()}
		if attempts >= MaxRefundAttempts {
			set["status"] = refundFailed
		}
		return s.db.Tx(ctx, func(ctx context.Context) error {
			if err := s.db.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, refundRequested).Updates(set).Error; err != nil {
				return err
			}
			if attempts >= MaxRefundAttempts {
				return s.alert(ctx, "refund_failed", ord.OrderNo, fmt.Sprintf("refund %s gave up after %d attempts: %v", r.RefundNo, attempts, err))
			}
			return nil
		})
	}
	if outcome == RefundAccepted {
		return s.db.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, refundRequested).
			Updates(map[string]any{"status": refundProcessing, "updated_at": s.now()}).Error
	}
	return s.CompleteRefund(ctx, r.RefundNo, true, "")
}

// CompleteRefund records a provider's final word on a refund, once: a success ends the refund and, when
// it was the last open refund of an order marked for refund, moves the order to refunded; a failure
// alerts an operator.
func (s *Service) CompleteRefund(ctx context.Context, refundNo string, succeeded bool, detail string) error {
	return s.db.Tx(ctx, func(ctx context.Context) error {
		var r models.Refund
		err := s.db.Conn(ctx).Where("refund_no = ?", refundNo).Take(&r).Error
		if models.IsNotFound(err) {
			return errf(ErrNotFound, "refund %s not found", refundNo)
		}
		if err != nil {
			return err
		}
		// Lock the order first, as ApplyPayment does: two refunds of one order completing at once then
		// take turns, and the second sees the first as done when it counts what is still open.
		var ord models.Order
		if err := s.db.Conn(ctx).Clauses(models.ForUpdate()).Take(&ord, r.OrderID).Error; err != nil {
			return err
		}
		status := refundSucceeded
		if !succeeded {
			status = refundFailed
		}
		res := s.db.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status IN ?", r.ID, []string{refundRequested, refundProcessing}).
			Updates(map[string]any{"status": status, "last_error": detail, "updated_at": s.now()})
		if res.Error != nil || res.RowsAffected == 0 {
			return res.Error // already final: a repeated notification changes nothing
		}
		if !succeeded {
			return s.alert(ctx, "refund_failed", ord.OrderNo, fmt.Sprintf("refund %s failed: %s", refundNo, detail))
		}
		if err := s.enqueueEvent(ctx, "refund.succeeded", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "refund_no": refundNo, "amount_fen": r.AmountFen}); err != nil {
			return err
		}
		var open int64
		if err := s.db.Conn(ctx).Model(&models.Refund{}).Where("order_id = ? AND status <> ?", ord.ID, refundSucceeded).Count(&open).Error; err != nil {
			return err
		}
		if Status(ord.Status) != StatusRefunding || open > 0 {
			return nil
		}
		err = s.transition(ctx, ord.ID, StatusRefunding, StatusRefunded, nil)
		if errors.Is(err, ErrConflict) {
			return nil
		}
		return err
	})
}

// RunRefunds submits due refunds every interval until ctx ends.
func (s *Service) RunRefunds(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := s.ProcessRefunds(ctx, 50); err != nil && ctx.Err() == nil {
			s.log.ErrorContext(ctx, "refund sweep failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
