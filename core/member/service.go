package member

import (
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
)

// Service runs members and their sessions on one database. It is safe for concurrent use.
type Service struct {
	domain.Env
	sessionTTL time.Duration
}

// New returns the member service; shopper sessions last sessionTTL.
func New(env domain.Env, sessionTTL time.Duration) *Service {
	return &Service{Env: env, sessionTTL: sessionTTL}
}
