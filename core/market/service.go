package market

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// Options are the market room's settings.
type Options struct {
	// PushInterval is how often a shop's changed stock is pushed: changes within it are coalesced.
	PushInterval time.Duration
	// FullSync is how often every level of a shop is pushed again, to heal drift.
	FullSync time.Duration
	// PullInterval is how often each shop's recent orders are pulled, to find orders whose push was lost.
	PullInterval time.Duration
}

// Shop binding states: ShopView.State is one of these. A shop being unbound takes no new orders while
// its platform is told 0 for what the hub pushed.
const (
	ShopBound     = "bound"
	ShopUnbinding = "unbinding"
)

// Service runs the platform side of the hub on one database: bindings, SKU maps, the call outbox, the
// stock pool and the pull. It is safe for concurrent use, and several processes may run it on the same
// database.
type Service struct {
	domain.Env
	catalog *catalog.Service
	opts    Options
	conns   map[string]Connector
	refunds map[string]RefundFetcher
}

// New returns the market service; register each enabled platform's connector with Register. Every
// interval of opts must be set (core's DefaultOptions has them).
func New(env domain.Env, cat *catalog.Service, opts Options) *Service {
	return &Service{Env: env, catalog: cat, opts: opts, conns: map[string]Connector{}, refunds: map[string]RefundFetcher{}}
}

// Register enables a platform through its connector, recording its optional capabilities once.
func (s *Service) Register(c Connector) {
	s.conns[c.Platform()] = c
	if f, ok := c.(RefundFetcher); ok {
		s.refunds[c.Platform()] = f
	}
}

// RefundFetcher returns the platform's refund reader when its refund pushes name only the refund.
func (s *Service) RefundFetcher(platform string) (RefundFetcher, bool) {
	f, ok := s.refunds[platform]
	return f, ok
}

// Connector returns an enabled platform's connector; false when the platform is off.
func (s *Service) Connector(platform string) (Connector, bool) {
	c, ok := s.conns[platform]
	return c, ok
}

// ShopInput binds a platform shop to one of our stores. Ratio is the share of the sellable stock the
// platform shows, from 0 to 1 with at most two decimals (kept exactly, as a percentage).
type ShopInput struct {
	Platform    string      `json:"-"`
	ShopID      string      `json:"-"`
	Store       string      `json:"store"`
	AutoAccept  bool        `json:"auto_accept"`
	SafetyStock int64       `json:"safety_stock"`
	Ratio       json.Number `json:"ratio"`
}

