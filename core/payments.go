package core

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// PayView is what the shopper's client needs to pay an order.
type PayView struct {
	OrderNo   string         `json:"order_no"`
	Provider  string         `json:"provider"`
	AmountFen int64          `json:"amount_fen"`
	Params    map[string]any `json:"params"`
}

// PaymentResult says what ApplyPayment did with a notification.
type PaymentResult string

// The outcomes of a payment notification. Each is final for that provider transaction.
const (
	PaymentApplied        PaymentResult = "applied"
	PaymentDuplicate      PaymentResult = "duplicate"
	PaymentAmountMismatch PaymentResult = "amount_mismatch"
	PaymentUnknownOrder   PaymentResult = "unknown_order"
	PaymentRefundRequired PaymentResult = "refund_required"
	paymentPending        PaymentResult = "pending"
)

// StartPayment prepares payment of a member's order with a provider. A repeated call while the earlier
// prepay is still open returns the same parameters instead of creating a second payable transaction;
// concurrent calls are serialised by a unique open attempt per order and provider.
func (s *Service) StartPayment(ctx context.Context, memberID int64, orderNo, provider string) (PayView, error) {
	p, ok := s.gateways[provider]
	gw := p.gateway
	if !ok {
		return PayView{}, domain.Errf(domain.ErrInvalidArgument, "payment provider %q is not enabled", provider)
	}
	ord, err := s.memberOrder(ctx, memberID, orderNo, false)
	if err != nil {
		return PayView{}, err
	}
	if Status(ord.Status) != StatusPendingPayment {
		return PayView{}, domain.Errf(domain.ErrConflict, "order %s is %s and cannot be paid", orderNo, ord.Status)
	}
	if !s.Now().Before(ord.ExpiresAt) {
		return PayView{}, domain.Errf(domain.ErrConflict, "order %s has expired and cannot be paid", orderNo)
	}
	view := PayView{OrderNo: orderNo, Provider: provider, AmountFen: cashFen(ord)}
	att, err := s.claimAttempt(ctx, ord, provider)
	if err != nil {
		return PayView{}, err
	}
	if att.Params != "" { // an open prepay: the same parameters again
		return view, json.Unmarshal([]byte(att.Params), &view.Params)
	}
	ids, err := s.identities(ctx, &memberID)
	if err != nil {
		return PayView{}, err
	}
	res, err := gw.Prepay(ctx, PrepayRequest{OrderNo: orderNo, AmountFen: cashFen(ord), Description: describe(ord),
		NotifyURL: s.notifyURL(provider), ExpiresAt: ord.ExpiresAt, Identities: ids})
	if err != nil {
		return PayView{}, s.freeClaim(ctx, att, orderNo, fmt.Errorf("prepay with %s: %w", provider, err))
	}
	params, err := json.Marshal(res.Params)
	if err != nil {
		return PayView{}, err
	}
	err = s.DB.Conn(ctx).Model(&models.PaymentAttempt{}).Where("id = ?", att.ID).
		Updates(map[string]any{"prepay_id": res.PrepayID, "params": string(params), "next_check_at": s.Now().Add(s.opts.PaymentCheckAfter)}).Error
	view.Params = res.Params
	return view, err
}

// freeClaim deletes the empty claim of a prepay that failed with cause, so that the shopper can try again
// at once, and returns cause. The claim is freed even when the request was cancelled (often the reason
// the prepay failed); when it cannot be freed, the failure is logged and returned with cause, and the
// claim blocks new prepays of the order for a minute, until claimAttempt takes it over.
func (s *Service) freeClaim(ctx context.Context, att models.PaymentAttempt, orderNo string, cause error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.DB.Conn(ctx).Delete(&models.PaymentAttempt{}, att.ID).Error; err != nil {
		s.Log.ErrorContext(ctx, "freeing a payment claim", "order_no", orderNo, "provider", att.Provider, "attempt", att.ID, "err", err)
		return fmt.Errorf("%w (and freeing the payment claim failed: %w)", cause, err)
	}
	return cause
}

