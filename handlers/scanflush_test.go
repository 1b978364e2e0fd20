package handlers

import (
	"context"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
)

// TestScanCountsFlushedWithinASecond: the workers write the scans a replica counted in memory every
// second, whatever the sweep interval, so a replica that dies loses at most its last second of counts.
func TestScanCountsFlushedWithinASecond(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{wechatLink: qrWechatLink, alipayLink: qrAlipayLink, gateway: true, clock: testclock.New(time.Now().UTC())})
		qrSeed(t, e)
		tea := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.svc.RunWorkers(ctx, time.Hour) }()
		defer func() { cancel(); <-done }()
		for range 3 {
			e.get(t, "/api/v1/scan/"+tea.Code, "")
		}
		deadline := time.Now().Add(5 * time.Second)
		for {
			var n int64
			db.Conn(context.Background()).Model(&models.QRScan{}).Select("COALESCE(SUM(count), 0)").Scan(&n)
			if n == 3 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d scans written 5 s after they were counted, want 3 (the sweep interval is an hour)", n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
