package member

import (
	"context"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
)

// Service runs members and their sessions on one database. It is safe for concurrent use.
type Service struct {
	domain.Env
	sessionTTL time.Duration
	// onMerge are the rooms that move their records of a member merged away, in the merge's transaction.
	onMerge []func(ctx context.Context, from, into int64) error
}

// OnMerge registers fn to run in the transaction of every merge of member from into member into, after
// the member's identities, orders and sessions have moved: for the rooms above (loyalty) to move theirs.
// Register before serving.
func (s *Service) OnMerge(fn func(ctx context.Context, from, into int64) error) {
	s.onMerge = append(s.onMerge, fn)
}

// New returns the member service; shopper sessions last sessionTTL.
func New(env domain.Env, sessionTTL time.Duration) *Service {
	return &Service{Env: env, sessionTTL: sessionTTL}
}
