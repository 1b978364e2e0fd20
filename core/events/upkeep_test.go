package events_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

func (r *rig) alert(kind, orderNo, detail string) {
	r.t.Helper()
	if err := r.db.Tx(r.ctx, func(ctx context.Context) error { return events.Alert(ctx, r.env, kind, orderNo, detail) }); err != nil {
		r.t.Fatal(err)
	}
}

// TestAlertRaisedOnceAndOnlyToThoseWhoAsk: the same alert kind for the same order is one open alert
// counted twice and one alert.raised event; alert.raised reaches an endpoint that names it, not one
// subscribed to "*"; a resolved alert raised again is a new alert.
func TestAlertRaisedOnceAndOnlyToThoseWhoAsk(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		all, ops := newReceiver(t, nil), newReceiver(t, nil)
		r.endpoint("erp", all.srv.URL, "*")
		r.endpoint("ops", ops.srv.URL, events.TypeAlertRaised)
		r.alert("refund_failed", "O1", "first try")
		r.alert("refund_failed", "O1", "second try")
		r.alert("refund_failed", "O2", "other order")
		r.drain()
		open, err := r.svc.Alerts(r.ctx, true, 0, 10)
		if err != nil || len(open) != 2 || open[0].Count != 2 || open[0].Detail != "second try" || open[1].OrderNo != "O2" {
			t.Fatalf("open alerts %+v %v", open, err)
		}
		if n, _ := r.svc.OpenAlerts(r.ctx); n != 2 {
			t.Fatalf("open count %d", n)
		}
		if len(all.received()) != 0 {
			t.Fatalf("alert.raised reached a \"*\" endpoint: %d", len(all.received()))
		}
		if got := ops.received(); len(got) != 2 || got[0].msg.Type != events.TypeAlertRaised {
			t.Fatalf("ops received %d", len(got))
		}
		for _, blank := range []string{"", " \t "} {
			if _, err := r.svc.ResolveAlert(r.ctx, open[0].ID, "ops-li", blank); err == nil {
				t.Fatalf("resolved with the note %q", blank)
			}
		}
		v, err := r.svc.ResolveAlert(r.ctx, open[0].ID, "ops-li", "refunded by hand in the merchant platform")
		if err != nil || v.ResolvedBy != "ops-li" || v.ResolvedAt == nil {
			t.Fatalf("%+v %v", v, err)
		}
		if _, err := r.svc.ResolveAlert(r.ctx, open[0].ID, "ops-li", "again"); err == nil {
			t.Fatal("resolved twice")
		}
		r.alert("refund_failed", "O1", "third try")
		if open, _ := r.svc.Alerts(r.ctx, true, 0, 10); len(open) != 2 || open[1].Count != 1 || open[1].ID == v.ID {
			t.Fatalf("after resolving, raising again: %+v", open)
		}
	})
}

// TestPullFromCursor: the pull API gives events in sequence from a cursor, filtered by type, with the
// same bodies as the webhooks; latest starts at the end.
func TestPullFromCursor(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		for i := range 5 {
			r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1", "amount_fen": i})
			r.enqueue("order.created", "O2", map[string]any{"order_no": "O2", "store": "S01", "total_fen": i})
		}
		if msgs, next, _ := r.svc.Pull(r.ctx, 0, 10, nil); len(msgs) != 0 || next != 0 {
			t.Fatal("events were served before they were sequenced")
		}
		r.pump()
		msgs, next, err := r.svc.Pull(r.ctx, 0, 3, []string{"order.paid"})
		if err != nil || len(msgs) != 3 || next != msgs[2].Sequence || msgs[0].ID != "evt_1" {
			t.Fatalf("%+v next %d %v", msgs, next, err)
		}
		rest, next2, _ := r.svc.Pull(r.ctx, next, 10, []string{"order.paid"})
		if len(rest) != 2 || rest[0].Sequence <= next || next2 != rest[1].Sequence {
			t.Fatalf("second page %+v", rest)
		}
		if latest, _ := r.svc.Latest(r.ctx); latest != 10 {
			t.Fatalf("latest %d", latest)
		}
		if _, _, err := r.svc.Pull(r.ctx, 0, 10, []string{"order.nope"}); err == nil {
			t.Fatal("an unknown type was accepted")
		}
		if _, err := events.ParseCursor("evt_x"); err == nil {
			t.Fatal("a bad cursor was accepted")
		}
		if n, _ := events.ParseCursor("evt_7"); n != 7 {
			t.Fatal("evt_7")
		}
	})
}

