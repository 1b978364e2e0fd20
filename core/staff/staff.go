package staff

import (
	"context"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"golang.org/x/crypto/bcrypt"
	"gorm.io/gorm/clause"
)

// Staff roles: an admin works every store, a clerk one.
const (
	RoleAdmin = "admin"
	RoleClerk = "clerk"
)

// Staff session kinds: a console cookie or a bearer token for a store system (POS).
const (
	SessionConsole = "console"
	SessionAPI     = "api"
)

var usernamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{1,31}$`)

// Input is what an admin sets on a staff account. An empty password keeps the current one.
type Input struct {
	Username string `json:"-"`
	Password string `json:"password"`
	Role     string `json:"role"`
	Store    string `json:"store"`
	Disabled bool   `json:"disabled"`
}

// View is a staff account as admins see it; it never carries the password hash.
type View struct {
	Username string `json:"username"`
	Role     string `json:"role"`
	Store    string `json:"store,omitempty"`
	Disabled bool   `json:"disabled"`
}

// Actor is who acts on orders at a store: a signed-in staff member, or the admin token. A clerk acts on
// their own store's orders only; an admin on every store's.
type Actor struct {
	StaffID  int64
	Username string
	Role     string
	// StoreID and Store are the clerk's store (id and code); zero for an admin.
	StoreID int64
	Store   string
}

// AdminTokenActor is the actor of requests made with the admin API token.
var AdminTokenActor = Actor{Username: "admin-token", Role: RoleAdmin}

// IsAdmin reports whether the actor may act on every store.
func (a Actor) IsAdmin() bool { return a.Role == RoleAdmin }

// Login is an opened staff session: the token is shown once and stored only as a hash.
type Login struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	Staff     View      `json:"staff"`
}

func (in *Input) validate(creating bool) error {
	in.Username = strings.TrimSpace(in.Username)
	in.Store = strings.TrimSpace(in.Store)
	switch {
	case !usernamePattern.MatchString(in.Username):
		return domain.Errf(domain.ErrInvalidArgument, "username must be 2-32 lowercase letters, digits, '.', '-' or '_', starting with a letter or digit")
	case in.Role != RoleAdmin && in.Role != RoleClerk:
		return domain.Errf(domain.ErrInvalidArgument, "role must be admin or clerk")
	case in.Role == RoleClerk && in.Store == "":
		return domain.Errf(domain.ErrInvalidArgument, "a clerk needs a store")
	case in.Role == RoleAdmin && in.Store != "":
		return domain.Errf(domain.ErrInvalidArgument, "an admin works every store; leave store empty")
	case creating && in.Password == "":
		return domain.Errf(domain.ErrInvalidArgument, "a new account needs a password")
	case in.Password != "" && (utf8.RuneCountInString(in.Password) < 10 || len(in.Password) > 72):
		return domain.Errf(domain.ErrInvalidArgument, "password must be at least 10 characters and at most 72 bytes")
	case in.Password != "" && strings.TrimSpace(in.Password) == "":
		return domain.Errf(domain.ErrInvalidArgument, "password must not be only white space")
	}
	return nil
}

// Put creates or updates a staff account. Disabling an account, changing its password, role or
// store ends its open sessions.
func (s *Service) Put(ctx context.Context, in Input) (View, error) {
	var existing models.Staff
	err := s.DB.Conn(ctx).Where("username = ?", strings.TrimSpace(in.Username)).Take(&existing).Error
	if err != nil && !models.IsNotFound(err) {
		return View{}, err
	}
	if err := in.validate(existing.ID == 0); err != nil {
		return View{}, err
	}
	hash := existing.PasswordHash
	if in.Password != "" {
		b, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.passwordCost)
		if err != nil {
			return View{}, err
		}
		hash = string(b)
	}
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		var storeID *int64
		if in.Store != "" {
			st, err := s.catalog.StoreByCode(ctx, in.Store)
			if err != nil {
				return err
			}
			storeID = &st.ID
		}
		now := s.Now()
		row := models.Staff{Username: in.Username, PasswordHash: hash, Role: in.Role, StoreID: storeID, Disabled: in.Disabled, CreatedAt: now, UpdatedAt: now}
		err := s.DB.Conn(ctx).Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "username"}},
			DoUpdates: clause.AssignmentColumns([]string{"password_hash", "role", "store_id", "disabled", "updated_at"}),
		}).Create(&row).Error
		if err != nil {
			return err
		}
		if existing.ID != 0 && (in.Password != "" || in.Disabled || in.Role != existing.Role || !sameID(storeID, existing.StoreID)) {
			return s.DB.Conn(ctx).Where("staff_id = ?", existing.ID).Delete(&models.StaffSession{}).Error
		}
		return nil
	})
	if err != nil {
		return View{}, err
	}
	return View{Username: in.Username, Role: in.Role, Store: in.Store, Disabled: in.Disabled}, nil
}

// Create creates the staff account in only when no account of its username exists, with one insert that
// does nothing on conflict: of several processes creating the same account at once exactly one does, and
// created reports whether this call was it (an existing account is left as it is).
func (s *Service) Create(ctx context.Context, in Input) (v View, created bool, err error) {
	if err := in.validate(true); err != nil {
		return View{}, false, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), s.passwordCost)
	if err != nil {
		return View{}, false, err
	}
	var storeID *int64
	if in.Store != "" {
		st, err := s.catalog.StoreByCode(ctx, in.Store)
		if err != nil {
			return View{}, false, err
		}
		storeID = &st.ID
	}
	now := s.Now()
	row := models.Staff{Username: in.Username, PasswordHash: string(hash), Role: in.Role, StoreID: storeID, Disabled: in.Disabled, CreatedAt: now, UpdatedAt: now}
	res := s.DB.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "username"}}, DoNothing: true}).Create(&row)
	if res.Error != nil {
		return View{}, false, res.Error
	}
	return View{Username: in.Username, Role: in.Role, Store: in.Store, Disabled: in.Disabled}, res.RowsAffected == 1, nil
}

func sameID(a, b *int64) bool { return (a == nil && b == nil) || (a != nil && b != nil && *a == *b) }

// dummyHash is compared against when a username is unknown, so that a wrong name and a wrong password
// take the same time. It is made once, at the service's cost, on the first sign-in.
func (s *Service) dummyHash() []byte {
	s.dummyOnce.Do(func() {
		s.dummy, _ = bcrypt.GenerateFromPassword([]byte("o2ohub-no-such-user"), s.passwordCost)
	})
	return s.dummy
}

// SignIn checks a staff member's password and opens a session of the given kind (console cookie or
// store API token). Unknown names, wrong passwords and disabled accounts get the same answer.
func (s *Service) SignIn(ctx context.Context, username, password, kind string) (Login, error) {
	if kind != SessionConsole && kind != SessionAPI {
		return Login{}, domain.Errf(domain.ErrInvalidArgument, "unknown session kind %q", kind)
	}
	var st models.Staff
	err := s.DB.Conn(ctx).Where("username = ?", strings.ToLower(strings.TrimSpace(username))).Take(&st).Error
	if err != nil && !models.IsNotFound(err) {
		return Login{}, err
	}
	hash := s.dummyHash()
	if err == nil {
		hash = []byte(st.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || st.ID == 0 || st.Disabled {
		// Only an existing account is named: what was typed as a username may be a password.
		s.Log.WarnContext(ctx, "staff sign-in refused", "username", st.Username)
		return Login{}, domain.Errf(domain.ErrUnauthenticated, "wrong username or password")
	}
	token, tokenHash, err := domain.NewToken()
	if err != nil {
		return Login{}, err
	}
	now := s.Now()
	if err := s.DB.Conn(ctx).Where("staff_id = ? AND expires_at <= ?", st.ID, now).Delete(&models.StaffSession{}).Error; err != nil {
		return Login{}, err
	}
	sess := models.StaffSession{TokenHash: tokenHash, StaffID: st.ID, Kind: kind, ExpiresAt: now.Add(s.sessionTTL), CreatedAt: now}
	if err := s.DB.Conn(ctx).Create(&sess).Error; err != nil {
		return Login{}, err
	}
	a, err := s.actor(ctx, st)
	if err != nil {
		return Login{}, err
	}
	s.Log.InfoContext(ctx, "staff signed in", "username", st.Username, "kind", kind)
	return Login{Token: token, ExpiresAt: sess.ExpiresAt, Staff: View{Username: st.Username, Role: st.Role, Store: a.Store}}, nil
}

// Authenticate returns the actor behind a staff session token of the given kind.
func (s *Service) Authenticate(ctx context.Context, token, kind string) (Actor, error) {
	if token == "" {
		return Actor{}, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	var sess models.StaffSession
	err := s.DB.Conn(ctx).Where("token_hash = ? AND kind = ? AND expires_at > ?", domain.HashToken(token), kind, s.Now()).Take(&sess).Error
	if models.IsNotFound(err) {
		return Actor{}, domain.Errf(domain.ErrUnauthenticated, "invalid or expired session; sign in again")
	}
	if err != nil {
		return Actor{}, err
	}
	var st models.Staff
	if err := s.DB.Conn(ctx).Take(&st, sess.StaffID).Error; err != nil {
		return Actor{}, err
	}
	if st.Disabled {
		return Actor{}, domain.Errf(domain.ErrUnauthenticated, "this account is disabled")
	}
	return s.actor(ctx, st)
}

// SignOut ends the session of a token; an unknown token is not an error.
func (s *Service) SignOut(ctx context.Context, token string) error {
	return s.DB.Conn(ctx).Where("token_hash = ?", domain.HashToken(token)).Delete(&models.StaffSession{}).Error
}

func (s *Service) actor(ctx context.Context, st models.Staff) (Actor, error) {
	a := Actor{StaffID: st.ID, Username: st.Username, Role: st.Role}
	if st.StoreID != nil {
		var store models.Store
		if err := s.DB.Conn(ctx).Take(&store, *st.StoreID).Error; err != nil {
			return Actor{}, err
		}
		a.StoreID, a.Store = store.ID, store.Code
	}
	return a, nil
}

// ActorStore resolves the store an actor works on: a clerk's own store (asking for another is refused as
// if it did not exist), or, for an admin, the store named.
func (s *Service) ActorStore(ctx context.Context, a Actor, code string) (models.Store, error) {
	if !a.IsAdmin() {
		if code != "" && code != a.Store {
			return models.Store{}, domain.Errf(domain.ErrNotFound, "store %s not found", code)
		}
		code = a.Store
	}
	if code == "" {
		return models.Store{}, domain.Errf(domain.ErrInvalidArgument, "name a store")
	}
	return s.catalog.StoreByCode(ctx, code)
}

// Account returns a staff account by username.
func (s *Service) Account(ctx context.Context, username string) (View, error) {
	var st models.Staff
	err := s.DB.Conn(ctx).Where("username = ?", strings.ToLower(strings.TrimSpace(username))).Take(&st).Error
	if models.IsNotFound(err) {
		return View{}, domain.Errf(domain.ErrNotFound, "staff %s not found", username)
	}
	if err != nil {
		return View{}, err
	}
	a, err := s.actor(ctx, st)
	return View{Username: st.Username, Role: st.Role, Store: a.Store, Disabled: st.Disabled}, err
}
