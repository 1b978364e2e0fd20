package core_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// This file tests store operations: the offer of a paid order to its store, accepting, rejecting and
// re-routing it (with its stock), the pickup counter (codes, tokens, failure limits, audit), the
// shopper's cancellation, counter returns and staff accounts. Its helpers are prefixed so.

// soLat and soLng are where S01 stands; the other stores stand north (+) or south (−) of it.
// 0.009° of latitude is about 1 km.
const soLat, soLng = 31.2300, 121.4700

// soStores are the stores of every test here.
var soStores = []struct {
	code   string
	dLat   float64
	closed bool
	noEgg  bool
}{
	{"S01", 0, false, false},
	{"S02", 0.009, false, false},  // 1 km
	{"S03", -0.0045, false, true}, // 0.5 km, but it sells no eggs
	{"S04", 0.0027, true, false},  // 0.3 km, closed
	{"S07", -0.027, false, false}, // 3 km south
	{"S05", 0.036, false, false},  // 4 km
	{"S06", 0.054, false, false},  // 6 km: beyond the re-route radius of S01, 2 km from S05
}

const (
	soAcceptTimeout = 5 * time.Minute
	soPickupTTL     = 24 * time.Hour
	soFailLimit     = 3
	soFailEvery     = time.Minute
	soStart         = 10 // units of each product at each store that sells it
	soPassword      = "correct-horse-battery"
	soProvider      = "paytest"
)

var (
	soMilkEgg = []core.ItemInput{{SKU: "MILK", Qty: 2}, {SKU: "EGG", Qty: 1}} // 2×1590 + 1980 = 5160 fen
	soMilk    = []core.ItemInput{{SKU: "MILK", Qty: 1}}
)

type soEnv struct {
	*fixture
	gw *chGateway
}

// soSetup opens the service with store-operation settings, the stores of soStores stocked with soStart
// of each product they sell, and a payment provider double that can refund.
func soSetup(t testing.TB, db *models.DB) *soEnv {
	t.Helper()
	f := newFixture(db, func(o *core.Options) {
		o.DeliveryRadiusM, o.PasswordCost, o.AcceptTimeout, o.RerouteRadiusM = 3000, 4, soAcceptTimeout, 5000
		o.PickupTTL, o.PickupFailLimit, o.PickupFailEvery = soPickupTTL, soFailLimit, soFailEvery
	})
	hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "MILK", Name: "牛奶", PriceFen: 1590}))
	hubtest.Must(f.svc.Catalog.PutProduct(f.ctx, catalog.ProductInput{SKU: "EGG", Name: "鸡蛋", PriceFen: 1980}))
	for _, s := range soStores {
		in := catalog.StoreInput{Code: s.code, Name: "店 " + s.code, Lat: soLat + s.dLat, Lng: soLng}
		if s.closed {
			in.Status = "closed"
		}
		hubtest.Must(f.svc.Catalog.PutStore(f.ctx, in))
		hubtest.Must(f.svc.Catalog.SetStock(f.ctx, s.code, "MILK", soStart, "test"))
		if !s.noEgg {
			hubtest.Must(f.svc.Catalog.SetStock(f.ctx, s.code, "EGG", soStart, "test"))
		}
	}
	return &soEnv{fixture: f, gw: chNewGateway(f, soProvider)}
}

// clerk creates a staff account (a clerk of store, or an admin when store is empty), signs it in for
// the store API and returns the actor its token authenticates as.
func (e *soEnv) clerk(t testing.TB, username, store string) staff.Actor {
	t.Helper()
	role := staff.RoleClerk
	if store == "" {
		role = staff.RoleAdmin
	}
	hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: username, Password: soPassword, Role: role, Store: store}))
	login := hubtest.Must(e.svc.Staff.SignIn(e.ctx, username, soPassword, staff.SessionAPI))
	return hubtest.Must(e.svc.Staff.Authenticate(e.ctx, login.Token, staff.SessionAPI))
}

// paid places an order at store and pays it through soProvider.
func (e *soEnv) paid(t testing.TB, member int64, store string, items []core.ItemInput) core.OrderView {
	t.Helper()
	o := hubtest.Must(e.svc.CreateOrder(e.ctx, member, core.OrderInput{Store: store, Fulfillment: core.FulfillmentPickup, Items: items}))
	if r := chPay(e.fixture, soProvider, o, "T-"+o.OrderNo); r != core.PaymentApplied {
		t.Fatalf("paying order %s: %s", o.OrderNo, r)
	}
	return o
}

// view returns an order as an admin sees it at the store.
func (e *soEnv) view(t testing.TB, orderNo string) core.StoreOrderView {
	t.Helper()
	v, err := e.svc.StoreOrder(e.ctx, staff.AdminTokenActor, orderNo)
	if err != nil {
		t.Fatalf("order %s: %v", orderNo, err)
	}
	return v
}

// soHeld says how many units of each product (by store, then SKU) the paid orders hold.
type soHeld map[string]map[string]int64

// checkStock checks every store's stock: what it started with less what the paid orders hold there,
// nothing reserved, nothing negative, and the units across all stores plus those held add up to the start.
func (e *soEnv) checkStock(t testing.TB, why string, held soHeld) {
	t.Helper()
	var total, want int64
	for _, s := range soStores {
		for _, sku := range []string{"MILK", "EGG"} {
			start := int64(soStart)
			if sku == "EGG" && s.noEgg {
				start = 0
			}
			st := hubtest.Must(e.svc.Catalog.Stock(e.ctx, s.code, sku))
			if w := start - held[s.code][sku]; st.OnHand != w || st.Reserved != 0 {
				t.Fatalf("%s: %s %s on hand %d reserved %d, want %d and 0", why, s.code, sku, st.OnHand, st.Reserved, w)
			}
			total += st.OnHand + held[s.code][sku]
			want += start
		}
	}
	if total != want {
		t.Fatalf("%s: units on hand plus units sold = %d, want %d", why, total, want)
	}
	if n := e.count(t, "stocks", "on_hand < 0 OR reserved < 0 OR reserved > on_hand"); n != 0 {
		t.Fatalf("%s: %d stock rows out of bounds", why, n)
	}
}

// heldAt is what an order of items holds at one store.
func heldAt(store string, items []core.ItemInput) soHeld {
	m := map[string]int64{}
	for _, it := range items {
		m[it.SKU] += it.Qty
	}
	return soHeld{store: m}
}

