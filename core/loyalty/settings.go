package loyalty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Level is one membership level: a member reaches it when their net spend (paid minus refunded) over the
// settings' window reaches ThresholdFen.
type Level struct {
	Code string `json:"code"`
	Name string `json:"name"`
	// ThresholdFen is the net spend over the window, in fen, that reaches the level.
	ThresholdFen int64 `json:"threshold_fen"`
	// DiscountPct is the discount off the goods of the level's members' orders, in percent (0-50).
	DiscountPct int64 `json:"discount_pct"`
	// MultiplierPct multiplies the points the level's members earn, in percent (100 = as the earn rate).
	MultiplierPct int64 `json:"multiplier_pct"`
}

// Settings are the loyalty rules an admin changes without a restart. A change applies to orders placed
// after it.
type Settings struct {
	// EarnPointsPerYuan is how many points one yuan of cash paid for goods earns.
	EarnPointsPerYuan int64 `json:"earn_points_per_yuan"`
	// PointValueFen is what one point pays at checkout, in fen.
	PointValueFen int64 `json:"point_value_fen"`
	// MaxSharePct is the largest share of an order's goods (after the level discount) points may pay,
	// in percent; 100 lets points pay a whole order.
	MaxSharePct int64 `json:"max_share_pct"`
	// MaxPointsPerOrder caps the points one order may use; 0 means no cap beyond the share.
	MaxPointsPerOrder int64 `json:"max_points_per_order"`
	// HoldDays is how long earned points stay pending after their order is completed or delivered.
	HoldDays int64 `json:"hold_days"`
	// ExpiryDays is how long points stay available once they are.
	ExpiryDays int64 `json:"expiry_days"`
	// LevelWindowDays is the rolling window of net spend that levels are measured on.
	LevelWindowDays int64 `json:"level_window_days"`
	// ReviewDays is how often a member's level is reviewed (the only time it can go down).
	ReviewDays int64 `json:"review_days"`
	// Levels are the membership levels, lowest threshold first.
	Levels []Level `json:"levels"`
}

// SettingsView is the settings in force with their version.
type SettingsView struct {
	Settings
	Version   int64     `json:"version"`
	ChangedBy string    `json:"changed_by,omitempty"`
	ChangedAt time.Time `json:"changed_at"`
}

// Defaults are the settings a hub starts with until an admin changes them (config gives TTL and Hold:
// O2OHUB_POINTS_TTL and O2OHUB_POINTS_HOLD).
type Defaults struct {
	// TTL is how long points stay available (whole days).
	TTL time.Duration
	// Hold is how long earned points stay pending after their order is fulfilled (whole days).
	Hold time.Duration
}

// DefaultSettings returns the settings a hub starts with: 1 point per yuan, 1 fen a point, points may
// pay up to half of an order, pending for Hold and valid for TTL, three levels over a 365-day window.
func DefaultSettings(d Defaults) Settings {
	ttl, hold := int64(365), int64(7)
	if d.TTL > 0 {
		ttl = max(1, int64(d.TTL/(24*time.Hour)))
	}
	if d.Hold > 0 {
		hold = int64(d.Hold / (24 * time.Hour))
	}
	return Settings{EarnPointsPerYuan: 1, PointValueFen: 1, MaxSharePct: 50, HoldDays: hold, ExpiryDays: ttl,
		LevelWindowDays: 365, ReviewDays: 30, Levels: []Level{
			{Code: "standard", Name: "普通会员", ThresholdFen: 0, MultiplierPct: 100},
			{Code: "silver", Name: "银卡会员", ThresholdFen: 100000, MultiplierPct: 120},
			{Code: "gold", Name: "金卡会员", ThresholdFen: 500000, DiscountPct: 2, MultiplierPct: 150},
		}}
}

