package market

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"
)

// Platform names, as they appear in URLs, settings, orders and events.
const (
	Meituan = "meituan"
	Eleme   = "eleme"
	JDDJ    = "jddj"
)

// Platforms lists every platform o2ohub speaks, in a fixed order.
var Platforms = []string{Meituan, Eleme, JDDJ}

// Status is an order's state on its platform, normalised across the platforms.
type Status string

// The normalised platform order states.
const (
	// StatusNew is an order paid on the platform and waiting for the merchant to confirm it.
	StatusNew Status = "new"
	// StatusConfirmed is an order the merchant (or the platform, for an auto-accepting shop) confirmed.
	StatusConfirmed Status = "confirmed"
	// StatusDelivering is an order a rider has collected.
	StatusDelivering Status = "delivering"
	// StatusCompleted is an order the platform reports finished.
	StatusCompleted Status = "completed"
	// StatusCancelled is an order cancelled on the platform (by the buyer, the platform or us).
	StatusCancelled Status = "cancelled"
	// StatusUnknown is a state the connector does not map; the order is then left as it is.
	StatusUnknown Status = "unknown"
)

// Order is a platform order as a connector normalises it. Amounts are integer fen.
type Order struct {
	Platform string
	// OrderID is the platform's order id; with Platform it identifies the order everywhere.
	OrderID string
	// ShopID is the platform shop (Meituan app_poi_code, Ele.me shop_id, JD stationNo).
	ShopID string
	// DaySeq is the day sequence number the rider asks for (#12); 0 when the platform gives none.
	DaySeq int
	Status Status
	Lines  []Line
	// TotalFen is the order's goods value at list price; PaidFen what the customer paid; SubsidyFen what
	// the platform paid towards it; CommissionFen what the platform keeps; 0 when the platform does not say.
	TotalFen      int64
	PaidFen       int64
	SubsidyFen    int64
	CommissionFen int64
	// Recipient, RecipientPhone and Address say where the rider goes; the phone is usually a platform
	// relay number. Remark is the buyer's note.
	Recipient      string
	RecipientPhone string
	Address        string
	Remark         string
	// DeliveryMode is the platform's delivery mode where it changes which calls apply (JD); "" otherwise.
	DeliveryMode string
	// PlacedAt is when the buyer placed the order; zero when unknown.
	PlacedAt time.Time
}

// Line is one line of a platform order.
type Line struct {
	// Code is the merchant's SKU code the platform carries (Meituan app_food_code/sku_id, Ele.me
	// custom_sku_id, JD skuIdIsv); "" when the listing has none.
	Code string
	// PlatformSKU is the platform's own id of the item, for messages when Code is empty.
	PlatformSKU string
	Name        string
	Qty         int64
	// PriceFen is the unit price the platform lists.
	PriceFen int64
}

// PushKind says what a platform push reports.
type PushKind string

// The kinds of push.
const (
	// PushOrder is a new paid order. Order is set when the push carries the whole order; otherwise the
	// hub fetches it.
	PushOrder PushKind = "order"
	// PushConfirmed says the order was confirmed on the platform.
	PushConfirmed PushKind = "confirmed"
	// PushCancelled says the whole order was cancelled (by the buyer, the platform or a refund of
	// everything).
	PushCancelled PushKind = "cancelled"
	// PushRefund says part of the order was refunded; Lines says which units, and RefundID names the
	// refund so that it is applied once however often it is pushed. A refund of the whole order is
	// PushCancelled. A push that names only the refund (OrderID and Lines empty: JD's after-sale bill)
	// is completed by the connector's [RefundFetcher].
	PushRefund PushKind = "refund"
	// PushFinished says the order is complete on the platform.
	PushFinished PushKind = "finished"
	// PushStatus is another change of state (rider accepted, delivery status …): Status says the new
	// state when the connector maps it; the hub may fetch the order.
	PushStatus PushKind = "status"
	// PushCheck is the platform checking that the URL answers (Meituan's empty GET and POST): it is only
	// acknowledged.
	PushCheck PushKind = "check"
)

// Push is one verified push from a platform, normalised.
type Push struct {
	Platform string
	Kind     PushKind
	OrderID  string
	// ShopID is the shop the push names; "" when the push names none (the order then says).
	ShopID string
	// Order is the whole order when the push carries it.
	Order *Order
	// Status is the order's new state when the push says it.
	Status Status
	// Lines are the refunded units of a PushRefund.
	Lines []Line
	// RefundID is the platform's id of the refund a PushRefund reports (Meituan refund_id, Ele.me
	// refund_order_id, JD afsServiceOrder); "" when the platform gives none.
	RefundID string
	// Reason is the platform's reason for a cancellation or refund, as text for people.
	Reason string
	// SignedAt is the push's signed timestamp; zero when the push carries none.
	SignedAt time.Time
	// ID identifies this push for logs and deduplication (the platform's message id when it has one).
	ID string
	// Reply is what the connector needs to answer this push in its platform's format (an envelope's
	// ticket, the command); only the connector reads it.
	Reply any
}

// Inbound is a push as it reached the hub, before anything is believed.
type Inbound struct {
	// Method is the HTTP method.
	Method string
	// URL is the URL the platform was told to call, as registered (O2OHUB_PUBLIC_URL + the path), without
	// the query: Meituan signs it.
	URL string
	// Event is the path segment after the platform's webhook base: Meituan's event kind (paid, confirmed,
	// cancel, refund), JD's msg (newOrder …); "" for Ele.me, whose command is in the envelope.
	Event string
	// Query is the URL's query; Body the raw body, capped by the caller; ContentType its type.
	Query       url.Values
	Body        []byte
	ContentType string
}

