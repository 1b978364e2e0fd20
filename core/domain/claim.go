package domain

import (
	"context"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// LeaseTime is how long a worker holds the rows it claimed before another worker may take them again.
const LeaseTime = 5 * time.Minute

// ClaimDue leases up to limit rows of T that scope selects and whose dueCol time has come, oldest due
// first, in one short transaction: the rows are locked with SKIP LOCKED on PostgreSQL (SQLite's
// immediate transaction serialises), their due time moves LeaseTime ahead and countCol counts the
// attempt, so no other worker or replica takes them until the lease runs out. claim counts the attempt
// in the returned copy and gives its id.
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