// events returns the payloads of the events of a topic about an order.
func (e *soEnv) events(t testing.TB, topic, orderNo string) []map[string]any {
	t.Helper()
	var rows []models.Event
	if err := e.db.Conn(e.ctx).Where("topic = ? AND key = ?", topic, orderNo).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]map[string]any, len(rows))
	for i, r := range rows {
		if err := json.Unmarshal([]byte(r.Payload), &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// soOffer is the part of an offer the tests compare.
type soOffer struct{ Store, Outcome, Actor, Reason string }

func (e *soEnv) offers(t testing.TB, orderNo string) []soOffer {
	t.Helper()
	var out []soOffer
	for _, o := range hubtest.Must(e.svc.StoreOrder(e.ctx, staff.AdminTokenActor, orderNo)).Offers {
		if (o.Outcome == "offered") != (o.DecidedAt == nil) {
			t.Fatalf("order %s: offer %+v: decided_at does not match the outcome", orderNo, o)
		}
		out = append(out, soOffer{o.Store, o.Outcome, o.Actor, o.Reason})
	}
	return out
}

func (e *soEnv) wantOffers(t testing.TB, orderNo string, want ...soOffer) {
	t.Helper()
	if got := e.offers(t, orderNo); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("offers of %s = %+v, want %+v", orderNo, got, want)
	}
}

// wantErr fails unless err wraps want.
func wantErr(t testing.TB, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

// ---- offer, accept, reject, re-route ----

func TestPaidOrderIsOfferedAndAccepted(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1, c2 := e.clerk(t, "c1", "S01"), e.clerk(t, "c2", "S02")
		alice := e.member(t, "alice")
		o := hubtest.Must(e.svc.CreateOrder(e.ctx, alice, core.OrderInput{Store: "S01", Fulfillment: core.FulfillmentPickup, Items: soMilk}))
		if st := hubtest.Must(e.svc.Catalog.Stock(e.ctx, "S01", "MILK")); st.OnHand != soStart || st.Reserved != 1 {
			t.Fatalf("unpaid: stock %+v, want 1 reserved", st)
		}
		if got := hubtest.Must(e.svc.StoreOrders(e.ctx, c1, "", "")); len(got) != 0 {
			t.Fatalf("an unpaid order is in the store's list: %+v", got)
		}
		e.clock.Add(time.Minute)
		paidAt := e.clock.Now()
		chPay(e.fixture, soProvider, o, "T1")
		e.checkStock(t, "paid", heldAt("S01", soMilk))

		v := hubtest.Must(e.svc.StoreOrder(e.ctx, c1, o.OrderNo))
		if v.Status != core.StatusPaid || v.Store != "S01" || v.AcceptBy == nil || !v.AcceptBy.Equal(paidAt.Add(soAcceptTimeout)) {
			t.Fatalf("paid order = %+v (accept by %v), want paid at S01, to accept by %v", v.OrderView, v.AcceptBy, paidAt.Add(soAcceptTimeout))
		}
		e.wantOffers(t, o.OrderNo, soOffer{"S01", "offered", "", ""})
		if l := hubtest.Must(e.svc.StoreOrders(e.ctx, c1, "", "paid")); len(l) != 1 || l[0].OrderNo != o.OrderNo {
			t.Fatalf("S01's paid orders = %+v", l)
		}
		if l := hubtest.Must(e.svc.StoreOrders(e.ctx, c2, "", "")); len(l) != 0 {
			t.Fatalf("S02 lists another store's order: %+v", l)
		}

		// Another store's clerk neither sees nor decides it; nobody signed in does nothing.
		_, err := e.svc.AcceptOrder(e.ctx, c2, o.OrderNo)
		wantErr(t, "accept by another store", err, domain.ErrNotFound)
		_, err = e.svc.RejectOrder(e.ctx, c2, o.OrderNo, "no")
		wantErr(t, "reject by another store", err, domain.ErrNotFound)
		_, err = e.svc.StoreOrder(e.ctx, c2, o.OrderNo) // the only door to an order's offers
		wantErr(t, "view (and offers) by another store", err, domain.ErrNotFound)
		_, err = e.svc.StoreOrders(e.ctx, c2, "S01", "")
		wantErr(t, "another store's list", err, domain.ErrNotFound)
		_, err = e.svc.AcceptOrder(e.ctx, staff.Actor{}, o.OrderNo)
		wantErr(t, "accept unsigned", err, domain.ErrUnauthenticated)

		a := hubtest.Must(e.svc.AcceptOrder(e.ctx, c1, o.OrderNo))
		if a.Status != core.StatusAccepted || a.Store != "S01" {
			t.Fatalf("accepted = %+v", a)
		}
		if v := hubtest.Must(e.svc.StoreOrder(e.ctx, c1, o.OrderNo)); v.AcceptBy != nil {
			t.Fatalf("an accepted order still has a deadline %v", v.AcceptBy)
		}
		e.wantOffers(t, o.OrderNo, soOffer{"S01", "accepted", "c1", ""})
		if ev := e.events(t, "order.accepted", o.OrderNo); len(ev) != 1 || ev[0]["store"] != "S01" || ev[0]["by"] != "c1" {
			t.Fatalf("order.accepted events = %v", ev)
		}
		_, err = e.svc.AcceptOrder(e.ctx, c1, o.OrderNo)
		wantErr(t, "accept twice", err, domain.ErrConflict)
		_, err = e.svc.RejectOrder(e.ctx, c1, o.OrderNo, "too late")
		wantErr(t, "reject an accepted order", err, domain.ErrConflict)

		// An accepted order never times out.
		e.clock.Add(2 * soAcceptTimeout)
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 0 {
			t.Fatalf("RerouteDue moved %d accepted orders", n)
		}
		e.checkStock(t, "accepted", heldAt("S01", soMilk))
	})
}

func TestRejectedOrderMovesToTheNearestStoreWithEveryItem(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		msgr := chNewMessenger(e.fixture, "sandbox")
		c1, c2 := e.clerk(t, "c1", "S01"), e.clerk(t, "c2", "S02")
		alice := e.member(t, "alice")
		o := e.paid(t, alice, "S01", soMilkEgg)

		for _, reason := range []string{"", "  ", strings.Repeat("长", 81)} {
			_, err := e.svc.RejectOrder(e.ctx, c1, o.OrderNo, reason)
			wantErr(t, fmt.Sprintf("reject with reason %q", reason), err, domain.ErrInvalidArgument)
		}
		e.clock.Add(time.Minute)
		v := hubtest.Must(e.svc.RejectOrder(e.ctx, c1, o.OrderNo, " 冷柜坏了 "))
		// S04 is nearer but closed, S03 nearer but has no eggs: S02.
		if v.Status != core.StatusPaid || v.Store != "S02" {
			t.Fatalf("rejected order = %+v, want paid at S02", v)
		}
		e.checkStock(t, "after the move", heldAt("S02", soMilkEgg))
		if n := e.count(t, "stock_movements", "order_no = ? AND kind IN ?", o.OrderNo, []string{"reroute_in", "reroute_out"}); n != 4 {
			t.Fatalf("%d re-route stock movements, want 4 (two products out of S01, into S02)", n)
		}
		ev := e.events(t, "order.rerouted", o.OrderNo)
		if len(ev) != 1 || ev[0]["from"] != "S01" || ev[0]["to"] != "S02" || ev[0]["reason"] != "rejected: 冷柜坏了" {
			t.Fatalf("order.rerouted events = %v", ev)
		}
		tasks := chTasks(t, e.fixture, o.OrderNo, "message")
		if len(tasks) != 1 || !strings.Contains(tasks[0].Payload, string(core.MessageRerouted)) || tasks[0].Target != "sandbox" {
			t.Fatalf("message tasks = %+v, want one order_rerouted", tasks)
		}
		hubtest.Must(e.svc.ProcessTasks(e.ctx, 10))
		if _, sent := msgr.state(); len(sent) != 1 || sent[0].Kind != core.MessageRerouted || sent[0].To != "alice" || sent[0].StoreName != "店 S02" {
			t.Fatalf("messages sent = %+v, want one about the move to S02", sent)
		}
		sv := hubtest.Must(e.svc.StoreOrder(e.ctx, c2, o.OrderNo))
		if sv.AcceptBy == nil || !sv.AcceptBy.Equal(e.clock.Now().Add(soAcceptTimeout)) {
			t.Fatalf("at S02 the order is to be accepted by %v, want %v", sv.AcceptBy, e.clock.Now().Add(soAcceptTimeout))
		}
		// The order is no longer S01's: its clerk no longer finds it.
		_, err := e.svc.AcceptOrder(e.ctx, c1, o.OrderNo)
		wantErr(t, "S01 accepts the order it rejected", err, domain.ErrNotFound)

		a := hubtest.Must(e.svc.AcceptOrder(e.ctx, c2, o.OrderNo))
		if a.Status != core.StatusAccepted || a.Store != "S02" {
			t.Fatalf("accepted at S02 = %+v", a)
		}
		e.wantOffers(t, o.OrderNo, soOffer{"S01", "rejected", "c1", "冷柜坏了"}, soOffer{"S02", "accepted", "c2", ""})
		if ev := e.events(t, "order.accepted", o.OrderNo); len(ev) != 1 || ev[0]["store"] != "S02" {
			t.Fatalf("order.accepted events = %v", ev)
		}
		e.checkStock(t, "accepted at S02", heldAt("S02", soMilkEgg))
		// A milk-only order goes to S03, the nearest open store that has milk.
		m := e.paid(t, alice, "S01", soMilk)
		if v := hubtest.Must(e.svc.RejectOrder(e.ctx, c1, m.OrderNo, "no staff")); v.Store != "S03" {
			t.Fatalf("a milk-only order moved to %s, want S03", v.Store)
		}
	})
}

