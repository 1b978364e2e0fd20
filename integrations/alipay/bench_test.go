package alipay_test

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/integrations/alipay/alipayfake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// BenchmarkNotification measures Alipay's trade_status_sync payment notifications. verify is the cost
// of ParseNotification alone on a prepared signed form: the RSA2 (SHA256withRSA, 2048-bit) verification
// and the normalisation. applied is the whole path a notification takes: a form POST to the hub over
// loopback, verification, and core applying the payment in one transaction on SQLite (stock committed,
// order paid, event written). The ratio of the two says how much of a notification's cost is the
// signature check.
func BenchmarkNotification(b *testing.B) {
	h := newHub(b, dbtest.SQLite(b), alipayfake.PublicKeyMode)
	ctx := context.Background()
	hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "MILK", 1_000_000, "bench"))
	token, _ := h.login()

	b.Run("verify", func(b *testing.B) {
		form := h.signed("202611230000000000000001", "2026112322001000000000009999", "TRADE_SUCCESS", "18.50", nil)
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := h.client.ParseNotification(form); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("applied", func(b *testing.B) {
		// b.N unpaid orders and their signed notifications, prepared outside the timer. Orders are
		// placed over HTTP one after the other; the RSA signatures are made in parallel.
		orders := make([]core.OrderView, b.N)
		for i := range orders {
			orders[i] = h.place(token, "MILK", 1)
		}
		bodies := make([]string, b.N)
		var wg sync.WaitGroup
		var next atomic.Int64
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := int(next.Add(1) - 1); i < len(orders); i = int(next.Add(1) - 1) {
					o := orders[i]
					form := h.signed(o.OrderNo, fmt.Sprintf("2026112322001%015d", i), "TRADE_SUCCESS", cn.Yuan(o.TotalFen), nil)
					bodies[i] = form.Encode()
				}
			}()
		}
		wg.Wait()
		next.Store(0)
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				body := bodies[next.Add(1)-1]
				if r := h.post("", body); r.Status != http.StatusOK || string(r.Body) != "success" {
					b.Errorf("notification answered %d %s", r.Status, r.Body)
					return
				}
			}
		})
		b.StopTimer()
		if paid := h.Count("orders", "status = ?", "paid"); paid < int64(b.N) {
			b.Fatalf("%d orders paid after %d notifications", paid, b.N)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "notifications/s")
	})
}
