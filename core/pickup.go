package core

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/qrcode"
	"gorm.io/gorm"
)

// Pickup code states.
const (
	pickupLive    = "live"
	pickupUsed    = "used"
	pickupExpired = "expired"
	pickupVoid    = "void"
)

// PickupCodeDigits is the length of a pickup code.
const PickupCodeDigits = 8

// Pickup code errors, for the counter to tell apart. Each wraps the kind the HTTP layer maps.
var (
	// ErrCodeUnknown says no live code of this store matches: mistyped, forged, or another store's.
	ErrCodeUnknown = fmt.Errorf("%w: unknown pickup code", domain.ErrNotFound)
	// ErrCodeExpired says the code ran out before the shopper came.
	ErrCodeExpired = fmt.Errorf("%w: pickup code expired", domain.ErrConflict)
	// ErrCodeUsed says the order was already handed over with this code.
	ErrCodeUsed = fmt.Errorf("%w: pickup code already used", domain.ErrConflict)
)

var pickupCodePattern = regexp.MustCompile(`^[0-9]{8}$`)

// PickupView is what a shopper shows at the counter: the code to read out or type, and a QR of a
// signed token to scan.
type PickupView struct {
	OrderNo   string            `json:"order_no"`
	Code      string            `json:"code"`
	Token     string            `json:"token"`
	QRPNG     []byte            `json:"qr_png"`
	Store     catalog.StoreView `json:"store"`
	ExpiresAt time.Time         `json:"expires_at"`
}

// PickupCheck is what a clerk sees for a valid code: the order and the goods to hand over.
type PickupCheck struct {
	OrderNo   string          `json:"order_no"`
	Status    Status          `json:"status"`
	Store     string          `json:"store"`
	Items     []OrderItemView `json:"items"`
	TotalFen  int64           `json:"total_fen"`
	ExpiresAt time.Time       `json:"expires_at"`
}

// issuePickupCode gives a ready order its code, in the caller's transaction: 8 random digits, unique
// among live codes (a collision is drawn again).
func (s *Service) issuePickupCode(ctx context.Context, ord models.Order) error {
	tx := s.DB.Conn(ctx)
	now := s.Now()
	for attempt := 0; attempt < 8; attempt++ {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(math.Pow10(PickupCodeDigits))))
		if err != nil {
			return err
		}
		row := models.PickupCode{OrderID: ord.ID, StoreID: ord.StoreID, Code: fmt.Sprintf("%0*d", PickupCodeDigits, n.Int64()), State: pickupLive,
			ExpiresAt: now.Add(s.opts.PickupTTL), CreatedAt: now}
		if err := tx.SavePoint("pickup_code").Error; err != nil {
			return err
		}
		err = tx.Create(&row).Error
		if !models.IsDuplicate(err) {
			return err
		}
		if err := tx.RollbackTo("pickup_code").Error; err != nil {
			return err
		}
	}
	return errors.New("could not draw a unique pickup code")
}

// voidPickupCode withdraws the live code of an order that will not be collected (refunded).
func (s *Service) voidPickupCode(ctx context.Context, orderID int64) error {
	return s.DB.Conn(ctx).Model(&models.PickupCode{}).Where("order_id = ? AND state = ?", orderID, pickupLive).Update("state", pickupVoid).Error
}

