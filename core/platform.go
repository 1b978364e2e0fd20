package core

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// platformActor is who acts when a platform says something happened to its order.
var platformActor = staff.Actor{Username: "platform", Role: staff.RoleAdmin}

func isPlatform(ord models.Order) bool { return ord.PlatformOrderID != nil }

func platformID(ord models.Order) string {
	if ord.PlatformOrderID == nil {
		return ""
	}
	return *ord.PlatformOrderID
}

// platformCall queues a call to the order's platform in the caller's transaction.
func (s *Service) platformCall(ctx context.Context, ord models.Order, kind, reason string, soldOut bool) error {
	return s.Market.EnqueueCall(ctx, market.Call{Kind: kind, Platform: ord.Source, ShopID: ord.PlatformShopID, OrderNo: ord.OrderNo,
		PlatformOrderID: platformID(ord), DeliveryMode: ord.DeliveryMode, Reason: reason, SoldOut: soldOut})
}

// ReceivePush applies one verified platform push and says what it did. A push whose signed time is
// outside the window is ErrStale; one for a shop no store is bound to is ErrUnknownShop; both change
// nothing. Pushes repeat and arrive out of order: each is applied once, and a cancellation or refund
// that overtakes its order waits for it.
func (s *Service) ReceivePush(ctx context.Context, p market.Push) (string, error) {
	text.CleanAll(&p) // verified by its platform: never refused for its text, cleaned before it is stored
	if w := s.opts.MarketPushWindow; w > 0 && !p.SignedAt.IsZero() {
		if d := s.Now().Sub(p.SignedAt); d > w || d < -w {
			return "", fmt.Errorf("%w: signed at %s, now %s", market.ErrStale, p.SignedAt.UTC().Format("2006-01-02 15:04:05"), s.Now().Format("2006-01-02 15:04:05"))
		}
	}
	if p.Kind == market.PushCheck {
		return "checked", nil
	}
	if p.Kind == market.PushOrder {
		if p.ShopID != "" { // refuse a foreign shop before asking its platform anything
			if _, err := s.Market.BoundShop(ctx, p.Platform, p.ShopID); err != nil {
				return "", err
			}
		}
		return s.Market.TakePushed(ctx, p, s.TakePlatformOrder)
	}
	if p.Kind == market.PushRefund && p.OrderID == "" {
		got, err := s.fetchRefund(ctx, p)
		if err != nil {
			return "", err
		}
		if got.Kind != market.PushRefund {
			return "ignored: refund " + p.RefundID + " not done", nil
		}
		p.OrderID, p.ShopID, p.Lines, p.RefundID = got.OrderID, got.ShopID, got.Lines, got.RefundID
		if got.Reason != "" {
			p.Reason = got.Reason
		}
	}
	var result string
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var ord models.Order
		err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Where("source = ? AND platform_order_id = ?", p.Platform, p.OrderID).Take(&ord).Error
		if models.IsNotFound(err) {
			if p.ShopID != "" {
				if _, err := s.Market.BoundShop(ctx, p.Platform, p.ShopID); err != nil {
					return err
				}
			}
			if p.Kind != market.PushCancelled && p.Kind != market.PushRefund && p.Status != market.StatusCancelled {
				result = "ignored: order not held"
				return nil
			}
			result = "kept until its order arrives"
			return s.keepPending(ctx, p)
		}
		if err != nil {
			return err
		}
		if err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error; err != nil {
			return err
		}
		result, err = s.applyPush(ctx, ord, p)
		return err
	})
	return result, err
}

// applyPush applies a push about an order the hub holds, locked, in the caller's transaction.
func (s *Service) applyPush(ctx context.Context, ord models.Order, p market.Push) (string, error) {
	st := Status(ord.Status)
	switch {
	case p.Kind == market.PushCancelled || (p.Kind == market.PushStatus && p.Status == market.StatusCancelled):
		if st != StatusPaid && st != StatusAccepted && st != StatusReady {
			return "ignored: order is " + ord.Status, nil
		}
		return "cancelled", s.cancelPlatformOrder(ctx, ord, "cancelled on the platform: "+clean(p.Reason, 80))
	case p.Kind == market.PushRefund:
		if p.RefundID != "" {
			res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).
				Create(&models.MarketRefund{Platform: p.Platform, RefundID: p.RefundID, OrderID: ord.ID, CreatedAt: s.Now()})
			if res.Error != nil {
				return "", res.Error
			}
			if res.RowsAffected == 0 {
				return "ignored: refund " + p.RefundID + " already applied", nil
			}
		}
		return "refunded in part", s.refundPlatformLines(ctx, ord, p.Lines)
	case p.Kind == market.PushFinished || (p.Kind == market.PushStatus && p.Status == market.StatusCompleted):
		if st != StatusAccepted && st != StatusReady {
			return "ignored: order is " + ord.Status, nil
		}
		if err := s.transition(ctx, ord.ID, st, StatusCompleted, nil); err != nil {
			return "", err
		}
		if err := s.loyaltyFulfilled(ctx, ord); err != nil { // earns only an order with a member
			return "", err
		}
		return "completed", events.Enqueue(ctx, s.Env, "order.completed", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "by": p.Platform})
	case p.Kind == market.PushConfirmed || (p.Kind == market.PushStatus && p.Status == market.StatusConfirmed):
		if st != StatusPaid {
			return "ignored: order is " + ord.Status, nil
		}
		if err := s.transition(ctx, ord.ID, StatusPaid, StatusAccepted, map[string]any{"accept_by": nil}); err != nil {
			return "", err
		}
		return "accepted", s.accepted(ctx, ord, platformActor)
	}
	return "ignored", nil
}

