package loyalty

import (
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
)

// Ledger entry kinds.
const (
	KindEarn     = "earn"
	KindSpend    = "spend"
	KindExpire   = "expire"
	KindClawback = "clawback"
	KindAdjust   = "adjust"
	KindRelease  = "release"
)

// Lot states: pending until its purchase is fulfilled plus the hold, then available until it expires.
const (
	LotPending   = "pending"
	LotAvailable = "available"
	LotExpired   = "expired"
)

// Service runs points and levels on one database. It is safe for concurrent use, and several processes
// may run it on the same database.
type Service struct {
	domain.Env
	defaults Settings
	// versions caches settings versions by id: a version never changes.
	versions sync.Map
	// mu guards current, gen and uncommitted. current caches the version in force for currentTTL (a
	// change made here replaces it at once); gen counts the changes made here, so that a read that began
	// before one does not cache what it read; uncommitted holds the versions this process stored inside a
	// transaction, with that transaction's token, until they are read in another or outside one: a
	// transaction that rolls back takes them with it, and no other transaction sees them before they
	// commit.
	mu          sync.Mutex
	current     *cachedSettings
	gen         int64
	uncommitted map[int64]any
}

// currentTTL is how long the settings in force are reused without reading them again: a change made on
// another replica reaches the orders placed here within it.
const currentTTL = time.Second

type cachedSettings struct {
	view SettingsView
	read time.Time
}

// New returns the loyalty service; d gives the defaults of the settings until an admin changes them.
func New(env domain.Env, d Defaults) *Service {
	return &Service{Env: env, defaults: DefaultSettings(d)}
}

// OrderSource is the source of a member's order in the ledger and purchases.
func OrderSource(orderNo string) string { return "order:" + orderNo }

// RefundSource is the source of a refund in the ledger.
func RefundSource(refundNo string) string { return "refund:" + refundNo }