// claimAttempt returns the open payment attempt of an order with a provider: the finished one to reuse
// (Params set), or a new, empty claim that the caller fills after its prepay. A claim another call is
// still filling is a conflict; one left empty for a minute (its caller died) is taken over.
func (s *Service) claimAttempt(ctx context.Context, ord models.Order, provider string) (models.PaymentAttempt, error) {
	for attempt := 0; attempt < 2; attempt++ {
		var prev models.PaymentAttempt
		err := s.DB.Conn(ctx).Where("order_id = ? AND provider = ? AND status = ?", ord.ID, provider, attemptOpen).Take(&prev).Error
		switch {
		case err == nil && prev.AmountFen == cashFen(ord) && prev.Params != "":
			return prev, nil
		case err == nil && prev.Params == "" && s.Now().Sub(prev.CreatedAt) < time.Minute:
			return prev, domain.Errf(domain.ErrConflict, "a payment of order %s is being prepared; try again in a moment", ord.OrderNo)
		case err == nil:
			if err := s.DB.Conn(ctx).Model(&models.PaymentAttempt{}).Where("id = ?", prev.ID).Update("status", attemptAbandoned).Error; err != nil {
				return prev, err
			}
		case !models.IsNotFound(err):
			return prev, err
		}
		att := models.PaymentAttempt{OrderID: ord.ID, Provider: provider, AmountFen: cashFen(ord), Status: attemptOpen, CreatedAt: s.Now()}
		err = s.DB.Conn(ctx).Create(&att).Error
		if !models.IsDuplicate(err) {
			return att, err
		}
	}
	return models.PaymentAttempt{}, domain.Errf(domain.ErrConflict, "a payment of order %s is being prepared; try again in a moment", ord.OrderNo)
}

// identities maps a member's identity providers to their subjects, for gateways that need the payer.
func (s *Service) identities(ctx context.Context, memberID *int64) (map[string]string, error) {
	ids := map[string]string{}
	if memberID == nil { // a platform order: no member, no identities
		return ids, nil
	}
	var idns []models.Identity
	if err := s.DB.Conn(ctx).Where("member_id = ?", *memberID).Find(&idns).Error; err != nil {
		return nil, err
	}
	for _, idn := range idns {
		ids[idn.Provider] = idn.Subject
	}
	return ids, nil
}

// notifyURL is where a provider sends its notifications for this hub.
func (s *Service) notifyURL(provider string) string {
	return strings.TrimRight(s.opts.PublicURL, "/") + "/webhooks/" + provider
}

// describe names an order's items for the provider's payment page, in at most 40 characters.
func describe(ord models.Order) string {
	names := make([]string, 0, len(ord.Items))
	for _, it := range ord.Items {
		names = append(names, it.Name)
	}
	desc := strings.Join(names, ",")
	if r := []rune(desc); len(r) > 40 {
		desc = string(r[:40]) + "…"
	}
	return desc
}

// ApplyPayment applies a verified payment notification exactly once, however often and however
// concurrently it arrives. The amount must equal the order total; a mismatch is recorded and alerted and
// the order stays unpaid. A payment for an unpaid order commits its stock and writes an order.paid event,
// all in one transaction. A payment that arrives after expiry is honoured when the stock is still there;
// otherwise, and for a cancelled or already paid order, the order is marked for refund: money is never
// silently kept.
func (s *Service) ApplyPayment(ctx context.Context, n PaymentNotification) (PaymentResult, error) {
	text.CleanAll(&n) // verified by its provider: never refused for its text, cleaned before it is stored
	if n.Provider == "" || n.TransactionID == "" || n.OrderNo == "" || n.AmountFen <= 0 {
		return "", domain.Errf(domain.ErrInvalidArgument, "payment notification needs provider, transaction id, order number and a positive amount")
	}
	var result PaymentResult
	// Notifications arriving at once share a commit on SQLite (Group); each keeps its own outcome.
	err := s.DB.Group(ctx, func(ctx context.Context) error {
		var err error
		result, err = s.applyNewPayment(ctx, n)
		return err
	})
	if err != nil {
		return "", err
	}
	if result == PaymentApplied {
		s.wakeLoyalty()
	}
	s.Log.InfoContext(ctx, "payment notification", "provider", n.Provider, "order_no", n.OrderNo, "txn", n.TransactionID, "result", result)
	return result, nil
}

