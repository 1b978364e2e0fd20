package models_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// groupRun starts n calls of Group at once, call i running fn(ctx, i). Call 0 starts first and, on
// SQLite, holds its transaction open until the other n-1 calls are queued behind it, so that they share
// the next transaction (a deterministic group, no timing). It returns each call's error and what each
// panicked with.
func groupRun(t testing.TB, db *models.DB, n int, fn func(ctx context.Context, i int) error) ([]error, []any) {
	t.Helper()
	errs, panics := make([]error, n), make([]any, n)
	started := make(chan struct{})
	var wg sync.WaitGroup
	call := func(i int) {
		defer wg.Done()
		defer func() { panics[i] = recover() }()
		errs[i] = db.Group(context.Background(), func(ctx context.Context) error {
			if i == 0 {
				close(started)
				waitQueued(t, db, n-1)
			}
			return fn(ctx, i)
		})
	}
	wg.Add(n)
	go call(0)
	<-started
	for i := 1; i < n; i++ {
		go call(i)
	}
	wg.Wait()
	return errs, panics
}

// waitQueued waits until n calls of Group are queued (on SQLite; at once on PostgreSQL, where Group
// does not queue).
func waitQueued(t testing.TB, db *models.DB, n int) {
	if db.Postgres() {
		return
	}
	for deadline := time.Now().Add(10 * time.Second); models.GroupQueued(db) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%d calls queued, want %d", models.GroupQueued(db), n)
			return
		}
	}
}

func putSetting(ctx context.Context, db *models.DB, key string) error {
	return db.Conn(ctx).Exec("INSERT INTO settings (key, value) VALUES (?, ?)", key, "v").Error
}

func settingsLike(t testing.TB, db *models.DB, prefix string) map[string]bool {
	t.Helper()
	var keys []string
	if err := db.Conn(context.Background()).Raw("SELECT key FROM settings WHERE key LIKE ?", prefix+"%").Scan(&keys).Error; err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k] = true
	}
	return got
}

// wantShared checks, on SQLite, that the calls ran in two transactions: call 0 alone, the others
// together.
func wantShared(t testing.TB, db *models.DB, n int) {
	t.Helper()
	if groups, calls := models.GroupStats(db); !db.Postgres() && (groups != 2 || calls != int64(n)) {
		t.Errorf("%d calls ran in %d transactions, want %d in 2", calls, groups, n)
	}
}

func TestGroupCallsKeepTheirOwnOutcome(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		const n = 8
		errFour := errors.New("call 4 fails")
		errs, panics := groupRun(t, db, n, func(ctx context.Context, i int) error {
			if err := putSetting(ctx, db, fmt.Sprintf("own-%d", i)); err != nil {
				return err
			}
			switch i {
			case 4: // its row is written, then it fails: the row must go with it
				return errFour
			case 6:
				panic("call 6 panics")
			}
			return nil
		})
		wantShared(t, db, n)
		got := settingsLike(t, db, "own-")
		for i := range n {
			switch {
			case i == 4 && !errors.Is(errs[i], errFour), i == 6 && panics[i] != "call 6 panics":
				t.Errorf("call %d: error %v, panic %v", i, errs[i], panics[i])
			case i != 4 && i != 6 && (errs[i] != nil || panics[i] != nil):
				t.Errorf("call %d failed for another's sake: error %v, panic %v", i, errs[i], panics[i])
			}
			if want := i != 4 && i != 6; got[fmt.Sprintf("own-%d", i)] != want {
				t.Errorf("call %d: row committed %v, want %v", i, !want, want)
			}
		}
	})
}

func TestGroupRerunsCallsOfABrokenTransaction(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		// Call 3 ends the shared transaction under everyone's feet and fails; the calls before it lose
		// their work with the transaction and must run again, the calls after it must not run outside a
		// transaction. Every other call commits exactly once (a second insert of a key would fail).
		const n = 6
		errs, panics := groupRun(t, db, n, func(ctx context.Context, i int) error {
			if err := putSetting(ctx, db, fmt.Sprintf("broken-%d", i)); err != nil {
				return err
			}
			if i == 3 {
				if err := db.Conn(ctx).Exec("ROLLBACK").Error; err != nil {
					return err
				}
				return errors.New("call 3 rolled everything back")
			}
			return nil
		})
		got := settingsLike(t, db, "broken-")
		for i := range n {
			if i == 3 {
				if errs[i] == nil {
					t.Errorf("call 3 succeeded")
				}
				continue
			}
			if errs[i] != nil || panics[i] != nil || !got[fmt.Sprintf("broken-%d", i)] {
				t.Errorf("call %d: error %v, panic %v, committed %v", i, errs[i], panics[i], got[fmt.Sprintf("broken-%d", i)])
			}
		}
		// The group connection still works afterwards.
		if err := db.Group(context.Background(), func(ctx context.Context) error { return putSetting(ctx, db, "broken-after") }); err != nil {
			t.Fatal(err)
		}
	})
}

func TestGroupNestsInAnOuterTransaction(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		errOuter := errors.New("outer fails")
		err := db.Tx(ctx, func(ctx context.Context) error {
			if err := db.Group(ctx, func(ctx context.Context) error { return putSetting(ctx, db, "nested") }); err != nil {
				return err
			}
			return errOuter
		})
		if !errors.Is(err, errOuter) {
			t.Fatalf("outer transaction: %v", err)
		}
		if got := settingsLike(t, db, "nested"); len(got) != 0 {
			t.Fatalf("the nested call committed on its own: %v", got)
		}
	})
}

func TestGroupSkipsCallsWhoseCallerIsGone(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		if db.Postgres() {
			t.Skip("Group is Tx on PostgreSQL")
		}
		// Call 0 holds the transaction until call 1 is queued, and call 1's caller gives up meanwhile.
		ctx, cancel := context.WithCancel(context.Background())
		started, done := make(chan struct{}), make(chan error, 1)
		go func() {
			done <- db.Group(context.Background(), func(ctx context.Context) error {
				close(started)
				waitQueued(t, db, 1)
				cancel()
				return putSetting(ctx, db, "gone-0")
			})
		}()
		<-started
		err := db.Group(ctx, func(ctx context.Context) error { return putSetting(ctx, db, "gone-1") })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the call of a cancelled caller: %v", err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := settingsLike(t, db, "gone-"); !got["gone-0"] || got["gone-1"] {
			t.Fatalf("committed %v, want gone-0 only", got)
		}
	})
}
