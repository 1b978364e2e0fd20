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
//     waiting on the network; a replica that dies loses its rows only until the lease runs out.
//   - SweepDue is for work done inside the database (expiring orders, re-routing, ending pickup codes):
//     one short transaction per row, which locks that row (and whatever its work touches, e.g. its
//     stock) and nothing else, so no sweep holds a hot row for a whole batch and a failing row does not
//     stop the others.

// LeaseTime is how long a worker holds the rows it claimed before another worker may take them again.
const LeaseTime = 5 * time.Minute

// ClaimDue leases up to limit rows of T that scope selects and whose dueCol time has come, oldest due
// first, in one short transaction: the rows are locked with SKIP LOCKED on PostgreSQL (SQLite's
// immediate transaction serialises), their due time moves LeaseTime ahead and countCol counts the
// attempt, so no other worker or replica takes them until the lease runs out. claim counts the attempt
// in the returned copy and gives its id. Use it when the work calls something outside the database;
// for work done in the database use SweepDue.
func ClaimDue[T any](ctx context.Context, s Env, scope func(*gorm.DB) *gorm.DB, dueCol, countCol string, limit int, claim func(*T) int64) ([]T, error) {
	var due []T
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		due = nil // a retried transaction starts again
		now := s.Now()
		if err := scope(s.DB.Conn(ctx)).Clauses(models.ForUpdateSkipLocked()).Where(dueCol+" <= ?", now).
			Order(dueCol).Limit(limit).Find(&due).Error; err != nil {
			return err
		}
		if len(due) == 0 {
			return nil
		}
		ids := make([]int64, len(due))
		for i := range due {
			ids[i] = claim(&due[i])
		}
		return s.DB.Conn(ctx).Model(new(T)).Where("id IN ?", ids).
			Updates(map[string]any{dueCol: now.Add(LeaseTime), countCol: gorm.Expr(countCol + " + 1")}).Error
	})
	return due, err
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
