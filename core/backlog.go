package core

import (
	"context"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/metrics"
)

// Backlog reads the depth of each work queue (items waiting) and its lag (how long its oldest due item
// has been due), for the operators' metrics: the order flow's own queues, then the platforms'.
func (s *Service) Backlog(ctx context.Context) ([]metrics.Queue, error) {
	out, err := domain.Backlog(ctx, s.Env, []domain.QueueSpec{
		{Name: "unpaid_expiry", Table: "orders", Due: "expires_at", Where: "status = ?", Args: []any{StatusPendingPayment}},
		{Name: "refunds", Table: "refunds", Due: "next_attempt_at", Where: "status IN ?", Args: []any{[]string{RefundRequested, RefundProcessing}}},
		{Name: "payment_checks", Table: "payment_attempts", Due: "next_check_at", Where: "status = ?", Args: []any{attemptOpen}},
		{Name: "channel_tasks", Table: "tasks", Due: "next_attempt_at", Where: "status = ?", Args: []any{taskPending}},
		{Name: "idempotency_keys", Table: "idempotency_keys", Due: "expires_at"},
	})
	if err != nil {
		return nil, err
	}
	more, err := s.Market.Backlog(ctx)
	return append(out, more...), err
}
