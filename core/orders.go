package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Limits on one order.
const (
	MaxOrderLines = 50
	MaxLineQty    = 999
)

// Fulfillment kinds: collected at the store by the shopper, delivered from the store, or collected by
// a platform's rider.
const (
	FulfillmentPickup   = "pickup"
	FulfillmentDelivery = "delivery"
	FulfillmentPlatform = "platform"
)

// SourceMiniProgram is the source of orders placed in our own storefront; a platform order's source is
// its platform's name.
const SourceMiniProgram = "miniprogram"

// ItemInput is one requested line: a SKU and a quantity. Prices never come from the client.
type ItemInput struct {
	SKU string `json:"sku"`
	Qty int64  `json:"qty"`
}

// AddressInput is a delivery address with its position.
type AddressInput struct {
	Text string   `json:"text"`
	Lat  *float64 `json:"lat"`
	Lng  *float64 `json:"lng"`
}

// OrderInput is a shopper's order request.
type OrderInput struct {
	Store       string        `json:"store"`
	Fulfillment string        `json:"fulfillment"`
	Items       []ItemInput   `json:"items"`
	Address     *AddressInput `json:"address"`
	// Scan is the shelf QR code the order started from (ScanView.Code), for attribution; optional.
	Scan string `json:"scan"`
	// Points is how many of the member's points to pay with; fewer are used when the balance, the
	// settings' share of the goods or the per-order maximum allow fewer. Optional.
	Points int64 `json:"points"`
}

// OrderItemView is one line of an order as shown to its shopper.
type OrderItemView struct {
	SKU      string `json:"sku"`
	Name     string `json:"name"`
	PriceFen int64  `json:"price_fen"`
	Qty      int64  `json:"qty"`
	// Returned is how many were returned at the counter.
	Returned int64 `json:"returned,omitempty"`
}

// OrderView is an order as shown to its shopper.
type OrderView struct {
	OrderNo     string          `json:"order_no"`
	Status      Status          `json:"status"`
	TotalFen    int64           `json:"total_fen"`
	Store       string          `json:"store"`
	Fulfillment string          `json:"fulfillment"`
	Items       []OrderItemView `json:"items"`
	Address     string          `json:"address,omitempty"`
	ExpiresAt   time.Time       `json:"expires_at"`
	PaidAt      *time.Time      `json:"paid_at,omitempty"`
	Provider    string          `json:"provider,omitempty"`
	Note        string          `json:"note,omitempty"`
	Courier     *Courier        `json:"courier,omitempty"`
	CreatedAt   time.Time       `json:"created_at"`
	// Source is where the order came from: miniprogram, or a platform (meituan, eleme, jddj).
	Source string `json:"source"`
	// Platform is set for a platform order: its id there, the rider's day sequence number and money.
	Platform *PlatformView `json:"platform,omitempty"`
	// Attention says why the store must look at the order; empty when nothing is wrong.
	Attention string `json:"attention,omitempty"`
	// DiscountFen is the member's level discount off TotalFen; PointsUsed points paid PointsValueFen;
	// CashFen is what is left to pay (0 for an order paid entirely with points).
	DiscountFen    int64 `json:"discount_fen,omitempty"`
	PointsUsed     int64 `json:"points_used"`
	PointsValueFen int64 `json:"points_value_fen"`
	CashFen        int64 `json:"cash_fen"`
}

// PlatformView is what a platform says about one of its orders.
type PlatformView struct {
	OrderID       string `json:"order_id"`
	ShopID        string `json:"shop_id"`
	DaySeq        int    `json:"day_seq"`
	PaidFen       int64  `json:"customer_paid_fen"`
	SubsidyFen    int64  `json:"subsidy_fen"`
	CommissionFen int64  `json:"commission_fen"`
}

type line struct {
	product models.Product
	qty     int64
}

