package core

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
)

// StoreOrderView is an order as its store sees it: what the shopper sees, plus the deadline to accept,
// the shopper's phone for a delivery, and the routing history.
type StoreOrderView struct {
	OrderView
	// AcceptBy is when an order waiting for the store moves on to the next store.
	AcceptBy *time.Time `json:"accept_by,omitempty"`
	// ContactPhone is the shopper's phone, given to the store for a delivery only.
	ContactPhone string      `json:"contact_phone,omitempty"`
	Offers       []OfferView `json:"offers,omitempty"`
}

// storeStatuses are the states a store's order list can be filtered by.
var storeStatuses = map[Status]bool{StatusPaid: true, StatusAccepted: true, StatusReady: true, StatusCompleted: true,
	StatusDelivering: true, StatusDelivered: true, StatusRefunding: true, StatusRefunded: true}

// MaxStoreOrders is the most orders one store list returns.
const MaxStoreOrders = 200

// StoreOrders lists the paid orders of a store (a clerk's own; an admin names one), newest first, at
// most MaxStoreOrders. statuses filters by state (comma-separated); empty lists the orders the store
// still has work on: paid, accepted, ready and delivering.
func (s *Service) StoreOrders(ctx context.Context, a staff.Actor, store, statuses string) ([]StoreOrderView, error) {
	st, err := s.Staff.ActorStore(ctx, a, store)
	if err != nil {
		return nil, err
	}
	want := []string{string(StatusPaid), string(StatusAccepted), string(StatusReady), string(StatusDelivering)}
	if strings.TrimSpace(statuses) != "" {
		want = nil
		for _, v := range strings.Split(statuses, ",") {
			v = strings.TrimSpace(v)
			if !storeStatuses[Status(v)] {
				return nil, domain.Errf(domain.ErrInvalidArgument, "status %q is not one of paid, accepted, ready, completed, delivering, delivered, refunding, refunded", v)
			}
			want = append(want, v)
		}
	}
	var rows []models.Order
	err = s.DB.Conn(ctx).Preload("Items").Where("store_id = ? AND status IN ?", st.ID, want).Order("id DESC").Limit(MaxStoreOrders).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	phones, err := s.deliveryPhones(ctx, rows)
	if err != nil {
		return nil, err
	}
	out := make([]StoreOrderView, len(rows))
	for i, o := range rows {
		out[i] = StoreOrderView{OrderView: toOrderView(o, st.Code), AcceptBy: utcPtr(o.AcceptBy), ContactPhone: memberPhone(phones, o.MemberID)}
	}
	return out, nil
}

// StoreOrder returns one order an actor may see, with its routing history.
func (s *Service) StoreOrder(ctx context.Context, a staff.Actor, orderNo string) (StoreOrderView, error) {
	ord, err := s.storeOrder(ctx, a, orderNo, false)
	if err != nil {
		return StoreOrderView{}, err
	}
	v, err := s.orderView(ctx, ord.ID)
	if err != nil {
		return StoreOrderView{}, err
	}
	phones, err := s.deliveryPhones(ctx, []models.Order{ord})
	if err != nil {
		return StoreOrderView{}, err
	}
	offers, err := s.offers(ctx, ord.ID)
	return StoreOrderView{OrderView: v, AcceptBy: utcPtr(ord.AcceptBy), ContactPhone: memberPhone(phones, ord.MemberID), Offers: offers}, err
}

// memberPhone returns the phone of an order's member from phones; "" for an order without a member.
func memberPhone(phones map[int64]string, memberID *int64) string {
	if memberID == nil {
		return ""
	}
	return phones[*memberID]
}

// deliveryPhones returns the phones of the shoppers of the delivery orders among rows, by member id.
func (s *Service) deliveryPhones(ctx context.Context, rows []models.Order) (map[int64]string, error) {
	var ids []int64
	for _, o := range rows {
		if o.Fulfillment == FulfillmentDelivery && o.MemberID != nil {
			ids = append(ids, *o.MemberID)
		}
	}
	out := map[int64]string{}
	if len(ids) == 0 {
		return out, nil
	}
	var members []models.Member
	if err := s.DB.Conn(ctx).Where("id IN ?", ids).Find(&members).Error; err != nil {
		return nil, err
	}
	for _, m := range members {
		if m.Phone != nil {
			out[m.ID] = *m.Phone
		}
	}
	return out, nil
}

