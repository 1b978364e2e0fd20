package core

import (
	"log/slog"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/models"
)

// Options are the business settings core runs with.
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
	// order was paid, in case the notification is lost; later checks back off. Default 2 minutes.
	PaymentCheckAfter time.Duration
	// TraceScanLimit is how often a unit trace code may be scanned before scans warn of a copied label.
	// Default 20.
	TraceScanLimit int64
	// AcceptTimeout is how long a store has to accept a paid order before it moves to the next store.
	// Default 5 minutes.
	AcceptTimeout time.Duration
	// RerouteRadiusM is how far from the store first chosen a pickup order may move when it is re-routed,
	// in metres. Default 5000.
	RerouteRadiusM float64
	// PickupTTL is how long a pickup code stays valid; an order not collected by then is refunded.
	// Default 7 days.
	PickupTTL time.Duration
	// PickupFailLimit is how many failed pickup-code attempts one clerk may make in PickupFailWindow;
	// a store allows four times as many across its clerks. Default 5 in 10 minutes.
	PickupFailLimit  int
	PickupFailWindow time.Duration
	// StaffSessionTTL is how long a staff console session or store API token lasts. Default 12 hours.
	StaffSessionTTL time.Duration
	// PasswordCost is the bcrypt cost of staff passwords. Default 12.
	PasswordCost int
}

// Service runs the order flow on one database. It is safe for concurrent use, and several processes
// may run it on the same database.
type Service struct {
	db       *models.DB
	opts     Options
	clock    Clock
	log      *slog.Logger
	gateways map[string]PaymentGateway
	// messengers by channel and shipping reporters by payment provider
	messengers map[string]Messenger
	shipping   map[string]ShippingReporter
	scans      scanCounter
	// keyMu guards tokenKey, the pickup-token key loaded once from the database.
	keyMu    sync.Mutex
	tokenKey []byte
	// dummy is the bcrypt hash an unknown username is checked against, made once.
	dummyOnce sync.Once
	dummy     []byte
}

// New returns a Service; register payment gateways with RegisterGateway before serving.
func New(db *models.DB, opts Options, clock Clock, log *slog.Logger) *Service {
	if clock == nil {
		clock = SystemClock{}
	}
	if log == nil {
		log = slog.Default()
	}
	if opts.PaymentCheckAfter <= 0 {
		opts.PaymentCheckAfter = 2 * time.Minute
	}
	if opts.TraceScanLimit <= 0 {
		opts.TraceScanLimit = 20
	}
	defaults := []struct {
		d   *time.Duration
		def time.Duration
	}{{&opts.AcceptTimeout, 5 * time.Minute}, {&opts.PickupTTL, 7 * 24 * time.Hour}, {&opts.PickupFailWindow, 10 * time.Minute}, {&opts.StaffSessionTTL, 12 * time.Hour}}
	for _, d := range defaults {
		if *d.d <= 0 {
			*d.d = d.def
		}
	}
	if opts.RerouteRadiusM <= 0 {
		opts.RerouteRadiusM = 5000
	}
	if opts.PickupFailLimit <= 0 {
		opts.PickupFailLimit = 5
	}
	if opts.PasswordCost == 0 {
		opts.PasswordCost = 12
	}
	return &Service{db: db, opts: opts, clock: clock, log: log, gateways: map[string]PaymentGateway{},
		messengers: map[string]Messenger{}, shipping: map[string]ShippingReporter{}}
}

// RegisterGateway makes a payment provider available to shoppers under g.Provider().
func (s *Service) RegisterGateway(g PaymentGateway) { s.gateways[g.Provider()] = g }

// now is the service's time, to the microsecond: what PostgreSQL keeps, so a value returned at once
// equals the one read back later.
func (s *Service) now() time.Time { return s.clock.Now().UTC().Truncate(time.Microsecond) }
