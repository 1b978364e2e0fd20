package shelf

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
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
	return strings.TrimRight(s.publicURL, "/") + "/q/" + code
}

// CreateQRCode makes a code. A product at a store has one live code: asking again returns it.
func (s *Service) CreateQRCode(ctx context.Context, in QRInput) (QRView, error) {
	row := models.QRCode{Kind: in.Kind, Campaign: strings.TrimSpace(in.Campaign), Unit: strings.TrimSpace(in.Unit)}
	if in.Store != "" {
		st, err := s.catalog.StoreByCode(ctx, in.Store)
		if err != nil {
			return QRView{}, err
		}
		row.StoreID = &st.ID
	}
	switch in.Kind {
	case QRProduct:
		if in.Store == "" || in.SKU == "" {
			return QRView{}, domain.Errf(domain.ErrInvalidArgument, "a product code needs store and sku")
		}
		p, err := s.catalog.ProductBySKU(ctx, in.SKU)
		if err != nil {
			return QRView{}, err
		}
		return s.shelfCode(ctx, *row.StoreID, p.ID)
	case QRStore:
		if in.Store == "" {
			return QRView{}, domain.Errf(domain.ErrInvalidArgument, "a store code needs store")
		}
	case QRCampaign:
		if row.Campaign == "" || utf8.RuneCountInString(row.Campaign) > 64 {
			return QRView{}, domain.Errf(domain.ErrInvalidArgument, "a campaign code needs a campaign name of 1-64 characters")
		}
	case QRTrace:
		b, err := s.batchByNo(ctx, in.Batch)
		if err != nil {
			return QRView{}, err
		}
		if row.Unit != "" {
			return QRView{}, domain.Errf(domain.ErrInvalidArgument, "unit codes are numbered by the hub: POST /api/v1/admin/trace/batches/%s/codes", in.Batch)
		}
		row.BatchID, row.ProductID = &b.ID, &b.ProductID
	default:
		return QRView{}, domain.Errf(domain.ErrInvalidArgument, "kind must be product, store, campaign or trace")
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
		err := s.DB.Conn(ctx).Where("kind = ? AND store_id = ? AND product_id = ? AND disabled_at IS NULL", QRProduct, storeID, productID).Take(&row).Error
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
	return QRView{}, domain.Errf(domain.ErrConflict, "the shelf code is being created; try again")
}

// insertCode stores a new code under a fresh random value, redrawn on the rare collision. The collision
// is skipped by the insert itself (ON CONFLICT DO NOTHING), so it never aborts a surrounding transaction;
// a duplicate of the shelf index is returned to the caller.
func (s *Service) insertCode(ctx context.Context, row *models.QRCode) error {
	row.CreatedAt = s.Now()
	for attempt := 0; attempt < 5; attempt++ {
		code, err := qrcode.NewCode()
		if err != nil {
			return err
		}
		row.ID, row.Code = 0, code
		res := s.DB.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "code"}}, DoNothing: true}).Create(row)
		if res.Error != nil || res.RowsAffected == 1 {
			return res.Error
		}
	}
	return errors.New("could not draw an unused code")
}

// StoreQRCodes makes sure every product the store stocks has its live shelf code, and returns them
// all; calling it again creates nothing new.
func (s *Service) StoreQRCodes(ctx context.Context, storeCode string) ([]QRView, error) {
	st, err := s.catalog.StoreByCode(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	// Only the stocked products without a live code need a write; the answer is read in one query.
	var missing []int64
	err = s.DB.Conn(ctx).Table("stocks").
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
		st, err := s.catalog.StoreByCode(ctx, storeCode)
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
	q := s.DB.Conn(ctx).Table("qr_codes").
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
	row, err := s.CodeRow(ctx, code)
	if err != nil {
		return QRView{}, err
	}
	return s.qrView(ctx, row)
}

// DisableQRCode withdraws a code: scanning it shows a friendly page, and a new shelf code can be made
// for its product.
func (s *Service) DisableQRCode(ctx context.Context, code string) error {
	row, err := s.CodeRow(ctx, code)
	if err != nil {
		return err
	}
	return s.DB.Conn(ctx).Model(&models.QRCode{}).Where("id = ? AND disabled_at IS NULL", row.ID).Update("disabled_at", s.Now()).Error
}

// CodeRow returns the row of a code, or not-found for a malformed or unknown code. The code may be
// given as typed (see qrcode.NormalizeCode): every look-up of a code goes through here.
func (s *Service) CodeRow(ctx context.Context, code string) (models.QRCode, error) {
	var row models.QRCode
	code = qrcode.NormalizeCode(code)
	if !qrcode.ValidCode(code) {
		return row, domain.Errf(domain.ErrNotFound, "code %q not found", code)
	}
	err := s.DB.Conn(ctx).Where("code = ?", code).Take(&row).Error
	if models.IsNotFound(err) {
		return row, domain.Errf(domain.ErrNotFound, "code %q not found", code)
	}
	return row, err
}

func (s *Service) qrView(ctx context.Context, r models.QRCode) (QRView, error) {
	v := QRView{Code: r.Code, URL: s.QRURL(r.Code), Kind: r.Kind, Campaign: r.Campaign, Unit: r.Unit, Disabled: r.DisabledAt != nil, CreatedAt: r.CreatedAt.UTC()}
	if r.StoreID != nil {
		var st models.Store
		if err := s.DB.Conn(ctx).Take(&st, *r.StoreID).Error; err != nil {
			return v, err
		}
		v.Store = st.Code
	}
	if r.ProductID != nil {
		var p models.Product
		if err := s.DB.Conn(ctx).Take(&p, *r.ProductID).Error; err != nil {
			return v, err
		}
		v.SKU, v.ProductName, v.PriceFen = p.SKU, p.Name, p.PriceFen
	}
	if r.BatchID != nil {
		var b models.TraceBatch
		if err := s.DB.Conn(ctx).Take(&b, *r.BatchID).Error; err != nil {
			return v, err
		}
		v.Batch = b.BatchNo
	}
	return v, nil
}
