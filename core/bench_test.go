package core_test

// Throughput benchmarks of the write paths, on every database dbtest provides. Each timed round runs on a
// fresh, migrated database (dbtest opens one per call of the benchmark function), so the tables do not
// grow from round to round; setup and the correctness checks afterwards are kept out of the timer.
//
// Compare the ops/s of each benchmark with BenchmarkBaselineTx on the same database in the same run: the
// baseline is the cheapest write transaction db.Tx can run, at the same parallelism.
//
//	O2OHUB_TEST_POSTGRES=postgres://... go test -run XXX -bench . -benchtime 2s ./core

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

const (
	benchStore       = "B01"
	benchSKUCount    = 20
	benchMemberCount = 16
	// benchParallelism × GOMAXPROCS goroutines issue requests, like concurrent HTTP handlers.
	benchParallelism = 4
)

// benchEnv is a service over a store stocking benchSKUCount products, each with catalog.MaxOnHand units,
// and benchMemberCount signed-in members.
type benchEnv struct {
	svc     *core.Service
	db      *models.DB
	ctx     context.Context
	skus    []string
	members []int64
}

func newBenchEnv(b *testing.B, db *models.DB) *benchEnv {
	b.Helper()
	ctx := context.Background()
	svc := core.New(domain.NewEnv(db, nil, slog.New(slog.NewTextHandler(io.Discard, nil))), core.Options{OrderTTL: time.Hour, SessionTTL: time.Hour, DeliveryRadiusM: 10000, PublicURL: "http://127.0.0.1"})
	e := &benchEnv{svc: svc, db: db, ctx: ctx}
	if _, err := svc.Catalog.PutStore(ctx, catalog.StoreInput{Code: benchStore, Name: "Bench store", Lat: 31.2354, Lng: 121.4757}); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < benchSKUCount; i++ {
		sku := fmt.Sprintf("SKU%02d", i)
		if _, err := svc.Catalog.PutProduct(ctx, catalog.ProductInput{SKU: sku, Name: "Product " + sku, PriceFen: int64(100 + i)}); err != nil {
			b.Fatal(err)
		}
		if _, err := svc.Catalog.SetStock(ctx, benchStore, sku, catalog.MaxOnHand, "bench"); err != nil {
			b.Fatal(err)
		}
		e.skus = append(e.skus, sku)
	}
	for i := 0; i < benchMemberCount; i++ {
		user := fmt.Sprintf("user%d", i)
		login, err := svc.Members.SignIn(ctx, "sandbox", user, user)
		if err != nil {
			b.Fatal(err)
		}
		e.members = append(e.members, login.Member.ID)
	}
	return e
}

// createOrder places a pickup order for one unit of sku.
func (e *benchEnv) createOrder(member int64, sku string) (core.OrderView, error) {
	return e.svc.CreateOrder(e.ctx, member, core.OrderInput{Store: benchStore, Fulfillment: core.FulfillmentPickup, Items: []core.ItemInput{{SKU: sku, Qty: 1}}})
}

// stockSums returns the on-hand and reserved totals over the bench store's stock rows.
func (e *benchEnv) stockSums(b *testing.B) (onHand, reserved int64) {
	b.Helper()
	for _, sku := range e.skus {
		v, err := e.svc.Catalog.Stock(e.ctx, benchStore, sku)
		if err != nil {
			b.Fatal(err)
		}
		onHand += v.OnHand
		reserved += v.Reserved
	}
	return onHand, reserved
}

func (e *benchEnv) count(b *testing.B, table, where string, args ...any) int64 {
	b.Helper()
	var n int64
	if err := e.db.Conn(e.ctx).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		b.Fatal(err)
	}
	return n
}

