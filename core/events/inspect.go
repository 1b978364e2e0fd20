package events

import (
	"context"
	"slices"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// MaxPage is the most events or deliveries one page holds.
const MaxPage = 500

// Pull returns up to limit sequenced events after position after, in order, of the given types (all
// when types is empty), and the position to ask after next time. It is the pull API for systems that
// cannot be reached by webhooks: a consumer keeps the cursor and never misses or repeats an event.
func (s *Service) Pull(ctx context.Context, after int64, limit int, types []string) ([]Message, int64, error) {
	if limit <= 0 || limit > MaxPage {
		limit = 100
	}
	for _, t := range types {
		if _, ok := lookup(t); !ok {
			return nil, after, domain.Errf(domain.ErrInvalidArgument, "types: %q is not an event type", t)
		}
	}
	q := s.DB.Conn(ctx).Where("position > ?", after)
	if len(types) > 0 {
		q = q.Where("topic IN ?", types)
	}
	var evs []models.Event
	if err := q.Order("position").Limit(limit).Find(&evs).Error; err != nil {
		return nil, after, err
	}
	out := make([]Message, len(evs))
	next := after
	for i, e := range evs {
		out[i] = message(e)
		next = *e.Position
	}
	return out, next, nil
}

// Latest is the position of the newest sequenced event (0 when there is none).
func (s *Service) Latest(ctx context.Context) (int64, error) {
	var c models.EventCursor
	err := s.DB.Conn(ctx).Where("name = ?", "sequence").Take(&c).Error
	return c.Position, err
}

// DeliveryView is one delivery as an operator inspects it.
type DeliveryView struct {
	ID          int64      `json:"id"`
	EventID     string     `json:"event_id"`
	Type        string     `json:"type"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	Tries       int        `json:"tries"`
	NextAt      *time.Time `json:"next_at,omitempty"`
	LastStatus  int        `json:"last_status,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	LastBody    string     `json:"last_body,omitempty"`
	LastAt      *time.Time `json:"last_at,omitempty"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
}

// Deliveries lists the endpoint's deliveries, newest first, of one status (all when status is empty),
// before the delivery id before (from the newest when 0).
func (s *Service) Deliveries(ctx context.Context, name, status string, before int64, limit int) ([]DeliveryView, error) {
	switch status {
	case "", DeliveryPending, DeliveryFailed, DeliveryDelivered, DeliveryDead:
	default:
		return nil, domain.Errf(domain.ErrInvalidArgument, "status must be pending, failed, delivered or dead")
	}
	if limit <= 0 || limit > MaxPage {
		limit = 100
	}
	ep, err := s.endpoint(ctx, name, false)
	if err != nil {
		return nil, err
	}
	var rows []struct {
		models.WebhookDelivery
		Topic    string
		Position *int64
	}
	q := s.DB.Conn(ctx).Table("webhook_deliveries d").Select("d.*, e.topic, e.position").
		Joins("JOIN events e ON e.id = d.event_id").Where("d.endpoint_id = ?", ep.ID)
	if status != "" {
		q = q.Where("d.status = ?", status)
	}
	if before > 0 {
		q = q.Where("d.id < ?", before)
	}
	if err := q.Order("d.id DESC").Limit(limit).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]DeliveryView, len(rows))
	for i, r := range rows {
		var pos int64
		if r.Position != nil {
			pos = *r.Position
		}
		v := DeliveryView{ID: r.ID, EventID: MessageID(pos), Type: r.Topic, Status: r.Status, Attempts: r.Attempts, Tries: r.Tries,
			LastStatus: r.LastStatus, LastError: r.LastError, LastBody: r.LastBody, LastAt: utc(r.LastAt), DeliveredAt: utc(r.DeliveredAt), CreatedAt: r.CreatedAt.UTC()}
		if r.Status == DeliveryPending || r.Status == DeliveryFailed {
			v.NextAt = utc(&r.NextAt)
		}
		out[i] = v
	}
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// RetryDelivery sends a delivery of the endpoint again from the start of the schedule, whatever became
// of it (a dead letter, a delivered event the consumer lost).
func (s *Service) RetryDelivery(ctx context.Context, name string, id int64) error {
	ep, err := s.endpoint(ctx, name, false)
	if err != nil {
		return err
	}
	res := s.DB.Conn(ctx).Model(&models.WebhookDelivery{}).Where("id = ? AND endpoint_id = ?", id, ep.ID).
		Updates(map[string]any{"status": DeliveryPending, "attempts": 0, "next_at": s.Now(), "delivered_at": nil})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return domain.Errf(domain.ErrNotFound, "endpoint %s has no delivery %d", name, id)
	}
	s.nudge()
	return nil
}

// DeleteDelivery removes a dead letter of the endpoint.
func (s *Service) DeleteDelivery(ctx context.Context, name string, id int64) error {
	ep, err := s.endpoint(ctx, name, false)
	if err != nil {
		return err
	}
	res := s.DB.Conn(ctx).Where("id = ? AND endpoint_id = ? AND status = ?", id, ep.ID, DeliveryDead).Delete(&models.WebhookDelivery{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return domain.Errf(domain.ErrNotFound, "endpoint %s has no dead letter %d", name, id)
	}
	return nil
}

// Replay is a time range of events to send an endpoint again.
type Replay struct {
	// From and To bound the events' creation times: From ≤ created_at < To.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Types are the types to send again; empty means the types the endpoint subscribes to.
	Types []string `json:"types"`
}

// MaxReplay is the most events one replay sends.
const MaxReplay = 10000

// ReplayEvents sends the endpoint the events of a time range again, with their original ids (and so the
// same webhook-id), in their order. It returns how many it queued.
func (s *Service) ReplayEvents(ctx context.Context, name string, in Replay) (int, error) {
	if in.From.IsZero() || in.To.IsZero() || !in.From.Before(in.To) {
		return 0, domain.Errf(domain.ErrInvalidArgument, "from and to must be times (RFC 3339) with from before to")
	}
	for _, t := range in.Types {
		if _, ok := lookup(t); !ok {
			return 0, domain.Errf(domain.ErrInvalidArgument, "types: %q is not an event type", t)
		}
	}
	n := 0
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ep, err := s.endpoint(ctx, name, true)
		if err != nil {
			return err
		}
		subs := subscriber{WebhookEndpoint: ep}
		var evs []models.Event
		if err := s.DB.Conn(ctx).Select("id", "topic", "key").Where("position IS NOT NULL AND created_at >= ? AND created_at < ?", in.From, in.To).
			Order("position").Limit(MaxReplay + 1).Find(&evs).Error; err != nil {
			return err
		}
		if len(evs) > MaxReplay {
			return domain.Errf(domain.ErrInvalidArgument, "the range holds more than %d events: replay it in parts", MaxReplay)
		}
		if len(in.Types) == 0 {
			if subs.types, err = typesOf(ep); err != nil {
				return err
			}
		}
		now := s.Now()
		var ds []models.WebhookDelivery
		for _, e := range evs {
			if (len(in.Types) > 0 && slices.Contains(in.Types, e.Topic)) || (len(in.Types) == 0 && wants(subs.types, e.Topic)) {
				ds = append(ds, models.WebhookDelivery{EndpointID: ep.ID, EventID: e.ID, Chain: e.Key, Status: DeliveryPending, NextAt: now, CreatedAt: now})
			}
		}
		n = len(ds)
		if n == 0 {
			return nil
		}
		return s.DB.Conn(ctx).CreateInBatches(ds, 200).Error
	})
	if n > 0 {
		s.nudge()
	}
	return n, err
}
