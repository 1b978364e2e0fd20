package testclock_test

import (
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/testclock"
)

var _ domain.Clock = (*testclock.Clock)(nil)

func TestClockMovesOnlyWhenMoved(t *testing.T) {
	start := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	c := testclock.New(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	c.Add(time.Hour)
	c.Add(-time.Minute)
	if want := start.Add(59 * time.Minute); !c.Now().Equal(want) {
		t.Fatalf("after Add: %v, want %v", c.Now(), want)
	}
	c.Set(start)
	if !c.Now().Equal(start) {
		t.Fatalf("after Set: %v, want %v", c.Now(), start)
	}
}
