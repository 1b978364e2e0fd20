package loyalty_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestPurchasesOutsideOrders drives the purchase API the till and other features use: a purchase paid
// partly with points spent under its source earns once, becomes available when handed over, and its
// refund reverses exactly; a spend is all or nothing.
func TestPurchasesOutsideOrders(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		clock := testclock.New(time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC))
		svc := loyalty.New(domain.NewEnv(db, clock, slog.New(slog.DiscardHandler)), loyalty.Defaults{})
		m := models.Member{DisplayName: "m", CreatedAt: clock.Now(), UpdatedAt: clock.Now()}
		if err := db.Conn(ctx).Create(&m).Error; err != nil {
			t.Fatal(err)
		}
		hubtest.Must(svc.Adjust(ctx, m.ID, loyalty.Adjustment{Points: 100, Reason: "start"}, "tester"))
		tx := func(fn func(ctx context.Context) error) error { return db.Tx(ctx, fn) }
		if err := tx(func(ctx context.Context) error { return svc.Spend(ctx, m.ID, "sale:S01:1", 101) }); !errors.Is(err, domain.ErrConflict) {
			t.Fatalf("spending more than there is: %v", err)
		}
		sale := loyalty.Purchase{MemberID: m.ID, Source: "sale:S01:1", PaidFen: 9999, PointsUsed: 100, PaidAt: clock.Now()}
		for range 2 { // a retried sale records once
			if err := tx(func(ctx context.Context) error {
				if err := svc.Spend(ctx, m.ID, sale.Source, 100); err != nil {
					return err
				}
				if err := svc.Purchased(ctx, sale); err != nil {
					return err
				}
				return svc.PurchaseFulfilled(ctx, m.ID, sale.Source)
			}); err != nil {
				t.Fatal(err)
			}
		}
		sum := hubtest.Must(svc.Summary(ctx, m.ID))
		if sum.Points.Available != 0 || sum.Points.Pending != 99 {
			t.Fatalf("points %+v, want 99 pending", sum.Points)
		}
		clock.Add(7 * 24 * time.Hour)
		hubtest.Must(svc.Sweep(ctx, 10))
		if p := hubtest.Must(svc.Summary(ctx, m.ID)).Points; p.Available != 99 {
			t.Fatalf("points %+v, want 99 available after the hold", p)
		}
		for i, cum := range []int64{3333, 6666, 9999} {
			src := []string{"return:1", "return:2", "return:3"}[i]
			if err := tx(func(ctx context.Context) error { return svc.PurchaseRefunded(ctx, m.ID, sale.Source, src, cum) }); err != nil {
				t.Fatal(err)
			}
		}
		if p := hubtest.Must(svc.Summary(ctx, m.ID)).Points; p.Available != 100 || p.Debt != 0 {
			t.Fatalf("points %+v, want the 100 spent back and the 99 earned gone", p)
		}
	})
}
