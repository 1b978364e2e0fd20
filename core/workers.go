package core

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/internal/metrics"
)

// workerBatch is how many rows one sweep of a worker takes.
const workerBatch = 100

// ScanFlushInterval is how often each replica writes the shelf-code scans it counted in memory.
const ScanFlushInterval = time.Second

// RunWorkers runs the background work until ctx ends: every interval, expiring unpaid orders, moving
// orders their store did not accept in time, refunding orders not collected before their pickup code
// expired, submitting and querying refunds, reconciling payments with their providers, carrying out
// channel tasks, routing campaigns' recipients, forgetting old idempotency keys and pruning old events;
// as soon as a payment wakes it (and every interval), recording what paid orders earn their members;
// every ScanFlushInterval, writing scan counts; every market push interval, the platforms' stock pushes,
// calls and inbox, and stock.changed events; the platforms' pulls; and, continuously, the sequencing and
// delivery of outgoing events. Every sweep takes
// its rows with SKIP LOCKED or a lease, so any number of replicas may run it.
func (s *Service) RunWorkers(ctx context.Context, interval time.Duration) {
	push := s.opts.Market.PushInterval
	sweeps := []struct {
		name  string
		every time.Duration
		fn    func(context.Context, int) (int, error)
		wake  <-chan struct{} // runs the sweep at once too; nil for none
	}{
		{"expiry", interval, s.ExpireDue, nil},
		{"rerouting", interval, s.RerouteDue, nil},
		{"pickup expiry", interval, s.ExpirePickups, nil},
		{"refunds", interval, s.ProcessRefunds, nil},
		{"payment checks", interval, s.ReconcilePayments, nil},
		{"channel tasks", interval, s.ProcessTasks, nil},
		{"campaigns", interval, s.DispatchCampaigns, nil},
		// Scan counts are kept in memory between flushes: flushed every second, a replica that dies loses
		// at most its last second of counts.
		{"scan counts", ScanFlushInterval, s.Shelf.FlushScans, nil},
		{"idempotency keys", interval, s.Idem.Sweep, nil},
		// Paid orders' points are recorded as soon as the payment wakes the worker, or at the next interval.
		{"loyalty earning", interval, s.RecordLoyaltyDue, s.loyaltyWake},
		{"loyalty", interval, s.Loyalty.Sweep, nil},
		{"referral rebates", interval, s.Referral.Sweep, nil},
		// The stock pool runs at the push interval (changes within one are coalesced), and the store's
		// decisions reach the platforms at the same pace: a rider waits on a confirm.
		{"platform stock", push, s.Market.PushStock, nil},
		{"platform calls", push, func(ctx context.Context, n int) (int, error) {
			return s.Market.ProcessCalls(ctx, n, s.platformCallRefused)
		}, nil},
		{"platform inbox", push, func(ctx context.Context, n int) (int, error) {
			return s.Market.ProcessInbox(ctx, n, s.TakePlatformOrder)
		}, nil},
		{"platform pull", interval, func(ctx context.Context, n int) (int, error) { return s.Market.PullOrders(ctx, n, s.TakePlatformOrder) }, nil},
		// Stock changes are announced at the platforms' pace, coalesced the same way.
		{"stock events", push, s.Events.AnnounceStock, nil},
		{"event retention", interval, s.Events.Prune, nil},
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // webhooks: sequenced and sent as soon as they are written, not once an interval
		defer wg.Done()
		const name = "webhooks"
		s.health.start(name, time.Second, s.Now())
		defer s.health.stop(name)
		s.Events.Run(ctx, func(err error) {
			s.health.ran(name, s.Now())
			if err != nil && ctx.Err() == nil {
				metrics.SweepErrors.WithLabelValues(name).Inc()
				s.Log.ErrorContext(ctx, "worker sweep failed", "worker", name, "err", err)
			}
		})
	}()
	for _, sw := range sweeps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runEvery(ctx, sw.every, sw.wake, sw.name, sw.fn)
		}()
	}
	wg.Wait()
	// Scans counted since the last sweep are written before the workers stop.
	if _, err := s.Shelf.FlushScans(context.WithoutCancel(ctx), 0); err != nil {
		s.Log.ErrorContext(ctx, "writing scan counts failed", "err", err)
	}
}

// runEvery runs sweep every interval and whenever wake fires, at once again while it finds a full batch,
// until ctx ends.
func (s *Service) runEvery(ctx context.Context, interval time.Duration, wake <-chan struct{}, name string, sweep func(context.Context, int) (int, error)) {
	s.health.start(name, interval, s.Now())
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			began := time.Now()
			n, err := sweep(ctx, workerBatch)
			metrics.SweepDuration.WithLabelValues(name).Observe(time.Since(began).Seconds())
			metrics.SweepRows.WithLabelValues(name).Add(float64(n))
			s.health.ran(name, s.Now())
			if err != nil {
				if ctx.Err() == nil {
					metrics.SweepErrors.WithLabelValues(name).Inc()
					s.Log.ErrorContext(ctx, "worker sweep failed", "worker", name, "err", err)
				}
				break
			}
			if n > 0 {
				s.Log.DebugContext(ctx, "worker sweep", "worker", name, "count", n)
			}
			if n < workerBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			s.health.stop(name)
			return
		case <-t.C:
		case <-wake:
		}
	}
}

// workerHealth remembers when each running worker last finished a run, so a stuck one can be told.
type workerHealth struct {
	mu      sync.Mutex
	workers map[string]*workerState
}

type workerState struct {
	every time.Duration
	last  time.Time
}

func (h *workerHealth) start(name string, every time.Duration, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.workers == nil {
		h.workers = map[string]*workerState{}
	}
	h.workers[name] = &workerState{every: every, last: now}
}

func (h *workerHealth) ran(name string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if w := h.workers[name]; w != nil {
		w.last = now
	}
}

func (h *workerHealth) stop(name string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.workers, name)
}

// StuckWorkers names the background workers of this process that have not finished a run for ten of
// their intervals (at least two minutes): a sweep that hangs. It is empty when the workers are well or
// do not run in this process.
func (s *Service) StuckWorkers() []string {
	now := s.Now()
	s.health.mu.Lock()
	defer s.health.mu.Unlock()
	var out []string
	for name, w := range s.health.workers {
		if now.Sub(w.last) > max(10*w.every, 2*time.Minute) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}
