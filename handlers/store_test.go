package handlers

// Tests of the store API (what a POS calls with a staff bearer token), the admin staff and reject
// endpoints, and the shopper's pickup code and cancellation: the real engine, core and database over real
// HTTP, on a movable clock.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
)

const (
	stPassword  = "correct horse battery"
	stPickupTTL = time.Hour
)

// stLog collects what the hub logs, so tests can check what never reaches a log line.
type stLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *stLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *stLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// stEnv is a hub with the store API's fixtures: S01 where the shopper is, S03 1 km away without TEA,
// S02 3 km away with everything; clerks clerk1 and clerk1b of S01, clerk2 of S02, an admin boss, and a
// signed-in shopper.
type stEnv struct {
	*hubEnv
	clock    *testclock.Clock
	log      *stLog
	shopper  string
	memberID int64
}

func newStEnv(t *testing.T, db *models.DB) *stEnv {
	t.Helper()
	logs := &stLog{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := testclock.New(time.Now().UTC().Truncate(time.Second))
	e := &stEnv{hubEnv: newHubEnv(t, db, hubConfig{refunds: true, clock: clock, log: log, depsPublicURL: true, core: func(o *core.Options) {
		o.SessionTTL, o.PasswordCost, o.PickupTTL = 48*time.Hour, 4, stPickupTTL
	}}), clock: clock, log: logs}

	e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
	e.putStore(t, hubStore{code: "S03", lat: hubLat + 0.009, lng: hubLng, status: "open"})
	e.putStore(t, hubStore{code: "S02", lat: hubLat + 0.027, lng: hubLng, status: "open"})
	e.putProduct(t, "TEA", 1250)
	e.putProduct(t, "BUN", 300)
	for _, s := range []string{"S01", "S02"} {
		e.putStock(t, s, "TEA", 10)
		e.putStock(t, s, "BUN", 10)
	}
	e.putStock(t, "S03", "BUN", 10)
	for _, s := range []struct{ user, role, store string }{
		{"clerk1", staff.RoleClerk, "S01"}, {"clerk1b", staff.RoleClerk, "S01"}, {"clerk2", staff.RoleClerk, "S02"}, {"boss", staff.RoleAdmin, ""},
	} {
		r := e.put(t, "/api/v1/admin/staff/"+s.user, hubAdminAuth, map[string]any{"password": stPassword, "role": s.role, "store": s.store})
		if v := hubDecode[staff.View](t, r, http.StatusOK); v.Username != s.user || v.Role != s.role || v.Store != s.store || v.Disabled {
			t.Fatalf("PUT staff %s = %+v", s.user, v)
		}
	}
	var m member.View
	e.shopper, m = e.login(t, "alice")
	e.memberID = m.ID
	return e
}

// staff signs a staff member in through the store API and returns the Authorization header.
func (e *stEnv) staff(t testing.TB, user string) string {
	t.Helper()
	l := hubDecode[staff.Login](t, e.post(t, "/api/v1/store/login", "", map[string]any{"username": user, "password": stPassword}), http.StatusOK)
	if l.Token == "" {
		t.Fatalf("login of %s returned no token", user)
	}
	return hubBearer(l.Token)
}

// paidOrder places an order as the shopper and pays it with a signed sandbox notification.
func (e *stEnv) paidOrder(t testing.TB, body map[string]any) core.OrderView {
	t.Helper()
	ord := e.createOrder(t, e.shopper, body)
	now := e.clock.Now()
	n := hubJSON(t, sandbox.Notification{ID: "sbx_evt_" + ord.OrderNo, OrderNo: ord.OrderNo, TransactionID: sandbox.TransactionID(ord.OrderNo),
		AmountFen: ord.TotalFen, PaidAt: now, Status: "SUCCESS"})
	res := hubDecode[map[string]string](t, e.sendNotification(t, n, hubSigned(hubSandboxSecret, now, n)), http.StatusOK)
	if res["result"] != string(core.PaymentApplied) {
		t.Fatalf("payment of %s: %v", ord.OrderNo, res)
	}
	if got := e.order(t, e.shopper, ord.OrderNo); got.Status != core.StatusPaid {
		t.Fatalf("order %s is %s after payment, want paid", ord.OrderNo, got.Status)
	}
	return ord
}

// step posts a store API step and checks the order's new state.
func (e *stEnv) step(t testing.TB, auth, no, step string, body any, want core.Status) core.OrderView {
	t.Helper()
	v := hubDecode[core.OrderView](t, e.post(t, "/api/v1/store/orders/"+no+"/"+step, auth, body), http.StatusOK)
	if v.Status != want {
		t.Fatalf("%s of %s: status %s, want %s", step, no, v.Status, want)
	}
	return v
}

// readyOrder takes a paid pickup order through accept and ready as auth and returns the shopper's code.
func (e *stEnv) readyOrder(t testing.TB, auth, no string) core.PickupView {
	t.Helper()
	e.step(t, auth, no, "accept", nil, core.StatusAccepted)
	e.step(t, auth, no, "ready", nil, core.StatusReady)
	return hubDecode[core.PickupView](t, e.get(t, "/api/v1/orders/"+no+"/pickup", e.shopper), http.StatusOK)
}

func (e *stEnv) storeOrders(t testing.TB, auth, query string) []string {
	t.Helper()
	var nos []string
	for _, o := range hubDecode[[]core.StoreOrderView](t, e.get(t, "/api/v1/store/orders"+query, auth), http.StatusOK) {
		nos = append(nos, o.OrderNo)
	}
	return nos
}

func (e *stEnv) events(t testing.TB, topic, key string) int64 {
	t.Helper()
	var n int64
	if err := e.db.Conn(context.Background()).Model(&models.Event{}).Where(&models.Event{Topic: topic, Key: key}).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *stEnv) refunds(t testing.TB, no string) []models.Refund {
	t.Helper()
	var rows []models.Refund
	err := e.db.Conn(context.Background()).Joins("JOIN orders ON orders.id = refunds.order_id").Where("orders.order_no = ?", no).
		Order("refunds.id").Find(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// ---------------------------------------------------------------------------------------------------
// Staff accounts and sign-in
// ---------------------------------------------------------------------------------------------------

func TestStoreStaffAccounts(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		const secret = "a-very-secret-passphrase"
		bad := []struct {
			name, user string
			body       any
			auth       string
			status     int
			code       string
		}{
			{"bad role", "dora", map[string]any{"password": secret, "role": "owner", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"clerk without store", "dora", map[string]any{"password": secret, "role": "clerk"}, hubAdminAuth, 400, "invalid_argument"},
			{"admin with a store", "dora", map[string]any{"password": secret, "role": "admin", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"short password", "dora", map[string]any{"password": "short", "role": "clerk", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"password of ten spaces", "dora", map[string]any{"password": strings.Repeat(" ", 10), "role": "clerk", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"password of white space", "dora", map[string]any{"password": " \t\n\u3000 \t\n\u3000 \t", "role": "clerk", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"new account without password", "dora", map[string]any{"role": "clerk", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"bad username", "Dora!", map[string]any{"password": secret, "role": "clerk", "store": "S01"}, hubAdminAuth, 400, "invalid_argument"},
			{"role of the wrong type", "dora", map[string]any{"password": secret, "role": 1}, hubAdminAuth, 400, "invalid_argument"},
			{"unknown store", "dora", map[string]any{"password": secret, "role": "clerk", "store": "NOPE"}, hubAdminAuth, 404, "not_found"},
			{"no admin token", "dora", map[string]any{"password": secret, "role": "clerk", "store": "S01"}, "", 401, "unauthenticated"},
			{"a staff token is not the admin token", "dora", map[string]any{"password": secret, "role": "clerk", "store": "S01"}, e.staff(t, "boss"), 401, "unauthenticated"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				msg := hubWantError(t, e.put(t, "/api/v1/admin/staff/"+tc.user, tc.auth, tc.body), tc.status, tc.code)
				if strings.Contains(tc.name, "password") && !strings.Contains(msg, "password") {
					t.Errorf("message %q does not name the password", msg)
				}
			})
		}
		if _, err := e.svc.Staff.Account(context.Background(), "dora"); err == nil {
			t.Fatal("a refused PUT created the account")
		}

		hubStep(t, "create, and the password is nowhere in the answer", func(t *testing.T) {
			r := e.put(t, "/api/v1/admin/staff/dora", hubAdminAuth, map[string]any{"password": secret, "role": "clerk", "store": "S02"})
			v := hubDecode[map[string]any](t, r, http.StatusOK)
			want := map[string]any{"username": "dora", "role": "clerk", "store": "S02", "disabled": false}
			if fmt.Sprint(v) != fmt.Sprint(want) {
				t.Errorf("PUT staff = %v, want exactly %v", v, want)
			}
			for _, leak := range []string{secret, "password", "$2a$", "$2b$", "hash"} {
				if bytes.Contains(r.body, []byte(leak)) {
					t.Errorf("PUT staff answer contains %q: %s", leak, r.body)
				}
			}
		})

		var dora string
		hubStep(t, "update without a password keeps it", func(t *testing.T) {
			hubDecode[staff.View](t, e.put(t, "/api/v1/admin/staff/dora", hubAdminAuth, map[string]any{"role": "clerk", "store": "S02"}), http.StatusOK)
			l := hubDecode[staff.Login](t, e.post(t, "/api/v1/store/login", "", map[string]any{"username": "dora", "password": secret}), http.StatusOK)
			if l.Staff != (staff.View{Username: "dora", Role: "clerk", Store: "S02"}) {
				t.Errorf("login staff = %+v", l.Staff)
			}
			dora = hubBearer(l.Token)
			hubDecode[[]core.StoreOrderView](t, e.get(t, "/api/v1/store/orders", dora), http.StatusOK)
		})

		hubStep(t, "moving the clerk to another store ends her sessions", func(t *testing.T) {
			v := hubDecode[staff.View](t, e.put(t, "/api/v1/admin/staff/dora", hubAdminAuth, map[string]any{"role": "clerk", "store": "S01"}), http.StatusOK)
			if v.Store != "S01" {
				t.Errorf("store = %q, want S01", v.Store)
			}
			hubWantError(t, e.get(t, "/api/v1/store/orders", dora), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "a disabled account cannot sign in", func(t *testing.T) {
			hubDecode[staff.View](t, e.put(t, "/api/v1/admin/staff/dora", hubAdminAuth, map[string]any{"role": "clerk", "store": "S01", "disabled": true}), http.StatusOK)
			hubWantError(t, e.post(t, "/api/v1/store/login", "", map[string]any{"username": "dora", "password": secret}), http.StatusUnauthorized, "unauthenticated")
		})

		if strings.Contains(e.log.String(), secret) || strings.Contains(e.log.String(), stPassword) {
			t.Error("a staff password reached the log")
		}
	})
}

func TestStoreLogin(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		login := func(user, pass string) hubResp {
			return e.post(t, "/api/v1/store/login", "", map[string]any{"username": user, "password": pass})
		}

		hubStep(t, "a wrong password and an unknown user get the same 401", func(t *testing.T) {
			wrong := hubWantError(t, login("clerk1", "not the password"), http.StatusUnauthorized, "unauthenticated")
			unknown := hubWantError(t, login("nobody", stPassword), http.StatusUnauthorized, "unauthenticated")
			if wrong != unknown {
				t.Errorf("wrong password says %q, unknown user %q: they must not differ", wrong, unknown)
			}
		})

		var token string
		hubStep(t, "the right password opens a token", func(t *testing.T) {
			r := login("clerk1", stPassword)
			l := hubDecode[staff.Login](t, r, http.StatusOK)
			if l.Token == "" || !l.ExpiresAt.After(e.clock.Now()) {
				t.Errorf("login = %+v, want a token expiring after now", l)
			}
			if l.Staff != (staff.View{Username: "clerk1", Role: "clerk", Store: "S01"}) {
				t.Errorf("staff = %+v", l.Staff)
			}
			if bytes.Contains(r.body, []byte(stPassword)) || bytes.Contains(r.body, []byte("$2a$")) {
				t.Errorf("login answer leaks the password or its hash: %s", r.body)
			}
			token = l.Token
			hubDecode[[]core.StoreOrderView](t, e.get(t, "/api/v1/store/orders", hubBearer(token)), http.StatusOK)
		})

		hubStep(t, "other credentials are refused", func(t *testing.T) {
			console, err := e.svc.Staff.SignIn(context.Background(), "clerk1", stPassword, staff.SessionConsole)
			if err != nil {
				t.Fatal(err)
			}
			for name, auth := range map[string]string{
				"no token":                "",
				"a console session token": hubBearer(console.Token),
				"the admin token":         hubAdminAuth,
				"a shopper token":         e.shopper,
				"a made-up token":         hubBearer("x" + token),
				"a token without Bearer":  token,
			} {
				r := e.get(t, "/api/v1/store/orders", auth)
				hubWantError(t, r, http.StatusUnauthorized, "unauthenticated")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate = %q", name, r.header.Get("WWW-Authenticate"))
				}
			}
			// …and the store token does not open the console.
			if _, err := e.svc.Staff.Authenticate(context.Background(), token, staff.SessionConsole); err == nil {
				t.Error("a store API token authenticates a console session")
			}
		})

		hubStep(t, "logout ends the token", func(t *testing.T) {
			r := e.post(t, "/api/v1/store/logout", hubBearer(token), nil)
			if r.status != http.StatusNoContent {
				t.Fatalf("logout = %s, want 204", r)
			}
			hubWantError(t, e.get(t, "/api/v1/store/orders", hubBearer(token)), http.StatusUnauthorized, "unauthenticated")
			hubWantError(t, e.post(t, "/api/v1/store/logout", hubBearer(token), nil), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "a token ends when it expires", func(t *testing.T) {
			auth := e.staff(t, "clerk2")
			e.clock.Add(13 * time.Hour)
			hubWantError(t, e.get(t, "/api/v1/store/orders", auth), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "sign-ins are rate-limited per client address", func(t *testing.T) {
			var limited hubResp
			for i := 0; i < 30 && limited.status == 0; i++ {
				if r := login("clerk1", "not the password"); r.status == http.StatusTooManyRequests {
					limited = r
				}
			}
			hubWantError(t, limited, http.StatusTooManyRequests, "rate_limited")
			if limited.header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		})
		if strings.Contains(e.log.String(), stPassword) || strings.Contains(e.log.String(), "not the password") {
			t.Error("a password typed at sign-in reached the log")
		}
	})
}

// ---------------------------------------------------------------------------------------------------
// Orders: accept, reject and re-routing, isolation between stores
// ---------------------------------------------------------------------------------------------------

func TestStoreAcceptRejectReroute(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1, clerk2, boss := e.staff(t, "clerk1"), e.staff(t, "clerk2"), e.staff(t, "boss")
		kept := e.paidOrder(t, hubPickup("S01", "BUN", 1))
		moved := e.paidOrder(t, hubPickup("S01", "TEA", 2))

		hubStep(t, "the clerk lists the paid orders of their store", func(t *testing.T) {
			if got := e.storeOrders(t, clerk1, ""); !slices.Equal(got, []string{moved.OrderNo, kept.OrderNo}) {
				t.Errorf("clerk1's orders = %v, want [%s %s]", got, moved.OrderNo, kept.OrderNo)
			}
			if got := e.storeOrders(t, clerk2, ""); len(got) != 0 {
				t.Errorf("clerk2's orders = %v, want none", got)
			}
			if got := e.storeOrders(t, clerk1, "?status=accepted"); len(got) != 0 {
				t.Errorf("accepted orders = %v, want none", got)
			}
			hubWantError(t, e.get(t, "/api/v1/store/orders?status=lost", clerk1), http.StatusBadRequest, "invalid_argument")
			v := hubDecode[core.StoreOrderView](t, e.get(t, "/api/v1/store/orders/"+moved.OrderNo, clerk1), http.StatusOK)
			if v.Status != core.StatusPaid || v.Store != "S01" || v.AcceptBy == nil || len(v.Offers) != 1 || v.Offers[0].Store != "S01" {
				t.Errorf("order = %+v", v)
			}
		})

		hubStep(t, "accept", func(t *testing.T) {
			v := e.step(t, clerk1, kept.OrderNo, "accept", nil, core.StatusAccepted)
			if v.Store != "S01" {
				t.Errorf("store = %s", v.Store)
			}
			hubWantError(t, e.post(t, "/api/v1/store/orders/"+kept.OrderNo+"/accept", clerk1, nil), http.StatusConflict, "conflict")
			hubWantError(t, e.post(t, "/api/v1/store/orders/"+kept.OrderNo+"/reject", clerk1, map[string]any{"reason": "too late"}), http.StatusConflict, "conflict")
		})

		hubStep(t, "a rejection needs a reason", func(t *testing.T) {
			hubWantError(t, e.post(t, "/api/v1/store/orders/"+moved.OrderNo+"/reject", clerk1, map[string]any{"reason": "  "}), http.StatusBadRequest, "invalid_argument")
		})

		hubStep(t, "reject moves the order to the nearest store with stock", func(t *testing.T) {
			e.wantStock(t, "S01", "TEA", 8, 0)
			v := hubDecode[core.OrderView](t, e.post(t, "/api/v1/store/orders/"+moved.OrderNo+"/reject", clerk1, map[string]any{"reason": "TEA is spoiled"}), http.StatusOK)
			if v.Status != core.StatusPaid || v.Store != "S02" {
				t.Errorf("after reject: %s at %s, want paid at S02 (S03 is nearer but has no TEA)", v.Status, v.Store)
			}
			e.wantStock(t, "S01", "TEA", 10, 0)
			e.wantStock(t, "S02", "TEA", 8, 0)
			e.wantStock(t, "S03", "BUN", 10, 0)
			if n := e.events(t, "order.rerouted", moved.OrderNo); n != 1 {
				t.Errorf("order.rerouted events = %d, want 1", n)
			}
		})

		hubStep(t, "the first store no longer sees it, the second does", func(t *testing.T) {
			if got := e.storeOrders(t, clerk1, ""); slices.Contains(got, moved.OrderNo) {
				t.Errorf("clerk1 still lists %s", moved.OrderNo)
			}
			hubWantError(t, e.get(t, "/api/v1/store/orders/"+moved.OrderNo, clerk1), http.StatusNotFound, "not_found")
			hubWantError(t, e.post(t, "/api/v1/store/orders/"+moved.OrderNo+"/accept", clerk1, nil), http.StatusNotFound, "not_found")
			if got := e.storeOrders(t, clerk2, ""); !slices.Equal(got, []string{moved.OrderNo}) {
				t.Errorf("clerk2's orders = %v, want [%s]", got, moved.OrderNo)
			}
			v := hubDecode[core.StoreOrderView](t, e.get(t, "/api/v1/store/orders/"+moved.OrderNo, clerk2), http.StatusOK)
			if len(v.Offers) != 2 {
				t.Fatalf("offers = %+v, want 2", v.Offers)
			}
			if o := v.Offers[0]; o.Store != "S01" || o.Outcome != "rejected" || o.Actor != "clerk1" || o.Reason != "TEA is spoiled" || o.DecidedAt == nil {
				t.Errorf("first offer = %+v", o)
			}
			if o := v.Offers[1]; o.Store != "S02" || o.Outcome != "offered" {
				t.Errorf("second offer = %+v", o)
			}
		})

		hubStep(t, "the second store accepts", func(t *testing.T) {
			v := e.step(t, clerk2, moved.OrderNo, "accept", nil, core.StatusAccepted)
			if v.Store != "S02" {
				t.Errorf("store = %s", v.Store)
			}
			e.wantStock(t, "S02", "TEA", 8, 0)
		})

		hubStep(t, "an admin names the store", func(t *testing.T) {
			hubWantError(t, e.get(t, "/api/v1/store/orders", boss), http.StatusBadRequest, "invalid_argument")
			if got := e.storeOrders(t, boss, "?store=S02"); !slices.Equal(got, []string{moved.OrderNo}) {
				t.Errorf("boss's S02 orders = %v", got)
			}
			if got := e.storeOrders(t, boss, "?store=S01&status=accepted,paid"); !slices.Equal(got, []string{kept.OrderNo}) {
				t.Errorf("boss's S01 orders = %v", got)
			}
			hubWantError(t, e.get(t, "/api/v1/store/orders?store=NOPE", boss), http.StatusNotFound, "not_found")
		})

		hubStep(t, "the admin API rejects too", func(t *testing.T) {
			third := e.paidOrder(t, hubPickup("S01", "TEA", 1))
			hubWantError(t, e.post(t, "/api/v1/admin/orders/"+third.OrderNo+"/reject", hubAdminAuth, map[string]any{}), http.StatusBadRequest, "invalid_argument")
			v := hubDecode[core.OrderView](t, e.post(t, "/api/v1/admin/orders/"+third.OrderNo+"/reject", hubAdminAuth, map[string]any{"reason": "closing early"}), http.StatusOK)
			if v.Store != "S02" || v.Status != core.StatusPaid {
				t.Errorf("after admin reject: %s at %s, want paid at S02", v.Status, v.Store)
			}
			hubWantError(t, e.post(t, "/api/v1/admin/orders/"+third.OrderNo+"/reject", "", map[string]any{"reason": "x"}), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "today's figures", func(t *testing.T) {
			d1 := hubDecode[core.StoreDay](t, e.get(t, "/api/v1/store/today", clerk1), http.StatusOK)
			if d1.Store != "S01" || d1.ToPrepare != 1 || d1.Incoming != 0 || d1.Declined != 2 || d1.PaidOrders != 1 {
				t.Errorf("S01 today = %+v, want to_prepare 1, declined 2, paid_orders 1", d1)
			}
			d2 := hubDecode[core.StoreDay](t, e.get(t, "/api/v1/store/today?store=S02", boss), http.StatusOK)
			if d2.Store != "S02" || d2.ToPrepare != 1 || d2.Incoming != 1 {
				t.Errorf("S02 today = %+v, want to_prepare 1, incoming 1", d2)
			}
			hubWantError(t, e.get(t, "/api/v1/store/today?store=S02", clerk1), http.StatusNotFound, "not_found")
		})
	})
}

func TestStoreIsolation(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1, clerk2 := e.staff(t, "clerk1"), e.staff(t, "clerk2")
		paid := e.paidOrder(t, hubPickup("S02", "TEA", 1))
		accepted := e.paidOrder(t, hubPickup("S02", "TEA", 1))
		e.step(t, clerk2, accepted.OrderNo, "accept", nil, core.StatusAccepted)
		ready := e.paidOrder(t, hubPickup("S02", "BUN", 1))
		pv := e.readyOrder(t, clerk2, ready.OrderNo)
		done := e.paidOrder(t, hubPickup("S02", "BUN", 1))
		dpv := e.readyOrder(t, clerk2, done.OrderNo)
		hubDecode[core.OrderView](t, e.post(t, "/api/v1/store/pickup/confirm", clerk2, map[string]any{"code": dpv.Code}), http.StatusOK)

		tests := []struct {
			name string
			req  hubReq
			code string
		}{
			{"list", hubReq{method: "GET", path: "/api/v1/store/orders?store=S02"}, "not_found"},
			{"today", hubReq{method: "GET", path: "/api/v1/store/today?store=S02"}, "not_found"},
			{"read", hubReq{method: "GET", path: "/api/v1/store/orders/" + paid.OrderNo}, "not_found"},
			{"accept", hubReq{method: "POST", path: "/api/v1/store/orders/" + paid.OrderNo + "/accept"}, "not_found"},
			{"reject", hubReq{method: "POST", path: "/api/v1/store/orders/" + paid.OrderNo + "/reject", body: map[string]any{"reason": "not mine"}}, "not_found"},
			{"ready", hubReq{method: "POST", path: "/api/v1/store/orders/" + accepted.OrderNo + "/ready"}, "not_found"},
			{"return", hubReq{method: "POST", path: "/api/v1/store/orders/" + done.OrderNo + "/return", body: map[string]any{}}, "not_found"},
			{"verify a code", hubReq{method: "POST", path: "/api/v1/store/pickup/verify", body: map[string]any{"code": pv.Code}}, "code_unknown"},
			{"verify a token", hubReq{method: "POST", path: "/api/v1/store/pickup/verify", body: map[string]any{"code": pv.Token}}, "code_unknown"},
			{"confirm a code", hubReq{method: "POST", path: "/api/v1/store/pickup/confirm", body: map[string]any{"code": pv.Code}}, "code_unknown"},
			{"verify naming the other store", hubReq{method: "POST", path: "/api/v1/store/pickup/verify", body: map[string]any{"code": pv.Code, "store": "S02"}}, "not_found"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				tc.req.auth = clerk1
				hubWantError(t, e.do(t, tc.req), http.StatusNotFound, tc.code)
			})
		}
		for no, want := range map[string]core.Status{paid.OrderNo: core.StatusPaid, accepted.OrderNo: core.StatusAccepted, ready.OrderNo: core.StatusReady, done.OrderNo: core.StatusCompleted} {
			if got := e.order(t, e.shopper, no); got.Status != want || got.Store != "S02" {
				t.Errorf("order %s is %s at %s after the other store's attempts, want %s at S02", no, got.Status, got.Store, want)
			}
		}
		e.wantStock(t, "S02", "BUN", 8, 0)
		// S02's own clerk still can.
		hubDecode[core.PickupCheck](t, e.post(t, "/api/v1/store/pickup/verify", clerk2, map[string]any{"code": pv.Code}), http.StatusOK)
	})
}

// ---------------------------------------------------------------------------------------------------
// Pickup codes
// ---------------------------------------------------------------------------------------------------

var stPNG = []byte("\x89PNG\r\n\x1a\n")

func TestStorePickup(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1, clerk2 := e.staff(t, "clerk1"), e.staff(t, "clerk2")
		ord := e.paidOrder(t, hubPickup("S01", "TEA", 2, "BUN", 1))
		pickupPath := "/api/v1/orders/" + ord.OrderNo + "/pickup"

		hubStep(t, "no code before the order is ready", func(t *testing.T) {
			hubWantError(t, e.get(t, pickupPath, e.shopper), http.StatusConflict, "conflict")
			e.step(t, clerk1, ord.OrderNo, "accept", nil, core.StatusAccepted)
			hubWantError(t, e.get(t, pickupPath, e.shopper), http.StatusConflict, "conflict")
			hubWantError(t, e.post(t, "/api/v1/store/orders/"+ord.OrderNo+"/dispatch", clerk1, map[string]any{"courier": "Li"}), http.StatusConflict, "conflict")
			e.step(t, clerk1, ord.OrderNo, "ready", nil, core.StatusReady)
		})

		var pv core.PickupView
		hubStep(t, "the shopper gets a code, a token and its QR", func(t *testing.T) {
			pv = hubDecode[core.PickupView](t, e.get(t, pickupPath, e.shopper), http.StatusOK)
			if !regexp.MustCompile(`^[0-9]{8}$`).MatchString(pv.Code) {
				t.Errorf("code = %q, want 8 digits", pv.Code)
			}
			if !strings.HasPrefix(pv.Token, "OP1-") {
				t.Errorf("token = %q, want OP1-…", pv.Token)
			}
			if !bytes.HasPrefix(pv.QRPNG, stPNG) {
				t.Errorf("qr_png does not decode to a PNG")
			}
			if pv.OrderNo != ord.OrderNo || pv.Store.Code != "S01" || !pv.ExpiresAt.Equal(e.clock.Now().Add(stPickupTTL)) {
				t.Errorf("pickup = %+v %s", pv.Store, pv.ExpiresAt)
			}
			// qr_png is base64 in the JSON itself.
			raw := hubDecode[map[string]any](t, e.get(t, pickupPath, e.shopper), http.StatusOK)
			s, _ := raw["qr_png"].(string)
			png, err := base64.StdEncoding.DecodeString(s)
			if err != nil || !bytes.HasPrefix(png, stPNG) {
				t.Errorf("qr_png is not a base64 PNG: %v", err)
			}
			bob, _ := e.login(t, "bob")
			hubWantError(t, e.get(t, pickupPath, bob), http.StatusNotFound, "not_found")
			hubWantError(t, e.get(t, pickupPath, ""), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "verify with the code and with the token", func(t *testing.T) {
			for _, in := range []string{pv.Code, pv.Token, " " + strings.ToLower(pv.Token) + " "} {
				c := hubDecode[core.PickupCheck](t, e.post(t, "/api/v1/store/pickup/verify", clerk1, map[string]any{"code": in}), http.StatusOK)
				if c.OrderNo != ord.OrderNo || c.Status != core.StatusReady || c.Store != "S01" || c.TotalFen != ord.TotalFen || len(c.Items) != 2 {
					t.Errorf("verify %q = %+v", in, c)
				}
			}
			if got := e.order(t, e.shopper, ord.OrderNo); got.Status != core.StatusReady {
				t.Errorf("verify changed the order to %s", got.Status)
			}
		})

		hubStep(t, "confirm completes the order once", func(t *testing.T) {
			v := hubDecode[core.OrderView](t, e.post(t, "/api/v1/store/pickup/confirm", clerk1, map[string]any{"code": pv.Token}), http.StatusOK)
			if v.OrderNo != ord.OrderNo || v.Status != core.StatusCompleted {
				t.Errorf("confirm = %s %s", v.OrderNo, v.Status)
			}
			hubWantError(t, e.post(t, "/api/v1/store/pickup/confirm", clerk1, map[string]any{"code": pv.Code}), http.StatusConflict, "code_used")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk1, map[string]any{"code": pv.Token}), http.StatusConflict, "code_used")
			hubWantError(t, e.get(t, pickupPath, e.shopper), http.StatusConflict, "code_used")
			if n := e.events(t, "order.completed", ord.OrderNo); n != 1 {
				t.Errorf("order.completed events = %d, want 1", n)
			}
			e.wantStock(t, "S01", "TEA", 8, 0)
		})

		hubStep(t, "a forged token is unknown", func(t *testing.T) {
			o := e.paidOrder(t, hubPickup("S01", "BUN", 1))
			live := e.readyOrder(t, clerk1, o.OrderNo)
			i := strings.LastIndexByte(live.Token, '-') + 5
			swap := byte('A')
			if live.Token[i] == 'A' {
				swap = 'B'
			}
			forged := live.Token[:i] + string(swap) + live.Token[i+1:]
			hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk1, map[string]any{"code": forged}), http.StatusNotFound, "code_unknown")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/confirm", clerk1, map[string]any{"code": forged}), http.StatusNotFound, "code_unknown")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk1, map[string]any{"code": "12ab"}), http.StatusBadRequest, "invalid_argument")
			if got := e.order(t, e.shopper, o.OrderNo); got.Status != core.StatusReady {
				t.Errorf("order is %s after a forged token, want ready", got.Status)
			}
		})

		hubStep(t, "the sixth wrong code in a row is refused with Retry-After", func(t *testing.T) {
			o := e.paidOrder(t, hubPickup("S02", "BUN", 1))
			live := e.readyOrder(t, clerk2, o.OrderNo)
			wrong := "00000000"
			if live.Code == wrong {
				wrong = "00000001"
			}
			for i := 0; i < 5; i++ {
				hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk2, map[string]any{"code": wrong}), http.StatusNotFound, "code_unknown")
			}
			r := e.post(t, "/api/v1/store/pickup/verify", clerk2, map[string]any{"code": live.Code})
			hubWantError(t, r, http.StatusTooManyRequests, "rate_limited")
			secs, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || secs < 1 || secs > 600 {
				t.Errorf("Retry-After = %q, want whole seconds in 1..600", r.header.Get("Retry-After"))
			}
			hubWantError(t, e.post(t, "/api/v1/store/pickup/confirm", clerk2, map[string]any{"code": live.Code}), http.StatusTooManyRequests, "rate_limited")
			e.clock.Add(time.Duration(secs) * time.Second)
			c := hubDecode[core.PickupCheck](t, e.post(t, "/api/v1/store/pickup/verify", clerk2, map[string]any{"code": live.Code}), http.StatusOK)
			if c.OrderNo != o.OrderNo {
				t.Errorf("verify after the wait = %+v", c)
			}
		})

		hubStep(t, "an expired code is gone", func(t *testing.T) {
			o := e.paidOrder(t, hubPickup("S01", "TEA", 1))
			live := e.readyOrder(t, e.staff(t, "clerk1b"), o.OrderNo)
			e.clock.Add(stPickupTTL + time.Second)
			clerk := e.staff(t, "clerk1b")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk, map[string]any{"code": live.Code}), http.StatusGone, "code_expired")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/verify", clerk, map[string]any{"code": live.Token}), http.StatusGone, "code_expired")
			hubWantError(t, e.post(t, "/api/v1/store/pickup/confirm", clerk, map[string]any{"code": live.Code}), http.StatusGone, "code_expired")
			hubWantError(t, e.get(t, "/api/v1/orders/"+o.OrderNo+"/pickup", e.shopper), http.StatusGone, "code_expired")
			if got := e.order(t, e.shopper, o.OrderNo); got.Status != core.StatusReady {
				t.Errorf("order is %s, want still ready (the expiry worker refunds it)", got.Status)
			}
		})
	})
}

