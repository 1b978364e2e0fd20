package catalog

import (
	"cmp"
	"context"
	"database/sql"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

var (
	codePattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)
	skuPattern  = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// ValidSKU reports whether sku is well-formed: 1-64 letters, digits, '.', '-' or '_'.
func ValidSKU(sku string) bool { return skuPattern.MatchString(sku) }

// MaxPriceFen is the highest unit price accepted (one million yuan).
const MaxPriceFen = 100_000_000

// MaxOnHand is the largest stock level accepted for one product at one store.
const MaxOnHand = 10_000_000

// StoreInput is what an operator sets on a store.
type StoreInput struct {
	Code    string  `json:"-"`
	Name    string  `json:"name"`
	Address string  `json:"address"`
	Lat     float64 `json:"lat"`
	Lng     float64 `json:"lng"`
	Status  string  `json:"status"`
	// AutoAccept makes the store take every order offered to it without a clerk accepting it.
	AutoAccept bool `json:"auto_accept"`
}

// StoreView is a store as shown to operators and shoppers.
type StoreView struct {
	Code      string   `json:"code"`
	Name      string   `json:"name"`
	Address   string   `json:"address"`
	Lat       float64  `json:"lat"`
	Lng       float64  `json:"lng"`
	Status    string   `json:"status"`
	DistanceM *float64 `json:"distance_m,omitempty"`
	// AutoAccept says the store takes every order offered to it at once.
	AutoAccept bool `json:"auto_accept,omitempty"`
}

// View is a store row as operators and shoppers see it.
func View(st models.Store) StoreView {
	return StoreView{Code: st.Code, Name: st.Name, Address: st.Address, Lat: st.Lat, Lng: st.Lng, Status: st.Status, AutoAccept: st.AutoAccept}
}

// ProductInput is what an operator sets on a product.
type ProductInput struct {
	SKU      string `json:"-"`
	Name     string `json:"name"`
	PriceFen int64  `json:"price_fen"`
}

// ProductView is a product as shown to operators.
type ProductView struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	PriceFen int64  `json:"price_fen"`
}

// Availability is a product at one store: what a shopper can order now.
type Availability struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	PriceFen  int64  `json:"price_fen"`
	Available int64  `json:"available"`
}

// StockView is one stock level after a change.
type StockView struct {
	Store     string `json:"store"`
	SKU       string `json:"sku"`
	OnHand    int64  `json:"on_hand"`
	Reserved  int64  `json:"reserved"`
	Available int64  `json:"available"`
}

// Store states: an open store takes orders and is offered them; a closed one is skipped.
const (
	StoreOpen   = "open"
	StoreClosed = "closed"
)

func (in *StoreInput) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	if in.Status == "" {
		in.Status = StoreOpen
	}
	switch {
	case !codePattern.MatchString(in.Code):
		return domain.Errf(domain.ErrInvalidArgument, "store code must be 1-32 letters, digits, '-' or '_'")
	case in.Name == "" || utf8.RuneCountInString(in.Name) > 100:
		return domain.Errf(domain.ErrInvalidArgument, "store name must be 1-100 characters")
	case utf8.RuneCountInString(in.Address) > 300:
		return domain.Errf(domain.ErrInvalidArgument, "store address must be at most 300 characters")
	case !ValidCoord(in.Lat, in.Lng) || (in.Lat == 0 && in.Lng == 0):
		return domain.Errf(domain.ErrInvalidArgument, "store lat must be in [-90,90] and lng in [-180,180]")
	case in.Status != StoreOpen && in.Status != StoreClosed:
		return domain.Errf(domain.ErrInvalidArgument, "store status must be open or closed")
	}
	return nil
}

// PutStore creates or updates the store with in.Code.
func (s *Service) PutStore(ctx context.Context, in StoreInput) (StoreView, error) {
	if err := in.validate(); err != nil {
		return StoreView{}, err
	}
	now := s.Now()
	st := models.Store{Code: in.Code, Name: in.Name, Address: in.Address, Lat: in.Lat, Lng: in.Lng, Status: in.Status, AutoAccept: in.AutoAccept,
		CreatedAt: now, UpdatedAt: now}
	err := s.DB.Conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "code"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "address", "lat", "lng", "status", "auto_accept", "updated_at"}),
	}).Create(&st).Error
	if err != nil {
		return StoreView{}, err
	}
	return View(st), nil
}

func (in *ProductInput) validate() error {
	in.Name = strings.TrimSpace(in.Name)
	switch {
	case !skuPattern.MatchString(in.SKU):
		return domain.Errf(domain.ErrInvalidArgument, "sku must be 1-64 letters, digits, '.', '-' or '_'")
	case in.Name == "" || utf8.RuneCountInString(in.Name) > 200:
		return domain.Errf(domain.ErrInvalidArgument, "product name must be 1-200 characters")
	case in.PriceFen < 1 || in.PriceFen > MaxPriceFen:
		return domain.Errf(domain.ErrInvalidArgument, "price_fen must be between 1 and %d", MaxPriceFen)
	}
	return nil
}

