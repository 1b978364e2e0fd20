package core

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// Till sales: what a store's till sold over the counter, recorded by the store API so that online and
// offline are one member and one stock. A sale takes its goods off the store's shelf (catalog.MoveStock,
// as every sale does, so the stock row's version moves and the platforms' stock follows), and, with a
// member code, earns the member points and counts towards their level through loyalty's Purchase API,
// pending until the hold passes as an online order's do. A sale is recorded once per store and sale
// number; returns put the goods back and reverse the points of exactly what came back.
//
// A till sale is a fact: the goods have left the shop. When the hub's stock shows fewer available than
// the till sold, the sale is still recorded: the shelf goes down to what unpaid orders have reserved
// (available 0, never below: those units belong to orders), the line records the shortfall (short_qty),
// and a warning is logged for the store to count its shelf.

// Limits of a till sale.
const (
	// MaxSaleLines is the most lines one till sale or return may have.
	MaxSaleLines = 200
	// MaxSaleQty is the largest quantity of one line.
	MaxSaleQty = 100_000
)

var saleNoPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// SaleLineInput is one line of a till sale: the SKU, how many, and the unit price charged in fen.
type SaleLineInput struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	PriceFen *int64 `json:"price_fen"`
}

// SaleInput is a sale a till records: its number (unique at the store), the member code the member
// showed (optional), and the lines. An admin names the store; a clerk records at their own.
type SaleInput struct {
	Store      string          `json:"store"`
	SaleNo     string          `json:"sale_no"`
	MemberCode string          `json:"member_code"`
	Items      []SaleLineInput `json:"items"`
}

// SaleReturnLine is a quantity of one SKU brought back.
type SaleReturnLine struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// SaleReturnInput is a return against a till sale: the lines brought back and, optionally, the till's
// return number, which makes a retried return apply once (without one, send an Idempotency-Key).
type SaleReturnInput struct {
	Store    string           `json:"store"`
	ReturnNo string           `json:"return_no"`
	Items    []SaleReturnLine `json:"items"`
}

// SaleLineView is one line of a recorded till sale.
type SaleLineView struct {
	SKU         string `json:"sku"`
	Qty         int64  `json:"qty"`
	PriceFen    int64  `json:"price_fen"`
	ReturnedQty int64  `json:"returned_qty"`
	// ShortQty is how many of Qty the hub's stock did not show as available when the sale was recorded.
	ShortQty int64 `json:"short_qty,omitempty"`
}

// SaleMember is the member a till sale was credited to.
type SaleMember struct {
	MemberID int64  `json:"member_id"`
	Phone    string `json:"phone,omitempty"`
}

// SaleView is a recorded till sale.
type SaleView struct {
	Store       string                  `json:"store"`
	SaleNo      string                  `json:"sale_no"`
	Member      *SaleMember             `json:"member,omitempty"`
	Items       []SaleLineView          `json:"items"`
	TotalFen    int64                   `json:"total_fen"`
	ReturnedFen int64                   `json:"returned_fen"`
	Points      *loyalty.PurchasePoints `json:"points,omitempty"`
	Staff       string                  `json:"staff"`
	CreatedAt   time.Time               `json:"created_at"`
}

// SaleReturnView is a recorded return and the sale as it stands after it.
type SaleReturnView struct {
	ReturnNo  string           `json:"return_no"`
	Items     []SaleReturnItem `json:"items"`
	RefundFen int64            `json:"refund_fen"`
	CreatedAt time.Time        `json:"created_at"`
	Sale      SaleView         `json:"sale"`
}

// SaleReturnItem is one line of a return with the money it gives back.
type SaleReturnItem struct {
	SKU       string `json:"sku"`
	Qty       int64  `json:"qty"`
	RefundFen int64  `json:"refund_fen"`
}

// saleLine is a validated line: one per SKU.
type saleLine struct {
	SKU      string `json:"sku"`
	Qty      int64  `json:"qty"`
	PriceFen int64  `json:"price_fen"`
}