// ReturnInput is what comes back over the counter: lines of the order (all not yet returned when empty)
// and why.
type ReturnInput struct {
	Items  []ItemInput `json:"items"`
	Reason string      `json:"reason"`
}

// ReturnItems takes goods of a collected or delivered order back at its store's counter: they go back
// on the shelf and their share of what was paid (their price, less their share of the order's discount
// and points, whose points come back in proportion) is refunded through the provider the order was paid with. Lines can be
// returned in parts, never more than were bought; the return that brings the whole order back moves it
// to refunding.
func (s *Service) ReturnItems(ctx context.Context, a staff.Actor, orderNo string, in ReturnInput) (RefundView, error) {
	in.Reason = strings.TrimSpace(in.Reason)
	if in.Reason == "" {
		in.Reason = "returned at the counter"
	}
	if utf8.RuneCountInString(in.Reason) > 80 {
		return RefundView{}, domain.Errf(domain.ErrInvalidArgument, "reason must be at most 80 characters")
	}
	var refund models.Refund
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ord, err := s.storeOrder(ctx, a, orderNo, true)
		if err != nil {
			return err
		}
		if isPlatform(ord) {
			return errPlatformOrder(ord, "take returns")
		}
		if st := Status(ord.Status); st != StatusCompleted && st != StatusDelivered {
			return domain.Errf(domain.ErrConflict, "order %s is %s; only a collected or delivered order can be returned", orderNo, st)
		}
		back, err := returnLines(ord, in.Items)
		if err != nil {
			return err
		}
		var amount int64
		all := true
		for i := range ord.Items {
			it := &ord.Items[i]
			q := back[it.SKU]
			if q == 0 {
				all = all && it.ReturnedQty == it.Qty
				continue
			}
			amount += q * it.PriceFen
			if _, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, q, 0, "return", ord.OrderNo); err != nil {
				return err
			}
			res := s.DB.Conn(ctx).Model(&models.OrderItem{}).Where("id = ? AND returned_qty + ? <= qty", it.ID, q).
				Update("returned_qty", it.ReturnedQty+q)
			if res.Error != nil {
				return res.Error
			}
			if res.RowsAffected == 0 {
				return domain.Errf(domain.ErrConflict, "%s was returned meanwhile", it.SKU)
			}
			all = all && it.ReturnedQty+q == it.Qty
		}
		amount = amount * loyalty.BasisFen(ord) / ord.TotalFen // the goods' share of what was paid, after discount and points
		left, err := s.refundableLeft(ctx, ord)
		if err != nil {
			return err
		}
		if all || amount > left {
			amount = left // the whole order back: whatever is left, also after partial refunds
		}
		if amount <= 0 {
			return domain.Errf(domain.ErrConflict, "order %s has nothing left to refund", orderNo)
		}
		if err := events.Enqueue(ctx, s.Env, "order.returned", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "items": back, "amount_fen": amount, "by": a.Username}); err != nil {
			return err
		}
		refund, err = s.startRefund(ctx, ord, amount, in.Reason, a.Username)
		return err
	})
	if err != nil {
		return RefundView{}, err
	}
	return s.submitNow(ctx, refund)
}

