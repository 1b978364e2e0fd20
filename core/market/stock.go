package market

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// maxLevelRetry caps the backoff of a level a platform refused.
const maxLevelRetry = 10 * time.Minute

// PushStock is the stock pool's sweep: for each shop due (claimed by one replica at a time), it brings
// every level up to date with its stock row (the row's version is the stock-changed mark), then tells the
// platform the levels it does not hold yet, in batches of the platform's size — only the latest value of
// each SKU, never one call per change, never a value the platform already has. A rate limit locks all of
// the platform's shops until it runs out. Unbinding shops are told 0 and then removed.
func (s *Service) PushStock(ctx context.Context, limit int) (int, error) {
	shops, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q }, "push_due_at", "push_runs", limit,
		func(r *models.MarketShop) int64 { return r.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, sh := range shops {
		if err := s.pushShop(ctx, sh); err != nil {
			errs = append(errs, fmt.Errorf("%s shop %s: %w", sh.Platform, sh.ShopID, err))
		}
	}
	return len(shops), errors.Join(errs...)
}

func (s *Service) pushShop(ctx context.Context, sh models.MarketShop) error {
	// The worker sweeps once a push interval, and a sweep may start a little less than an interval after
	// the one before (that one started late): due a full interval from now, the shop would be skipped by
	// the next sweep and pushed only every other interval. Half an interval of slack keeps it due by then
	// while changes within the interval are still coalesced.
	next := s.Now().Add(s.opts.PushInterval - s.opts.PushInterval/2)
	defer func() {
		// The shop is due again at its next interval (or when its rate limit runs out), whatever happened.
		if sh.LockedUntil != nil && sh.LockedUntil.After(next) {
			next = *sh.LockedUntil
		}
		_ = s.DB.Conn(context.WithoutCancel(ctx)).Model(&models.MarketShop{}).Where("id = ?", sh.ID).Update("push_due_at", next).Error
	}()
	conn, ok := s.conns[sh.Platform]
	if !ok {
		return nil // the platform is off in this process: nothing to say to it
	}
	if sh.LockedUntil != nil && sh.LockedUntil.After(s.Now()) {
		return nil
	}
	if err := s.refreshLevels(ctx, sh); err != nil {
		return err
	}
	for {
		var due []models.MarketLevel
		q := s.DB.Conn(ctx).Where("shop_id = ? AND (retry_at IS NULL OR retry_at <= ?)", sh.ID, s.Now())
		if sh.State == ShopUnbinding {
			q = q.Where("pushed IS NOT NULL AND pushed <> 0")
		} else {
			q = q.Where("pushed IS NULL OR pushed <> desired")
		}
		if err := q.Order("id").Limit(conn.StockBatch()).Find(&due).Error; err != nil {
			return err
		}
		if len(due) == 0 {
			break
		}
		levels := make([]StockLevel, len(due))
		for i, l := range due {
			levels[i] = StockLevel{Code: l.Code, Qty: l.Desired}
			if sh.State == ShopUnbinding {
				levels[i].Qty = 0
			}
		}
		err := conn.PushStock(ctx, sh.ShopID, levels)
		var ce *CallError
		errors.As(err, &ce)
		switch {
		case err == nil || (ce != nil && len(ce.Failed) > 0 && ce.Kind != ErrRateLimited && ce.Kind != ErrAuth):
			if err := s.levelsPushed(ctx, due, levels, ce); err != nil {
				return err
			}
			s.setShop(ctx, sh.ID, map[string]any{"last_push_at": s.Now(), "last_error": errText(err)})
		case errors.Is(err, ErrRateLimited):
			wait := time.Minute
			if ce != nil && ce.RetryAfter > 0 {
				wait = ce.RetryAfter
			}
			until := s.Now().Add(wait)
			sh.LockedUntil = &until
			// The limit is the merchant's: every shop of the platform waits it out.
			s.DB.Conn(ctx).Model(&models.MarketShop{}).Where("platform = ?", sh.Platform).
				Updates(map[string]any{"locked_until": until, "last_error": err.Error()})
			s.Log.WarnContext(ctx, "platform rate limit: stock pushes wait", "platform", sh.Platform, "until", until)
			return nil
		case errors.Is(err, ErrAuth):
			s.setShop(ctx, sh.ID, map[string]any{"last_error": err.Error()})
			if aerr := events.Alert(ctx, s.Env, "platform_auth", "", fmt.Sprintf("%s refused our credentials pushing stock to shop %s: %v", sh.Platform, sh.ShopID, err)); aerr != nil {
				return aerr
			}
			next := s.Now().Add(time.Minute)
			sh.LockedUntil = &next
			return nil
		default:
			s.setShop(ctx, sh.ID, map[string]any{"last_error": err.Error()})
			return s.levelsFailed(ctx, due, err)
		}
	}
	if sh.State == ShopUnbinding {
		return s.DB.Tx(ctx, func(ctx context.Context) error {
			if err := s.DB.Conn(ctx).Where("shop_id = ?", sh.ID).Delete(&models.MarketLevel{}).Error; err != nil {
				return err
			}
			return s.DB.Conn(ctx).Where("id = ? AND state = ?", sh.ID, ShopUnbinding).Delete(&models.MarketShop{}).Error
		})
	}
	return nil
}