// fetchRefund completes a refund push that names only its refund, through the platform's connector.
func (s *Service) fetchRefund(ctx context.Context, p market.Push) (market.Push, error) {
	f, ok := s.Market.RefundFetcher(p.Platform)
	if !ok || p.RefundID == "" {
		return p, fmt.Errorf("%w: a %s refund push that names no order", market.ErrMalformed, p.Platform)
	}
	got, err := f.FetchRefund(ctx, p.RefundID)
	if err != nil {
		return p, fmt.Errorf("fetching %s refund %s: %w", p.Platform, p.RefundID, err)
	}
	return got, nil
}

// keepPending records a cancellation or refund whose order has not arrived, once per order and kind.
func (s *Service) keepPending(ctx context.Context, p market.Push) error {
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	kind := string(p.Kind)
	if p.Kind == market.PushRefund {
		kind += ":" + cmp.Or(p.RefundID, p.ID)
	}
	row := models.MarketPending{Platform: p.Platform, PlatformOrderID: p.OrderID, Kind: kind, Payload: string(b), CreatedAt: s.Now()}
	err = s.DB.Conn(ctx).Create(&row).Error
	if models.IsDuplicate(err) {
		return nil
	}
	return err
}

// TakePlatformOrder takes a platform order in, idempotently on its platform and id: the order lands paid
// at the bound store with its stock committed in the same transaction and is offered to the store (the
// binding's auto_accept decides). Lines whose code maps to no product, or to one the store does not
// stock, make the order wait for the store's attention; stock that is gone refuses the order on the
// platform as sold out. Text from the platform is cleaned of control characters, never refused.
func (s *Service) TakePlatformOrder(ctx context.Context, o market.Order) error {
	err := s.DB.Tx(ctx, func(ctx context.Context) error { return s.takePlatformOrder(ctx, o) })
	if models.IsDuplicate(err) { // the same order taken concurrently: it is there once
		return nil
	}
	return err
}

