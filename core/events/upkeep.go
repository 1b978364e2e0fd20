package events

import (
	"context"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// AnnounceStock writes a stock.changed event for each stock row whose figures changed since it was last
// announced, up to limit rows. It reads the stock rows' version (the same stock-changed mark the platform
// stock pool follows) without locking them, so it never holds a hot row: changes between two runs are
// coalesced into one event with the latest figures, and a change that came back to where it was (an
// order placed and expired) announces nothing. One replica runs it at a time.
func (s *Service) AnnounceStock(ctx context.Context, limit int) (int, error) {
	n := 0
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		n = 0
		tx := s.DB.Conn(ctx)
		var cur []models.EventCursor
		if err := tx.Clauses(models.ForUpdateSkipLocked()).Where("name = ?", "stock").Find(&cur).Error; err != nil || len(cur) == 0 {
			return err
		}
		var rows []struct {
			ID               int64
			Store, SKU       string
			OnHand, Reserved int64
			Version          int64
			Marked           bool
			MOnHand, MAvail  int64
		}
		if err := tx.Raw(`SELECT s.id, st.code AS store, p.sku, s.on_hand, s.reserved, s.version,
				m.stock_id IS NOT NULL AS marked, COALESCE(m.on_hand, 0) AS m_on_hand, COALESCE(m.available, 0) AS m_avail
			FROM stocks s JOIN stores st ON st.id = s.store_id JOIN products p ON p.id = s.product_id
			LEFT JOIN stock_event_marks m ON m.stock_id = s.id
			WHERE m.stock_id IS NULL OR m.version <> s.version
			ORDER BY s.id LIMIT ?`, limit).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			avail := max(r.OnHand-r.Reserved, 0)
			mark := models.StockEventMark{StockID: r.ID, Version: r.Version, OnHand: r.OnHand, Available: avail}
			if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "stock_id"}}, UpdateAll: true}).Create(&mark).Error; err != nil {
				return err
			}
			if r.Marked && r.MOnHand == r.OnHand && r.MAvail == avail {
				continue
			}
			if err := Enqueue(ctx, s.Env, TypeStockChanged, r.Store+"/"+r.SKU,
				map[string]any{"store": r.Store, "sku": r.SKU, "on_hand": r.OnHand, "available": avail}); err != nil {
				return err
			}
		}
		n = len(rows)
		return nil
	})
	return n, err
}

// Prune removes, up to limit rows at a time, the deliveries delivered longer than the retention ago and
// the events older than it that no delivery waits for or holds as a dead letter.
func (s *Service) Prune(ctx context.Context, limit int) (int, error) {
	before := s.Now().Add(-s.opts.Retention)
	tx := s.DB.Conn(ctx)
	var ids []int64
	if err := tx.Model(&models.WebhookDelivery{}).Where("status = ? AND delivered_at < ?", DeliveryDelivered, before).
		Order("delivered_at").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	n := len(ids)
	if n > 0 {
		if err := tx.Where("id IN ?", ids).Delete(&models.WebhookDelivery{}).Error; err != nil {
			return 0, err
		}
	}
	ids = nil
	if err := tx.Model(&models.Event{}).Where("position IS NOT NULL AND created_at < ?", before).
		Where("NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = events.id)").
		Order("id").Limit(limit).Pluck("id", &ids).Error; err != nil {
		return n, err
	}
	if len(ids) > 0 {
		if err := tx.Where("id IN ?", ids).Delete(&models.Event{}).Error; err != nil {
			return n, err
		}
	}
	return n + len(ids), nil
}

// AlertView is an alert as operators read it.
type AlertView struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`
	OrderNo    string     `json:"order_no,omitempty"`
	Detail     string     `json:"detail"`
	Count      int        `json:"count"`
	CreatedAt  time.Time  `json:"created_at"`
	LastAt     time.Time  `json:"last_at"`
	ResolvedAt *time.Time `json:"resolved_at,omitempty"`
	ResolvedBy string     `json:"resolved_by,omitempty"`
	Note       string     `json:"note,omitempty"`
}

// Alerts lists alerts oldest first: the open ones when open is true, else all, after the alert id after.
func (s *Service) Alerts(ctx context.Context, open bool, after int64, limit int) ([]AlertView, error) {
	if limit <= 0 || limit > MaxPage {
		limit = 100
	}
	q := s.DB.Conn(ctx).Where("id > ?", after)
	if open {
		q = q.Where("resolved_at IS NULL")
	}
	var rows []models.Alert
	if err := q.Order("id").Limit(limit).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]AlertView, len(rows))
	for i, a := range rows {
		last := a.CreatedAt
		if a.LastAt != nil {
			last = *a.LastAt
		}
		out[i] = AlertView{ID: a.ID, Kind: a.Kind, OrderNo: a.OrderNo, Detail: a.Detail, Count: a.Count, CreatedAt: a.CreatedAt.UTC(),
			LastAt: last.UTC(), ResolvedAt: utc(a.ResolvedAt), ResolvedBy: a.ResolvedBy, Note: a.Note}
	}
	return out, nil
}

// OpenAlerts counts the alerts nobody has resolved.
func (s *Service) OpenAlerts(ctx context.Context) (int64, error) {
	var n int64
	err := s.DB.Conn(ctx).Model(&models.Alert{}).Where("resolved_at IS NULL").Count(&n).Error
	return n, err
}

// ResolveAlert closes an open alert with a note saying what was done, by whom. The same alert raised
// again afterwards is a new alert.
func (s *Service) ResolveAlert(ctx context.Context, id int64, by, note string) (AlertView, error) {
	if note = strings.TrimSpace(note); note == "" {
		return AlertView{}, domain.Errf(domain.ErrInvalidArgument, "note must say what was done")
	}
	if len(note) > 2000 {
		return AlertView{}, domain.Errf(domain.ErrInvalidArgument, "note must be at most 2000 bytes")
	}
	res := s.DB.Conn(ctx).Model(&models.Alert{}).Where("id = ? AND resolved_at IS NULL", id).
		Updates(map[string]any{"resolved_at": s.Now(), "resolved_by": by, "note": note})
	if res.Error != nil {
		return AlertView{}, res.Error
	}
	if res.RowsAffected == 0 {
		var n int64
		if err := s.DB.Conn(ctx).Model(&models.Alert{}).Where("id = ?", id).Count(&n).Error; err != nil {
			return AlertView{}, err
		}
		if n == 0 {
			return AlertView{}, domain.Errf(domain.ErrNotFound, "no alert %d", id)
		}
		return AlertView{}, domain.Errf(domain.ErrConflict, "alert %d is already resolved", id)
	}
	out, err := s.Alerts(ctx, false, id-1, 1)
	if err != nil || len(out) == 0 {
		return AlertView{}, err
	}
	return out[0], nil
}
