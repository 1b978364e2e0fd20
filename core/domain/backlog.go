package domain

import (
	"context"
	"time"

	"github.com/o2ohub/o2ohub/internal/metrics"
)

// QueueSpec names a work queue kept in a table: the rows Where selects (with Args; all rows when empty)
// wait, and Due is the column saying when each is due.
type QueueSpec struct {
	Name, Table, Due, Where string
	Args                    []any
}

// Backlog reads each queue's depth and the lag of its oldest due row, at env's time.
func Backlog(ctx context.Context, env Env, specs []QueueSpec) ([]metrics.Queue, error) {
	now := env.Now()
	out := make([]metrics.Queue, 0, len(specs))
	for _, q := range specs {
		where, args := q.Where, q.Args
		if where == "" {
			where = "1 = 1"
		}
		var depth int64
		if err := env.DB.Conn(ctx).Table(q.Table).Where(where, args...).Count(&depth).Error; err != nil {
			return nil, err
		}
		var oldest []time.Time
		if err := env.DB.Conn(ctx).Table(q.Table).Where(where, args...).Where(q.Due+" <= ?", now).Order(q.Due).Limit(1).Pluck(q.Due, &oldest).Error; err != nil {
			return nil, err
		}
		item := metrics.Queue{Name: q.Name, Depth: depth}
		if len(oldest) == 1 {
			item.Lag = now.Sub(oldest[0])
		}
		out = append(out, item)
	}
	return out, nil
}
