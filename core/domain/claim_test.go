package domain

import (
	"context"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"gorm.io/gorm"
)

// TestLeaseRenewedWhileHeldAndFreedWhenItsWorkerDies: a worker that holds its claim keeps the row from
// another replica past LeaseTime; once it stops renewing (its process died) the row is taken within
// LeaseTime; and a row whose worker set its next attempt keeps that time, not the lease's.
func TestLeaseRenewedWhileHeldAndFreedWhenItsWorkerDies(t *testing.T) {
	defer func(d time.Duration) { renewEvery = d }(renewEvery)
	renewEvery = 10 * time.Millisecond
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		clk := testclock.New(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
		env := NewEnv(db, clk, nil)
		now := clk.Now()
		for _, kind := range []string{"held", "rescheduled"} {
			if err := db.Conn(ctx).Create(&models.Task{Kind: kind, Target: "x", Payload: "{}", Status: "pending", NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}).Error; err != nil {
				t.Fatal(err)
			}
		}
		scope := func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", "pending") }
		claim := func(r *models.Task) int64 { return r.ID }
		rows, lease, err := ClaimDue(ctx, env, scope, "next_attempt_at", "attempts", 10, claim)
		if err != nil || len(rows) != 2 {
			t.Fatalf("claimed %d rows, %v", len(rows), err)
		}
		later := now.Add(5 * time.Minute)
		for _, r := range rows {
			if r.Kind == "rescheduled" { // its worker is done with it: next attempt in 5 minutes
				db.Conn(ctx).Model(&models.Task{}).Where("id = ?", r.ID).Update("next_attempt_at", later)
			}
		}
		// Time passes beyond the first lease while the worker holds the row: the lease is renewed.
		for step := 0; step < 4; step++ {
			clk.Add(LeaseTime / 2)
			want := clk.Now().Add(LeaseTime / 2)
			waitFor(t, "the lease renewed", func() bool {
				var r models.Task
				db.Conn(ctx).Where("kind = ?", "held").Take(&r)
				return r.NextAttemptAt.After(want)
			})
			got, l2, err := ClaimDue(ctx, env, scope, "next_attempt_at", "attempts", 10, claim)
			l2.Release()
			if err != nil || len(got) != 0 {
				t.Fatalf("another replica claimed %d rows of a held lease (%v)", len(got), err)
			}
		}
		var r models.Task
		db.Conn(ctx).Where("kind = ?", "rescheduled").Take(&r)
		if !r.NextAttemptAt.Equal(later) {
			t.Fatalf("the rescheduled row's next attempt became %s, want %s", r.NextAttemptAt, later)
		}
		// The worker dies: nothing renews the lease, and another replica takes the row within LeaseTime.
		lease.Release()
		clk.Add(LeaseTime + time.Second)
		got, l3, err := ClaimDue(ctx, env, scope, "next_attempt_at", "attempts", 10, claim)
		defer l3.Release()
		if err != nil || len(got) != 1 || got[0].Kind != "held" {
			t.Fatalf("after the worker died another replica claimed %+v (%v), want the held row", got, err)
		}
	})
}

func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
