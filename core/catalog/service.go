package catalog

import "github.com/o2ohub/o2ohub/core/domain"

// Service runs the catalog on one database. It is safe for concurrent use.
type Service struct {
	domain.Env
}

// New returns the catalog service.
func New(env domain.Env) *Service { return &Service{Env: env} }
