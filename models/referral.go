package models

import "time"

// ReferralSettings is one version of the referral settings; the newest is in force. A rebate keeps the
// share and hold it was fixed with when its order was placed.
type ReferralSettings struct {
	ID        int64
	Tier1Bps  int64 `gorm:"column:tier1_bps"`
	Tier2Bps  int64 `gorm:"column:tier2_bps"`
	HoldDays  int64
	ChangedBy string
	CreatedAt time.Time
}

// TableName names the table of referral settings versions.
func (ReferralSettings) TableName() string { return "referral_settings" }

// ReferralCode is a member's referral code: random, short, stable once made.
type ReferralCode struct {
	ID        int64
	MemberID  int64
	Code      string
	CreatedAt time.Time
}

// ReferralLink says that member MemberID was referred by member ReferrerID (through Code).
type ReferralLink struct {
	ID         int64
	MemberID   int64
	ReferrerID int64
	Code       string
	CreatedAt  time.Time
}

// ReferralAccount is one referrer's rebate balances in fen; they always equal what the referrer's
// rebates and ledger say. DueAt is when the next pending rebate becomes available (nil for none).
type ReferralAccount struct {
	ID           int64
	MemberID     int64
	PendingFen   int64
	AvailableFen int64
	PaidOutFen   int64
	DebtFen      int64
	DueAt        *time.Time
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// ReferralRebate is the rebate one order owes one referrer (tier 1: the shopper's referrer; tier 2:
// theirs), fixed when the order was placed (Bps, HoldDays) and earned when it is paid (AmountFen of
// BasisFen); ReversedFen of it was taken back by refunds.
type ReferralRebate struct {
	ID          int64
	OrderNo     string
	Tier        int64
	ReferrerID  int64
	BuyerID     int64
	Bps         int64
	HoldDays    int64
	State       string
	BasisFen    int64
	AmountFen   int64
	ReversedFen int64
	PaidAt      *time.Time
	FulfilledAt *time.Time
	AvailableAt *time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// ReferralEntry is one line of a referrer's rebate ledger in fen: AmountFen is its signed effect. An
// entry is unique per (member, source, kind).
type ReferralEntry struct {
	ID        int64
	MemberID  int64
	Source    string
	Kind      string
	AmountFen int64
	Note      string
	Actor     string
	CreatedAt time.Time
}