// ShopView is a binding and the state of its sync.
type ShopView struct {
	Platform    string     `json:"platform"`
	ShopID      string     `json:"shop_id"`
	Store       string     `json:"store"`
	AutoAccept  bool       `json:"auto_accept"`
	SafetyStock int64      `json:"safety_stock"`
	Ratio       float64    `json:"ratio"`
	State       string     `json:"state"`
	LastPushAt  *time.Time `json:"last_push_at,omitempty"`
	LastOrderAt *time.Time `json:"last_order_at,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	// PendingPushes counts the SKUs whose platform value is not yet what the hub wants it to show.
	PendingPushes int64      `json:"pending_pushes"`
	LockedUntil   *time.Time `json:"rate_limited_until,omitempty"`
}

func (s *Service) enabled(p string) error {
	if _, ok := s.conns[p]; !ok {
		return domain.Errf(domain.ErrNotFound, "platform %q is not enabled", p)
	}
	return nil
}

// validID reports whether a shop id or SKU code from an operator is 1-64 letters, digits, '.', '-' or '_'.
func validID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || strings.ContainsRune("-_.", r)) {
			return false
		}
	}
	return true
}

// ratioPct reads a ratio such as 1, 1.0 or 0.85 exactly as a percentage.
func ratioPct(r json.Number) (int64, error) {
	if r == "" {
		return 100, nil
	}
	pct, err := cn.Fen(string(r))
	if err != nil || pct < 0 || pct > 100 {
		return 0, domain.Errf(domain.ErrInvalidArgument, "ratio must be a number from 0 to 1 with at most two decimals")
	}
	return pct, nil
}

// PutShop binds (or re-binds) a platform shop to a store.
func (s *Service) PutShop(ctx context.Context, in ShopInput) (ShopView, error) {
	if err := s.enabled(in.Platform); err != nil {
		return ShopView{}, err
	}
	if !validID(in.ShopID) {
		return ShopView{}, domain.Errf(domain.ErrInvalidArgument, "shop id must be 1-64 letters, digits, '.', '-' or '_'")
	}
	pct, err := ratioPct(in.Ratio)
	if err != nil {
		return ShopView{}, err
	}
	if in.SafetyStock < 0 || in.SafetyStock > catalog.MaxOnHand {
		return ShopView{}, domain.Errf(domain.ErrInvalidArgument, "safety_stock must be between 0 and %d", catalog.MaxOnHand)
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		st, err := s.catalog.StoreByCode(ctx, in.Store)
		if err != nil {
			return err
		}
		now := s.Now()
		row := models.MarketShop{Platform: in.Platform, ShopID: in.ShopID, StoreID: st.ID, AutoAccept: in.AutoAccept, SafetyStock: in.SafetyStock,
			RatioPct: pct, State: ShopBound, PushDueAt: now, PullDueAt: now, CreatedAt: now, UpdatedAt: now}
		if err := s.DB.Conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "platform"}, {Name: "shop_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"store_id", "auto_accept", "safety_stock", "ratio_pct", "state", "push_due_at", "updated_at"}),
		}).Create(&row).Error; err != nil {
			return err
		}
		// A new store, safety stock or ratio changes every level: recompute them all.
		return s.DB.Conn(ctx).Exec("UPDATE market_levels SET stock_version = -1 WHERE shop_id = (SELECT id FROM market_shops WHERE platform = ? AND shop_id = ?)", in.Platform, in.ShopID).Error
	})
	if err != nil {
		return ShopView{}, err
	}
	return s.Shop(ctx, in.Platform, in.ShopID)
}

// Shop returns a binding and its sync status.
func (s *Service) Shop(ctx context.Context, platform, shopID string) (ShopView, error) {
	out, err := s.views(ctx, "market_shops.platform = ? AND market_shops.shop_id = ?", platform, shopID)
	if err == nil && len(out) == 0 {
		err = domain.Errf(domain.ErrNotFound, "%s shop %s is not bound", platform, shopID)
	}
	if err != nil {
		return ShopView{}, err
	}
	return out[0], nil
}

// Shops lists the bindings of one store (every store when storeCode is empty).
func (s *Service) Shops(ctx context.Context, storeCode string) ([]ShopView, error) {
	if storeCode == "" {
		return s.views(ctx, "1 = 1")
	}
	st, err := s.catalog.StoreByCode(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	return s.views(ctx, "market_shops.store_id = ?", st.ID)
}

// views reads the bindings a condition selects with their store and pending pushes, in one query.
func (s *Service) views(ctx context.Context, where string, args ...any) ([]ShopView, error) {
	var rows []struct {
		models.MarketShop
		Store   string
		Pending int64
	}
	err := s.DB.Conn(ctx).Table("market_shops").
		Select(`market_shops.*, stores.code AS store, (SELECT COUNT(*) FROM market_levels l
			WHERE l.shop_id = market_shops.id AND (l.pushed IS NULL OR l.pushed <> l.desired)) AS pending`).
		Joins("JOIN stores ON stores.id = market_shops.store_id").Where(where, args...).
		Order("market_shops.platform, market_shops.shop_id").Scan(&rows).Error
	out := make([]ShopView, len(rows))
	for i, r := range rows {
		out[i] = ShopView{Platform: r.Platform, ShopID: r.ShopID, Store: r.Store, AutoAccept: r.AutoAccept, SafetyStock: r.SafetyStock,
			Ratio: float64(r.RatioPct) / 100, State: r.State, LastPushAt: utc(r.LastPushAt), LastOrderAt: utc(r.LastOrderAt),
			LastError: r.LastError, PendingPushes: r.Pending}
		if r.LockedUntil != nil && r.LockedUntil.After(s.Now()) {
			out[i].LockedUntil = utc(r.LockedUntil)
		}
	}
	return out, err
}

// DeleteShop unbinds a shop: the platform is first told 0 for every SKU the hub pushed to it, so that it
// sells nothing the hub would not see, then the binding goes. Orders already in flight finish.
func (s *Service) DeleteShop(ctx context.Context, platform, shopID string) (ShopView, error) {
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		row, err := s.shopRow(ctx, platform, shopID)
		if err != nil {
			return err
		}
		if err := s.DB.Conn(ctx).Model(&models.MarketShop{}).Where("id = ?", row.ID).
			Updates(map[string]any{"state": ShopUnbinding, "push_due_at": s.Now(), "updated_at": s.Now()}).Error; err != nil {
			return err
		}
		return s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("shop_id = ?", row.ID).Update("desired", 0).Error
	})
	if err != nil {
		return ShopView{}, err
	}
	return s.Shop(ctx, platform, shopID)
}

func (s *Service) shopRow(ctx context.Context, platform, shopID string) (models.MarketShop, error) {
	var row models.MarketShop
	err := s.DB.Conn(ctx).Where("platform = ? AND shop_id = ?", platform, shopID).Take(&row).Error
	if models.IsNotFound(err) {
		return row, domain.Errf(domain.ErrNotFound, "%s shop %s is not bound", platform, shopID)
	}
	return row, err
}

// BoundShop returns the binding of a platform shop that takes orders; an unknown or unbinding shop is
// ErrUnknownShop.
func (s *Service) BoundShop(ctx context.Context, platform, shopID string) (models.MarketShop, error) {
	row, err := s.shopRow(ctx, platform, shopID)
	if err == nil && row.State != ShopBound {
		err = domain.Errf(domain.ErrNotFound, "%s shop %s is being unbound", platform, shopID)
	}
	if err != nil {
		return row, fmt.Errorf("%w: %s shop %q", ErrUnknownShop, platform, shopID)
	}
	return row, nil
}

// SKUInput maps a platform's merchant SKU code to one of our SKUs.
type SKUInput struct {
	Platform string `json:"-"`
	Code     string `json:"-"`
	SKU      string `json:"sku"`
}

// SKUView is one mapping.
type SKUView struct {
	Platform string `json:"platform"`
	Code     string `json:"code"`
	SKU      string `json:"sku"`
}

// PutSKU maps a platform code to one of our SKUs (by default a code is our SKU).
func (s *Service) PutSKU(ctx context.Context, in SKUInput) (SKUView, error) {
	if err := s.enabled(in.Platform); err != nil {
		return SKUView{}, err
	}
	if !validID(in.Code) {
		return SKUView{}, domain.Errf(domain.ErrInvalidArgument, "code must be 1-64 letters, digits, '.', '-' or '_'")
	}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		p, err := s.catalog.ProductBySKU(ctx, in.SKU)
		if err != nil {
			return err
		}
		row := models.MarketSKU{Platform: in.Platform, Code: in.Code, ProductID: p.ID}
		if err := s.DB.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "platform"}, {Name: "code"}},
			DoUpdates: clause.AssignmentColumns([]string{"product_id"})}).Create(&row).Error; err != nil {
			return err
		}
		return s.forgetLevels(ctx, in.Platform)
	})
	return SKUView{Platform: in.Platform, Code: in.Code, SKU: in.SKU}, err
}

// DeleteSKU removes a mapping: the code is our SKU again.
func (s *Service) DeleteSKU(ctx context.Context, platform, code string) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		res := s.DB.Conn(ctx).Where("platform = ? AND code = ?", platform, code).Delete(&models.MarketSKU{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return domain.Errf(domain.ErrNotFound, "%s code %s is not mapped", platform, code)
		}
		return s.forgetLevels(ctx, platform)
	})
}

// forgetLevels makes every level of a platform's shops recomputed, after its codes changed.
func (s *Service) forgetLevels(ctx context.Context, platform string) error {
	return s.DB.Conn(ctx).Exec("UPDATE market_levels SET stock_version = -1 WHERE shop_id IN (SELECT id FROM market_shops WHERE platform = ?)", platform).Error
}

// Product returns the product a platform code names: its mapping, or our SKU of the same code. ok is
// false when neither exists.
func (s *Service) Product(ctx context.Context, platform, code string) (p models.Product, ok bool, err error) {
	if code == "" {
		return p, false, nil
	}
	var m models.MarketSKU
	err = s.DB.Conn(ctx).Where("platform = ? AND code = ?", platform, code).Take(&m).Error
	switch {
	case err == nil:
		err = s.DB.Conn(ctx).Take(&p, m.ProductID).Error
		return p, err == nil, err
	case !models.IsNotFound(err):
		return p, false, err
	}
	err = s.DB.Conn(ctx).Where("sku = ?", code).Take(&p).Error
	if models.IsNotFound(err) {
		return p, false, nil
	}
	return p, err == nil, err
}

// Shown is what a platform is told of a store's stock: max(0, floor((onHand − reserved − safety) ×
// pct / 100)), in integers.
func Shown(onHand, reserved, safety, pct int64) int64 {
	v := onHand - reserved - safety
	if v <= 0 {
		return 0
	}
	return v * pct / 100
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
