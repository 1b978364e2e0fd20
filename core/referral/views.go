package referral

import (
	"context"
	"net/url"
	"time"

	"github.com/o2ohub/o2ohub/models"
)

// Rebates are a referrer's balances in fen: Pending until their orders are fulfilled plus the hold,
// Available to be paid out, PaidOut so far, and Debt (reversed after it was paid out; rebates that
// become available pay it first).
type Rebates struct {
	PendingFen   int64 `json:"pending_fen"`
	AvailableFen int64 `json:"available_fen"`
	PaidOutFen   int64 `json:"paid_out_fen"`
	DebtFen      int64 `json:"debt_fen"`
}

// Entry is one line of a referrer's rebate ledger.
type Entry struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	AmountFen int64     `json:"amount_fen"`
	Source    string    `json:"source"`
	Note      string    `json:"note,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func toEntry(e models.ReferralEntry) Entry {
	return Entry{ID: e.ID, Kind: e.Kind, AmountFen: e.AmountFen, Source: e.Source, Note: e.Note, Actor: e.Actor, CreatedAt: e.CreatedAt.UTC()}
}

// View is a member's referral side: their code and the mini-program path that shares it, their own
// referrer (when bound), how many members they referred, their rebates and the latest ledger entries.
type View struct {
	MemberID int64  `json:"member_id"`
	Code     string `json:"code"`
	// SharePath is the mini-program page with the code, for the mini-program's share card
	// (onShareAppMessage) or a mini-program code: `pages/index/index?ref=CODE`.
	SharePath string    `json:"share_path"`
	Referrer  *Referrer `json:"referrer,omitempty"`
	Referred  int64     `json:"referred"`
	Rebates   Rebates   `json:"rebates"`
	Entries   []Entry   `json:"entries"`
}

// recentEntries is how many ledger entries a view shows, newest first.
const recentEntries = 20

// Brief is the short referral side /me shows: code, share path, members referred and rebates, without
// the ledger. It reads outside a transaction (the code is made, in one statement, the first time), so the
// often-read /me takes no write lock; rebates that came due since the account was last touched show as
// pending until the sweep or View moves them.
func (s *Service) Brief(ctx context.Context, memberID int64) (View, error) {
	code, err := s.Code(ctx, memberID)
	if err != nil {
		return View{}, err
	}
	out := View{MemberID: memberID, Code: code, SharePath: s.page + "?ref=" + url.QueryEscape(code), Entries: []Entry{}}
	if err := s.DB.Conn(ctx).Model(&models.ReferralLink{}).Where("referrer_id = ?", memberID).Count(&out.Referred).Error; err != nil {
		return View{}, err
	}
	var a models.ReferralAccount
	if err := s.DB.Conn(ctx).Where("member_id = ?", memberID).Limit(1).Find(&a).Error; err != nil {
		return View{}, err
	}
	out.Rebates = Rebates{PendingFen: a.PendingFen, AvailableFen: a.AvailableFen, PaidOutFen: a.PaidOutFen, DebtFen: a.DebtFen}
	return out, nil
}

// View returns a member's referral side, making their code the first time and bringing their account
// up to date when a rebate is due.
func (s *Service) View(ctx context.Context, memberID int64) (View, error) {
	out := View{MemberID: memberID, Entries: []Entry{}}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		code, err := s.Code(ctx, memberID)
		if err != nil {
			return err
		}
		out.Code, out.SharePath = code, s.page+"?ref="+url.QueryEscape(code)
		l, err := s.link(ctx, memberID)
		if err != nil {
			return err
		}
		if l != nil {
			out.Referrer = &Referrer{Code: l.Code, BoundAt: l.CreatedAt.UTC()}
		}
		if err := s.DB.Conn(ctx).Model(&models.ReferralLink{}).Where("referrer_id = ?", memberID).Count(&out.Referred).Error; err != nil {
			return err
		}
		var a models.ReferralAccount
		if err := s.DB.Conn(ctx).Where("member_id = ?", memberID).Limit(1).Find(&a).Error; err != nil {
			return err
		}
		if a.ID != 0 && a.DueAt != nil && !a.DueAt.After(s.Now()) {
			locked, err := s.lockAccount(ctx, memberID)
			if err != nil {
				return err
			}
			a = *locked
		}
		out.Rebates = Rebates{PendingFen: a.PendingFen, AvailableFen: a.AvailableFen, PaidOutFen: a.PaidOutFen, DebtFen: a.DebtFen}
		var rows []models.ReferralEntry
		if err := s.DB.Conn(ctx).Where("member_id = ?", memberID).Order("id DESC").Limit(recentEntries).Find(&rows).Error; err != nil {
			return err
		}
		for _, e := range rows {
			out.Entries = append(out.Entries, toEntry(e))
		}
		return nil
	})
	return out, err
}
