package models

import "time"

// LoyaltySettings is one version of the loyalty settings, as JSON in Body; the newest version is in
// force, and orders refer to the version they were placed under. Versions are never changed.
type LoyaltySettings struct {
	ID        int64
	Body      string
	ChangedBy string
	CreatedAt time.Time
}

// TableName names the table of settings versions.
func (LoyaltySettings) TableName() string { return "loyalty_settings" }

// LoyaltyAccount is one member's points balances and level. Available, Pending and Debt always equal
// what the member's lots and ledger say; DueAt is when the next lot matures or expires or the level is
// reviewed (ReviewAt), whichever is first.
type LoyaltyAccount struct {
	ID        int64
	MemberID  int64
	LevelCode string
	Available int64
	Pending   int64
	Debt      int64
	DueAt     time.Time
	ReviewAt  time.Time
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LoyaltyEntry is one line of a member's points ledger: Points is its signed effect. An entry is unique
// per (member, source, kind).
type LoyaltyEntry struct {
	ID        int64
	MemberID  int64
	Source    string
	Kind      string
	Points    int64
	Note      string
	Actor     string
	CreatedAt time.Time
}

// LoyaltyPurchase is one purchase that earns points and counts towards a level: an order paid (or, later,
// a till sale). PaidFen is the cash paid for goods; BasisFen what refunds of it are counted against.
type LoyaltyPurchase struct {
	ID          int64
	MemberID    int64
	Source      string
	SettingsID  int64
	PaidFen     int64
	BasisFen    int64
	RefundedFen int64
	PointsUsed  int64
	Returned    int64
	Earned      int64
	Clawed      int64
	LotID       *int64
	PaidAt      time.Time
	FulfilledAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// LoyaltyLot is points earned or returned together, with their own maturity and expiry; Remaining is
// what is left of Points.
type LoyaltyLot struct {
	ID          int64
	MemberID    int64
	Source      string
	State       string
	Points      int64
	Remaining   int64
	AvailableAt *time.Time
	ExpiresAt   *time.Time
	CreatedAt   time.Time
}

// LoyaltyAllocation records that a spend (Source) took Points from a lot; Returned of them were given
// back.
type LoyaltyAllocation struct {
	ID       int64
	MemberID int64
	Source   string
	LotID    int64
	Points   int64
	Returned int64
}
