package events

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Sender posts webhooks: the HTTP part of a delivery, with its guard against addresses a webhook must
// never reach (loopback, private, link-local, metadata). It is declared here and implemented in
// integrations/egress.
type Sender interface {
	// Check says why url may not receive webhooks (not https, a host that resolves to a refused address),
	// or returns nil.
	Check(ctx context.Context, url string) error
	// Post sends body with headers to url and returns what the endpoint answered. The address is checked
	// again when the connection is made, so a name that later resolves to a refused address is not dialled.
	Post(ctx context.Context, url string, headers map[string]string, body []byte) Response
}

// Response is what an endpoint answered to one delivery.
type Response struct {
	// Status is the HTTP status, 0 when no answer came (Err says why).
	Status int
	// RetryAfter is the wait the endpoint asked for with Retry-After, 0 when it asked for none.
	RetryAfter time.Duration
	// Body is the start of the answer's body, for operators.
	Body string
	// Err is why no answer came: a timeout, a refused address, a connection error.
	Err error
}

// Options are the event settings.
type Options struct {
	// Retention is how long delivered events and deliveries are kept (dead letters are kept until
	// replayed or deleted).
	Retention time.Duration
	// Interval is how often the delivery worker looks for new events when it is idle.
	Interval time.Duration
	// PerEndpoint is how many deliveries of one endpoint a process sends at once; InFlight how many in all.
	PerEndpoint, InFlight int
}

// Service delivers the events core writes: it sequences them in commit order, fans them out to the
// webhook endpoints that want them, delivers, retries and dead-letters, serves them to systems that poll,
// announces stock changes, prunes what is old, and keeps the alerts operators read.
type Service struct {
	domain.Env
	opts   Options
	sender Sender

	mu       sync.Mutex
	inflight map[int64]int // deliveries being sent by this process, by endpoint
	total    int
	wake     chan struct{}
	sending  sync.WaitGroup
	outcomes []outcome // tries finished, waiting to be written
	writing  bool      // a sender is writing outcomes
}

// New returns the events Service. sender may be nil: webhooks are then neither accepted nor delivered,
// and events are still sequenced and served to the pull API.
func New(env domain.Env, sender Sender, opts Options) *Service {
	if opts.Retention <= 0 {
		opts.Retention = 30 * 24 * time.Hour
	}
	if opts.Interval <= 0 {
		opts.Interval = 250 * time.Millisecond
	}
	if opts.PerEndpoint <= 0 {
		opts.PerEndpoint = 32
	}
	if opts.InFlight <= 0 {
		opts.InFlight = 64
	}
	return &Service{Env: env, opts: opts, sender: sender, inflight: map[int64]int{}, wake: make(chan struct{}, 1)}
}

// SetSender turns webhooks on with sender; call it before the Service runs or serves.
func (s *Service) SetSender(sender Sender) { s.sender = sender }

// Run sequences and delivers events until ctx ends: at once when a delivery finishes (the next of its
// chain may be due), otherwise every Interval. ran is called after every round (worker health). It
// returns when ctx ends and the deliveries it started have finished.
func (s *Service) Run(ctx context.Context, ran func(error)) {
	t := time.NewTicker(s.opts.Interval)
	defer t.Stop()
	defer s.Wait()
	for {
		for ctx.Err() == nil {
			n, err := s.Sequence(ctx, 500)
			if err == nil {
				var m int
				m, err = s.Deliver(ctx)
				n += m
			}
			ran(err)
			if err != nil || n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.wake:
		}
	}
}

// Wait returns when the deliveries this process started have finished.
func (s *Service) Wait() { s.sending.Wait() }

// nudge wakes the worker.
func (s *Service) nudge() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Sequence gives the events committed since the last run their positions, in the order they became
// visible, and writes their deliveries to the endpoints that want them. Replicas take turns (the
// sequence cursor is locked, SKIP LOCKED): an event committed late, with an older id, gets a later
// position, so a consumer reading positions in order never misses one. It returns how many events it
// sequenced.
func (s *Service) Sequence(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		n = 0
		tx := s.DB.Conn(ctx)
		var cur []models.EventCursor
		if err := tx.Clauses(models.ForUpdateSkipLocked()).Where("name = ?", "sequence").Find(&cur).Error; err != nil || len(cur) == 0 {
			return err // another replica is sequencing
		}
		// One statement numbers the oldest unsequenced events after the cursor, in id order.
		var evs []models.Event
		if err := tx.Raw(`UPDATE events SET position = ? + r.rn
			FROM (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM events WHERE position IS NULL ORDER BY id LIMIT ?) r
			WHERE events.id = r.id RETURNING events.id, events.topic, events.key, events.position`, cur[0].Position, limit).Scan(&evs).Error; err != nil || len(evs) == 0 {
			return err
		}
		slices.SortFunc(evs, func(a, b models.Event) int { return cmp.Compare(*a.Position, *b.Position) })
		eps, err := s.subscribers(ctx)
		if err != nil {
			return err
		}
		pos := *evs[len(evs)-1].Position
		now := s.Now()
		var ds []models.WebhookDelivery
		for _, e := range evs {
			for _, ep := range eps {
				if wants(ep.types, e.Topic) {
					ds = append(ds, models.WebhookDelivery{EndpointID: ep.ID, EventID: e.ID, Chain: e.Key, Status: DeliveryPending, NextAt: now, CreatedAt: now})
				}
			}
		}
		if len(ds) > 0 {
			if err := tx.CreateInBatches(ds, 200).Error; err != nil {
				return err
			}
		}
		n = len(evs)
		return tx.Model(&models.EventCursor{}).Where("name = ?", "sequence").Update("position", pos).Error
	})
	return n, err
}