// Reply is an answer to a platform, in its own format.
type Reply struct {
	Status      int
	ContentType string
	Body        []byte
}

// Receiver verifies the pushes of one platform and answers them in its format.
type Receiver interface {
	// ReadPush verifies in (signature, app) and normalises it. It never checks the timestamp window or
	// the shop binding: the caller does, with its own clock and bindings. Errors wrap ErrBadSignature,
	// ErrForeign or ErrMalformed.
	ReadPush(in Inbound) (Push, error)
	// Reply answers a push: the platform's exact acknowledgement when err is nil, its own error body with
	// a 4xx status when err wraps ErrBadSignature, ErrForeign, ErrMalformed, ErrStale or ErrUnknownShop,
	// and a 5xx otherwise (so the platform sends the push again). p may be the zero Push when ReadPush
	// failed.
	Reply(p Push, err error) Reply
}

// StockLevel is what a platform is to show of one SKU at one shop.
type StockLevel struct {
	// Code is the platform's merchant SKU code (the mapping already applied).
	Code string
	// Qty is the absolute stock the platform shows, never negative.
	Qty int64
}

// OrderRef names an order in a call to its platform.
type OrderRef struct {
	ShopID       string
	OrderID      string
	DeliveryMode string
}

// Connector is one platform: it receives its pushes and makes the calls the hub owes it. Every call
// returns nil only when the platform acknowledged it; errors wrap ErrRateLimited (with RetryAfter, see
// CallError), ErrAuth (credentials or token refused: an operator must act), ErrRefused (the platform
// refused this call for this order or SKU: retrying will not help) or are transient.
type Connector interface {
	Receiver
	// Platform returns the platform's name (Meituan, Eleme or JDDJ).
	Platform() string
	// Confirm accepts a new order on the platform.
	Confirm(ctx context.Context, o OrderRef) error
	// Reject refuses a new order on the platform (the merchant cancels it), with a reason for the buyer;
	// soldOut says the goods are gone (Meituan reason_code 2009).
	Reject(ctx context.Context, o OrderRef, reason string, soldOut bool) error
	// Prepared tells the platform the goods are packed for the rider (Meituan preparationMealComplete,
	// Ele.me order.pickcomplete, JD's call for the order's delivery mode).
	Prepared(ctx context.Context, o OrderRef) error
	// FetchOrder reads one order from the platform.
	FetchOrder(ctx context.Context, shopID, orderID string) (Order, error)
	// PullOrders lists the ids of the shop's orders placed since cursor, oldest first, and the cursor to
	// pass next time. The cursor is the connector's own text; "" starts from since. Calling it again with
	// the same cursor may return ids already seen: the hub's intake is idempotent.
	PullOrders(ctx context.Context, shopID, cursor string, since time.Time) (ids []string, next string, err error)
	// PushStock tells the platform the absolute stock of at most StockBatch levels at one shop, in one call.
	// When the platform refuses some SKUs and takes the others, the error is a *CallError whose Failed
	// names the refused codes.
	PushStock(ctx context.Context, shopID string, levels []StockLevel) error
	// StockBatch is the most levels one PushStock call may carry (the platform's batch limit).
	StockBatch() int
}

// RefundFetcher is the optional capability of a connector whose refund pushes name only the refund
// (JD's newAfterSaleBill carries the after-sale bill's id): the hub asks it for the refund's order and
// lines before applying the push.
type RefundFetcher interface {
	// FetchRefund reads a refund: a PushRefund with OrderID, RefundID and the refunded Lines when the
	// refund went through, or a PushStatus with StatusUnknown while it is still a request (or was
	// refused), which the hub acknowledges and leaves.
	FetchRefund(ctx context.Context, refundID string) (Push, error)
}

// Errors of pushes and calls.
var (
	// ErrBadSignature is a push whose signature does not verify.
	ErrBadSignature = errors.New("bad signature")
	// ErrForeign is a push for another app (another app id, source or app key).
	ErrForeign = errors.New("push for another app")
	// ErrMalformed is a push that cannot be read.
	ErrMalformed = errors.New("malformed push")
	// ErrStale is a push whose signed timestamp is outside the accepted window.
	ErrStale = errors.New("stale push")
	// ErrUnknownShop is a push for a shop no store is bound to.
	ErrUnknownShop = errors.New("shop not bound")
	// ErrRateLimited is a call the platform refused for its rate limit; retry after CallError.RetryAfter.
	ErrRateLimited = errors.New("rate limited by the platform")
	// ErrAuth is a call whose credentials or token the platform refused.
	ErrAuth = errors.New("credentials refused by the platform")
	// ErrRefused is a call the platform refused for its content (wrong state, unknown SKU …).
	ErrRefused = errors.New("refused by the platform")
)

// CallError is a platform's refusal of a call, with its own code and message.
type CallError struct {
	// Kind is ErrRateLimited, ErrAuth, ErrRefused, or nil for a transient failure.
	Kind error
	// Code and Msg are the platform's own error code and message.
	Code string
	Msg  string
	// RetryAfter is how long to wait before calling again (a rate limit's lock-out); 0 when not said.
	RetryAfter time.Duration
	// Failed names the SKU codes a batch call refused, with the platform's reason, when it took the rest.
	Failed map[string]string
}

// Error describes the refusal.
func (e *CallError) Error() string {
	kind := "failed"
	if e.Kind != nil {
		kind = e.Kind.Error()
	}
	return fmt.Sprintf("%s: code %s: %s", kind, e.Code, e.Msg)
}

// Unwrap returns the kind, so errors.Is(err, ErrRateLimited) works.
func (e *CallError) Unwrap() error { return e.Kind }