// pickupKey is the key pickup tokens are signed with, made once and shared by replicas. It must be called
// outside a transaction, so that a key it makes is saved before it is used.
func (s *Service) pickupKey(ctx context.Context) ([]byte, error) {
	s.keyMu.Lock()
	defer s.keyMu.Unlock()
	if s.tokenKey != nil {
		return s.tokenKey, nil
	}
	v, err := s.DB.Setting(ctx, "pickup_token_key", func() (string, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	if err != nil {
		return nil, err
	}
	s.tokenKey, err = hex.DecodeString(v)
	return s.tokenKey, err
}

// Pickup returns the pickup code of a member's ready order, with a QR of its signed token.
func (s *Service) Pickup(ctx context.Context, memberID int64, orderNo string) (PickupView, error) {
	ord, err := s.memberOrder(ctx, memberID, orderNo, false)
	if err != nil {
		return PickupView{}, err
	}
	if ord.Fulfillment != FulfillmentPickup {
		return PickupView{}, domain.Errf(domain.ErrConflict, "order %s is delivered; it has no pickup code", orderNo)
	}
	var code models.PickupCode
	err = s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Take(&code).Error
	if models.IsNotFound(err) {
		return PickupView{}, domain.Errf(domain.ErrConflict, "order %s is %s; its pickup code is issued when the store has prepared it", orderNo, ord.Status)
	}
	if err != nil {
		return PickupView{}, err
	}
	switch {
	case code.State == pickupUsed:
		return PickupView{}, domain.Errf(ErrCodeUsed, "order %s was collected", orderNo)
	case code.State == pickupVoid:
		return PickupView{}, domain.Errf(domain.ErrConflict, "order %s was refunded; it will not be collected", orderNo)
	case code.State != pickupLive || !s.Now().Before(code.ExpiresAt):
		return PickupView{}, domain.Errf(ErrCodeExpired, "the pickup code of order %s is no longer valid (order %s)", orderNo, ord.Status)
	}
	key, err := s.pickupKey(ctx)
	if err != nil {
		return PickupView{}, err
	}
	var st models.Store
	if err := s.DB.Conn(ctx).Take(&st, code.StoreID).Error; err != nil {
		return PickupView{}, err
	}
	token := qrcode.SignToken(key, code.Code, code.ExpiresAt)
	png, err := qrcode.PNG(token, 512)
	if err != nil {
		return PickupView{}, err
	}
	return PickupView{OrderNo: ord.OrderNo, Code: code.Code, Token: token, QRPNG: png, Store: catalog.View(st), ExpiresAt: code.ExpiresAt.UTC()}, nil
}

// VerifyPickup looks a typed code or scanned token up at a store's counter and returns the goods to hand
// over. A code of another store is refused as unknown. Every attempt is audited, and wrong typed codes
// are limited per clerk and per store (domain.ErrRateLimited with the wait; see pickupLimits); a scanned
// token is never limited.
func (s *Service) VerifyPickup(ctx context.Context, a staff.Actor, store, input string) (PickupCheck, error) {
	var out PickupCheck
	err := s.atCounter(ctx, a, store, "verify", input, func(ctx context.Context, st models.Store, code models.PickupCode, ord models.Order) error {
		out = PickupCheck{OrderNo: ord.OrderNo, Status: Status(ord.Status), Store: st.Code, TotalFen: ord.TotalFen, ExpiresAt: code.ExpiresAt.UTC(),
			Items: toOrderView(ord, st.Code).Items}
		return nil
	})
	return out, err
}

// ConfirmPickup records the hand-over of a pickup order with its code or token: the code is used up and
// the order completed. Of two clerks confirming the same code at once, one wins and the other gets
// ErrCodeUsed.
func (s *Service) ConfirmPickup(ctx context.Context, a staff.Actor, store, input string) (OrderView, error) {
	var id int64
	err := s.atCounter(ctx, a, store, "confirm", input, func(ctx context.Context, st models.Store, code models.PickupCode, ord models.Order) error {
		id = ord.ID
		res := s.DB.Conn(ctx).Model(&models.PickupCode{}).Where("id = ? AND state = ?", code.ID, pickupLive).
			Updates(map[string]any{"state": pickupUsed, "used_at": s.Now(), "used_by": a.Username})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return domain.Errf(ErrCodeUsed, "this code was just used: the order was handed over")
		}
		if err := s.transition(ctx, ord.ID, StatusReady, StatusCompleted, nil); err != nil {
			return err
		}
		if err := events.Enqueue(ctx, s.Env, "pickup.verified", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "store": st.Code, "by": a.Username}); err != nil {
			return err
		}
		return s.pickedUp(ctx, ord, a)
	})
	if err != nil {
		return OrderView{}, err
	}
	return s.orderView(ctx, id)
}