func (in *OrderInput) validate() error {
	switch in.Fulfillment {
	case FulfillmentPickup:
		if in.Store == "" {
			return domain.Errf(domain.ErrInvalidArgument, "a pickup order needs a store")
		}
	case FulfillmentDelivery:
		a := in.Address
		if a == nil || a.Lat == nil || a.Lng == nil || !catalog.ValidCoord(*a.Lat, *a.Lng) {
			return domain.Errf(domain.ErrInvalidArgument, "a delivery order needs an address with lat in [-90,90] and lng in [-180,180]")
		}
		a.Text = strings.TrimSpace(a.Text)
		if a.Text == "" || utf8.RuneCountInString(a.Text) > 300 {
			return domain.Errf(domain.ErrInvalidArgument, "address text must be 1-300 characters")
		}
	default:
		return domain.Errf(domain.ErrInvalidArgument, "fulfillment must be pickup or delivery")
	}
	if len(in.Items) == 0 || len(in.Items) > MaxOrderLines {
		return domain.Errf(domain.ErrInvalidArgument, "an order needs 1-%d items", MaxOrderLines)
	}
	for _, it := range in.Items {
		if it.Qty < 1 || it.Qty > MaxLineQty {
			return domain.Errf(domain.ErrInvalidArgument, "qty of %q must be between 1 and %d", it.SKU, MaxLineQty)
		}
	}
	return nil
}

// lines resolves the requested SKUs (merging repeats) against the catalog, in product-id order so that
// concurrent orders lock stock rows in the same order.
func (s *Service) lines(ctx context.Context, items []ItemInput) ([]line, error) {
	qty := map[string]int64{}
	for _, it := range items {
		qty[it.SKU] += it.Qty
	}
	var out []line
	for sku, q := range qty {
		if q > MaxLineQty {
			return nil, domain.Errf(domain.ErrInvalidArgument, "qty of %q must be between 1 and %d", sku, MaxLineQty)
		}
		p, err := s.Catalog.ProductBySKU(ctx, sku)
		if err != nil {
			return nil, err
		}
		out = append(out, line{product: p, qty: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].product.ID < out[j].product.ID })
	return out, nil
}

// candidates returns the stores that may serve the order, best first.
func (s *Service) candidates(ctx context.Context, in OrderInput) ([]models.Store, error) {
	if in.Store != "" {
		st, err := s.Catalog.StoreByCode(ctx, in.Store)
		if err != nil {
			return nil, err
		}
		if st.Status != catalog.StoreOpen {
			return nil, domain.Errf(domain.ErrConflict, "store %s is closed", st.Code)
		}
		if in.Fulfillment == FulfillmentDelivery && catalog.DistanceM(*in.Address.Lat, *in.Address.Lng, st.Lat, st.Lng) > s.opts.DeliveryRadiusM {
			return nil, domain.Errf(domain.ErrInvalidArgument, "the address is beyond store %s's delivery radius of %.0f m", st.Code, s.opts.DeliveryRadiusM)
		}
		return []models.Store{st}, nil
	}
	out, err := s.Catalog.NearestOpen(ctx, *in.Address.Lat, *in.Address.Lng, s.opts.DeliveryRadiusM, nil)
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, domain.Errf(domain.ErrOutOfStock, "no open store delivers within %.0f m of this address", s.opts.DeliveryRadiusM)
	}
	return out, nil
}

var errStoreShort = errors.New("store cannot cover the order")

// CreateOrder places an order for a member: it prices the items from the catalog, reserves the stock at
// the store (for a delivery without a store, at the nearest open store that has every item), and leaves
// the order waiting for payment until it expires.
func (s *Service) CreateOrder(ctx context.Context, memberID int64, in OrderInput) (OrderView, error) {
	if err := in.validate(); err != nil {
		return OrderView{}, err
	}
	if in.Scan != "" {
		row, err := s.Shelf.CodeRow(ctx, in.Scan)
		if err != nil {
			return OrderView{}, domain.Errf(domain.ErrInvalidArgument, "scan %q is not a known code", in.Scan)
		}
		in.Scan = row.Code
	}
	lines, err := s.lines(ctx, in.Items)
	if err != nil {
		return OrderView{}, err
	}
	stores, err := s.candidates(ctx, in)
	if err != nil {
		return OrderView{}, err
	}
	var short string
	for _, st := range stores {
		var ord models.Order
		var err error
		for attempt := 0; attempt < 3; attempt++ {
			err = s.placeAt(ctx, memberID, st, in, lines, &ord, &short)
			if !models.IsDuplicate(err) {
				break // a duplicate is an order-number collision: draw a new number
			}
		}
		if errors.Is(err, errStoreShort) {
			continue
		}
		if err != nil {
			return OrderView{}, err
		}
		if ord.Status == string(StatusPaid) { // paid with points: what it means to the member is due
			s.wakeLoyalty()
		}
		return toOrderView(ord, st.Code), nil // what was just committed; no need to read it back
	}
	if len(stores) == 1 {
		return OrderView{}, domain.Errf(domain.ErrOutOfStock, "not enough %s at store %s", short, stores[0].Code)
	}
	return OrderView{}, domain.Errf(domain.ErrOutOfStock, "no open store within %.0f m has every item", s.opts.DeliveryRadiusM)
}

