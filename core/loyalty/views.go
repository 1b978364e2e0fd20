package loyalty

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/models"
)

// LevelView names a level.
type LevelView struct {
	Code string `json:"code"`
	Name string `json:"name"`
}

// Expiring is points that expire together.
type Expiring struct {
	Points    int64     `json:"points"`
	ExpiresAt time.Time `json:"expires_at"`
}

// Points is a member's balances: Available to spend, Pending until their orders are fulfilled plus the
// hold, Debt owed (clawed back from refunds the balance could not cover; it blocks spending), and the
// next lots to expire.
type Points struct {
	Available int64      `json:"available"`
	Pending   int64      `json:"pending"`
	Debt      int64      `json:"debt"`
	Expiring  []Expiring `json:"expiring"`
}

// Summary is a member's level and points.
type Summary struct {
	Level  LevelView `json:"level"`
	Points Points    `json:"points"`
}

// maxExpiring is how many of the next expiry dates a summary shows.
const maxExpiring = 5

// Summary returns a member's level and points, bringing the account up to date first when something
// is due.
func (s *Service) Summary(ctx context.Context, memberID int64) (Summary, error) {
	st, err := s.Settings(ctx)
	if err != nil {
		return Summary{}, err
	}
	var a models.LoyaltyAccount
	err = s.DB.Conn(ctx).Where("member_id = ?", memberID).Take(&a).Error
	switch {
	case models.IsNotFound(err):
		lvl, _ := st.reached(0)
		return Summary{Level: LevelView{Code: lvl.Code, Name: lvl.Name}, Points: Points{Expiring: []Expiring{}}}, nil
	case err != nil:
		return Summary{}, err
	case !a.DueAt.After(s.Now()):
		err = s.DB.Tx(ctx, func(ctx context.Context) error {
			locked, err := s.lockAccount(ctx, memberID)
			if err == nil {
				a = *locked
			}
			return err
		})
		if err != nil {
			return Summary{}, err
		}
	}
	lvl, _ := st.level(a.LevelCode)
	out := Summary{Level: LevelView{Code: a.LevelCode, Name: lvl.Name}, Points: Points{Available: a.Available, Pending: a.Pending, Debt: a.Debt, Expiring: []Expiring{}}}
	var rows []struct {
		ExpiresAt time.Time
		Points    int64
	}
	if err := s.DB.Conn(ctx).Model(&models.LoyaltyLot{}).Select("expires_at, SUM(remaining) AS points").
		Where("member_id = ? AND state = ? AND remaining > 0", memberID, LotAvailable).Group("expires_at").Order("expires_at").
		Limit(maxExpiring).Scan(&rows).Error; err != nil {
		return Summary{}, err
	}
	for _, r := range rows {
		out.Points.Expiring = append(out.Points.Expiring, Expiring{Points: r.Points, ExpiresAt: r.ExpiresAt.UTC()})
	}
	return out, nil
}