// atCounter runs one pickup-code attempt at a store: it serialises attempts at the store, enforces the
// failure limits on typed codes, resolves the input to a live code of this store and its ready order, runs
// then, and audits the attempt. A failed attempt is recorded even though then's changes are not.
func (s *Service) atCounter(ctx context.Context, a staff.Actor, store, action, input string, then func(context.Context, models.Store, models.PickupCode, models.Order) error) error {
	if a.Username == "" {
		return domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	if !a.IsAdmin() && store == "" {
		store = a.Store
	}
	key, err := s.pickupKey(ctx)
	if err != nil {
		return err
	}
	typed := !isPickupToken(input)
	var outcome error
	err = s.DB.Tx(ctx, func(ctx context.Context) error {
		outcome = nil
		st, err := s.Staff.ActorStore(ctx, a, store)
		if err != nil {
			return err
		}
		// Attempts at one counter take turns, so the limits below are checked and spent exactly.
		if err := s.DB.Conn(ctx).Clauses(models.ForNoKeyUpdate()).Take(&models.Store{}, st.ID).Error; err != nil {
			return err
		}
		audit := models.PickupAttempt{StoreID: st.ID, Staff: a.Username, Action: action, Code: maskCode(input), CreatedAt: s.Now()}
		if typed {
			if wait, err := s.pickupFails.wait(ctx, st.ID, a.Username); err != nil {
				return err
			} else if wait > 0 {
				audit.Result = "rate_limited"
				outcome = &domain.Error{Kind: domain.ErrRateLimited, RetryAfter: wait,
					Msg: fmt.Sprintf("too many wrong codes at this counter; type again in %d seconds, or scan the shopper's QR code now", int(math.Ceil(wait.Seconds())))}
				return s.DB.Conn(ctx).Create(&audit).Error
			}
		}
		if err := s.DB.Conn(ctx).SavePoint("counter").Error; err != nil {
			return err
		}
		code, ord, err := s.counterCode(ctx, key, st, input)
		if err == nil {
			audit.OrderNo = ord.OrderNo
			err = then(ctx, st, code, ord)
		}
		var de *domain.Error
		if err != nil && !errors.As(err, &de) {
			return err // a database failure: nothing to audit, the caller sees the error
		}
		if err != nil {
			if rb := s.DB.Conn(ctx).RollbackTo("counter").Error; rb != nil {
				return rb
			}
			outcome = err
			audit.Result = resultName(err)
			// What a guesser gets wrong counts against the limits; a code used a moment ago does not, nor
			// does a token (signed: it cannot be guessed).
			audit.Failed = typed && (errors.Is(err, ErrCodeUnknown) || errors.Is(err, ErrCodeExpired) || errors.Is(err, domain.ErrInvalidArgument))
			if audit.Failed {
				if err := s.pickupFails.spend(ctx, st.ID, a.Username); err != nil {
					return err
				}
			}
		} else {
			audit.Result = "ok"
		}
		return s.DB.Conn(ctx).Create(&audit).Error
	})
	if err != nil {
		return err
	}
	s.Log.InfoContext(ctx, "pickup code attempt", "store", store, "staff", a.Username, "action", action, "result", resultName(outcome))
	return outcome
}

// isPickupToken reports whether a counter's input is a scanned token rather than a typed code.
func isPickupToken(input string) bool {
	return strings.HasPrefix(strings.ToUpper(strings.TrimSpace(input)), qrcode.TokenPrefix)
}

func resultName(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrCodeUnknown):
		return "unknown"
	case errors.Is(err, ErrCodeExpired):
		return "expired"
	case errors.Is(err, ErrCodeUsed):
		return "used"
	case errors.Is(err, domain.ErrRateLimited):
		return "rate_limited"
	case errors.Is(err, domain.ErrInvalidArgument):
		return "malformed"
	}
	return "refused"
}

// pickupLimits are the limits on wrong typed pickup codes, kept in the database (core/limits) so that
// replicas share them. They are designed from two goals:
//
//   - Guessing stays infeasible. A code is 8 random digits, so with L live codes at a store a guess hits
//     with probability L/10^8. A store's clerks together get 4×PickupFailLimit wrong codes at once and
//     then one every PickupFailEvery: with the defaults (20, then one a minute) that is at most 80 in the
//     first hour and 60 an hour after, and with 1,000 live codes (a busy store's, generously) the
//     expected time to a first hit is 10^8/(1,000×60) hours, about 69 days of nonstop guessing, every
//     guess audited.
//   - An honest counter is never held up for long. A clerk gets PickupFailLimit wrong codes at once, and
//     past that, like a store past its budget, waits at most PickupFailEvery (a minute) for the next
//     one; one clerk's typos never stop colleagues until the store's budget, four clerks' worth, is
//     spent. A scanned token is signed and cannot be guessed: it is never limited and never counts.
type pickupLimits struct {
	clerk, store *limits.Limit
}

func newPickupLimits(env domain.Env, o Options) pickupLimits {
	shared := limits.NewShared(env.DB, env.Clock)
	return pickupLimits{
		clerk: shared.Limit("pickup_clerk", limits.Every(o.PickupFailEvery, o.PickupFailLimit)),
		store: shared.Limit("pickup_store", limits.Every(o.PickupFailEvery, 4*o.PickupFailLimit)),
	}
}

// clerkKey names a clerk at a store (an admin may stand at any counter).
func clerkKey(storeID int64, staff string) string { return fmt.Sprintf("%d/%s", storeID, staff) }

// wait is how long a clerk at a store must wait before typing a code; 0 when they may go on. The caller
// holds the store's counter.
func (p pickupLimits) wait(ctx context.Context, storeID int64, staff string) (time.Duration, error) {
	w1, err := p.clerk.Wait(ctx, clerkKey(storeID, staff))
	if err != nil {
		return 0, err
	}
	w2, err := p.store.Wait(ctx, strconv.FormatInt(storeID, 10))
	return max(w1, w2), err
}

