package core

import (
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/idem"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/core/staff"
)

// Options are the business settings core runs with. DefaultOptions is the one source of their defaults
// (package config starts from it); a zero field here takes the value DefaultOptions gives, except
// MarketPushWindow, where 0 turns the check off.
type Options struct {
	// OrderTTL is how long an unpaid order holds its stock.
	OrderTTL time.Duration
	// SessionTTL is how long a shopper session lasts.
	SessionTTL time.Duration
	// DeliveryRadiusM is the farthest a delivery may travel from its store, in metres.
	DeliveryRadiusM float64
	// PublicURL is the hub's external base URL, used to build provider notify URLs.
	PublicURL string
	// PaymentCheckAfter is how long after a prepay the reconciler first asks the provider whether the
	// order was paid, in case the notification is lost; later checks back off.
	PaymentCheckAfter time.Duration
	// TraceScanLimit is how many distinct scanners a unit trace code may have before scans warn of a
	// copied label.
	TraceScanLimit int64
	// AcceptTimeout is how long a store has to accept a paid order before it moves to the next store.
	AcceptTimeout time.Duration
	// RerouteRadiusM is how far from the store first chosen a pickup order may move when it is re-routed,
	// in metres.
	RerouteRadiusM float64
	// PickupTTL is how long a pickup code stays valid; an order not collected by then is refunded.
	PickupTTL time.Duration
	// PickupFailLimit is how many wrong pickup codes one clerk may type in a row before the counter makes
	// them wait; a store's clerks together may type four times as many. One is forgiven every
	// PickupFailEvery (see pickupLimits).
	PickupFailLimit int
	// PickupFailEvery is how often one wrong code is forgiven, for a clerk and for a store: the longest
	// an honest counter waits.
	PickupFailEvery time.Duration
	// StaffSessionTTL is how long a staff console session or store API token lasts.
	StaffSessionTTL time.Duration
	// PasswordCost is the bcrypt cost of staff passwords.
	PasswordCost int
	// MarketPushWindow is how far a platform push's signed time may be from now; 0 turns the check off.
	MarketPushWindow time.Duration
	// Market are the platform settings: push, full sync and pull intervals.
	Market market.Options
	// Events are the outgoing event settings: retention, delivery concurrency.
	Events events.Options
	// Loyalty are the defaults of the points settings (points' expiry and hold) until an admin changes
	// them in the database.
	Loyalty loyalty.Defaults
	// Referral are the referral room's options: the default hold of rebates and the page a share opens.
	Referral referral.Options
	// CampaignRate is how many campaign subscribe messages a second all replicas together send on one
	// channel (bursts of one second's worth).
	CampaignRate float64
}

// Service runs the order flow on one database: orders, payments, refunds, routing, fulfilment, pickup,
// channel tasks and the background workers. The rooms it stands on are its exported fields. It is safe
// for concurrent use, and several processes may run it on the same database.
type Service struct {
	domain.Env
	// Catalog is stores, products and stock.
	Catalog *catalog.Service
	// Members is shoppers, their identities and sessions.
	Members *member.Service
	// Staff is staff accounts, sessions and actors.
	Staff *staff.Service
	// Shelf is shelf QR codes and scans.
	Shelf *shelf.Service
	// Market is platform shops, SKU maps, calls to the platforms and the stock they show.
	Market *market.Service
	// Idem is the outcomes of requests sent with an Idempotency-Key.
	Idem *idem.Service
	// Events is the outgoing events, their webhook endpoints and deliveries, and the alerts.
	Events *events.Service
	// Loyalty is members' points and levels.
	Loyalty *loyalty.Service
	// Referral is referral codes, links and rebates.
	Referral *referral.Service
	// Campaigns is messages to members by level: campaigns, subscription credits and the inbox.
	Campaigns *campaign.Service

	opts     Options
	gateways map[string]provider
	// messengers by channel and shipping reporters by payment provider
	messengers map[string]Messenger
	shipping   map[string]ShippingReporter
	// keyMu guards tokenKey, the pickup-token key loaded once from the database.
	keyMu    sync.Mutex
	tokenKey []byte
	// health is when each background worker of this process last finished a run.
	health workerHealth
	// pickupFails limits wrong pickup codes per clerk and per store, shared by replicas.
	pickupFails pickupLimits
	// campaignLimit is the campaign messages' rate limit per channel, shared by replicas.
	campaignLimit *limits.Limit
	// loyaltyWake wakes this replica's loyalty worker when a payment marked an order loyalty_due.
	loyaltyWake chan struct{}
}