func TestUnacceptedOrderMovesOnAfterTheDeadline(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		alice := e.member(t, "alice")
		o := e.paid(t, alice, "S01", soMilkEgg)
		e.clock.Add(soAcceptTimeout - time.Second)
		later := e.paid(t, alice, "S01", soMilkEgg)
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 0 {
			t.Fatalf("RerouteDue moved %d orders before their deadline", n)
		}
		e.clock.Add(time.Second)
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 1 {
			t.Fatalf("RerouteDue at the deadline moved %d orders, want 1", n)
		}
		if v := e.view(t, o.OrderNo); v.Store != "S02" || v.Status != core.StatusPaid || !v.AcceptBy.Equal(e.clock.Now().Add(soAcceptTimeout)) {
			t.Fatalf("timed-out order = %+v (accept by %v), want paid at S02 with a new deadline", v.OrderView, v.AcceptBy)
		}
		if v := e.view(t, later.OrderNo); v.Store != "S01" {
			t.Fatalf("an order not yet due moved to %s", v.Store)
		}
		e.wantOffers(t, o.OrderNo, soOffer{"S01", "timeout", "system", "not accepted within 5m0s"}, soOffer{"S02", "offered", "", ""})
		if ev := e.events(t, "order.rerouted", o.OrderNo); len(ev) != 1 || ev[0]["reason"] != "not accepted in time" {
			t.Fatalf("order.rerouted events = %v", ev)
		}
		held := soHeld{"S01": {"MILK": 2, "EGG": 1}, "S02": {"MILK": 2, "EGG": 1}}
		e.checkStock(t, "after one timeout", held)

		// Until the new deadline nothing moves again.
		for _, d := range []time.Duration{0, soAcceptTimeout / 2, soAcceptTimeout/2 - 2*time.Second} {
			e.clock.Add(d)
			if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 0 {
				t.Fatalf("RerouteDue moved %d orders before the new deadline", n)
			}
		}
		if n := len(e.events(t, "order.rerouted", o.OrderNo)); n != 1 {
			t.Fatalf("%d order.rerouted events, want 1", n)
		}
		e.checkStock(t, "before the second deadline", held)
		// later's deadline passed meanwhile; at o's next deadline it moves on too.
		e.clock.Add(2 * time.Second)
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 2 {
			t.Fatalf("RerouteDue moved %d orders, want 2", n)
		}
		if v := e.view(t, o.OrderNo); v.Store != "S07" {
			t.Fatalf("after a second timeout the order is at %s, want S07", v.Store)
		}
		e.checkStock(t, "after the second timeout", soHeld{"S02": {"MILK": 2, "EGG": 1}, "S07": {"MILK": 2, "EGG": 1}})
	})
}

// soHop is one step of an order through the stores: how the store it is at lets it go, and where it goes.
type soHop struct {
	how  string // reject or timeout
	next string // the store it then waits at; "" when it is refunded
}

func TestOrderWithNoStoreLeftIsRefunded(t *testing.T) {
	t.Parallel()
	addrLat, addrLng := soLat+0.0135, soLng // 1.5 km north of S01, 0.5 km north of S02
	cases := []struct {
		name     string
		delivery bool
		hops     []soHop
		offers   []string
	}{
		// A pickup order moves within 5 km of S01 (not of the store it is at): S06 is 2 km from S05 but
		// 6 km from S01. S03 (no eggs) and S04 (closed) are never chosen.
		{"pickup", false, []soHop{{"reject", "S02"}, {"timeout", "S07"}, {"reject", "S05"}, {"reject", ""}},
			[]string{"S01 rejected", "S02 timeout", "S07 rejected", "S05 rejected"}},
		// A delivery order moves within 3 km of the address: S05 is 2.5 km from it, S07 4.5 km.
		{"delivery", true, []soHop{{"timeout", "S02"}, {"reject", "S05"}, {"timeout", ""}},
			[]string{"S01 timeout", "S02 rejected", "S05 timeout"}},
	}
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		clerks := map[string]staff.Actor{}
		for _, s := range soStores {
			clerks[s.code] = e.clerk(t, "c-"+strings.ToLower(s.code), s.code)
		}
		alice := e.member(t, "alice")
		for _, tc := range cases {
			in := core.OrderInput{Store: "S01", Fulfillment: core.FulfillmentPickup, Items: soMilkEgg}
			if tc.delivery {
				in.Fulfillment, in.Address = core.FulfillmentDelivery, &core.AddressInput{Text: "南京东路1号", Lat: &addrLat, Lng: &addrLng}
			}
			o := hubtest.Must(e.svc.CreateOrder(e.ctx, alice, in))
			chPay(e.fixture, soProvider, o, "T-"+tc.name)
			at := "S01"
			for i, h := range tc.hops {
				switch h.how {
				case "reject":
					hubtest.Must(e.svc.RejectOrder(e.ctx, clerks[at], o.OrderNo, "缺货"))
				case "timeout":
					e.clock.Add(soAcceptTimeout)
					if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 1 {
						t.Fatalf("%s hop %d: RerouteDue moved %d orders", tc.name, i, n)
					}
				}
				v := e.view(t, o.OrderNo)
				if h.next == "" {
					if v.Status != core.StatusRefunding || v.Store != at {
						t.Fatalf("%s hop %d: order = %+v, want refunding at %s", tc.name, i, v.OrderView, at)
					}
					e.checkStock(t, tc.name+": refunded", nil)
					break
				}
				if v.Status != core.StatusPaid || v.Store != h.next {
					t.Fatalf("%s hop %d: order is %s at %s, want paid at %s", tc.name, i, v.Status, v.Store, h.next)
				}
				e.checkStock(t, fmt.Sprintf("%s hop %d", tc.name, i), heldAt(h.next, soMilkEgg))
				at = h.next
			}
			var got []string
			for _, of := range e.offers(t, o.OrderNo) {
				got = append(got, of.Store+" "+of.Outcome)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.offers) {
				t.Fatalf("%s: offers %v, want %v", tc.name, got, tc.offers)
			}
			ev := e.events(t, "order.unfulfillable", o.OrderNo)
			if len(ev) != 1 || ev[0]["last_store"] != at {
				t.Fatalf("%s: order.unfulfillable events = %v, want one from %s", tc.name, ev, at)
			}
			var refunds []models.Refund
			if err := e.db.Conn(e.ctx).Where("order_id = (SELECT id FROM orders WHERE order_no = ?)", o.OrderNo).Find(&refunds).Error; err != nil {
				t.Fatal(err)
			}
			if len(refunds) != 1 || refunds[0].AmountFen != o.TotalFen || refunds[0].Provider != soProvider ||
				refunds[0].ProviderTxn != "T-"+tc.name || refunds[0].Status != "requested" {
				t.Fatalf("%s: refunds = %+v, want one of %d fen requested through %s", tc.name, refunds, o.TotalFen, soProvider)
			}
			if ev := e.events(t, "order.rerouted", o.OrderNo); len(ev) != len(tc.hops)-1 {
				t.Fatalf("%s: %d order.rerouted events, want %d", tc.name, len(ev), len(tc.hops)-1)
			}
			// The refund worker sends it; the order ends refunded.
			if n := hubtest.Must(e.svc.ProcessRefunds(e.ctx, 10)); n != 1 {
				t.Fatalf("%s: the refund worker took %d refunds", tc.name, n)
			}
			if st := chStatus(t, e.fixture, o.OrderNo); st != core.StatusRefunded {
				t.Fatalf("%s: after the refund the order is %s", tc.name, st)
			}
			if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 0 {
				t.Fatalf("%s: RerouteDue moved a refunded order", tc.name)
			}
		}
		if reqs := e.gw.refundReqs(); len(reqs) != 2 || reqs[0].AmountFen != 5160 || reqs[1].AmountFen != 5160 {
			t.Fatalf("the provider got refunds %+v, want two of 5160 fen", reqs)
		}
		if n := e.count(t, "order_offers", "store_id IN (SELECT id FROM stores WHERE code IN ?)", []string{"S03", "S04", "S06"}); n != 0 {
			t.Fatalf("%d offers to S03, S04 or S06", n)
		}
	})
}

func TestAutoAcceptStoreTakesOrdersAtOnce(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		sv := hubtest.Must(e.svc.Catalog.PutStore(e.ctx, catalog.StoreInput{Code: "S02", Name: "店 S02", Lat: soLat + 0.009, Lng: soLng, AutoAccept: true}))
		if !sv.AutoAccept {
			t.Fatalf("store = %+v, want auto-accept", sv)
		}
		c1 := e.clerk(t, "c1", "S01")
		alice := e.member(t, "alice")

		direct := e.paid(t, alice, "S02", soMilk)
		if v := e.view(t, direct.OrderNo); v.Status != core.StatusAccepted || v.AcceptBy != nil {
			t.Fatalf("order paid at an auto-accept store = %+v (accept by %v), want accepted", v.OrderView, v.AcceptBy)
		}
		e.wantOffers(t, direct.OrderNo, soOffer{"S02", "accepted", "auto-accept", ""})
		if ev := e.events(t, "order.accepted", direct.OrderNo); len(ev) != 1 || ev[0]["store"] != "S02" {
			t.Fatalf("order.accepted events = %v", ev)
		}

		rejected := e.paid(t, alice, "S01", soMilkEgg)
		if v := hubtest.Must(e.svc.RejectOrder(e.ctx, c1, rejected.OrderNo, "busy")); v.Status != core.StatusAccepted || v.Store != "S02" {
			t.Fatalf("order rejected towards an auto-accept store = %+v, want accepted at S02", v)
		}
		e.wantOffers(t, rejected.OrderNo, soOffer{"S01", "rejected", "c1", "busy"}, soOffer{"S02", "accepted", "auto-accept", ""})

		late := e.paid(t, alice, "S01", soMilkEgg)
		e.clock.Add(soAcceptTimeout)
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 1 {
			t.Fatalf("RerouteDue moved %d orders", n)
		}
		if v := e.view(t, late.OrderNo); v.Status != core.StatusAccepted || v.Store != "S02" {
			t.Fatalf("timed-out order = %+v, want accepted at S02", v.OrderView)
		}
		e.checkStock(t, "auto-accepted", soHeld{"S02": {"MILK": 5, "EGG": 2}})
	})
}