// checkSale validates a sale field by field and returns its lines, one per SKU in SKU order (lines of
// the same SKU at the same price are added up), and the digest that tells a repeat of it from another
// sale under the same number.
func checkSale(in *SaleInput) ([]saleLine, string, error) {
	in.SaleNo, in.Store, in.MemberCode = strings.TrimSpace(in.SaleNo), strings.TrimSpace(in.Store), normalizeMemberCode(in.MemberCode)
	var bad []string
	if !saleNoPattern.MatchString(in.SaleNo) {
		bad = append(bad, "sale_no must be 1-64 letters, digits, '.', '-' or '_'")
	}
	if in.MemberCode != "" && !IsMemberCode(in.MemberCode) {
		bad = append(bad, fmt.Sprintf("member_code must be the %d-digit member code starting %s that the member's app shows, or left out", MemberCodeDigits, MemberCodePrefix))
	}
	if len(in.Items) == 0 || len(in.Items) > MaxSaleLines {
		bad = append(bad, fmt.Sprintf("items must hold 1-%d lines", MaxSaleLines))
	}
	bySKU := map[string]*saleLine{}
	for i, it := range in.Items {
		if i >= MaxSaleLines {
			break
		}
		f := fmt.Sprintf("items[%d]", i)
		sku := strings.TrimSpace(it.SKU)
		switch {
		case !catalog.ValidSKU(sku):
			bad = append(bad, f+".sku must be 1-64 letters, digits, '.', '-' or '_'")
		case it.Qty <= 0 || it.Qty > MaxSaleQty:
			bad = append(bad, fmt.Sprintf("%s.qty must be between 1 and %d", f, MaxSaleQty))
		case it.PriceFen == nil:
			bad = append(bad, f+".price_fen is required (the unit price charged, in fen)")
		case *it.PriceFen < 0 || *it.PriceFen > catalog.MaxPriceFen:
			bad = append(bad, fmt.Sprintf("%s.price_fen must be between 0 and %d", f, catalog.MaxPriceFen))
		default:
			if l, ok := bySKU[sku]; ok {
				if l.PriceFen != *it.PriceFen {
					bad = append(bad, fmt.Sprintf("%s.price_fen: %s appears twice at different prices; send one line per SKU", f, sku))
					continue
				}
				l.Qty += it.Qty
				if l.Qty > MaxSaleQty {
					bad = append(bad, fmt.Sprintf("%s.qty: %s adds up to more than %d", f, sku, MaxSaleQty))
				}
				continue
			}
			bySKU[sku] = &saleLine{SKU: sku, Qty: it.Qty, PriceFen: *it.PriceFen}
		}
	}
	if len(bad) > 0 {
		return nil, "", domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	lines := make([]saleLine, 0, len(bySKU))
	for _, l := range bySKU {
		lines = append(lines, *l)
	}
	slices.SortFunc(lines, func(a, b saleLine) int { return strings.Compare(a.SKU, b.SKU) })
	return lines, digest(map[string]any{"member_code": in.MemberCode, "items": lines}), nil
}

// digest is the SHA-256 of v's JSON: what a till posted, to compare with a repeat.
func digest(v any) string {
	b, _ := json.Marshal(v)
	return domain.HashToken(string(b))
}

// RecordSale records a sale of a store's till: its goods leave the shelf and, when the member showed a
// member code, the member earns points on its total (pending until the hold passes) and it counts
// towards their level. The member code is used up; an expired, used or unknown one refuses the whole
// sale (ErrMemberCodeExpired, ErrMemberCodeUsed, ErrMemberCodeUnknown), so the till can post it again
// with a fresh code or without one. Posting the same sale again (same store, sale number, member code
// and lines) answers the sale as first recorded and changes nothing (created is false); the same number
// with different content is a conflict.
func (s *Service) RecordSale(ctx context.Context, a staff.Actor, in SaleInput) (out SaleView, created bool, err error) {
	if a.Username == "" {
		return SaleView{}, false, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	lines, hash, err := checkSale(&in)
	if err != nil {
		return SaleView{}, false, err
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		created = false
		st, err := s.Staff.ActorStore(ctx, a, in.Store)
		if err != nil {
			return err
		}
		tx := s.DB.Conn(ctx)
		var prev models.TillSale
		err = tx.Where("store_id = ? AND sale_no = ?", st.ID, in.SaleNo).Take(&prev).Error
		if err == nil {
			out, err = s.repeatSale(ctx, st, prev, hash)
			return err
		}
		if !models.IsNotFound(err) {
			return err
		}
		var products []models.Product
		skus := make([]string, len(lines))
		for i, l := range lines {
			skus[i] = l.SKU
		}
		if err := tx.Where("sku IN ?", skus).Find(&products).Error; err != nil {
			return err
		}
		bySKU := map[string]models.Product{}
		for _, p := range products {
			bySKU[p.SKU] = p
		}
		var unknown []string
		for i, it := range in.Items {
			if _, ok := bySKU[strings.TrimSpace(it.SKU)]; !ok {
				unknown = append(unknown, fmt.Sprintf("items[%d].sku: no product has SKU %q", i, strings.TrimSpace(it.SKU)))
			}
		}
		if len(unknown) > 0 {
			return domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(unknown, "; "))
		}
		now := s.Now()
		sale := models.TillSale{StoreID: st.ID, SaleNo: in.SaleNo, RequestHash: hash, Staff: a.Username, CreatedAt: now, UpdatedAt: now}
		for _, l := range lines {
			sale.TotalFen += l.Qty * l.PriceFen
		}
		// The unique (store, sale_no) decides between two posts of one sale at once: the second waits
		// for the first to commit, inserts nothing, and answers what the first recorded.
		res := tx.Clauses(clause.OnConflict{DoNothing: true}).Omit("Items").Create(&sale)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if err := tx.Where("store_id = ? AND sale_no = ?", st.ID, in.SaleNo).Take(&prev).Error; err != nil {
				return err
			}
			out, err = s.repeatSale(ctx, st, prev, hash)
			return err
		}
		created = true
		if in.MemberCode != "" {
			id, err := s.useMemberCode(ctx, "member_code", in.MemberCode, sale.ID)
			if err != nil {
				return err
			}
			sale.MemberID = &id
			if err := tx.Model(&models.TillSale{}).Where("id = ?", sale.ID).Update("member_id", id).Error; err != nil {
				return err
			}
		}
		items := make([]models.TillSaleItem, len(lines))
		for i, l := range lines {
			items[i] = models.TillSaleItem{SaleID: sale.ID, ProductID: bySKU[l.SKU].ID, SKU: l.SKU, Qty: l.Qty, PriceFen: l.PriceFen}
		}
		// Stock rows are locked in the one global order: store, then product.
		slices.SortFunc(items, func(a, b models.TillSaleItem) int { return cmp.Compare(a.ProductID, b.ProductID) })
		for i := range items {
			short, err := s.tillTake(ctx, st, &items[i], in.SaleNo)
			if err != nil {
				return err
			}
			items[i].ShortQty = short
		}
		if err := tx.Create(&items).Error; err != nil {
			return err
		}
		sale.Items = items
		if sale.MemberID != nil {
			src := loyalty.SaleSource(st.Code, sale.SaleNo)
			if err := s.Loyalty.Purchased(ctx, loyalty.Purchase{MemberID: *sale.MemberID, Source: src, PaidFen: sale.TotalFen, PaidAt: now}); err != nil {
				return err
			}
			// Handed over at the till: the points mature after the hold from now.
			if err := s.Loyalty.PurchaseFulfilled(ctx, *sale.MemberID, src); err != nil {
				return err
			}
		}
		out, err = s.saleView(ctx, st, sale)
		return err
	})
	if err != nil {
		return SaleView{}, false, err
	}
	if created {
		s.Log.InfoContext(ctx, "till sale recorded", "store", out.Store, "sale_no", out.SaleNo, "total_fen", out.TotalFen, "member", out.Member != nil, "staff", a.Username)
	}
	return out, created, nil
}