// PutProduct creates or updates the product with in.SKU. Orders already placed keep their price.
func (s *Service) PutProduct(ctx context.Context, in ProductInput) (ProductView, error) {
	if err := in.validate(); err != nil {
		return ProductView{}, err
	}
	now := s.Now()
	p := models.Product{SKU: in.SKU, Name: in.Name, PriceFen: in.PriceFen, CreatedAt: now, UpdatedAt: now}
	err := s.DB.Conn(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "sku"}},
		DoUpdates: clause.AssignmentColumns([]string{"name", "price_fen", "updated_at"}),
	}).Create(&p).Error
	if err != nil {
		return ProductView{}, err
	}
	return ProductView{SKU: p.SKU, Name: p.Name, PriceFen: p.PriceFen}, nil
}

// StoreByCode returns the store with a code, or a not-found error naming it.
func (s *Service) StoreByCode(ctx context.Context, code string) (models.Store, error) {
	var st models.Store
	err := s.DB.Conn(ctx).Where("code = ?", code).Take(&st).Error
	if models.IsNotFound(err) {
		return st, domain.Errf(domain.ErrNotFound, "store %q not found", code)
	}
	return st, err
}

// ProductBySKU returns the product with a SKU, or a not-found error naming it.
func (s *Service) ProductBySKU(ctx context.Context, sku string) (models.Product, error) {
	var p models.Product
	err := s.DB.Conn(ctx).Where("sku = ?", sku).Take(&p).Error
	if models.IsNotFound(err) {
		return p, domain.Errf(domain.ErrNotFound, "sku %q not found", sku)
	}
	return p, err
}

// SetStock sets the on-hand level of sku at store to an absolute count and records the movement. A level
// below what unpaid orders have reserved is a conflict: those orders would become unfulfillable.
func (s *Service) SetStock(ctx context.Context, storeCode, sku string, onHand int64, kind string) (StockView, error) {
	if onHand < 0 || onHand > MaxOnHand {
		return StockView{}, domain.Errf(domain.ErrInvalidArgument, "on_hand must be between 0 and %d", MaxOnHand)
	}
	var out StockView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		st, err := s.StoreByCode(ctx, storeCode)
		if err != nil {
			return err
		}
		p, err := s.ProductBySKU(ctx, sku)
		if err != nil {
			return err
		}
		tx := s.DB.Conn(ctx)
		now := s.Now()
		// Make sure the row exists, then lock it and change it.
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.Stock{StoreID: st.ID, ProductID: p.ID, UpdatedAt: now}).Error; err != nil {
			return err
		}
		var row models.Stock
		if err := tx.Clauses(models.ForUpdate()).Where("store_id = ? AND product_id = ?", st.ID, p.ID).Take(&row).Error; err != nil {
			return err
		}
		if onHand < row.Reserved {
			return domain.Errf(domain.ErrConflict, "%d units of %s are reserved by unpaid orders at %s; on_hand cannot go below that", row.Reserved, sku, storeCode)
		}
		if err := tx.Model(&models.Stock{}).Where("id = ?", row.ID).Updates(map[string]any{"on_hand": onHand, "version": gorm.Expr("version + 1"), "updated_at": now}).Error; err != nil {
			return err
		}
		if delta := onHand - row.OnHand; delta != 0 {
			if err := tx.Create(&models.StockMovement{StoreID: st.ID, ProductID: p.ID, DeltaOnHand: delta, Kind: kind, CreatedAt: now}).Error; err != nil {
				return err
			}
		}
		out = StockView{Store: storeCode, SKU: sku, OnHand: onHand, Reserved: row.Reserved, Available: onHand - row.Reserved}
		return nil
	})
	return out, err
}

// Stores lists the stores; with a position, each carries its distance and the nearest come first.
func (s *Service) Stores(ctx context.Context, lat, lng *float64) ([]StoreView, error) {
	if (lat == nil) != (lng == nil) || (lat != nil && !ValidCoord(*lat, *lng)) {
		return nil, domain.Errf(domain.ErrInvalidArgument, "give both lat and lng, within [-90,90] and [-180,180]")
	}
	var rows []models.Store
	if err := s.DB.Conn(ctx).Order("code").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]StoreView, len(rows))
	for i, st := range rows {
		out[i] = View(st)
		if lat != nil {
			d := DistanceM(*lat, *lng, st.Lat, st.Lng)
			out[i].DistanceM = &d
		}
	}
	if lat != nil {
		sort.SliceStable(out, func(i, j int) bool { return *out[i].DistanceM < *out[j].DistanceM })
	}
	return out, nil
}

