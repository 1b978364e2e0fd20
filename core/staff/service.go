package staff

import (
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
)

// Service runs staff accounts and sessions on one database. It is safe for concurrent use.
type Service struct {
	domain.Env
	catalog      *catalog.Service
	passwordCost int
	sessionTTL   time.Duration
	// dummy is the bcrypt hash an unknown username is checked against, made once.
	dummyOnce sync.Once
	dummy     []byte
}

// New returns the staff service: passwords are hashed at passwordCost, sessions last sessionTTL.
func New(env domain.Env, cat *catalog.Service, passwordCost int, sessionTTL time.Duration) *Service {
	return &Service{Env: env, catalog: cat, passwordCost: passwordCost, sessionTTL: sessionTTL}
}
