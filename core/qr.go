package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/qrcode"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// QR code kinds.
const (
	QRProduct  = "product"
	QRStore    = "store"
	QRCampaign = "campaign"
	QRTrace    = "trace"
)

// Trace steps, in the order a batch goes through them.
var traceSteps = []string{"production", "inspection", "import", "arrival"}

// QRInput describes a code to create: a product at a store (Store, SKU), a store (Store), a campaign
// (Campaign, optionally at a Store) or a trace batch (Batch, optionally one Unit of it, optionally at a
// Store).
type QRInput struct {
	Kind     string `json:"kind"`
	Store    string `json:"store"`
	SKU      string `json:"sku"`
	Campaign string `json:"campaign"`
	Batch    string `json:"batch"`
	Unit     string `json:"unit"`
}

// QRView is a code as an operator sees it.
type QRView struct {
	Code        string    `json:"code"`
	URL         string    `json:"url"`
	Kind        string    `json:"kind"`
	Store       string    `json:"store,omitempty"`
	SKU         string    `json:"sku,omitempty"`
	ProductName string    `json:"product_name,omitempty"`
	PriceFen    int64     `json:"price_fen,omitempty"`
	Campaign    string    `json:"campaign,omitempty"`
	Batch       string    `json:"batch,omitempty"`
	Unit        string    `json:"unit,omitempty"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

// QRURL is where a code's QR points: the hub's landing page for it.
func (s *Service) QRURL(code string) string {
	return strings.TrimRight(s.opts.PublicURL, "/") + "/q/" + code
}

// CreateQRCode makes a code. A product at a store has one live code: asking again returns it.
func (s *Service) CreateQRCode(ctx context.Context, in QRInput) (QRView, error) {
	row := models.QRCode{Kind: in.Kind, Campaign: strings.TrimSpace(in.Campaign), Unit: strings.TrimSpace(in.Unit)}
	if in.Store != "" {
		st, err := s.storeByCode(ctx, in.Store)
		if err != nil {
			return QRView{}, err
		}
		row.StoreID = &st.ID
	}
	switch in.Kind {
	case QRProduct:
		if in.Store == "" || in.SKU == "" {
			return QRView{}, errf(ErrInvalidArgument, "a product code needs store and sku")
		}
		p, err := s.productBySKU(ctx, in.SKU)
		if err != nil {
			return QRView{}, err
		}
		return s.shelfCode(ctx, *row.StoreID, p.ID)
	case QRStore:
		if in.Store == "" {
			return QRView{}, errf(ErrInvalidArgument, "a store code needs store")
		}
	case QRCampaign:
		if row.Campaign == "" || utf8.RuneCountInString(row.Campaign) > 64 {
			return QRView{}, errf(ErrInvalidArgument, "a campaign code needs a campaign name of 1-64 characters")
		}
	case QRTrace:
		b, err := s.batchByNo(ctx, in.Batch)
		if err != nil {
			return QRView{}, err
		}
		if row.Unit != "" {
			return QRView{}, errf(ErrInvalidArgument, "unit codes are numbered by the hub: POST /api/v1/admin/trace/batches/%s/codes", in.Batch)
		}
		row.BatchID, row.ProductID = &b.ID, &b.ProductID
	default:
		return QRView{}, errf(ErrInvalidArgument, "kind must be product, store, campaign or trace")
	}
	if err := s.insertCode(ctx, &row); err != nil {
		return QRView{}, err
	}
	return s.qrView(ctx, row)
}

// shelfCode returns the live code of a product at a store, creating it when there is none.
func (s *Service) shelfCode(ctx context.Context, storeID, productID int64) (QRView, error) {
	for attempt := 0; attempt < 3; attempt++ {
		var row models.QRCode
		err := s.db.Conn(ctx).Where("kind = ? AND store_id = ? AND product_id = ? AND disabled_at IS NULL", QRProduct, storeID, productID).Take(&row).Error
		if err == nil {
			return s.qrView(ctx, row)
		}
		if !models.IsNotFound(err) {
			return QRView{}, err
		}
		row = models.QRCode{Kind: QRProduct, StoreID: &storeID, ProductID: &productID}
		err = s.insertCode(ctx, &row)
		if err == nil {
			return s.qrView(ctx, row)
		}
		if !models.IsDuplicate(err) { // a duplicate is a concurrent creation of the same shelf code: take it
			return QRView{}, err
		}
	}
	return QRView{}, errf(ErrConflict, "the shelf code is being created; try again")
}

// insertCode stores a new code under a fresh random value, redrawn on the rare collision. The collision
// is skipped by the insert itself (ON CONFLICT DO NOTHING), so it never aborts a surrounding transaction;
// a duplicate of the shelf index is returned to the caller.
func (s *Service) insertCode(ctx context.Context, row *models.QRCode) error {
	row.CreatedAt = s.now()
	for attempt := 0; attempt < 5; attempt++ {
		code, err := qrcode.NewCode()
		if err != nil {
			return err
		}
		row.ID, row.Code = 0, code
		res := s.db.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoNothing: true}).Create(row)
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
	}
	return errors.New("could not draw an unused code")
}

// StoreQRCodes makes sure every product the store stocks has its live shelf code, and returns them
// all; calling it again creates nothing new.
func (s *Service) StoreQRCodes(ctx context.Context, storeCode string) ([]QRView, error) {
	st, err := s.storeByCode(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	// Only the stocked products without a live code need a write; the answer is read in one query.
	var missing []int64
	err = s.db.Conn(ctx).Table("stocks").
		Where("stocks.store_id = ? AND NOT EXISTS (SELECT 1 FROM qr_codes WHERE qr_codes.kind = ? AND qr_codes.store_id = stocks.store_id "+
			"AND qr_codes.product_id = stocks.product_id AND qr_codes.disabled_at IS NULL)", st.ID, QRProduct).
		Pluck("stocks.product_id", &missing).Error
	if err != nil {
		return nil, err
	}
	for _, id := range missing {
		if _, err := s.shelfCode(ctx, st.ID, id); err != nil {
			return nil, err
		}
	}
	return s.listCodes(ctx, func(q *gorm.DB) *gorm.DB {
		return q.Joins("JOIN stocks ON stocks.store_id = qr_codes.store_id AND stocks.product_id = qr_codes.product_id").
			Where("qr_codes.store_id = ? AND qr_codes.kind = ? AND qr_codes.disabled_at IS NULL", st.ID, QRProduct).Order("products.sku")
	})
}

// QRCodes lists the codes (live and disabled) of a store, or all codes when storeCode is empty (at most
// 10,000, oldest first).
func (s *Service) QRCodes(ctx context.Context, storeCode string) ([]QRView, error) {
	var storeID *int64
	if storeCode != "" {
		st, err := s.storeByCode(ctx, storeCode)
		if err != nil {
			return nil, err
		}
		storeID = &st.ID
	}
	return s.listCodes(ctx, func(q *gorm.DB) *gorm.DB {
		if storeID != nil {
			q = q.Where("qr_codes.store_id = ?", *storeID)
		}
		return q.Order("qr_codes.id").Limit(10000)
	})
}

// listCodes reads the codes scope selects, with their store, product and batch, in one query.
func (s *Service) listCodes(ctx context.Context, scope func(*gorm.DB) *gorm.DB) ([]QRView, error) {
	q := s.db.Conn(ctx).Table("qr_codes").
		Select("qr_codes.code, qr_codes.kind, qr_codes.campaign, qr_codes.unit, qr_codes.disabled_at, qr_codes.created_at, " +
			"stores.code AS store, products.sku, products.name AS product_name, products.price_fen, trace_batches.batch_no AS batch").
		Joins("LEFT JOIN stores ON stores.id = qr_codes.store_id").
		Joins("LEFT JOIN products ON products.id = qr_codes.product_id").
		Joins("LEFT JOIN trace_batches ON trace_batches.id = qr_codes.batch_id")
	q = scope(q)
	var rows []struct {
		Code, Kind, Campaign, Unit     string
		DisabledAt                     *time.Time
		CreatedAt                      time.Time
		Store, SKU, ProductName, Batch *string
		PriceFen                       *int64
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, err
	}
	str := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	out := make([]QRView, len(rows))
	for i, r := range rows {
		out[i] = QRView{Code: r.Code, URL: s.QRURL(r.Code), Kind: r.Kind, Store: str(r.Store), SKU: str(r.SKU), ProductName: str(r.ProductName),
			Campaign: r.Campaign, Batch: str(r.Batch), Unit: r.Unit, Disabled: r.DisabledAt != nil, CreatedAt: r.CreatedAt.UTC()}
		if r.PriceFen != nil {
			out[i].PriceFen = *r.PriceFen
		}
	}
	return out, nil
}

// QRCode returns one code.
func (s *Service) QRCode(ctx context.Context, code string) (QRView, error) {
	row, err := s.codeRow(ctx, code)
	if err != nil {
		return QRView{}, err
	}
	return s.qrView(ctx, row)
}

// DisableQRCode withdraws a code: scanning it shows a friendly page, and a new shelf code can be made
// for its product.
func (s *Service) DisableQRCode(ctx context.Context, code string) error {
	row, err := s.codeRow(ctx, code)
	if err != nil {
		return err
	}
	return s.db.Conn(ctx).Model(&models.QRCode{}).Where("id = ? AND disabled_at IS NULL", row.ID).Update("disabled_at", s.now()).Error
}

func (s *Service) codeRow(ctx context.Context, code string) (models.QRCode, error) {
	var row models.QRCode
	if !qrcode.ValidCode(code) {
		return row, errf(ErrNotFound, "code %q not found", code)
	}
	err := s.db.Conn(ctx).Where("code = ?", code).Take(&row).Error
	if models.IsNotFound(err) {
		return row, errf(ErrNotFound, "code %q not found", code)
	}
	return row, err
}

func (s *Service) qrView(ctx context.Context, r models.QRCode) (QRView, error) {
	v := QRView{Code: r.Code, URL: s.QRURL(r.Code), Kind: r.Kind, Campaign: r.Campaign, Unit: r.Unit, Disabled: r.DisabledAt != nil, CreatedAt: r.CreatedAt.UTC()}
	if r.StoreID != nil {
		var st models.Store
		if err := s.db.Conn(ctx).Take(&st, *r.StoreID).Error; err != nil {
			return v, err
		}
		v.Store = st.Code
	}
	if r.ProductID != nil {
		var p models.Product
		if err := s.db.Conn(ctx).Take(&p, *r.ProductID).Error; err != nil {
			return v, err
		}
		v.SKU, v.ProductName, v.PriceFen = p.SKU, p.Name, p.PriceFen
	}
	if r.BatchID != nil {
		var b models.TraceBatch
		if err := s.db.Conn(ctx).Take(&b, *r.BatchID).Error; err != nil {
			return v, err
		}
		v.Batch = b.BatchNo
	}
	return v, nil
}

// TraceStepInput is one step of a batch's journey; Date is YYYY-MM-DD.
type TraceStepInput struct {
	Step     string `json:"step"`
	Date     string `json:"date"`
	Place    string `json:"place"`
	Document string `json:"document"`
}

// TraceBatchInput is a batch and its journey so far.
type TraceBatchInput struct {
	BatchNo string           `json:"-"`
	SKU     string           `json:"sku"`
	Steps   []TraceStepInput `json:"steps"`
}

// TraceView is a batch's journey as a scan shows it.
type TraceView struct {
	BatchNo string          `json:"batch_no"`
	SKU     string          `json:"sku"`
	Steps   []TraceStepView `json:"steps"`
}

// TraceStepView is one step of a journey.
type TraceStepView struct {
	Step     string `json:"step"`
	Date     string `json:"date"`
	Place    string `json:"place,omitempty"`
	Document string `json:"document,omitempty"`
}

// PutTraceBatch creates or replaces a batch and its journey (steps in journey order, dates not going
// back in time).
func (s *Service) PutTraceBatch(ctx context.Context, in TraceBatchInput) (TraceView, error) {
	if !skuPattern.MatchString(in.BatchNo) {
		return TraceView{}, errf(ErrInvalidArgument, "batch number must be 1-64 letters, digits, '.', '_' or '-'")
	}
	if len(in.Steps) > 20 {
		return TraceView{}, errf(ErrInvalidArgument, "a journey has at most 20 steps")
	}
	p, err := s.productBySKU(ctx, in.SKU)
	if err != nil {
		return TraceView{}, err
	}
	steps := make([]models.TraceStep, len(in.Steps))
	var last time.Time
	lastStep := 0
	for i, st := range in.Steps {
		n := stepIndex(st.Step)
		if n < 0 {
			return TraceView{}, errf(ErrInvalidArgument, "step %d: step must be one of %s", i+1, strings.Join(traceSteps, ", "))
		}
		if n < lastStep {
			return TraceView{}, errf(ErrInvalidArgument, "step %d: %s cannot come after %s (the journey is %s)", i+1, st.Step, traceSteps[lastStep], strings.Join(traceSteps, " → "))
		}
		lastStep = n
		d, err := time.Parse("2006-01-02", st.Date)
		if err != nil {
			return TraceView{}, errf(ErrInvalidArgument, "step %d: date must be YYYY-MM-DD", i+1)
		}
		if d.Before(last) {
			return TraceView{}, errf(ErrInvalidArgument, "step %d: dates must not go back in time", i+1)
		}
		if utf8.RuneCountInString(st.Place) > 100 || utf8.RuneCountInString(st.Document) > 100 {
			return TraceView{}, errf(ErrInvalidArgument, "step %d: place and document must be at most 100 characters", i+1)
		}
		last = d
		steps[i] = models.TraceStep{Step: st.Step, HappenedOn: d, Place: strings.TrimSpace(st.Place), Document: strings.TrimSpace(st.Document)}
	}
	err = s.db.Tx(ctx, func(ctx context.Context) error {
		tx := s.db.Conn(ctx)
		now := s.now()
		b := models.TraceBatch{BatchNo: in.BatchNo, ProductID: p.ID, CreatedAt: now, UpdatedAt: now}
		err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "batch_no"}},
			DoUpdates: clause.AssignmentColumns([]string{"product_id", "updated_at"})}).Create(&b).Error
		if err != nil {
			return err
		}
		if err := tx.Where("batch_no = ?", in.BatchNo).Take(&b).Error; err != nil {
			return err
		}
		if err := tx.Where("batch_id = ?", b.ID).Delete(&models.TraceStep{}).Error; err != nil {
			return err
		}
		for i := range steps {
			steps[i].BatchID = b.ID
			if err := tx.Create(&steps[i]).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return TraceView{}, err
	}
	return s.traceView(ctx, in.BatchNo)
}

// stepIndex is a step's place in the journey, -1 for an unknown step.
func stepIndex(step string) int {
	for i, s := range traceSteps {
		if s == step {
			return i
		}
	}
	return -1
}

func (s *Service) batchByNo(ctx context.Context, batchNo string) (models.TraceBatch, error) {
	var b models.TraceBatch
	err := s.db.Conn(ctx).Where("batch_no = ?", batchNo).Take(&b).Error
	if models.IsNotFound(err) {
		return b, errf(ErrNotFound, "batch %q not found", batchNo)
	}
	return b, err
}

func (s *Service) traceView(ctx context.Context, batchNo string) (TraceView, error) {
	b, err := s.batchByNo(ctx, batchNo)
	if err != nil {
		return TraceView{}, err
	}
	var p models.Product
	if err := s.db.Conn(ctx).Take(&p, b.ProductID).Error; err != nil {
		return TraceView{}, err
	}
	var steps []models.TraceStep
	if err := s.db.Conn(ctx).Where("batch_id = ?", b.ID).Order("happened_on, id").Find(&steps).Error; err != nil {
		return TraceView{}, err
	}
	v := TraceView{BatchNo: b.BatchNo, SKU: p.SKU, Steps: []TraceStepView{}}
	for _, st := range steps {
		v.Steps = append(v.Steps, TraceStepView{Step: st.Step, Date: st.HappenedOn.Format("2006-01-02"), Place: st.Place, Document: st.Document})
	}
	return v, nil
}

// MaxUnitCodes is the most unit codes made in one call.
const MaxUnitCodes = 1000

// TraceUnitCodes makes count codes for single units of a batch (numbered on from the batch's last unit),
// optionally at a store.
func (s *Service) TraceUnitCodes(ctx context.Context, batchNo, storeCode string, count int) ([]QRView, error) {
	if count < 1 || count > MaxUnitCodes {
		return nil, errf(ErrInvalidArgument, "count must be 1-%d", MaxUnitCodes)
	}
	b, err := s.batchByNo(ctx, batchNo)
	if err != nil {
		return nil, err
	}
	var storeID *int64
	if storeCode != "" {
		st, err := s.storeByCode(ctx, storeCode)
		if err != nil {
			return nil, err
		}
		storeID = &st.ID
	}
	out := make([]QRView, 0, count)
	err = s.db.Tx(ctx, func(ctx context.Context) error {
		out = out[:0]
		// The batch row is the lock that keeps unit numbers unique under concurrent calls.
		if err := s.db.Conn(ctx).Clauses(models.ForUpdate()).Take(&b, b.ID).Error; err != nil {
			return err
		}
		var last string
		if err := s.db.Conn(ctx).Model(&models.QRCode{}).Where("batch_id = ? AND unit <> ''", b.ID).
			Select("COALESCE(MAX(unit), '')").Scan(&last).Error; err != nil {
			return err
		}
		var n int64
		fmt.Sscanf(last, "%d", &n)
		for i := 1; i <= count; i++ {
			row := models.QRCode{Kind: QRTrace, StoreID: storeID, ProductID: &b.ProductID, BatchID: &b.ID, Unit: fmt.Sprintf("%06d", n+int64(i))}
			if err := s.insertCode(ctx, &row); err != nil {
				return err
			}
			v, err := s.qrView(ctx, row)
			if err != nil {
				return err
			}
			out = append(out, v)
		}
		return nil
	})
	return out, err
}

// NearbyView is another store that has a scanned product.
type NearbyView struct {
	Store     StoreView `json:"store"`
	DistanceM float64   `json:"distance_m"`
	Available int64     `json:"available"`
}

// ScanView is what a scanned code shows: the product at the store with its availability and the
// nearest other stores that have it, a store's products, a campaign, or a batch's journey.
type ScanView struct {
	Code      string         `json:"code"`
	Kind      string         `json:"kind"`
	Store     *StoreView     `json:"store,omitempty"`
	Product   *ProductView   `json:"product,omitempty"`
	Available int64          `json:"available"`
	Nearby    []NearbyView   `json:"nearby,omitempty"`
	Products  []Availability `json:"products,omitempty"`
	Campaign  string         `json:"campaign,omitempty"`
	Trace     *TraceView     `json:"trace,omitempty"`
	// Warning is set for a unit code scanned suspiciously often (a copied label).
	Warning string `json:"warning,omitempty"`
}

// ScanFrom says who scanned a code: the channel (wechat, alipay, browser) and an opaque scanner key
// (a device or account; hashed before it is stored) that tells scanners of a unit code apart. Count is
// false when the scan is handed on to a mini-program that will report it itself.
type ScanFrom struct {
	Channel string
	Scanner string
	Count   bool
}

// ErrCodeDisabled says a scanned code was withdrawn.
var ErrCodeDisabled = fmt.Errorf("%w: code withdrawn", ErrNotFound)

// nearbyLimit is how many other stores a scan lists.
const nearbyLimit = 3

// Scan resolves a scanned code and counts the scan (by day and channel) without a database write on the
// scan's path. A unit trace code also counts the distinct scanners it has had, to warn of a copied label
// (repeated scans by one scanner do not add up).
func (s *Service) Scan(ctx context.Context, code string, from ScanFrom) (ScanView, error) {
	row, err := s.codeRow(ctx, code)
	if err != nil {
		return ScanView{}, err
	}
	if row.DisabledAt != nil {
		return ScanView{}, &Error{Kind: ErrCodeDisabled, Msg: fmt.Sprintf("code %s was withdrawn", code)}
	}
	if from.Count {
		s.scans.add(row.ID, s.now(), from.Channel)
	}
	v := ScanView{Code: row.Code, Kind: row.Kind, Campaign: row.Campaign}
	var store *models.Store
	if row.StoreID != nil {
		var st models.Store
		if err := s.db.Conn(ctx).Take(&st, *row.StoreID).Error; err != nil {
			return v, err
		}
		store = &st
		sv := storeView(st)
		v.Store = &sv
	}
	if row.ProductID != nil {
		var p models.Product
		if err := s.db.Conn(ctx).Take(&p, *row.ProductID).Error; err != nil {
			return v, err
		}
		v.Product = &ProductView{SKU: p.SKU, Name: p.Name, PriceFen: p.PriceFen}
		if v.Nearby, v.Available, err = s.nearby(ctx, p.ID, store); err != nil {
			return v, err
		}
	}
	if row.Kind == QRStore && store != nil {
		if v.Products, err = s.StoreProducts(ctx, store.Code); err != nil {
			return v, err
		}
	}
	if row.BatchID != nil {
		var b models.TraceBatch
		if err := s.db.Conn(ctx).Take(&b, *row.BatchID).Error; err != nil {
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
	if from.Count && from.Scanner != "" {
		sum := sha256.Sum256([]byte(from.Scanner))
		res := s.db.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
			Create(&models.QRUnitScanner{CodeID: id, Scanner: hex.EncodeToString(sum[:16]), FirstSeen: s.now()})
		if res.Error != nil {
			return "", res.Error
		}
		if res.RowsAffected == 1 {
			if err := s.db.Conn(ctx).Model(&models.QRCode{}).Where("id = ?", id).Update("scan_count", gorm.Expr("scan_count + 1")).Error; err != nil {
				return "", err
			}
		}
	}
	var n int64
	if err := s.db.Conn(ctx).Model(&models.QRCode{}).Where("id = ?", id).Pluck("scan_count", &n).Error; err != nil {
		return "", err
	}
	if n > s.opts.TraceScanLimit {
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
	if err := s.db.Conn(ctx).Table("stocks").Select("store_id, on_hand - reserved AS available").
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
	if err := s.db.Conn(ctx).Where("status = ? AND id IN ?", "open", keys(avail)).Find(&stores).Error; err != nil {
		return nil, 0, err
	}
	out := make([]NearbyView, 0, len(stores))
	for _, st := range stores {
		out = append(out, NearbyView{Store: storeView(st), DistanceM: DistanceM(store.Lat, store.Lng, st.Lat, st.Lng), Available: avail[st.ID]})
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
type scanCounter struct {
	mu     sync.Mutex
	counts map[scanKey]int64
}

type scanKey struct {
	codeID  int64
	day     string
	channel string
}

// china is the time zone a scan's day is counted in.
var china = time.FixedZone("CST", 8*3600)

func (c *scanCounter) add(codeID int64, at time.Time, channel string) {
	k := scanKey{codeID, at.In(china).Format("2006-01-02"), channel}
	c.mu.Lock()
	if c.counts == nil {
		c.counts = map[scanKey]int64{}
	}
	c.counts[k]++
	c.mu.Unlock()
}

func (c *scanCounter) take() map[scanKey]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.counts
	c.counts = nil
	return out
}

// FlushScans writes the scans counted in memory to the database, adding to what other replicas wrote.
// Counts it cannot write are kept for the next flush.
func (s *Service) FlushScans(ctx context.Context, _ int) (int, error) {
	counts := s.scans.take()
	var errs []error
	for k, n := range counts {
		err := s.db.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code_id"}, {Name: "day"}, {Name: "channel"}},
			DoUpdates: clause.Assignments(map[string]any{"count": gorm.Expr("qr_scans.count + excluded.count")})}).
			Create(&models.QRScan{CodeID: k.codeID, Day: k.day, Channel: k.channel, Count: n}).Error
		if err != nil {
			errs = append(errs, err)
			s.scans.mu.Lock()
			if s.scans.counts == nil {
				s.scans.counts = map[scanKey]int64{}
			}
			s.scans.counts[k] += n
			s.scans.mu.Unlock()
		}
	}
	return len(counts), errors.Join(errs...)
}

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
		return nil, errf(ErrInvalidArgument, "to must not be before from")
	}
	codes, err := s.QRCodes(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	from, to = from.In(china), to.In(china)
	start := time.Date(from.Year(), from.Month(), from.Day(), 0, 0, 0, 0, china)
	end := time.Date(to.Year(), to.Month(), to.Day(), 0, 0, 0, 0, china).AddDate(0, 0, 1)
	var scans []struct {
		Code, Channel string
		Count         int64
	}
	err = s.db.Conn(ctx).Table("qr_scans").Select("qr_codes.code, qr_scans.channel, SUM(qr_scans.count) AS count").
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
	err = s.db.Conn(ctx).Model(&models.Order{}).
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

// LabelSheet returns the printable label sheet of a store: every product it stocks with its shelf code,
// making the codes it lacks.
func (s *Service) LabelSheet(ctx context.Context, storeCode string) (qrcode.Sheet, error) {
	st, err := s.storeByCode(ctx, storeCode)
	if err != nil {
		return qrcode.Sheet{}, err
	}
	codes, err := s.StoreQRCodes(ctx, storeCode)
	if err != nil {
		return qrcode.Sheet{}, err
	}
	sheet := qrcode.Sheet{StoreName: st.Name, StoreCode: st.Code, GeneratedAt: s.now(), Labels: make([]qrcode.Label, len(codes))}
	for i, c := range codes {
		sheet.Labels[i] = qrcode.Label{Name: c.ProductName, SKU: c.SKU, PriceFen: c.PriceFen, URL: c.URL, Code: c.Code}
	}
	return sheet, nil
}
