package shelf

import (
	"context"
	"sort"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
)

// ScanReportRow is the traffic of one code over a period.
type ScanReportRow struct {
	Code      string           `json:"code"`
	Kind      string           `json:"kind"`
	Store     string           `json:"store,omitempty"`
	SKU       string           `json:"sku,omitempty"`
	Campaign  string           `json:"campaign,omitempty"`
	Scans     int64            `json:"scans"`
	ByChannel map[string]int64 `json:"by_channel"`
	// Orders started from the code, PaidOrders of them paid, and the money they brought.
	Orders     int64   `json:"orders"`
	PaidOrders int64   `json:"paid_orders"`
	PaidFen    int64   `json:"paid_fen"`
	Conversion float64 `json:"conversion"`
}

// ScanReport reports scans and the orders they led to, per code of a store (all stores when storeCode
// is empty), for the days from..to (China time, inclusive), busiest first. It reads the counts and the
// orders in two grouped queries, however many codes there are.
func (s *Service) ScanReport(ctx context.Context, storeCode string, from, to time.Time) ([]ScanReportRow, error) {
	if to.Before(from) {
		return nil, domain.Errf(domain.ErrInvalidArgument, "to must not be before from")
	}
	codes, err := s.QRCodes(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	from, to = from.In(cn.Zone), to.In(cn.Zone)
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, cn.Zone)
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, cn.Zone).AddDate(0, 0, 1)
	var scans []struct {
		Code, Channel string
		Count         int64
	}
	err = s.DB.Conn(ctx).Table("qr_scans").Select("qr_codes.code, qr_scans.channel, SUM(qr_scans.count) AS count").
		Joins("JOIN qr_codes ON qr_codes.id = qr_scans.code_id").
		Where("qr_scans.day >= ? AND qr_scans.day <= ?", start.Format("2006-01-02"), to.Format("2006-01-02")).
		Group("qr_codes.code, qr_scans.channel").Scan(&scans).Error
	if err != nil {
		return nil, err
	}
	var orders []struct {
		ScanCode              string
		Orders, Paid, PaidFen int64
	}
	err = s.DB.Conn(ctx).Model(&models.Order{}).
		Select("scan_code, COUNT(*) AS orders, COUNT(paid_at) AS paid, COALESCE(SUM(CASE WHEN paid_at IS NOT NULL THEN total_fen ELSE 0 END), 0) AS paid_fen").
		Where("scan_code <> '' AND created_at >= ? AND created_at < ?", start.UTC(), end.UTC()).Group("scan_code").Scan(&orders).Error
	if err != nil {
		return nil, err
	}
	rows := make(map[string]*ScanReportRow, len(codes))
	out := make([]ScanReportRow, len(codes))
	for i, c := range codes {
		out[i] = ScanReportRow{Code: c.Code, Kind: c.Kind, Store: c.Store, SKU: c.SKU, Campaign: c.Campaign, ByChannel: map[string]int64{}}
		rows[c.Code] = &out[i]
	}
	for _, sc := range scans {
		if r := rows[sc.Code]; r != nil {
			r.ByChannel[sc.Channel] += sc.Count
			r.Scans += sc.Count
		}
	}
	for _, o := range orders {
		if r := rows[o.ScanCode]; r != nil {
			r.Orders, r.PaidOrders, r.PaidFen = o.Orders, o.Paid, o.PaidFen
		}
	}
	for i := range out {
		if out[i].Scans > 0 {
			out[i].Conversion = float64(out[i].PaidOrders) / float64(out[i].Scans)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Scans > out[j].Scans })
	return out, nil
}
