package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Refund states: RefundView.Status is one of these. They are exported so that the console and the API
// name them from this one definition.
const (
	RefundRequested  = "requested"
	RefundProcessing = "processing"
	RefundSucceeded  = "succeeded"
	RefundFailed     = "failed"
	// RefundUnconfirmed is a refund the worker gave up submitting: the provider may or may not have made
	// it, so it still counts against what can be refunded until an operator finds out.
	RefundUnconfirmed = "unconfirmed"
)

// MaxRefundAttempts is how often the worker submits a refund before it gives up and alerts an operator.
const MaxRefundAttempts = 8

// refundQueryAfter is how long a refund the provider accepted waits for its notification before the
// worker asks; the wait doubles with every further query, up to a day.
const refundQueryAfter = 5 * time.Minute

// RefundView is a refund as an operator sees it.
type RefundView struct {
	RefundNo         string `json:"refund_no"`
	OrderNo          string `json:"order_no"`
	Provider         string `json:"provider"`
	ProviderRefundID string `json:"provider_refund_id,omitempty"`
	AmountFen        int64  `json:"amount_fen"`
	Reason           string `json:"reason"`
	Status           string `json:"status"`
	LastError        string `json:"last_error,omitempty"`
	OrderStatus      Status `json:"order_status"`
}

// refundable are the states of a paid order whose money can be given back.
var refundable = map[Status]bool{StatusPaid: true, StatusAccepted: true, StatusReady: true, StatusCompleted: true, StatusDelivered: true}

// RefundOrder gives back amountFen of an order's payment (all that is left when amountFen is 0) through
// the provider it was paid with. Partial refunds leave the order as it is; the refund that brings the
// total refunded to the amount paid moves the order to refunding (then refunded when the provider
// confirms), and an order not yet handed over puts its stock back. Each refund has its own number, is
// submitted at once and, if the provider cannot be reached, retried by the refund worker.
func (s *Service) RefundOrder(ctx context.Context, orderNo string, amountFen int64, reason string) (RefundView, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" {
		reason = "refund by the merchant"
	}
	if utf8.RuneCountInString(reason) > 80 {
		return RefundView{}, domain.Errf(domain.ErrInvalidArgument, "reason must be at most 80 characters")
	}
	if amountFen < 0 {
		return RefundView{}, domain.Errf(domain.ErrInvalidArgument, "amount_fen must be positive (or 0 for everything still refundable)")
	}
	var r models.Refund
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ord, err := s.loadOrder(ctx, orderNo, true)
		if err != nil {
			return err
		}
		if isPlatform(ord) {
			return errPlatformOrder(ord, "refund its buyer")
		}
		r, err = s.startRefund(ctx, ord, amountFen, reason, "admin")
		return err
	})
	if err != nil {
		return RefundView{}, err
	}
	return s.submitNow(ctx, r)
}

// submitNow submits a refund just recorded, so the shopper need not wait for the worker, and returns it.
func (s *Service) submitNow(ctx context.Context, r models.Refund) (RefundView, error) {
	claimed, lease, err := s.claimRefunds(ctx, r.ID, 1)
	if err != nil {
		return RefundView{}, err
	}
	defer lease.Release()
	if len(claimed) == 0 { // another replica's worker took it first: answer what it did
		return s.awaitRefund(ctx, r.RefundNo)
	}
	for _, c := range claimed {
		if err := s.submitRefund(ctx, c); err != nil {
			return RefundView{}, err
		}
	}
	return s.refundView(ctx, r.RefundNo)
}

// refundAwait is how long a refund request waits for another worker that is submitting its refund.
const refundAwait = 10 * time.Second

