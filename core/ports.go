package core

import (
	"context"
	"errors"
	"time"
)

// ports.go declares everything the order flow needs from outside: payment providers (prepay, and the
// optional capabilities a provider may have: payment queries and closing, refunds, refund queries),
// shopper messengers and shipping reporters. Integrations implement these interfaces and turn their
// provider's formats into these types; core never sees a provider format. The clock is domain.Clock.
// A gateway's optional capabilities are found once, when it is registered (see RegisterGateway).

// PaymentGateway is a payment provider as core needs it: it turns an order into what the shopper's client
// needs to pay. The provider later confirms the payment with a notification that its integration verifies
// and hands to ApplyPayment.
type PaymentGateway interface {
	// Provider names the provider ("sandbox", "wechatpay", "alipay").
	Provider() string
	// Prepay asks the provider for a payable transaction for the order.
	Prepay(ctx context.Context, req PrepayRequest) (PrepayResult, error)
}

// PrepayRequest is what a gateway gets to start a payment.
type PrepayRequest struct {
	OrderNo     string
	AmountFen   int64
	Description string
	NotifyURL   string
	ExpiresAt   time.Time
	// Identities maps the member's identity providers to their subjects (wechat → openid …).
	Identities map[string]string
}

// PrepayResult is a gateway's answer: the provider's reference and the parameters for the client.
type PrepayResult struct {
	PrepayID string
	Params   map[string]any
}

// PaymentNotification is a provider's verified, normalised statement that an order was paid.
type PaymentNotification struct {
	Provider      string
	OrderNo       string
	TransactionID string
	AmountFen     int64
	PaidAt        time.Time
}

// PaymentChecker is a gateway that can ask its provider about an order's payment and close it. The
// reconciler uses it to recover payments whose notification was lost and to make the transaction of an
// expired, cancelled or otherwise paid order unpayable.
type PaymentChecker interface {
	// QueryPayment returns the order's payment as the provider knows it.
	QueryPayment(ctx context.Context, orderNo string) (PaymentState, error)
	// ClosePayment closes the order's unpaid transaction at the provider.
	ClosePayment(ctx context.Context, orderNo string) error
}

// PaymentState is a provider's answer to a payment query.
type PaymentState struct {
	// Paid is true once the shopper paid, even if the money has since been refunded; Payment then holds
	// the verified payment as a notification would have carried it.
	Paid    bool
	Payment PaymentNotification
	// Closed is true when the transaction can no longer be paid.
	Closed bool
}

// Refunder is a payment gateway that can send money back. Refund must be idempotent on RefundNo: the
// worker may submit the same refund again after a crash or a timeout.
type Refunder interface {
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)
}

// RefundQuerier is a refunder that can also look a refund up, for when its notification does not come.
type RefundQuerier interface {
	QueryRefund(ctx context.Context, req RefundRequest) (RefundResult, error)
}

// RefundRequest is one refund as a provider needs it.
type RefundRequest struct {
	OrderNo       string
	RefundNo      string
	TransactionID string
	AmountFen     int64
	TotalFen      int64
	Reason        string
	NotifyURL     string
}

// RefundResult is a provider's answer about a refund.
type RefundResult struct {
	Outcome          RefundOutcome
	ProviderRefundID string
	// Detail says why a refund was rejected, or what holds up an accepted one (an operator is alerted).
	Detail string
}

// RefundOutcome is where a refund stands at the provider: done, accepted with its result to follow (by
// notification, passed to CompleteRefund, or by query), or rejected for good.
type RefundOutcome string

// The refund outcomes a provider can give.
const (
	RefundDone     RefundOutcome = "done"
	RefundAccepted RefundOutcome = "accepted"
	RefundRejected RefundOutcome = "rejected"
	// RefundMissing says the provider has no such refund (yet): it is submitted again under the same
	// number, which the provider treats as the same refund.
	RefundMissing RefundOutcome = "missing"
)

// Messenger sends shoppers messages through a channel (WeChat subscribe messages, …).
type Messenger interface {
	// Channel names the identity provider whose accounts it reaches (the provider of SignIn).
	Channel() string
	// SendMessage delivers one message; an error wrapping ErrPermanent is recorded and not retried.
	SendMessage(ctx context.Context, m ShopperMessage) error
}

// MessageKind says what a shopper message is about.
type MessageKind string

// The messages a shopper gets.
const (
	MessageReady    MessageKind = "order_ready"
	MessageRefunded MessageKind = "order_refunded"
	// MessageRerouted tells a shopper their order moved to another store.
	MessageRerouted MessageKind = "order_rerouted"
	// MessageCampaign is a campaign's subscribe message to a member: its template, data and page are the
	// campaign's (ShopperMessage.Template, Data, Page), not about an order.
	MessageCampaign MessageKind = "campaign"
)

// ShopperMessage is one message to a shopper about an order.
type ShopperMessage struct {
	Kind MessageKind
	// To is the shopper's subject on the messenger's channel (an openid).
	To           string
	OrderNo      string
	StoreName    string
	StoreAddress string
	Items        string
	AmountFen    int64
	At           time.Time
	// Template, Data and Page are a campaign message's template, its data by key and the page it opens
	// (MessageCampaign only).
	Template string
	Data     map[string]string
	Page     string
}

// ShippingReporter tells a payment provider that the goods of an order it was paid through have left the
// store (handed over at the counter or dispatched), which some providers require before they release the
// merchant's money.
type ShippingReporter interface {
	// Provider names the payment provider it reports to.
	Provider() string
	// ReportShipping uploads one shipment; an error wrapping ErrPermanent is recorded and not retried.
	ReportShipping(ctx context.Context, s Shipment) error
}

// Shipment is how the goods of a paid order left the store.
type Shipment struct {
	OrderNo       string
	TransactionID string
	// Identities are the shopper's accounts by provider (the payer's openid is among them).
	Identities map[string]string
	Pickup     bool
	Courier    Courier
	Items      string
	At         time.Time
}

// Courier is who carries a delivery order.
type Courier struct {
	Name       string `json:"name,omitempty"`
	Phone      string `json:"phone,omitempty"`
	TrackingNo string `json:"tracking_no,omitempty"`
}

// ErrPermanent marks a channel failure that retrying cannot fix (the shopper did not subscribe to the
// message, the provider refuses the request as invalid).
var ErrPermanent = errors.New("permanent failure")

// provider is a registered payment provider with its optional capabilities made explicit: each is nil
// when the gateway lacks it.
type provider struct {
	gateway PaymentGateway
	// checker queries and closes payments (the reconciler); refunder sends money back; querier looks a
	// refund up when its notification does not come.
	checker  PaymentChecker
	refunder Refunder
	querier  RefundQuerier
}

// RegisterGateway makes a payment provider available to shoppers under g.Provider(). The capabilities
// the gateway also implements (PaymentChecker, Refunder, RefundQuerier) are recorded here, once: the
// rest of core reads them from the provider's fields.
func (s *Service) RegisterGateway(g PaymentGateway) {
	p := provider{gateway: g}
	p.checker, _ = g.(PaymentChecker)
	p.refunder, _ = g.(Refunder)
	p.querier, _ = g.(RefundQuerier)
	s.gateways[g.Provider()] = p
}
