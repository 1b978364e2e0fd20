package core

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
)

// MarkReady records that a pickup order is prepared and waits at the counter (a pickup code is issued
// and the shopper is told), or that a platform order is packed for the platform's rider (the platform is
// told).
func (s *Service) MarkReady(ctx context.Context, a staff.Actor, orderNo string) (OrderView, error) {
	return s.advance(ctx, a, orderNo, StatusAccepted, StatusReady, FulfillmentPickup+"|"+FulfillmentPlatform, nil, func(ctx context.Context, ord models.Order) error {
		if isPlatform(ord) {
			if err := s.platformCall(ctx, ord, market.CallPrepared, "", false); err != nil {
				return err
			}
			return events.Enqueue(ctx, s.Env, "order.ready", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "source": ord.Source})
		}
		if err := s.issuePickupCode(ctx, ord); err != nil {
			return err
		}
		if err := events.Enqueue(ctx, s.Env, "order.ready", ord.OrderNo, map[string]any{"order_no": ord.OrderNo}); err != nil {
			return err
		}
		return s.notifyShopper(ctx, ord, MessageReady, ord.TotalFen)
	})
}

// CompletePickup records, without the pickup code, that a ready pickup order was handed over: for an
// admin settling a hand-over the code could not record (the shopper lost it). Clerks confirm codes.
func (s *Service) CompletePickup(ctx context.Context, a staff.Actor, orderNo string) (OrderView, error) {
	if !a.IsAdmin() {
		return OrderView{}, domain.Errf(domain.ErrForbidden, "only an admin may complete a pickup without its code")
	}
	return s.advance(ctx, a, orderNo, StatusReady, StatusCompleted, FulfillmentPickup, nil, func(ctx context.Context, ord models.Order) error {
		res := s.DB.Conn(ctx).Model(&models.PickupCode{}).Where("order_id = ? AND state = ?", ord.ID, pickupLive).
			Updates(map[string]any{"state": pickupUsed, "used_at": s.Now(), "used_by": a.Username})
		if res.Error != nil {
			return res.Error
		}
		return s.pickedUp(ctx, ord, a)
	})
}

// pickedUp writes what follows a hand-over at the counter, in the caller's transaction.
func (s *Service) pickedUp(ctx context.Context, ord models.Order, a staff.Actor) error {
	if err := events.Enqueue(ctx, s.Env, "order.completed", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "by": a.Username}); err != nil {
		return err
	}
	if err := s.loyaltyFulfilled(ctx, ord); err != nil {
		return err
	}
	return s.reportShipping(ctx, ord, true, Courier{})
}

// courierPhone is a courier's phone as a clerk types it: a mainland mobile number (optionally +86, in
// groups), a landline with its area code, or a 400/800 service number, each optionally followed by an
// extension (the virtual numbers of delivery platforms are a mobile number and an extension).
var courierPhone = regexp.MustCompile(`^(?:(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}|0[1-9][0-9]{1,2}[- ]?[0-9]{7,8}|[48]00[- ]?[0-9]{3}[- ]?[0-9]{4})(?:(?:[-,#_，]|转)[0-9]{1,6})?$`)

// ValidCourierPhone reports whether p is a phone number a courier can be called on.
func ValidCourierPhone(p string) bool {
	return courierPhone.MatchString(strings.TrimSpace(p))
}

// Dispatch records that an accepted delivery order left the store with a courier.
func (s *Service) Dispatch(ctx context.Context, a staff.Actor, orderNo string, c Courier) (OrderView, error) {
	c.Name, c.Phone, c.TrackingNo = strings.TrimSpace(c.Name), strings.TrimSpace(c.Phone), strings.TrimSpace(c.TrackingNo)
	if c.Name == "" && c.TrackingNo == "" {
		return OrderView{}, domain.Errf(domain.ErrInvalidArgument, "a dispatch needs the courier's name or a tracking number")
	}
	for _, f := range []string{c.Name, c.Phone, c.TrackingNo} {
		if utf8.RuneCountInString(f) > 64 {
			return OrderView{}, domain.Errf(domain.ErrInvalidArgument, "courier, phone and tracking_no must be at most 64 characters")
		}
	}
	if c.Phone != "" && !ValidCourierPhone(c.Phone) {
		return OrderView{}, domain.Errf(domain.ErrInvalidArgument, "phone must be a China mobile or landline number, such as 13800000000 or 021-12345678")
	}
	set := map[string]any{"courier": c.Name, "courier_phone": c.Phone, "tracking_no": c.TrackingNo}
	return s.advance(ctx, a, orderNo, StatusAccepted, StatusDelivering, FulfillmentDelivery, set, func(ctx context.Context, ord models.Order) error {
		if err := events.Enqueue(ctx, s.Env, "order.dispatched", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "courier": c.Name, "tracking_no": c.TrackingNo}); err != nil {
			return err
		}
		return s.reportShipping(ctx, ord, false, c)
	})
}

// Deliver records that a dispatched delivery order reached the shopper.
func (s *Service) Deliver(ctx context.Context, a staff.Actor, orderNo string) (OrderView, error) {
	return s.advance(ctx, a, orderNo, StatusDelivering, StatusDelivered, FulfillmentDelivery, nil, func(ctx context.Context, ord models.Order) error {
		if err := s.loyaltyFulfilled(ctx, ord); err != nil {
			return err
		}
		return events.Enqueue(ctx, s.Env, "order.delivered", ord.OrderNo, map[string]any{"order_no": ord.OrderNo})
	})
}

// advance moves an order the actor may act on of the given fulfilment kind (any when empty) from one state to the next and
// runs then in the same transaction.
func (s *Service) advance(ctx context.Context, a staff.Actor, orderNo string, from, to Status, kind string, set map[string]any, then func(context.Context, models.Order) error) (OrderView, error) {
	return s.atStore(ctx, a, orderNo, from, kind, "become "+string(to), func(ctx context.Context, ord models.Order) error {
		if err := s.transition(ctx, ord.ID, from, to, set); err != nil {
			return err
		}
		return then(ctx, ord)
	})
}

// atStore runs step, in one transaction, on an order the actor may act on that is of the given
// fulfilment kind (any when empty) and in state from, with the order locked; doing names the step in the
// conflict errors. It answers the order after the step.
func (s *Service) atStore(ctx context.Context, a staff.Actor, orderNo string, from Status, kind, doing string, step func(context.Context, models.Order) error) (OrderView, error) {
	var id int64
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		ord, err := s.storeOrder(ctx, a, orderNo, true)
		if err != nil {
			return err
		}
		id = ord.ID
		if kind != "" && !slices.Contains(strings.Split(kind, "|"), ord.Fulfillment) {
			return domain.Errf(domain.ErrConflict, "order %s is a %s order; only a %s order can %s", orderNo, ord.Fulfillment, strings.ReplaceAll(kind, "|", " or "), doing)
		}
		if Status(ord.Status) != from {
			return domain.Errf(domain.ErrConflict, "order %s is %s; it must be %s to %s", orderNo, ord.Status, from, doing)
		}
		return step(ctx, ord)
	})
	if err != nil {
		return OrderView{}, err
	}
	return s.orderView(ctx, id)
}
