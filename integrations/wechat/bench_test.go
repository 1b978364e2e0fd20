package wechat_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// BenchmarkNotification measures WeChat Pay payment notifications. verify_decrypt is the cost of the
// RSA signature check and the AES-GCM decryption alone (ParseNotification); applied is the whole path a
// notification takes: HTTP to the hub, verification, decryption and core applying the payment in one
// transaction on SQLite (stock committed, order paid, event written). The ratio of the two says how much
// of a notification's cost is cryptography.
func BenchmarkNotification(b *testing.B) {
	h := newHub(b, dbtest.SQLite(b), hubOptions{})
	ctx := context.Background()
	hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "MILK", 1_000_000, "bench"))
	token, _ := h.login("")

	b.Run("verify_decrypt", func(b *testing.B) {
		hdr, body := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, "202611230000000000000001", "4200000000000000000000009999", 1850)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			if _, err := h.pay.ParseNotification(ctx, hdr, body); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("applied", func(b *testing.B) {
		type note struct {
			h    http.Header
			body []byte
			no   string
		}
		notes := make([]note, b.N)
		for i := range notes {
			var o core.OrderView
			h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(201).JSON(&o)
			hdr, body := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, o.OrderNo, fmt.Sprintf("42%026d", i), o.TotalFen)))
			notes[i] = note{hdr, body, o.OrderNo}
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				n := notes[next.Add(1)-1]
				if r := h.post(n.h, n.body); r.Status != http.StatusNoContent {
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