func TestConcurrentRerouteWorkersMoveEachOrderOnce(t *testing.T) {
	t.Parallel()
	const orders, workers = 24, 8
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		for _, sku := range []string{"MILK", "EGG"} {
			hubtest.Must(e.svc.Catalog.SetStock(e.ctx, "S01", sku, 3*orders, "test"))
			hubtest.Must(e.svc.Catalog.SetStock(e.ctx, "S02", sku, orders, "test")) // exactly enough
		}
		alice := e.member(t, "alice")
		items := []core.ItemInput{{SKU: "MILK", Qty: 1}, {SKU: "EGG", Qty: 1}}
		var nos []string
		for range orders {
			nos = append(nos, e.paid(t, alice, "S01", items).OrderNo)
		}
		e.clock.Add(soAcceptTimeout)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		start := make(chan struct{})
		for range workers {
			goSweep(t, &wg, start, &mu, &total, func() (int, error) { return e.svc.RerouteDue(e.ctx, 5) })
		}
		close(start)
		wg.Wait()
		if total != orders {
			t.Fatalf("workers re-routed %d orders, want %d", total, orders)
		}
		if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 100)); n != 0 {
			t.Fatalf("%d orders left to re-route", n)
		}
		for _, no := range nos {
			if n := len(e.events(t, "order.rerouted", no)); n != 1 {
				t.Fatalf("order %s: %d order.rerouted events", no, n)
			}
			if v := e.view(t, no); v.Store != "S02" || v.Status != core.StatusPaid {
				t.Fatalf("order %s is %s at %s", no, v.Status, v.Store)
			}
			e.wantOffers(t, no, soOffer{"S01", "timeout", "system", "not accepted within 5m0s"}, soOffer{"S02", "offered", "", ""})
		}
		for _, sku := range []string{"MILK", "EGG"} {
			if st := hubtest.Must(e.svc.Catalog.Stock(e.ctx, "S01", sku)); st.OnHand != 3*orders || st.Reserved != 0 {
				t.Fatalf("S01 %s = %+v, want all %d back", sku, st, 3*orders)
			}
			if st := hubtest.Must(e.svc.Catalog.Stock(e.ctx, "S02", sku)); st.OnHand != 0 || st.Reserved != 0 {
				t.Fatalf("S02 %s = %+v, want every unit taken once", sku, st)
			}
		}
		if n := e.count(t, "stock_movements", "kind = ?", "reroute_in"); n != 2*orders {
			t.Fatalf("%d reroute_in movements, want %d", n, 2*orders)
		}
		if n := e.count(t, "stocks", "on_hand < 0 OR reserved < 0"); n != 0 {
			t.Fatalf("%d negative stock rows", n)
		}
	})
}

func TestRejectRacingAcceptOneWins(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1, c1b := e.clerk(t, "c1", "S01"), e.clerk(t, "c1b", "S01")
		alice := e.member(t, "alice")
		held := soHeld{"S01": {}, "S02": {}}
		for round := range 6 {
			o := e.paid(t, alice, "S01", soMilk)
			var wg sync.WaitGroup
			var acceptErr, rejectErr error
			start := make(chan struct{})
			wg.Add(2)
			go func() {
				defer wg.Done()
				<-start
				_, acceptErr = e.svc.AcceptOrder(e.ctx, c1, o.OrderNo)
			}()
			go func() {
				defer wg.Done()
				<-start
				_, rejectErr = e.svc.RejectOrder(e.ctx, c1b, o.OrderNo, "sold out")
			}()
			close(start)
			wg.Wait()
			if (acceptErr == nil) == (rejectErr == nil) {
				t.Fatalf("round %d: accept → %v, reject → %v; want exactly one to win", round, acceptErr, rejectErr)
			}
			v := e.view(t, o.OrderNo)
			moved := len(e.events(t, "order.rerouted", o.OrderNo))
			if acceptErr == nil {
				wantErr(t, fmt.Sprintf("round %d: the losing reject", round), rejectErr, domain.ErrConflict)
				if v.Status != core.StatusAccepted || v.Store != "S01" || moved != 0 {
					t.Fatalf("round %d: accept won but the order is %s at %s with %d moves", round, v.Status, v.Store, moved)
				}
				held["S01"]["MILK"]++
			} else {
				// The order moved on to S03, so to S01's clerk it is another store's order: not found,
				// as handlers/store_test.go expects of a clerk acting on an order that left their store.
				wantErr(t, fmt.Sprintf("round %d: the losing accept", round), acceptErr, domain.ErrNotFound)
				if v.Status != core.StatusPaid || v.Store != "S03" || moved != 1 {
					t.Fatalf("round %d: reject won but the order is %s at %s with %d moves", round, v.Status, v.Store, moved)
				}
				held["S03"] = map[string]int64{"MILK": held["S03"]["MILK"] + 1}
			}
			e.checkStock(t, fmt.Sprintf("round %d", round), held)
		}
		t.Logf("accept won %d rounds, reject %d", held["S01"]["MILK"], held["S03"]["MILK"])
	})
}

// ---- pickup codes ----

var soCodePattern = regexp.MustCompile(`^[0-9]{8}$`)

// ready places, pays, accepts and prepares a pickup order at S01 and returns the shopper's pickup view.
func (e *soEnv) ready(t testing.TB, member int64, clerk staff.Actor, items []core.ItemInput) core.PickupView {
	t.Helper()
	o := e.paid(t, member, "S01", items)
	hubtest.Must(e.svc.AcceptOrder(e.ctx, clerk, o.OrderNo))
	if v := hubtest.Must(e.svc.MarkReady(e.ctx, clerk, o.OrderNo)); v.Status != core.StatusReady {
		t.Fatalf("marked ready: %+v", v)
	}
	return hubtest.Must(e.svc.Pickup(e.ctx, member, o.OrderNo))
}

// wrongCode returns an 8-digit code that is not code.
func wrongCode(code string, i int) string {
	w := fmt.Sprintf("%08d", 10000000+i*7919)
	if w == code {
		w = fmt.Sprintf("%08d", 20000000+i)
	}
	return w
}

// attempts returns the audit of a store's counter, oldest first, as "staff action result failed".
func (e *soEnv) attempts(t testing.TB, store string) []string {
	t.Helper()
	var rows []models.PickupAttempt
	if err := e.db.Conn(e.ctx).Where("store_id = (SELECT id FROM stores WHERE code = ?)", store).Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%s %s %s %v", r.Staff, r.Action, r.Result, r.Failed)
		if soCodePattern.MatchString(r.Code) {
			t.Fatalf("the audit keeps a whole code: %+v", r)
		}
	}
	return out
}

