package core_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestPointsNeverGoNegativeOrGetLost plays random sequences of orders (with and without points, some
// paid entirely by them), payments (some notified twice), fulfilments, partial refunds, cancellations,
// expiries, adjustments and merges, and checks after every step that no balance is negative, that the
// ledger sums to available + pending - debt, and that the lots hold exactly those points. The seed is
// logged; O2OHUB_LOYALTY_SEED replays one.
func TestPointsNeverGoNegativeOrGetLost(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("O2OHUB_LOYALTY_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (O2OHUB_LOYALTY_SEED=%d replays it)", seed, seed)
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
		e := loSetup(t, db, func(st *loyalty.Settings) {
			st.EarnPointsPerYuan, st.MaxSharePct, st.HoldDays, st.ExpiryDays = 7, 100, 1, 3
			st.Levels = []loyalty.Level{{Code: "basic", Name: "普通"}, {Code: "silver", Name: "银卡", ThresholdFen: 20000, MultiplierPct: 150}}
		})
		hubtest.Must(e.svc.Catalog.PutStore(e.ctx, catalog.StoreInput{Code: "S01", Name: "店 S01", Lat: soLat, Lng: soLng, AutoAccept: true}))
		for _, sku := range []string{"MILK", "EGG"} {
			hubtest.Must(e.svc.Catalog.SetStock(e.ctx, "S01", sku, 1_000_000, "test"))
		}
		var members []int64
		for i := range 4 {
			members = append(members, e.member(t, fmt.Sprintf("p%d", i)))
		}
		type ord struct {
			view   core.OrderView
			member int64
		}
		var unpaid, paid, ready []ord
		pick := func(list []ord) (ord, []ord) {
			i := rng.IntN(len(list))
			o := list[i]
			return o, append(list[:i:i], list[i+1:]...)
		}
		admin := staff.AdminTokenActor
		expected := func(err error, kinds ...error) {
			t.Helper()
			for _, k := range kinds {
				if errors.Is(err, k) {
					return
				}
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
		}
		steps := 160
		for step := range steps {
			m := members[rng.IntN(len(members))]
			var did string
			switch op := rng.IntN(10); {
			case op < 3:
				items := []core.ItemInput{{SKU: "MILK", Qty: 1 + rng.Int64N(3)}}
				if rng.IntN(2) == 0 {
					items = append(items, core.ItemInput{SKU: "EGG", Qty: 1})
				}
				points := []int64{0, 0, rng.Int64N(300), 1 << 30}[rng.IntN(4)]
				v, err := e.place(t, m, "S01", items, points)
				expected(err, domain.ErrConflict)
				did = fmt.Sprintf("place %d points: %v", points, err)
				if err == nil {
					did = fmt.Sprintf("place %s, %d points, cash %d", v.OrderNo, v.PointsUsed, v.CashFen)
					if v.Status == core.StatusPaid {
						paid = append(paid, ord{v, m})
					} else {
						unpaid = append(unpaid, ord{v, m})
					}
				}
			case op < 5 && len(unpaid) > 0:
				var o ord
				o, unpaid = pick(unpaid)
				r := e.payCash(t, o.view)
				if rng.IntN(3) == 0 {
					e.payCash(t, o.view) // the same notification again
				}
				did = fmt.Sprintf("pay %s: %s", o.view.OrderNo, r)
				if r == core.PaymentApplied {
					paid = append(paid, o)
				}
			case op < 6 && len(paid) > 0:
				var o ord
				o, paid = pick(paid)
				_, err := e.svc.MarkReady(e.ctx, admin, o.view.OrderNo)
				if err == nil {
					_, err = e.svc.CompletePickup(e.ctx, admin, o.view.OrderNo)
				}
				expected(err, domain.ErrConflict)
				did = fmt.Sprintf("fulfil %s: %v", o.view.OrderNo, err)
				if err == nil {
					ready = append(ready, o)
				}
			case op < 7 && len(paid)+len(ready) > 0:
				list := &paid
				if len(ready) > 0 && (len(paid) == 0 || rng.IntN(2) == 0) {
					list = &ready
				}
				o := (*list)[rng.IntN(len(*list))]
				basis := o.view.CashFen
				if basis == 0 {
					basis = o.view.PointsValueFen
				}
				amount := 1 + rng.Int64N(basis)
				_, err := e.svc.RefundOrder(e.ctx, o.view.OrderNo, amount, "part")
				expected(err, domain.ErrInvalidArgument, domain.ErrConflict)
				did = fmt.Sprintf("refund %d of %s: %v", amount, o.view.OrderNo, err)
			case op < 8 && len(unpaid) > 0:
				var o ord
				o, unpaid = pick(unpaid)
				_, err := e.svc.CancelOrder(e.ctx, o.member, o.view.OrderNo)
				expected(err, domain.ErrNotFound, domain.ErrConflict) // merged away, or expired
				did = fmt.Sprintf("cancel %s: %v", o.view.OrderNo, err)
			case op < 9:
				d := time.Duration(rng.Int64N(int64(36 * time.Hour)))
				e.clock.Add(d)
				n0 := hubtest.Must(e.svc.RecordLoyaltyDue(e.ctx, 100))
				n1 := hubtest.Must(e.svc.ExpireDue(e.ctx, 100))
				n2 := hubtest.Must(e.svc.Loyalty.Sweep(e.ctx, 100))
				did = fmt.Sprintf("advance %s: %d payments recorded, %d orders expired, %d accounts swept", d, n0, n1, n2)
			default:
				if rng.IntN(2) == 0 {
					pts := 1 + rng.Int64N(500)
					_, err := e.svc.Loyalty.Adjust(e.ctx, m, loyalty.Adjustment{Points: pts, Reason: "gift"}, "tester")
					expected(err, domain.ErrConflict) // a member merged away
					did = fmt.Sprintf("give %d to %d: %v", pts, m, err)
				} else {
					phone := fmt.Sprintf("1390000%04d", rng.IntN(3))
					v, err := e.svc.Members.BindPhone(e.ctx, m, phone)
					expected(err)
					did = fmt.Sprintf("bind %s to %d: member %d", phone, m, v.ID)
				}
			}
			loCheck(t, db, fmt.Sprintf("step %d (%s)", step, did))
			if os.Getenv("LOTRACE") != "" {
				t.Log(did)
			}
		}
		var bad int64
		db.Conn(e.ctx).Model(&models.LoyaltyPurchase{}).Where("clawed > earned OR returned > points_used OR refunded_fen > paid_fen").Count(&bad)
		if bad > 0 {
			t.Fatalf("%d purchases reversed more than they had", bad)
		}
	})
}
