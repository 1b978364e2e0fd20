package events

import (
	"fmt"
	"slices"
)

// Type is one kind of event the hub writes: its name, what it means, and a sample of its data. The
// catalogue is the one list of them: Enqueue refuses a type it does not hold, the admin API serves it
// and docs/events.md is generated from it.
type Type struct {
	// Name is the event's type as consumers see it ("order.paid").
	Name string `json:"name"`
	// Description says when the event is written.
	Description string `json:"description"`
	// Sample is what the event's data looks like; keys marked optional in Optional may be absent.
	Sample map[string]any `json:"sample"`
	// Optional lists the keys of Sample that only some events of the type carry.
	Optional []string `json:"optional,omitempty"`
	// Explicit types are delivered only to endpoints that name them, never through "*".
	Explicit bool `json:"explicit,omitempty"`
}

// The types written outside the order flow's own files.
const (
	// TypeStockChanged is a store's stock of a SKU as it now stands.
	TypeStockChanged = "stock.changed"
	// TypeAlertRaised is an alert an operator must look at.
	TypeAlertRaised = "alert.raised"
)

var returnedItems = map[string]any{"MILK-1L": 1}

// catalogue is every event type, in the order the docs list them.
var catalogue = []Type{
	{Name: "order.created", Description: "A shopper placed an order in the mini-program; its stock is held until it is paid or expires.",
		Sample: map[string]any{"order_no": "O20261205000123", "store": "S01", "total_fen": 1290}},
	{Name: "order.paid", Description: "An order was paid: a mini-program order's payment notification was applied, or a platform order arrived (platform orders arrive paid).",
		Sample: map[string]any{"order_no": "O20261205000123", "amount_fen": 1290, "provider": "wechatpay", "transaction_id": "4200001234202612050000000001", "paid_at": "2026-12-05T02:00:00Z",
			"source": "meituan", "platform_order_id": "27061900001", "shop_id": "mt-s01", "day_seq": 12, "store": "S01", "total_fen": 1290, "customer_paid_fen": 1190, "subsidy_fen": 100, "commission_fen": 90},
		Optional: []string{"amount_fen", "provider", "transaction_id", "paid_at", "source", "platform_order_id", "shop_id", "day_seq", "store", "total_fen", "customer_paid_fen", "subsidy_fen", "commission_fen"}},
	{Name: "order.accepted", Description: "A store accepted a paid order.",
		Sample: map[string]any{"order_no": "O20261205000123", "store": "S01", "by": "clerk-s01"}},
	{Name: "order.rerouted", Description: "A paid order moved to another store (rejected, or not accepted in time).",
		Sample: map[string]any{"order_no": "O20261205000123", "from": "S01", "to": "S02", "reason": "not accepted in time"}},
	{Name: "order.unfulfillable", Description: "No store could take a paid order; it is refunded.",
		Sample: map[string]any{"order_no": "O20261205000123", "last_store": "S02", "reason": "rejected: out of stock"}},
	{Name: "order.ready", Description: "A pickup order is ready at the counter (its pickup code was issued), or a platform order was prepared.",
		Sample: map[string]any{"order_no": "O20261205000123", "source": "eleme"}, Optional: []string{"source"}},
	{Name: "pickup.verified", Description: "A clerk verified a shopper's pickup code (核销) and handed the order over.",
		Sample: map[string]any{"order_no": "O20261205000123", "store": "S01", "by": "clerk-s01"}},
	{Name: "order.completed", Description: "An order was handed over: collected at the counter, or completed on its platform.",
		Sample: map[string]any{"order_no": "O20261205000123", "by": "clerk-s01"}},
	{Name: "order.dispatched", Description: "A delivery order left the store with its courier.",
		Sample: map[string]any{"order_no": "O20261205000123", "courier": "顺丰同城", "tracking_no": "SF1234567890"}},
	{Name: "order.delivered", Description: "A delivery order reached the shopper.",
		Sample: map[string]any{"order_no": "O20261205000123"}},
	{Name: "order.cancelled", Description: "An order was cancelled: by the shopper before paying, by its platform, or refused by the hub as sold out.",
		Sample: map[string]any{"order_no": "O20261205000123", "by": "shopper", "source": "jddj", "reason": "用户取消",
			"platform_order_id": "2612050001", "shop_id": "jd-s01", "day_seq": 3, "store": "S01", "total_fen": 1290, "customer_paid_fen": 1190, "subsidy_fen": 100, "commission_fen": 90},
		Optional: []string{"by", "source", "reason", "platform_order_id", "shop_id", "day_seq", "store", "total_fen", "customer_paid_fen", "subsidy_fen", "commission_fen"}},
	{Name: "order.expired", Description: "An unpaid order expired; its stock went back on sale.",
		Sample: map[string]any{"order_no": "O20261205000123"}},
	{Name: "order.returned", Description: "Goods of an order came back (a store return, or a platform's partial refund); items are quantities by SKU.",
		Sample:   map[string]any{"order_no": "O20261205000123", "items": returnedItems, "amount_fen": 650, "by": "clerk-s01", "source": "meituan"},
		Optional: []string{"amount_fen", "by", "source"}},
	{Name: "order.pickup_expired", Description: "A pickup order was not collected before its code expired; it is refunded and its stock goes back.",
		Sample: map[string]any{"order_no": "O20261205000123"}},
	{Name: "order.refunded", Description: "Every refund of an order succeeded: the order is refunded in full.",
		Sample: map[string]any{"order_no": "O20261205000123", "amount_fen": 1290}},
	{Name: "refund.requested", Description: "A refund was asked of the payment provider.",
		Sample: map[string]any{"order_no": "O20261205000123", "refund_no": "O20261205000123R1", "amount_fen": 650, "provider": "wechatpay", "transaction_id": "4200001234202612050000000001", "reason": "store return"}},
	{Name: "refund.succeeded", Description: "The provider paid a refund back.",
		Sample: map[string]any{"order_no": "O20261205000123", "refund_no": "O20261205000123R1", "amount_fen": 650}},
	{Name: "refund.failed", Description: "A refund failed or was given up; an alert asks an operator to settle it by hand.",
		Sample: map[string]any{"order_no": "O20261205000123", "refund_no": "O20261205000123R1", "amount_fen": 650, "reason": "provider said the account is closed"}},
	{Name: TypeStockChanged, Description: "A store's stock of a SKU changed (sales, returns, counts, imports, platform orders); changes within a few seconds are coalesced into one event with the latest figures.",
		Sample: map[string]any{"store": "S01", "sku": "MILK-1L", "on_hand": 12, "available": 10}},
	{Name: "member.bound", Description: "A member bound a verified phone number.",
		Sample: map[string]any{"member_id": 42, "phone": "138****0000"}},
	{Name: "member.merged", Description: "Two member records turned out to be one person (the same phone, a linked identity); from was merged into into.",
		Sample: map[string]any{"from": 43, "into": 42, "reason": "phone 138****0000"}},
	{Name: TypeAlertRaised, Description: "An operator must look at something (an amount mismatch, a refund given up, an endpoint gone). Delivered only to endpoints that name it.",
		Sample:   map[string]any{"alert_id": 7, "kind": "payment_amount_mismatch", "order_no": "O20261205000123", "detail": "wechatpay paid 1 fen, order total 1290 fen"},
		Explicit: true},
}

// Types returns the catalogue of event types.
func Types() []Type { return slices.Clone(catalogue) }

// lookup returns the catalogue entry of name.
func lookup(name string) (Type, bool) {
	i := slices.IndexFunc(catalogue, func(t Type) bool { return t.Name == name })
	if i < 0 {
		return Type{}, false
	}
	return catalogue[i], true
}

// wants reports whether an endpoint subscribed to types receives events of type name: it names the type,
// or names "*" and the type is not explicit.
func wants(types []string, name string) bool {
	if slices.Contains(types, name) {
		return true
	}
	t, ok := lookup(name)
	return ok && !t.Explicit && slices.Contains(types, "*")
}

// conforms says how data differs from the type's sample: a key the sample does not show, or a key it
// shows that data lacks and that is not optional.
func (t Type) conforms(data map[string]any) error {
	for k := range data {
		if _, ok := t.Sample[k]; !ok {
			return fmt.Errorf("%s data carries %q, which its catalogue sample does not show", t.Name, k)
		}
	}
	for k := range t.Sample {
		if _, ok := data[k]; !ok && !slices.Contains(t.Optional, k) {
			return fmt.Errorf("%s data lacks %q, which its catalogue sample does not mark optional", t.Name, k)
		}
	}
	return nil
}