func TestPickupCodeAtTheCounter(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1, c1b, c2 := e.clerk(t, "c1", "S01"), e.clerk(t, "c1b", "S01"), e.clerk(t, "c2", "S02")
		alice, bob := e.member(t, "alice"), e.member(t, "bob")

		o := e.paid(t, alice, "S01", soMilkEgg)
		_, err := e.svc.Pickup(e.ctx, alice, o.OrderNo)
		wantErr(t, "pickup code before ready", err, domain.ErrConflict)
		hubtest.Must(e.svc.AcceptOrder(e.ctx, c1, o.OrderNo))
		_, err = e.svc.MarkReady(e.ctx, c2, o.OrderNo)
		wantErr(t, "ready by another store", err, domain.ErrNotFound)
		hubtest.Must(e.svc.MarkReady(e.ctx, c1, o.OrderNo))
		if ev := e.events(t, "order.ready", o.OrderNo); len(ev) != 1 {
			t.Fatalf("order.ready events = %v", ev)
		}
		_, err = e.svc.Pickup(e.ctx, bob, o.OrderNo)
		wantErr(t, "someone else's pickup code", err, domain.ErrNotFound)

		pv := hubtest.Must(e.svc.Pickup(e.ctx, alice, o.OrderNo))
		if !soCodePattern.MatchString(pv.Code) || !strings.HasPrefix(pv.Token, "OP1-") || !bytes.HasPrefix(pv.QRPNG, []byte("\x89PNG\r\n\x1a\n")) ||
			pv.Store.Code != "S01" || !pv.ExpiresAt.Equal(e.clock.Now().Add(soPickupTTL)) {
			t.Fatalf("pickup view = code %q token %q png %d bytes store %s expires %v", pv.Code, pv.Token, len(pv.QRPNG), pv.Store.Code, pv.ExpiresAt)
		}
		if n := e.count(t, "pickup_codes", "state = ?", "live"); n != 1 {
			t.Fatalf("%d live codes, want 1", n)
		}

		// Another store's clerk: unknown, exactly as a code that does not exist.
		_, err = e.svc.VerifyPickup(e.ctx, c2, "", pv.Code)
		wantErr(t, "another store's code", err, core.ErrCodeUnknown)
		_, err = e.svc.VerifyPickup(e.ctx, c2, "", pv.Token)
		wantErr(t, "another store's token", err, core.ErrCodeUnknown)
		_, err = e.svc.VerifyPickup(e.ctx, c2, "S01", pv.Code)
		wantErr(t, "a clerk at another store's counter", err, domain.ErrNotFound)
		_, err = e.svc.ConfirmPickup(e.ctx, c2, "", pv.Code)
		wantErr(t, "confirm at another store", err, core.ErrCodeUnknown)

		for _, in := range []string{pv.Code, " " + pv.Token + " ", strings.ToLower(pv.Token)} {
			chk, err := e.svc.VerifyPickup(e.ctx, c1, "", in)
			if err != nil {
				t.Fatalf("verify %q: %v", in, err)
			}
			if chk.OrderNo != o.OrderNo || chk.Status != core.StatusReady || chk.Store != "S01" || chk.TotalFen != o.TotalFen || len(chk.Items) != 2 {
				t.Fatalf("verify %q = %+v", in, chk)
			}
		}
		// A forged or altered token is unknown; so is a malformed code (refused as invalid).
		forged := pv.Token[:len(pv.Token)-1] + map[bool]string{true: "B", false: "A"}[strings.HasSuffix(pv.Token, "A")]
		_, err = e.svc.VerifyPickup(e.ctx, c1b, "", forged)
		wantErr(t, "forged token", err, core.ErrCodeUnknown)
		other := strings.Replace(pv.Token, pv.Code, wrongCode(pv.Code, 1), 1)
		_, err = e.svc.ConfirmPickup(e.ctx, c1b, "", other)
		wantErr(t, "token for another code", err, core.ErrCodeUnknown)
		_, err = e.svc.VerifyPickup(e.ctx, c1b, "", "12ab")
		wantErr(t, "malformed code", err, domain.ErrInvalidArgument)
		if st := chStatus(t, e.fixture, o.OrderNo); st != core.StatusReady {
			t.Fatalf("failed attempts moved the order to %s", st)
		}

		done := hubtest.Must(e.svc.ConfirmPickup(e.ctx, c1, "", pv.Token))
		if done.Status != core.StatusCompleted {
			t.Fatalf("confirmed = %+v", done)
		}
		if ev := e.events(t, "order.completed", o.OrderNo); len(ev) != 1 || ev[0]["by"] != "c1" {
			t.Fatalf("order.completed events = %v", ev)
		}
		_, err = e.svc.ConfirmPickup(e.ctx, c1, "", pv.Code)
		wantErr(t, "confirm twice", err, core.ErrCodeUsed)
		_, err = e.svc.Pickup(e.ctx, alice, o.OrderNo)
		wantErr(t, "pickup code of a collected order", err, core.ErrCodeUsed)
		e.checkStock(t, "collected", heldAt("S01", soMilkEgg))

		// Failures of signed tokens do not count against the limits (they cannot be guessed).
		want := []string{"c1 verify ok false", "c1 verify ok false", "c1 verify ok false", "c1b verify unknown false",
			"c1b confirm unknown false", "c1b verify malformed true", "c1 confirm ok false", "c1 confirm used false"}
		if got := e.attempts(t, "S01"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("S01 audit = %q\nwant %q", got, want)
		}
		want2 := []string{"c2 verify unknown true", "c2 verify unknown false", "c2 confirm unknown true"}
		if got := e.attempts(t, "S02"); fmt.Sprint(got) != fmt.Sprint(want2) {
			t.Fatalf("S02 audit = %q\nwant %q", got, want2)
		}
	})
}

