package marketplaces_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// clock is a movable clock the hub, the connectors and the fakes share, so that a rate limit's minute
// passes without waiting for it.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

// newClock returns a clock at a fixed time, to the microsecond (what the hub keeps).
func newClock() *clock {
	return &clock{t: time.Now().UTC().Truncate(time.Second)}
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// setStock sets a SKU's stock at S01.
func (h *hub) setStock(t testing.TB, sku string, onHand int64) {
	t.Helper()
	if _, err := h.svc.Catalog.SetStock(h.ctx, "S01", sku, onHand, "test"); err != nil {
		t.Fatal(err)
	}
}

// pushRound moves the clock on by the push interval (1 ms) and runs one sweep of the stock pool.
func (h *hub) pushRound(t testing.TB, clk *clock) {
	t.Helper()
	clk.Advance(time.Millisecond)
	if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
		t.Fatalf("stock push: %v", err)
	}
}

// shopView returns a platform's binding of shop-1 with its sync state.
func (h *hub) shopView(t testing.TB, platform string) market.ShopView {
	t.Helper()
	v, err := h.svc.Market.Shop(h.ctx, platform, shop)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// holds fails unless the platform shows want for the SKU.
func (h *hub) holds(t testing.TB, p platform, sku string, want int64, when string) {
	t.Helper()
	if got, ok := p.fake.Stock(shop, sku); !ok || got != want {
		t.Fatalf("%s: %s shows %s = %d (%v), want %d", when, p.name, sku, got, ok, want)
	}
}

// TestJDRateLimitLockoutWaitedOut drives one stock change after another until JD's fake, past its 300
// stock calls in a minute, answers 10032 and locks the merchant out for a minute. The hub then makes no
// stock call to JD at all until the lock-out ends (on the shared clock), while Meituan and Ele.me go on
// getting every change at once; when the minute is up, JD gets the latest value in one call.
func TestJDRateLimitLockoutWaitedOut(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		clk := newClock()
		h := newHub(t, db, hubOptions{clock: clk})
		mt, el, jd := h.platforms[0], h.platforms[1], h.platforms[2]
		value := int64(10)
		// Each round changes one SKU: one stock call to each platform, never more.
		var until *time.Time
		for round := 0; round <= jddjfake.StockCallsPerMinute && until == nil; round++ {
			value++
			h.setStock(t, "MILK-1L", value)
			h.pushRound(t, clk)
			until = h.shopView(t, market.JDDJ).LockedUntil
		}
		if until == nil {
			t.Fatalf("JD never locked the hub out; %d stock calls", h.jd.StockCalls())
		}
		locked := h.jd.StockCalls()
		if locked != jddjfake.StockCallsPerMinute+1 {
			t.Fatalf("JD locked out after %d stock calls, want %d (one a change)", locked, jddjfake.StockCallsPerMinute+1)
		}
		if v := h.shopView(t, market.JDDJ); !strings.Contains(v.LastError, "10032") {
			t.Fatalf("JD binding's last error %q does not say 10032", v.LastError)
		}
		if want := clk.Now().Add(time.Minute); !until.Equal(want) {
			t.Fatalf("locked until %s, want %s (JD's one-minute lock-out)", until, want)
		}
		h.holds(t, jd, "MILK-1L", value-1, "at the 10032")
		for _, p := range []platform{mt, el} {
			h.holds(t, p, "MILK-1L", value, "at the 10032")
			if v := h.shopView(t, p.name); v.LockedUntil != nil {
				t.Fatalf("%s is locked until %s by JD's limit", p.name, v.LockedUntil)
			}
		}

		// During the lock-out: changes keep coming and reach Meituan and Ele.me at once; JD hears nothing.
		for clk.Now().Add(5 * time.Second).Before(*until) {
			clk.Advance(5 * time.Second)
			value++
			h.setStock(t, "MILK-1L", value)
			h.pushRound(t, clk)
			h.holds(t, mt, "MILK-1L", value, "during the lock-out")
			h.holds(t, el, "MILK-1L", value, "during the lock-out")
			if n := h.jd.StockCalls(); n != locked {
				t.Fatalf("%d stock calls to JD during its lock-out", n-locked)
			}
		}
		clk.Set(until.Add(-2 * time.Millisecond))
		h.pushRound(t, clk) // 1 ms before the end
		if n := h.jd.StockCalls(); n != locked {
			t.Fatalf("%d stock calls to JD just before its lock-out ends", n-locked)
		}
		if v := h.shopView(t, market.JDDJ); v.PendingPushes != 1 {
			t.Fatalf("JD binding shows %d pending pushes during the lock-out, want 1", v.PendingPushes)
		}

		// The minute is up: JD gets the latest value, in one call.
		clk.Set(*until)
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		h.holds(t, jd, "MILK-1L", value, "when the lock-out ends")
		if n := h.jd.StockCalls(); n != locked+1 {
			t.Fatalf("%d stock calls to JD when the lock-out ended, want 1", n-locked)
		}
		if v := h.shopView(t, market.JDDJ); v.PendingPushes != 0 || v.LockedUntil != nil && v.LockedUntil.After(clk.Now()) {
			t.Fatalf("JD binding after the lock-out: %+v", v)
		}
	})
}