func (s *Service) takePlatformOrder(ctx context.Context, o market.Order) error {
	tx := s.DB.Conn(ctx)
	var held int64
	if err := tx.Model(&models.Order{}).Where("source = ? AND platform_order_id = ?", o.Platform, o.OrderID).Count(&held).Error; err != nil || held > 0 {
		return err
	}
	shop, err := s.Market.BoundShop(ctx, o.Platform, o.ShopID)
	if err != nil {
		return err
	}
	var st models.Store
	if err := tx.Take(&st, shop.StoreID).Error; err != nil {
		return err
	}
	now := s.Now()
	no, err := newOrderNo(now)
	if err != nil {
		return err
	}
	type line struct {
		item    models.OrderItem
		stocked bool
	}
	var lines []line
	var attention []string
	var total int64
	for _, l := range o.Lines {
		code := clean(l.Code, 64)
		name := clean(l.Name, 200)
		it := models.OrderItem{SKU: code, Name: name, PriceFen: l.PriceFen, Qty: l.Qty, PlatformCode: code}
		if it.SKU == "" {
			it.SKU = clean(l.PlatformSKU, 64)
		}
		total += l.PriceFen * l.Qty
		p, ok, err := s.Market.Product(ctx, o.Platform, code)
		if err != nil {
			return err
		}
		stocked := false
		if !ok {
			attention = append(attention, fmt.Sprintf("%s %q is not mapped to a product", o.Platform, it.SKU))
		} else {
			it.ProductID, it.SKU = &p.ID, p.SKU
			var n int64
			if err := tx.Model(&models.Stock{}).Where("store_id = ? AND product_id = ?", st.ID, p.ID).Count(&n).Error; err != nil {
				return err
			}
			if stocked = n > 0; !stocked {
				attention = append(attention, fmt.Sprintf("%s is not stocked at %s", p.SKU, st.Code))
			}
		}
		if l.Qty < 1 {
			return fmt.Errorf("%w: line %q has quantity %d", market.ErrMalformed, it.SKU, l.Qty)
		}
		lines = append(lines, line{item: it, stocked: stocked})
	}
	if len(lines) == 0 {
		return fmt.Errorf("%w: %s order %s has no lines", market.ErrMalformed, o.Platform, o.OrderID)
	}
	if o.TotalFen > 0 {
		total = o.TotalFen
	}
	if total <= 0 {
		return fmt.Errorf("%w: %s order %s has no value", market.ErrMalformed, o.Platform, o.OrderID)
	}
	// Stock rows are locked in product order, as everywhere.
	sort.SliceStable(lines, func(i, j int) bool { return pid(lines[i].item) < pid(lines[j].item) })
	if err := tx.SavePoint("platform_stock").Error; err != nil {
		return err
	}
	soldOut := ""
	for _, l := range lines {
		if !l.stocked {
			continue
		}
		ok, err := s.Catalog.MoveStock(ctx, st.ID, *l.item.ProductID, -l.item.Qty, 0, "platform_sale", no)
		if err != nil {
			return err
		}
		if !ok {
			soldOut = l.item.SKU
			break
		}
	}
	status := StatusPaid
	note := ""
	if soldOut != "" {
		if err := tx.RollbackTo("platform_stock").Error; err != nil {
			return err
		}
		status = StatusCancelled
		note = fmt.Sprintf("sold out: %s at %s", soldOut, st.Code)
	}
	pidText := o.OrderID
	ord := models.Order{OrderNo: no, StoreID: st.ID, Fulfillment: FulfillmentPlatform, Status: string(status), TotalFen: total,
		AddressText: clean(o.Address, 300), ExpiresAt: now, PaidAt: &now, Provider: o.Platform, ProviderTxn: o.OrderID,
		Note: clean(o.Remark, 200), Courier: clean(o.Recipient, 64), CourierPhone: clean(o.RecipientPhone, 64),
		Source: o.Platform, PlatformOrderID: &pidText, PlatformShopID: o.ShopID, DaySeq: o.DaySeq,
		CustomerPaidFen: o.PaidFen, SubsidyFen: o.SubsidyFen, CommissionFen: o.CommissionFen, DeliveryMode: o.DeliveryMode,
		Attention: strings.Join(attention, "; "), CreatedAt: now, UpdatedAt: now}
	if note != "" {
		ord.Attention = note
	}
	if err := tx.Create(&ord).Error; err != nil {
		return err
	}
	for _, l := range lines {
		it := l.item
		it.OrderID = ord.ID
		if err := tx.Create(&it).Error; err != nil {
			return err
		}
		ord.Items = append(ord.Items, it)
	}
	if err := tx.Model(&models.MarketShop{}).Where("id = ?", shop.ID).Update("last_order_at", now).Error; err != nil {
		return err
	}
	view := map[string]any{"order_no": no, "source": o.Platform, "platform_order_id": o.OrderID, "shop_id": o.ShopID, "day_seq": o.DaySeq,
		"store": st.Code, "total_fen": total, "customer_paid_fen": o.PaidFen, "subsidy_fen": o.SubsidyFen, "commission_fen": o.CommissionFen}
	s.Log.InfoContext(ctx, "platform order taken", "platform", o.Platform, "platform_order_id", o.OrderID, "order_no", no, "store", st.Code, "status", status)
	if soldOut != "" {
		if err := s.platformCall(ctx, ord, market.CallReject, "商品已售完", true); err != nil {
			return err
		}
		if err := events.Alert(ctx, s.Env, "platform_sold_out", no, fmt.Sprintf("%s order %s refused: %s", o.Platform, o.OrderID, note)); err != nil {
			return err
		}
		return events.Enqueue(ctx, s.Env, "order.cancelled", no, view)
	}
	if err := events.Enqueue(ctx, s.Env, "order.paid", no, view); err != nil {
		return err
	}
	if ord.Attention != "" {
		if err := events.Alert(ctx, s.Env, "platform_order_attention", no, ord.Attention); err != nil {
			return err
		}
	}
	offerAt := st
	offerAt.AutoAccept = shop.AutoAccept && ord.Attention == ""
	if err := s.offer(ctx, ord, offerAt); err != nil {
		return err
	}
	return s.applyPending(ctx, ord)
}

