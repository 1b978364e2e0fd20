package marketplaces_test

import (
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestOrderReadLaterWhenPlatformIsDown: Ele.me and JD push only an order's id. While their API is down
// the push is still acknowledged at once (the platforms want an answer within seconds) and the order is
// kept in the durable inbox; once the API answers again the inbox reads it and takes it in, once.
func TestOrderReadLaterWhenPlatformIsDown(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		for _, p := range h.platforms {
			if p.name == market.Meituan {
				continue // Meituan's push carries the whole order
			}
			acked := p.fake.Pushes()
			p.down.Store(true)
			id, err := p.place(shop, "MILK-1L", 1)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			h.waitFor(t, p.name+" push acknowledged", func() bool { return p.fake.Pushes() > acked })
			var kept int64
			db.Conn(h.ctx).Model(&models.MarketInbox{}).Where("platform = ? AND order_id = ?", p.name, id).Count(&kept)
			if kept != 1 {
				t.Fatalf("%s: %d inbox rows for the unread order, want 1", p.name, kept)
			}
			// While the API is down the inbox keeps the order and tries again later.
			if _, err := h.svc.Market.ProcessInbox(h.ctx, 10, h.svc.TakePlatformOrder); err != nil {
				t.Fatalf("%s inbox: %v", p.name, err)
			}
			var row models.MarketInbox
			if err := db.Conn(h.ctx).Where("platform = ? AND order_id = ?", p.name, id).Take(&row).Error; err != nil || row.Attempts != 1 || row.LastError == "" {
				t.Fatalf("%s: inbox row after a failed read %+v, %v", p.name, row, err)
			}
			var held int64
			db.Conn(h.ctx).Model(&models.Order{}).Where("source = ? AND platform_order_id = ?", p.name, id).Count(&held)
			if held != 0 {
				t.Fatalf("%s: the hub holds an order it could not read", p.name)
			}
			p.down.Store(false)
			db.Conn(h.ctx).Model(&models.MarketInbox{}).Where("id = ?", row.ID).Update("due_at", row.CreatedAt) // its retry is due
			if _, err := h.svc.Market.ProcessInbox(h.ctx, 10, h.svc.TakePlatformOrder); err != nil {
				t.Fatalf("%s inbox: %v", p.name, err)
			}
			if ord := h.order(t, p.name, id); ord.Status != "paid" || len(ord.Items) != 1 {
				t.Fatalf("%s: order read from the inbox = %+v", p.name, ord)
			}
			db.Conn(h.ctx).Model(&models.MarketInbox{}).Count(&kept)
			if kept != 0 {
				t.Fatalf("%s: %d inbox rows left", p.name, kept)
			}
		}
	})
}

// waitFor polls cond for up to 10 seconds, failing the test with what it waited for.
func (h *hub) waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