// placeAt inserts the order and reserves the lines at one store, all or nothing; errStoreShort says
// the store lacks an item (named in *short). The stock rows are reserved last, in product-id order, so
// that the transaction holds their locks (a hot SKU's row is what concurrent orders queue on) only from
// the reservation to the commit.
func (s *Service) placeAt(ctx context.Context, memberID int64, st models.Store, in OrderInput, lines []line, ord *models.Order, short *string) error {
	no, err := newOrderNo(s.Now())
	if err != nil {
		return err
	}
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		owner, err := s.Members.ActiveMember(ctx, memberID)
		if err != nil {
			return err
		}
		if *ord, err = s.insertOrder(ctx, no, owner, st, in, lines); err != nil {
			return err
		}
		if err := s.Referral.Placed(ctx, ord); err != nil { // before the stock rows are locked
			return err
		}
		for _, l := range lines {
			ok, err := s.Catalog.MoveStock(ctx, st.ID, l.product.ID, 0, l.qty, "reserve", no)
			if err != nil {
				return err
			}
			if !ok {
				*short = l.product.SKU
				return errStoreShort
			}
		}
		return s.loyaltyPlaced(ctx, ord, st)
	})
}

func (s *Service) insertOrder(ctx context.Context, no string, memberID int64, st models.Store, in OrderInput, lines []line) (models.Order, error) {
	tx := s.DB.Conn(ctx)
	now := s.Now()
	ord := models.Order{OrderNo: no, MemberID: &memberID, StoreID: st.ID, Source: SourceMiniProgram, Fulfillment: in.Fulfillment, Status: string(StatusPendingPayment),
		ExpiresAt: now.Add(s.opts.OrderTTL), ScanCode: in.Scan, CreatedAt: now, UpdatedAt: now}
	if in.Address != nil && in.Fulfillment == FulfillmentDelivery {
		ord.AddressText, ord.AddressLat, ord.AddressLng = in.Address.Text, in.Address.Lat, in.Address.Lng
	}
	for _, l := range lines {
		ord.TotalFen += l.product.PriceFen * l.qty
	}
	q, err := s.Loyalty.Quote(ctx, memberID, ord.TotalFen, in.Points)
	if err != nil {
		return ord, err
	}
	ord.LoyaltySettingsID, ord.DiscountFen, ord.PointsUsed, ord.PointsFen = &q.SettingsID, q.DiscountFen, q.PointsUsed, q.PointsFen
	if err := tx.Create(&ord).Error; err != nil {
		return ord, err
	}
	items := make([]models.OrderItem, len(lines))
	for i, l := range lines {
		items[i] = models.OrderItem{OrderID: ord.ID, ProductID: &l.product.ID, SKU: l.product.SKU, Name: l.product.Name, PriceFen: l.product.PriceFen, Qty: l.qty}
	}
	if err := s.DB.InsertLater(ctx, &items); err != nil { // one statement for all lines, sent with the event
		return ord, err
	}
	ord.Items = items
	return ord, events.Enqueue(ctx, s.Env, "order.created", no, map[string]any{"order_no": no, "store": st.Code, "total_fen": ord.TotalFen})
}

