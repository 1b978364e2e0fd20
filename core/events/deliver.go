package events

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/webhook"
	"gorm.io/gorm"
)

// Delivery states: pending has not been tried, failed waits for its next try, delivered got a 2xx, dead
// used up the retry schedule (a dead letter, kept until it is retried or deleted).
const (
	DeliveryPending   = "pending"
	DeliveryFailed    = "failed"
	DeliveryDelivered = "delivered"
	DeliveryDead      = "dead"
)

// Schedule is when each try of a delivery is made, after the failure of the one before: the first at
// once, the last a day after the seventh. Each wait gets up to a tenth more, at random, so that retries
// of many deliveries do not arrive together. A delivery that fails its last try is dead.
var Schedule = []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 24 * time.Hour}

// retryAfterSpan is how long after its delivery was created an endpoint's Retry-After is waited for
// without using a step of the schedule; after it, a 429 or 503 counts as any failure, so an endpoint
// that asks to wait forever reaches the dead letters like one that fails.
const retryAfterSpan = 72 * time.Hour

// maxRetryAfter caps the wait an endpoint may ask for with Retry-After.
const maxRetryAfter = 24 * time.Hour

// bodyExcerpt is how much of an endpoint's answer is kept for operators.
const bodyExcerpt = 512

// Deliver claims the deliveries that are due and sends each in its own goroutine, without waiting for
// them: a slow endpoint holds only its own deliveries (at most PerEndpoint at once in this process), each
// endpoint claimed on its own. A delivery is due when its time has come, its endpoint is enabled and
// every earlier delivery of its chain (the events of one order, or of one store's SKU) to that endpoint
// is delivered or dead, so an endpoint receives the events of an order in order. Claims are leases (SKIP
// LOCKED), so replicas never send one delivery at the same time. It returns how many it started.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	if s.sender == nil {
		return 0, nil
	}
	var ids []int64
	if err := s.DB.Conn(ctx).Model(&models.WebhookEndpoint{}).Where("enabled = ?", true).Order("id").Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	started := 0
	for _, id := range ids {
		s.mu.Lock()
		room := min(s.opts.PerEndpoint-s.inflight[id], s.opts.InFlight-s.total)
		s.mu.Unlock()
		if room <= 0 {
			continue
		}
		n, err := s.deliverTo(ctx, id, room)
		started += n
		if err != nil {
			return started, err
		}
	}
	return started, nil
}

// deliverTo claims up to room due deliveries of one endpoint and starts sending them. Only the head of
// each chain (its oldest open delivery) may go: the heads that are due are found first, without locks,
// then claimed (a head stays the head while it is open, since later deliveries have larger ids). The
// states are written out, not bound, so that the partial indexes on open deliveries apply.
func (s *Service) deliverTo(ctx context.Context, endpointID int64, room int) (int, error) {
	var heads []int64
	if err := s.DB.Conn(ctx).Raw(`SELECT d.id FROM webhook_deliveries d
		JOIN (SELECT min(id) AS id FROM webhook_deliveries WHERE endpoint_id = ? AND status IN ('pending', 'failed') GROUP BY chain) h ON h.id = d.id
		WHERE d.next_at <= ? ORDER BY d.next_at LIMIT ?`, endpointID, s.Now(), room).Scan(&heads).Error; err != nil || len(heads) == 0 {
		return 0, err
	}
	scope := func(q *gorm.DB) *gorm.DB {
		return q.Where("id IN ? AND status IN ('pending', 'failed')", heads).
			Where("EXISTS (SELECT 1 FROM webhook_endpoints w WHERE w.id = webhook_deliveries.endpoint_id AND w.enabled = ?)", true)
	}
	ds, lease, err := domain.ClaimDue(ctx, s.Env, scope, "next_at", "tries", room, func(d *models.WebhookDelivery) int64 { return d.ID })
	if err != nil || len(ds) == 0 {
		return 0, err
	}
	evs, ep, err := s.deliveryParts(ctx, endpointID, ds)
	if err != nil {
		lease.Release() // the rows' leases run out and they are taken again
		return 0, err
	}
	var sends sync.WaitGroup
	s.mu.Lock()
	for _, d := range ds {
		s.inflight[endpointID]++
		s.total++
		sends.Add(1)
		s.sending.Add(1)
		go func() {
			defer s.sending.Done()
			defer sends.Done()
			s.send(ctx, d, ep, evs[d.EventID])
			s.mu.Lock()
			if s.inflight[endpointID]--; s.inflight[endpointID] == 0 {
				delete(s.inflight, endpointID)
			}
			s.total--
			s.mu.Unlock()
			s.nudge()
		}()
	}
	s.mu.Unlock()
	s.sending.Add(1)
	go func() { // the batch's lease is renewed until every one of its sends has finished
		defer s.sending.Done()
		sends.Wait()
		lease.Release()
	}()
	return len(ds), nil
}

