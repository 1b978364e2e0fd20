package core_test

import (
	"slices"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestStuckWorkers: a worker that has not finished a run for ten of its intervals (at least two minutes)
// is stuck; one that runs is not.
func TestStuckWorkers(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		f := setup(t, db)
		f.svc.WorkerStarted("fast", time.Second)
		f.svc.WorkerStarted("slow", time.Hour)
		if got := f.svc.StuckWorkers(); len(got) != 0 {
			t.Fatalf("stuck at start: %v", got)
		}
		f.clock.Add(3 * time.Minute)
		if got := f.svc.StuckWorkers(); !slices.Equal(got, []string{"fast"}) {
			t.Fatalf("after 3 minutes without a run: %v, want [fast]", got)
		}
		f.svc.WorkerRan("fast")
		if got := f.svc.StuckWorkers(); len(got) != 0 {
			t.Fatalf("after a run: %v", got)
		}
		f.clock.Add(11 * time.Hour)
		if got := f.svc.StuckWorkers(); !slices.Equal(got, []string{"fast", "slow"}) {
			t.Fatalf("after 11 hours: %v, want both", got)
		}
	})
}