func pid(it models.OrderItem) int64 {
	if it.ProductID == nil {
		return 0
	}
	return *it.ProductID
}

// applyPending applies the cancellations and refunds that arrived before their order.
func (s *Service) applyPending(ctx context.Context, ord models.Order) error {
	var rows []models.MarketPending
	if err := s.DB.Conn(ctx).Where("platform = ? AND platform_order_id = ?", ord.Source, platformID(ord)).Order("id").Find(&rows).Error; err != nil || len(rows) == 0 {
		return err
	}
	for _, r := range rows {
		var p market.Push
		if err := json.Unmarshal([]byte(r.Payload), &p); err != nil {
			return err
		}
		var cur models.Order
		if err := s.DB.Conn(ctx).Preload("Items").Take(&cur, ord.ID).Error; err != nil {
			return err
		}
		if _, err := s.applyPush(ctx, cur, p); err != nil {
			return err
		}
	}
	return s.DB.Conn(ctx).Where("platform = ? AND platform_order_id = ?", ord.Source, platformID(ord)).Delete(&models.MarketPending{}).Error
}

// cancelPlatformOrder cancels a platform order before it is complete: the goods still at the store go
// back on its shelf, in the caller's transaction. The platform refunds its buyer.
func (s *Service) cancelPlatformOrder(ctx context.Context, ord models.Order, why string) error {
	if err := s.transition(ctx, ord.ID, Status(ord.Status), StatusCancelled, map[string]any{"accept_by": nil}); err != nil {
		return err
	}
	if err := s.closeOffer(ctx, ord.ID, OfferWithdrawn, "platform", why); err != nil {
		return err
	}
	for _, it := range ord.Items {
		if left := it.Qty - it.ReturnedQty; it.ProductID != nil && left > 0 {
			if _, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, left, 0, "platform_cancel", ord.OrderNo); err != nil {
				return err
			}
		}
	}
	return events.Enqueue(ctx, s.Env, "order.cancelled", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "source": ord.Source, "reason": why})
}

// refundPlatformLines records a partial refund on the platform: the lines' refunded units are counted
// as returned, and go back on the shelf when the goods had not left the store yet.
func (s *Service) refundPlatformLines(ctx context.Context, ord models.Order, lines []market.Line) error {
	atStore := Status(ord.Status) == StatusPaid || Status(ord.Status) == StatusAccepted || Status(ord.Status) == StatusReady
	returned := map[string]int64{}
	for _, l := range lines {
		for i := range ord.Items {
			it := &ord.Items[i]
			if it.PlatformCode != l.Code || l.Qty <= 0 {
				continue
			}
			q := min(l.Qty, it.Qty-it.ReturnedQty)
			if q <= 0 {
				break
			}
			if err := s.DB.Conn(ctx).Model(&models.OrderItem{}).Where("id = ?", it.ID).Update("returned_qty", it.ReturnedQty+q).Error; err != nil {
				return err
			}
			it.ReturnedQty += q
			returned[it.SKU] += q
			if atStore && it.ProductID != nil {
				if _, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, q, 0, "platform_refund", ord.OrderNo); err != nil {
					return err
				}
			}
			break
		}
	}
	return events.Enqueue(ctx, s.Env, "order.returned", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "source": ord.Source, "items": returned})
}

// platformCallRefused shows the store that a platform refused a call about its order.
func (s *Service) platformCallRefused(ctx context.Context, orderNo, why string) error {
	return s.DB.Conn(ctx).Model(&models.Order{}).Where("order_no = ?", orderNo).
		Updates(map[string]any{"attention": clean(why, 300), "updated_at": s.Now()}).Error
}

// clean makes text from a platform safe to store, show and print: control and format characters
// (bidi overrides among them) become spaces, invalid UTF-8 is dropped, and it is cut to max runes.
func clean(s string, max int) string {
	s = strings.TrimSpace(text.Clean(s))
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max])
	}
	return s
}

// errPlatformOrder refuses a step that only our own orders take.
func errPlatformOrder(ord models.Order, doing string) error {
	return domain.Errf(domain.ErrConflict, "order %s is a %s order; its platform must %s", ord.OrderNo, ord.Source, doing)
}

// StoreShops lists the platform shops bound to a store (a clerk's own; an admin names one) with the state
// of their sync, for the store's console.
func (s *Service) StoreShops(ctx context.Context, a staff.Actor, store string) ([]market.ShopView, error) {
	st, err := s.Staff.ActorStore(ctx, a, store)
	if err != nil {
		return nil, err
	}
	return s.Market.Shops(ctx, st.Code)
}
