package market

import (
	"context"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/metrics"
	"github.com/o2ohub/o2ohub/models"
)

// Backlog reads the platforms' work queues: calls owed, orders in the inbox, and stock levels the
// platforms do not hold yet.
func (s *Service) Backlog(ctx context.Context) ([]metrics.Queue, error) {
	out, err := domain.Backlog(ctx, s.Env, []domain.QueueSpec{
		{Name: "platform_calls", Table: "market_calls", Due: "next_attempt_at", Where: "status = ?", Args: []any{callPending}},
		{Name: "platform_inbox", Table: "market_inbox", Due: "due_at"},
	})
	if err != nil {
		return nil, err
	}
	var pushes int64
	if err := s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("pushed IS NULL OR pushed <> desired").Count(&pushes).Error; err != nil {
		return nil, err
	}
	return append(out, metrics.Queue{Name: "platform_stock_pushes", Depth: pushes}), nil
}