// repeatSale answers a sale posted again: the sale as recorded when the content is the same, a conflict
// naming the sale number when it is not.
func (s *Service) repeatSale(ctx context.Context, st models.Store, prev models.TillSale, hash string) (SaleView, error) {
	if prev.RequestHash != hash {
		return SaleView{}, domain.Errf(domain.ErrConflict, "sale_no %s was already recorded at store %s with a different member code or items; a sale number names one sale: use a new one", prev.SaleNo, st.Code)
	}
	if err := s.DB.Conn(ctx).Where("sale_id = ?", prev.ID).Find(&prev.Items).Error; err != nil {
		return SaleView{}, err
	}
	return s.saleView(ctx, st, prev)
}

// tillTake takes a sale line's goods off the store's shelf and returns how many of them the stock did
// not show as available: those are recorded as short, the shelf going down to what unpaid orders have
// reserved.
func (s *Service) tillTake(ctx context.Context, st models.Store, it *models.TillSaleItem, saleNo string) (int64, error) {
	ref := "till:" + saleNo
	ok, err := s.Catalog.MoveStock(ctx, st.ID, it.ProductID, -it.Qty, 0, "till_sale", ref)
	if err != nil || ok {
		return 0, err
	}
	tx := s.DB.Conn(ctx)
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.Stock{StoreID: st.ID, ProductID: it.ProductID, UpdatedAt: s.Now()}).Error; err != nil {
		return 0, err
	}
	var row models.Stock
	if err := tx.Clauses(models.ForUpdate()).Where("store_id = ? AND product_id = ?", st.ID, it.ProductID).Take(&row).Error; err != nil {
		return 0, err
	}
	take := min(max(row.OnHand-row.Reserved, 0), it.Qty)
	if take > 0 {
		ok, err := s.Catalog.MoveStock(ctx, st.ID, it.ProductID, -take, 0, "till_sale", ref)
		if err != nil {
			return 0, err
		}
		if !ok {
			return 0, fmt.Errorf("stock of %s at %s changed under its lock", it.SKU, st.Code)
		}
	}
	short := it.Qty - take
	s.Log.WarnContext(ctx, "till sold more than the stock on record: count the shelf", "store", st.Code, "sku", it.SKU, "sale_no", saleNo,
		"sold", it.Qty, "short", short, "reserved", row.Reserved)
	return short, nil
}

