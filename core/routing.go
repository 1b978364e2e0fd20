package core

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Offer outcomes: an offer is open until its store accepts or rejects it, it times out, or the order
// is withdrawn from it (cancelled or refunded). OfferView.Outcome is one of these.
const (
	OfferOpen      = "offered"
	OfferAccepted  = "accepted"
	OfferRejected  = "rejected"
	OfferTimeout   = "timeout"
	OfferWithdrawn = "withdrawn"
)

// OfferView is one offer of an order to a store, as the store and operators see its history.
type OfferView struct {
	Store     string     `json:"store"`
	Outcome   string     `json:"outcome"`
	Actor     string     `json:"actor,omitempty"`
	Reason    string     `json:"reason,omitempty"`
	OfferedAt time.Time  `json:"offered_at"`
	DecidedAt *time.Time `json:"decided_at,omitempty"`
}

// offer offers a paid order to a store: the order moves there (its stock must already be there) with a
// deadline to accept, and a store that accepts everything takes it at once.
func (s *Service) offer(ctx context.Context, ord models.Order, st models.Store) error {
	now := s.Now()
	set := s.offerFields(ord, st, now)
	if set == nil { // closed since the order was placed: straight on to the next store
		if err := s.DB.Conn(ctx).Create(&models.OrderOffer{OrderID: ord.ID, StoreID: st.ID, Outcome: OfferRejected, Actor: "system",
			Reason: "the store is closed", OfferedAt: now, DecidedAt: &now}).Error; err != nil {
			return err
		}
		return s.reroute(ctx, ord, "the store is closed")
	}
	set["updated_at"] = now
	if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ?", ord.ID).Updates(set).Error; err != nil {
		return err
	}
	return s.offered(ctx, ord, st, now)
}

// offerFields returns the columns of the order row that an offer of ord to st at now sets (its store and
// the deadline to accept), or nil when st is closed and the order must go on to the next store. A caller
// that updates the order row anyway (the transition to paid) sets them in that update and then calls
// offered, saving a second update of the row; any other caller uses offer.
func (s *Service) offerFields(ord models.Order, st models.Store, now time.Time) map[string]any {
	if st.Status != catalog.StoreOpen && !isPlatform(ord) {
		return nil
	}
	return map[string]any{"store_id": st.ID, "accept_by": now.Add(s.opts.AcceptTimeout)}
}

// offered records the open offer of an order whose row already carries offerFields, and lets a store
// that accepts everything take it at once.
func (s *Service) offered(ctx context.Context, ord models.Order, st models.Store, now time.Time) error {
	if err := s.DB.InsertLater(ctx, &models.OrderOffer{OrderID: ord.ID, StoreID: st.ID, Outcome: OfferOpen, OfferedAt: now}); err != nil {
		return err
	}
	if !st.AutoAccept {
		return nil
	}
	ord.StoreID = st.ID
	return s.accept(ctx, ord, staff.Actor{Username: "auto-accept", Role: staff.RoleAdmin})
}

// accept moves a paid order to accepted at its store (an auto-accepting store), in the caller's
// transaction.
func (s *Service) accept(ctx context.Context, ord models.Order, a staff.Actor) error {
	if err := s.transition(ctx, ord.ID, StatusPaid, StatusAccepted, map[string]any{"accept_by": nil}); err != nil {
		return err
	}
	return s.accepted(ctx, ord, a)
}

// accepted closes the open offer of an order just accepted and writes the event.
func (s *Service) accepted(ctx context.Context, ord models.Order, a staff.Actor) error {
	if err := s.closeOffer(ctx, ord.ID, OfferAccepted, a.Username, ""); err != nil {
		return err
	}
	var st models.Store
	if err := s.DB.Conn(ctx).Take(&st, ord.StoreID).Error; err != nil {
		return err
	}
	if isPlatform(ord) && a.Username != platformActor.Username { // the platform told us: nothing to tell it back
		if err := s.platformCall(ctx, ord, market.CallConfirm, "", false); err != nil {
			return err
		}
	}
	return events.Enqueue(ctx, s.Env, "order.accepted", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "store": st.Code, "by": a.Username})
}

// closeOffer records how an order's open offer ended; it does nothing when none is open.
func (s *Service) closeOffer(ctx context.Context, orderID int64, outcome, actor, reason string) error {
	now := s.Now()
	return s.DB.Conn(ctx).Model(&models.OrderOffer{}).Where("order_id = ? AND outcome = ?", orderID, OfferOpen).
		Updates(map[string]any{"outcome": outcome, "actor": actor, "reason": reason, "decided_at": now}).Error
}