func TestStorePickupConcurrentConfirm(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerks := []string{e.staff(t, "clerk1"), e.staff(t, "clerk1b")}
		ord := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		pv := e.readyOrder(t, clerks[0], ord.OrderNo)

		const n = 10
		results := make([]hubResp, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				code := pv.Code
				if i%2 == 1 {
					code = pv.Token
				}
				results[i] = e.post(t, "/api/v1/store/pickup/confirm", clerks[i%2], map[string]any{"code": code})
			}()
		}
		close(start)
		wg.Wait()

		var ok int
		for i, r := range results {
			switch r.status {
			case http.StatusOK:
				ok++
			case http.StatusConflict:
				hubWantError(t, r, http.StatusConflict, "code_used")
			default:
				t.Errorf("confirm %d = %s, want 200 or 409", i, r)
			}
		}
		if ok != 1 {
			t.Errorf("%d confirmations succeeded, want exactly 1", ok)
		}
		if got := e.order(t, e.shopper, ord.OrderNo); got.Status != core.StatusCompleted {
			t.Errorf("order is %s, want completed", got.Status)
		}
		if got := e.events(t, "order.completed", ord.OrderNo); got != 1 {
			t.Errorf("order.completed events = %d, want 1", got)
		}
		e.wantStock(t, "S01", "TEA", 9, 0)
	})
}