// awaitRefund waits, up to refundAwait, for the worker that holds a refund to finish its attempt (the
// refund's row is written again) and returns the refund as it then is: submitted, refunded, failed with
// its error, or still requested when that worker is slow.
func (s *Service) awaitRefund(ctx context.Context, refundNo string) (RefundView, error) {
	var start models.Refund
	if err := s.DB.Conn(ctx).Where("refund_no = ?", refundNo).Take(&start).Error; err != nil {
		return RefundView{}, err
	}
	for deadline := time.Now().Add(refundAwait); time.Now().Before(deadline); {
		var cur models.Refund
		if err := s.DB.Conn(ctx).Where("refund_no = ?", refundNo).Take(&cur).Error; err != nil {
			return RefundView{}, err
		}
		if cur.Status != start.Status || !cur.UpdatedAt.Equal(start.UpdatedAt) {
			break
		}
		select {
		case <-ctx.Done():
			return RefundView{}, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s.refundView(ctx, refundNo)
}

// startRefund records, in the caller's transaction, a refund of amountFen (all that is left when 0) of
// a locked order's payment. The refund that brings the total refunded to the amount paid moves the order
// to refunding, withdraws any open offer to a store, and puts the stock back when the goods never left
// the store.
func (s *Service) startRefund(ctx context.Context, ord models.Order, amountFen int64, reason, by string) (models.Refund, error) {
	orderNo := ord.OrderNo
	st := Status(ord.Status)
	if st == StatusRefunding { // a refund the provider rejected may be tried again once none is under way
		open, err := s.openRefunds(ctx, ord.ID)
		if err != nil {
			return models.Refund{}, err
		}
		if open > 0 {
			return models.Refund{}, domain.Errf(domain.ErrConflict, "order %s has a refund under way", orderNo)
		}
	} else if !refundable[st] {
		return models.Refund{}, domain.Errf(domain.ErrConflict, "order %s is %s; only a paid order can be refunded", orderNo, st)
	}
	left, err := s.refundableLeft(ctx, ord)
	if err != nil {
		return models.Refund{}, err
	}
	if amountFen == 0 {
		amountFen = left
	}
	if amountFen > left || left <= 0 {
		return models.Refund{}, domain.Errf(domain.ErrInvalidArgument, "order %s has %d fen left to refund, not %d", orderNo, left, amountFen)
	}
	if amountFen == left && st != StatusRefunding {
		if st == StatusPaid || st == StatusAccepted || st == StatusReady {
			for _, it := range ord.Items { // the goods never left the store
				if _, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, it.Qty, 0, "refund", ord.OrderNo); err != nil {
					return models.Refund{}, err
				}
			}
		}
		if err := s.transition(ctx, ord.ID, st, StatusRefunding, map[string]any{"note": reason, "accept_by": nil}); err != nil {
			return models.Refund{}, err
		}
		if err := s.closeOffer(ctx, ord.ID, OfferWithdrawn, by, reason); err != nil {
			return models.Refund{}, err
		}
		if err := s.voidPickupCode(ctx, ord.ID); err != nil {
			return models.Refund{}, err
		}
	}
	return s.requestRefund(ctx, ord, ord.Provider, ord.ProviderTxn, amountFen, reason)
}

// refundableLeft is what is left to refund of an order's payment: refunds that failed for good do not
// count, every other one does.
func (s *Service) refundableLeft(ctx context.Context, ord models.Order) (int64, error) {
	var refunded int64
	err := s.DB.Conn(ctx).Model(&models.Refund{}).Select("COALESCE(SUM(amount_fen), 0)").
		Where("order_id = ? AND provider_txn = ? AND status <> ?", ord.ID, ord.ProviderTxn, RefundFailed).Scan(&refunded).Error
	return loyalty.BasisFen(ord) - refunded, err
}

// openRefunds counts an order's refunds still under way (requested or processing).
func (s *Service) openRefunds(ctx context.Context, orderID int64) (int64, error) {
	var n int64
	err := s.DB.Conn(ctx).Model(&models.Refund{}).Where("order_id = ? AND status IN ?", orderID, []string{RefundRequested, RefundProcessing}).Count(&n).Error
	return n, err
}

func (s *Service) refundView(ctx context.Context, refundNo string) (RefundView, error) {
	var r models.Refund
	if err := s.DB.Conn(ctx).Where("refund_no = ?", refundNo).Take(&r).Error; err != nil {
		return RefundView{}, err
	}
	var ord models.Order
	if err := s.DB.Conn(ctx).Take(&ord, r.OrderID).Error; err != nil {
		return RefundView{}, err
	}
	return RefundView{RefundNo: r.RefundNo, OrderNo: ord.OrderNo, Provider: r.Provider, ProviderRefundID: r.ProviderRefundID, AmountFen: r.AmountFen,
		Reason: r.Reason, Status: r.Status, LastError: r.LastError, OrderStatus: Status(ord.Status)}, nil
}

// ProcessRefunds works through up to limit due refunds: it submits requested ones to their providers and
// asks about accepted ones whose notification has not come. Each refund is claimed in a short transaction
// with a lease (SKIP LOCKED on PostgreSQL, so replicas share the work), handled outside it, and its result
// recorded; failures are retried with growing delays.
func (s *Service) ProcessRefunds(ctx context.Context, limit int) (int, error) {
	due, lease, err := s.claimRefunds(ctx, 0, limit)
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, r := range due { // one refund's failure does not hold up the others
		if r.Status == RefundProcessing {
			errs = append(errs, s.queryRefund(ctx, r))
		} else {
			errs = append(errs, s.submitRefund(ctx, r))
		}
	}
	return len(due), errors.Join(errs...)
}

// claimRefunds leases due refunds (only refund id when it is not 0): no other worker takes them while the
// lease holds; release it when done.
func (s *Service) claimRefunds(ctx context.Context, id int64, limit int) ([]models.Refund, *domain.Lease, error) {
	return domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB {
		q = q.Where("status IN ?", []string{RefundRequested, RefundProcessing})
		if id != 0 {
			q = q.Where("id = ?", id)
		}
		return q
	}, "next_attempt_at", "attempts", limit, func(r *models.Refund) int64 { r.Attempts++; return r.ID })
}