func TestPickupCodeFailureLimits(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		clerks := []staff.Actor{}
		for i := range 6 {
			clerks = append(clerks, e.clerk(t, fmt.Sprintf("c%d", i), "S01"))
		}
		c2 := e.clerk(t, "c2-s02", "S02")
		alice := e.member(t, "alice")
		pv := e.ready(t, alice, clerks[0], soMilk)
		pv2 := e.ready(t, alice, clerks[0], soMilk)
		calls := 0
		verify := func(a staff.Actor, store, in string) (core.PickupCheck, error) {
			calls++
			return e.svc.VerifyPickup(e.ctx, a, store, in)
		}
		confirm := func(a staff.Actor, in string) (core.OrderView, error) {
			calls++
			return e.svc.ConfirmPickup(e.ctx, a, "", in)
		}
		rateLimited := func(what string, err error) time.Duration {
			t.Helper()
			var de *domain.Error
			if !errors.Is(err, domain.ErrRateLimited) || !errors.As(err, &de) || de.RetryAfter <= 0 || de.RetryAfter > soFailEvery {
				t.Fatalf("%s: err = %v, want rate limited with a wait in (0, %s]", what, err, soFailEvery)
			}
			return de.RetryAfter
		}
		typos := func(c staff.Actor, n, seed int) {
			t.Helper()
			for i := range n {
				_, err := verify(c, "", wrongCode(pv.Code, seed+i))
				wantErr(t, fmt.Sprintf("%s wrong code %d", c.Username, i), err, core.ErrCodeUnknown)
			}
		}

		// One clerk: soFailLimit typos in a row, then even the right code waits, but a minute at most.
		typos(clerks[0], soFailLimit, 0)
		_, err := verify(clerks[0], "", pv.Code)
		if wait := rateLimited("right code after too many wrong ones", err); wait != soFailEvery {
			t.Fatalf("retry after %s, want %s", wait, soFailEvery)
		}
		// A scanned token is never held up by typos.
		hubtest.Must(verify(clerks[0], "", pv.Token))
		// Waiting attempts do not count: the wait does not grow.
		e.clock.Add(soFailEvery - time.Second)
		_, err = verify(clerks[0], "", pv.Code)
		if w := rateLimited("just before the wait is over", err); w != time.Second {
			t.Fatalf("retry after %s, want 1s", w)
		}
		// Another clerk of the store is not held up.
		hubtest.Must(verify(clerks[1], "", pv.Code))
		e.clock.Add(time.Second)
		hubtest.Must(verify(clerks[0], "", pv.Code))
		if st := chStatus(t, e.fixture, pv.OrderNo); st != core.StatusReady {
			t.Fatalf("order %s after limited attempts", st)
		}

		// Four clerks' typos spend the store's budget: a fifth clerk with no typos waits too, but a minute
		// at most, and her scanned token goes through at once.
		e.clock.Add(4 * soFailLimit * soFailEvery) // everything forgiven
		for c := range 4 {
			typos(clerks[c], soFailLimit, 10*(c+1))
		}
		_, err = confirm(clerks[4], pv.Code)
		if wait := rateLimited("a fresh clerk at a store with too many failures", err); wait != soFailEvery {
			t.Fatalf("the fresh clerk waits %s, want %s", wait, soFailEvery)
		}
		_, err = verify(staff.AdminTokenActor, "S01", pv2.Code)
		rateLimited("an admin at a store with too many failures", err)
		hubtest.Must(verify(clerks[4], "", pv2.Token))
		// Another store's counter is open.
		_, err = verify(c2, "", pv.Code)
		wantErr(t, "another store", err, core.ErrCodeUnknown)
		e.clock.Add(soFailEvery)
		if v := hubtest.Must(confirm(clerks[4], pv.Code)); v.Status != core.StatusCompleted {
			t.Fatalf("a minute later: %+v", v)
		}
		calls++
		hubtest.Must(e.svc.ConfirmPickup(e.ctx, clerks[5], "", pv2.Token))

		// A guesser typing a code every 5 s for 10 minutes gets soFailLimit guesses at once and one a
		// minute after (at 60 s, 120 s, … 540 s): 3 + 9.
		e.clock.Add(4 * soFailLimit * soFailEvery)
		guessed := 0
		for i := range 120 {
			_, err := verify(clerks[5], "", wrongCode(pv.Code, 1000+i))
			switch {
			case errors.Is(err, core.ErrCodeUnknown):
				guessed++
			case errors.Is(err, domain.ErrRateLimited):
			default:
				t.Fatalf("guess %d: %v", i, err)
			}
			e.clock.Add(5 * time.Second)
		}
		if guessed != soFailLimit+9 {
			t.Fatalf("a guesser got %d guesses in 10 minutes, want %d", guessed, soFailLimit+9)
		}
		// Four guessers together are held to the store's budget: 4×soFailLimit at once, one a minute after.
		e.clock.Add(4 * soFailLimit * soFailEvery)
		guessed = 0
		for i := range 120 {
			_, err := verify(clerks[i%4], "", wrongCode(pv.Code, 2000+i))
			if errors.Is(err, core.ErrCodeUnknown) {
				guessed++
			}
			e.clock.Add(5 * time.Second)
		}
		if guessed > 4*soFailLimit+9 {
			t.Fatalf("four guessers got %d guesses in 10 minutes, more than the store's %d", guessed, 4*soFailLimit+9)
		}

		// Wrong guesses sent at once do not slip past the limit: attempts at a counter take turns.
		e.clock.Add(4 * soFailLimit * soFailEvery)
		var wg sync.WaitGroup
		var mu sync.Mutex
		results := map[string]int{}
		for i := range 10 {
			wg.Add(1)
			calls++
			go func() {
				defer wg.Done()
				_, err := e.svc.VerifyPickup(e.ctx, clerks[5], "", wrongCode(pv.Code, 100+i))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case errors.Is(err, core.ErrCodeUnknown):
					results["unknown"]++
				case errors.Is(err, domain.ErrRateLimited):
					results["limited"]++
				default:
					t.Errorf("parallel guess: %v", err)
				}
			}()
		}
		wg.Wait()
		if results["unknown"] != soFailLimit || results["limited"] != 10-soFailLimit {
			t.Fatalf("parallel wrong guesses: %v, want %d unknown and the rest rate limited", results, soFailLimit)
		}

		// Three replicas on one database hold the store to one budget: four clerks, each typing at a
		// replica of its own, get 4×soFailLimit wrong codes between them, not three times that.
		e.clock.Add(4 * soFailLimit * soFailEvery)
		opts := core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 3000, PublicURL: "http://127.0.0.1/",
			PasswordCost: 4, PickupTTL: soPickupTTL, PickupFailLimit: soFailLimit, PickupFailEvery: soFailEvery}
		replicas := []*core.Service{e.svc, e.replica(opts), e.replica(opts)}
		guessed = 0
		for i := range 3 * 4 * 2 * soFailLimit {
			calls++
			_, err := replicas[i%3].VerifyPickup(e.ctx, clerks[i%4], "", wrongCode(pv.Code, 3000+i))
			if errors.Is(err, core.ErrCodeUnknown) {
				guessed++
			}
		}
		if guessed != 4*soFailLimit {
			t.Fatalf("three replicas let through %d wrong codes, want the store's budget %d", guessed, 4*soFailLimit)
		}

		// Every attempt is audited.
		if n := e.count(t, "pickup_attempts", "1 = 1"); n != int64(calls) {
			t.Fatalf("audit has %d attempts, want %d", n, calls)
		}
	})
}

func TestExpiredPickupCodeRefundsTheOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1 := e.clerk(t, "c1", "S01")
		alice := e.member(t, "alice")
		pv := e.ready(t, alice, c1, soMilkEgg)
		e.checkStock(t, "ready", heldAt("S01", soMilkEgg))
		e.clock.Add(soPickupTTL - time.Second)
		if n := hubtest.Must(e.svc.ExpirePickups(e.ctx, 10)); n != 0 {
			t.Fatalf("ExpirePickups took %d codes before their expiry", n)
		}
		hubtest.Must(e.svc.VerifyPickup(e.ctx, c1, "", pv.Code))
		e.clock.Add(time.Second)
		_, err := e.svc.VerifyPickup(e.ctx, c1, "", pv.Code)
		wantErr(t, "expired code", err, core.ErrCodeExpired)
		_, err = e.svc.ConfirmPickup(e.ctx, c1, "", pv.Token)
		wantErr(t, "expired token", err, core.ErrCodeExpired)
		_, err = e.svc.Pickup(e.ctx, alice, pv.OrderNo)
		wantErr(t, "shopper's expired code", err, core.ErrCodeExpired)
		if st := chStatus(t, e.fixture, pv.OrderNo); st != core.StatusReady {
			t.Fatalf("before the sweep the order is %s", st)
		}

		if n := hubtest.Must(e.svc.ExpirePickups(e.ctx, 10)); n != 1 {
			t.Fatalf("ExpirePickups took %d codes, want 1", n)
		}
		if n := hubtest.Must(e.svc.ExpirePickups(e.ctx, 10)); n != 0 {
			t.Fatalf("ExpirePickups took %d codes again", n)
		}
		if st := chStatus(t, e.fixture, pv.OrderNo); st != core.StatusRefunding {
			t.Fatalf("after the sweep the order is %s, want refunding", st)
		}
		e.checkStock(t, "uncollected", nil)
		if ev := e.events(t, "order.pickup_expired", pv.OrderNo); len(ev) != 1 {
			t.Fatalf("order.pickup_expired events = %v", ev)
		}
		if n := e.count(t, "refunds", "amount_fen = ? AND provider = ? AND status = ?", int64(5160), soProvider, "requested"); n != 1 {
			t.Fatalf("%d full refunds requested, want 1", n)
		}
		_, err = e.svc.VerifyPickup(e.ctx, c1, "", pv.Code)
		wantErr(t, "code of a refunded order", err, core.ErrCodeExpired)
		hubtest.Must(e.svc.ProcessRefunds(e.ctx, 10))
		if st := chStatus(t, e.fixture, pv.OrderNo); st != core.StatusRefunded {
			t.Fatalf("after the refund the order is %s", st)
		}
	})
}

func TestConcurrentPickupConfirmationOneWins(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1, c1b := e.clerk(t, "c1", "S01"), e.clerk(t, "c1b", "S01")
		alice := e.member(t, "alice")
		pv := e.ready(t, alice, c1, soMilk)
		var wg sync.WaitGroup
		var mu sync.Mutex
		won, used := 0, 0
		start := make(chan struct{})
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				a, in := c1, pv.Code
				if i%2 == 1 {
					a, in = c1b, pv.Token
				}
				<-start
				_, err := e.svc.ConfirmPickup(e.ctx, a, "", in)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won++
				case errors.Is(err, core.ErrCodeUsed):
					used++
				default:
					t.Error(err)
				}
			}()
		}
		close(start)
		wg.Wait()
		if won != 1 || used != 9 {
			t.Fatalf("%d confirmations won, %d found the code used; want 1 and 9", won, used)
		}
		if n := len(e.events(t, "order.completed", pv.OrderNo)); n != 1 {
			t.Fatalf("%d order.completed events", n)
		}
		if n := e.count(t, "pickup_attempts", "action = ? AND result = ?", "confirm", "ok"); n != 1 {
			t.Fatalf("%d successful confirmations audited", n)
		}
		if n := e.count(t, "pickup_attempts", "action = ? AND result = ? AND NOT failed", "confirm", "used"); n != 9 {
			t.Fatalf("%d used-code confirmations audited (not as failures), want 9", n)
		}
	})
}

// ---- cancellation and returns ----

