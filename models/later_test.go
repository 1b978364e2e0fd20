package models_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"gorm.io/gorm"
)

// countSent counts the statements db sends from now on (a held-back insert built dry is not sent).
func countSent(t testing.TB, db *models.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(d *gorm.DB) {
		if !d.DryRun {
			n.Add(1)
		}
	}
	cb := db.Conn(context.Background()).Callback()
	for _, err := range []error{
		cb.Create().After("gorm:create").Register("test:sent", count),
		cb.Query().After("gorm:query").Register("test:sent", count),
		cb.Raw().After("gorm:raw").Register("test:sent", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &n
}

func event(topic string) *models.Event {
	return &models.Event{Topic: topic, Key: "k", Payload: "{}", CreatedAt: time.Now().UTC()}
}

// Held-back inserts are seen by every later statement of their transaction, keep their order within a
// table, cost one round trip together on PostgreSQL, and fail their transaction when they break a
// constraint; a savepoint rolled back takes them with it.
func TestInsertLater(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		sent := countSent(t, db)
		err := db.Tx(ctx, func(ctx context.Context) error {
			if err := db.InsertLater(ctx, event("a")); err != nil {
				return err
			}
			now := time.Now().UTC()
			if err := db.InsertLater(ctx, &models.Alert{Kind: "k", Detail: "d", Count: 1, LastAt: &now, CreatedAt: now}); err != nil {
				return err
			}
			if n := sent.Load(); db.Postgres() && n != 0 {
				t.Errorf("%d statements sent for two held-back inserts, want 0 until the commit", n)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n, want := sent.Load(), map[bool]int64{true: 1, false: 2}[db.Postgres()]; n != want {
			t.Errorf("%d statements sent for an event and an alert, want %d", n, want)
		}

		err = db.Tx(ctx, func(ctx context.Context) error {
			for _, topic := range []string{"b", "c", "d"} {
				if err := db.InsertLater(ctx, event(topic)); err != nil {
					return err
				}
			}
			var n int64
			if err := db.Conn(ctx).Model(&models.Event{}).Where("topic IN ?", []string{"b", "c", "d"}).Count(&n).Error; err != nil || n != 3 {
				t.Errorf("the transaction sees %d of its three held-back events (%v)", n, err)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var topics []string
		if err := db.Conn(ctx).Model(&models.Event{}).Order("id").Pluck("topic", &topics).Error; err != nil {
			t.Fatal(err)
		}
		if got := len(topics); got != 4 || topics[0] != "a" || topics[1] != "b" || topics[2] != "c" || topics[3] != "d" {
			t.Fatalf("events in id order %v, want [a b c d]", topics)
		}

		// A held-back insert that breaks a constraint fails the commit, and nothing of the transaction stays.
		var first models.Event
		if err := db.Conn(ctx).Order("id").Take(&first).Error; err != nil {
			t.Fatal(err)
		}
		err = db.Tx(ctx, func(ctx context.Context) error {
			if err := db.Conn(ctx).Create(event("e")).Error; err != nil {
				return err
			}
			dup := event("dup")
			dup.ID = first.ID
			return db.InsertLater(ctx, dup)
		})
		if !models.IsDuplicate(err) {
			t.Fatalf("commit of a held-back duplicate: %v, want a duplicate-key error", err)
		}

		// The error stays the transaction's error even when the statement that sent the insert was a
		// savepoint's (whose error gorm drops).
		err = db.Tx(ctx, func(ctx context.Context) error {
			dup := event("dup")
			dup.ID = first.ID
			if err := db.InsertLater(ctx, dup); err != nil {
				return err
			}
			_ = db.Conn(ctx).SavePoint("s").Error
			return db.Conn(ctx).Create(event("x")).Error
		})
		if !models.IsDuplicate(err) {
			t.Fatalf("a held-back duplicate sent by a savepoint: %v, want the duplicate-key error", err)
		}

		// A savepoint rolled back takes the inserts held back after it.
		err = db.Tx(ctx, func(ctx context.Context) error {
			tx := db.Conn(ctx)
			if err := tx.SavePoint("s").Error; err != nil {
				return err
			}
			if err := db.InsertLater(ctx, event("gone")); err != nil {
				return err
			}
			return tx.RollbackTo("s").Error
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int64
		if err := db.Conn(ctx).Model(&models.Event{}).Where("topic IN ?", []string{"e", "dup", "x", "gone"}).Count(&n).Error; err != nil || n != 0 {
			t.Fatalf("%d events of failed or rolled-back work stayed (%v)", n, err)
		}
	})
}