// applyNewPayment locks the notification's order, records the payment with the outcome it will have,
// and applies it; a payment recorded before (the same provider transaction) is PaymentDuplicate and
// changes nothing. The payment row is written in one statement with its outcome, once the order is
// locked: two deliveries of one transaction wait for each other on the order, and the later finds the
// earlier's row (unique per provider transaction) and stops.
func (s *Service) applyNewPayment(ctx context.Context, n PaymentNotification) (PaymentResult, error) {
	ord, st, err := s.paymentOrder(ctx, n.OrderNo)
	known := !errors.Is(err, domain.ErrNotFound)
	if err != nil && known {
		return "", err
	}
	var result PaymentResult
	switch {
	case !known:
		result = PaymentUnknownOrder
	case n.AmountFen != cashFen(ord):
		result = PaymentAmountMismatch
	case Status(ord.Status) == StatusPendingPayment, Status(ord.Status) == StatusExpired:
		result = PaymentApplied // an expired order's stock may be gone: refund_required then, below
	default:
		result = PaymentRefundRequired
	}
	var row paidRow
	if result == PaymentApplied {
		row = s.paidRow(ord, st, n)
	}
	fresh, err := s.recordPayment(ctx, n, ord, result, &row)
	if err != nil || !fresh {
		return PaymentDuplicate, err
	}
	switch result {
	case PaymentUnknownOrder:
		return result, events.Alert(ctx, s.Env, "payment_unknown_order", n.OrderNo,
			fmt.Sprintf("%s transaction %s paid %d fen for an order we do not know", n.Provider, n.TransactionID, n.AmountFen))
	case PaymentAmountMismatch:
		return result, events.Alert(ctx, s.Env, "payment_amount_mismatch", n.OrderNo,
			fmt.Sprintf("%s transaction %s paid %d fen, order total is %d fen", n.Provider, n.TransactionID, n.AmountFen, cashFen(ord)))
	}
	switch Status(ord.Status) {
	case StatusPendingPayment:
		for _, it := range ord.Items {
			ok, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, -it.Qty, -it.Qty, "sale", ord.OrderNo)
			if err != nil {
				return "", err
			}
			if !ok {
				return "", fmt.Errorf("order %s: reservation of product %d is missing", ord.OrderNo, it.ProductID)
			}
		}
		return PaymentApplied, s.pay(ctx, ord, st, StatusPendingPayment, row, n)
	case StatusExpired:
		ok, err := s.commitUnreserved(ctx, ord)
		if err != nil {
			return "", err
		}
		if ok {
			return PaymentApplied, s.pay(ctx, ord, st, StatusExpired, row, n)
		}
		if err := s.DB.Conn(ctx).Model(&models.Payment{}).Where("provider = ? AND provider_txn = ?", n.Provider, n.TransactionID).
			Update("result", string(PaymentRefundRequired)).Error; err != nil {
			return "", err
		}
		return PaymentRefundRequired, s.markForRefund(ctx, ord, StatusExpired, n, "paid after expiry; the stock was gone")
	case StatusCancelled:
		return PaymentRefundRequired, s.markForRefund(ctx, ord, StatusCancelled, n, "paid after cancellation")
	default:
		// The order was already paid through another transaction: refund this one, keep the order.
		return PaymentRefundRequired, s.refundPayment(ctx, ord, n, "another payment for an order that is already "+ord.Status)
	}
}