// saleView builds the view of a sale whose items are loaded.
func (s *Service) saleView(ctx context.Context, st models.Store, sale models.TillSale) (SaleView, error) {
	v := SaleView{Store: st.Code, SaleNo: sale.SaleNo, TotalFen: sale.TotalFen, ReturnedFen: sale.ReturnedFen, Staff: sale.Staff,
		CreatedAt: sale.CreatedAt.UTC(), Items: make([]SaleLineView, 0, len(sale.Items))}
	items := slices.Clone(sale.Items)
	slices.SortFunc(items, func(a, b models.TillSaleItem) int { return strings.Compare(a.SKU, b.SKU) })
	for _, it := range items {
		v.Items = append(v.Items, SaleLineView{SKU: it.SKU, Qty: it.Qty, PriceFen: it.PriceFen, ReturnedQty: it.ReturnedQty, ShortQty: it.ShortQty})
	}
	if sale.MemberID != nil {
		var m models.Member
		if err := s.DB.Conn(ctx).Take(&m, *sale.MemberID).Error; err != nil {
			return v, err
		}
		v.Member = &SaleMember{MemberID: m.ID}
		if m.Phone != nil {
			v.Member.Phone = member.MaskPhone(*m.Phone)
		}
		pts, err := s.Loyalty.PurchasePointsOf(ctx, loyalty.SaleSource(st.Code, sale.SaleNo))
		if err != nil {
			return v, err
		}
		v.Points = &pts
	}
	return v, nil
}