// benchRunParallel runs op b.N times in total from benchParallelism × GOMAXPROCS goroutines. op gets
// the goroutine's number and the operation's number (0 … b.N-1); its first error stops that goroutine
// and fails the benchmark.
func benchRunParallel(b *testing.B, op func(g int, i int64) error) {
	b.SetParallelism(benchParallelism)
	var goroutines, next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		g := int(goroutines.Add(1) - 1)
		for pb.Next() {
			if err := op(g, next.Add(1)-1); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// benchReport stops the timer and reports the throughput of the timed part.
func benchReport(b *testing.B) {
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

func asB(tb testing.TB) *testing.B { return tb.(*testing.B) }

// BenchmarkBaselineTx is the cheapest write transaction: one UPDATE of one stocks row's updated_at
// through db.Tx, each goroutine on its own row.
func BenchmarkBaselineTx(b *testing.B) {
	dbtest.Each(b, func(tb testing.TB, db *models.DB) {
		b := asB(tb)
		e := newBenchEnv(b, db)
		var ids []int64
		if err := db.Conn(e.ctx).Model(&models.Stock{}).Order("id").Pluck("id", &ids).Error; err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		benchRunParallel(b, func(g int, _ int64) error {
			id := ids[g%len(ids)]
			return db.Tx(e.ctx, func(ctx context.Context) error {
				return db.Conn(ctx).Model(&models.Stock{}).Where("id = ?", id).Update("updated_at", time.Now().UTC()).Error
			})
		})
		benchReport(b)
	})
}

// BenchmarkCreateOrder places one-unit orders: "spread" over benchSKUCount SKUs (little row contention),
// "hot_sku" all on one SKU (every reservation updates the same stock row).
func BenchmarkCreateOrder(b *testing.B) {
	for _, hot := range []bool{false, true} {
		name := map[bool]string{false: "spread", true: "hot_sku"}[hot]
		b.Run(name, func(b *testing.B) {
			dbtest.Each(b, func(tb testing.TB, db *models.DB) {
				b := asB(tb)
				e := newBenchEnv(b, db)
				b.ResetTimer()
				benchRunParallel(b, func(g int, i int64) error {
					sku := e.skus[i%int64(len(e.skus))]
					if hot {
						sku = e.skus[0]
					}
					_, err := e.createOrder(e.members[g%len(e.members)], sku)
					return err
				})
				benchReport(b)
				hotReserved, err := e.svc.Catalog.Stock(e.ctx, benchStore, e.skus[0])
				if err != nil {
					b.Fatal(err)
				}
				if _, reserved := e.stockSums(b); reserved != int64(b.N) || (hot && hotReserved.Reserved != int64(b.N)) {
					b.Errorf("reserved %d units (hot SKU %d) after %d orders", reserved, hotReserved.Reserved, b.N)
				}
			})
		})
	}
}

// BenchmarkApplyPayment applies payment notifications: "new" pays b.N distinct unpaid orders (spread over
// benchSKUCount SKUs) once each; "duplicate" re-delivers the notification of one already-paid order b.N
// times, the idempotent path.
func BenchmarkApplyPayment(b *testing.B) {
	b.Run("new", func(b *testing.B) {
		dbtest.Each(b, func(tb testing.TB, db *models.DB) {
			b := asB(tb)
			e := newBenchEnv(b, db)
			orders := benchPreCreateOrders(b, e, b.N)
			b.ResetTimer()
			benchRunParallel(b, func(_ int, i int64) error {
				o := orders[i]
				res, err := e.svc.ApplyPayment(e.ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo,
					TransactionID: fmt.Sprintf("bench-txn-%d", i), AmountFen: o.TotalFen, PaidAt: time.Now().UTC()})
				if err == nil && res != core.PaymentApplied {
					err = fmt.Errorf("payment of order %s: %s, want %s", o.OrderNo, res, core.PaymentApplied)
				}
				return err
			})
			benchReport(b)
			if n := e.count(b, "orders", "status = ?", string(core.StatusPaid)); n != int64(b.N) {
				b.Errorf("%d orders paid after %d payments", n, b.N)
			}
			onHand, reserved := e.stockSums(b)
			if want := int64(benchSKUCount)*catalog.MaxOnHand - int64(b.N); onHand != want || reserved != 0 {
				b.Errorf("after %d payments: on_hand %d (want %d), reserved %d (want 0)", b.N, onHand, want, reserved)
			}
		})
	})
	b.Run("duplicate", func(b *testing.B) {
		dbtest.Each(b, func(tb testing.TB, db *models.DB) {
			b := asB(tb)
			e := newBenchEnv(b, db)
			o := benchPreCreateOrders(b, e, 1)[0]
			n := core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, TransactionID: "bench-dup", AmountFen: o.TotalFen, PaidAt: time.Now().UTC()}
			if res, err := e.svc.ApplyPayment(e.ctx, n); err != nil || res != core.PaymentApplied {
				b.Fatalf("first payment: %s, %v", res, err)
			}
			b.ResetTimer()
			benchRunParallel(b, func(_ int, _ int64) error {
				res, err := e.svc.ApplyPayment(e.ctx, n)
				if err == nil && res != core.PaymentDuplicate {
					err = fmt.Errorf("re-delivered payment: %s, want %s", res, core.PaymentDuplicate)
				}
				return err
			})
			benchReport(b)
			if c := e.count(b, "payments", "1 = 1"); c != 1 {
				b.Errorf("%d payments recorded, want 1", c)
			}
			if c := e.count(b, "events", "topic = ?", "order.paid"); c != 1 {
				b.Errorf("%d order.paid events, want 1", c)
			}
		})
	})
}

// benchPreCreateOrders places n unpaid one-unit orders, order i on SKU i mod benchSKUCount, from a few
// goroutines. It runs before the timer starts.
func benchPreCreateOrders(b *testing.B, e *benchEnv, n int) []core.OrderView {
	b.Helper()
	orders := make([]core.OrderView, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs error
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				o, err := e.createOrder(e.members[i%int64(len(e.members))], e.skus[i%int64(len(e.skus))])
				if err != nil {
					mu.Lock()
					errs = errors.Join(errs, err)
					mu.Unlock()
					return
				}
				orders[i] = o
			}
		}()
	}
	wg.Wait()
	if errs != nil {
		b.Fatalf("pre-creating %d orders: %v", n, errs)
	}
	return orders
}