// recordPayment inserts the payment of a notification with its outcome and order, and reports whether
// it did: false when the provider transaction is recorded already. The payment of a known order at the
// right amount also uses up the order's prepay with this provider, and any other provider's open prepay
// must be closed, so that the reconciler looks at it at once (checkAttemptsNow): on PostgreSQL in the
// same statement as the insert, on SQLite in a second one. On PostgreSQL the same statement also moves
// an unpaid order to paid with row's columns when row has them (and sets row.moved): a payment for an
// unpaid order is then one statement besides the order's lock and its stock.
func (s *Service) recordPayment(ctx context.Context, n PaymentNotification, ord models.Order, result PaymentResult, row *paidRow) (bool, error) {
	pay := models.Payment{Provider: n.Provider, ProviderTxn: n.TransactionID, OrderNo: n.OrderNo, AmountFen: n.AmountFen,
		Result: string(result), PaidAt: n.PaidAt.UTC(), CreatedAt: s.Now()}
	if ord.ID != 0 {
		pay.OrderID = &ord.ID
	}
	attempts := result != PaymentUnknownOrder && result != PaymentAmountMismatch
	tx := s.DB.Conn(ctx)
	if attempts && s.DB.Postgres() {
		args := []any{sql.Named("provider", pay.Provider), sql.Named("txn", pay.ProviderTxn), sql.Named("order_no", pay.OrderNo),
			sql.Named("order_id", ord.ID), sql.Named("amount", pay.AmountFen), sql.Named("result", pay.Result),
			sql.Named("paid_at", pay.PaidAt), sql.Named("now", pay.CreatedAt), sql.Named("paid", attemptPaid),
			sql.Named("open", attemptOpen)}
		moveOrder, moved := "", "0"
		if row.set != nil && Status(ord.Status) == StatusPendingPayment {
			set := withStatus(row.set, StatusPaid, s.Now())
			cols := slices.Sorted(maps.Keys(set))
			assign := make([]string, len(cols))
			for i, c := range cols {
				assign[i] = c + " = @c_" + c
				args = append(args, sql.Named("c_"+c, set[c]))
			}
			args = append(args, sql.Named("unpaid", string(StatusPendingPayment)))
			moveOrder = `,
o AS (UPDATE orders SET ` + strings.Join(assign, ", ") + `
	WHERE id = @order_id AND status = @unpaid AND EXISTS (SELECT 1 FROM p) RETURNING id)`
			moved = "(SELECT count(*) FROM o)"
		}
		var out []struct{ ID, Moved int64 }
		err := tx.Raw(`WITH p AS (
	INSERT INTO payments (provider, provider_txn, order_no, order_id, amount_fen, result, paid_at, created_at)
	VALUES (@provider, @txn, @order_no, @order_id, @amount, @result, @paid_at, @now)
	ON CONFLICT (provider, provider_txn) DO NOTHING RETURNING id),
a AS (UPDATE payment_attempts
	SET status = CASE WHEN provider = @provider THEN @paid ELSE status END,
		next_check_at = CASE WHEN provider = @provider THEN NULL ELSE CAST(@now AS TIMESTAMPTZ) END
	WHERE order_id = @order_id AND status = @open AND EXISTS (SELECT 1 FROM p))`+moveOrder+`
SELECT id, `+moved+` AS moved FROM p`, args...).Scan(&out).Error
		if err != nil || len(out) == 0 {
			return false, err
		}
		row.moved = out[0].Moved == 1
		return true, nil
	}
	res := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&pay)
	if res.Error != nil || res.RowsAffected == 0 || !attempts {
		return res.Error == nil && res.RowsAffected == 1, res.Error
	}
	err := tx.Model(&models.PaymentAttempt{}).Where("order_id = ? AND status = ?", ord.ID, attemptOpen).
		Updates(map[string]any{
			"status":        gorm.Expr("CASE WHEN provider = ? THEN ? ELSE status END", n.Provider, attemptPaid),
			"next_check_at": gorm.Expr("CASE WHEN provider = ? THEN NULL ELSE ? END", n.Provider, s.Now()),
		}).Error
	return err == nil, err
}