// ---------------------------------------------------------------------------------------------------
// Cancellation, delivery steps and counter returns
// ---------------------------------------------------------------------------------------------------

func TestStoreShopperCancel(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1 := e.staff(t, "clerk1")

		for _, accept := range []bool{false, true} {
			t.Run(fmt.Sprintf("accepted=%v", accept), func(t *testing.T) {
				ord := e.paidOrder(t, hubPickup("S01", "TEA", 2))
				if accept {
					e.step(t, clerk1, ord.OrderNo, "accept", nil, core.StatusAccepted)
				}
				e.wantStock(t, "S01", "TEA", 8, 0)
				v := hubDecode[core.OrderView](t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", e.shopper, nil), http.StatusOK)
				if v.Status != core.StatusRefunding && v.Status != core.StatusRefunded {
					t.Errorf("cancelled paid order is %s, want refunding or refunded", v.Status)
				}
				rs := e.refunds(t, ord.OrderNo)
				if len(rs) != 1 || rs[0].Provider != sandbox.Provider || rs[0].AmountFen != ord.TotalFen || rs[0].ProviderRefundID == "" || rs[0].Status != "succeeded" {
					t.Errorf("refunds = %+v, want one of %d fen made by the sandbox", rs, ord.TotalFen)
				}
				e.wantStock(t, "S01", "TEA", 10, 0)
				if got := e.storeOrders(t, clerk1, ""); slices.Contains(got, ord.OrderNo) {
					t.Errorf("the store still has work on the cancelled order")
				}
				hubWantError(t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", e.shopper, nil), http.StatusConflict, "conflict")
				hubWantError(t, e.post(t, "/api/v1/store/orders/"+ord.OrderNo+"/accept", clerk1, nil), http.StatusConflict, "conflict")
			})
		}

		t.Run("after ready", func(t *testing.T) {
			ord := e.paidOrder(t, hubPickup("S01", "TEA", 2))
			e.readyOrder(t, clerk1, ord.OrderNo)
			hubWantError(t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", e.shopper, nil), http.StatusConflict, "conflict")
			if got := e.order(t, e.shopper, ord.OrderNo); got.Status != core.StatusReady {
				t.Errorf("order is %s, want ready", got.Status)
			}
			if rs := e.refunds(t, ord.OrderNo); len(rs) != 0 {
				t.Errorf("refunds = %+v, want none", rs)
			}
			e.wantStock(t, "S01", "TEA", 8, 0)
		})
	})
}

func TestStoreDeliverySteps(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1 := e.staff(t, "clerk1")
		body := hubPickup("", "TEA", 1)
		delete(body, "store")
		body["fulfillment"] = "delivery"
		body["address"] = map[string]any{"text": "人民大道 1 号", "lat": hubLat + 0.001, "lng": hubLng}
		ord := e.paidOrder(t, body)
		if ord.Store != "S01" {
			t.Fatalf("delivery order went to %s, want S01", ord.Store)
		}
		no := ord.OrderNo
		e.step(t, clerk1, no, "accept", nil, core.StatusAccepted)
		hubWantError(t, e.post(t, "/api/v1/store/orders/"+no+"/ready", clerk1, nil), http.StatusConflict, "conflict")
		hubWantError(t, e.post(t, "/api/v1/store/orders/"+no+"/dispatch", clerk1, map[string]any{"phone": "13800000000"}), http.StatusBadRequest, "invalid_argument")
		if msg := hubWantError(t, e.post(t, "/api/v1/store/orders/"+no+"/dispatch", clerk1, map[string]any{"courier": "Li Lei", "phone": "not-a-phone"}), http.StatusBadRequest, "invalid_argument"); !strings.Contains(msg, "phone") {
			t.Errorf("message %q does not name the phone", msg)
		}
		hubWantError(t, e.post(t, "/api/v1/store/orders/"+no+"/deliver", clerk1, nil), http.StatusConflict, "conflict")
		v := e.step(t, clerk1, no, "dispatch", map[string]any{"courier": "Li Lei", "phone": "13800000000", "tracking_no": "SF100"}, core.StatusDelivering)
		if v.Courier == nil || *v.Courier != (core.Courier{Name: "Li Lei", Phone: "13800000000", TrackingNo: "SF100"}) {
			t.Errorf("courier = %+v", v.Courier)
		}
		e.step(t, clerk1, no, "deliver", nil, core.StatusDelivered)
		rv := hubDecode[core.RefundView](t, e.post(t, "/api/v1/store/orders/"+no+"/return", clerk1, map[string]any{"reason": "wrong tea"}), http.StatusOK)
		if rv.AmountFen != 1250 || rv.OrderNo != no {
			t.Errorf("return of a delivered order = %+v", rv)
		}
	})
}

