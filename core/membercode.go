package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/qrcode"
)

// Member codes: what a member shows at a store's till so that a sale there earns points and counts
// towards their level, like the payment code of a wallet app. A code is 18 digits: the prefix
// MemberCodePrefix, 15 random digits and a Luhn check digit. It is valid for MemberCodeTTL, serves one
// sale, and is stored only as its SHA-256 (as sessions are), so the database never holds a live code.
//
// Why random digits resolved server-side rather than a signed token (qrcode.SignToken, as pickup
// tokens are): a till's scanner and keypad expect a short numeric code, and 18 digits cannot carry a
// member id and a signature strong enough to resist guessing; the one-sale rule needs a row per code
// anyway. With 10^15 codes and a few thousand live at any moment a guess hits one in ~10^11, so wrong
// codes need no rate limit; a mistyped digit is caught by the check digit and told apart.

const (
	// MemberCodePrefix starts every member code, so a till tells it from a wallet's payment code
	// (WeChat Pay's start 10-15, Alipay's 25-30, UnionPay's 62) and from an 8-digit pickup code.
	MemberCodePrefix = "88"
	// MemberCodeDigits is the length of a member code.
	MemberCodeDigits = 18
	// MemberCodeTTL is how long a member code is valid; the app fetches a new one every minute.
	MemberCodeTTL = 60 * time.Second
	// memberCodeKeep is how long a code stays on record after it expires, so that a late scan is told
	// "expired" (or "used") rather than "unknown"; older ones are deleted when the member fetches a new one.
	memberCodeKeep = time.Hour
)

// Member code errors, for a till to tell apart. Each wraps the kind the HTTP layer maps.
var (
	// ErrMemberCodeUnknown says no member code matches: mistyped, forged, or long expired.
	ErrMemberCodeUnknown = fmt.Errorf("%w: unknown member code", domain.ErrNotFound)
	// ErrMemberCodeExpired says the code ran out: the member's app shows a fresh one.
	ErrMemberCodeExpired = fmt.Errorf("%w: member code expired", domain.ErrConflict)
	// ErrMemberCodeUsed says the code already served a sale: a replayed screenshot, or two tills at once.
	ErrMemberCodeUsed = fmt.Errorf("%w: member code already used", domain.ErrConflict)
)

// MemberCodeView is a member code as the app shows it: the digits (to show as a barcode or read out), a
// QR of them, and when they stop working.
type MemberCodeView struct {
	Code      string    `json:"code"`
	ExpiresAt time.Time `json:"expires_at"`
	QRPNG     []byte    `json:"qr_png"`
}

// IsMemberCode reports whether input (spaces allowed) has the form of a member code: 18 digits with the
// member-code prefix. Its check digit is not checked here.
func IsMemberCode(input string) bool {
	c := normalizeMemberCode(input)
	return len(c) == MemberCodeDigits && strings.HasPrefix(c, MemberCodePrefix) && allDigits(c)
}

func normalizeMemberCode(input string) string {
	return strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(input))
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// luhnDigit returns the Luhn check digit of a string of digits.
func luhnDigit(digits string) byte {
	sum := 0
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if (len(digits)-1-i)%2 == 0 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return byte('0' + (10-sum%10)%10)
}

// checkMemberCode validates the form of a typed or scanned member code and returns its digits; field
// names the input in the error.
func checkMemberCode(field, input string) (string, error) {
	c := normalizeMemberCode(input)
	if len(c) != MemberCodeDigits || !allDigits(c) || !strings.HasPrefix(c, MemberCodePrefix) {
		return "", domain.Errf(domain.ErrInvalidArgument, "%s must be the %d-digit member code starting %s that the member's app shows", field, MemberCodeDigits, MemberCodePrefix)
	}
	if luhnDigit(c[:MemberCodeDigits-1]) != c[MemberCodeDigits-1] {
		return "", domain.Errf(ErrMemberCodeUnknown, "%s is not a valid member code: its check digit does not match (a digit mistyped?)", field)
	}
	return c, nil
}

