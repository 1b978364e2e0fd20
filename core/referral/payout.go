package referral

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Payout is an admin's record that available rebates were paid out to a referrer (by bank transfer,
// WeChat transfer, cash at the counter: the hub records it, it does not move the money).
type Payout struct {
	MemberID int64 `json:"member_id"`
	// AmountFen is what was paid, at most what is available.
	AmountFen int64 `json:"amount_fen"`
	// Reason says why and how, for the ledger.
	Reason string `json:"reason"`
	// Key makes a retried request apply once: the same key for the same member pays out once.
	Key string `json:"key"`
}

// MaxPayout is the largest payout one request may record, in fen.
const MaxPayout = 100_000_000

// Payout records a payout of a referrer's available rebates in the ledger, with the reason and actor
// (the signed-in admin who made it). It is refused above what is available: concurrent payouts take
// turns on the referrer's account, so together they never pay more than there is. The same key records
// once and answers the entry it recorded.
func (s *Service) Payout(ctx context.Context, in Payout, actor string) (Entry, error) {
	in.Reason, in.Key = strings.TrimSpace(in.Reason), strings.TrimSpace(in.Key)
	var bad []string
	if in.MemberID <= 0 {
		bad = append(bad, "member_id must be a positive integer")
	}
	if in.AmountFen <= 0 || in.AmountFen > MaxPayout {
		bad = append(bad, fmt.Sprintf("amount_fen must be between 1 and %d", MaxPayout))
	}
	if n := utf8.RuneCountInString(in.Reason); n == 0 || n > 200 {
		bad = append(bad, "reason must be 1-200 characters")
	}
	if utf8.RuneCountInString(in.Key) > 64 {
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
	source := fmt.Sprintf("payout:%d:%s", in.MemberID, in.Key)
	var out models.ReferralEntry
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var m models.Member
		if err := s.DB.Conn(ctx).Take(&m, in.MemberID).Error; err != nil {
			if models.IsNotFound(err) {
				return domain.Errf(domain.ErrNotFound, "member_id: member %d not found", in.MemberID)
			}
			return err
		}
		if m.MergedInto != nil {
			return domain.Errf(domain.ErrConflict, "member_id: member %d was merged into member %d; pay that one", in.MemberID, *m.MergedInto)
		}
		a, err := s.lockAccount(ctx, in.MemberID)
		if err != nil {
			return err
		}
		var done []models.ReferralEntry
		if err := s.DB.Conn(ctx).Where("member_id = ? AND source = ? AND kind = ?", in.MemberID, source, KindPayout).Limit(1).Find(&done).Error; err != nil {
			return err
		}
		if len(done) == 1 {
			out = done[0]
			return nil
		}
		if in.AmountFen > a.AvailableFen {
			return domain.Errf(domain.ErrConflict, "amount_fen: member %d has %d fen available, cannot pay out %d", in.MemberID, a.AvailableFen, in.AmountFen)
		}
		if _, err := s.post(ctx, in.MemberID, source, KindPayout, -in.AmountFen, in.Reason, actor); err != nil {
			return err
		}
		a.AvailableFen -= in.AmountFen
		a.PaidOutFen += in.AmountFen
		if err := s.saveAccount(ctx, a); err != nil {
			return err
		}
		return s.DB.Conn(ctx).Where("member_id = ? AND source = ? AND kind = ?", in.MemberID, source, KindPayout).Take(&out).Error
	})
	if err != nil {
		return Entry{}, err
	}
	s.Log.InfoContext(ctx, "referral rebates paid out", "member", in.MemberID, "amount_fen", in.AmountFen, "by", actor)
	return toEntry(out), nil
}