func TestStoreCounterReturn(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1 := e.staff(t, "clerk1")
		ord := e.paidOrder(t, hubPickup("S01", "TEA", 2, "BUN", 1))
		no := ord.OrderNo
		ret := func(body any) hubResp { return e.post(t, "/api/v1/store/orders/"+no+"/return", clerk1, body) }

		hubStep(t, "only a collected order comes back", func(t *testing.T) {
			pv := e.readyOrder(t, clerk1, no)
			hubWantError(t, ret(map[string]any{}), http.StatusConflict, "conflict")
			hubDecode[core.OrderView](t, e.post(t, "/api/v1/store/pickup/confirm", clerk1, map[string]any{"code": pv.Code}), http.StatusOK)
			e.wantStock(t, "S01", "TEA", 8, 0)
			e.wantStock(t, "S01", "BUN", 9, 0)
		})

		hubStep(t, "part of it", func(t *testing.T) {
			rv := hubDecode[core.RefundView](t, ret(map[string]any{"items": []map[string]any{{"sku": "TEA", "qty": 1}}, "reason": "leaking"}), http.StatusOK)
			if rv.OrderNo != no || rv.AmountFen != 1250 || rv.Provider != sandbox.Provider || rv.Status != "succeeded" || rv.OrderStatus != core.StatusCompleted || rv.Reason != "leaking" {
				t.Errorf("partial return = %+v", rv)
			}
			e.wantStock(t, "S01", "TEA", 9, 0)
			e.wantStock(t, "S01", "BUN", 9, 0)
		})

		hubStep(t, "more than is left is refused", func(t *testing.T) {
			for name, body := range map[string]any{
				"over-return":  map[string]any{"items": []map[string]any{{"sku": "TEA", "qty": 2}}},
				"unknown line": map[string]any{"items": []map[string]any{{"sku": "RICE", "qty": 1}}},
				"zero":         map[string]any{"items": []map[string]any{{"sku": "BUN", "qty": 0}}},
				"long reason":  map[string]any{"reason": strings.Repeat("很", 81)},
			} {
				t.Run(name, func(t *testing.T) { hubWantError(t, ret(body), http.StatusBadRequest, "invalid_argument") })
			}
			e.wantStock(t, "S01", "TEA", 9, 0)
			if rs := e.refunds(t, no); len(rs) != 1 {
				t.Errorf("refunds = %d, want 1", len(rs))
			}
		})

		hubStep(t, "the rest", func(t *testing.T) {
			rv := hubDecode[core.RefundView](t, ret(map[string]any{"items": []map[string]any{}}), http.StatusOK)
			if rv.AmountFen != 1250+300 || (rv.OrderStatus != core.StatusRefunding && rv.OrderStatus != core.StatusRefunded) {
				t.Errorf("return of the rest = %+v, want 1550 fen and the order refunding", rv)
			}
			e.wantStock(t, "S01", "TEA", 10, 0)
			e.wantStock(t, "S01", "BUN", 10, 0)
			var sum int64
			for _, r := range e.refunds(t, no) {
				sum += r.AmountFen
			}
			if sum != ord.TotalFen {
				t.Errorf("refunded %d fen, want %d", sum, ord.TotalFen)
			}
			hubWantError(t, ret(map[string]any{"items": []map[string]any{{"sku": "BUN", "qty": 1}}}), http.StatusConflict, "conflict")
			if n := e.events(t, "order.returned", no); n != 2 {
				t.Errorf("order.returned events = %d, want 2", n)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------------

func TestStoreMalformedBodies(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk1 := e.staff(t, "clerk1")
		ord := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		no := ord.OrderNo
		routes := []struct {
			method, path, auth string
		}{
			{"POST", "/api/v1/store/login", ""},
			{"POST", "/api/v1/store/orders/" + no + "/reject", clerk1},
			{"POST", "/api/v1/store/orders/" + no + "/dispatch", clerk1},
			{"POST", "/api/v1/store/orders/" + no + "/return", clerk1},
			{"POST", "/api/v1/store/pickup/verify", clerk1},
			{"POST", "/api/v1/store/pickup/confirm", clerk1},
			{"POST", "/api/v1/admin/orders/" + no + "/reject", hubAdminAuth},
			{"PUT", "/api/v1/admin/staff/dora", hubAdminAuth},
		}
		bodies := map[string]string{
			"not JSON":      `{"reason": `,
			"empty":         ``,
			"wrong type":    `{"code": 12345678, "reason": 1, "username": 2, "courier": 3, "items": "TEA", "role": 4}`,
			"a JSON string": `"hello"`,
		}
		for _, rt := range routes {
			for name, body := range bodies {
				t.Run(rt.path+"/"+name, func(t *testing.T) {
					hubWantError(t, e.do(t, hubReq{method: rt.method, path: rt.path, auth: rt.auth, body: body}), http.StatusBadRequest, "invalid_argument")
				})
			}
		}
		t.Run("too large", func(t *testing.T) {
			big := `{"code":"` + strings.Repeat("1", MaxJSONBody) + `"}`
			hubWantError(t, e.do(t, hubReq{method: "POST", path: "/api/v1/store/pickup/verify", auth: clerk1, body: big}), http.StatusRequestEntityTooLarge, "invalid_argument")
		})
		if got := e.order(t, e.shopper, no); got.Status != core.StatusPaid || got.Store != "S01" {
			t.Errorf("order is %s at %s after malformed requests, want paid at S01", got.Status, got.Store)
		}
		if _, err := e.svc.Staff.Account(context.Background(), "dora"); err == nil {
			t.Error("a malformed PUT created a staff account")
		}
	})
}