var levelCode = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// Validate checks the settings and orders the levels by threshold; the error names every bad field.
func (st *Settings) Validate() error {
	var bad []string
	rng := func(name string, v, lo, hi int64) {
		if v < lo || v > hi {
			bad = append(bad, fmt.Sprintf("%s must be between %d and %d", name, lo, hi))
		}
	}
	rng("earn_points_per_yuan", st.EarnPointsPerYuan, 0, 1000)
	rng("point_value_fen", st.PointValueFen, 1, 10000)
	rng("max_share_pct", st.MaxSharePct, 0, 100)
	rng("max_points_per_order", st.MaxPointsPerOrder, 0, 1_000_000_000)
	rng("hold_days", st.HoldDays, 0, 365)
	rng("expiry_days", st.ExpiryDays, 1, 3650)
	rng("level_window_days", st.LevelWindowDays, 1, 3650)
	rng("review_days", st.ReviewDays, 1, 3650)
	if len(st.Levels) > 20 {
		bad = append(bad, "levels must be at most 20")
	}
	seen := map[string]bool{}
	thresholds := map[int64]bool{}
	for i := range st.Levels {
		l := &st.Levels[i]
		l.Code, l.Name = strings.TrimSpace(l.Code), strings.TrimSpace(l.Name)
		f := fmt.Sprintf("levels[%d]", i)
		if !levelCode.MatchString(l.Code) {
			bad = append(bad, f+".code must be 1-32 lowercase letters, digits, _ or -")
		} else if seen[l.Code] {
			bad = append(bad, f+".code "+l.Code+" is used twice")
		}
		seen[l.Code] = true
		if n := utf8.RuneCountInString(l.Name); n == 0 || n > 32 {
			bad = append(bad, f+".name must be 1-32 characters")
		}
		rng(f+".threshold_fen", l.ThresholdFen, 0, 1_000_000_000_00)
		if thresholds[l.ThresholdFen] {
			bad = append(bad, fmt.Sprintf("%s.threshold_fen %d is used twice", f, l.ThresholdFen))
		}
		thresholds[l.ThresholdFen] = true
		rng(f+".discount_pct", l.DiscountPct, 0, 50)
		if l.MultiplierPct == 0 {
			l.MultiplierPct = 100
		}
		rng(f+".multiplier_pct", l.MultiplierPct, 100, 1000)
	}
	if len(bad) > 0 {
		return domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	sort.Slice(st.Levels, func(i, j int) bool { return st.Levels[i].ThresholdFen < st.Levels[j].ThresholdFen })
	return nil
}

// level returns the level of code and its rank (-1 and a zero level when the settings have none).
func (st Settings) level(code string) (Level, int) {
	for i, l := range st.Levels {
		if l.Code == code {
			return l, i
		}
	}
	return Level{MultiplierPct: 100}, -1
}

// reached returns the highest level whose threshold netFen reaches, and its rank (-1 for none).
func (st Settings) reached(netFen int64) (Level, int) {
	out, rank := Level{MultiplierPct: 100}, -1
	for i, l := range st.Levels {
		if netFen >= l.ThresholdFen {
			out, rank = l, i
		}
	}
	return out, rank
}

// discounts reports whether any level has a discount.
func (st Settings) discounts() bool {
	for _, l := range st.Levels {
		if l.DiscountPct > 0 {
			return true
		}
	}
	return false
}

func (st Settings) hold() time.Duration   { return time.Duration(st.HoldDays) * 24 * time.Hour }
func (st Settings) expiry() time.Duration { return time.Duration(st.ExpiryDays) * 24 * time.Hour }
func (st Settings) window() time.Duration { return time.Duration(st.LevelWindowDays) * 24 * time.Hour }
func (st Settings) review() time.Duration { return time.Duration(st.ReviewDays) * 24 * time.Hour }

// Settings returns the settings in force, storing the defaults as the first version when there is none.
// The version read is reused for up to a second (currentTTL), so a change made on another replica applies
// to the orders placed here a second later at most; one made here applies at once.
func (s *Service) Settings(ctx context.Context) (SettingsView, error) {
	s.mu.Lock()
	c, gen := s.current, s.gen
	s.mu.Unlock()
	if c != nil && time.Since(c.read) < currentTTL {
		return c.view, nil
	}
	read := time.Now()
	var row models.LoyaltySettings
	err := s.DB.Conn(ctx).Order("id DESC").Limit(1).Take(&row).Error
	if models.IsNotFound(err) {
		def := s.defaults
		body, _ := json.Marshal(def)
		row = models.LoyaltySettings{Body: string(body), ChangedBy: "defaults", CreatedAt: s.Now()}
		if err := s.DB.Conn(ctx).Create(&row).Error; err != nil {
			return SettingsView{}, err
		}
		if tx := s.DB.TxToken(ctx); tx != nil {
			s.mu.Lock()
			if s.uncommitted == nil {
				s.uncommitted = map[int64]any{}
			}
			s.uncommitted[row.ID] = tx
			s.mu.Unlock()
		}
		// A concurrent first call may have stored the defaults too: both are the same settings.
	} else if err != nil {
		return SettingsView{}, err
	}
	st, err := s.version(ctx, row.ID, &row)
	if err != nil {
		return SettingsView{}, err
	}
	v := SettingsView{Settings: st, Version: row.ID, ChangedBy: row.ChangedBy, ChangedAt: row.CreatedAt.UTC()}
	s.mu.Lock()
	if s.gen == gen && s.committed(ctx, row.ID) {
		s.current = &cachedSettings{view: v, read: read}
	}
	s.mu.Unlock()
	return v, nil
}

// committed reports whether a version read in ctx is certainly committed: it was not stored by this
// process inside the transaction ctx carries (a transaction sees no other's uncommitted rows, so a read
// outside that one proves it committed). The caller holds mu.
func (s *Service) committed(ctx context.Context, id int64) bool {
	tx, ok := s.uncommitted[id]
	if !ok {
		return true
	}
	if tx == s.DB.TxToken(ctx) {
		return false
	}
	delete(s.uncommitted, id)
	return true
}

// PutSettings validates and stores a new version of the settings, which applies to orders placed from
// now on; by is who changed them. It commits on its own: calling it inside a transaction is an error.
func (s *Service) PutSettings(ctx context.Context, in Settings, by string) (SettingsView, error) {
	if s.DB.InTx(ctx) {
		return SettingsView{}, errors.New("loyalty settings are changed in a transaction of their own")
	}
	if err := in.Validate(); err != nil {
		return SettingsView{}, err
	}
	body, err := json.Marshal(in)
	if err != nil {
		return SettingsView{}, err
	}
	row := models.LoyaltySettings{Body: string(body), ChangedBy: by, CreatedAt: s.Now()}
	if err := s.DB.Conn(ctx).Create(&row).Error; err != nil {
		return SettingsView{}, err
	}
	s.Log.InfoContext(ctx, "loyalty settings changed", "version", row.ID, "by", by)
	v := SettingsView{Settings: in, Version: row.ID, ChangedBy: by, ChangedAt: row.CreatedAt.UTC()}
	s.mu.Lock()
	s.gen++
	s.current = &cachedSettings{view: v, read: time.Now()}
	s.mu.Unlock()
	return v, nil
}

// version returns the settings of one version (row, when the caller has read it), from memory after the
// first read: versions never change.
func (s *Service) version(ctx context.Context, id int64, row *models.LoyaltySettings) (Settings, error) {
	if v, ok := s.versions.Load(id); ok {
		return v.(Settings), nil
	}
	if row == nil {
		row = &models.LoyaltySettings{}
		if err := s.DB.Conn(ctx).Take(row, id).Error; err != nil {
			return Settings{}, fmt.Errorf("loyalty settings version %d: %w", id, err)
		}
	}
	var st Settings
	if err := json.Unmarshal([]byte(row.Body), &st); err != nil {
		return Settings{}, fmt.Errorf("loyalty settings version %d: %w", id, err)
	}
	s.mu.Lock()
	if s.committed(ctx, id) {
		s.versions.Store(id, st)
	}
	s.mu.Unlock()
	return st, nil
}
