package market

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// FetchBudget is how long a push's handler waits for the platform's order detail before it keeps the
// order in the inbox and acknowledges: platforms want an answer within a few seconds (JD: 3 s).
const FetchBudget = 2 * time.Second

// MaxFetchAttempts is how often the inbox tries to read an order before it alerts and leaves it to the
// pull.
const MaxFetchAttempts = 12

// TakePushed takes the order a PushOrder reports: the order it carries, or else the order read from its
// platform within FetchBudget; when the platform does not answer in time or fails, the order is kept in
// the durable inbox for ProcessInbox to read and take, and the push is acknowledged all the same. It says
// which it did.
func (s *Service) TakePushed(ctx context.Context, p Push, take Intake) (string, error) {
	if p.Order != nil {
		return "order", take(ctx, withShop(*p.Order, p.Platform, p.ShopID))
	}
	conn, ok := s.conns[p.Platform]
	if !ok {
		return "", fmt.Errorf("%w: platform %s is off", ErrUnknownShop, p.Platform)
	}
	fctx, cancel := context.WithTimeout(ctx, FetchBudget)
	o, err := conn.FetchOrder(fctx, p.ShopID, p.OrderID)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		s.Log.WarnContext(ctx, "platform order not read in time; kept in the inbox", "platform", p.Platform, "order", p.OrderID, "err", err)
		return "kept in the inbox", s.keepInInbox(ctx, p.Platform, p.ShopID, p.OrderID, err)
	}
	return "order", take(ctx, withShop(o, p.Platform, p.ShopID))
}

// withShop completes an order read from its platform with what its push said, and cleans its text
// (a verified order is never refused for it, but no NUL or control character is stored or printed).
func withShop(o Order, platform, shopID string) Order {
	o.Lines = slices.Clone(o.Lines)
	text.CleanAll(&o)
	if o.ShopID == "" {
		o.ShopID = shopID
	}
	o.Platform = platform
	return o
}

func (s *Service) keepInInbox(ctx context.Context, platform, shopID, orderID string, cause error) error {
	now := s.Now()
	return s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&models.MarketInbox{Platform: platform, ShopID: shopID,
		OrderID: orderID, DueAt: now, LastError: cause.Error(), CreatedAt: now}).Error
}

// fetchBackoff is the wait after the n-th failed read: 5 s doubling, at most 10 minutes.
func fetchBackoff(n int64) time.Duration {
	return min(time.Duration(1<<min(n, 8))*5*time.Second, 10*time.Minute)
}

// ProcessInbox reads and takes the orders kept in the inbox, each claimed with a lease so replicas share
// the work: a row is removed once its order is taken; a failed read is tried again later, and after
// MaxFetchAttempts an alert is raised and the row removed (the pull still lists the order).
func (s *Service) ProcessInbox(ctx context.Context, limit int, take Intake) (int, error) {
	rows, lease, err := domain.ClaimDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q }, "due_at", "attempts", limit,
		func(r *models.MarketInbox) int64 { r.Attempts++; return r.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, r := range rows {
		conn, ok := s.conns[r.Platform]
		if !ok {
			continue // the platform is off here; the lease runs out and a process that has it reads it
		}
		o, err := conn.FetchOrder(ctx, r.ShopID, r.OrderID)
		if err == nil {
			err = take(ctx, withShop(o, r.Platform, r.ShopID))
		}
		if err == nil || errors.Is(err, ErrUnknownShop) { // taken, or for a shop no store is bound to
			if err != nil {
				s.Log.WarnContext(ctx, "platform order for an unbound shop dropped from the inbox", "platform", r.Platform, "order", r.OrderID, "err", err)
			}
			errs = append(errs, s.DB.Conn(ctx).Delete(&models.MarketInbox{}, r.ID).Error)
			continue
		}
		if r.Attempts >= MaxFetchAttempts {
			why := fmt.Sprintf("%s order %s could not be read after %d attempts: %v", r.Platform, r.OrderID, r.Attempts, err)
			errs = append(errs, events.Alert(ctx, s.Env, "platform_order_unread", r.OrderID, why), s.DB.Conn(ctx).Delete(&models.MarketInbox{}, r.ID).Error)
			continue
		}
		errs = append(errs, s.DB.Conn(ctx).Model(&models.MarketInbox{}).Where("id = ?", r.ID).
			Updates(map[string]any{"due_at": s.Now().Add(fetchBackoff(r.Attempts)), "last_error": err.Error()}).Error)
	}
	return len(rows), errors.Join(errs...)
}
