package models

import "time"

// MemberCode is a member code issued to a member's app: a short-lived numeric code a till scans or
// types to credit a sale to the member. Only the SHA-256 of the code is stored (CodeHash); a code serves
// one sale (UsedAt, SaleID).
type MemberCode struct {
	ID        int64
	CodeHash  string
	MemberID  int64
	ExpiresAt time.Time
	UsedAt    *time.Time
	SaleID    *int64
	CreatedAt time.Time
}

// TillSale is a sale recorded by a store's till, unique per store and sale number; RequestHash is the
// digest of what was posted, so a repeat is told from a different sale reusing the number. Returns counts
// the returns recorded against it.
type TillSale struct {
	ID          int64
	StoreID     int64
	SaleNo      string
	RequestHash string
	MemberID    *int64
	TotalFen    int64
	ReturnedFen int64
	Returns     int64
	Staff       string
	CreatedAt   time.Time
	UpdatedAt   time.Time
	Items       []TillSaleItem `gorm:"foreignKey:SaleID"`
}

// TillSaleItem is one line of a till sale, one per product: ReturnedQty of Qty came back, and ShortQty
// of it was sold beyond the stock the hub knew of.
type TillSaleItem struct {
	ID          int64
	SaleID      int64
	ProductID   int64
	SKU         string `gorm:"column:sku"`
	Qty         int64
	PriceFen    int64
	ReturnedQty int64
	ShortQty    int64
}

// TillReturn is one return against a till sale, unique per sale and return number; Items is its lines
// as JSON.
type TillReturn struct {
	ID          int64
	SaleID      int64
	ReturnNo    string
	RequestHash string
	Items       string
	RefundFen   int64
	Staff       string
	CreatedAt   time.Time
}
