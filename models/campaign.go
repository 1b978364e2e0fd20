package models

import "time"

// CampaignTemplate is a WeChat subscribe-message template the operator has registered for campaigns:
// Fields is the JSON array of its data keys ("thing1", "time2" …), which a campaign's data must fill
// exactly. A template no longer Usable stays for the campaigns that used it.
type CampaignTemplate struct {
	TemplateID string `gorm:"primaryKey"`
	Title      string
	Fields     string
	Usable     bool
	UpdatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Campaign is one message to members: its audience (JSON), the subscribe message (template, data as
// JSON, page) and the in-app message (title, body). Recipients is the size of the audience fixed when it
// started.
type Campaign struct {
	ID         int64
	Name       string
	Audience   string
	TemplateID string
	Data       string
	Page       string
	Title      string
	Body       string
	Status     string
	Recipients int64
	CreatedBy  string
	StartedAt  *time.Time
	FinishedAt *time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// CampaignRecipient is one member of a started campaign's audience and where their message stands.
type CampaignRecipient struct {
	ID         int64
	CampaignID int64
	MemberID   int64
	State      string
	Channel    string
	Detail     string
	UpdatedAt  time.Time
}

// SubscriptionCredit is how many subscribe messages of a template a member still allows: one per
// acceptance reported by the mini-program, one spent per message sent.
type SubscriptionCredit struct {
	MemberID   int64  `gorm:"primaryKey"`
	TemplateID string `gorm:"primaryKey"`
	Credits    int64
	UpdatedAt  time.Time
}

// MemberMessage is one message in a member's in-app inbox; RecipientID is the campaign recipient it
// delivers, at most one message each.
type MemberMessage struct {
	ID          int64
	MemberID    int64
	CampaignID  *int64
	RecipientID *int64
	Title       string
	Body        string
	Page        string
	ReadAt      *time.Time
	CreatedAt   time.Time
}
