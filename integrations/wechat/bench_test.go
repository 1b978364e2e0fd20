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
// of a notification's cost is cryptography.
//
// bare is what a user would write instead of the hub: a net/http handler using wechatpay-go's own notify
// handler, then one gorm transaction (the order read, a payment row inserted, the order set to paid) on a
// SQLite file of its own, opened with the hub's driver, pragmas (WAL, synchronous=FULL) and pool size.
// applied also runs the same number of notifications through bare right after the hub's, untimed, and
// reports bare's rate beside its own and hub/bare, so the ratio comes from one run even with -count
// (which repeats each sub-benchmark in turn). applied has GOMAXPROCS notifications in flight at once (as
// many as the machine has cores); applied_x8 eight times as many, as a busy sale brings, where the
// hub's group commit has notifications to share a commit with (bare gets the same concurrency).
func BenchmarkNotification(b *testing.B) {
	h := newHub(b, dbtest.SQLite(b), hubOptions{})
	ctx := context.Background()
	hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "MILK", 1_000_000, "bench"))
	token, _ := h.login("")
	bare := newBareNotify(b)

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
		notes := bare.prepare(b, b.N)
		b.ReportAllocs()
		b.ResetTimer()
		elapsed := bare.run(b, notes, 1)
		b.StopTimer()
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "notifications/s")
	})

	for _, inFlight := range []int{1, 8} {
		name := map[int]string{1: "applied", 8: "applied_x8"}[inFlight]
		b.Run(name, func(b *testing.B) { benchApplied(b, h, token, bare, inFlight) })
	}
}

// benchTxn numbers the benchmark's WeChat transactions across runs (-count), as WeChat never repeats one.
var benchTxn atomic.Int64

// benchApplied is BenchmarkNotification's applied: inFlight × GOMAXPROCS notifications at once, through
// the hub, then as many through bare.
func benchApplied(b *testing.B, h *hub, token string, bare *bareNotify, inFlight int) {
	notes := make([]signedNote, b.N)
	for i := range notes {
		var o core.OrderView
		h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(201).JSON(&o)
		hdr, body := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, o.OrderNo, fmt.Sprintf("42%026d", benchTxn.Add(1)), o.CashFen)))
		notes[i] = signedNote{hdr, body}
	}
	bareNotes := bare.prepare(b, b.N)
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(inFlight)
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
	hubElapsed := b.Elapsed()
	if paid := h.Count("orders", "status = ?", "paid"); paid < int64(b.N) {
		b.Fatalf("%d orders paid after %d notifications", paid, b.N)
	}
	bareElapsed := bare.run(b, bareNotes, inFlight)
	rate, bareRate := float64(b.N)/hubElapsed.Seconds(), float64(b.N)/bareElapsed.Seconds()
	b.ReportMetric(rate, "notifications/s")
	b.ReportMetric(bareRate, "bare_notifications/s")
	b.ReportMetric(rate/bareRate, "hub/bare")
}

// signedNote is one signed WeChat Pay notification: its headers and body.
type signedNote struct {
	h    http.Header
	body []byte
}

// bareOrder and barePayment are the two tables of the bare handler: the least a shop needs to record that
// an order was paid.
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

// bareNotify is a bare wechatpay-go notification handler on its own SQLite file, served over HTTP.
type bareNotify struct {
	db     *gorm.DB
	client *httpx.Client
	seq    atomic.Int64 // numbers the orders and transactions across prepare calls
}

// newBareNotify creates the bare handler's database and schema and serves it until b ends.
func newBareNotify(b *testing.B) *bareNotify {
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
	b.Cleanup(srv.Close)
	return &bareNotify{db: db, client: &httpx.Client{Base: srv.URL, HTTP: srv.Client()}}
}

// prepare inserts n pending orders and signs a payment notification for each.
func (bn *bareNotify) prepare(b *testing.B, n int) []signedNote {
	orders := make([]bareOrder, n)
	notes := make([]signedNote, n)
	for i := range notes {
		seq := bn.seq.Add(1)
		orders[i] = bareOrder{OrderNo: fmt.Sprintf("2026112300%014d", seq), TotalFen: 1850, Status: "pending"}
		hdr, body := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, orders[i].OrderNo, fmt.Sprintf("43%026d", seq), 1850)))
		notes[i] = signedNote{hdr, body}
	}
	if err := bn.db.CreateInBatches(orders, 500).Error; err != nil {
		b.Fatal(err)
	}
	return notes
}

// run posts notes in parallel (b.N of them, in RunParallel's shape, inFlight × GOMAXPROCS at once),
// checks that every order was paid and returns the wall time the posting took.
func (bn *bareNotify) run(b *testing.B, notes []signedNote, inFlight int) time.Duration {
	var next atomic.Int64
	start := time.Now()
	b.SetParallelism(inFlight)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := notes[next.Add(1)-1]
			if r := bn.client.Send(b, httpx.Request{Method: "POST", Path: "/", Body: n.body, Header: n.h}); r.Status != http.StatusNoContent {
				b.Errorf("notification answered %d %s", r.Status, r.Body)
				return
			}
		}
	})
	elapsed := time.Since(start)
	var unpaid int64
	if err := bn.db.Model(&bareOrder{}).Where("status = ?", "pending").Count(&unpaid).Error; err != nil {
		b.Fatal(err)
	}
	if unpaid > 0 {
		b.Fatalf("%d orders unpaid after %d notifications", unpaid, len(notes))
	}
	return elapsed
}