// New returns a Service and the rooms it stands on; register payment gateways with RegisterGateway
// before serving. Zero options take their defaults.
func New(env domain.Env, opts Options) *Service {
	opts = opts.withDefaults()
	cat := catalog.New(env)
	s := &Service{Env: env, opts: opts, pickupFails: newPickupLimits(env, opts),
		Catalog:  cat,
		Members:  member.New(env, opts.SessionTTL),
		Staff:    staff.New(env, cat, opts.PasswordCost, opts.StaffSessionTTL),
		Shelf:    shelf.New(env, cat, opts.PublicURL, opts.TraceScanLimit),
		Market:   market.New(env, cat, opts.Market),
		Idem:     idem.New(env),
		Events:   events.New(env, nil, opts.Events),
		Loyalty:  loyalty.New(env, opts.Loyalty),
		gateways: map[string]provider{}, messengers: map[string]Messenger{}, shipping: map[string]ShippingReporter{},
		loyaltyWake: make(chan struct{}, 1)}
	s.wireLoyalty()
	s.Referral = referral.New(env, s.Members, opts.Referral)
	s.Members.OnMerge(s.Referral.Merge)
	s.Campaigns = campaign.New(env, s.Loyalty)
	s.campaignLimit = limits.NewShared(env.DB, env.Clock).Limit("campaign_send", campaignRate(opts.CampaignRate))
	s.wireCampaigns()
	return s
}

// DefaultOptions returns the business settings a hub runs with when nothing is configured: the one
// source of these defaults (package config starts from it).
func DefaultOptions() Options {
	return Options{
		OrderTTL:          15 * time.Minute,
		SessionTTL:        30 * 24 * time.Hour,
		DeliveryRadiusM:   10000,
		PaymentCheckAfter: 2 * time.Minute,
		TraceScanLimit:    20,
		AcceptTimeout:     5 * time.Minute,
		RerouteRadiusM:    5000,
		PickupTTL:         7 * 24 * time.Hour,
		PickupFailLimit:   5,
		PickupFailEvery:   time.Minute,
		StaffSessionTTL:   12 * time.Hour,
		PasswordCost:      12,
		MarketPushWindow:  15 * time.Minute,
		Market:            market.Options{PushInterval: 2 * time.Second, FullSync: 30 * time.Minute, PullInterval: time.Minute},
		Events:            events.Options{Retention: 30 * 24 * time.Hour},
		Loyalty:           loyalty.Defaults{TTL: 365 * 24 * time.Hour, Hold: 7 * 24 * time.Hour},
		CampaignRate:      20,
	}
}

// withDefaults fills every zero field from DefaultOptions.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	set := func(v *time.Duration, def time.Duration) {
		if *v <= 0 {
			*v = def
		}
	}
	set(&o.OrderTTL, d.OrderTTL)
	set(&o.SessionTTL, d.SessionTTL)
	set(&o.PaymentCheckAfter, d.PaymentCheckAfter)
	set(&o.AcceptTimeout, d.AcceptTimeout)
	set(&o.PickupTTL, d.PickupTTL)
	set(&o.PickupFailEvery, d.PickupFailEvery)
	set(&o.StaffSessionTTL, d.StaffSessionTTL)
	set(&o.Market.PushInterval, d.Market.PushInterval)
	set(&o.Market.FullSync, d.Market.FullSync)
	set(&o.Market.PullInterval, d.Market.PullInterval)
	set(&o.Events.Retention, d.Events.Retention)
	set(&o.Loyalty.TTL, d.Loyalty.TTL)
	set(&o.Loyalty.Hold, d.Loyalty.Hold)
	set(&o.Referral.Hold, o.Loyalty.Hold)
	if o.DeliveryRadiusM <= 0 {
		o.DeliveryRadiusM = d.DeliveryRadiusM
	}
	if o.RerouteRadiusM <= 0 {
		o.RerouteRadiusM = d.RerouteRadiusM
	}
	if o.TraceScanLimit <= 0 {
		o.TraceScanLimit = d.TraceScanLimit
	}
	if o.PickupFailLimit <= 0 {
		o.PickupFailLimit = d.PickupFailLimit
	}
	if o.CampaignRate <= 0 {
		o.CampaignRate = d.CampaignRate
	}
	if o.PasswordCost == 0 {
		o.PasswordCost = d.PasswordCost
	}
	return o
}
