package shelf

import (
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
)

// Service runs shelf codes and scans on one database. It is safe for concurrent use, and several
// processes may run it on the same database.
type Service struct {
	domain.Env
	catalog *catalog.Service
	// publicURL is the hub's external base URL, which the codes' QRs point into.
	publicURL string
	// traceScanLimit is how many distinct scanners a unit trace code may have before scans warn of a
	// copied label.
	traceScanLimit int64
	scans          scanCounter
}

// New returns the shelf service.
func New(env domain.Env, cat *catalog.Service, publicURL string, traceScanLimit int64) *Service {
	return &Service{Env: env, catalog: cat, publicURL: publicURL, traceScanLimit: traceScanLimit}
}
