package marketplaces_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// skus adds n-1 products SKU-001 … beside MILK-1L, each with stock at S01, and returns all n SKUs.
func (h *hub) skus(t testing.TB, n int, onHand int64) []string {
	t.Helper()
	out := []string{"MILK-1L"}
	h.setStock(t, "MILK-1L", onHand)
	for i := 1; i < n; i++ {
		sku := fmt.Sprintf("SKU-%03d", i)
		if _, err := h.svc.Catalog.PutProduct(h.ctx, catalog.ProductInput{SKU: sku, Name: "商品 " + sku, PriceFen: 990}); err != nil {
			t.Fatal(err)
		}
		h.setStock(t, sku, onHand)
		out = append(out, sku)
	}
	return out
}

// stockCalls returns each platform's count of stock calls so far.
func (h *hub) stockCalls() map[string]int {
	out := map[string]int{}
	for _, p := range h.platforms {
		out[p.name] = p.fake.StockCalls()
	}
	return out
}

// batched returns how many calls n levels take on a platform: its batch limit decides.
func (h *hub) batched(t testing.TB, platform string, n int) int {
	t.Helper()
	c, ok := h.svc.Market.Connector(platform)
	if !ok {
		t.Fatalf("%s is off", platform)
	}
	return (n + c.StockBatch() - 1) / c.StockBatch()
}

// TestStockChangeReachesEachPlatformOnceCoalesced binds 200 SKUs to the three platforms and counts their
// stock calls: the first sync sends every SKU in as few calls as each platform's batch limit allows
// (Meituan 200, Ele.me 100, JD 50 a call); a sweep with nothing changed calls no one; 50 changes of one
// SKU are one call to each platform carrying the last value; three changes of all 200 SKUs are again
// ceil(200/batch) calls; a mini-program order's reservation is a change like any other; and a SKU
// changed and changed back before the sweep is not sent, as the platform already holds that value.
// After every sweep each platform holds the latest value of every SKU.
func TestStockChangeReachesEachPlatformOnceCoalesced(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		clk := newClock()
		h := newHub(t, db, hubOptions{clock: clk})
		const n = 200
		skus := h.skus(t, n, 5)
		want := map[string]int64{}
		for _, s := range skus {
			want[s] = 5
		}
		// sweep runs one round of the stock pool and checks each platform made calls[platform] stock
		// calls in it (changed levels, batched) and now holds every SKU's latest value.
		sweep := func(step string, changed int) {
			t.Helper()
			before := h.stockCalls()
			h.pushRound(t, clk)
			after := h.stockCalls()
			for _, p := range h.platforms {
				if got, wantCalls := after[p.name]-before[p.name], h.batched(t, p.name, changed); got != wantCalls {
					t.Fatalf("%s: %s made %d stock calls for %d changed SKUs, want %d", step, p.name, got, changed, wantCalls)
				}
				for _, s := range skus {
					h.holds(t, p, s, want[s], step)
				}
			}
		}
		sweep("first sync", n)
		sweep("nothing changed", 0)

		for v := int64(11); v <= 60; v++ {
			h.setStock(t, "MILK-1L", v)
		}
		want["MILK-1L"] = 60
		sweep("50 changes of one SKU", 1)

		for round := int64(1); round <= 3; round++ {
			for i, s := range skus {
				want[s] = 100*round + int64(i)%50
				h.setStock(t, s, want[s])
			}
		}
		sweep("three changes of every SKU", n)

		m, err := h.svc.Members.SignIn(h.ctx, "sandbox", "coalesce", "coalesce")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.CreateOrder(h.ctx, m.Member.ID, core.OrderInput{Store: "S01", Fulfillment: "pickup",
			Items: []core.ItemInput{{SKU: skus[7], Qty: 2}, {SKU: skus[8], Qty: 1}}}); err != nil {
			t.Fatal(err)
		}
		want[skus[7]] -= 2
		want[skus[8]]--
		sweep("a mini-program order", 2)

		h.setStock(t, skus[9], 9999)
		h.setStock(t, skus[9], want[skus[9]])
		sweep("a change undone before the sweep", 0)
	})
}

// TestStockSweepEachInterval: the stock pool's worker sweeps once a push interval; a sweep that starts a
// little less than one interval after the last one (the scheduler's jitter: the last one started late)
// must still push the shops, or the pool pushes only every other interval and the lag doubles.
func TestStockSweepEachInterval(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		clk := newClock()
		const interval = time.Second
		h := newHub(t, db, hubOptions{clock: clk, pushInterval: interval})
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		for round, jitter := range []time.Duration{time.Millisecond, 20 * time.Millisecond, 0} {
			value := int64(20 + round)
			h.setStock(t, "MILK-1L", value)
			clk.Advance(interval - jitter)
			if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
				t.Fatal(err)
			}
			for _, p := range h.platforms {
				h.holds(t, p, "MILK-1L", value, fmt.Sprintf("a sweep %s after the last", interval-jitter))
			}
		}
		// Well within an interval, nothing is pushed: changes are coalesced.
		calls := h.stockCalls()
		h.setStock(t, "MILK-1L", 3)
		clk.Advance(interval / 10)
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		for _, p := range h.platforms {
			if n := p.fake.StockCalls(); n != calls[p.name] {
				t.Fatalf("%s was pushed to a tenth of an interval after the last push", p.name)
			}
		}
	})
}
