package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Intake takes a platform order in (idempotently); the order flow provides it.
type Intake func(ctx context.Context, o Order) error

// pullLookback is how far back the first pull of a shop looks.
const pullLookback = time.Hour

// PullOrders is the sweep that recovers lost pushes: for each bound shop due (one replica at a time),
// it lists the shop's orders since its cursor, fetches those the hub does not hold and takes them in
// through intake, then keeps the new cursor. A shop whose pull fails keeps its cursor and tries again at
// its next turn.
func (s *Service) PullOrders(ctx context.Context, limit int, intake Intake) (int, error) {
	shops, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q.Where("state = ?", ShopBound) },
		"pull_due_at", "pull_runs", limit, func(r *models.MarketShop) int64 { return r.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	n := 0
	for _, sh := range shops {
		got, err := s.pullShop(ctx, sh, intake)
		n += got
		set := map[string]any{"pull_due_at": s.Now().Add(s.opts.PullInterval)}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s shop %s: %w", sh.Platform, sh.ShopID, err))
			set["last_error"] = err.Error()
		}
		s.setShop(ctx, sh.ID, set)
	}
	return n, errors.Join(errs...)
}

func (s *Service) pullShop(ctx context.Context, sh models.MarketShop, intake Intake) (int, error) {
	conn, ok := s.conns[sh.Platform]
	if !ok {
		return 0, nil
	}
	ids, next, err := conn.PullOrders(ctx, sh.ShopID, sh.PullCursor, sh.CreatedAt.Add(-pullLookback))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, id := range ids {
		var held int64
		if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("source = ? AND platform_order_id = ?", sh.Platform, id).Count(&held).Error; err != nil {
			return n, err
		}
		if held > 0 {
			continue
		}
		o, err := conn.FetchOrder(ctx, sh.ShopID, id)
		if err != nil {
			return n, err
		}
		if err := intake(ctx, withShop(o, sh.Platform, sh.ShopID)); err != nil {
			return n, err
		}
		s.Log.InfoContext(ctx, "platform order recovered by pull", "platform", sh.Platform, "shop", sh.ShopID, "platform_order_id", id)
		n++
	}
	return n, s.DB.Conn(ctx).Model(&models.MarketShop{}).Where("id = ?", sh.ID).Update("pull_cursor", next).Error
}
