package shelf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// NearbyView is another store that has a scanned product.
type NearbyView struct {
	Store     catalog.StoreView `json:"store"`
	DistanceM float64           `json:"distance_m"`
	Available int64             `json:"available"`
}

// ScanView is what a scanned code shows: the product at the store with its availability and the
// nearest other stores that have it, a store's products, a campaign, or a batch's journey.
type ScanView struct {
	Code      string                 `json:"code"`
	Kind      string                 `json:"kind"`
	Store     *catalog.StoreView     `json:"store,omitempty"`
	Product   *catalog.ProductView   `json:"product,omitempty"`
	Available int64                  `json:"available"`
	Nearby    []NearbyView           `json:"nearby,omitempty"`
	Products  []catalog.Availability `json:"products,omitempty"`
	Campaign  string                 `json:"campaign,omitempty"`
	Trace     *TraceView             `json:"trace,omitempty"`
	// Warning is set for a unit code scanned suspiciously often (a copied label).
	Warning string `json:"warning,omitempty"`
}

// ScanFrom says who scanned a code: the channel (wechat, alipay, browser), the client's address and, when
// the scan came with a shopper's session, the member. Count is false when the scan is handed on to a
// mini-program that will report it itself.
type ScanFrom struct {
	Channel string
	Addr    string
	Member  int64
	Count   bool
}

// scanner is how the scanners of a unit code are told apart, by what a scanner cannot vary for free: a
// signed-in member is one scanner wherever they scan from; otherwise the client's network (IPv4 /24,
// IPv6 /48) is, whatever its address within it or its User-Agent. Empty when there is nothing to tell.
func (f ScanFrom) scanner() string {
	switch {
	case f.Member > 0:
		return fmt.Sprintf("member:%d", f.Member)
	case f.Addr != "":
		return "net:" + limits.Network(f.Addr, 24, 48)
	}
	return ""
}

// ErrCodeDisabled says a scanned code was withdrawn.
var ErrCodeDisabled = fmt.Errorf("%w: code withdrawn", domain.ErrNotFound)

// nearbyLimit is how many other stores a scan lists.
const nearbyLimit = 3

// Scan resolves a scanned code and counts the scan (by day and channel) without a database write on the
// scan's path. A unit trace code also counts the distinct scanners it has had (ScanFrom.scanner), to warn
// of a copied label: repeated scans by one scanner, from one network, do not add up.
func (s *Service) Scan(ctx context.Context, code string, from ScanFrom) (ScanView, error) {
	row, err := s.CodeRow(ctx, code)
	if err != nil {
		return ScanView{}, err
	}
	if row.DisabledAt != nil {
		return ScanView{}, &domain.Error{Kind: ErrCodeDisabled, Msg: fmt.Sprintf("code %s was withdrawn", row.Code)}
	}
	if from.Count {
		s.scans.add(row.ID, s.Now(), from.Channel)
	}
	v := ScanView{Code: row.Code, Kind: row.Kind, Campaign: row.Campaign}
	var store *models.Store
	if row.StoreID != nil {
		var st models.Store
		if err := s.DB.Conn(ctx).Take(&st, *row.StoreID).Error; err != nil {
			return v, err
		}
		store = &st
		sv := catalog.View(st)
		v.Store = &sv
	}
	if row.ProductID != nil {
		var p models.Product
		if err := s.DB.Conn(ctx).Take(&p, *row.ProductID).Error; err != nil {
			return v, err
		}
		v.Product = &catalog.ProductView{SKU: p.SKU, Name: p.Name, PriceFen: p.PriceFen}
		if v.Nearby, v.Available, err = s.nearby(ctx, p.ID, store); err != nil {
			return v, err
		}
	}
	if row.Kind == QRStore && store != nil {
		if v.Products, err = s.catalog.StoreProducts(ctx, store.Code); err != nil {
			return v, err
		}
	}
	if row.BatchID != nil {
		var b models.TraceBatch
		if err := s.DB.Conn(ctx).Take(&b, *row.BatchID).Error; err != nil {
			return v, err
		}
		tv, err := s.traceView(ctx, b.BatchNo)
		if err != nil {
			return v, err
		}
		v.Trace = &tv
		if row.Unit != "" {
			if v.Warning, err = s.countUnitScan(ctx, row.ID, from); err != nil {
				return v, err
			}
		}
	}
	return v, nil
}

// countUnitScan counts a new scanner of a unit code and warns when more scanners had it than a genuine
// unit plausibly does (its label was copied onto others).
func (s *Service) countUnitScan(ctx context.Context, id int64, from ScanFrom) (string, error) {
	if key := from.scanner(); from.Count && key != "" {
		sum := sha256.Sum256([]byte(key))
		res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&models.QRUnitScanner{CodeID: id, Scanner: hex.EncodeToString(sum[:16]), FirstSeen: s.Now()})
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected == 1 {
			if err := s.DB.Conn(ctx).Model(&models.QRCode{}).Where("id = ?", id).Update("scan_count", gorm.Expr("scan_count + 1")).Error; err != nil {
				return "", err
			}
		}
	}
	var n int64
	if err := s.DB.Conn(ctx).Model(&models.QRCode{}).Where("id = ?", id).Pluck("scan_count", &n).Error; err != nil {
		return "", err
	}
	if n > s.traceScanLimit {
		return fmt.Sprintf("此商品码已被 %d 台不同设备扫描，可能是复制的标签，请向店员核实商品来源", n), nil
	}
	return "", nil
}

// nearby returns the product's availability at store (when given) and the nearest other open stores
// that have it.
func (s *Service) nearby(ctx context.Context, productID int64, store *models.Store) ([]NearbyView, int64, error) {
	var rows []struct {
		StoreID   int64
		Available int64
	}
	if err := s.DB.Conn(ctx).Table("stocks").Select("store_id, on_hand - reserved AS available").
		Where("product_id = ?", productID).Scan(&rows).Error; err != nil {
		return nil, 0, err
	}
	var here int64
	avail := map[int64]int64{}
	for _, r := range rows {
		if store != nil && r.StoreID == store.ID {
			here = r.Available
		} else if r.Available > 0 {
			avail[r.StoreID] = r.Available
		}
	}
	if store == nil || len(avail) == 0 {
		return nil, here, nil
	}
	var stores []models.Store
	if err := s.DB.Conn(ctx).Where("status = ? AND id IN ?", catalog.StoreOpen, keys(avail)).Find(&stores).Error; err != nil {
		return nil, 0, err
	}
	out := make([]NearbyView, 0, len(stores))
	for _, st := range stores {
		out = append(out, NearbyView{Store: catalog.View(st), DistanceM: catalog.DistanceM(store.Lat, store.Lng, st.Lat, st.Lng), Available: avail[st.ID]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].DistanceM < out[j].DistanceM })
	if len(out) > nearbyLimit {
		out = out[:nearbyLimit]
	}
	return out, here, nil
}

func keys(m map[int64]int64) []int64 {
	out := make([]int64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// scanCounter adds up scans in memory; FlushScans writes them out.
