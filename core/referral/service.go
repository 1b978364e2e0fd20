package referral

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/models"
)

// Rebate states: placed when the order is placed (the referrer and share fixed), pending once it is
// paid, available once it is fulfilled and the hold has passed; void when the order was never paid and
// its referrer and shopper turned out to be one person (a merge).
const (
	StatePlaced    = "placed"
	StatePending   = "pending"
	StateAvailable = "available"
	StateVoid      = "void"
)

// Ledger entry kinds.
const (
	KindEarn    = "earn"
	KindReverse = "reverse"
	KindPayout  = "payout"
)

// Options are what the referral room is started with.
type Options struct {
	// Hold is the hold of the default settings: how long a rebate stays pending after its order is
	// completed or delivered (whole days).
	Hold time.Duration
	// Page is the mini-program page a shared referral opens, with `?ref=CODE`.
	Page string
}

// Service runs referral codes, links and rebates on one database. It is safe for concurrent use, and
// several processes may run it on the same database.
type Service struct {
	domain.Env
	members  *member.Service
	defaults Settings
	page     string
}

// New returns the referral service.
func New(env domain.Env, members *member.Service, o Options) *Service {
	if o.Page == "" {
		o.Page = "pages/index/index"
	}
	hold := int64(7)
	if o.Hold > 0 {
		hold = int64(o.Hold / (24 * time.Hour))
	}
	return &Service{Env: env, members: members, page: o.Page, defaults: Settings{HoldDays: hold}}
}

// Settings are the referral rules an admin changes without a restart: the share of a referred member's
// paid goods each tier earns, in basis points (1/100 of a percent), and the hold. A change applies to
// orders placed after it. Tier1Bps 0 turns rebates off; Tier2Bps 0 pays one tier only.
type Settings struct {
	// Tier1Bps is the share of the shopper's referrer.
	Tier1Bps int64 `json:"tier1_bps"`
	// Tier2Bps is the share of the referrer's own referrer.
	Tier2Bps int64 `json:"tier2_bps"`
	// HoldDays is how long a rebate stays pending after its order is completed or delivered.
	HoldDays int64 `json:"hold_days"`
}

// MaxBps is the largest share one tier may have: half of the goods.
const MaxBps = 5000

// Validate checks the settings; the error names every bad field.
func (st Settings) Validate() error {
	var bad []string
	rng := func(name string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad = append(bad, fmt.Sprintf("%s must be between %d and %d", name, lo, hi))
		}
	}
	rng("tier1_bps", st.Tier1Bps, 0, MaxBps)
	rng("tier2_bps", st.Tier2Bps, 0, MaxBps)
	rng("hold_days", st.HoldDays, 0, 365)
	if st.Tier1Bps == 0 && st.Tier2Bps > 0 {
		bad = append(bad, "tier2_bps must be 0 when tier1_bps is 0")
	}
	if st.Tier1Bps+st.Tier2Bps > MaxBps {
		bad = append(bad, fmt.Sprintf("tier1_bps + tier2_bps must be at most %d", MaxBps))
	}
	if len(bad) > 0 {
		return domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	return nil
}

// SettingsView is the settings in force with their version (0 for the defaults, never changed).
type SettingsView struct {
	Settings
	Version   int64      `json:"version"`
	ChangedBy string     `json:"changed_by,omitempty"`
	ChangedAt *time.Time `json:"changed_at,omitempty"`
}

// Settings returns the settings in force: the newest version, or the defaults (rebates off, the
// configured hold) until an admin stores one.
func (s *Service) Settings(ctx context.Context) (SettingsView, error) {
	var rows []models.ReferralSettings
	if err := s.DB.Conn(ctx).Order("id DESC").Limit(1).Find(&rows).Error; err != nil {
		return SettingsView{}, err
	}
	if len(rows) == 0 {
		return SettingsView{Settings: s.defaults}, nil
	}
	r := rows[0]
	at := r.CreatedAt.UTC()
	return SettingsView{Settings: Settings{Tier1Bps: r.Tier1Bps, Tier2Bps: r.Tier2Bps, HoldDays: r.HoldDays}, Version: r.ID, ChangedBy: r.ChangedBy, ChangedAt: &at}, nil
}

// PutSettings validates and stores a new version of the settings, which applies to orders placed from
// now on; by is who changed them.
func (s *Service) PutSettings(ctx context.Context, in Settings, by string) (SettingsView, error) {
	if err := in.Validate(); err != nil {
		return SettingsView{}, err
	}
	r := models.ReferralSettings{Tier1Bps: in.Tier1Bps, Tier2Bps: in.Tier2Bps, HoldDays: in.HoldDays, ChangedBy: by, CreatedAt: s.Now()}
	if err := s.DB.Conn(ctx).Create(&r).Error; err != nil {
		return SettingsView{}, err
	}
	s.Log.InfoContext(ctx, "referral settings changed", "version", r.ID, "by", by, "tier1_bps", in.Tier1Bps, "tier2_bps", in.Tier2Bps)
	at := r.CreatedAt.UTC()
	return SettingsView{Settings: in, Version: r.ID, ChangedBy: by, ChangedAt: &at}, nil
}

// lockLinks serialises changes to referral links across the hub for the rest of the transaction: a
// transaction-scoped advisory lock on PostgreSQL; on SQLite the immediate write transaction already
// excludes every other writer. Two binds that would close a cycle between them (A→B and B→A, or a longer
// ring bound by several members at once) therefore never both see the ring open.
func (s *Service) lockLinks(ctx context.Context) error {
	if !s.DB.Postgres() {
		return nil
	}
	return s.DB.Conn(ctx).Exec("SELECT pg_advisory_xact_lock(7244520314)").Error
}

// canonical returns the member that holds memberID's records now: the survivor of its merges.
func (s *Service) canonical(ctx context.Context, memberID int64) (int64, error) {
	for range 32 {
		var m models.Member
		if err := s.DB.Conn(ctx).Select("id", "merged_into").Take(&m, memberID).Error; err != nil {
			if models.IsNotFound(err) {
				return 0, domain.Errf(domain.ErrNotFound, "member %d not found", memberID)
			}
			return 0, err
		}
		if m.MergedInto == nil {
			return m.ID, nil
		}
		memberID = *m.MergedInto
	}
	return 0, fmt.Errorf("member %d: merges form a chain longer than 32", memberID)
}
