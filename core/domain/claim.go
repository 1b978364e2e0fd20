package domain

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Background work is taken with one of two helpers, so that any number of replicas share it without a
// leader:
//
//   - ClaimDue leases rows for work done outside the database: calling a provider (refunds, payment
//     checks, channel tasks). The lease commits before the call, so no transaction or lock is held while
//     waiting on the network. The lease is short and renewed while the worker holds it, so a replica
//     that dies loses its rows only for seconds.
//   - SweepDue is for work done inside the database (expiring orders, re-routing, ending pickup codes):
//     one short transaction per row, which locks that row (and whatever its work touches, e.g. its
//     stock) and nothing else, so no sweep holds a hot row for a whole batch and a failing row does not
//     stop the others.

// LeaseTime is how long a claimed row is held before another worker may take it, unless its worker renews
// it (every LeaseTime/3 while it holds the Lease): a replica that dies frees its rows within LeaseTime.
const LeaseTime = 30 * time.Second

// renewEvery is how often a held lease is renewed.
var renewEvery = LeaseTime / 3

// ClaimDue leases up to limit rows of T that scope selects and whose dueCol time has come, oldest due
// first, in one short transaction: the rows are locked with SKIP LOCKED on PostgreSQL (SQLite's
// immediate transaction serialises), their due time moves LeaseTime ahead and countCol counts the
// attempt, so no other worker or replica takes them while the lease holds. claim counts the attempt in
// the returned copy and gives its id. The Lease renews the rows' due time until Release, except for a row
// whose worker set its due time itself (its next attempt); call Release when the work is done. Use it
// when the work calls something outside the database; for work done in the database use SweepDue.
func ClaimDue[T any](ctx context.Context, s Env, scope func(*gorm.DB) *gorm.DB, dueCol, countCol string, limit int, claim func(*T) int64) ([]T, *Lease, error) {
	var due []T
	var ids []int64
	var until time.Time
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		due, ids = nil, nil // a retried transaction starts again
		now := s.Now()
		if err := scope(s.DB.Conn(ctx)).Clauses(models.ForUpdateSkipLocked()).Where(dueCol+" <= ?", now).
			Order(dueCol).Limit(limit).Find(&due).Error; err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		for i := range due {
			ids = append(ids, claim(&due[i]))
		}
		until = now.Add(LeaseTime).Truncate(time.Millisecond)
		return s.DB.Conn(ctx).Model(new(T)).Where("id IN ?", ids).
			Updates(map[string]any{dueCol: until, countCol: gorm.Expr(countCol + " + 1")}).Error
	})
	if err != nil || len(ids) == 0 {
		return due, &Lease{}, err
	}
	return due, newLease(ctx, s, new(T), dueCol, ids, until), nil
}

// Lease keeps claimed rows from other workers while their worker holds them.
type Lease struct {
	stop chan struct{}
	done chan struct{}
}

func newLease(ctx context.Context, s Env, model any, dueCol string, ids []int64, until time.Time) *Lease {
	l := &Lease{stop: make(chan struct{}), done: make(chan struct{})}
	held := map[int64]time.Time{} // each row's lease time, as the database holds it
	for _, id := range ids {
		held[id] = until
	}
	ctx = context.WithoutCancel(ctx)
	go func() {
		defer close(l.done)
		t := time.NewTicker(renewEvery)
		defer t.Stop()
		for len(held) > 0 {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			next := s.Now().Add(LeaseTime).Truncate(time.Millisecond)
			for id, at := range held {
				// Only a row still at our lease's time: a worker that set the row's next attempt owns it.
				res := s.DB.Conn(ctx).Model(model).Where("id = ? AND "+dueCol+" = ?", id, at).Update(dueCol, next)
				switch {
				case res.Error != nil:
					s.Log.WarnContext(ctx, "lease not renewed", "id", id, "err", res.Error)
				case res.RowsAffected == 0:
					delete(held, id)
				default:
					held[id] = next
				}
			}
		}
	}()
	return l
}

// Release stops renewing the lease: the rows' due times stay as the worker left them.
func (l *Lease) Release() {
	if l.stop == nil {
		return
	}
	close(l.stop)
	<-l.done
	l.stop = nil
}

// SweepDue works through up to limit rows of T that scope selects and whose dueCol time has come, oldest
// due first, one transaction per row. It first reads the due ids without locking anything; then, for
// each id, its transaction reads the row again under FOR UPDATE SKIP LOCKED with the same scope and due
// condition, and calls work on it. A row that another worker holds, or that no longer matches (someone
// else handled it meanwhile), is skipped. Call it outside a transaction. Use it when the work is done in
// the database; for work that calls providers use ClaimDue.
//
// It returns how many rows work reported it did something with. A row whose work fails is rolled back
// and the sweep goes on with the others; the failures are returned together (errors.Join), with the
// count of the rows that succeeded.
func SweepDue[T any](ctx context.Context, env Env, scope func(*gorm.DB) *gorm.DB, dueCol string, limit int, work func(ctx context.Context, row *T) (bool, error)) (int, error) {
	now := env.Now()
	var ids []int64
	if err := scope(env.DB.Conn(ctx).Model(new(T))).Where(dueCol+" <= ?", now).
		Order(dueCol).Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			errs = append(errs, err)
			break
		}
		var did bool
		err := env.DB.Tx(ctx, func(ctx context.Context) error {
			did = false // a retried transaction starts again
			var row T
			err := scope(env.DB.Conn(ctx)).Clauses(models.ForUpdateSkipLocked()).Where(dueCol+" <= ?", now).Take(&row, id).Error
			if models.IsNotFound(err) {
				return nil // taken by another worker, or no longer due
			}
			if err != nil {
				return err
			}
			did, err = work(ctx, &row)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%T %d: %w", *new(T), id, err))
			continue
		}
		if did {
			n++
		}
	}
	return n, errors.Join(errs...)
}