// paymentOrder loads and locks an order for ApplyPayment, in one query with its items (ordered by
// product, as loadOrder has them) and what an offer needs of its store (id, status, auto-accept; no other
// field of the store is set). Only the order row is locked.
func (s *Service) paymentOrder(ctx context.Context, orderNo string) (models.Order, models.Store, error) {
	var rows []struct {
		models.Order
		StoreStatus      string         `gorm:"column:store_status"`
		StoreAutoAccept  bool           `gorm:"column:store_auto_accept"`
		ItemID           sql.NullInt64  `gorm:"column:item_id"`
		ItemProductID    sql.NullInt64  `gorm:"column:item_product_id"`
		ItemSKU          sql.NullString `gorm:"column:item_sku"`
		ItemName         sql.NullString `gorm:"column:item_name"`
		ItemPriceFen     sql.NullInt64  `gorm:"column:item_price_fen"`
		ItemQty          sql.NullInt64  `gorm:"column:item_qty"`
		ItemReturnedQty  sql.NullInt64  `gorm:"column:item_returned_qty"`
		ItemPlatformCode sql.NullString `gorm:"column:item_platform_code"`
	}
	err := s.DB.Conn(ctx).Table("orders").
		Select("orders.*, stores.status AS store_status, stores.auto_accept AS store_auto_accept, "+
			"order_items.id AS item_id, order_items.product_id AS item_product_id, order_items.sku AS item_sku, order_items.name AS item_name, "+
			"order_items.price_fen AS item_price_fen, order_items.qty AS item_qty, order_items.returned_qty AS item_returned_qty, "+
			"order_items.platform_code AS item_platform_code").
		Joins("JOIN stores ON stores.id = orders.store_id").
		Joins("LEFT JOIN order_items ON order_items.order_id = orders.id").
		Where("orders.order_no = ?", orderNo).Order("order_items.product_id").
		Clauses(clause.Locking{Strength: "UPDATE", Table: clause.Table{Name: "orders"}}).Scan(&rows).Error
	if err != nil {
		return models.Order{}, models.Store{}, err
	}
	if len(rows) == 0 {
		return models.Order{}, models.Store{}, domain.Errf(domain.ErrNotFound, "order %s not found", orderNo)
	}
	ord := rows[0].Order
	st := models.Store{ID: ord.StoreID, Status: rows[0].StoreStatus, AutoAccept: rows[0].StoreAutoAccept}
	for _, r := range rows {
		if !r.ItemID.Valid { // an order without items
			continue
		}
		it := models.OrderItem{ID: r.ItemID.Int64, OrderID: ord.ID, SKU: r.ItemSKU.String, Name: r.ItemName.String, PriceFen: r.ItemPriceFen.Int64,
			Qty: r.ItemQty.Int64, ReturnedQty: r.ItemReturnedQty.Int64, PlatformCode: r.ItemPlatformCode.String}
		if r.ItemProductID.Valid {
			it.ProductID = &r.ItemProductID.Int64
		}
		ord.Items = append(ord.Items, it)
	}
	return ord, st, nil
}

// commitUnreserved takes an expired order's items straight from available stock, all or nothing.
func (s *Service) commitUnreserved(ctx context.Context, ord models.Order) (bool, error) {
	tx := s.DB.Conn(ctx)
	if err := tx.SavePoint("late_commit").Error; err != nil {
		return false, err
	}
	for _, it := range ord.Items {
		ok, err := s.Catalog.MoveStock(ctx, ord.StoreID, *it.ProductID, -it.Qty, 0, "sale", ord.OrderNo)
		if err != nil {
			return false, err
		}
		if !ok {
			return false, tx.RollbackTo("late_commit").Error
		}
	}
	return true, nil
}

// paidRow is what moving an order to paid writes to its row: the columns (set: the payment's, the offer's
// and the mark that a member's points are due), the offer's among them (nil when the store is closed and
// the order must move on), and when. moved says the row was written already (recordPayment).
type paidRow struct {
	set, offer map[string]any
	now        time.Time
	moved      bool
}

