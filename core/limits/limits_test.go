package limits_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

// TestSharedLimitHoldsAcrossReplicas runs three limiters (three replicas) on one database: together they
// allow exactly one replica's budget, in turns and all at once, and give it back at the limit's rate.
func TestSharedLimitHoldsAcrossReplicas(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		clock := testclock.New(t0)
		rate := limits.Every(5*time.Second, 10)
		var replicas []*limits.Limit
		for range 3 {
			replicas = append(replicas, limits.NewShared(db, clock).Limit("login", rate))
		}

		// In turns: 3 replicas × 10 attempts, 10 allowed.
		allowed := 0
		var lastWait time.Duration
		for i := range 30 {
			w, err := replicas[i%3].Take(ctx, "198.51.100.7")
			if err != nil {
				t.Fatal(err)
			}
			if w == 0 {
				allowed++
			} else {
				lastWait = w
			}
		}
		if allowed != 10 {
			t.Fatalf("3 replicas allowed %d of 30 attempts, want the budget of one (10)", allowed)
		}
		if lastWait != 5*time.Second {
			t.Errorf("wait after the budget = %s, want 5s", lastWait)
		}
		if w, err := replicas[1].Wait(ctx, "198.51.100.7"); err != nil || w != 5*time.Second {
			t.Errorf("Wait = %s, %v; want 5s", w, err)
		}
		// Another subject has its own budget.
		if w, _ := replicas[2].Take(ctx, "198.51.100.8"); w != 0 {
			t.Errorf("another address waits %s", w)
		}
		// One attempt comes back every 5 s.
		clock.Add(5 * time.Second)
		if w, _ := replicas[2].Take(ctx, "198.51.100.7"); w != 0 {
			t.Errorf("after 5 s: wait %s, want an attempt", w)
		}
		if w, _ := replicas[0].Take(ctx, "198.51.100.7"); w != 5*time.Second {
			t.Errorf("the attempt after: wait %s, want 5s", w)
		}

		// All at once: 3 replicas × 20 concurrent attempts at a fresh subject, 10 allowed.
		var wg sync.WaitGroup
		var mu sync.Mutex
		allowed = 0
		for i := range 60 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				w, err := replicas[i%3].Take(ctx, "203.0.113.9")
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					t.Error(err)
				}
				if w == 0 {
					allowed++
				}
			}()
		}
		wg.Wait()
		if allowed != 10 {
			t.Fatalf("60 concurrent attempts on 3 replicas: %d allowed, want 10", allowed)
		}
	})
}

// TestSharedLimitGiveAndSweep gives back an attempt that did not count and sweeps full buckets.
func TestSharedLimitGiveAndSweep(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		clock := testclock.New(t0)
		shared := limits.NewShared(db, clock)
		l := shared.Limit("admin", limits.Every(time.Minute, 2))
		for i := range 2 {
			if w, _ := l.Take(ctx, "a"); w != 0 {
				t.Fatalf("attempt %d waits %s", i, w)
			}
		}
		if w, _ := l.Take(ctx, "a"); w == 0 {
			t.Fatal("third attempt allowed")
		}
		if err := l.Give(ctx, "a"); err != nil {
			t.Fatal(err)
		}
		if w, _ := l.Take(ctx, "a"); w != 0 {
			t.Fatalf("an attempt given back was not there: wait %s", w)
		}
		for i := range 5 {
			l.Take(ctx, fmt.Sprint("b", i))
		}
		var n int64
		db.Conn(ctx).Model(&models.RateLimit{}).Count(&n)
		if n != 6 {
			t.Fatalf("%d rows, want 6", n)
		}
		// Half a minute on, the one-attempt buckets are not full yet; after two minutes all are.
		clock.Add(30 * time.Second)
		if got, err := shared.Sweep(ctx); err != nil || got != 0 {
			t.Fatalf("Sweep = %d, %v; want 0", got, err)
		}
		clock.Add(2 * time.Minute)
		if got, err := shared.Sweep(ctx); err != nil || got != 6 {
			t.Fatalf("Sweep = %d, %v; want 6", got, err)
		}
		if w, _ := l.Take(ctx, "a"); w != 0 {
			t.Fatalf("after the sweep: wait %s", w)
		}
	})
}

// TestLocalLimitUnderChurn floods a per-process limiter with 200,000 other addresses while one hot
// address keeps asking: the hot address stays limited and memory stays bounded.
func TestLocalLimitUnderChurn(t *testing.T) {
	t.Parallel()
	l := limits.NewLocal(limits.Rate{PerSecond: 1, Burst: 5}, 100000)
	now := t0
	hotAllowed := 0
	for i := range 200000 {
		if l.Take(fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255), now) != 0 {
			t.Fatalf("fresh address %d limited", i)
		}
		if i%1000 == 0 && l.Take("198.51.100.1", now) == 0 {
			hotAllowed++
		}
	}
	if hotAllowed != 5 {
		t.Fatalf("the hot address got %d of 200 attempts through, want its burst of 5", hotAllowed)
	}
	if n := l.Len(); n > 100000 {
		t.Fatalf("limiter remembers %d addresses", n)
	}
	if l.Take("198.51.100.1", now.Add(time.Second)) != 0 {
		t.Fatal("a second later the hot address has no attempt")
	}
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ in, v24, addr string }{
		{"203.0.113.77", "203.0.113.0/24", "203.0.113.77/32"},
		{"::ffff:203.0.113.77", "203.0.113.0/24", "203.0.113.77/32"},
		{"2001:db8:1234:5678:9abc::1", "2001:db8:1234::/48", "2001:db8:1234:5678::/64"},
		{"fe80::1%eth0", "fe80::/48", "fe80::/64"},
		{"not an address", "not an address", "not an address"},
	} {
		if got := limits.Network(c.in, 24, 48); got != c.v24 {
			t.Errorf("Network(%q) = %q, want %q", c.in, got, c.v24)
		}
		if got := limits.Address(c.in); got != c.addr {
			t.Errorf("Address(%q) = %q, want %q", c.in, got, c.addr)
		}
	}
}
