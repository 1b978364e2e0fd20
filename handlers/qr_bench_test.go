package handlers

// Benchmarks of scanning a shelf code: the mini-programs' scan endpoint over loopback HTTP against a
// real hub on SQLite, and core's Scan called directly as the baseline. Each reports scans/s.
//
//	go test -run XXX -bench Scan -benchtime 2s ./handlers/

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"github.com/o2ohub/o2ohub/qrcode"
)

// qrBenchParallelism is goroutines per GOMAXPROCS: scans wait on the database and the network, so a
// few more callers than cores keep the hub busy.
const qrBenchParallelism = 4

// qrBenchHub is a hub on a fresh SQLite database with the QR test catalog and TEA's shelf code at S01,
// whose scans look up the store, the product, its stock and the three nearest stores that have it.
func qrBenchHub(b *testing.B) (*hubEnv, string) {
	b.Helper()
	e := newQREnv(b, dbtest.SQLite(b), qrConfig{})
	qrSeed(b, e)
	return e, e.qrCreate(b, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"}).Code
}

// qrBenchCounted checks, after the timed part, that every scan was counted once.
func qrBenchCounted(b *testing.B, e *hubEnv, want int) {
	b.Helper()
	e.qrFlush(b)
	var sum int64
	if err := e.db.Conn(context.Background()).Table("qr_scans").Select("COALESCE(SUM(count), 0)").Scan(&sum).Error; err != nil {
		b.Fatal(err)
	}
	if sum != int64(want) {
		b.Fatalf("%d scans counted, want %d", sum, want)
	}
}

func BenchmarkScan(b *testing.B) {
	e, code := qrBenchHub(b)
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 256}
	b.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr, Timeout: 15 * time.Second}
	url := e.srv.URL + "/api/v1/scan/" + code
	var failed atomic.Int64
	b.SetParallelism(qrBenchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			req.Header.Set("User-Agent", qrUAWeChat)
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scans/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d scans failed", n, b.N)
	}
	qrBenchCounted(b, e, b.N)
}

func BenchmarkScanCore(b *testing.B) {
	e, code := qrBenchHub(b)
	ctx := context.Background()
	var failed atomic.Int64
	b.SetParallelism(qrBenchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if v, err := e.svc.Shelf.Scan(ctx, code, shelf.ScanFrom{Channel: qrcode.ChannelWeChat, Count: true}); err != nil || v.Available != 7 {
				failed.Add(1)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "scans/s")
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d scans failed", n, b.N)
	}
	qrBenchCounted(b, e, b.N)
}