// newOrderNo returns a 24-digit order number: the UTC second it was made and ten random digits, so
// numbers sort by time and do not reveal sales volume. It fits every provider's out_trade_no (WeChat Pay
// allows 32 characters, Alipay 64). A collision is caught by the unique index and redrawn.
func newOrderNo(now time.Time) (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(10_000_000_000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%010d", now.Format("20060102150405"), n.Int64()), nil
}

func (s *Service) loadOrder(ctx context.Context, orderNo string, lock bool) (models.Order, error) {
	var ord models.Order
	q := s.DB.Conn(ctx)
	if lock {
		q = q.Clauses(models.ForUpdate())
	}
	err := q.Where("order_no = ?", orderNo).Take(&ord).Error
	if models.IsNotFound(err) {
		return ord, domain.Errf(domain.ErrNotFound, "order %s not found", orderNo)
	}
	if err != nil {
		return ord, err
	}
	err = s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error
	return ord, err
}

// memberOrder loads an order that belongs to memberID; someone else's order is reported as not found.
func (s *Service) memberOrder(ctx context.Context, memberID int64, orderNo string, lock bool) (models.Order, error) {
	ord, err := s.loadOrder(ctx, orderNo, lock)
	if err == nil && (ord.MemberID == nil || *ord.MemberID != memberID) {
		return models.Order{}, domain.Errf(domain.ErrNotFound, "order %s not found", orderNo)
	}
	return ord, err
}

func (s *Service) orderView(ctx context.Context, id int64) (OrderView, error) {
	var ord models.Order
	if err := s.DB.Conn(ctx).Preload("Items").Take(&ord, id).Error; err != nil {
		return OrderView{}, err
	}
	var st models.Store
	if err := s.DB.Conn(ctx).Take(&st, ord.StoreID).Error; err != nil {
		return OrderView{}, err
	}
	return toOrderView(ord, st.Code), nil
}

func toOrderView(ord models.Order, storeCode string) OrderView {
	v := OrderView{OrderNo: ord.OrderNo, Status: Status(ord.Status), TotalFen: ord.TotalFen, Store: storeCode, Fulfillment: ord.Fulfillment,
		Address: ord.AddressText, ExpiresAt: ord.ExpiresAt.UTC(), PaidAt: ord.PaidAt, Provider: ord.Provider, Note: ord.Note,
		CreatedAt: ord.CreatedAt.UTC(), Items: []OrderItemView{}, Source: ord.Source, Attention: ord.Attention,
		DiscountFen: ord.DiscountFen, PointsUsed: ord.PointsUsed, PointsValueFen: ord.PointsFen, CashFen: cashFen(ord)}
	if ord.PlatformOrderID != nil {
		v.Platform = &PlatformView{OrderID: *ord.PlatformOrderID, ShopID: ord.PlatformShopID, DaySeq: ord.DaySeq,
			PaidFen: ord.CustomerPaidFen, SubsidyFen: ord.SubsidyFen, CommissionFen: ord.CommissionFen}
	}
	if ord.Courier != "" || ord.TrackingNo != "" {
		v.Courier = &Courier{Name: ord.Courier, Phone: ord.CourierPhone, TrackingNo: ord.TrackingNo}
	}
	for _, it := range ord.Items {
		v.Items = append(v.Items, OrderItemView{SKU: it.SKU, Name: it.Name, PriceFen: it.PriceFen, Qty: it.Qty, Returned: it.ReturnedQty})
	}
	return v
}

// Order returns one of a member's orders.
func (s *Service) Order(ctx context.Context, memberID int64, orderNo string) (OrderView, error) {
	ord, err := s.memberOrder(ctx, memberID, orderNo, false)
	if err != nil {
		return OrderView{}, err
	}
	return s.orderView(ctx, ord.ID)
}

// Orders lists a member's orders, newest first (at most 100).
func (s *Service) Orders(ctx context.Context, memberID int64) ([]OrderView, error) {
	var rows []models.Order
	err := s.DB.Conn(ctx).Preload("Items").Where("member_id = ?", memberID).Order("id DESC").Limit(100).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	codes := map[int64]string{}
	var stores []models.Store
	if err := s.DB.Conn(ctx).Find(&stores).Error; err != nil {
		return nil, err
	}
	for _, st := range stores {
		codes[st.ID] = st.Code
	}
	out := make([]OrderView, len(rows))
	for i, o := range rows {
		out[i] = toOrderView(o, codes[o.StoreID])
	}
	return out, nil
}

// transition moves an order from one state to another with a conditional update. It fails with
// domain.ErrInvalidTransition when the state machine forbids the move, and with domain.ErrConflict when the order is no
// longer in the from state (someone else moved it first).
func (s *Service) transition(ctx context.Context, orderID int64, from, to Status, set map[string]any) error {
	if !CanTransition(from, to) {
		return fmt.Errorf("%w: %s → %s", domain.ErrInvalidTransition, from, to)
	}
	if set == nil {
		set = map[string]any{}
	}
	res := s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ? AND status = ?", orderID, string(from)).Updates(withStatus(set, to, s.Now()))
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return domain.Errf(domain.ErrConflict, "order is no longer %s", from)
	}
	return nil
}