// Entry is one line of a member's points ledger.
type Entry struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind"`
	Points    int64     `json:"points"`
	Source    string    `json:"source"`
	Note      string    `json:"note,omitempty"`
	Actor     string    `json:"actor,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// LedgerPage is one page of a ledger, newest first; Next is the before to ask for the next page, 0 at
// the end.
type LedgerPage struct {
	Entries []Entry `json:"entries"`
	Next    int64   `json:"next,omitempty"`
}

// MaxPage is the largest page of a ledger.
const MaxPage = 100

// Ledger returns a page of a member's ledger, newest first: up to limit entries (MaxPage at most) older
// than entry before (from the newest when 0).
func (s *Service) Ledger(ctx context.Context, memberID, before int64, limit int) (LedgerPage, error) {
	rows, next, err := domain.NewestFirst(s.DB.Conn(ctx).Where("member_id = ?", memberID), before, limit, MaxPage,
		func(e *models.LoyaltyEntry) int64 { return e.ID })
	if err != nil {
		return LedgerPage{}, err
	}
	out := LedgerPage{Entries: []Entry{}, Next: next}
	for _, r := range rows {
		out.Entries = append(out.Entries, Entry{ID: r.ID, Kind: r.Kind, Points: r.Points, Source: r.Source, Note: r.Note, Actor: r.Actor, CreatedAt: r.CreatedAt.UTC()})
	}
	return out, nil
}

// MemberView is a member as an admin looks them up: the phone masked, with level and points.
type MemberView struct {
	MemberID    int64  `json:"member_id"`
	Phone       string `json:"phone"`
	DisplayName string `json:"display_name"`
	Summary
}

// Lookup finds the member who holds a phone number, for an admin.
func (s *Service) Lookup(ctx context.Context, phone string) (MemberView, error) {
	p, err := member.NormalizePhone(phone)
	if err != nil {
		return MemberView{}, err
	}
	var m models.Member
	err = s.DB.Conn(ctx).Where("phone = ?", p).Take(&m).Error
	if models.IsNotFound(err) {
		return MemberView{}, domain.Errf(domain.ErrNotFound, "no member has phone %s", member.MaskPhone(p))
	}
	if err != nil {
		return MemberView{}, err
	}
	sum, err := s.Summary(ctx, m.ID)
	return MemberView{MemberID: m.ID, Phone: member.MaskPhone(p), DisplayName: m.DisplayName, Summary: sum}, err
}

// Adjustment is an admin's manual change of a member's points.
type Adjustment struct {
	// Points is added (positive) or taken (negative, at most what is available).
	Points int64 `json:"points"`
	// Reason says why, for the ledger.
	Reason string `json:"reason"`
	// Key makes a retried request apply once: the same key for the same member adjusts once.
	Key string `json:"key"`
}

// MaxAdjust is the largest adjustment one request may make, either way.
const MaxAdjust = 1_000_000

// Adjust changes a member's points by hand, recorded in the ledger with the reason and actor (the
// signed-in admin). Added points are available at once (paying any debt first) and expire after the
// settings' expiry; taken points come from the oldest lots and may not exceed what is available. The
// same key adjusts once.
func (s *Service) Adjust(ctx context.Context, memberID int64, in Adjustment, actor string) (Entry, error) {
	in.Reason, in.Key = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Key)
	var bad []string
	if in.Points == 0 || in.Points > MaxAdjust || in.Points < -MaxAdjust {
		bad = append(bad, fmt.Sprintf("points must be non-zero and between %d and %d", -MaxAdjust, MaxAdjust))
	}
	if n := utf8.RuneCountInString(in.Reason); n == 0 || n > 200 {
		bad = append(bad, "reason must be 1-200 characters")
	}
	if n := utf8.RuneCountInString(in.Key); n > 64 {
		bad = append(bad, "key must be at most 64 characters")
	}
	if actor == "" {
		return Entry{}, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	if len(bad) > 0 {
		return Entry{}, domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	if in.Key == "" {
		tok, _, err := domain.NewToken()
		if err != nil {
			return Entry{}, err
		}
		in.Key = tok[:16]
	}
	source := fmt.Sprintf("adjust:%d:%s", memberID, in.Key)
	var out models.LoyaltyEntry
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var m models.Member
		if err := s.DB.Conn(ctx).Take(&m, memberID).Error; err != nil {
			if models.IsNotFound(err) {
				return domain.Errf(domain.ErrNotFound, "member %d not found", memberID)
			}
			return err
		}
		if m.MergedInto != nil {
			return domain.Errf(domain.ErrConflict, "member %d was merged into member %d; adjust that one", memberID, *m.MergedInto)
		}
		a, err := s.lockAccount(ctx, memberID)
		if err != nil {
			return err
		}
		if in.Points < 0 && a.Available < -in.Points {
			return domain.Errf(domain.ErrConflict, "points: the member has only %d available, cannot take %d", a.Available, -in.Points)
		}
		fresh, err := s.post(ctx, memberID, source, KindAdjust, in.Points, in.Reason, actor)
		if err != nil {
			return err
		}
		if fresh {
			if in.Points > 0 {
				st, err := s.Settings(ctx)
				if err != nil {
					return err
				}
				exp := s.Now().Add(st.expiry())
				if _, err := s.credit(ctx, a, source, LotAvailable, in.Points, nil, &exp); err != nil {
					return err
				}
			} else if err := s.take(ctx, a, "", -in.Points); err != nil {
				return err
			}
			if err := s.saveAccount(ctx, a); err != nil {
				return err
			}
			s.Log.InfoContext(ctx, "points adjusted", "member", memberID, "points", in.Points, "by", actor)
		}
		return s.DB.Conn(ctx).Where("member_id = ? AND source = ? AND kind = ?", memberID, source, KindAdjust).Take(&out).Error
	})
	return Entry{ID: out.ID, Kind: out.Kind, Points: out.Points, Source: out.Source, Note: out.Note, Actor: out.Actor, CreatedAt: out.CreatedAt.UTC()}, err
}