// Sale returns a till sale as recorded, for a clerk of its store or an admin.
func (s *Service) Sale(ctx context.Context, a staff.Actor, store, saleNo string) (SaleView, error) {
	if a.Username == "" {
		return SaleView{}, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	st, err := s.Staff.ActorStore(ctx, a, store)
	if err != nil {
		return SaleView{}, err
	}
	sale, err := s.tillSale(ctx, st, saleNo, false)
	if err != nil {
		return SaleView{}, err
	}
	return s.saleView(ctx, st, sale)
}

// tillSale loads a store's sale with its items, locking it when lock is set.
func (s *Service) tillSale(ctx context.Context, st models.Store, saleNo string, lock bool) (models.TillSale, error) {
	q := s.DB.Conn(ctx)
	if lock {
		q = q.Clauses(models.ForUpdate())
	}
	var sale models.TillSale
	err := q.Where("store_id = ? AND sale_no = ?", st.ID, strings.TrimSpace(saleNo)).Take(&sale).Error
	if models.IsNotFound(err) {
		return sale, domain.Errf(domain.ErrNotFound, "sale %s not found at store %s", saleNo, st.Code)
	}
	if err != nil {
		return sale, err
	}
	err = s.DB.Conn(ctx).Where("sale_id = ?", sale.ID).Find(&sale.Items).Error
	return sale, err
}

// checkSaleReturn validates a return field by field and returns its lines, one per SKU in SKU order,
// and its digest.
func checkSaleReturn(in *SaleReturnInput) ([]SaleReturnLine, string, error) {
	in.ReturnNo, in.Store = strings.TrimSpace(in.ReturnNo), strings.TrimSpace(in.Store)
	var bad []string
	if in.ReturnNo != "" && !saleNoPattern.MatchString(in.ReturnNo) {
		bad = append(bad, "return_no must be 1-64 letters, digits, '.', '-' or '_', or left out")
	}
	if len(in.Items) == 0 || len(in.Items) > MaxSaleLines {
		bad = append(bad, fmt.Sprintf("items must hold 1-%d lines", MaxSaleLines))
	}
	bySKU := map[string]int64{}
	for i, it := range in.Items {
		if i >= MaxSaleLines {
			break
		}
		f := fmt.Sprintf("items[%d]", i)
		sku := strings.TrimSpace(it.SKU)
		switch {
		case !catalog.ValidSKU(sku):
			bad = append(bad, f+".sku must be 1-64 letters, digits, '.', '-' or '_'")
		case it.Qty <= 0 || it.Qty > MaxSaleQty:
			bad = append(bad, fmt.Sprintf("%s.qty must be between 1 and %d", f, MaxSaleQty))
		default:
			bySKU[sku] += it.Qty
		}
	}
	if len(bad) > 0 {
		return nil, "", domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	lines := make([]SaleReturnLine, 0, len(bySKU))
	for sku, q := range bySKU {
		lines = append(lines, SaleReturnLine{SKU: sku, Qty: q})
	}
	slices.SortFunc(lines, func(a, b SaleReturnLine) int { return strings.Compare(a.SKU, b.SKU) })
	return lines, digest(lines), nil
}

// ReturnSale records goods brought back from a till sale: they go back on the store's shelf, and the
// member's points are reversed for exactly the share of the sale's total returned (cumulatively, so
// partial returns add up to the whole), through loyalty's PurchaseRefunded. No line may bring back more
// than was sold less what came back before. A return with a return number already recorded answers
// that return (created false) when the lines are the same, and is a conflict when they are not.
func (s *Service) ReturnSale(ctx context.Context, a staff.Actor, saleNo string, in SaleReturnInput) (out SaleReturnView, created bool, err error) {
	if a.Username == "" {
		return SaleReturnView{}, false, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	lines, hash, err := checkSaleReturn(&in)
	if err != nil {
		return SaleReturnView{}, false, err
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		created = false
		st, err := s.Staff.ActorStore(ctx, a, in.Store)
		if err != nil {
			return err
		}
		sale, err := s.tillSale(ctx, st, saleNo, true)
		if err != nil {
			return err
		}
		tx := s.DB.Conn(ctx)
		if in.ReturnNo != "" {
			var prev models.TillReturn
			err := tx.Where("sale_id = ? AND return_no = ?", sale.ID, in.ReturnNo).Take(&prev).Error
			if err == nil {
				if prev.RequestHash != hash {
					return domain.Errf(domain.ErrConflict, "return_no %s of sale %s was already recorded with other items; use a new return number", in.ReturnNo, sale.SaleNo)
				}
				out, err = s.returnView(ctx, st, sale, prev)
				return err
			}
			if !models.IsNotFound(err) {
				return err
			}
		} else {
			in.ReturnNo = fmt.Sprintf("R%d", sale.Returns+1)
		}
		byProduct := map[string]*models.TillSaleItem{}
		for i := range sale.Items {
			byProduct[sale.Items[i].SKU] = &sale.Items[i]
		}
		var bad []string
		ret := models.TillReturn{SaleID: sale.ID, ReturnNo: in.ReturnNo, RequestHash: hash, Staff: a.Username, CreatedAt: s.Now()}
		var items []SaleReturnItem
		var moves []catalog.Move
		for i, l := range lines {
			it, ok := byProduct[l.SKU]
			switch {
			case !ok:
				bad = append(bad, fmt.Sprintf("items[%d].sku: %s was not sold in sale %s", i, l.SKU, sale.SaleNo))
				continue
			case l.Qty > it.Qty-it.ReturnedQty:
				bad = append(bad, fmt.Sprintf("items[%d].qty: %d of %s asked back, but only %d can be (sold %d, returned %d)", i, l.Qty, l.SKU, it.Qty-it.ReturnedQty, it.Qty, it.ReturnedQty))
				continue
			}
			it.ReturnedQty += l.Qty
			items = append(items, SaleReturnItem{SKU: l.SKU, Qty: l.Qty, RefundFen: l.Qty * it.PriceFen})
			ret.RefundFen += l.Qty * it.PriceFen
			moves = append(moves, catalog.Move{StoreID: st.ID, ProductID: it.ProductID, DOnHand: l.Qty, Kind: "till_return", OrderNo: "till:" + sale.SaleNo})
		}
		if len(bad) > 0 {
			return domain.Errf(domain.ErrConflict, "%s", strings.Join(bad, "; "))
		}
		for _, it := range sale.Items {
			res := tx.Model(&models.TillSaleItem{}).Where("id = ? AND ? <= qty", it.ID, it.ReturnedQty).Update("returned_qty", it.ReturnedQty)
			if res.Error != nil {
				return res.Error
			}
		}
		ok, err := s.Catalog.MoveStocks(ctx, moves)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("sale %s at %s: returned stock could not go back on the shelf", sale.SaleNo, st.Code)
		}
		b, err := json.Marshal(items)
		if err != nil {
			return err
		}
		ret.Items = string(b)
		if err := tx.Create(&ret).Error; err != nil {
			return err
		}
		sale.ReturnedFen += ret.RefundFen
		sale.Returns++
		if err := tx.Model(&models.TillSale{}).Where("id = ?", sale.ID).Updates(map[string]any{
			"returned_fen": sale.ReturnedFen, "returns": sale.Returns, "updated_at": s.Now()}).Error; err != nil {
			return err
		}
		if sale.MemberID != nil {
			id, err := s.Members.ActiveMember(ctx, *sale.MemberID)
			if err != nil {
				return err
			}
			if err := s.Loyalty.PurchaseRefunded(ctx, id, loyalty.SaleSource(st.Code, sale.SaleNo),
				loyalty.SaleReturnSource(st.Code, sale.SaleNo, ret.ReturnNo), sale.ReturnedFen); err != nil {
				return err
			}
		}
		created = true
		out, err = s.returnView(ctx, st, sale, ret)
		return err
	})
	if err != nil {
		return SaleReturnView{}, false, err
	}
	if created {
		s.Log.InfoContext(ctx, "till return recorded", "store", out.Sale.Store, "sale_no", out.Sale.SaleNo, "return_no", out.ReturnNo, "refund_fen", out.RefundFen, "staff", a.Username)
	}
	return out, created, nil
}

// returnView builds the view of a return and its sale.
func (s *Service) returnView(ctx context.Context, st models.Store, sale models.TillSale, ret models.TillReturn) (SaleReturnView, error) {
	v := SaleReturnView{ReturnNo: ret.ReturnNo, RefundFen: ret.RefundFen, CreatedAt: ret.CreatedAt.UTC()}
	if err := json.Unmarshal([]byte(ret.Items), &v.Items); err != nil {
		return v, err
	}
	var err error
	v.Sale, err = s.saleView(ctx, st, sale)
	return v, err
}
