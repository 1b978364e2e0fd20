package wechat_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
)

// BenchmarkNotification measures WeChat Pay payment notifications. verify_decrypt is the cost of the
// RSA signature check and the AES-GCM decryption alone (ParseNotification); applied is the whole path a
// notification takes: HTTP to the hub, verification, decryption and core applying the payment in one
// transaction on SQLite (stock committed, order paid, event written). The ratio of the two says how much
// of a notification's cost is cryptography. bare is what a user would write instead of the hub: a
// net/http handler using wechatpay-go's own notify handler and one gorm transaction (a payment row
// inserted, the order row set to paid) on a SQLite file of its own, opened with the hub's driver and
// pragmas (WAL, synchronous=FULL) and pool size. applied reports hub/bare, its rate over bare's from the
// same run, when bare ran before it.
func BenchmarkNotification(b *testing.B) {
	h := newHub(b, dbtest.SQLite(b), hubOptions{})
	ctx := context.Background()
	hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "MILK", 1_000_000, "bench"))
	token, _ := h.login("")
	var bareRate float64 // notifications/s of bare's last (largest) run, for applied's ratio

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

	b.Run("bare", func(b *testing.B) {
		bareRate = benchBare(b)
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
		rate := float64(b.N) / b.Elapsed().Seconds()
		b.ReportMetric(rate, "notifications/s")
		if bareRate > 0 {
			b.ReportMetric(rate/bareRate, "hub/bare")
		}
	})
}

// bareOrder and barePayment are the two tables of benchBare's handler: the least a shop needs to record
// that an order was paid.
type bareOrder struct {
	ID       int64
	OrderNo  string `gorm:"uniqueIndex;not null"`
	TotalFen int64  `gorm:"not null"`
	Status   string `gorm:"not null"`
	PaidAt   *time.Time
}

type barePayment struct {
	ID            int64
	OrderID       int64  `gorm:"not null;index"`
	TransactionID string `gorm:"uniqueIndex;not null"`
	AmountFen     int64  `gorm:"not null"`
	CreatedAt     time.Time
}

// benchBare runs b.N signed payment notifications in parallel against a bare wechatpay-go handler with
// one gorm transaction per notification, on a fresh SQLite file, and returns notifications per second.
func benchBare(b *testing.B) float64 {
	path := filepath.Join(b.TempDir(), "bare.db")
	db, err := gorm.Open(sqlite.Open(path+"?_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"),
		&gorm.Config{Logger: logger.Discard})
	if err != nil {
		b.Fatal(err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sqlDB.Close() })
	sqlDB.SetMaxOpenConns(4) // as models.Open does for SQLite
	sqlDB.SetMaxIdleConns(4)
	if err := db.AutoMigrate(&bareOrder{}, &barePayment{}); err != nil {
		b.Fatal(err)
	}

	handler, err := notify.NewRSANotifyHandler(keys.APIv3Key, verifiers.NewSHA256WithRSAPubkeyVerifier(keys.PublicKeyID, keys.PlatformKey.PublicKey))
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tx payments.Transaction
		if _, err := handler.ParseNotifyRequest(r.Context(), r, &tx); err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		if tx.OutTradeNo == nil || tx.TransactionId == nil || tx.Amount == nil || tx.Amount.Total == nil || tx.TradeState == nil || *tx.TradeState != "SUCCESS" {
			http.Error(w, "not a successful transaction", http.StatusBadRequest)
			return
		}
		err := db.WithContext(r.Context()).Transaction(func(g *gorm.DB) error {
			var o bareOrder
			if err := g.Where("order_no = ?", *tx.OutTradeNo).Take(&o).Error; err != nil {
				return err
			}
			if o.TotalFen != *tx.Amount.Total {
				return fmt.Errorf("order %s: paid %d, owed %d", o.OrderNo, *tx.Amount.Total, o.TotalFen)
			}
			if err := g.Create(&barePayment{OrderID: o.ID, TransactionID: *tx.TransactionId, AmountFen: *tx.Amount.Total}).Error; err != nil {
				return err
			}
			return g.Model(&bareOrder{}).Where("id = ? AND status = ?", o.ID, "pending").
				Updates(map[string]any{"status": "paid", "paid_at": time.Now()}).Error
		})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	client := &httpx.Client{Base: srv.URL, HTTP: srv.Client()}

	type note struct {
		h    http.Header
		body []byte
	}
	orders := make([]bareOrder, b.N)
	notes := make([]note, b.N)
	for i := range notes {
		orders[i] = bareOrder{OrderNo: fmt.Sprintf("2026112300%014d", i), TotalFen: 1850, Status: "pending"}
		hdr, body := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, orders[i].OrderNo, fmt.Sprintf("42%026d", i), 1850)))
		notes[i] = note{hdr, body}
	}
	if err := db.CreateInBatches(orders, 500).Error; err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := notes[next.Add(1)-1]
			if r := client.Send(b, httpx.Request{Method: "POST", Path: "/", Body: n.body, Header: n.h}); r.Status != http.StatusNoContent {
				b.Errorf("notification answered %d %s", r.Status, r.Body)
				return
			}
		}
	})
	b.StopTimer()
	var paid int64
	if err := db.Model(&bareOrder{}).Where("status = ?", "paid").Count(&paid).Error; err != nil {
		b.Fatal(err)
	}
	if paid < int64(b.N) {
		b.Fatalf("%d orders paid after %d notifications", paid, b.N)
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "notifications/s")
	return rate
}
