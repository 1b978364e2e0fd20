package market

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// The calls the hub owes a platform about one of its orders.
const (
	CallConfirm  = "confirm"
	CallReject   = "reject"
	CallPrepared = "prepared"
)

// Call states.
const (
	callPending = "pending"
	callDone    = "done"
	callFailed  = "failed"
)

// MaxCallAttempts is how often the outbox tries a call before it gives up and alerts.
const MaxCallAttempts = 8

// Call is one call owed to a platform about one of its orders.
type Call struct {
	Kind            string
	Platform        string
	ShopID          string
	OrderNo         string
	PlatformOrderID string
	DeliveryMode    string
	// Reason and SoldOut go with a reject.
	Reason  string
	SoldOut bool
}

type callPayload struct {
	DeliveryMode string `json:"delivery_mode,omitempty"`
	Reason       string `json:"reason,omitempty"`
	SoldOut      bool   `json:"sold_out,omitempty"`
}

// EnqueueCall writes a call in the caller's transaction; the outbox worker makes it.
func (s *Service) EnqueueCall(ctx context.Context, c Call) error {
	b, err := json.Marshal(callPayload{DeliveryMode: c.DeliveryMode, Reason: c.Reason, SoldOut: c.SoldOut})
	if err != nil {
		return err
	}
	now := s.Now()
	return s.DB.Conn(ctx).Create(&models.MarketCall{Platform: c.Platform, ShopID: c.ShopID, OrderNo: c.OrderNo, PlatformOrderID: c.PlatformOrderID,
		Kind: c.Kind, Payload: string(b), Status: callPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}).Error
}

// CallRefused is told when a platform refuses a call for good or the outbox gives up on it, so that the
// order shows it to the store.
type CallRefused func(ctx context.Context, orderNo, why string) error

// ProcessCalls makes the calls due, each claimed with a lease so replicas share the outbox: done when
// the platform acknowledges; retried with growing delays (or after a rate limit's wait) otherwise; a call
// the platform refuses, or the last failed attempt, is failed, alerted and shown to the store through
// refused. A credential the platform refuses is alerted at once.
func (s *Service) ProcessCalls(ctx context.Context, limit int, refused CallRefused) (int, error) {
	calls, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", callPending) },
		"next_attempt_at", "attempts", limit, func(c *models.MarketCall) int64 { c.Attempts++; return c.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, c := range calls {
		if err := s.makeCall(ctx, c, refused); err != nil {
			errs = append(errs, err)
		}
	}
	return len(calls), errors.Join(errs...)
}

func (s *Service) makeCall(ctx context.Context, c models.MarketCall, refused CallRefused) error {
	conn, ok := s.conns[c.Platform]
	if !ok {
		return nil // the platform is off here; the lease runs out and a process that has it makes the call
	}
	var p callPayload
	_ = json.Unmarshal([]byte(c.Payload), &p)
	ref := OrderRef{ShopID: c.ShopID, OrderID: c.PlatformOrderID, DeliveryMode: p.DeliveryMode}
	var err error
	switch c.Kind {
	case CallConfirm:
		err = conn.Confirm(ctx, ref)
	case CallReject:
		err = conn.Reject(ctx, ref, p.Reason, p.SoldOut)
	case CallPrepared:
		err = conn.Prepared(ctx, ref)
	default:
		err = &CallError{Kind: ErrRefused, Msg: "unknown call " + c.Kind}
	}
	set := map[string]any{"updated_at": s.Now()}
	var ce *CallError
	errors.As(err, &ce)
	switch {
	case err == nil:
		set["status"], set["last_error"] = callDone, ""
		s.Log.InfoContext(ctx, "platform call made", "platform", c.Platform, "call", c.Kind, "order_no", c.OrderNo)
	case errors.Is(err, ErrRefused) || c.Attempts >= MaxCallAttempts:
		set["status"], set["last_error"] = callFailed, err.Error()
		why := fmt.Sprintf("%s refused %s: %v", c.Platform, c.Kind, err)
		if !errors.Is(err, ErrRefused) {
			why = fmt.Sprintf("%s %s failed after %d attempts: %v", c.Platform, c.Kind, c.Attempts, err)
		}
		if aerr := events.Alert(ctx, s.Env, "platform_call_failed", c.OrderNo, why); aerr != nil {
			return aerr
		}
		if refused != nil {
			if rerr := refused(ctx, c.OrderNo, why); rerr != nil {
				return rerr
			}
		}
	default:
		wait := time.Duration(1<<min(c.Attempts, 8)) * 5 * time.Second
		if ce != nil && ce.RetryAfter > 0 {
			wait = ce.RetryAfter
		}
		set["next_attempt_at"], set["last_error"] = s.Now().Add(wait), err.Error()
		if errors.Is(err, ErrAuth) {
			if aerr := events.Alert(ctx, s.Env, "platform_auth", c.OrderNo, fmt.Sprintf("%s refused our credentials on %s: %v", c.Platform, c.Kind, err)); aerr != nil {
				return aerr
			}
		}
		s.Log.WarnContext(ctx, "platform call failed; will retry", "platform", c.Platform, "call", c.Kind, "order_no", c.OrderNo, "err", err)
	}
	return s.DB.Conn(ctx).Model(&models.MarketCall{}).Where("id = ?", c.ID).Updates(set).Error
}

// CallView is one call to a platform as the store sees it.
type CallView struct {
	Kind      string    `json:"kind"`
	Status    string    `json:"status"`
	Attempts  int64     `json:"attempts"`
	LastError string    `json:"last_error,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// Calls lists the calls made or owed about an order.
func (s *Service) Calls(ctx context.Context, orderNo string) ([]CallView, error) {
	var rows []models.MarketCall
	if err := s.DB.Conn(ctx).Where("order_no = ?", orderNo).Order("id").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]CallView, len(rows))
	for i, r := range rows {
		out[i] = CallView{Kind: r.Kind, Status: r.Status, Attempts: r.Attempts, LastError: r.LastError, CreatedAt: r.CreatedAt.UTC()}
	}
	return out, nil
}
