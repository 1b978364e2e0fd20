package referral

import (
	"context"
	"crypto/rand"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// codeAlphabet is the characters of referral codes: digits and capitals without 0, 1, I, L and O, which
// are read for one another when a code is typed.
const codeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// CodeLen is the length of a referral code: 31^8 ≈ 8.5e11 codes, drawn at random, so a code says
// nothing about the member behind it and one cannot be guessed from another.
const CodeLen = 8

func newCode() (string, error) {
	b := make([]byte, CodeLen)
	n := big.NewInt(int64(len(codeAlphabet)))
	for i := range b {
		x, err := rand.Int(rand.Reader, n)
		if err != nil {
			return "", err
		}
		b[i] = codeAlphabet[x.Int64()]
	}
	return string(b), nil
}

// NormalizeCode returns a referral code as stored (trimmed, upper case), or an error naming the field
// when it cannot be one.
func NormalizeCode(code string) (string, error) {
	code = strings.ToUpper(strings.TrimSpace(code))
	if len(code) != CodeLen || strings.Trim(code, codeAlphabet) != "" {
		return "", domain.Errf(domain.ErrInvalidArgument, "code must be a referral code of %d letters and digits", CodeLen)
	}
	return code, nil
}

// Code returns a member's referral code, making it the first time: stable from then on.
func (s *Service) Code(ctx context.Context, memberID int64) (string, error) {
	tx := s.DB.Conn(ctx)
	for range 5 {
		var rows []models.ReferralCode
		if err := tx.Where("member_id = ?", memberID).Limit(1).Find(&rows).Error; err != nil {
			return "", err
		}
		if len(rows) == 1 {
			return rows[0].Code, nil
		}
		code, err := newCode()
		if err != nil {
			return "", err
		}
		// A concurrent first call for the member, or (rarely) another member's equal code, makes this
		// insert do nothing: read again, and draw again when the member still has none.
		if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&models.ReferralCode{MemberID: memberID, Code: code, CreatedAt: s.Now()}).Error; err != nil {
			return "", err
		}
	}
	return "", fmt.Errorf("member %d: no referral code after 5 draws", memberID)
}

// owner returns the member a referral code belongs to now (the survivor when its member was merged).
func (s *Service) owner(ctx context.Context, code string) (int64, error) {
	var rows []models.ReferralCode
	if err := s.DB.Conn(ctx).Where("code = ?", code).Limit(1).Find(&rows).Error; err != nil {
		return 0, err
	}
	if len(rows) == 0 {
		return 0, domain.Errf(domain.ErrNotFound, "code %s is not a referral code", code)
	}
	return s.canonical(ctx, rows[0].MemberID)
}

// link returns the link of a member to their referrer, nil when they have none.
func (s *Service) link(ctx context.Context, memberID int64) (*models.ReferralLink, error) {
	var rows []models.ReferralLink
	if err := s.DB.Conn(ctx).Where("member_id = ?", memberID).Limit(1).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// maxChain bounds the walk up a chain of referrers; the links never form a cycle, so it is only a guard.
const maxChain = 100000

// reaches reports whether member target is from or one of from's referrers, their referrers, and so on:
// binding target to from would then close a cycle.
func (s *Service) reaches(ctx context.Context, from, target int64) (bool, error) {
	cur := from
	for range maxChain {
		if cur == target {
			return true, nil
		}
		l, err := s.link(ctx, cur)
		if err != nil || l == nil {
			return false, err
		}
		cur = l.ReferrerID
	}
	return false, fmt.Errorf("member %d: a chain of referrers longer than %d", from, maxChain)
}

// Referrer is a member's binding to the member who referred them, as the member sees it.
type Referrer struct {
	// Code is the referral code they were bound with.
	Code    string    `json:"code"`
	BoundAt time.Time `json:"bound_at"`
}

// Bind binds a new member to the member whose referral code they give, once. It is refused (a
// conflict naming the code) when the code is the member's own, through a merged identity too (both
// sides are taken as the members they were merged into); when the member already has a referrer (the
// same code again answers the binding there is); when the binding would close a cycle (the referrer is
// referred, directly or up the chain, by this member); and when the member has already paid for an
// order or a till sale: a referral is for new members.
func (s *Service) Bind(ctx context.Context, memberID int64, code string) (Referrer, error) {
	code, err := NormalizeCode(code)
	if err != nil {
		return Referrer{}, err
	}
	var out Referrer
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		me, err := s.members.ActiveMember(ctx, memberID) // waits for a merge of the member under way
		if err != nil {
			return err
		}
		if err := s.lockLinks(ctx); err != nil {
			return err
		}
		ref, err := s.owner(ctx, code)
		if err != nil {
			return err
		}
		if ref == me {
			return domain.Errf(domain.ErrConflict, "code %s is your own: a member cannot refer themselves", code)
		}
		if l, err := s.link(ctx, me); err != nil {
			return err
		} else if l != nil {
			if l.ReferrerID == ref {
				out = Referrer{Code: l.Code, BoundAt: l.CreatedAt.UTC()}
				return nil // the same binding again, e.g. a retried request
			}
			return domain.Errf(domain.ErrConflict, "code: you already have a referrer; a member is bound once")
		}
		var paid int64
		if err := s.DB.Conn(ctx).Raw(`SELECT (SELECT COUNT(*) FROM (SELECT 1 FROM orders WHERE member_id = ? AND paid_at IS NOT NULL LIMIT 1) o)
			+ (SELECT COUNT(*) FROM (SELECT 1 FROM loyalty_purchases WHERE member_id = ? LIMIT 1) p)`, me, me).Scan(&paid).Error; err != nil {
			return err
		}
		if paid > 0 {
			return domain.Errf(domain.ErrConflict, "code: a referral binds a new member, before their first paid order")
		}
		if cyc, err := s.reaches(ctx, ref, me); err != nil {
			return err
		} else if cyc {
			return domain.Errf(domain.ErrConflict, "code %s: its member was referred by you, directly or through others; a referral cannot go round in a cycle", code)
		}
		l := models.ReferralLink{MemberID: me, ReferrerID: ref, Code: code, CreatedAt: s.Now()}
		if err := s.DB.Conn(ctx).Create(&l).Error; err != nil {
			return err
		}
		s.Log.InfoContext(ctx, "referrer bound", "member", me, "referrer", ref)
		out = Referrer{Code: code, BoundAt: l.CreatedAt.UTC()}
		return nil
	})
	return out, err
}