// StoreProducts lists the products a store stocks, with what is available to order there now.
func (s *Service) StoreProducts(ctx context.Context, storeCode string) ([]Availability, error) {
	st, err := s.StoreByCode(ctx, storeCode)
	if err != nil {
		return nil, err
	}
	out := []Availability{}
	err = s.DB.Conn(ctx).Table("stocks").
		Select("products.sku, products.name, products.price_fen, stocks.on_hand - stocks.reserved AS available").
		Joins("JOIN products ON products.id = stocks.product_id").
		Where("stocks.store_id = ?", st.ID).Order("products.sku").Scan(&out).Error
	return out, err
}

// Stock returns the stock level of sku at a store.
func (s *Service) Stock(ctx context.Context, storeCode, sku string) (StockView, error) {
	st, err := s.StoreByCode(ctx, storeCode)
	if err != nil {
		return StockView{}, err
	}
	p, err := s.ProductBySKU(ctx, sku)
	if err != nil {
		return StockView{}, err
	}
	var row models.Stock
	err = s.DB.Conn(ctx).Where("store_id = ? AND product_id = ?", st.ID, p.ID).Take(&row).Error
	if err != nil && !models.IsNotFound(err) {
		return StockView{}, err
	}
	return StockView{Store: storeCode, SKU: sku, OnHand: row.OnHand, Reserved: row.Reserved, Available: row.OnHand - row.Reserved}, nil
}

// Move is one conditional change to a stock row, as MoveStock applies it.
type Move struct {
	StoreID, ProductID int64
	DOnHand, DReserved int64
	Kind, OrderNo      string
}

// MoveStocks applies several moves in the one global order stock rows are locked in, store id then
// product id, so that transactions moving stock at several stores never wait on each other in a circle.
// It returns false at the first move whose condition no longer holds; the moves before it stay applied,
// so the caller rolls back (to a savepoint, or the whole transaction).
func (s *Service) MoveStocks(ctx context.Context, moves []Move) (bool, error) {
	sorted := slices.Clone(moves)
	slices.SortStableFunc(sorted, func(a, b Move) int {
		if c := cmp.Compare(a.StoreID, b.StoreID); c != 0 {
			return c
		}
		return cmp.Compare(a.ProductID, b.ProductID)
	})
	for _, m := range sorted {
		ok, err := s.MoveStock(ctx, m.StoreID, m.ProductID, m.DOnHand, m.DReserved, m.Kind, m.OrderNo)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// MoveStock applies a conditional change to one stock row and records it. It returns false when the
// condition (enough available, enough reserved …) no longer holds, leaving the row untouched. A
// transaction that moves several rows moves them by store id, then product id (MoveStocks does).
func (s *Service) MoveStock(ctx context.Context, storeID, productID, dOnHand, dReserved int64, kind, orderNo string) (bool, error) {
	tx := s.DB.Conn(ctx)
	now := s.Now()
	if s.DB.Postgres() {
		// One round trip: the movement is written only when the conditional update changed the row, so
		// the statement's row count says whether it did. The row lock is held from here to the commit.
		res := tx.Exec(`WITH u AS (UPDATE stocks SET on_hand = on_hand + @on, reserved = reserved + @res, version = version + 1, updated_at = @now
	WHERE store_id = @store AND product_id = @product AND (on_hand + @on) - (reserved + @res) >= 0 AND reserved + @res >= 0
	RETURNING store_id, product_id)
INSERT INTO stock_movements (store_id, product_id, delta_on_hand, delta_reserved, kind, order_no, created_at)
SELECT store_id, product_id, CAST(@on AS BIGINT), CAST(@res AS BIGINT), CAST(@kind AS TEXT), CAST(@order AS TEXT), CAST(@now AS TIMESTAMPTZ) FROM u`,
			sql.Named("on", dOnHand), sql.Named("res", dReserved), sql.Named("now", now), sql.Named("store", storeID),
			sql.Named("product", productID), sql.Named("kind", kind), sql.Named("order", orderNo))
		return res.Error == nil && res.RowsAffected == 1, res.Error
	}
	q := tx.Model(&models.Stock{}).Where("store_id = ? AND product_id = ?", storeID, productID)
	// The available count must stay non-negative and so must the reservation.
	q = q.Where("(on_hand + ?) - (reserved + ?) >= 0 AND reserved + ? >= 0", dOnHand, dReserved, dReserved)
	res := q.Updates(map[string]any{
		"on_hand":    gorm.Expr("on_hand + ?", dOnHand),
		"reserved":   gorm.Expr("reserved + ?", dReserved),
		"version":    gorm.Expr("version + 1"),
		"updated_at": now,
	})
	if res.Error != nil {
		return false, res.Error
	}
	if res.RowsAffected == 0 {
		return false, nil
	}
	err := tx.Create(&models.StockMovement{StoreID: storeID, ProductID: productID, DeltaOnHand: dOnHand, DeltaReserved: dReserved, Kind: kind, OrderNo: orderNo, CreatedAt: now}).Error
	return err == nil, err
}