// AcceptOrder records that the order's store takes a paid order on, before its time to accept runs out.
// A clerk may accept only their own store's orders; another store's order is not found.
func (s *Service) AcceptOrder(ctx context.Context, a staff.Actor, orderNo string) (OrderView, error) {
	return s.advance(ctx, a, orderNo, StatusPaid, StatusAccepted, "", map[string]any{"accept_by": nil}, func(ctx context.Context, ord models.Order) error {
		if ord.AcceptBy != nil && !s.Now().Before(*ord.AcceptBy) {
			return domain.Errf(domain.ErrConflict, "the time to accept order %s ran out; it is moving to another store", orderNo)
		}
		return s.accepted(ctx, ord, a)
	})
}

// RejectOrder records that the order's store cannot serve a paid order, and why; the order moves on to
// the next best store at once, or, when no store is left, is refunded.
func (s *Service) RejectOrder(ctx context.Context, a staff.Actor, orderNo, reason string) (OrderView, error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || utf8.RuneCountInString(reason) > 80 {
		return OrderView{}, domain.Errf(domain.ErrInvalidArgument, "a rejection needs a reason of 1-80 characters")
	}
	return s.atStore(ctx, a, orderNo, StatusPaid, "", "be rejected", func(ctx context.Context, ord models.Order) error {
		if err := s.closeOffer(ctx, ord.ID, OfferRejected, a.Username, reason); err != nil {
			return err
		}
		if isPlatform(ord) { // a platform order belongs to its shop: it is cancelled there, not moved
			if err := s.platformCall(ctx, ord, market.CallReject, reason, false); err != nil {
				return err
			}
			return s.cancelPlatformOrder(ctx, ord, "rejected by the store: "+reason)
		}
		return s.reroute(ctx, ord, "rejected: "+reason)
	})
}

// RerouteDue moves on up to limit paid orders whose store let the deadline to accept pass, one order per
// transaction (domain.SweepDue). Several workers may run it at once: each order is locked while it moves
// (SKIP LOCKED on PostgreSQL), and each move is a conditional update, so no order moves twice.
func (s *Service) RerouteDue(ctx context.Context, limit int) (int, error) {
	paid := func(q *gorm.DB) *gorm.DB { return q.Where("status = ?", string(StatusPaid)) }
	return domain.SweepDue(ctx, s.Env, paid, "accept_by", limit, func(ctx context.Context, ord *models.Order) (bool, error) {
		if err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("product_id").Find(&ord.Items).Error; err != nil {
			return false, err
		}
		if err := s.closeOffer(ctx, ord.ID, OfferTimeout, "system", fmt.Sprintf("not accepted within %s", s.opts.AcceptTimeout)); err != nil {
			return false, err
		}
		return true, s.reroute(ctx, *ord, "not accepted in time")
	})
}

// reroute moves a paid order whose offer just ended to the next best store: open, never offered the
// order before, holding every item, and nearest to the shopper (delivery, within the delivery radius)
// or to the store first chosen (pickup, within the re-route radius). The committed stock moves with it in
// the caller's transaction. With no store left the order is refunded in full.
func (s *Service) reroute(ctx context.Context, ord models.Order, why string) error {
	if isPlatform(ord) { // a platform order belongs to its shop: the store is alerted instead
		if err := s.DB.Conn(ctx).Model(&models.Order{}).Where("id = ?", ord.ID).Update("accept_by", nil).Error; err != nil {
			return err
		}
		return events.Alert(ctx, s.Env, "platform_order_waiting", ord.OrderNo, fmt.Sprintf("%s order %s waits for its store: %s", ord.Source, platformID(ord), why))
	}
	var from models.Store
	if err := s.DB.Conn(ctx).Take(&from, ord.StoreID).Error; err != nil {
		return err
	}
	cands, err := s.rerouteCandidates(ctx, ord)
	if err != nil {
		return err
	}
	tx := s.DB.Conn(ctx)
	for _, st := range cands {
		if err := tx.SavePoint("reroute").Error; err != nil {
			return err
		}
		ok, err := s.moveItems(ctx, ord, st.ID)
		if err != nil {
			return err
		}
		if !ok {
			if err := tx.RollbackTo("reroute").Error; err != nil {
				return err
			}
			continue
		}
		if err := events.Enqueue(ctx, s.Env, "order.rerouted", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "from": from.Code, "to": st.Code, "reason": why}); err != nil {
			return err
		}
		moved := ord
		moved.StoreID = st.ID
		if err := s.notifyShopper(ctx, moved, MessageRerouted, ord.TotalFen); err != nil {
			return err
		}
		s.Log.InfoContext(ctx, "order rerouted", "order_no", ord.OrderNo, "from", from.Code, "to", st.Code, "reason", why)
		return s.offer(ctx, ord, st)
	}
	s.Log.WarnContext(ctx, "no store left for order; refunding", "order_no", ord.OrderNo, "reason", why)
	if err := events.Enqueue(ctx, s.Env, "order.unfulfillable", ord.OrderNo, map[string]any{"order_no": ord.OrderNo, "last_store": from.Code, "reason": why}); err != nil {
		return err
	}
	_, err = s.startRefund(ctx, ord, 0, "no store could take the order", "system")
	return err
}

