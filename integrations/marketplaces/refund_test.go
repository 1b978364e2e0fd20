package marketplaces_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestPartialRefundsApplyOnce: each platform refunds part of an accepted order (JD names only its
// after-sale bill, which the hub reads); the units go back on the shelf once, the same push delivered
// again changes nothing, and a second refund of the same order still applies.
func TestPartialRefundsApplyOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		paths := map[string]string{market.Meituan: "/webhooks/meituan/refund", market.Eleme: "/webhooks/eleme", market.JDDJ: "/webhooks/jddj/djsw/newAfterSaleBill"}
		for _, p := range h.platforms {
			id, err := p.place(shop, "MILK-1L", 3)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			ord := h.order(t, p.name, id)
			if _, err := h.svc.AcceptOrder(h.ctx, staff.AdminTokenActor, ord.OrderNo); err != nil {
				t.Fatalf("%s accept: %v", p.name, err)
			}
			h.calls(t)
			before := h.stock(t).OnHand
			for round, want := range []int64{1, 2} {
				if err := p.refund(id, "MILK-1L", 1); err != nil {
					t.Fatalf("%s refund %d: %v", p.name, round+1, err)
				}
				h.waitReturned(t, p.name, id, want)
				if got := h.stock(t).OnHand; got != before+want {
					t.Fatalf("%s: on hand %d after %d units refunded, want %d", p.name, got, want, before+want)
				}
				if st := h.redeliver(t, paths[p.name]); st != http.StatusOK {
					t.Fatalf("%s: the refund delivered again was answered %d", p.name, st)
				}
				if got := h.returned(t, p.name, id); got != want {
					t.Fatalf("%s: %d units returned after the refund came again, want %d", p.name, got, want)
				}
				if got := h.stock(t).OnHand; got != before+want {
					t.Fatalf("%s: on hand %d after the refund came again, want %d", p.name, got, before+want)
				}
			}
			var n int64
			db.Conn(h.ctx).Model(&models.MarketRefund{}).Where("platform = ?", p.name).Count(&n)
			if n != 2 {
				t.Fatalf("%s: %d refunds recorded, want 2", p.name, n)
			}
		}
	})
}

// returned is how many units of a platform order the hub counts as returned.
func (h *hub) returned(t testing.TB, platform, id string) int64 {
	t.Helper()
	var n int64
	for _, it := range h.order(t, platform, id).Items {
		n += it.ReturnedQty
	}
	return n
}

// waitReturned waits until the hub counts want units of a platform order as returned.
func (h *hub) waitReturned(t testing.TB, platform, id string, want int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); h.returned(t, platform, id) != want; {
		if time.Now().After(deadline) {
			t.Fatalf("%s order %s: %d units returned, want %d", platform, id, h.returned(t, platform, id), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
