package member

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// View is a member as shown to themselves; the phone is masked.
type View struct {
	ID          int64    `json:"id"`
	DisplayName string   `json:"display_name"`
	Phone       string   `json:"phone,omitempty"`
	Identities  []string `json:"identities"`
}

// Login is the result of signing in: a bearer token and the member it belongs to.
type Login struct {
	Token  string `json:"token"`
	Member View   `json:"member"`
}

var chinaMobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// NormalizePhone turns a verified mainland mobile number (optionally +86 / 86 prefixed) into its 11 digits.
func NormalizePhone(p string) (string, error) {
	p = strings.NewReplacer(" ", "", "-", "").Replace(strings.TrimSpace(p))
	switch {
	case strings.HasPrefix(p, "+86"):
		p = p[3:]
	case strings.HasPrefix(p, "+"):
		return "", domain.Errf(domain.ErrInvalidArgument, "phone must be a mainland China mobile number")
	case len(p) == 13 && strings.HasPrefix(p, "86"):
		p = p[2:]
	}
	if !chinaMobile.MatchString(p) {
		return "", domain.Errf(domain.ErrInvalidArgument, "phone must be a mainland China mobile number")
	}
	return p, nil
}

// MaskPhone hides the middle of a phone number for logs and responses: 138****0000.
func MaskPhone(p string) string {
	if len(p) < 7 {
		return "****"
	}
	return p[:3] + "****" + p[len(p)-4:]
}

// IdentityRef names one account of a person on a channel.
type IdentityRef struct {
	Provider string
	Subject  string
}

// SignIn finds or creates the member behind an identity (provider + subject, as verified by the channel)
// and opens a session for them. Links are further identities the channel vouches belong to the same
// person (a WeChat unionid shared by several apps): the member of an existing link is the member signed
// in, new links are attached to it, and a member found only through the primary identity is merged into it.
func (s *Service) SignIn(ctx context.Context, provider, subject, displayName string, links ...IdentityRef) (Login, error) {
	for _, ref := range append([]IdentityRef{{provider, subject}}, links...) {
		if ref.Provider == "" || ref.Subject == "" || utf8.RuneCountInString(ref.Subject) > 128 {
			return Login{}, domain.Errf(domain.ErrInvalidArgument, "user must be 1-128 characters")
		}
	}
	var out Login
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = s.signIn(ctx, IdentityRef{provider, subject}, links, displayName, &out)
		if !models.IsDuplicate(err) {
			break // a concurrent first login created the identity: the next try finds it
		}
	}
	return out, err
}

func (s *Service) signIn(ctx context.Context, primary IdentityRef, links []IdentityRef, displayName string, out *Login) error {
	return s.DB.Tx(ctx, func(ctx context.Context) error {
		memberID, err := s.identityMember(ctx, primary, links, displayName)
		if err != nil {
			return err
		}
		token, hash, err := domain.NewToken()
		if err != nil {
			return err
		}
		now := s.Now()
		// The member's expired sessions go as a new one starts, so sessions do not pile up.
		if err := s.DB.Conn(ctx).Where("member_id = ? AND expires_at <= ?", memberID, now).Delete(&models.Session{}).Error; err != nil {
			return err
		}
		if err := s.DB.Conn(ctx).Create(&models.Session{TokenHash: hash, MemberID: memberID, ExpiresAt: now.Add(s.sessionTTL), CreatedAt: now}).Error; err != nil {
			return err
		}
		out.Token = token
		out.Member, err = s.memberView(ctx, memberID)
		return err
	})
}

// identityMember returns the member behind an identity and its links, creating the member and any
// missing identity rows. Within this transaction a concurrent first login of the same identity is excluded
// on SQLite and fails on the unique index on PostgreSQL; SignIn then tries again and finds it.
func (s *Service) identityMember(ctx context.Context, primary IdentityRef, links []IdentityRef, displayName string) (int64, error) {
	tx := s.DB.Conn(ctx)
	found := map[IdentityRef]int64{}
	for _, ref := range append([]IdentityRef{primary}, links...) {
		var idn models.Identity
		err := tx.Where("provider = ? AND subject = ?", ref.Provider, ref.Subject).Take(&idn).Error
		if err == nil {
			found[ref] = idn.MemberID
		} else if !models.IsNotFound(err) {
			return 0, err
		}
	}
	var memberID int64
	for _, ref := range links { // a linked identity names the canonical member
		if id, ok := found[ref]; ok {
			memberID = id
			break
		}
	}
	now := s.Now()
	if own, ok := found[primary]; ok {
		if memberID == 0 {
			memberID = own
		} else if own != memberID {
			if err := s.mergeMember(ctx, own, memberID, "linked identity "+primary.Provider); err != nil {
				return 0, err
			}
		}
	}
	if memberID == 0 {
		m := models.Member{DisplayName: displayName, CreatedAt: now, UpdatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			return 0, err
		}
		memberID = m.ID
	}
	for _, ref := range append([]IdentityRef{primary}, links...) {
		if _, ok := found[ref]; ok {
			continue
		}
		if err := tx.Create(&models.Identity{Provider: ref.Provider, Subject: ref.Subject, MemberID: memberID, CreatedAt: now}).Error; err != nil {
			return 0, err
		}
	}
	return memberID, nil
}

// Authenticate returns the member a session token belongs to.
func (s *Service) Authenticate(ctx context.Context, token string) (int64, error) {
	if token == "" {
		return 0, domain.Errf(domain.ErrUnauthenticated, "missing bearer token")
	}
	var sess models.Session
	err := s.DB.Conn(ctx).Where("token_hash = ? AND expires_at > ?", domain.HashToken(token), s.Now()).Take(&sess).Error
	if models.IsNotFound(err) {
		return 0, domain.Errf(domain.ErrUnauthenticated, "invalid or expired session")
	}
	return sess.MemberID, err
}