// TestLateCommitGetsLaterPosition: on PostgreSQL an event whose transaction commits after a newer one's
// (an older id) gets a later position, so a consumer polling positions never misses it.
func TestLateCommitGetsLaterPosition(t *testing.T) {
	db := dbtest.Postgres(t)
	r := newRig(t, db, events.Options{})
	inTx, commit, done := make(chan struct{}), make(chan struct{}), make(chan error)
	go func() {
		done <- db.Tx(r.ctx, func(ctx context.Context) error {
			if err := events.Enqueue(ctx, r.env, "order.paid", "OLATE", map[string]any{"order_no": "OLATE"}); err != nil {
				return err
			}
			close(inTx)
			<-commit
			return nil
		})
	}()
	<-inTx
	r.enqueue("order.paid", "OSOON", map[string]any{"order_no": "OSOON"})
	r.pump()
	seen, cursor, _ := r.svc.Pull(r.ctx, 0, 10, nil)
	if len(seen) != 1 || string(seen[0].Data) != `{"order_no":"OSOON"}` {
		t.Fatalf("first poll %+v", seen)
	}
	close(commit)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r.pump()
	late, _, _ := r.svc.Pull(r.ctx, cursor, 10, nil)
	if len(late) != 1 || string(late[0].Data) != `{"order_no":"OLATE"}` {
		t.Fatalf("the late commit was missed by a consumer at cursor %d: %+v", cursor, late)
	}
}

// TestStockChangesAnnouncedCoalesced: stock rows that changed are announced once per run with their
// latest figures; a change that came back to where it was announces nothing.
func TestStockChangesAnnouncedCoalesced(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{})
		c := db.Conn(r.ctx)
		st := models.Store{Code: "S01", Name: "S01", Status: "open", CreatedAt: start, UpdatedAt: start}
		p := models.Product{SKU: "MILK-1L", Name: "Milk", PriceFen: 1290, CreatedAt: start, UpdatedAt: start}
		if err := c.Create(&st).Error; err != nil {
			t.Fatal(err)
		}
		if err := c.Create(&p).Error; err != nil {
			t.Fatal(err)
		}
		row := models.Stock{StoreID: st.ID, ProductID: p.ID, OnHand: 10, Version: 1, UpdatedAt: start}
		c.Create(&row)
		announce := func() []map[string]any {
			t.Helper()
			before, _ := r.svc.Latest(r.ctx)
			if _, err := r.svc.AnnounceStock(r.ctx, 100); err != nil {
				t.Fatal(err)
			}
			r.pump()
			msgs, _, _ := r.svc.Pull(r.ctx, before, 100, []string{events.TypeStockChanged})
			var out []map[string]any
			for _, m := range msgs {
				var d map[string]any
				_ = json.Unmarshal(m.Data, &d)
				out = append(out, d)
			}
			return out
		}
		if got := announce(); len(got) != 1 || got[0]["on_hand"] != float64(10) || got[0]["available"] != float64(10) || got[0]["sku"] != "MILK-1L" {
			t.Fatalf("first announcement %v", got)
		}
		for _, reserved := range []int64{1, 2, 3} { // three moves between runs: one event, the last figures
			c.Model(&models.Stock{}).Where("id = ?", row.ID).Updates(map[string]any{"reserved": reserved, "version": 1 + reserved})
		}
		if got := announce(); len(got) != 1 || got[0]["available"] != float64(7) || got[0]["on_hand"] != float64(10) {
			t.Fatalf("coalesced %v", got)
		}
		c.Model(&models.Stock{}).Where("id = ?", row.ID).Updates(map[string]any{"reserved": 4, "version": 5})
		c.Model(&models.Stock{}).Where("id = ?", row.ID).Updates(map[string]any{"reserved": 3, "version": 6})
		if got := announce(); len(got) != 0 {
			t.Fatalf("a change back to the announced figures was announced: %v", got)
		}
	})
}

// TestPruneKeepsDeadLetters: past the retention delivered deliveries and their events go; a dead
// letter and its event stay.
func TestPruneKeepsDeadLetters(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		r := newRig(t, db, events.Options{Retention: time.Hour})
		ok := newReceiver(t, nil)
		r.endpoint("erp", ok.srv.URL, "*")
		r.enqueue("order.paid", "O1", map[string]any{"order_no": "O1"})
		r.enqueue("order.paid", "O2", map[string]any{"order_no": "O2"})
		r.drain()
		ds := r.deliveries("erp")
		db.Conn(r.ctx).Model(&models.WebhookDelivery{}).Where("id = ?", ds[1].ID).Update("status", events.DeliveryDead)
		r.clk.Add(2 * time.Hour)
		n, err := r.svc.Prune(r.ctx, 100)
		if err != nil || n != 2 { // one delivery, then its event
			t.Fatalf("pruned %d, %v", n, err)
		}
		left, _, _ := r.svc.Pull(r.ctx, 0, 10, nil)
		if len(left) != 1 || string(left[0].Data) != `{"order_no":"O2"}` || len(r.deliveries("erp")) != 1 {
			t.Fatalf("left %+v", left)
		}
	})
}