func (s *Service) refundRequest(ctx context.Context, r models.Refund) (RefundRequest, models.Order, error) {
	var ord models.Order
	if err := s.DB.Conn(ctx).Take(&ord, r.OrderID).Error; err != nil {
		return RefundRequest{}, ord, err
	}
	return RefundRequest{OrderNo: ord.OrderNo, RefundNo: r.RefundNo, TransactionID: r.ProviderTxn, AmountFen: r.AmountFen,
		TotalFen: loyalty.BasisFen(ord), Reason: r.Reason, NotifyURL: s.notifyURL(r.Provider)}, ord, nil
}

func (s *Service) submitRefund(ctx context.Context, r models.Refund) error {
	req, ord, err := s.refundRequest(ctx, r)
	if err != nil {
		return err
	}
	gw := s.gateways[r.Provider].refunder
	var res RefundResult
	if gw == nil {
		err = fmt.Errorf("payment provider %q is not enabled or cannot refund", r.Provider)
	} else {
		res, err = gw.Refund(ctx, req)
	}
	if err != nil {
		return s.RefundFailed(ctx, r, ord, err)
	}
	return s.refundAnswered(ctx, r, res)
}

// queryRefund asks the provider about a refund it accepted whose notification has not come.
func (s *Service) queryRefund(ctx context.Context, r models.Refund) error {
	req, ord, err := s.refundRequest(ctx, r)
	if err != nil {
		return err
	}
	q := s.gateways[r.Provider].querier
	if q == nil { // only the notification can finish it; look again in a day
		return s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, RefundProcessing).
			Update("next_attempt_at", s.Now().Add(24*time.Hour)).Error
	}
	res, err := q.QueryRefund(ctx, req)
	if err != nil {
		s.Log.WarnContext(ctx, "refund query failed", "refund_no", r.RefundNo, "order_no", ord.OrderNo, "err", err)
		return s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, RefundProcessing).
			Updates(map[string]any{"last_error": err.Error(), "next_attempt_at": s.Now().Add(refundQueryDelay(r.Attempts)), "updated_at": s.Now()}).Error
	}
	return s.refundAnswered(ctx, r, res)
}

func refundQueryDelay(attempts int) time.Duration {
	return min(refundQueryAfter<<min(attempts, 10), 24*time.Hour)
}

