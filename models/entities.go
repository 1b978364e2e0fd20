package models

import "time"

// Store is a physical shop that sells and fulfils orders.
type Store struct {
	ID      int64
	Code    string
	Name    string
	Address string
	Lat     float64
	Lng     float64
	Status  string
	// AutoAccept says the store takes every order offered to it without a clerk accepting it.
	AutoAccept bool
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Product is a sellable item, identified by its SKU, with one price across stores.
type Product struct {
	ID        int64
	SKU       string `gorm:"column:sku"`
	Name      string
	PriceFen  int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Stock is what one store holds of one product: OnHand units, Reserved of them by unpaid orders.
// The database enforces 0 <= Reserved <= OnHand. Version counts the changes: every change of the row
// raises it, which is the mark the consumers of stock changes (the platforms' stock pool) follow.
type Stock struct {
	ID        int64
	StoreID   int64
	ProductID int64
	OnHand    int64
	Reserved  int64
	Version   int64
	UpdatedAt time.Time
}

// StockMovement records one change to a stock row and why.
type StockMovement struct {
	ID            int64
	StoreID       int64
	ProductID     int64
	DeltaOnHand   int64
	DeltaReserved int64
	Kind          string
	OrderNo       string
	CreatedAt     time.Time
}

// Member is one person, whatever channels they use.
type Member struct {
	ID          int64
	Phone       *string
	DisplayName string
	MergedInto  *int64
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// Identity is one account of a member on one channel (sandbox user, WeChat openid, Alipay user id …).
type Identity struct {
	ID        int64
	Provider  string
	Subject   string
	MemberID  int64
	CreatedAt time.Time
}

// MemberMerge records that one member was folded into another.
type MemberMerge struct {
	ID        int64
	FromID    int64
	IntoID    int64
	Reason    string
	CreatedAt time.Time
}

// Session is a shopper's bearer session; only the SHA-256 of the token is stored.
type Session struct {
	ID        int64
	TokenHash string
	MemberID  int64
	ExpiresAt time.Time
	CreatedAt time.Time
}

// Order is one order at one store: a shopper's from our own storefront, or a platform's.
type Order struct {
	ID      int64
	OrderNo string
	// MemberID is the shopper; nil for a platform order (the platforms hide the buyer).
	MemberID    *int64
	StoreID     int64
	Fulfillment string
	Status      string
	TotalFen    int64
	AddressText string
	AddressLat  *float64
	AddressLng  *float64
	ExpiresAt   time.Time
	PaidAt      *time.Time
	Provider    string
	ProviderTxn string
	Note        string
	// Courier, CourierPhone and TrackingNo say who carries a dispatched delivery order.
	Courier      string
	CourierPhone string
	TrackingNo   string
	// ScanCode is the shelf QR code the order started from, for attribution; empty for none.
	ScanCode string
	// AcceptBy is when the offer of a paid order to its store runs out and the order moves on; nil
	// when no offer is open.
	AcceptBy *time.Time
	// Source is where the order came from: "miniprogram", or a platform ("meituan", "eleme", "jddj").
	Source string
	// PlatformOrderID, PlatformShopID and DaySeq are the platform's order id, shop and the day sequence
	// number its rider asks for; empty for our own orders.
	PlatformOrderID *string
	PlatformShopID  string
	DaySeq          int
	// CustomerPaidFen, SubsidyFen and CommissionFen are what the platform's order detail says the buyer
	// paid, the platform paid towards it and the platform keeps.
	CustomerPaidFen int64
	SubsidyFen      int64
	CommissionFen   int64
	// DeliveryMode is the platform's delivery mode where it decides which call marks the goods packed.
	DeliveryMode string
	// Attention says why a store must look at the order (an SKU not mapped or not stocked, a call the
	// platform refused); empty when nothing is wrong.
	Attention string
	// DiscountFen is the member's level discount off the goods; PointsUsed points paid PointsFen of the
	// rest. The cash to pay is TotalFen - DiscountFen - PointsFen. LoyaltySettingsID is the loyalty
	// settings version the order was placed under; nil for an order without a member.
	DiscountFen       int64
	PointsUsed        int64
	PointsFen         int64
	LoyaltySettingsID *int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
	Items             []OrderItem `gorm:"foreignKey:OrderID"`

	// ReferrerID is the member who referred the shopper, fixed when the order was placed (the rebates of
	// both tiers are in referral_rebates); nil when the order earns no referral rebate.
	ReferrerID *int64
	// LoyaltyDue says that the order was paid and its member's points, level and referral rebates are
	// still to be recorded: just after the payment commits, by the loyalty worker or whatever step of
	// the order or read of its member comes first.
	LoyaltyDue bool
}

// OrderItem is one line of an order, with the price captured when it was placed.
type OrderItem struct {
	ID      int64
	OrderID int64
	// ProductID is nil for a platform line whose code maps to no product of ours.
	ProductID *int64
	SKU       string `gorm:"column:sku"`
	Name      string
	PriceFen  int64
	Qty       int64
	// ReturnedQty is how many of the line were returned at the counter or refunded by the platform.
	ReturnedQty int64
	// PlatformCode is the platform's merchant SKU code of a platform line.
	PlatformCode string
}

// PaymentAttempt is one prepay request to a provider for an order.
type PaymentAttempt struct {
	ID        int64
	OrderID   int64
	Provider  string
	PrepayID  string
	AmountFen int64
	Params    string
	// Status is open (payable), paid, closed (closed at the provider) or abandoned (replaced before use).
	Status string
	// NextCheckAt is when the reconciler next asks the provider about this attempt; nil for none.
	NextCheckAt *time.Time
	Checks      int
	LastError   string
	CreatedAt   time.Time
}

// Payment is one verified payment notification, applied at most once per provider transaction.
type Payment struct {
	ID          int64
	Provider    string
	ProviderTxn string
	OrderNo     string
	OrderID     *int64
	AmountFen   int64
	Result      string
	PaidAt      time.Time
	CreatedAt   time.Time
}

// Refund is money owed back to a shopper for one payment of an order. The refund worker submits it to
// the provider (Status requested → processing → succeeded or failed), retrying at NextAttemptAt.
type Refund struct {
	ID          int64
	OrderID     int64
	RefundNo    string
	Provider    string
	ProviderTxn string
	// ProviderRefundID is the provider's id for the refund, once it has accepted it.
	ProviderRefundID string
	AmountFen        int64
	Reason           string
	Status           string
	Attempts         int
	NextAttemptAt    time.Time
	LastError        string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Event is an outgoing event for the systems around the hub, written in the transaction that caused it.
// Position is its place in the event stream, given by the sequencer after it committed (nil until then):
// the order consumers see, and the number in its public id.
type Event struct {
	ID        int64
	Topic     string
	Key       string
	Payload   string
	Position  *int64
	CreatedAt time.Time
}

// Alert is something an operator must look at: an amount mismatch, money for an unknown order. An open
// alert is raised once per DedupKey; raising it again counts (Count, LastAt).
type Alert struct {
	ID         int64
	Kind       string
	OrderNo    string
	Detail     string
	DedupKey   *string
	Count      int
	LastAt     *time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	Note       string
	CreatedAt  time.Time
}

// WebhookEndpoint is a system that receives the hub's events: where, which types, and the secret that
// signs them (PreviousSecret signs too until PreviousUntil, during a rotation).
type WebhookEndpoint struct {
	ID             int64
	Name           string
	URL            string `gorm:"column:url"`
	Events         string
	Enabled        bool
	Secret         string
	PreviousSecret string
	PreviousUntil  *time.Time
	DisabledReason string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// WebhookDelivery is one event owed to one endpoint. Chain orders the deliveries of one endpoint: one is
// sent only when every earlier one of its chain has been delivered or given up. Attempts counts the steps
// of the retry schedule used, Tries every request made.
type WebhookDelivery struct {
	ID          int64
	EndpointID  int64
	EventID     int64
	Chain       string
	Status      string
	Attempts    int
	Tries       int
	NextAt      time.Time
	LastStatus  int
	LastError   string
	LastBody    string
	LastAt      *time.Time
	DeliveredAt *time.Time
	CreatedAt   time.Time
}

// EventCursor is a named position kept by the event workers: "sequence" is the last position given to an
// event; its row is also the lock that lets one replica at a time sequence ("stock" likewise for stock
// announcements).
type EventCursor struct {
	Name     string `gorm:"primaryKey"`
	Position int64
}

// StockEventMark is the stock row's state last announced as a stock.changed event.
type StockEventMark struct {
	StockID   int64 `gorm:"primaryKey;autoIncrement:false"`
	Version   int64
	OnHand    int64
	Available int64
}

// Task is work owed to a channel after an order changed (a subscribe message, a shipping upload),
// written in the transaction of the change and carried out by the task worker with retries.
type Task struct {
	ID            int64
	Kind          string
	Target        string
	OrderNo       string
	Payload       string
	Status        string
	Attempts      int
	NextAttemptAt time.Time
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// CacheEntry is one value of the cache shared by replicas (WeChat access tokens).
type CacheEntry struct {
	Key       string `gorm:"primaryKey"`
	Value     string
	ExpiresAt time.Time
}

// QRCode is a short code printed as a QR code: a product at a store, a store, a campaign, or a trace
// batch (a unit of it when Unit is set). Disabled codes stay, so that old labels answer kindly.
type QRCode struct {
	ID         int64
	Code       string
	Kind       string
	StoreID    *int64
	ProductID  *int64
	Campaign   string
	BatchID    *int64
	Unit       string
	ScanCount  int64
	DisabledAt *time.Time
	CreatedAt  time.Time
}

// QRUnitScanner is one distinct scanner (a hashed device or account) of a unit trace code.
type QRUnitScanner struct {
	CodeID    int64  `gorm:"primaryKey"`
	Scanner   string `gorm:"primaryKey"`
	FirstSeen time.Time
}

// QRScan counts the scans of one code on one day (China time) through one channel.
type QRScan struct {
	CodeID  int64  `gorm:"primaryKey"`
	Day     string `gorm:"primaryKey"`
	Channel string `gorm:"primaryKey"`
	Count   int64
}

// TraceBatch is a production batch of a product whose journey a trace code shows.
type TraceBatch struct {
	ID        int64
	BatchNo   string
	ProductID int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// TraceStep is one step of a batch's journey: production, inspection, import or arrival.
type TraceStep struct {
	ID         int64
	BatchID    int64
	Step       string
	HappenedOn time.Time
	Place      string
	Document   string
}

// Staff is an account of someone who works the console or a store system: an admin (every store) or a
// clerk (one store). Only the bcrypt hash of the password is stored.
type Staff struct {
	ID           int64
	Username     string
	PasswordHash string
	Role         string
	StoreID      *int64
	Disabled     bool
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// StaffSession is a signed-in staff member's console cookie or store API token; only the SHA-256 of the
// token is stored.
type StaffSession struct {
	ID        int64
	TokenHash string
	StaffID   int64
	Kind      string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// OrderOffer is one offer of a paid order to a store and how it ended: offered (open), accepted,
// rejected, timeout or withdrawn, with who decided and why.
type OrderOffer struct {
	ID        int64
	OrderID   int64
	StoreID   int64
	Outcome   string
	Actor     string
	Reason    string
	OfferedAt time.Time
	DecidedAt *time.Time
}

// PickupCode is the code a shopper shows to collect a ready pickup order: live until used, expired or
// void. Live codes are unique.
type PickupCode struct {
	ID        int64
	OrderID   int64
	StoreID   int64
	Code      string
	State     string
	ExpiresAt time.Time
	UsedAt    *time.Time
	UsedBy    string
	CreatedAt time.Time
}

// PickupAttempt audits one verification or confirmation of a pickup code at a store counter.
type PickupAttempt struct {
	ID        int64
	StoreID   int64
	Staff     string
	Action    string
	Code      string
	OrderNo   string
	Result    string
	Failed    bool
	CreatedAt time.Time
}

// TableName names the staff table (gorm would say "staffs").
func (Staff) TableName() string { return "staff" }

// MarketShop binds one platform shop to one of our stores, with how its stock is shown and the state of
// its sync: the stock push and the pull of lost orders are each claimed by one replica at a time through
// their due times.
type MarketShop struct {
	ID          int64
	Platform    string
	ShopID      string
	StoreID     int64
	AutoAccept  bool
	SafetyStock int64
	// RatioPct is the share of the sellable stock the platform shows, in percent (100 shows all).
	RatioPct int64
	// State is bound, or unbinding while the platform is told 0 for every SKU before the binding goes.
	State       string
	PushDueAt   time.Time
	PushRuns    int64
	LockedUntil *time.Time
	FullSyncAt  *time.Time
	PullDueAt   time.Time
	PullRuns    int64
	PullCursor  string
	LastPushAt  *time.Time
	LastOrderAt *time.Time
	LastError   string
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// MarketSKU maps a platform's merchant SKU code to one of our products, where the two differ.
type MarketSKU struct {
	ID        int64
	Platform  string
	Code      string
	ProductID int64
}

// MarketLevel is the stock one platform shop is to show of one product (Desired) and what it was last
// told (Pushed, nil when never or when a full sync is due), computed from the stock row at StockVersion.
type MarketLevel struct {
	ID           int64
	ShopID       int64
	ProductID    int64
	Code         string
	StockVersion int64
	Desired      int64
	Pushed       *int64
	Attempts     int64
	RetryAt      *time.Time
	LastError    string
}

// MarketCall is one call owed to a platform about one of its orders (confirm, reject, prepared),
// written in the transaction of the store's decision and made by the outbox worker with retries.
type MarketCall struct {
	ID              int64
	Platform        string
	ShopID          string
	OrderNo         string
	PlatformOrderID string
	Kind            string
	Payload         string
	Status          string
	Attempts        int64
	NextAttemptAt   time.Time
	LastError       string
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// MarketRefund records a platform refund applied to an order, so that a refund pushed again is not
// applied twice.
type MarketRefund struct {
	ID        int64
	Platform  string
	RefundID  string
	OrderID   int64
	CreatedAt time.Time
}

// MarketInbox is a platform order whose push named it but whose details could not be read while the
// push was answered: a worker reads and takes it.
type MarketInbox struct {
	ID        int64
	Platform  string
	ShopID    string
	OrderID   string
	Attempts  int64
	DueAt     time.Time
	LastError string
	CreatedAt time.Time
}

// MarketPending is a platform push about an order the hub does not hold yet (a cancellation that
// overtook its order): it is applied when the order arrives.
type MarketPending struct {
	ID              int64
	Platform        string
	PlatformOrderID string
	Kind            string
	Payload         string
	CreatedAt       time.Time
}

// TableName names the early-push table (gorm would say "market_pendings").
func (MarketPending) TableName() string { return "market_pending" }

// TableName names the inbox table (gorm would say "market_inboxes").
func (MarketInbox) TableName() string { return "market_inbox" }

// RateLimit is the state of one shared token bucket (core/limits): Bucket names the limit, Subject whom it
// limits (an address, a clerk, a store), TAT is the bucket's theoretical arrival time in Unix
// microseconds (the bucket is full when it is in the past, so such rows can be swept), and Allowed says
// whether the last attempt was let through.
type RateLimit struct {
	Bucket  string `gorm:"primaryKey"`
	Subject string `gorm:"primaryKey"`
	TAT     int64  `gorm:"column:tat"`
	Allowed int
}

// IdempotencyKey is the outcome of a request sent with an Idempotency-Key: running until the first request
// answers, then its answer, replayed to its retries until ExpiresAt.
type IdempotencyKey struct {
	ID          int64
	Scope       string
	Route       string
	Key         string
	RequestHash string
	State       string
	Status      int
	ContentType string
	Body        string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	ExpiresAt   time.Time
}

// SandboxTrade is one payment at the built-in sandbox provider (integrations/sandbox): the trade its
// prepay opened, when its simulated shopper pays, and the notification it owes the hub until the hub
// acknowledges it.
type SandboxTrade struct {
	ID            int64
	OrderNo       string
	TransactionID string
	AmountFen     int64
	// Status is open (paid from PaidAt on), paid (its notification was sent) or closed (never paid).
	Status         string
	PaidAt         time.Time
	RefundedFen    int64
	NotifyURL      string
	NotifyDueAt    *time.Time
	NotifyAttempts int64
	NotifiedAt     *time.Time
	LastError      string
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// SandboxRefund is one refund the sandbox provider made, kept so that a refund submitted again is made once.
type SandboxRefund struct {
	ID        int64
	RefundNo  string
	OrderNo   string
	AmountFen int64
	CreatedAt time.Time
}
