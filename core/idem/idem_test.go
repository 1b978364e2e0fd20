package idem_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/idem"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestKeyLifecycle: a running key answers "in progress" until it finishes, then its outcome; a key whose
// process died is taken over after RunningLease; a forgotten key (a server error) runs again.
func TestKeyLifecycle(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		clk := testclock.New(time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC))
		s := idem.New(domain.NewEnv(db, clk, nil))
		if o, err := s.Begin(ctx, "member:1", "POST /x", "k", "h1"); o != nil || err != nil {
			t.Fatalf("first Begin = %v, %v", o, err)
		}
		var de *domain.Error
		if _, err := s.Begin(ctx, "member:1", "POST /x", "k", "h1"); !errors.Is(err, idem.ErrInProgress) || !errors.As(err, &de) || de.RetryAfter <= 0 {
			t.Fatalf("Begin while running = %v", err)
		}
		if _, err := s.Begin(ctx, "member:1", "POST /x", "k", "h2"); !errors.Is(err, idem.ErrKeyReused) {
			t.Fatalf("Begin with another body = %v", err)
		}
		if err := s.Finish(ctx, "member:1", "POST /x", "k", idem.Outcome{Status: 201, ContentType: "application/json", Body: []byte(`{"a":1}`)}); err != nil {
			t.Fatal(err)
		}
		if o, err := s.Begin(ctx, "member:1", "POST /x", "k", "h1"); err != nil || o == nil || o.Status != 201 || string(o.Body) != `{"a":1}` {
			t.Fatalf("Begin after Finish = %+v, %v", o, err)
		}
		// Abandoned: a process claimed the key and died.
		if o, err := s.Begin(ctx, "member:1", "POST /y", "k", "h1"); o != nil || err != nil {
			t.Fatalf("Begin = %v, %v", o, err)
		}
		clk.Add(idem.RunningLease + time.Second)
		if o, err := s.Begin(ctx, "member:1", "POST /y", "k", "h1"); o != nil || err != nil {
			t.Fatalf("Begin of an abandoned key = %v, %v; want it taken over", o, err)
		}
		if _, err := s.Begin(ctx, "member:1", "POST /y", "k", "h1"); !errors.Is(err, idem.ErrInProgress) {
			t.Fatalf("the taken-over key is not running: %v", err)
		}
		// Forgotten after a server error: the retry runs.
		if err := s.Forget(ctx, "member:1", "POST /y", "k"); err != nil {
			t.Fatal(err)
		}
		if o, err := s.Begin(ctx, "member:1", "POST /y", "k", "h1"); o != nil || err != nil {
			t.Fatalf("Begin after Forget = %v, %v", o, err)
		}
	})
}