// RefundFailed records a failed submission; after MaxRefundAttempts the refund is given up and alerted.
func (s *Service) RefundFailed(ctx context.Context, r models.Refund, ord models.Order, err error) error {
	s.Log.WarnContext(ctx, "refund submission failed", "refund_no", r.RefundNo, "order_no", ord.OrderNo, "provider", r.Provider, "attempt", r.Attempts, "err", err)
	set := map[string]any{"last_error": err.Error(), "next_attempt_at": s.Now().Add(time.Duration(r.Attempts*r.Attempts) * time.Minute), "updated_at": s.Now()}
	if r.Attempts >= MaxRefundAttempts {
		set["status"] = RefundUnconfirmed // an attempt that timed out may still have gone through
	}
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		if err := s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, RefundRequested).Updates(set).Error; err != nil {
			return err
		}
		if r.Attempts >= MaxRefundAttempts {
			if err := events.Enqueue(ctx, s.Env, "refund.failed", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "refund_no": r.RefundNo, "amount_fen": r.AmountFen,
				"reason": fmt.Sprintf("gave up after %d attempts", r.Attempts)}); err != nil {
				return err
			}
			return events.Alert(ctx, s.Env, "refund_failed", ord.OrderNo, fmt.Sprintf("refund %s gave up after %d attempts (check with %s whether it was made): %v", r.RefundNo, r.Attempts, r.Provider, err))
		}
		return nil
	})
}

// refundAnswered records what the provider said about a refund.
func (s *Service) refundAnswered(ctx context.Context, r models.Refund, res RefundResult) error {
	switch res.Outcome {
	case RefundAccepted:
		return s.DB.Tx(ctx, func(ctx context.Context) error {
			err := s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status IN ?", r.ID, []string{RefundRequested, RefundProcessing}).
				Updates(map[string]any{"status": RefundProcessing, "provider_refund_id": res.ProviderRefundID, "last_error": res.Detail,
					"next_attempt_at": s.Now().Add(refundQueryDelay(r.Attempts - 1)), "updated_at": s.Now()}).Error
			if err != nil || res.Detail == "" || res.Detail == r.LastError {
				return err
			}
			return events.Alert(ctx, s.Env, "refund_stuck", "", fmt.Sprintf("refund %s: %s", r.RefundNo, res.Detail))
		})
	case RefundMissing:
		return s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status = ?", r.ID, RefundProcessing).
			Updates(map[string]any{"status": RefundRequested, "next_attempt_at": s.Now(), "updated_at": s.Now()}).Error
	case RefundDone, RefundRejected:
		_, err := s.CompleteRefund(ctx, RefundNotice{Provider: r.Provider, RefundNo: r.RefundNo, ProviderRefundID: res.ProviderRefundID,
			AmountFen: r.AmountFen, Succeeded: res.Outcome == RefundDone, Detail: res.Detail})
		return err
	}
	return fmt.Errorf("refund %s: provider gave no outcome", r.RefundNo)
}

// RefundNotice is a provider's verified, normalised final word on a refund.
type RefundNotice struct {
	Provider         string
	RefundNo         string
	ProviderRefundID string
	// AmountFen is the amount the provider says it refunded; 0 when it does not say.
	AmountFen int64
	Succeeded bool
	// Stuck says the provider could not finish the refund and waits for the merchant (WeChat Pay's
	// ABNORMAL: the shopper's card cannot take the money back). It is not final: the refund stays
	// processing, an operator is alerted, and the provider's later word completes it.
	Stuck  bool
	Detail string
}

// RefundNoticeResult says what CompleteRefund did with a notice.
type RefundNoticeResult string

// The outcomes of a refund notice.
const (
	RefundApplied        RefundNoticeResult = "applied"
	RefundDuplicate      RefundNoticeResult = "duplicate"
	RefundUnknown        RefundNoticeResult = "unknown_refund"
	RefundAmountMismatch RefundNoticeResult = "amount_mismatch"
	RefundStuck          RefundNoticeResult = "stuck"
)

