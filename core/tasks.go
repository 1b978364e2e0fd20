package core

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

// Task kinds and states.
const (
	taskMessage  = "message"
	taskShipping = "shipping"

	taskPending  = "pending"
	taskDone     = "done"
	taskRejected = "rejected"
	taskFailed   = "failed"
)

// MaxTaskAttempts is how often the task worker tries a channel task before it gives up and alerts.
const MaxTaskAttempts = 10

// RegisterMessenger lets core message shoppers through m's channel.
func (s *Service) RegisterMessenger(m Messenger) { s.messengers[m.Channel()] = m }

// RegisterShippingReporter lets core report shipments of orders paid through r's provider.
func (s *Service) RegisterShippingReporter(r ShippingReporter) { s.shipping[r.Provider()] = r }

type messageTask struct {
	Kind      MessageKind `json:"kind"`
	AmountFen int64       `json:"amount_fen"`
	At        time.Time   `json:"at"`
}

type shippingTask struct {
	Pickup  bool      `json:"pickup"`
	Courier Courier   `json:"courier"`
	At      time.Time `json:"at"`
}

// notifyShopper queues a message about an order for every channel the shopper can be reached on, in the
// caller's transaction.
func (s *Service) notifyShopper(ctx context.Context, ord models.Order, kind MessageKind, amountFen int64) error {
	if len(s.messengers) == 0 || ord.MemberID == nil {
		return nil
	}
	ids, err := s.identities(ctx, ord.MemberID)
	if err != nil {
		return err
	}
	for channel := range s.messengers {
		if ids[channel] == "" {
			continue
		}
		if err := s.addTask(ctx, taskMessage, channel, ord.OrderNo, messageTask{Kind: kind, AmountFen: amountFen, At: s.Now()}); err != nil {
			return err
		}
	}
	return nil
}

// reportShipping queues the shipping upload of an order whose provider wants one, in the caller's
// transaction.
func (s *Service) reportShipping(ctx context.Context, ord models.Order, pickup bool, c Courier) error {
	if _, ok := s.shipping[ord.Provider]; !ok {
		return nil
	}
	return s.addTask(ctx, taskShipping, ord.Provider, ord.OrderNo, shippingTask{Pickup: pickup, Courier: c, At: s.Now()})
}

func (s *Service) addTask(ctx context.Context, kind, target, orderNo string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	now := s.Now()
	return s.DB.Conn(ctx).Create(&models.Task{Kind: kind, Target: target, OrderNo: orderNo, Payload: string(b), Status: taskPending,
		NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}).Error
}

// ProcessTasks carries out up to limit due channel tasks (shopper messages, shipping uploads). Tasks are
// claimed with a lease (SKIP LOCKED on PostgreSQL), so replicas share them; a failure is retried with
// growing delays, a permanent refusal is recorded as rejected, and a task that keeps failing is alerted.
func (s *Service) ProcessTasks(ctx context.Context, limit int) (int, error) {
	due, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", taskPending) }, "next_attempt_at", "attempts", limit,
		func(t *models.Task) int64 { t.Attempts++; return t.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	var batch campaignBatch
	waiting := 0            // tasks deferred by the campaign rate limit: not work done
	for _, t := range due { // one task's failure does not hold up the others
		err := s.runTask(ctx, t, &batch)
		set := map[string]any{"status": taskDone, "last_error": "", "updated_at": s.Now()}
		var later *deferred
		switch {
		case errors.As(err, &later): // its turn under the rate limit has not come: not an attempt
			set["status"], set["attempts"], set["next_attempt_at"] = taskPending, t.Attempts-1, s.Now().Add(later.wait)
			delete(set, "last_error")
			err = nil
			waiting++
		case errors.Is(err, ErrPermanent):
			set["status"], set["last_error"] = taskRejected, err.Error()
		case err != nil && t.Attempts >= MaxTaskAttempts:
			set["status"], set["last_error"] = taskFailed, err.Error()
		case err != nil:
			set["status"], set["last_error"] = taskPending, err.Error()
			set["next_attempt_at"] = s.Now().Add(min(time.Duration(t.Attempts*t.Attempts)*time.Minute, time.Hour))
		}
		if err != nil {
			s.Log.WarnContext(ctx, "channel task failed", "kind", t.Kind, "target", t.Target, "order_no", t.OrderNo, "attempt", t.Attempts, "status", set["status"], "err", err)
		}
		update := func(ctx context.Context) error {
			return s.DB.Conn(ctx).Model(&models.Task{}).Where("id = ?", t.ID).Updates(set).Error
		}
		if t.Kind == taskCampaign { // the recipient's outcome is recorded with the task's
			update = func(ctx context.Context) error {
				return s.DB.Tx(ctx, func(ctx context.Context) error {
					if err := s.DB.Conn(ctx).Model(&models.Task{}).Where("id = ?", t.ID).Updates(set).Error; err != nil {
						return err
					}
					return s.campaignOutcome(ctx, t, set["status"].(string), err)
				})
			}
		}
		if uerr := update(ctx); uerr != nil {
			errs = append(errs, uerr)
			continue
		}
		if set["status"] == taskFailed {
			errs = append(errs, events.Alert(ctx, s.Env, "task_failed", t.OrderNo, fmt.Sprintf("%s to %s gave up after %d attempts: %v", t.Kind, t.Target, t.Attempts, err)))
		}
	}
	return len(due) - waiting, errors.Join(errs...)
}

func (s *Service) runTask(ctx context.Context, t models.Task, b *campaignBatch) (err error) {
	defer func() { // a channel that panics on one task must not take the worker down with it
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", ErrPermanent, p)
		}
	}()
	if t.Kind == taskCampaign {
		return s.runCampaignTask(ctx, t, b)
	}
	ord, err := s.loadOrder(ctx, t.OrderNo, false)
	if err != nil {
		return err
	}
	ids, err := s.identities(ctx, ord.MemberID)
	if err != nil {
		return err
	}
	switch t.Kind {
	case taskMessage:
		m, ok := s.messengers[t.Target]
		if !ok {
			return fmt.Errorf("%w: channel %q is not enabled", ErrPermanent, t.Target)
		}
		var p messageTask
		if err := json.Unmarshal([]byte(t.Payload), &p); err != nil {
			return fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		var st models.Store
		if err := s.DB.Conn(ctx).Take(&st, ord.StoreID).Error; err != nil {
			return err
		}
		return m.SendMessage(ctx, ShopperMessage{Kind: p.Kind, To: ids[t.Target], OrderNo: ord.OrderNo, StoreName: st.Name, StoreAddress: st.Address,
			Items: describe(ord), AmountFen: p.AmountFen, At: p.At})
	case taskShipping:
		r, ok := s.shipping[t.Target]
		if !ok {
			return fmt.Errorf("%w: provider %q is not enabled", ErrPermanent, t.Target)
		}
		var p shippingTask
		if err := json.Unmarshal([]byte(t.Payload), &p); err != nil {
			return fmt.Errorf("%w: %v", ErrPermanent, err)
		}
		return r.ReportShipping(ctx, Shipment{OrderNo: ord.OrderNo, TransactionID: ord.ProviderTxn, Identities: ids, Pickup: p.Pickup,
			Courier: p.Courier, Items: describe(ord), At: p.At})
	}
	return fmt.Errorf("%w: unknown task kind %q", ErrPermanent, t.Kind)
}
