package core

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/models"
)

// AcceptOrder records that the order's store takes a paid order on.
func (s *Service) AcceptOrder(ctx context.Context, orderNo string) (OrderView, error) {
	return s.advance(ctx, orderNo, StatusPaid, StatusAccepted, "", nil, func(ctx context.Context, ord models.Order) error {
		return s.enqueueEvent(ctx, "order.accepted", ord.OrderNo, map[string]any{"order_no": ord.OrderNo})
	})
}

// MarkReady records that a pickup order is prepared and waits at the counter; the shopper is told.
func (s *Service) MarkReady(ctx context.Context, orderNo string) (OrderView, error) {
	return s.advance(ctx, orderNo, StatusAccepted, StatusReady, FulfillmentPickup, nil, func(ctx context.Context, ord models.Order) error {
		if err := s.enqueueEvent(ctx, "order.ready", ord.OrderNo, map[string]any{"order_no": ord.OrderNo}); err != nil {
			return err
		}
		return s.notifyShopper(ctx, ord, MessageReady, ord.TotalFen)
	})
}

// CompletePickup records that a ready pickup order was handed to the shopper.
func (s *Service) CompletePickup(ctx context.Context, orderNo string) (OrderView, error) {
	return s.advance(ctx, orderNo, StatusReady, StatusCompleted, FulfillmentPickup, nil, func(ctx context.Context, ord models.Order) error {
		if err := s.enqueueEvent(ctx, "order.completed", ord.OrderNo, map[string]any{"order_no": ord.OrderNo}); err != nil {
			return err
		}
		return s.reportShipping(ctx, ord, true, Courier{})
	})
}

// Dispatch records that an accepted delivery order left the store with a courier.
func (s *Service) Dispatch(ctx context.Context, orderNo string, c Courier) (OrderView, error) {
	c.Name, c.Phone, c.TrackingNo = strings.TrimSpace(c.Name), strings.TrimSpace(c.Phone), strings.TrimSpace(c.TrackingNo)
	if c.Name == "" && c.TrackingNo == "" {
		return OrderView{}, errf(ErrInvalidArgument, "a dispatch needs the courier's name or a tracking number")
	}
	for _, f := range []string{c.Name, c.Phone, c.TrackingNo} {
		if utf8.RuneCountInString(f) > 64 {
			return OrderView{}, errf(ErrInvalidArgument, "courier, phone and tracking_no must be at most 64 characters")
		}
	}
	set := map[string]any{"courier": c.Name, "courier_phone": c.Phone, "tracking_no": c.TrackingNo}
	return s.advance(ctx, orderNo, StatusAccepted, StatusDelivering, FulfillmentDelivery, set, func(ctx context.Context, ord models.Order) error {
		if err := s.enqueueEvent(ctx, "order.dispatched", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "courier": c.Name, "tracking_no": c.TrackingNo}); err != nil {
			return err
		}
		return s.reportShipping(ctx, ord, false, c)
	})
}

// Deliver records that a dispatched delivery order reached the shopper.
func (s *Service) Deliver(ctx context.Context, orderNo string) (OrderView, error) {
	return s.advance(ctx, orderNo, StatusDelivering, StatusDelivered, FulfillmentDelivery, nil, func(ctx context.Context, ord models.Order) error {
		return s.enqueueEvent(ctx, "order.delivered", ord.OrderNo, map[string]any{"order_no": ord.OrderNo})
	})
}

// advance moves an order of the given fulfilment kind (any when empty) from one state to the next and
// runs then in the same transaction.
func (s *Service) advance(ctx context.Context, orderNo string, from, to Status, kind string, set map[string]any, then func(context.Context, models.Order) error) (OrderView, error) {
	var id int64
	err := s.db.Tx(ctx, func(ctx context.Context) error {
		ord, err := s.loadOrder(ctx, orderNo, true)
		if err != nil {
			return err
		}
		id = ord.ID
		if kind != "" && ord.Fulfillment != kind {
			return errf(ErrConflict, "order %s is a %s order; only a %s order can become %s", orderNo, ord.Fulfillment, kind, to)
		}
		if Status(ord.Status) != from {
			return errf(ErrConflict, "order %s is %s; it must be %s to become %s", orderNo, ord.Status, from, to)
		}
		if err := s.transition(ctx, ord.ID, from, to, set); err != nil {
			return err
		}
		return then(ctx, ord)
	})
	if err != nil {
		return OrderView{}, err
	}
	return s.orderView(ctx, id)
}