// moveItems moves an order's committed items from its store to storeID in one step: taken from the new
// store's available stock, given back at the old one, with the two stores' rows locked in the global
// (store, product) order whichever store has the lower id. False when the new store is short of one item
// (the caller rolls back to its savepoint).
func (s *Service) moveItems(ctx context.Context, ord models.Order, storeID int64) (bool, error) {
	moves := make([]catalog.Move, 0, 2*len(ord.Items))
	for _, it := range ord.Items {
		moves = append(moves,
			catalog.Move{StoreID: storeID, ProductID: *it.ProductID, DOnHand: -it.Qty, Kind: "reroute_in", OrderNo: ord.OrderNo},
			catalog.Move{StoreID: ord.StoreID, ProductID: *it.ProductID, DOnHand: it.Qty, Kind: "reroute_out", OrderNo: ord.OrderNo})
	}
	return s.Catalog.MoveStocks(ctx, moves)
}

// rerouteCandidates returns the open stores a paid order may move to, nearest first.
func (s *Service) rerouteCandidates(ctx context.Context, ord models.Order) ([]models.Store, error) {
	var offered []int64
	if err := s.DB.Conn(ctx).Model(&models.OrderOffer{}).Where("order_id = ?", ord.ID).Pluck("store_id", &offered).Error; err != nil {
		return nil, err
	}
	var lat, lng, radius float64
	if ord.Fulfillment == FulfillmentDelivery && ord.AddressLat != nil && ord.AddressLng != nil {
		lat, lng, radius = *ord.AddressLat, *ord.AddressLng, s.opts.DeliveryRadiusM
	} else {
		var first models.OrderOffer
		origin := ord.StoreID
		err := s.DB.Conn(ctx).Where("order_id = ?", ord.ID).Order("id").Take(&first).Error
		if err == nil {
			origin = first.StoreID
		} else if !models.IsNotFound(err) {
			return nil, err
		}
		var st models.Store
		if err := s.DB.Conn(ctx).Take(&st, origin).Error; err != nil {
			return nil, err
		}
		lat, lng, radius = st.Lat, st.Lng, s.opts.RerouteRadiusM
	}
	return s.Catalog.NearestOpen(ctx, lat, lng, radius, append(offered, ord.StoreID))
}

// storeOrder loads an order an actor may act on: any for an admin, only its own store's for a clerk (an
// order of another store is not found).
func (s *Service) storeOrder(ctx context.Context, a staff.Actor, orderNo string, lock bool) (models.Order, error) {
	if a.Username == "" {
		return models.Order{}, domain.Errf(domain.ErrUnauthenticated, "sign in first")
	}
	ord, err := s.loadOrder(ctx, orderNo, lock)
	if err == nil && !a.IsAdmin() && ord.StoreID != a.StoreID {
		return models.Order{}, domain.Errf(domain.ErrNotFound, "order %s not found", orderNo)
	}
	return ord, err
}

func (s *Service) offers(ctx context.Context, orderID int64) ([]OfferView, error) {
	var rows []struct {
		models.OrderOffer
		Code string
	}
	err := s.DB.Conn(ctx).Table("order_offers").Select("order_offers.*, stores.code").Joins("JOIN stores ON stores.id = order_offers.store_id").
		Where("order_offers.order_id = ?", orderID).Order("order_offers.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]OfferView, 0, len(rows))
	for _, r := range rows {
		out = append(out, OfferView{Store: r.Code, Outcome: r.Outcome, Actor: r.Actor, Reason: r.Reason, OfferedAt: r.OfferedAt.UTC(), DecidedAt: utcPtr(r.DecidedAt)})
	}
	return out, nil
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