func TestShopperCancelsAPaidOrder(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1 := e.clerk(t, "c1", "S01")
		alice, bob := e.member(t, "alice"), e.member(t, "bob")
		for _, accepted := range []bool{false, true} {
			o := e.paid(t, alice, "S01", soMilkEgg)
			if accepted {
				hubtest.Must(e.svc.AcceptOrder(e.ctx, c1, o.OrderNo))
			}
			_, err := e.svc.CancelOrder(e.ctx, bob, o.OrderNo)
			wantErr(t, "cancel someone else's order", err, domain.ErrNotFound)
			before := len(e.gw.refundReqs())
			v := hubtest.Must(e.svc.CancelOrder(e.ctx, alice, o.OrderNo))
			if v.Status != core.StatusRefunded && v.Status != core.StatusRefunding {
				t.Fatalf("accepted=%v: cancelled order = %+v, want refunding or refunded", accepted, v)
			}
			reqs := e.gw.refundReqs()
			if len(reqs) != before+1 || reqs[before].AmountFen != o.TotalFen || reqs[before].TransactionID != "T-"+o.OrderNo {
				t.Fatalf("accepted=%v: refunds sent %+v, want the whole %d fen of T-%s", accepted, reqs[before:], o.TotalFen, o.OrderNo)
			}
			e.checkStock(t, fmt.Sprintf("accepted=%v cancelled", accepted), nil)
			outcome := "withdrawn"
			if accepted {
				outcome = "accepted" // the decided offer stays as it was
			}
			if got := e.offers(t, o.OrderNo); len(got) != 1 || got[0].Outcome != outcome {
				t.Fatalf("accepted=%v: offers %+v, want one %s", accepted, got, outcome)
			}
			if n := e.count(t, "order_offers", "outcome = ?", "offered"); n != 0 {
				t.Fatalf("%d offers left open", n)
			}
			e.clock.Add(soAcceptTimeout)
			if n := hubtest.Must(e.svc.RerouteDue(e.ctx, 10)); n != 0 {
				t.Fatalf("RerouteDue moved a cancelled order")
			}
			_, err = e.svc.CancelOrder(e.ctx, alice, o.OrderNo)
			wantErr(t, "cancel twice", err, domain.ErrConflict)
		}
		pv := e.ready(t, alice, c1, soMilk)
		_, err := e.svc.CancelOrder(e.ctx, alice, pv.OrderNo)
		wantErr(t, "cancel a ready order", err, domain.ErrConflict)
		if st := chStatus(t, e.fixture, pv.OrderNo); st != core.StatusReady {
			t.Fatalf("a refused cancellation moved the order to %s", st)
		}
		hubtest.Must(e.svc.VerifyPickup(e.ctx, c1, "", pv.Code))
		e.checkStock(t, "ready order kept", heldAt("S01", soMilk))
	})
}

func TestCounterReturns(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		c1, c2 := e.clerk(t, "c1", "S01"), e.clerk(t, "c2", "S02")
		alice := e.member(t, "alice")
		items := []core.ItemInput{{SKU: "MILK", Qty: 3}, {SKU: "EGG", Qty: 2}} // 4770 + 3960 = 8730 fen
		pv := e.ready(t, alice, c1, items)
		_, err := e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{})
		wantErr(t, "return before collection", err, domain.ErrConflict)
		hubtest.Must(e.svc.ConfirmPickup(e.ctx, c1, "", pv.Code))
		held := heldAt("S01", items)

		bad := []struct {
			name  string
			a     staff.Actor
			items []core.ItemInput
			want  error
		}{
			{"another store", c2, []core.ItemInput{{SKU: "MILK", Qty: 1}}, domain.ErrNotFound},
			{"more than bought", c1, []core.ItemInput{{SKU: "MILK", Qty: 4}}, domain.ErrInvalidArgument},
			{"more than bought in two lines", c1, []core.ItemInput{{SKU: "EGG", Qty: 1}, {SKU: "EGG", Qty: 2}}, domain.ErrInvalidArgument},
			{"not in the order", c1, []core.ItemInput{{SKU: "TEA", Qty: 1}}, domain.ErrInvalidArgument},
			{"zero", c1, []core.ItemInput{{SKU: "MILK", Qty: 0}}, domain.ErrInvalidArgument},
		}
		for _, b := range bad {
			_, err := e.svc.ReturnItems(e.ctx, b.a, pv.OrderNo, core.ReturnInput{Items: b.items})
			wantErr(t, b.name, err, b.want)
		}
		_, err = e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{Reason: strings.Repeat("长", 81)})
		wantErr(t, "reason too long", err, domain.ErrInvalidArgument)
		e.checkStock(t, "refused returns", held)

		r1 := hubtest.Must(e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{Items: []core.ItemInput{{SKU: "MILK", Qty: 2}}, Reason: "坏了"}))
		if r1.AmountFen != 3180 || r1.OrderStatus != core.StatusCompleted || r1.Provider != soProvider || r1.Status != "succeeded" {
			t.Fatalf("first return = %+v, want 3180 fen refunded, order still completed", r1)
		}
		held["S01"]["MILK"] -= 2
		e.checkStock(t, "two back", held)
		_, err = e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{Items: []core.ItemInput{{SKU: "MILK", Qty: 2}}})
		wantErr(t, "over-return after a partial return", err, domain.ErrInvalidArgument)
		if v := hubtest.Must(e.svc.Order(e.ctx, alice, pv.OrderNo)); v.Items[0].SKU != "MILK" || v.Items[0].Returned != 2 {
			t.Fatalf("the shopper sees %+v", v.Items)
		}

		r2 := hubtest.Must(e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{}))
		if r2.AmountFen != 8730-3180 || r2.OrderStatus != core.StatusRefunded {
			t.Fatalf("the rest = %+v, want %d fen and the order refunded", r2, 8730-3180)
		}
		e.checkStock(t, "all back", nil)
		var sum int64
		for _, r := range e.gw.refundReqs() {
			sum += r.AmountFen
		}
		if sum != 8730 {
			t.Fatalf("refunds sum to %d, want 8730", sum)
		}
		if ev := e.events(t, "order.returned", pv.OrderNo); len(ev) != 2 || ev[0]["by"] != "c1" {
			t.Fatalf("order.returned events = %v", ev)
		}
		_, err = e.svc.ReturnItems(e.ctx, c1, pv.OrderNo, core.ReturnInput{})
		wantErr(t, "return after everything came back", err, domain.ErrConflict)
	})
}

// ---- staff ----

