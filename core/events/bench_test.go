package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/integrations/egress"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// BenchmarkWebhookDelivery writes b.N order events (spread over 200 orders) as fast as one writer can
// commit them, while the delivery worker sends them to one local receiver. It reports the rate of
// delivery as a ratio of the rate of writing measured in the same run (1 = the webhooks keep up with the
// writes), and the lag from an event's commit to its arrival, p50 and p99.
func BenchmarkWebhookDelivery(b *testing.B) {
	dbtest.Each(b, func(b testing.TB, db *models.DB) {
		bb := b.(*testing.B)
		ctx := context.Background()
		env := domain.NewEnv(db, domain.SystemClock{}, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
		svc := events.New(env, egress.New(egress.Options{AllowHTTP: true, AllowPrivate: true}), events.Options{})
		var mu sync.Mutex
		var lags []time.Duration
		done := make(chan struct{})
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			var m events.Message
			_ = json.Unmarshal(body, &m)
			now := time.Now()
			mu.Lock()
			lags = append(lags, now.Sub(m.CreatedAt))
			if len(lags) == bb.N {
				close(done)
			}
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer rc.Close()
		if _, err := svc.PutEndpoint(ctx, "erp", events.Endpoint{URL: rc.URL, Events: []string{"*"}}); err != nil {
			b.Fatal(err)
		}
		runCtx, cancel := context.WithCancel(ctx)
		stopped := make(chan struct{})
		go func() { defer close(stopped); svc.Run(runCtx, func(error) {}) }()
		bb.ResetTimer()
		began := time.Now()
		for i := range bb.N {
			no := fmt.Sprintf("O%d", i%200)
			if err := db.Tx(ctx, func(ctx context.Context) error {
				return events.Enqueue(ctx, env, "order.paid", no, map[string]any{"order_no": no, "amount_fen": i})
			}); err != nil {
				b.Fatal(err)
			}
		}
		written := time.Since(began)
		select {
		case <-done:
		case <-time.After(2*written + time.Minute):
			b.Fatalf("only %d of %d delivered", len(lags), bb.N)
		}
		delivered := time.Since(began)
		bb.StopTimer()
		cancel()
		<-stopped
		slices.Sort(lags)
		bb.ReportMetric(written.Seconds()/delivered.Seconds(), "delivered/written")
		bb.ReportMetric(float64(bb.N)/written.Seconds(), "written/s")
		bb.ReportMetric(float64(lags[len(lags)/2].Milliseconds()), "lag-p50-ms")
		bb.ReportMetric(float64(lags[len(lags)*99/100].Milliseconds()), "lag-p99-ms")
	})
}