// SignOut ends sessions of the member memberID, signed in with token: the session of token, or with
// all every session the member has (on every phone and channel). An ended token is refused at once by
// Authenticate. It returns how many sessions it ended.
func (s *Service) SignOut(ctx context.Context, memberID int64, token string, all bool) (int64, error) {
	q := s.DB.Conn(ctx).Where("member_id = ?", memberID)
	if !all {
		q = q.Where("token_hash = ?", domain.HashToken(token))
	}
	res := q.Delete(&models.Session{})
	return res.RowsAffected, res.Error
}

// Member returns a member as they see themselves.
func (s *Service) Member(ctx context.Context, memberID int64) (View, error) {
	return s.memberView(ctx, memberID)
}

func (s *Service) memberView(ctx context.Context, memberID int64) (View, error) {
	var m models.Member
	if err := s.DB.Conn(ctx).Take(&m, memberID).Error; err != nil {
		if models.IsNotFound(err) {
			return View{}, domain.Errf(domain.ErrNotFound, "member not found")
		}
		return View{}, err
	}
	v := View{ID: m.ID, DisplayName: m.DisplayName, Identities: []string{}}
	if m.Phone != nil {
		v.Phone = MaskPhone(*m.Phone)
	}
	var ids []models.Identity
	if err := s.DB.Conn(ctx).Where("member_id = ?", memberID).Order("id").Find(&ids).Error; err != nil {
		return v, err
	}
	for _, idn := range ids {
		v.Identities = append(v.Identities, idn.Provider)
	}
	return v, nil
}

// BindPhone attaches a phone number, verified by a channel, to a member. When another member already
// owns the number, the two are merged into that one: identities, orders and sessions move, and the merge
// is recorded. It returns the member that holds the phone afterwards.
func (s *Service) BindPhone(ctx context.Context, memberID int64, phone string) (View, error) {
	phone, err := NormalizePhone(phone)
	if err != nil {
		return View{}, err
	}
	var into int64
	for attempt := 0; attempt < 3; attempt++ {
		err = s.DB.Tx(ctx, func(ctx context.Context) error {
			tx := s.DB.Conn(ctx)
			var owner models.Member
			err := tx.Clauses(models.ForUpdate()).Where("phone = ?", phone).Take(&owner).Error
			switch {
			case models.IsNotFound(err):
				into = memberID
				if err := tx.Model(&models.Member{}).Where("id = ?", memberID).Updates(map[string]any{"phone": phone, "updated_at": s.Now()}).Error; err != nil {
					return err
				}
				return events.Enqueue(ctx, s.Env, "member.bound", memberKey(memberID), map[string]any{"member_id": memberID, "phone": MaskPhone(phone)})
			case err != nil:
				return err
			case owner.ID == memberID:
				into = memberID
				return nil
			}
			into = owner.ID
			return s.mergeMember(ctx, memberID, owner.ID, "phone "+MaskPhone(phone))
		})
		if !models.IsDuplicate(err) {
			break // a concurrent bind of the same phone won the race: try again, now as a merge
		}
	}
	if err != nil {
		return View{}, err
	}
	s.Log.InfoContext(ctx, "phone bound", "member", into, "phone", MaskPhone(phone))
	return s.memberView(ctx, into)
}

func (s *Service) mergeMember(ctx context.Context, from, into int64, reason string) error {
	tx := s.DB.Conn(ctx)
	// Orders being placed by the member hold a share lock on its row (see ActiveMember): wait for them,
	// so that they are moved too.
	var gone models.Member
	if err := tx.Clauses(models.ForUpdate()).Take(&gone, from).Error; err != nil {
		return err
	}
	for _, table := range []string{"identities", "orders", "sessions"} {
		if err := tx.Table(table).Where("member_id = ?", from).Update("member_id", into).Error; err != nil {
			return err
		}
	}
	if err := tx.Model(&models.Member{}).Where("id = ?", from).Updates(map[string]any{"merged_into": into, "phone": nil, "updated_at": s.Now()}).Error; err != nil {
		return err
	}
	if gone.Phone != nil { // the survivor keeps its own phone, or takes over this one
		if err := tx.Model(&models.Member{}).Where("id = ? AND phone IS NULL", into).Update("phone", *gone.Phone).Error; err != nil {
			return err
		}
	}
	for _, fn := range s.onMerge {
		if err := fn(ctx, from, into); err != nil {
			return err
		}
	}
	if err := tx.Create(&models.MemberMerge{FromID: from, IntoID: into, Reason: reason, CreatedAt: s.Now()}).Error; err != nil {
		return err
	}
	return events.Enqueue(ctx, s.Env, "member.merged", memberKey(into), map[string]any{"from": from, "into": into, "reason": reason})
}

// memberKey orders a member's events.
func memberKey(id int64) string { return "member/" + strconv.FormatInt(id, 10) }

// ActiveMember returns the member that owns memberID's records now (the survivor, if it was merged
// away) and holds a share lock on the row until the transaction ends, so a concurrent merge waits for
// whatever the caller writes and then moves it.
func (s *Service) ActiveMember(ctx context.Context, memberID int64) (int64, error) {
	var m models.Member
	err := s.DB.Conn(ctx).Clauses(clause.Locking{Strength: "SHARE"}).Take(&m, memberID).Error
	if models.IsNotFound(err) {
		return 0, domain.Errf(domain.ErrUnauthenticated, "member not found")
	}
	if err != nil {
		return 0, err
	}
	if m.MergedInto != nil {
		return *m.MergedInto, nil
	}
	return m.ID, nil
}
