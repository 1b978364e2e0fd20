package core

import (
	"context"

	"github.com/o2ohub/o2ohub/models"
)

// SubmitNow lets the tests submit a recorded refund as a refund request does.
func (s *Service) SubmitNow(ctx context.Context, r models.Refund) (RefundView, error) {
	return s.submitNow(ctx, r)
}