// IssueMemberCode gives a member a new member code, valid for MemberCodeTTL, with a QR of its digits.
// Earlier codes stay valid until they expire or serve a sale. The member's codes that expired over an
// hour ago are deleted.
func (s *Service) IssueMemberCode(ctx context.Context, memberID int64) (MemberCodeView, error) {
	var out MemberCodeView
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		id, err := s.Members.ActiveMember(ctx, memberID)
		if err != nil {
			return err
		}
		tx := s.DB.Conn(ctx)
		now := s.Now()
		if err := tx.Where("member_id = ? AND expires_at < ?", id, now.Add(-memberCodeKeep)).Delete(&models.MemberCode{}).Error; err != nil {
			return err
		}
		for attempt := 0; attempt < 8; attempt++ {
			n, err := rand.Int(rand.Reader, big.NewInt(1_000_000_000_000_000))
			if err != nil {
				return err
			}
			body := fmt.Sprintf("%s%015d", MemberCodePrefix, n.Int64())
			code := body + string(luhnDigit(body))
			row := models.MemberCode{CodeHash: domain.HashToken(code), MemberID: id, ExpiresAt: now.Add(MemberCodeTTL), CreatedAt: now}
			if err := tx.SavePoint("member_code").Error; err != nil {
				return err
			}
			err = tx.Create(&row).Error
			if models.IsDuplicate(err) {
				if err := tx.RollbackTo("member_code").Error; err != nil {
					return err
				}
				continue
			}
			out = MemberCodeView{Code: code, ExpiresAt: row.ExpiresAt.UTC()}
			return err
		}
		return errors.New("could not draw a unique member code")
	})
	if err != nil {
		return MemberCodeView{}, err
	}
	out.QRPNG, err = qrcode.PNG(out.Code, 512)
	return out, err
}

// memberCodeRow finds the record of a member code and says, as an error naming field, why it cannot
// serve a sale now: unknown, used, or expired.
func (s *Service) memberCodeRow(ctx context.Context, field, input string) (models.MemberCode, error) {
	code, err := checkMemberCode(field, input)
	if err != nil {
		return models.MemberCode{}, err
	}
	var row models.MemberCode
	err = s.DB.Conn(ctx).Where("code_hash = ?", domain.HashToken(code)).Take(&row).Error
	switch {
	case models.IsNotFound(err):
		return row, domain.Errf(ErrMemberCodeUnknown, "%s: no such member code; ask the member to show the code in their app again", field)
	case err != nil:
		return row, err
	case row.UsedAt != nil:
		return row, domain.Errf(ErrMemberCodeUsed, "%s was already used for a sale; a member code serves one sale: ask the member to show a fresh one", field)
	case !s.Now().Before(row.ExpiresAt):
		return row, domain.Errf(ErrMemberCodeExpired, "%s has expired (codes are valid for %d seconds); ask the member to show a fresh one", field, int(MemberCodeTTL.Seconds()))
	}
	return row, nil
}

// useMemberCode spends a member code on a till sale, in the caller's transaction, and returns the member
// it credits (the survivor when the member was merged away since). Of two tills using one code at once,
// exactly one gets it: the update is conditional on the code being unused, and the other is told it was
// used.
func (s *Service) useMemberCode(ctx context.Context, field, input string, saleID int64) (int64, error) {
	row, err := s.memberCodeRow(ctx, field, input)
	if err != nil {
		return 0, err
	}
	now := s.Now()
	res := s.DB.Conn(ctx).Model(&models.MemberCode{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", row.ID, now).
		Updates(map[string]any{"used_at": now, "sale_id": saleID})
	if res.Error != nil {
		return 0, res.Error
	}
	if res.RowsAffected == 0 {
		return 0, domain.Errf(ErrMemberCodeUsed, "%s was just used for another sale; a member code serves one sale: ask the member to show a fresh one", field)
	}
	return s.Members.ActiveMember(ctx, row.MemberID)
}

// LookupMemberCode shows a signed-in staff member who a member code belongs to: the phone masked, the
// level and points. It does not use the code up; recording a sale with it does.
func (s *Service) LookupMemberCode(ctx context.Context, a staff.Actor, input string) (loyalty.MemberView, error) {
	if a.Username == "" || a.Username == staff.AdminTokenActor.Username {
		return loyalty.MemberView{}, domain.Errf(domain.ErrUnauthenticated, "sign in as a staff member to look a member code up")
	}
	row, err := s.memberCodeRow(ctx, "member_code", input)
	if err != nil {
		return loyalty.MemberView{}, err
	}
	id, err := s.activeMemberID(ctx, row.MemberID)
	if err != nil {
		return loyalty.MemberView{}, err
	}
	s.recordMemberLoyalty(ctx, id) // the till shows, and the sale that follows counts, every payment
	return s.Loyalty.Member(ctx, id)
}

// activeMemberID follows a merged member to the one that owns its records now, without locking.
func (s *Service) activeMemberID(ctx context.Context, id int64) (int64, error) {
	var m models.Member
	if err := s.DB.Conn(ctx).Take(&m, id).Error; err != nil {
		return 0, err
	}
	if m.MergedInto != nil {
		return *m.MergedInto, nil
	}
	return m.ID, nil
}
