package core

import (
	"context"
	"sync"
	"time"
)

// workerBatch is how many rows one sweep of a worker takes.
const workerBatch = 100

// RunWorkers runs the background work every interval until ctx ends: expiring unpaid orders, moving
// orders their store did not accept in time, refunding orders not collected before their pickup code
// expired, submitting
// and querying refunds, reconciling payments with their providers, carrying out channel tasks,
// writing scan counts, and the platforms' calls, stock pushes and pulls. Every
// sweep takes its rows with SKIP LOCKED or a lease, so any number of replicas may run it.
func (s *Service) RunWorkers(ctx context.Context, interval time.Duration) {
	sweeps := []struct {
		name string
		fn   func(context.Context, int) (int, error)
	}{
		{"expiry", s.ExpireDue},
		{"rerouting", s.RerouteDue},
		{"pickup expiry", s.ExpirePickups},
		{"refunds", s.ProcessRefunds},
		{"payment checks", s.ReconcilePayments},
		{"channel tasks", s.ProcessTasks},
		{"scan counts", s.Shelf.FlushScans},
		{"platform calls", func(ctx context.Context, n int) (int, error) {
			return s.Market.ProcessCalls(ctx, n, s.platformCallRefused)
		}},
		{"platform pull", func(ctx context.Context, n int) (int, error) { return s.Market.PullOrders(ctx, n, s.TakePlatformOrder) }},
	}
	var wg sync.WaitGroup
	// The stock pool runs at its own pace: changes within one push interval are coalesced.
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.runEvery(ctx, s.opts.Market.PushInterval, "platform stock", s.Market.PushStock)
	}()
	for _, sw := range sweeps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.runEvery(ctx, interval, sw.name, sw.fn)
		}()
	}
	wg.Wait()
	// Scans counted since the last sweep are written before the workers stop.
	if _, err := s.Shelf.FlushScans(context.WithoutCancel(ctx), 0); err != nil {
		s.Log.ErrorContext(ctx, "writing scan counts failed", "err", err)
	}
}

// runEvery runs sweep every interval, at once again while it finds a full batch, until ctx ends.
func (s *Service) runEvery(ctx context.Context, interval time.Duration, name string, sweep func(context.Context, int) (int, error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		for {
			n, err := sweep(ctx, workerBatch)
			if err != nil {
				if ctx.Err() == nil {
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
			return
		case <-t.C:
		}
	}
}