// spend counts a wrong typed code against the clerk and the store.
func (p pickupLimits) spend(ctx context.Context, storeID int64, staff string) error {
	if _, err := p.clerk.Take(ctx, clerkKey(storeID, staff)); err != nil {
		return err
	}
	_, err := p.store.Take(ctx, strconv.FormatInt(storeID, 10))
	return err
}

// counterCode resolves a typed code or a scanned token to a live code of the store and its ready order.
func (s *Service) counterCode(ctx context.Context, key []byte, st models.Store, input string) (models.PickupCode, models.Order, error) {
	input = strings.TrimSpace(input)
	code := input
	if isPickupToken(input) {
		var err error
		code, err = qrcode.OpenToken(key, input, s.Now())
		switch {
		case errors.Is(err, qrcode.ErrTokenForged):
			return models.PickupCode{}, models.Order{}, domain.Errf(ErrCodeUnknown, "this QR code is not a pickup code of ours")
		case errors.Is(err, qrcode.ErrTokenExpired):
			return models.PickupCode{}, models.Order{}, domain.Errf(ErrCodeExpired, "this pickup code has expired")
		}
	}
	if !pickupCodePattern.MatchString(code) {
		return models.PickupCode{}, models.Order{}, domain.Errf(domain.ErrInvalidArgument, "a pickup code is %d digits", PickupCodeDigits)
	}
	var row models.PickupCode
	err := s.DB.Conn(ctx).Where("code = ? AND store_id = ?", code, st.ID).Order("id DESC").Take(&row).Error
	if models.IsNotFound(err) {
		return row, models.Order{}, domain.Errf(ErrCodeUnknown, "no pickup code %s at this store", code)
	}
	if err != nil {
		return row, models.Order{}, err
	}
	switch {
	case row.State == pickupUsed:
		return row, models.Order{}, domain.Errf(ErrCodeUsed, "code %s was already used: the order was handed over", code)
	case row.State == pickupExpired || (row.State == pickupLive && !s.Now().Before(row.ExpiresAt)):
		return row, models.Order{}, domain.Errf(ErrCodeExpired, "code %s has expired", code)
	case row.State != pickupLive:
		return row, models.Order{}, domain.Errf(ErrCodeUnknown, "code %s is no longer valid: the order was refunded", code)
	}
	var ord models.Order
	if err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Take(&ord, row.OrderID).Error; err != nil {
		return row, ord, err
	}
	if err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error; err != nil {
		return row, ord, err
	}
	if Status(ord.Status) != StatusReady {
		return row, ord, domain.Errf(domain.ErrConflict, "order %s is %s, not ready for pickup", ord.OrderNo, ord.Status)
	}
	return row, ord, nil
}

// maskCode keeps what the audit needs of a typed code: its last four characters.
func maskCode(input string) string {
	input = strings.TrimSpace(input)
	if len(input) > 64 {
		input = input[:64]
	}
	if len(input) <= 4 {
		return strings.Repeat("*", len(input))
	}
	return "****" + input[len(input)-4:]
}

// ExpirePickups ends up to limit pickup codes past their expiry, one code per transaction
// (domain.SweepDue): their orders were not collected, so the stock goes back on the shelf and the shopper
// is refunded in full. It counts the orders refunded. Several workers may run it at once (SKIP LOCKED on
// PostgreSQL, conditional updates).
func (s *Service) ExpirePickups(ctx context.Context, limit int) (int, error) {
	live := func(q *gorm.DB) *gorm.DB { return q.Where("state = ?", pickupLive) }
	return domain.SweepDue(ctx, s.Env, live, "expires_at", limit, func(ctx context.Context, c *models.PickupCode) (bool, error) {
		res := s.DB.Conn(ctx).Model(&models.PickupCode{}).Where("id = ? AND state = ?", c.ID, pickupLive).Update("state", pickupExpired)
		if res.Error != nil || res.RowsAffected == 0 {
			return false, res.Error
		}
		var ord models.Order
		if err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Take(&ord, c.OrderID).Error; err != nil {
			return false, err
		}
		if Status(ord.Status) != StatusReady {
			return false, nil
		}
		if err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error; err != nil {
			return false, err
		}
		if err := events.Enqueue(ctx, s.Env, "order.pickup_expired", ord.OrderNo, map[string]any{"order_no": ord.OrderNo}); err != nil {
			return false, err
		}
		_, err := s.startRefund(ctx, ord, 0, "not collected before the pickup code expired", "system")
		return true, err
	})
}