// paidRow returns what paying ord at store st by n writes to the order's row.
func (s *Service) paidRow(ord models.Order, st models.Store, n PaymentNotification) paidRow {
	now := s.Now()
	r := paidRow{set: map[string]any{"paid_at": n.PaidAt.UTC(), "provider": n.Provider, "provider_txn": n.TransactionID},
		offer: s.offerFields(ord, st, now), now: now}
	for k, v := range r.offer {
		r.set[k] = v
	}
	if ord.MemberID != nil {
		// Points, level and referral rebates are recorded just after this commits (loyaltyPaid).
		r.set["loyalty_due"] = true
	}
	return r
}

// pay moves an order from `from` to paid with row's columns (unless row.moved), records the payment's
// event and offers the order to its store, in the caller's transaction. When the store is open, the
// offer's columns are among row's, so they go into the same update of the order row as the status. st
// is the order's store as paymentOrder loads it.
func (s *Service) pay(ctx context.Context, ord models.Order, st models.Store, from Status, row paidRow, n PaymentNotification) error {
	if !row.moved {
		if err := s.transition(ctx, ord.ID, from, StatusPaid, row.set); err != nil {
			return err
		}
	}
	err := events.Enqueue(ctx, s.Env, "order.paid", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "amount_fen": n.AmountFen,
		"provider": n.Provider, "transaction_id": n.TransactionID, "paid_at": n.PaidAt.UTC()})
	if err != nil {
		return err
	}
	if row.offer == nil { // the store closed since the order was placed: offer records that and moves the order on
		return s.offer(ctx, ord, st)
	}
	return s.offered(ctx, ord, st, row.now)
}

// markForRefund moves an order to refunding and records the refund owed for the notification's payment.
func (s *Service) markForRefund(ctx context.Context, ord models.Order, from Status, n PaymentNotification, reason string) error {
	if err := s.transition(ctx, ord.ID, from, StatusRefunding, map[string]any{"note": reason, "provider": n.Provider, "provider_txn": n.TransactionID, "paid_at": n.PaidAt.UTC()}); err != nil {
		return err
	}
	return s.refundPayment(ctx, ord, n, reason)
}

// requestRefund records that amountFen of one payment of an order must go back to the shopper.
func (s *Service) requestRefund(ctx context.Context, ord models.Order, provider, txn string, amountFen int64, reason string) (models.Refund, error) {
	var count int64
	if err := s.DB.Conn(ctx).Model(&models.Refund{}).Where("order_id = ?", ord.ID).Count(&count).Error; err != nil {
		return models.Refund{}, err
	}
	now := s.Now()
	r := models.Refund{OrderID: ord.ID, RefundNo: fmt.Sprintf("%sR%d", ord.OrderNo, count+1), Provider: provider, ProviderTxn: txn,
		AmountFen: amountFen, Reason: reason, Status: RefundRequested, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}
	if err := s.DB.Conn(ctx).Create(&r).Error; err != nil {
		return r, err
	}
	return r, events.Enqueue(ctx, s.Env, "refund.requested", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "refund_no": r.RefundNo,
		"amount_fen": r.AmountFen, "provider": provider, "transaction_id": txn, "reason": reason})
}

// refundPayment records the refund owed for a payment the order cannot keep, and alerts an operator.
func (s *Service) refundPayment(ctx context.Context, ord models.Order, n PaymentNotification, reason string) error {
	if _, err := s.requestRefund(ctx, ord, n.Provider, n.TransactionID, n.AmountFen, reason); err != nil {
		return err
	}
	return events.Alert(ctx, s.Env, "refund_required", ord.OrderNo, fmt.Sprintf("%s transaction %s (%d fen): %s", n.Provider, n.TransactionID, n.AmountFen, reason))
}

// OrderTotal returns what is to be paid of an order (its cash after discount and points), for tools that re-send a provider's notification.
func (s *Service) OrderTotal(ctx context.Context, orderNo string) (int64, error) {
	ord, err := s.loadOrder(ctx, orderNo, false)
	return cashFen(ord), err
}
