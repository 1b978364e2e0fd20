package marketplaces_test

import (
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// Settings of BenchmarkStockSync.
const (
	benchSKUs     = 200
	benchRate     = 100 // stock changes a second
	benchInterval = 250 * time.Millisecond
)

// benchDuration is how long the changes come: O2OHUB_BENCH_STOCK_SECONDS, default 3 s.
func benchDuration() time.Duration {
	if s, err := strconv.Atoi(os.Getenv("O2OHUB_BENCH_STOCK_SECONDS")); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	return 3 * time.Second
}

// BenchmarkStockSync measures the stock pool as it runs in production (core's workers, the real clock,
// the connectors over loopback HTTP to the fakes): one store with 200 SKUs bound to the three platforms,
// a stock change of a random SKU 100 times a second (a ticker) for benchDuration, each to a value never
// used before. It reports
//
//   - <platform>-calls/change and calls/change: stock calls made per stock change, after the first sync
//     (the coalescing ratio: below 1 means changes were merged; a change is at most one call);
//   - lag-p50-ms and lag-p99-ms: from a change being made to the platform holding its value or a later
//     one (watched every millisecond), over every platform and change;
//   - interval-ms, the push interval, and lag-p50/interval, the median lag as a share of it (about 0.5
//     means the lag is the wait for the next sweep and the push itself costs little);
//   - changes/s, the rate actually reached.
//
// Run it with -benchtime=1x; every iteration is a full run.
func BenchmarkStockSync(b *testing.B) {
	dbtest.Each(b, func(tb testing.TB, db *models.DB) {
		b := tb.(*testing.B)
		h := newHub(b, db, hubOptions{pushInterval: benchInterval})
		skus := h.skus(b, benchSKUs, 5)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); h.svc.RunWorkers(ctx, time.Second) }()
		defer func() { cancel(); <-done }()
		h.waitHeld(b, skus, func(string) int64 { return 5 })

		var lags []float64
		changes := 0
		calls := map[string]int{}
		var elapsed time.Duration
		value := int64(1000)
		b.ResetTimer()
		for range b.N {
			before := h.stockCalls()
			w := newLagWatch(h)
			start := time.Now()
			tick := time.NewTicker(time.Second / benchRate)
			for time.Since(start) < benchDuration() {
				<-tick.C
				sku := skus[rand.IntN(len(skus))]
				value++
				w.changed(sku, value)
				h.setStock(b, sku, value)
				changes++
			}
			tick.Stop()
			elapsed += time.Since(start)
			lags = append(lags, w.wait(b)...)
			after := h.stockCalls()
			for _, p := range h.platforms {
				calls[p.name] += after[p.name] - before[p.name]
			}
		}
		b.StopTimer()

		total := 0
		for _, p := range h.platforms {
			b.ReportMetric(float64(calls[p.name])/float64(changes), p.name+"-calls/change")
			total += calls[p.name]
		}
		b.ReportMetric(float64(total)/float64(changes), "calls/change")
		slices.Sort(lags)
		p50, p99 := lags[len(lags)/2], lags[len(lags)*99/100]
		b.ReportMetric(p50, "lag-p50-ms")
		b.ReportMetric(p99, "lag-p99-ms")
		b.ReportMetric(float64(benchInterval.Milliseconds()), "interval-ms")
		b.ReportMetric(p50/float64(benchInterval.Milliseconds()), "lag-p50/interval")
		b.ReportMetric(float64(changes)/elapsed.Seconds(), "changes/s")
	})
}

// waitHeld waits until every platform holds want(sku) for every SKU.
func (h *hub) waitHeld(t testing.TB, skus []string, want func(string) int64) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, p := range h.platforms {
		for _, s := range skus {
			for {
				if got, ok := p.fake.Stock(shop, s); ok && got == want(s) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s never held %s = %d", p.name, s, want(s))
				}
				time.Sleep(time.Millisecond)
			}
		}
	}
}

// lagWatch watches the fakes every millisecond and times each change until each platform holds its value
// (or a later one of the same SKU).
type lagWatch struct {
	h    *hub
	mu   sync.Mutex
	want map[string]map[string]pending // platform → SKU → what it should come to hold
	lags []float64                     // ms
	stop chan struct{}
	done chan struct{}
}

// pending is the latest value of a SKU and when each change not yet held was made.
type pending struct {
	value int64
	since []time.Time
}

func newLagWatch(h *hub) *lagWatch {
	w := &lagWatch{h: h, want: map[string]map[string]pending{}, stop: make(chan struct{}), done: make(chan struct{})}
	for _, p := range h.platforms {
		w.want[p.name] = map[string]pending{}
	}
	go w.run()
	return w
}

// changed records a change about to be made.
func (w *lagWatch) changed(sku string, value int64) {
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.want {
		p := m[sku]
		m[sku] = pending{value: value, since: append(p.since, now)}
	}
}

func (w *lagWatch) run() {
	defer close(w.done)
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		w.mu.Lock()
		now := time.Now()
		for _, p := range w.h.platforms {
			for sku, pend := range w.want[p.name] {
				if got, _ := p.fake.Stock(shop, sku); got == pend.value {
					for _, at := range pend.since {
						w.lags = append(w.lags, float64(now.Sub(at).Microseconds())/1000)
					}
					delete(w.want[p.name], sku)
				}
			}
		}
		w.mu.Unlock()
	}
}

// wait waits until every change is held everywhere (30 s at most) and returns the lags.
func (w *lagWatch) wait(t testing.TB) []float64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		w.mu.Lock()
		left := 0
		for _, m := range w.want {
			left += len(m)
		}
		w.mu.Unlock()
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d SKU levels never reached their platform", left)
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(w.stop)
	<-w.done
	return w.lags
}
