package core

import (
	"context"
	"time"

	"github.com/o2ohub/o2ohub/models"
)

// SubmitNow lets the tests submit a recorded refund as a refund request does.
func (s *Service) SubmitNow(ctx context.Context, r models.Refund) (RefundView, error) {
	return s.submitNow(ctx, r)
}

// WorkerStarted and WorkerRan play a background worker's runs for the health tests.
func (s *Service) WorkerStarted(name string, every time.Duration) {
	s.health.start(name, every, s.Now())
}

// WorkerRan records a finished run of a worker.
func (s *Service) WorkerRan(name string) { s.health.ran(name, s.Now()) }
