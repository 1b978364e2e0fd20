package hubtest_test

import (
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

func TestHubServesWithItsOptions(t *testing.T) {
	start := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		hooked := false
		h := hubtest.New(t, db, hubtest.WithClock(start), hubtest.WithSandbox("s3"),
			hubtest.WithCore(func(o *core.Options) { o.OrderTTL = time.Minute }),
			hubtest.WithDeps(func(h *hubtest.Hub, d *handlers.Deps) { hooked = h.Service != nil && d.Service == h.Service }))
		if !hooked {
			t.Fatal("WithDeps did not see the service")
		}
		h.Stock(hubtest.S01, hubtest.Milk, 7)
		token, m := h.SandboxLogin("alice")
		var stock []catalog.Availability
		h.Call("GET", "/api/v1/stores/S01/products", "", nil).Expect(200).JSON(&stock)
		if len(stock) != 1 || stock[0].Available != 7 {
			t.Fatalf("S01 shows %+v, want 7 MILK", stock)
		}
		var o core.OrderView
		h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup",
			"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(201).JSON(&o)
		if h.OrderStatus(o.OrderNo) != core.StatusPendingPayment || h.Count("orders", "member_id = ?", m.ID) != 1 {
			t.Fatalf("order %s is %s", o.OrderNo, h.OrderStatus(o.OrderNo))
		}
		if !o.ExpiresAt.Equal(start.Add(time.Minute)) {
			t.Fatalf("order expires at %v, want the clock's time plus the one-minute TTL", o.ExpiresAt)
		}
		h.Call("GET", "/api/v1/admin/qrcodes", hubtest.AdminToken, nil).Expect(200)
		h.WaitFor("the clock to move", func() bool { h.Clock.Add(time.Second); return h.Clock.Now().After(start) })
	})
}

func TestAdminTokenCanBeDisabled(t *testing.T) {
	h := hubtest.New(t, dbtest.SQLite(t), hubtest.WithAdminToken(""))
	if r := h.Call("GET", "/api/v1/admin/qrcodes", hubtest.AdminToken, nil); r.Status == 200 {
		t.Fatalf("the admin API answered %s with no admin token set", r)
	}
}