// deliveryParts reads the endpoint and the events of claimed deliveries.
func (s *Service) deliveryParts(ctx context.Context, endpointID int64, ds []models.WebhookDelivery) (map[int64]models.Event, models.WebhookEndpoint, error) {
	var ep models.WebhookEndpoint
	if err := s.DB.Conn(ctx).Take(&ep, endpointID).Error; err != nil {
		return nil, ep, err
	}
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.EventID
	}
	var evs []models.Event
	if err := s.DB.Conn(ctx).Where("id IN ?", ids).Find(&evs).Error; err != nil {
		return nil, ep, err
	}
	m := make(map[int64]models.Event, len(evs))
	for _, e := range evs {
		m[e.ID] = e
	}
	for _, d := range ds {
		if _, ok := m[d.EventID]; !ok {
			return nil, ep, fmt.Errorf("delivery %d: event %d is gone", d.ID, d.EventID)
		}
	}
	return m, ep, nil
}

// send makes one try of a delivery and records its outcome.
func (s *Service) send(ctx context.Context, d models.WebhookDelivery, ep models.WebhookEndpoint, ev models.Event) {
	now := s.Now()
	body, err := json.Marshal(message(ev)) // the same bytes on every delivery of the event
	var resp Response
	if err == nil {
		secrets := []string{ep.Secret}
		if ep.PreviousSecret != "" && ep.PreviousUntil != nil && ep.PreviousUntil.After(now) {
			secrets = append(secrets, ep.PreviousSecret)
		}
		id := message(ev).ID
		var sig string
		if sig, err = webhook.Sign(secrets, id, now, body); err == nil {
			resp = s.sender.Post(ctx, ep.URL, map[string]string{
				webhook.HeaderID: id, webhook.HeaderTimestamp: strconv.FormatInt(now.Unix(), 10), webhook.HeaderSignature: sig,
				"Content-Type": "application/json", "User-Agent": "o2ohub-webhooks/1",
			}, body)
		}
	}
	if err != nil {
		resp = Response{Err: err}
	}
	if ctx.Err() != nil {
		return // shutting down: the lease runs out and the delivery is tried again
	}
	s.record(context.WithoutCancel(ctx), outcome{d: d, ep: ep, ev: ev, r: resp, at: s.Now()})
}

// outcome is a try's result, waiting to be written.
type outcome struct {
	d  models.WebhookDelivery
	ep models.WebhookEndpoint
	ev models.Event
	r  Response
	at time.Time
}