// CompleteRefund records a provider's final word on a refund, once however often it comes: a success
// ends the refund and, when it was the last open refund of an order marked for refund, moves the order to
// refunded; a failure alerts an operator. A notice for a refund we never asked for, or for another
// amount or provider, changes nothing and is alerted.
func (s *Service) CompleteRefund(ctx context.Context, n RefundNotice) (RefundNoticeResult, error) {
	text.CleanAll(&n) // verified by its provider: never refused for its text, cleaned before it is stored
	var result RefundNoticeResult
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var r models.Refund
		err := s.DB.Conn(ctx).Where("refund_no = ?", n.RefundNo).Take(&r).Error
		if models.IsNotFound(err) || (err == nil && r.Provider != n.Provider) {
			result = RefundUnknown
			return events.Alert(ctx, s.Env, "refund_unknown", "", fmt.Sprintf("%s reported refund %s (%s, %d fen) that we never asked for", n.Provider, n.RefundNo, n.ProviderRefundID, n.AmountFen))
		}
		if err != nil {
			return err
		}
		// Lock the order first, as ApplyPayment does: two refunds of one order completing at once then
		// take turns, and the second sees the first as done when it counts what is still open.
		var ord models.Order
		if err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Take(&ord, r.OrderID).Error; err != nil {
			return err
		}
		if n.AmountFen != 0 && n.AmountFen != r.AmountFen {
			result = RefundAmountMismatch
			return events.Alert(ctx, s.Env, "refund_amount_mismatch", ord.OrderNo, fmt.Sprintf("%s says refund %s was %d fen; we asked for %d fen", n.Provider, n.RefundNo, n.AmountFen, r.AmountFen))
		}
		if n.Stuck {
			result = RefundStuck
			res := s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status IN ? AND last_error <> ?", r.ID, []string{RefundRequested, RefundProcessing}, n.Detail).
				Updates(map[string]any{"status": RefundProcessing, "last_error": n.Detail, "updated_at": s.Now()})
			if res.Error != nil || res.RowsAffected == 0 {
				return res.Error
			}
			return events.Alert(ctx, s.Env, "refund_stuck", ord.OrderNo, fmt.Sprintf("%s refund %s: %s", n.Provider, n.RefundNo, n.Detail))
		}
		status, from := RefundSucceeded, []string{RefundRequested, RefundProcessing, RefundFailed, RefundUnconfirmed}
		if !n.Succeeded {
			status, from = RefundFailed, []string{RefundRequested, RefundProcessing}
		}
		set := map[string]any{"status": status, "updated_at": s.Now()}
		if !n.Succeeded {
			set["last_error"] = n.Detail
		}
		if n.ProviderRefundID != "" {
			set["provider_refund_id"] = n.ProviderRefundID
		}
		res := s.DB.Conn(ctx).Model(&models.Refund{}).Where("id = ? AND status IN ?", r.ID, from).Updates(set)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			result = RefundDuplicate // already final: a repeated notification changes nothing
			return nil
		}
		if n.Succeeded && (r.Status == RefundFailed || r.Status == RefundUnconfirmed) {
			// Money we had given up on did move: the shopper may now be owed less than a newer refund paid.
			if err := events.Alert(ctx, s.Env, "refund_succeeded_late", ord.OrderNo, fmt.Sprintf("%s refund %s (%d fen), recorded as %s, succeeded after all", n.Provider, n.RefundNo, r.AmountFen, r.Status)); err != nil {
				return err
			}
		}
		result = RefundApplied
		if !n.Succeeded {
			if err := events.Enqueue(ctx, s.Env, "refund.failed", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "refund_no": n.RefundNo, "amount_fen": r.AmountFen, "reason": n.Detail}); err != nil {
				return err
			}
			return events.Alert(ctx, s.Env, "refund_failed", ord.OrderNo, fmt.Sprintf("refund %s failed: %s", n.RefundNo, n.Detail))
		}
		if err := events.Enqueue(ctx, s.Env, "refund.succeeded", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "refund_no": n.RefundNo, "amount_fen": r.AmountFen}); err != nil {
			return err
		}
		if err := s.notifyShopper(ctx, ord, MessageRefunded, r.AmountFen); err != nil {
			return err
		}
		if err := s.loyaltyRefundSucceeded(ctx, ord, r); err != nil {
			return err
		}
		// Failed refunds were alerted and may have been replaced by a new refund; only those still under
		// way keep the order refunding.
		open, err := s.openRefunds(ctx, ord.ID)
		if err != nil {
			return err
		}
		if Status(ord.Status) != StatusRefunding || open > 0 {
			return nil
		}
		err = s.transition(ctx, ord.ID, StatusRefunding, StatusRefunded, nil)
		if errors.Is(err, domain.ErrConflict) {
			return nil
		}
		if err != nil {
			return err
		}
		return events.Enqueue(ctx, s.Env, "order.refunded", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "amount_fen": ord.TotalFen})
	})
	if err != nil {
		return "", err
	}
	s.Log.InfoContext(ctx, "refund notice", "provider", n.Provider, "refund_no", n.RefundNo, "succeeded", n.Succeeded, "result", result)
	return result, nil
}