// levelsPushed records what the platform now holds; levels it refused (ce.Failed) are retried later.
func (s *Service) levelsPushed(ctx context.Context, due []models.MarketLevel, sent []StockLevel, ce *CallError) error {
	for i, l := range due {
		if ce != nil {
			if why, failed := ce.Failed[l.Code]; failed {
				if err := s.levelsFailed(ctx, []models.MarketLevel{l}, errors.New(why)); err != nil {
					return err
				}
				continue
			}
		}
		if err := s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("id = ?", l.ID).
			Updates(map[string]any{"pushed": sent[i].Qty, "attempts": 0, "retry_at": nil, "last_error": ""}).Error; err != nil {
			return err
		}
	}
	return nil
}

// levelsFailed backs the levels off, doubling from the push interval up to maxLevelRetry.
func (s *Service) levelsFailed(ctx context.Context, due []models.MarketLevel, cause error) error {
	for _, l := range due {
		wait := s.opts.PushInterval << min(l.Attempts, 10)
		if wait > maxLevelRetry || wait <= 0 {
			wait = maxLevelRetry
		}
		if err := s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("id = ?", l.ID).
			Updates(map[string]any{"attempts": l.Attempts + 1, "retry_at": s.Now().Add(wait), "last_error": cause.Error()}).Error; err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) setShop(ctx context.Context, id int64, set map[string]any) {
	set["updated_at"] = s.Now()
	if err := s.DB.Conn(ctx).Model(&models.MarketShop{}).Where("id = ?", id).Updates(set).Error; err != nil {
		s.Log.ErrorContext(ctx, "market shop not updated", "id", id, "err", err)
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// stockRow is a stock row of a bound store with the level it gives, if any.
type stockRow struct {
	ProductID    int64
	SKU          string
	OnHand       int64
	Reserved     int64
	Version      int64
	LevelID      *int64
	StockVersion *int64
}

// refreshLevels recomputes the levels of a shop whose stock row changed since (its version moved), and
// starts a full sync when one is due: every level is pushed again.
func (s *Service) refreshLevels(ctx context.Context, sh models.MarketShop) error {
	now := s.Now()
	if sh.State == ShopBound && (sh.FullSyncAt == nil || !sh.FullSyncAt.After(now)) {
		if err := s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("shop_id = ?", sh.ID).Update("pushed", nil).Error; err != nil {
			return err
		}
		s.setShop(ctx, sh.ID, map[string]any{"full_sync_at": now.Add(s.opts.FullSync)})
	}
	var rows []stockRow
	err := s.DB.Conn(ctx).Raw(`SELECT st.product_id, p.sku, st.on_hand, st.reserved, st.version, l.id AS level_id, l.stock_version
		FROM stocks st JOIN products p ON p.id = st.product_id
		LEFT JOIN market_levels l ON l.shop_id = ? AND l.product_id = st.product_id
		WHERE st.store_id = ? AND (l.id IS NULL OR l.stock_version <> st.version)`, sh.ID, sh.StoreID).Scan(&rows).Error
	if err != nil || len(rows) == 0 {
		return err
	}
	codes, err := s.codes(ctx, sh.Platform)
	if err != nil {
		return err
	}
	for _, r := range rows {
		desired := Shown(r.OnHand, r.Reserved, sh.SafetyStock, sh.RatioPct)
		if sh.State == ShopUnbinding {
			desired = 0
		}
		code := r.SKU
		if c, ok := codes[r.ProductID]; ok {
			code = c
		}
		if r.LevelID == nil {
			err = s.DB.Conn(ctx).Create(&models.MarketLevel{ShopID: sh.ID, ProductID: r.ProductID, Code: code, StockVersion: r.Version, Desired: desired}).Error
			if models.IsDuplicate(err) { // another replica made it meanwhile: the next round updates it
				err = nil
			}
		} else {
			err = s.DB.Conn(ctx).Model(&models.MarketLevel{}).Where("id = ?", *r.LevelID).
				Updates(map[string]any{"stock_version": r.Version, "desired": desired, "code": code}).Error
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// codes returns the platform code of each mapped product (by default a product's code is its SKU).
func (s *Service) codes(ctx context.Context, platform string) (map[int64]string, error) {
	var maps []models.MarketSKU
	if err := s.DB.Conn(ctx).Where("platform = ?", platform).Order("code").Find(&maps).Error; err != nil {
		return nil, err
	}
	out := map[int64]string{}
	for _, m := range maps {
		if _, seen := out[m.ProductID]; !seen {
			out[m.ProductID] = m.Code
		}
	}
	return out, nil
}
