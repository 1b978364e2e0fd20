package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"gorm.io/gorm"
)

// errProviderDown is the failure of flakyGateway's prepays.
var errProviderDown = errors.New("provider down")

// flakyGateway is a provider double whose prepays fail while fail is set, first running during (with the
// request's context), as a provider round trip that the shopper abandons would.
type flakyGateway struct {
	fail   bool
	during func()
}

func (g *flakyGateway) Provider() string { return "flaky" }

func (g *flakyGateway) Prepay(_ context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	if g.during != nil {
		g.during()
	}
	if g.fail {
		return core.PrepayResult{}, errProviderDown
	}
	return core.PrepayResult{PrepayID: "P" + req.OrderNo, Params: map[string]any{"prepay_id": "P" + req.OrderNo}}, nil
}

// TestFailedPrepayFreesItsClaim: a prepay that fails frees the order's payment claim, even when the
// shopper's request is cancelled meanwhile, so that paying again works at once; a claim that cannot be
// freed is an error the caller sees, not something ignored.
func TestFailedPrepayFreesItsClaim(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		gw := &flakyGateway{fail: true}
		f.svc.RegisterGateway(gw)
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, "S01", "MILK", 5, "test"))
		alice := f.member(t, "alice")
		o := f.order(t, alice, "MILK", 1)

		// The shopper leaves while the provider fails.
		ctx, cancel := context.WithCancel(f.ctx)
		gw.during = cancel
		if _, err := f.svc.StartPayment(ctx, alice, o.OrderNo, "flaky"); !errors.Is(err, errProviderDown) {
			t.Fatalf("StartPayment = %v, want the provider's failure", err)
		}
		if n := f.count(t, "payment_attempts", "order_id IS NOT NULL"); n != 0 {
			t.Errorf("%d payment claims left after a failed prepay, want 0", n)
		}
		gw.fail, gw.during = false, nil
		v, err := f.svc.StartPayment(f.ctx, alice, o.OrderNo, "flaky")
		if err != nil || v.Params["prepay_id"] != "P"+o.OrderNo {
			t.Fatalf("paying again = %+v, %v; want a prepay at once", v, err)
		}

		// A claim the database will not delete is reported with the provider's failure.
		errDisk := errors.New("disk full")
		conn := db.Conn(f.ctx)
		if err := conn.Callback().Delete().Before("gorm:delete").Register("test:fail_claims", func(tx *gorm.DB) {
			if tx.Statement.Table == "payment_attempts" {
				tx.AddError(errDisk)
			}
		}); err != nil {
			t.Fatal(err)
		}
		defer conn.Callback().Delete().Remove("test:fail_claims")
		o2 := f.order(t, alice, "MILK", 1)
		gw.fail = true
		_, err = f.svc.StartPayment(f.ctx, alice, o2.OrderNo, "flaky")
		if !errors.Is(err, errProviderDown) || !errors.Is(err, errDisk) {
			t.Fatalf("StartPayment with a claim that cannot be freed = %v, want the provider's failure and the database's", err)
		}
		if _, err := f.svc.StartPayment(f.ctx, alice, o2.OrderNo, "flaky"); !errors.Is(err, domain.ErrConflict) {
			t.Errorf("paying again while the stuck claim is fresh = %v, want a conflict", err)
		}
	})
}