// returnLines checks what is handed back against what is left of each line of the order.
func returnLines(ord models.Order, items []ItemInput) (map[string]int64, error) {
	back := map[string]int64{}
	left := map[string]int64{}
	for _, it := range ord.Items {
		left[it.SKU] = it.Qty - it.ReturnedQty
	}
	if len(items) == 0 {
		for sku, q := range left {
			if q > 0 {
				back[sku] = q
			}
		}
		if len(back) == 0 {
			return nil, domain.Errf(domain.ErrConflict, "everything of order %s was returned already", ord.OrderNo)
		}
		return back, nil
	}
	for _, it := range items {
		if _, ok := left[it.SKU]; !ok {
			return nil, domain.Errf(domain.ErrInvalidArgument, "%q is not in order %s", it.SKU, ord.OrderNo)
		}
		if it.Qty < 1 {
			return nil, domain.Errf(domain.ErrInvalidArgument, "qty of %q must be at least 1", it.SKU)
		}
		back[it.SKU] += it.Qty
	}
	for sku, q := range back {
		if q > left[sku] {
			return nil, domain.Errf(domain.ErrInvalidArgument, "only %d of %s can still be returned", left[sku], sku)
		}
	}
	return back, nil
}

// StoreDay is a store's figures for one day (China time) and the work it has open now.
type StoreDay struct {
	Store string `json:"store"`
	Date  string `json:"date"`
	// Open work now.
	Incoming   int64 `json:"incoming"`
	ToPrepare  int64 `json:"to_prepare"`
	AwaitingPU int64 `json:"awaiting_pickup"`
	Delivering int64 `json:"delivering"`
	// The day so far.
	PaidOrders  int64 `json:"paid_orders"`
	SalesFen    int64 `json:"sales_fen"`
	Completed   int64 `json:"completed"`
	Declined    int64 `json:"declined"`
	RefundedFen int64 `json:"refunded_fen"`
}

// StoreToday returns a store's figures for today (China time).
func (s *Service) StoreToday(ctx context.Context, a staff.Actor, store string) (StoreDay, error) {
	st, err := s.Staff.ActorStore(ctx, a, store)
	if err != nil {
		return StoreDay{}, err
	}
	now := s.Now().In(cn.Zone)
	start := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, cn.Zone).UTC()
	out := StoreDay{Store: st.Code, Date: now.Format("2006-01-02")}
	db := s.DB.Conn(ctx)
	var counts []struct {
		Status string
		N      int64
	}
	err = db.Model(&models.Order{}).Select("status, COUNT(*) AS n").Where("store_id = ? AND status IN ?", st.ID,
		[]string{string(StatusPaid), string(StatusAccepted), string(StatusReady), string(StatusDelivering)}).Group("status").Scan(&counts).Error
	if err != nil {
		return out, err
	}
	for _, c := range counts {
		switch Status(c.Status) {
		case StatusPaid:
			out.Incoming = c.N
		case StatusAccepted:
			out.ToPrepare = c.N
		case StatusReady:
			out.AwaitingPU = c.N
		case StatusDelivering:
			out.Delivering = c.N
		}
	}
	var sales struct{ N, Sum int64 }
	if err := db.Model(&models.Order{}).Select("COUNT(*) AS n, COALESCE(SUM(total_fen), 0) AS sum").
		Where("store_id = ? AND paid_at >= ? AND status NOT IN ?", st.ID, start, []string{string(StatusRefunding), string(StatusRefunded)}).Scan(&sales).Error; err != nil {
		return out, err
	}
	out.PaidOrders, out.SalesFen = sales.N, sales.Sum
	if err := db.Model(&models.Order{}).Where("store_id = ? AND status IN ? AND updated_at >= ?", st.ID,
		[]string{string(StatusCompleted), string(StatusDelivered)}, start).Count(&out.Completed).Error; err != nil {
		return out, err
	}
	if err := db.Model(&models.OrderOffer{}).Where("store_id = ? AND outcome IN ? AND decided_at >= ?", st.ID,
		[]string{OfferRejected, OfferTimeout}, start).Count(&out.Declined).Error; err != nil {
		return out, err
	}
	err = db.Model(&models.Refund{}).Select("COALESCE(SUM(refunds.amount_fen), 0)").Joins("JOIN orders ON orders.id = refunds.order_id").
		Where("orders.store_id = ? AND refunds.status = ? AND refunds.updated_at >= ?", st.ID, RefundSucceeded, start).Scan(&out.RefundedFen).Error
	return out, err
}