// withStatus adds to the columns of an order's transition its new status and update time.
func withStatus(set map[string]any, to Status, now time.Time) map[string]any {
	set["status"] = string(to)
	set["updated_at"] = now
	return set
}

// releaseReservation gives an unpaid order's reserved stock back to its store.
func (s *Service) releaseReservation(ctx context.Context, ord models.Order, kind string) error {
	for _, it := range ord.Items {
		ok, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, 0, -it.Qty, kind, ord.OrderNo)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("order %s: reservation of product %d is missing", ord.OrderNo, it.ProductID)
		}
	}
	return nil
}

// CancelOrder cancels a member's order before the store has prepared it. An unpaid order releases its
// reserved stock; a paid one (waiting for its store or accepted) puts its stock back and is refunded in
// full through the provider it was paid with.
func (s *Service) CancelOrder(ctx context.Context, memberID int64, orderNo string) (OrderView, error) {
	var id int64
	var refund models.Refund
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ord, err := s.memberOrder(ctx, memberID, orderNo, true)
		if err != nil {
			return err
		}
		id = ord.ID
		switch Status(ord.Status) {
		case StatusPendingPayment:
			if err := s.transition(ctx, ord.ID, StatusPendingPayment, StatusCancelled, nil); err != nil {
				return err
			}
			if err := s.releaseReservation(ctx, ord, "cancel"); err != nil {
				return err
			}
			if err := s.Loyalty.Release(ctx, ord); err != nil {
				return err
			}
			if err := s.checkAttemptsNow(ctx, ord.ID, ""); err != nil {
				return err
			}
		case StatusPaid, StatusAccepted:
			if refund, err = s.startRefund(ctx, ord, 0, "cancelled by the shopper", "shopper"); err != nil {
				return err
			}
		default:
			return domain.Errf(domain.ErrConflict, "order %s is %s; an order can be cancelled only until the store has prepared it", orderNo, ord.Status)
		}
		return events.Enqueue(ctx, s.Env, "order.cancelled", orderNo, map[string]any{"order_no": orderNo, "by": "shopper"})
	})
	if err != nil {
		return OrderView{}, err
	}
	if refund.ID != 0 {
		if _, err := s.submitNow(ctx, refund); err != nil {
			return OrderView{}, err
		}
	}
	return s.orderView(ctx, id)
}

// ExpireDue expires up to limit unpaid orders past their deadline and releases their stock, one order
// per transaction (domain.SweepDue). Several workers may run it at once: each order is locked while it
// is expired (SKIP LOCKED on PostgreSQL) and the expiry is a conditional update, so no order is expired
// or released twice.
func (s *Service) ExpireDue(ctx context.Context, limit int) (int, error) {
	unpaid := func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", string(StatusPendingPayment)) }
	return domain.SweepDue(ctx, s.Env, unpaid, "expires_at", limit, func(ctx context.Context, ord *models.Order) (bool, error) {
		// Items by product id: stock rows are locked in (store, product) order.
		if err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error; err != nil {
			return false, err
		}
		err := s.transition(ctx, ord.ID, StatusPendingPayment, StatusExpired, nil)
		if errors.Is(err, domain.ErrConflict) {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		if err := s.releaseReservation(ctx, *ord, "expire"); err != nil {
			return false, err
		}
		if err := s.Loyalty.Release(ctx, *ord); err != nil {
			return false, err
		}
		if err := s.checkAttemptsNow(ctx, ord.ID, ""); err != nil {
			return false, err
		}
		return true, events.Enqueue(ctx, s.Env, "order.expired", ord.OrderNo, map[string]any{"order_no": ord.OrderNo})
	})
}