func TestStaffAccounts(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		bad := []struct {
			name string
			in   staff.Input
			want error
		}{
			{"short name", staff.Input{Username: "a", Password: soPassword, Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"upper case", staff.Input{Username: "Alice", Password: soPassword, Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"space", staff.Input{Username: "al ice", Password: soPassword, Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"leading dot", staff.Input{Username: ".alice", Password: soPassword, Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"too long", staff.Input{Username: strings.Repeat("a", 33), Password: soPassword, Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"no role", staff.Input{Username: "alice", Password: soPassword}, domain.ErrInvalidArgument},
			{"unknown role", staff.Input{Username: "alice", Password: soPassword, Role: "owner"}, domain.ErrInvalidArgument},
			{"clerk without store", staff.Input{Username: "alice", Password: soPassword, Role: staff.RoleClerk}, domain.ErrInvalidArgument},
			{"admin with store", staff.Input{Username: "alice", Password: soPassword, Role: staff.RoleAdmin, Store: "S01"}, domain.ErrInvalidArgument},
			{"no password", staff.Input{Username: "alice", Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"short password", staff.Input{Username: "alice", Password: "123456789", Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"password over 72 bytes", staff.Input{Username: "alice", Password: strings.Repeat("密", 25), Role: staff.RoleAdmin}, domain.ErrInvalidArgument},
			{"unknown store", staff.Input{Username: "alice", Password: soPassword, Role: staff.RoleClerk, Store: "S99"}, domain.ErrNotFound},
		}
		for _, b := range bad {
			_, err := e.svc.Staff.Put(e.ctx, b.in)
			wantErr(t, b.name, err, b.want)
		}
		if n := e.count(t, "staff", "1 = 1"); n != 0 {
			t.Fatalf("refused accounts left %d rows", n)
		}
		// Ten runes of three bytes each is a fine password.
		v := hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: " clerk.one ", Password: strings.Repeat("密", 10), Role: staff.RoleClerk, Store: "S01"}))
		if v != (staff.View{Username: "clerk.one", Role: staff.RoleClerk, Store: "S01"}) {
			t.Fatalf("created %+v", v)
		}
		var hash string
		if err := e.db.Conn(e.ctx).Raw("SELECT password_hash FROM staff WHERE username = ?", "clerk.one").Scan(&hash).Error; err != nil {
			t.Fatal(err)
		}
		if hash == "" || strings.Contains(hash, "密") {
			t.Fatalf("stored password hash %q", hash)
		}
		pw := strings.Repeat("密", 10)

		console := hubtest.Must(e.svc.Staff.SignIn(e.ctx, " Clerk.One ", pw, staff.SessionConsole))
		if console.Token == "" || console.Staff.Store != "S01" || !console.ExpiresAt.Equal(e.clock.Now().Add(12*time.Hour)) {
			t.Fatalf("sign-in = %+v", console)
		}
		a := hubtest.Must(e.svc.Staff.Authenticate(e.ctx, console.Token, staff.SessionConsole))
		if a.Username != "clerk.one" || a.Role != staff.RoleClerk || a.Store != "S01" || a.StoreID == 0 || a.IsAdmin() {
			t.Fatalf("actor = %+v", a)
		}
		_, err := e.svc.Staff.Authenticate(e.ctx, console.Token, staff.SessionAPI)
		wantErr(t, "a console session as an API token", err, domain.ErrUnauthenticated)
		api := hubtest.Must(e.svc.Staff.SignIn(e.ctx, "clerk.one", pw, staff.SessionAPI))
		_, err = e.svc.Staff.Authenticate(e.ctx, api.Token, staff.SessionConsole)
		wantErr(t, "an API token as a console session", err, domain.ErrUnauthenticated)
		hubtest.Must(e.svc.Staff.Authenticate(e.ctx, api.Token, staff.SessionAPI))
		_, err = e.svc.Staff.SignIn(e.ctx, "clerk.one", pw, "pos")
		wantErr(t, "unknown session kind", err, domain.ErrInvalidArgument)

		// Wrong password, unknown name and a disabled account get the same answer.
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "gone", Password: soPassword, Role: staff.RoleAdmin, Disabled: true}))
		var msgs []string
		for _, c := range [][2]string{{"clerk.one", soPassword}, {"nobody", soPassword}, {"nobody", "o2ohub-no-such-user"}, {"gone", soPassword}, {"clerk.one", ""}} {
			_, err := e.svc.Staff.SignIn(e.ctx, c[0], c[1], staff.SessionConsole)
			wantErr(t, "sign in as "+c[0], err, domain.ErrUnauthenticated)
			msgs = append(msgs, err.Error())
		}
		for _, m := range msgs {
			if m != msgs[0] {
				t.Fatalf("sign-in refusals differ: %q", msgs)
			}
		}

		// Updating without a password keeps it and the sessions.
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "clerk.one", Role: staff.RoleClerk, Store: "S01"}))
		hubtest.Must(e.svc.Staff.Authenticate(e.ctx, console.Token, staff.SessionConsole))
		hubtest.Must(e.svc.Staff.SignIn(e.ctx, "clerk.one", pw, staff.SessionConsole))
		// A new password ends every session; the old password no longer works.
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "clerk.one", Password: soPassword, Role: staff.RoleClerk, Store: "S01"}))
		for _, tok := range []struct{ token, kind string }{{console.Token, staff.SessionConsole}, {api.Token, staff.SessionAPI}} {
			_, err := e.svc.Staff.Authenticate(e.ctx, tok.token, tok.kind)
			wantErr(t, "a session after the password changed", err, domain.ErrUnauthenticated)
		}
		_, err = e.svc.Staff.SignIn(e.ctx, "clerk.one", pw, staff.SessionConsole)
		wantErr(t, "the old password", err, domain.ErrUnauthenticated)
		s2 := hubtest.Must(e.svc.Staff.SignIn(e.ctx, "clerk.one", soPassword, staff.SessionConsole))
		// Moving to another store ends sessions too, and so does disabling.
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "clerk.one", Role: staff.RoleClerk, Store: "S02"}))
		_, err = e.svc.Staff.Authenticate(e.ctx, s2.Token, staff.SessionConsole)
		wantErr(t, "a session after a move", err, domain.ErrUnauthenticated)
		s3 := hubtest.Must(e.svc.Staff.SignIn(e.ctx, "clerk.one", soPassword, staff.SessionAPI))
		if a := hubtest.Must(e.svc.Staff.Authenticate(e.ctx, s3.Token, staff.SessionAPI)); a.Store != "S02" {
			t.Fatalf("moved clerk works at %s", a.Store)
		}
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "clerk.one", Role: staff.RoleClerk, Store: "S02", Disabled: true}))
		_, err = e.svc.Staff.Authenticate(e.ctx, s3.Token, staff.SessionAPI)
		wantErr(t, "a session after disabling", err, domain.ErrUnauthenticated)
		_, err = e.svc.Staff.SignIn(e.ctx, "clerk.one", soPassword, staff.SessionAPI)
		wantErr(t, "a disabled account", err, domain.ErrUnauthenticated)
		if err.Error() != msgs[0] {
			t.Fatalf("a disabled account is told %q, others %q", err.Error(), msgs[0])
		}

		// Sessions run out and can be ended.
		hubtest.Must(e.svc.Staff.Put(e.ctx, staff.Input{Username: "boss", Password: soPassword, Role: staff.RoleAdmin}))
		s4 := hubtest.Must(e.svc.Staff.SignIn(e.ctx, "boss", soPassword, staff.SessionConsole))
		if a := hubtest.Must(e.svc.Staff.Authenticate(e.ctx, s4.Token, staff.SessionConsole)); !a.IsAdmin() || a.StoreID != 0 {
			t.Fatalf("admin actor = %+v", a)
		}
		hubtest.Must(0, e.svc.Staff.SignOut(e.ctx, s4.Token))
		_, err = e.svc.Staff.Authenticate(e.ctx, s4.Token, staff.SessionConsole)
		wantErr(t, "a signed-out session", err, domain.ErrUnauthenticated)
		s5 := hubtest.Must(e.svc.Staff.SignIn(e.ctx, "boss", soPassword, staff.SessionConsole))
		e.clock.Add(12 * time.Hour)
		_, err = e.svc.Staff.Authenticate(e.ctx, s5.Token, staff.SessionConsole)
		wantErr(t, "an expired session", err, domain.ErrUnauthenticated)
		_, err = e.svc.Staff.Authenticate(e.ctx, "", staff.SessionConsole)
		wantErr(t, "no token", err, domain.ErrUnauthenticated)
	})
}

// TestReviewFixes pins what a review found: an order cannot be accepted once its time ran out, an order
// paid for a store that has since closed moves on at once, and the pickup-token key made by a counter
// attempt that fails is saved, so another replica accepts the tokens this one signs.
func TestReviewFixes(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		e := soSetup(t, db)
		alice := e.member(t, "alice")
		c1 := e.clerk(t, "clerk1", "S01")

		late := e.paid(t, alice, "S01", soMilk)
		e.clock.Add(soAcceptTimeout)
		_, err := e.svc.AcceptOrder(e.ctx, c1, late.OrderNo)
		wantErr(t, "accepting after the deadline", err, domain.ErrConflict)
		if v := e.view(t, late.OrderNo); v.Status != core.StatusPaid || v.Store != "S01" {
			t.Fatalf("a refused late acceptance left the order %s at %s", v.Status, v.Store)
		}

		o := hubtest.Must(e.svc.CreateOrder(e.ctx, alice, core.OrderInput{Store: "S01", Fulfillment: core.FulfillmentPickup, Items: soMilk}))
		hubtest.Must(e.svc.Catalog.PutStore(e.ctx, catalog.StoreInput{Code: "S01", Name: "店 S01", Lat: soLat, Lng: soLng, Status: "closed"}))
		if r := chPay(e.fixture, soProvider, o, "T-"+o.OrderNo); r != core.PaymentApplied {
			t.Fatalf("paying: %s", r)
		}
		if v := e.view(t, o.OrderNo); v.Store != "S03" || v.Status != core.StatusPaid { // the nearest with milk
			t.Fatalf("an order paid for a closed store is %s at %s, want paid at S03", v.Status, v.Store)
		}
		e.wantOffers(t, o.OrderNo, soOffer{"S01", "rejected", "system", "the store is closed"}, soOffer{"S03", "offered", "", ""})

		// A forged token is the first use of the key: the failed attempt must not take the key with it.
		_, err = e.svc.VerifyPickup(e.ctx, staff.AdminTokenActor, "S03", "OP1-12345678-ZZZZZZ-AAAAAAAAAAAAAAAAAAAAAAAA")
		wantErr(t, "a forged token", err, core.ErrCodeUnknown)
		var saved int64
		if err := db.Conn(e.ctx).Table("settings").Where("key = ?", "pickup_token_key").Count(&saved).Error; err != nil || saved != 1 {
			t.Fatalf("pickup token key saved %d times (%v), want 1", saved, err)
		}
	})
}