// record writes an outcome together with the others that finished meanwhile, in one transaction (one
// commit to disk for many deliveries): the first sender to arrive writes, the others leave theirs to it.
// A delivery whose outcome is lost (the process died first) is tried again when its lease runs out.
func (s *Service) record(ctx context.Context, o outcome) {
	s.mu.Lock()
	s.outcomes = append(s.outcomes, o)
	if s.writing {
		s.mu.Unlock()
		return
	}
	s.writing = true
	s.mu.Unlock()
	for {
		s.mu.Lock()
		batch := s.outcomes
		s.outcomes = nil
		if len(batch) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		err := s.DB.Tx(ctx, func(ctx context.Context) error {
			for _, o := range batch {
				if err := s.write(ctx, o); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			s.Log.ErrorContext(ctx, "recording webhook deliveries failed: they are tried again when their leases run out", "deliveries", len(batch), "err", err)
		}
		s.nudge() // the next deliveries of their chains may be due
	}
}

// write writes the outcome of a try: delivered; the endpoint gone (410: disabled, with an alert); a
// wait the endpoint asked for (429 or 503 with Retry-After: no step of the schedule used, for the first
// retryAfterSpan of the delivery); or a failure,
// retried on the schedule and dead after its last step, with an alert.
func (s *Service) write(ctx context.Context, o outcome) error {
	d, ep, ev, r := o.d, o.ep, o.ev, o.r
	now := o.at
	set := map[string]any{"last_status": r.Status, "last_at": now, "last_body": excerpt(r.Body), "last_error": ""}
	if r.Err != nil {
		set["last_error"] = excerpt(r.Err.Error())
	}
	var alert func(ctx context.Context) error
	switch {
	case r.Err == nil && r.Status >= 200 && r.Status < 300:
		set["status"], set["delivered_at"] = DeliveryDelivered, now
	case r.Status == http.StatusGone:
		set["status"], set["next_at"] = DeliveryFailed, now
		alert = func(ctx context.Context) error {
			if err := s.DB.Conn(ctx).Model(&models.WebhookEndpoint{}).Where("id = ? AND enabled = ?", ep.ID, true).
				Updates(map[string]any{"enabled": false, "disabled_reason": "the endpoint answered 410 Gone at " + now.UTC().Format(time.RFC3339), "updated_at": now}).Error; err != nil {
				return err
			}
			return raise(ctx, s.Env, "webhook_endpoint_gone", "", "endpoint "+ep.Name,
				fmt.Sprintf("webhook endpoint %s answered 410 Gone and was disabled; its deliveries wait until it is enabled again", ep.Name))
		}
	case (r.Status == http.StatusTooManyRequests || r.Status == http.StatusServiceUnavailable) && r.RetryAfter > 0 &&
		now.Sub(d.CreatedAt) < retryAfterSpan:
		set["status"], set["next_at"] = DeliveryFailed, now.Add(min(r.RetryAfter, maxRetryAfter))
	default:
		attempts := d.Attempts + 1
		set["attempts"] = attempts
		if attempts >= len(Schedule) {
			set["status"] = DeliveryDead
			why := set["last_error"].(string)
			if why == "" {
				why = "HTTP " + strconv.Itoa(r.Status)
			}
			orderNo := ""
			if strings.HasPrefix(ev.Topic, "order.") || strings.HasPrefix(ev.Topic, "refund.") || strings.HasPrefix(ev.Topic, "pickup.") {
				orderNo = ev.Key
			}
			alert = func(ctx context.Context) error {
				return raise(ctx, s.Env, "webhook_dead_letter", orderNo, "endpoint "+ep.Name+" chain "+ev.Key,
					fmt.Sprintf("webhook endpoint %s: %s %s undelivered after %d tries (last: %s); retry it from its deliveries", ep.Name, ev.Topic, MessageID(posOf(ev)), attempts, why))
			}
		} else {
			set["status"], set["next_at"] = DeliveryFailed, now.Add(jitter(Schedule[attempts]))
		}
	}
	res := s.DB.Conn(ctx).Model(&models.WebhookDelivery{}).Where("id = ? AND status IN ('pending', 'failed')", d.ID).Updates(set)
	if res.Error != nil || res.RowsAffected == 0 || alert == nil {
		return res.Error
	}
	return alert(ctx)
}

func posOf(e models.Event) int64 {
	if e.Position == nil {
		return 0
	}
	return *e.Position
}

// jitter adds up to a tenth of d, at random.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d + time.Duration(rand.Int64N(int64(d)/10+1))
}

// excerpt is the start of s, cleaned for an operator's screen.
func excerpt(s string) string {
	s = text.Clean(s)
	if len(s) > bodyExcerpt {
		s = strings.ToValidUTF8(s[:bodyExcerpt], "")
	}
	return s
}
