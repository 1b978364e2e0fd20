package handlers

// End-to-end tests of the HTTP API: the real gin engine, the real core service and a real database
// (SQLite always, PostgreSQL too when O2OHUB_TEST_POSTGRES is set), served over real HTTP.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// ---------------------------------------------------------------------------------------------------
// Test harness
// ---------------------------------------------------------------------------------------------------

const (
	hubAdminToken    = "adm"
	hubSandboxSecret = "s3cret"
	hubPaidWait      = 5 * time.Second
)

// Positions used by the tests: around People's Square, Shanghai. 0.009° of latitude is about 1 km.
const (
	hubLat = 31.2304
	hubLng = 121.4737
)

// hubConfig varies how a test server is built. The zero value is the sandbox hub with the admin API,
// the system clock, no payment gateway and logs discarded.
type hubConfig struct {
	noAdmin   bool         // AdminToken "" (admin API disabled)
	noSandbox bool         // Sandbox false
	gateway   bool         // register the sandbox payment gateway, paying after 10ms
	refunds   bool         // register the sandbox gateway for refunds only (its payments take an hour)
	clock     domain.Clock // core's and the HTTP layer's clock; the system clock when nil
	log       *slog.Logger // where the hub logs; discarded when nil
	// publicURL turns the server's URL into core's PublicURL; the server's URL as it is when nil.
	publicURL func(serverURL string) string
	// depsPublicURL passes the public URL to the HTTP layer too (console cookies and same-origin checks).
	depsPublicURL bool
	noRedirect    bool                // the client does not follow redirects
	core          func(*core.Options) // changes core's options, when set
	deps          func(*Deps)         // changes the HTTP layer's dependencies, when set
}

// hubEnv is one running hub: database, service and HTTP server.
type hubEnv struct {
	db     *models.DB
	svc    *core.Service
	srv    *httptest.Server
	client *http.Client
	http   *httpx.Client
}

// hubEach runs fn once per available database (SQLite, and PostgreSQL when configured).
func hubEach(t *testing.T, fn func(t *testing.T, db *models.DB)) {
	t.Helper()
	dbtest.Each(t, func(tb testing.TB, db *models.DB) { fn(tb.(*testing.T), db) })
}

// newHubEnv builds the real engine on db and serves it over HTTP until the test ends. It is the one
// builder of the handlers tests (they cannot import internal/hubtest, which imports this package).
func newHubEnv(t testing.TB, db *models.DB, cfg hubConfig) *hubEnv {
	t.Helper()
	log := cfg.log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	clock := cfg.clock
	if clock == nil {
		clock = domain.SystemClock{}
	}
	// The listener exists before the service so that PublicURL (the notify URL base) is known; the
	// server only starts once everything is wired.
	srv := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + srv.Listener.Addr().String()
	if cfg.publicURL != nil {
		publicURL = cfg.publicURL(publicURL)
	}
	opts := core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 10000, PublicURL: publicURL}
	if cfg.core != nil {
		cfg.core(&opts)
	}
	svc := core.New(domain.NewEnv(db, clock, log), opts)
	d := Deps{Service: svc, DB: db, Log: log, Clock: clock, AdminToken: hubAdminToken, Sandbox: !cfg.noSandbox, SandboxSecret: hubSandboxSecret}
	if cfg.noAdmin {
		d.AdminToken = ""
	}
	if cfg.depsPublicURL {
		d.PublicURL = publicURL
	}
	if cfg.deps != nil {
		cfg.deps(&d)
	}
	srv.Config.Handler = New(d)
	var gw *sandbox.Gateway
	switch {
	case cfg.gateway:
		gw = sandbox.NewGateway(db, hubSandboxSecret, 10*time.Millisecond, log)
	case cfg.refunds:
		gw = sandbox.NewGateway(db, hubSandboxSecret, time.Hour, log)
	}
	if gw != nil {
		svc.RegisterGateway(gw)
	}
	srv.Start()
	t.Cleanup(srv.Close)
	if gw != nil {
		t.Cleanup(gw.Close) // runs before srv.Close
	}
	client := &http.Client{Timeout: 15 * time.Second}
	if cfg.noRedirect {
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return &hubEnv{db: db, svc: svc, srv: srv, client: client, http: &httpx.Client{Base: srv.URL, HTTP: client}}
}

// hubReq is one HTTP request to the hub.
type hubReq struct {
	method string
	path   string
	auth   string // the Authorization header, sent when not empty
	// body is nil (no body), a string or []byte (sent as is) or any other value (sent as JSON).
	body        any
	contentType string // application/json when empty and there is a body
	header      map[string]string
}

// hubResp is the hub's answer.
type hubResp struct {
	status int
	header http.Header
	body   []byte
}

func (r hubResp) String() string {
	b := r.body
	if len(b) > 600 {
		b = append(b[:600:600], "…"...)
	}
	return fmt.Sprintf("%d %s", r.status, b)
}

func hubBearer(token string) string { return "Bearer " + token }

var hubAdminAuth = hubBearer(hubAdminToken)

// do sends r and returns the answer. Every answer is checked for leaked internals.
func (e *hubEnv) do(t testing.TB, r hubReq) hubResp {
	t.Helper()
	header := http.Header{}
	for k, v := range r.header {
		header.Set(k, v)
	}
	if r.auth != "" && header.Get("Authorization") == "" {
		header.Set("Authorization", r.auth)
	}
	res := e.http.Send(t, httpx.Request{Method: r.method, Path: r.path, Body: r.body, ContentType: r.contentType, Header: header})
	for _, leak := range []string{"goroutine", "panic"} {
		if bytes.Contains(bytes.ToLower(res.Body), []byte(leak)) {
			t.Errorf("%s %s: response leaks %q: %s", r.method, r.path, leak, res.Body)
		}
	}
	return hubRespOf(res)
}

// hubRespOf is the hubResp of an httpx answer.
func hubRespOf(r httpx.Response) hubResp {
	return hubResp{status: r.Status, header: r.Header, body: r.Body}
}

func (e *hubEnv) get(t testing.TB, path, auth string) hubResp {
	t.Helper()
	return e.do(t, hubReq{method: http.MethodGet, path: path, auth: auth})
}

func (e *hubEnv) post(t testing.TB, path, auth string, body any) hubResp {
	t.Helper()
	return e.do(t, hubReq{method: http.MethodPost, path: path, auth: auth, body: body})
}

func (e *hubEnv) put(t testing.TB, path, auth string, body any) hubResp {
	t.Helper()
	return e.do(t, hubReq{method: http.MethodPut, path: path, auth: auth, body: body})
}

// hubDecode decodes a JSON answer into T after checking its status.
func hubDecode[T any](t testing.TB, r hubResp, status int) T {
	t.Helper()
	var v T
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r, err)
	}
	return v
}

// hubWantError checks that r is an error answer with the given status and exactly the envelope
// {"error":{"code","message"}}, and returns the message.
func hubWantError(t testing.TB, r hubResp, status int, code string) string {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body: %s", r.status, status, r)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &top); err != nil {
		t.Fatalf("error body is not a JSON object: %v; body: %s", err, r)
	}
	if len(top) != 1 || top["error"] == nil {
		t.Fatalf("error body must be exactly {\"error\":{…}}, got %s", r)
	}
	var detail map[string]any
	if err := json.Unmarshal(top["error"], &detail); err != nil {
		t.Fatalf("\"error\" is not an object: %v; body: %s", err, r)
	}
	if len(detail) != 2 {
		t.Errorf("\"error\" must hold exactly code and message, got %s", r)
	}
	gotCode, ok1 := detail["code"].(string)
	msg, ok2 := detail["message"].(string)
	if !ok1 || !ok2 {
		t.Fatalf("code and message must be strings, got %s", r)
	}
	if gotCode != code {
		t.Errorf("error code = %q, want %q; body: %s", gotCode, code, r)
	}
	if strings.TrimSpace(msg) == "" {
		t.Errorf("error message is empty: %s", r)
	}
	return msg
}

// hubStep runs one step of a scenario and stops the scenario when it fails: later steps depend on it.
func hubStep(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

// hubEventually polls cond until it holds or the deadline passes; it is a bounded wait, not a timing
// assertion.
func hubEventually(t testing.TB, within time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still not true after %s (last state: %s)", what, within, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------------------------------
// Domain helpers
// ---------------------------------------------------------------------------------------------------

type hubStore struct {
	code     string
	lat, lng float64
	status   string
}

func (e *hubEnv) putStore(t testing.TB, s hubStore) catalog.StoreView {
	t.Helper()
	body := map[string]any{"name": "Store " + s.code, "address": "Address of " + s.code, "lat": s.lat, "lng": s.lng, "status": s.status}
	return hubDecode[catalog.StoreView](t, e.put(t, "/api/v1/admin/stores/"+s.code, hubAdminAuth, body), http.StatusOK)
}

func (e *hubEnv) putProduct(t testing.TB, sku string, priceFen int64) catalog.ProductView {
	t.Helper()
	body := map[string]any{"name": "Product " + sku, "price_fen": priceFen}
	return hubDecode[catalog.ProductView](t, e.put(t, "/api/v1/admin/products/"+sku, hubAdminAuth, body), http.StatusOK)
}

func (e *hubEnv) putStock(t testing.TB, store, sku string, onHand int64) catalog.StockView {
	t.Helper()
	r := e.put(t, "/api/v1/admin/stores/"+store+"/stock/"+sku, hubAdminAuth, map[string]any{"on_hand": onHand})
	return hubDecode[catalog.StockView](t, r, http.StatusOK)
}

// login signs a sandbox shopper in and returns the Authorization header value and the member.
func (e *hubEnv) login(t testing.TB, user string) (string, member.View) {
	t.Helper()
	l := hubDecode[member.Login](t, e.post(t, "/api/v1/auth/sandbox", "", map[string]any{"user": user}), http.StatusOK)
	if l.Token == "" || l.Member.ID == 0 {
		t.Fatalf("login of %s returned no token or member: %+v", user, l)
	}
	return hubBearer(l.Token), l.Member
}

func (e *hubEnv) createOrder(t testing.TB, auth string, body any) core.OrderView {
	t.Helper()
	return hubDecode[core.OrderView](t, e.post(t, "/api/v1/orders", auth, body), http.StatusCreated)
}

func hubPickup(store string, items ...any) map[string]any {
	var its []map[string]any
	for i := 0; i+1 < len(items); i += 2 {
		its = append(its, map[string]any{"sku": items[i], "qty": items[i+1]})
	}
	return map[string]any{"store": store, "fulfillment": "pickup", "items": its}
}

func (e *hubEnv) order(t testing.TB, auth, no string) core.OrderView {
	t.Helper()
	return hubDecode[core.OrderView](t, e.get(t, "/api/v1/orders/"+no, auth), http.StatusOK)
}

func (e *hubEnv) orders(t testing.TB, auth string) []core.OrderView {
	t.Helper()
	return hubDecode[[]core.OrderView](t, e.get(t, "/api/v1/orders", auth), http.StatusOK)
}

// available returns sku → available at a store, as the shopper API shows it.
func (e *hubEnv) available(t testing.TB, store string) map[string]int64 {
	t.Helper()
	rows := hubDecode[[]catalog.Availability](t, e.get(t, "/api/v1/stores/"+store+"/products", ""), http.StatusOK)
	out := map[string]int64{}
	for _, r := range rows {
		out[r.SKU] = r.Available
	}
	return out
}

// stock reads a stock row straight from core (on_hand and reserved are not on the shopper API).
func (e *hubEnv) stock(t testing.TB, store, sku string) catalog.StockView {
	t.Helper()
	s, err := e.svc.Catalog.Stock(context.Background(), store, sku)
	if err != nil {
		t.Fatalf("stock %s/%s: %v", store, sku, err)
	}
	return s
}

func (e *hubEnv) wantStock(t testing.TB, store, sku string, onHand, reserved int64) {
	t.Helper()
	s := e.stock(t, store, sku)
	if s.OnHand != onHand || s.Reserved != reserved {
		t.Errorf("stock %s/%s = on_hand %d reserved %d, want on_hand %d reserved %d", store, sku, s.OnHand, s.Reserved, onHand, reserved)
	}
}

// waitStatus polls an order until it reaches status (bounded by hubPaidWait).
func (e *hubEnv) waitStatus(t testing.TB, auth, no string, status core.Status) core.OrderView {
	t.Helper()
	var last core.OrderView
	hubEventually(t, hubPaidWait, "order "+no+" becomes "+string(status), func() (bool, string) {
		last = e.order(t, auth, no)
		return last.Status == status, string(last.Status)
	})
	return last
}

// sendNotification posts a sandbox notification with exactly the given body and headers.
func (e *hubEnv) sendNotification(t testing.TB, body []byte, header map[string]string) hubResp {
	t.Helper()
	return e.do(t, hubReq{method: http.MethodPost, path: "/webhooks/sandbox", body: body, header: header})
}

// hubSigned returns the headers of a notification body signed with secret at ts.
func hubSigned(secret string, ts time.Time, body []byte) map[string]string {
	return map[string]string{
		sandbox.HeaderTimestamp: fmt.Sprint(ts.Unix()),
		sandbox.HeaderSignature: sandbox.Sign([]byte(secret), ts.Unix(), body),
	}
}

func hubJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------------------------------
// Health
// ---------------------------------------------------------------------------------------------------

func TestAPIHealth(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		tests := []struct {
			path  string
			check func(t *testing.T, body map[string]any)
		}{
			{"/healthz", func(t *testing.T, body map[string]any) {
				if body["status"] != "ok" {
					t.Errorf("status = %v, want ok", body["status"])
				}
			}},
			{"/readyz", func(t *testing.T, body map[string]any) {
				if body["status"] != "ready" {
					t.Errorf("status = %v, want ready", body["status"])
				}
				if v, ok := body["schema_version"].(float64); !ok || int(v) != models.SchemaVersion() {
					t.Errorf("schema_version = %v, want %d", body["schema_version"], models.SchemaVersion())
				}
			}},
		}
		for _, tc := range tests {
			t.Run(tc.path, func(t *testing.T) {
				tc.check(t, hubDecode[map[string]any](t, e.get(t, tc.path, ""), http.StatusOK))
			})
		}
	})
}

// ---------------------------------------------------------------------------------------------------
// Full pickup flow
// ---------------------------------------------------------------------------------------------------

func TestAPIFullPickupFlow(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{gateway: true})
		stores := []hubStore{
			{code: "S03", lat: hubLat + 0.100, lng: hubLng, status: "open"}, // ~11 km
			{code: "S01", lat: hubLat, lng: hubLng, status: "open"},         // where the shopper is
			{code: "S02", lat: hubLat + 0.027, lng: hubLng, status: "open"}, // ~3 km
		}
		var alice, bob string
		var ord core.OrderView

		hubStep(t, "admin sets up stores, products and stock", func(t *testing.T) {
			for _, s := range stores {
				v := e.putStore(t, s)
				if v.Code != s.code || v.Status != "open" || v.Lat != s.lat {
					t.Errorf("PUT store %s returned %+v", s.code, v)
				}
			}
			if p := e.putProduct(t, "TEA", 1250); p.PriceFen != 1250 || p.SKU != "TEA" {
				t.Errorf("PUT product returned %+v", p)
			}
			e.putProduct(t, "BUN", 300)
			if s := e.putStock(t, "S01", "TEA", 10); s.OnHand != 10 || s.Available != 10 || s.Reserved != 0 {
				t.Errorf("PUT stock returned %+v", s)
			}
			e.putStock(t, "S01", "BUN", 5)
			e.putStock(t, "S02", "TEA", 3)
		})

		hubStep(t, "shoppers log in", func(t *testing.T) {
			var a, b member.View
			alice, a = e.login(t, "alice")
			bob, b = e.login(t, "bob")
			if a.ID == b.ID {
				t.Fatalf("alice and bob share member %d", a.ID)
			}
			again, a2 := e.login(t, "alice")
			if a2.ID != a.ID || again == alice {
				t.Errorf("second login of alice: member %d (want %d), token reused %v", a2.ID, a.ID, again == alice)
			}
			me := hubDecode[member.View](t, e.get(t, "/api/v1/me", alice), http.StatusOK)
			if me.ID != a.ID || !slices.Equal(me.Identities, []string{"sandbox"}) {
				t.Errorf("GET /me = %+v, want member %d with identity sandbox", me, a.ID)
			}
		})

		hubStep(t, "stores are listed nearest first with distance_m", func(t *testing.T) {
			lat, lng := hubLat+0.001, hubLng+0.001
			got := hubDecode[[]catalog.StoreView](t, e.get(t, fmt.Sprintf("/api/v1/stores?lat=%v&lng=%v", lat, lng), ""), http.StatusOK)
			var codes []string
			for _, s := range got {
				codes = append(codes, s.Code)
				if s.DistanceM == nil {
					t.Fatalf("store %s has no distance_m", s.Code)
				}
				if want := catalog.DistanceM(lat, lng, s.Lat, s.Lng); math.Abs(*s.DistanceM-want) > 1 {
					t.Errorf("store %s distance_m = %.1f, want %.1f", s.Code, *s.DistanceM, want)
				}
			}
			if !slices.Equal(codes, []string{"S01", "S02", "S03"}) {
				t.Errorf("order = %v, want [S01 S02 S03]", codes)
			}
			// Without a position there is no distance.
			plain := e.get(t, "/api/v1/stores", "")
			if plain.status != http.StatusOK || bytes.Contains(plain.body, []byte("distance_m")) {
				t.Errorf("GET /stores without position = %s, want 200 without distance_m", plain)
			}
		})

		hubStep(t, "products are listed with available", func(t *testing.T) {
			rows := hubDecode[[]catalog.Availability](t, e.get(t, "/api/v1/stores/S01/products", ""), http.StatusOK)
			want := []catalog.Availability{{SKU: "BUN", Name: "Product BUN", PriceFen: 300, Available: 5}, {SKU: "TEA", Name: "Product TEA", PriceFen: 1250, Available: 10}}
			if !slices.Equal(rows, want) {
				t.Errorf("products = %+v, want %+v", rows, want)
			}
		})

		hubStep(t, "pickup order is priced by the server", func(t *testing.T) {
			body := map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{
				{"sku": "TEA", "qty": 2, "price_fen": 1}, {"sku": "BUN", "qty": 1, "price_fen": 1},
			}, "total_fen": 2}
			ord = e.createOrder(t, alice, body)
			if ord.Status != core.StatusPendingPayment {
				t.Errorf("status = %s, want pending_payment", ord.Status)
			}
			if ord.TotalFen != 2*1250+300 {
				t.Errorf("total_fen = %d, want %d (server prices, not the client's)", ord.TotalFen, 2*1250+300)
			}
			if ord.Store != "S01" || ord.Fulfillment != "pickup" || len(ord.OrderNo) != 24 {
				t.Errorf("order = %+v", ord)
			}
			for _, it := range ord.Items {
				want := map[string]int64{"TEA": 1250, "BUN": 300}[it.SKU]
				if it.PriceFen != want {
					t.Errorf("item %s price_fen = %d, want %d", it.SKU, it.PriceFen, want)
				}
			}
			if !ord.ExpiresAt.After(ord.CreatedAt) {
				t.Errorf("expires_at %v is not after created_at %v", ord.ExpiresAt, ord.CreatedAt)
			}
		})

		hubStep(t, "availability drops by the ordered quantity", func(t *testing.T) {
			if got := e.available(t, "S01"); got["TEA"] != 8 || got["BUN"] != 4 {
				t.Errorf("available = %v, want TEA 8 BUN 4", got)
			}
			e.wantStock(t, "S01", "TEA", 10, 2)
		})

		hubStep(t, "paying with sandbox makes the order paid", func(t *testing.T) {
			pv := hubDecode[core.PayView](t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/pay", alice, map[string]any{"provider": "sandbox"}), http.StatusOK)
			if pv.OrderNo != ord.OrderNo || pv.Provider != "sandbox" || pv.AmountFen != ord.TotalFen {
				t.Errorf("pay = %+v", pv)
			}
			if pv.Params["sandbox_transaction"] != sandbox.TransactionID(ord.OrderNo) {
				t.Errorf("params = %v", pv.Params)
			}
			paid := e.waitStatus(t, alice, ord.OrderNo, core.StatusPaid)
			if paid.PaidAt == nil || paid.Provider != "sandbox" {
				t.Errorf("paid order = %+v, want paid_at and provider sandbox", paid)
			}
		})

		hubStep(t, "payment commits the reservation", func(t *testing.T) {
			if got := e.available(t, "S01"); got["TEA"] != 8 || got["BUN"] != 4 {
				t.Errorf("available after commit = %v, want unchanged TEA 8 BUN 4", got)
			}
			e.wantStock(t, "S01", "TEA", 8, 0)
			e.wantStock(t, "S01", "BUN", 4, 0)
		})

		hubStep(t, "paying a paid order is a conflict", func(t *testing.T) {
			hubWantError(t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/pay", alice, map[string]any{"provider": "sandbox"}), http.StatusConflict, "conflict")
		})

		hubStep(t, "the shopper's orders list it", func(t *testing.T) {
			list := e.orders(t, alice)
			if len(list) != 1 || list[0].OrderNo != ord.OrderNo || list[0].Status != core.StatusPaid || list[0].Store != "S01" {
				t.Errorf("orders = %+v, want the one paid order", list)
			}
		})

		hubStep(t, "another shopper cannot see or touch it", func(t *testing.T) {
			for _, r := range []hubReq{
				{method: http.MethodGet, path: "/api/v1/orders/" + ord.OrderNo, auth: bob},
				{method: http.MethodPost, path: "/api/v1/orders/" + ord.OrderNo + "/cancel", auth: bob},
				{method: http.MethodPost, path: "/api/v1/orders/" + ord.OrderNo + "/pay", auth: bob, body: map[string]any{"provider": "sandbox"}},
			} {
				hubWantError(t, e.do(t, r), http.StatusNotFound, "not_found")
			}
			if list := e.orders(t, bob); len(list) != 0 {
				t.Errorf("bob's orders = %+v, want none", list)
			}
			if got := e.order(t, alice, ord.OrderNo); got.Status != core.StatusPaid {
				t.Errorf("order status after bob's attempts = %s, want paid", got.Status)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Delivery store choice
// ---------------------------------------------------------------------------------------------------

func TestAPIDeliveryPicksNearestStoreWithEveryItem(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		for _, s := range []hubStore{
			{code: "SHUT", lat: hubLat + 0.0045, lng: hubLng, status: "closed"}, // ~0.5 km, closed, has all
			{code: "NEAR", lat: hubLat + 0.009, lng: hubLng, status: "open"},    // ~1 km, lacks BUN
			{code: "MID", lat: hubLat + 0.027, lng: hubLng, status: "open"},     // ~3 km, has all
			{code: "FAR", lat: hubLat + 0.045, lng: hubLng, status: "open"},     // ~5 km, has all
			{code: "OUT", lat: hubLat + 0.200, lng: hubLng, status: "open"},     // ~22 km, beyond the radius
		} {
			e.putStore(t, s)
		}
		e.putProduct(t, "TEA", 1000)
		e.putProduct(t, "BUN", 200)
		for _, st := range []struct {
			store, sku string
			n          int64
		}{
			{"SHUT", "TEA", 100}, {"SHUT", "BUN", 100},
			{"NEAR", "TEA", 10},
			{"MID", "TEA", 10}, {"MID", "BUN", 10},
			{"FAR", "TEA", 10}, {"FAR", "BUN", 12},
			{"OUT", "TEA", 500}, {"OUT", "BUN", 500},
		} {
			e.putStock(t, st.store, st.sku, st.n)
		}
		alice, _ := e.login(t, "alice")
		delivery := func(lat float64, store string, tea, bun int) map[string]any {
			b := map[string]any{"fulfillment": "delivery",
				"address": map[string]any{"text": "Room 1, Some Road", "lat": lat, "lng": hubLng},
				"items":   []map[string]any{{"sku": "TEA", "qty": tea}, {"sku": "BUN", "qty": bun}}}
			if store != "" {
				b["store"] = store
			}
			return b
		}

		hubStep(t, "nearest store with every item serves the order", func(t *testing.T) {
			ord := e.createOrder(t, alice, delivery(hubLat, "", 2, 1))
			if ord.Store != "MID" || ord.Fulfillment != "delivery" || ord.Address != "Room 1, Some Road" || ord.TotalFen != 2200 {
				t.Errorf("order = %+v, want store MID, delivery, total 2200", ord)
			}
			e.wantStock(t, "MID", "TEA", 10, 2)
			e.wantStock(t, "MID", "BUN", 10, 1)
			// NEAR was tried first and could reserve TEA before failing on BUN: that must be rolled back.
			e.wantStock(t, "NEAR", "TEA", 10, 0)
			e.wantStock(t, "SHUT", "TEA", 100, 0)
		})

		tests := []struct {
			name    string
			body    map[string]any
			status  int
			code    string
			msgPart string
		}{
			{"no store within radius has every item", delivery(hubLat, "", 1, 13), http.StatusConflict, "out_of_stock", "has every item"},
			{"no open store near the address", delivery(39.9042, "", 1, 1), http.StatusConflict, "out_of_stock", "no open store"},
			{"named store lacks an item", delivery(hubLat, "NEAR", 1, 1), http.StatusConflict, "out_of_stock", "BUN"},
			{"named store beyond the radius", delivery(hubLat, "OUT", 1, 1), http.StatusBadRequest, "invalid_argument", "radius"},
			{"named store closed", delivery(hubLat, "SHUT", 1, 1), http.StatusConflict, "conflict", "closed"},
			{"no address", map[string]any{"fulfillment": "delivery", "items": []map[string]any{{"sku": "TEA", "qty": 1}}}, http.StatusBadRequest, "invalid_argument", "address"},
			{"address without text", map[string]any{"fulfillment": "delivery", "address": map[string]any{"lat": hubLat, "lng": hubLng},
				"items": []map[string]any{{"sku": "TEA", "qty": 1}}}, http.StatusBadRequest, "invalid_argument", "address"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				msg := hubWantError(t, e.post(t, "/api/v1/orders", alice, tc.body), tc.status, tc.code)
				if !strings.Contains(msg, tc.msgPart) {
					t.Errorf("message %q does not mention %q", msg, tc.msgPart)
				}
			})
		}

		t.Run("failed orders reserve nothing", func(t *testing.T) {
			e.wantStock(t, "NEAR", "TEA", 10, 0)
			e.wantStock(t, "MID", "TEA", 10, 2)
			e.wantStock(t, "MID", "BUN", 10, 1)
			e.wantStock(t, "FAR", "TEA", 10, 0)
			e.wantStock(t, "FAR", "BUN", 12, 0)
			if n := len(e.orders(t, alice)); n != 1 {
				t.Errorf("alice has %d orders, want 1", n)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------------

func TestAPIErrors(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{gateway: true})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		e.putStore(t, hubStore{code: "C01", lat: hubLat + 0.01, lng: hubLng, status: "closed"})
		e.putProduct(t, "TEA", 500)
		e.putStock(t, "S01", "TEA", 5)
		e.putStock(t, "C01", "TEA", 5)
		shopper, _ := e.login(t, "alice")
		pending := e.createOrder(t, shopper, hubPickup("S01", "TEA", 1))
		huge := `{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA","qty":1}],"pad":"` + strings.Repeat("x", MaxJSONBody) + `"}`

		order := func(items string) string {
			return `{"store":"S01","fulfillment":"pickup","items":` + items + `}`
		}
		tests := []struct {
			name   string
			method string
			path   string
			auth   string
			body   any
			status int
			code   string
		}{
			// Malformed and mistyped bodies.
			{"malformed JSON", "POST", "/api/v1/orders", shopper, `{"store":"S01",`, 400, "invalid_argument"},
			{"not JSON", "POST", "/api/v1/orders", shopper, `store=S01`, 400, "invalid_argument"},
			{"empty body", "POST", "/api/v1/orders", shopper, ``, 400, "invalid_argument"},
			{"qty is a string", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":"2"}]`), 400, "invalid_argument"},
			{"qty is fractional", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":1.5}]`), 400, "invalid_argument"},
			{"items is an object", "POST", "/api/v1/orders", shopper, order(`{"sku":"TEA","qty":1}`), 400, "invalid_argument"},
			{"store is a number", "POST", "/api/v1/orders", shopper, `{"store":1,"fulfillment":"pickup","items":[{"sku":"TEA","qty":1}]}`, 400, "invalid_argument"},
			{"body is an array", "POST", "/api/v1/orders", shopper, `[]`, 400, "invalid_argument"},
			{"price is a string", "PUT", "/api/v1/admin/products/TEA", hubAdminAuth, `{"name":"Tea","price_fen":"500"}`, 400, "invalid_argument"},
			{"on_hand is a string", "PUT", "/api/v1/admin/stores/S01/stock/TEA", hubAdminAuth, `{"on_hand":"5"}`, 400, "invalid_argument"},
			{"lat is a string", "PUT", "/api/v1/admin/stores/S09", hubAdminAuth, `{"name":"x","lat":"31","lng":121}`, 400, "invalid_argument"},
			{"body over 1 MiB", "POST", "/api/v1/orders", shopper, huge, 413, "invalid_argument"},

			// Order validation.
			{"unknown SKU", "POST", "/api/v1/orders", shopper, order(`[{"sku":"NOPE","qty":1}]`), 404, "not_found"},
			{"zero qty", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":0}]`), 400, "invalid_argument"},
			{"negative qty", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":-1}]`), 400, "invalid_argument"},
			{"qty over 999", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":1000}]`), 400, "invalid_argument"},
			{"huge qty", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":9223372036854775807}]`), 400, "invalid_argument"},
			{"repeated SKU over 999 in total", "POST", "/api/v1/orders", shopper, order(`[{"sku":"TEA","qty":600},{"sku":"TEA","qty":400}]`), 400, "invalid_argument"},
			{"empty items", "POST", "/api/v1/orders", shopper, order(`[]`), 400, "invalid_argument"},
			{"no items", "POST", "/api/v1/orders", shopper, `{"store":"S01","fulfillment":"pickup"}`, 400, "invalid_argument"},
			{"unknown fulfillment", "POST", "/api/v1/orders", shopper, `{"store":"S01","fulfillment":"drone","items":[{"sku":"TEA","qty":1}]}`, 400, "invalid_argument"},
			{"pickup without store", "POST", "/api/v1/orders", shopper, `{"fulfillment":"pickup","items":[{"sku":"TEA","qty":1}]}`, 400, "invalid_argument"},
			{"unknown store", "POST", "/api/v1/orders", shopper, hubPickup("NOPE", "TEA", 1), 404, "not_found"},
			{"closed store", "POST", "/api/v1/orders", shopper, hubPickup("C01", "TEA", 1), 409, "conflict"},
			{"more than in stock", "POST", "/api/v1/orders", shopper, hubPickup("S01", "TEA", 5), 409, "out_of_stock"},

			// Shopper authentication.
			{"no bearer", "POST", "/api/v1/orders", "", hubPickup("S01", "TEA", 1), 401, "unauthenticated"},
			{"invalid bearer", "POST", "/api/v1/orders", "Bearer not-a-session", hubPickup("S01", "TEA", 1), 401, "unauthenticated"},
			{"empty bearer", "GET", "/api/v1/me", "Bearer ", nil, 401, "unauthenticated"},
			{"basic auth", "GET", "/api/v1/orders", "Basic YWxpY2U6cHc=", nil, 401, "unauthenticated"},
			{"admin token is no session", "GET", "/api/v1/me", hubAdminAuth, nil, 401, "unauthenticated"},

			// Admin authentication.
			{"admin without token", "PUT", "/api/v1/admin/products/TEA", "", `{"name":"Tea","price_fen":1}`, 401, "unauthenticated"},
			{"admin with wrong token", "PUT", "/api/v1/admin/products/TEA", "Bearer admx", `{"name":"Tea","price_fen":1}`, 401, "unauthenticated"},
			{"admin with a shopper token", "PUT", "/api/v1/admin/stores/S01/stock/TEA", shopper, `{"on_hand":0}`, 401, "unauthenticated"},
			{"import without token", "POST", "/api/v1/admin/import", "", "sku,name,price_fen\nTEA,Tea,1\n", 401, "unauthenticated"},

			// Admin validation.
			{"stock of unknown store", "PUT", "/api/v1/admin/stores/NOPE/stock/TEA", hubAdminAuth, `{"on_hand":1}`, 404, "not_found"},
			{"stock of unknown sku", "PUT", "/api/v1/admin/stores/S01/stock/NOPE", hubAdminAuth, `{"on_hand":1}`, 404, "not_found"},
			{"stock without on_hand", "PUT", "/api/v1/admin/stores/S01/stock/TEA", hubAdminAuth, `{}`, 400, "invalid_argument"},
			{"negative stock", "PUT", "/api/v1/admin/stores/S01/stock/TEA", hubAdminAuth, `{"on_hand":-1}`, 400, "invalid_argument"},
			{"zero price", "PUT", "/api/v1/admin/products/TEA", hubAdminAuth, `{"name":"Tea","price_fen":0}`, 400, "invalid_argument"},
			{"store at 0,0", "PUT", "/api/v1/admin/stores/S09", hubAdminAuth, `{"name":"x","lat":0,"lng":0}`, 400, "invalid_argument"},
			{"store with bad status", "PUT", "/api/v1/admin/stores/S09", hubAdminAuth, `{"name":"x","lat":31,"lng":121,"status":"gone"}`, 400, "invalid_argument"},

			// Payments and orders.
			{"unknown provider", "POST", "/api/v1/orders/" + pending.OrderNo + "/pay", shopper, `{"provider":"bitcoin"}`, 400, "invalid_argument"},
			{"no provider", "POST", "/api/v1/orders/" + pending.OrderNo + "/pay", shopper, `{}`, 400, "invalid_argument"},
			{"unknown order", "GET", "/api/v1/orders/20990101000000000000", shopper, nil, 404, "not_found"},
			{"cancel unknown order", "POST", "/api/v1/orders/nope/cancel", shopper, nil, 404, "not_found"},

			// Catalog queries.
			{"products of unknown store", "GET", "/api/v1/stores/NOPE/products", "", nil, 404, "not_found"},
			{"lat not a number", "GET", "/api/v1/stores?lat=abc&lng=121", "", nil, 400, "invalid_argument"},
			{"lat NaN", "GET", "/api/v1/stores?lat=NaN&lng=121", "", nil, 400, "invalid_argument"},
			{"lng infinite", "GET", "/api/v1/stores?lat=31&lng=Inf", "", nil, 400, "invalid_argument"},
			{"lat without lng", "GET", "/api/v1/stores?lat=31", "", nil, 400, "invalid_argument"},
			{"lat out of range", "GET", "/api/v1/stores?lat=91&lng=121", "", nil, 400, "invalid_argument"},

			// Routing.
			{"unknown route", "GET", "/api/v1/nope", "", nil, 404, "not_found"},
			{"unknown root route", "POST", "/nope", "", `{}`, 404, "not_found"},
			{"unknown admin route", "GET", "/api/v1/admin/nope", "", nil, 404, "not_found"},
			{"wrong method", "DELETE", "/api/v1/orders", shopper, nil, 405, "invalid_argument"},

			// Webhook body limit.
			{"webhook body over 64 KiB", "POST", "/webhooks/sandbox", "", strings.Repeat("x", 64<<10+1), 413, "invalid_argument"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				r := e.do(t, hubReq{method: tc.method, path: tc.path, auth: tc.auth, body: tc.body})
				hubWantError(t, r, tc.status, tc.code)
				if tc.status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
					t.Errorf("401 without WWW-Authenticate")
				}
			})
		}

		t.Run("rejected requests changed nothing", func(t *testing.T) {
			e.wantStock(t, "S01", "TEA", 5, 1)
			e.wantStock(t, "C01", "TEA", 5, 0)
			if list := e.orders(t, shopper); len(list) != 1 || list[0].OrderNo != pending.OrderNo {
				t.Errorf("orders = %+v, want only the setup order", list)
			}
			if rows := hubDecode[[]catalog.Availability](t, e.get(t, "/api/v1/stores/S01/products", ""), http.StatusOK); len(rows) != 1 || rows[0].PriceFen != 500 || rows[0].Name != "Product TEA" {
				t.Errorf("products = %+v, want TEA unchanged", rows)
			}
		})
	})
}

func TestAPIOrderStateConflicts(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{gateway: true})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		e.putProduct(t, "TEA", 500)
		e.putStock(t, "S01", "TEA", 5)
		alice, _ := e.login(t, "alice")

		t.Run("cancel then pay", func(t *testing.T) {
			ord := e.createOrder(t, alice, hubPickup("S01", "TEA", 2))
			e.wantStock(t, "S01", "TEA", 5, 2)
			c := hubDecode[core.OrderView](t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", alice, nil), http.StatusOK)
			if c.Status != core.StatusCancelled {
				t.Errorf("status after cancel = %s, want cancelled", c.Status)
			}
			e.wantStock(t, "S01", "TEA", 5, 0)
			hubWantError(t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/pay", alice, map[string]any{"provider": "sandbox"}), http.StatusConflict, "conflict")
			hubWantError(t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", alice, nil), http.StatusConflict, "conflict")
			if got := e.order(t, alice, ord.OrderNo); got.Status != core.StatusCancelled {
				t.Errorf("status = %s, want cancelled", got.Status)
			}
		})

		t.Run("stock set below reserved", func(t *testing.T) {
			ord := e.createOrder(t, alice, hubPickup("S01", "TEA", 3))
			msg := hubWantError(t, e.put(t, "/api/v1/admin/stores/S01/stock/TEA", hubAdminAuth, map[string]any{"on_hand": 2}), http.StatusConflict, "conflict")
			if !strings.Contains(msg, "reserved") {
				t.Errorf("message %q does not say why", msg)
			}
			e.wantStock(t, "S01", "TEA", 5, 3)
			if s := e.putStock(t, "S01", "TEA", 3); s.OnHand != 3 || s.Reserved != 3 || s.Available != 0 {
				t.Errorf("stock at the reservation = %+v, want on_hand 3 reserved 3 available 0", s)
			}
			hubDecode[core.OrderView](t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/cancel", alice, nil), http.StatusOK)
			e.wantStock(t, "S01", "TEA", 3, 0)
		})
	})
}

func TestAPIDisabledFeatures(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		t.Run("admin API off without a token", func(t *testing.T) {
			e := newHubEnv(t, db, hubConfig{noAdmin: true})
			for _, r := range []hubReq{
				{method: "PUT", path: "/api/v1/admin/stores/S01", body: map[string]any{"name": "x", "lat": hubLat, "lng": hubLng}},
				{method: "PUT", path: "/api/v1/admin/stores/S01", auth: "Bearer ", body: map[string]any{"name": "x", "lat": hubLat, "lng": hubLng}},
				{method: "PUT", path: "/api/v1/admin/products/TEA", auth: hubAdminAuth, body: map[string]any{"name": "x", "price_fen": 1}},
				{method: "POST", path: "/api/v1/admin/import", auth: hubAdminAuth, body: "sku,name,price_fen\nTEA,Tea,1\n", contentType: "text/csv"},
			} {
				t.Run(r.method+" "+r.path+" "+r.auth, func(t *testing.T) {
					hubWantError(t, e.do(t, r), http.StatusForbidden, "forbidden")
				})
			}
			if n := len(hubDecode[[]catalog.StoreView](t, e.get(t, "/api/v1/stores", ""), http.StatusOK)); n != 0 {
				t.Errorf("%d stores exist, want none", n)
			}
		})

		t.Run("sandbox off", func(t *testing.T) {
			e := newHubEnv(t, db, hubConfig{noSandbox: true})
			// The sandbox login is off, so open a session through core.
			l, err := e.svc.Members.SignIn(context.Background(), "wechat", "openid-1", "Wei")
			if err != nil {
				t.Fatal(err)
			}
			auth := hubBearer(l.Token)
			note := hubJSON(t, sandbox.Notification{ID: "e1", OrderNo: "20990101000000000001", TransactionID: "t1", AmountFen: 1, PaidAt: time.Now(), Status: "SUCCESS"})
			for _, r := range []hubReq{
				{method: "POST", path: "/api/v1/auth/sandbox", body: map[string]any{"user": "alice"}},
				{method: "POST", path: "/api/v1/me/phone/sandbox", auth: auth, body: map[string]any{"phone": "13812340000"}},
				{method: "POST", path: "/webhooks/sandbox", body: note, header: hubSigned(hubSandboxSecret, time.Now(), note)},
			} {
				t.Run(r.path, func(t *testing.T) {
					hubWantError(t, e.do(t, r), http.StatusForbidden, "forbidden")
				})
			}
			me := hubDecode[member.View](t, e.get(t, "/api/v1/me", auth), http.StatusOK)
			if me.ID != l.Member.ID || me.Phone != "" {
				t.Errorf("GET /me = %+v, want member %d without phone", me, l.Member.ID)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Sandbox webhook security
// ---------------------------------------------------------------------------------------------------

func TestAPISandboxWebhook(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		now := time.Now().UTC().Truncate(time.Second)
		e := newHubEnv(t, db, hubConfig{clock: testclock.New(now)})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		e.putProduct(t, "TEA", 1250)
		e.putStock(t, "S01", "TEA", 10)
		alice, _ := e.login(t, "alice")
		ord := e.createOrder(t, alice, hubPickup("S01", "TEA", 2))
		note := func(txn string, amount int64) sandbox.Notification {
			return sandbox.Notification{ID: "sbx_evt_" + txn, OrderNo: ord.OrderNo, TransactionID: txn, AmountFen: amount, PaidAt: now, Status: "SUCCESS"}
		}
		txn := sandbox.TransactionID(ord.OrderNo)
		good := hubJSON(t, note(txn, ord.TotalFen))
		unpaid := func(t *testing.T) {
			t.Helper()
			if got := e.order(t, alice, ord.OrderNo); got.Status != core.StatusPendingPayment || got.PaidAt != nil {
				t.Errorf("order = %s (paid_at %v), want pending_payment and unpaid", got.Status, got.PaidAt)
			}
			e.wantStock(t, "S01", "TEA", 10, 2)
		}

		rejected := []struct {
			name   string
			body   []byte
			header map[string]string
			status int
			code   string
		}{
			{"forged signature", good, hubSigned("wrong-secret", now, good), 401, "unauthenticated"},
			{"amount tampered after signing", hubJSON(t, note(txn, 1)), hubSigned(hubSandboxSecret, now, good), 401, "unauthenticated"},
			{"missing headers", good, nil, 401, "unauthenticated"},
			{"missing signature", good, map[string]string{sandbox.HeaderTimestamp: fmt.Sprint(now.Unix())}, 401, "unauthenticated"},
			{"missing timestamp", good, map[string]string{sandbox.HeaderSignature: sandbox.Sign([]byte(hubSandboxSecret), now.Unix(), good)}, 401, "unauthenticated"},
			{"timestamp not a number", good, map[string]string{sandbox.HeaderTimestamp: "yesterday", sandbox.HeaderSignature: sandbox.Sign([]byte(hubSandboxSecret), now.Unix(), good)}, 401, "unauthenticated"},
			{"signature over another timestamp", good, map[string]string{sandbox.HeaderTimestamp: fmt.Sprint(now.Unix() + 1), sandbox.HeaderSignature: sandbox.Sign([]byte(hubSandboxSecret), now.Unix(), good)}, 401, "unauthenticated"},
			{"timestamp 10 minutes old", good, hubSigned(hubSandboxSecret, now.Add(-10*time.Minute), good), 401, "unauthenticated"},
			{"timestamp 10 minutes ahead", good, hubSigned(hubSandboxSecret, now.Add(10*time.Minute), good), 401, "unauthenticated"},
			{"signed but not a success", hubJSON(t, sandbox.Notification{ID: "x", OrderNo: ord.OrderNo, TransactionID: txn, AmountFen: ord.TotalFen, Status: "FAILED"}), nil, 400, "invalid_argument"},
			{"signed but not JSON", []byte("amount=2500"), nil, 400, "invalid_argument"},
		}
		for _, tc := range rejected {
			t.Run(tc.name, func(t *testing.T) {
				h := tc.header
				if h == nil && tc.status == http.StatusBadRequest {
					h = hubSigned(hubSandboxSecret, now, tc.body)
				}
				hubWantError(t, e.sendNotification(t, tc.body, h), tc.status, tc.code)
				unpaid(t)
			})
		}

		result := func(t *testing.T, r hubResp) string {
			t.Helper()
			return hubDecode[map[string]string](t, r, http.StatusOK)["result"]
		}

		hubStep(t, "valid but amount mismatch", func(t *testing.T) {
			body := hubJSON(t, note("SBXMISMATCH", ord.TotalFen+1))
			if got := result(t, e.sendNotification(t, body, hubSigned(hubSandboxSecret, now, body))); got != "amount_mismatch" {
				t.Errorf("result = %q, want amount_mismatch", got)
			}
			unpaid(t)
		})

		hubStep(t, "valid within the tolerance", func(t *testing.T) {
			ts := now.Add(-4 * time.Minute)
			if got := result(t, e.sendNotification(t, good, hubSigned(hubSandboxSecret, ts, good))); got != "applied" {
				t.Errorf("result = %q, want applied", got)
			}
			got := e.order(t, alice, ord.OrderNo)
			if got.Status != core.StatusPaid || got.Provider != "sandbox" || got.PaidAt == nil || !got.PaidAt.Equal(now) {
				t.Errorf("order = %+v, want paid with sandbox at %v", got, now)
			}
			e.wantStock(t, "S01", "TEA", 8, 0)
		})

		hubStep(t, "duplicate is applied once", func(t *testing.T) {
			dup := note(txn, ord.TotalFen)
			dup.ID = "sbx_evt_resent"
			body := hubJSON(t, dup)
			for i := 0; i < 2; i++ {
				if got := result(t, e.sendNotification(t, body, hubSigned(hubSandboxSecret, now, body))); got != "duplicate" {
					t.Errorf("result = %q, want duplicate", got)
				}
			}
			// The provider's own sender gets a 2xx for a duplicate, so it stops retrying.
			reply, err := sandbox.Send(context.Background(), e.client, e.srv.URL+"/webhooks/sandbox", []byte(hubSandboxSecret), dup, now)
			if err != nil || !strings.Contains(reply, `"duplicate"`) {
				t.Errorf("sandbox.Send of a duplicate = %q, %v; want a 2xx duplicate reply", reply, err)
			}
			e.wantStock(t, "S01", "TEA", 8, 0)
			if got := e.available(t, "S01")["TEA"]; got != 8 {
				t.Errorf("available = %d, want 8", got)
			}
			if got := e.order(t, alice, ord.OrderNo); got.Status != core.StatusPaid {
				t.Errorf("status = %s, want paid", got.Status)
			}
		})

		hubStep(t, "valid notification for an unknown order", func(t *testing.T) {
			n := note("SBXUNKNOWN", 100)
			n.OrderNo = "20990101000000999999"
			body := hubJSON(t, n)
			if got := result(t, e.sendNotification(t, body, hubSigned(hubSandboxSecret, now, body))); got != "unknown_order" {
				t.Errorf("result = %q, want unknown_order", got)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Phone binding
// ---------------------------------------------------------------------------------------------------

func TestAPIPhoneBinding(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		e.putProduct(t, "TEA", 500)
		e.putStock(t, "S01", "TEA", 10)
		alice, a := e.login(t, "alice")
		bob, b := e.login(t, "bob")
		const phone, masked = "13812340000", "138****0000"
		bind := func(t *testing.T, auth, p string) hubResp {
			t.Helper()
			r := e.post(t, "/api/v1/me/phone/sandbox", auth, map[string]any{"phone": p})
			if bytes.Contains(r.body, []byte(phone)) {
				t.Errorf("response carries the unmasked phone: %s", r)
			}
			return r
		}

		invalid := []struct{ phone string }{
			{phone: ""},
			{phone: "12345"},
			{phone: "23812340000"},
			{phone: "1381234000a"},
			{phone: "138123400001"},
			{phone: "12812340000"},
			{phone: "+85 138 1234 0000"},
			{phone: "+1 415 555 0100"},
		}
		for _, tc := range invalid {
			t.Run("invalid phone "+tc.phone, func(t *testing.T) {
				r := bind(t, alice, tc.phone)
				hubWantError(t, r, http.StatusBadRequest, "invalid_argument")
			})
		}
		t.Run("phone is not a string", func(t *testing.T) {
			hubWantError(t, e.post(t, "/api/v1/me/phone/sandbox", alice, `{"phone":13812340000}`), http.StatusBadRequest, "invalid_argument")
		})
		t.Run("no session", func(t *testing.T) {
			hubWantError(t, bind(t, "", phone), http.StatusUnauthorized, "unauthenticated")
		})

		hubStep(t, "first shopper binds the phone", func(t *testing.T) {
			m := hubDecode[member.View](t, bind(t, alice, phone), http.StatusOK)
			if m.ID != a.ID || m.Phone != masked {
				t.Errorf("bind = %+v, want member %d with phone %s", m, a.ID, masked)
			}
			again := hubDecode[member.View](t, bind(t, alice, phone), http.StatusOK)
			if again.ID != a.ID {
				t.Errorf("binding the own phone again = %+v, want member %d", again, a.ID)
			}
		})

		var bobOrder core.OrderView
		hubStep(t, "second shopper orders", func(t *testing.T) {
			bobOrder = e.createOrder(t, bob, hubPickup("S01", "TEA", 1))
		})

		hubStep(t, "second shopper binding the same phone is merged into the first", func(t *testing.T) {
			m := hubDecode[member.View](t, bind(t, bob, "+86 138-1234-0000"), http.StatusOK)
			if m.ID != a.ID || m.Phone != masked {
				t.Errorf("bind = %+v, want member %d with phone %s", m, a.ID, masked)
			}
		})

		hubStep(t, "second token now belongs to the first member", func(t *testing.T) {
			for _, auth := range []string{alice, bob} {
				r := e.get(t, "/api/v1/me", auth)
				if bytes.Contains(r.body, []byte(phone)) {
					t.Errorf("GET /me carries the unmasked phone: %s", r)
				}
				me := hubDecode[member.View](t, r, http.StatusOK)
				if me.ID != a.ID || me.Phone != masked || !slices.Equal(me.Identities, []string{"sandbox", "sandbox"}) {
					t.Errorf("GET /me = %+v, want member %d, phone %s, two sandbox identities", me, a.ID, masked)
				}
			}
			_, again := e.login(t, "bob")
			if again.ID != a.ID {
				t.Errorf("bob logs in as member %d, want %d (merged, was %d)", again.ID, a.ID, b.ID)
			}
		})

		hubStep(t, "second shopper's orders show under the first", func(t *testing.T) {
			for _, auth := range []string{alice, bob} {
				list := e.orders(t, auth)
				if len(list) != 1 || list[0].OrderNo != bobOrder.OrderNo {
					t.Errorf("orders = %+v, want bob's order %s", list, bobOrder.OrderNo)
				}
			}
			e.order(t, alice, bobOrder.OrderNo)
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// CSV import
// ---------------------------------------------------------------------------------------------------

func TestAPIImportCSV(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		alice, _ := e.login(t, "alice")
		importCSV := func(t *testing.T, csv string) hubResp {
			t.Helper()
			return e.do(t, hubReq{method: http.MethodPost, path: "/api/v1/admin/import", auth: hubAdminAuth, body: csv, contentType: "text/csv"})
		}
		productCount := func(t *testing.T, skus ...string) int64 {
			t.Helper()
			var n int64
			if err := db.Conn(context.Background()).Model(&models.Product{}).Where("sku IN ?", skus).Count(&n).Error; err != nil {
				t.Fatal(err)
			}
			return n
		}

		t.Run("good and bad rows", func(t *testing.T) {
			csv := "sku,name,price_fen,store,on_hand\n" + // line 1
				"G1,Good one,100,S01,5\n" + // 2: product and stock
				"G2,Good two,200,,\n" + // 3: product only
				"B1,Bad price,12.50,,\n" + // 4: bad price
				"B2,Unknown store,100,NOPE,3\n" + // 5: valid product, unknown store
				"B3,On hand without store,100,,7\n" + // 6: on_hand without store
				"B4,Negative stock,100,S01,-1\n" + // 7: valid product, negative on_hand
				"G2,,,S01,9\n" // 8: stock only
			rep := hubDecode[catalog.ImportReport](t, importCSV(t, csv), http.StatusUnprocessableEntity)
			if rep.Applied != 3 || rep.Failed != 4 {
				t.Errorf("applied %d failed %d, want 3 and 4", rep.Applied, rep.Failed)
			}
			want := []struct {
				row  int
				part string
			}{{4, "price_fen"}, {5, "NOPE"}, {6, "store and on_hand"}, {7, "on_hand"}}
			if len(rep.Errors) != len(want) {
				t.Fatalf("errors = %+v, want rows 4-7", rep.Errors)
			}
			for i, w := range want {
				if got := rep.Errors[i]; got.Row != w.row || !strings.Contains(got.Error, w.part) {
					t.Errorf("error %d = %+v, want row %d mentioning %q", i, got, w.row, w.part)
				}
			}
			if got := e.available(t, "S01"); len(got) != 2 || got["G1"] != 5 || got["G2"] != 9 {
				t.Errorf("available = %v, want G1 5 and G2 9 only", got)
			}
			if n := productCount(t, "G1", "G2"); n != 2 {
				t.Errorf("%d good products exist, want 2", n)
			}
			// B2 and B4 had a valid product part: a failed stock part must not leave the product behind.
			if n := productCount(t, "B1", "B2", "B3", "B4"); n != 0 {
				t.Errorf("%d products of failed rows exist, want 0 (no half-applied rows)", n)
			}
			for _, sku := range []string{"B2", "B4"} {
				hubWantError(t, e.post(t, "/api/v1/orders", alice, hubPickup("S01", sku, 1)), http.StatusNotFound, "not_found")
			}
		})

		t.Run("all good rows", func(t *testing.T) {
			csv := "\xef\xbb\xbfSKU, Store ,On_Hand\r\nG1,S01,7\r\nG2,S01,0\r\n"
			rep := hubDecode[catalog.ImportReport](t, importCSV(t, csv), http.StatusOK)
			if rep.Applied != 2 || rep.Failed != 0 || rep.Errors == nil || len(rep.Errors) != 0 {
				t.Errorf("report = %+v, want 2 applied, none failed, errors []", rep)
			}
			if got := e.available(t, "S01"); got["G1"] != 7 || got["G2"] != 0 {
				t.Errorf("available = %v, want G1 7 and G2 0", got)
			}
		})

		t.Run("line numbers count blank lines", func(t *testing.T) {
			csv := "sku,name,price_fen\n" + // 1
				"G3,Good three,300\n" + // 2
				"\n" + // 3: blank
				"B5,Bad,abc\n" // 4
			rep := hubDecode[catalog.ImportReport](t, importCSV(t, csv), http.StatusUnprocessableEntity)
			if len(rep.Errors) != 1 || rep.Errors[0].Row != 4 {
				t.Fatalf("the bad row on line 4 after a blank line is reported as %+v", rep.Errors)
			}
		})

		bad := []struct {
			name, csv string
		}{
			{"empty file", ""},
			{"no sku column", "name,price_fen\nTea,100\n"},
			{"no data columns", "sku\nTEA\n"},
		}
		for _, tc := range bad {
			t.Run(tc.name, func(t *testing.T) {
				hubWantError(t, importCSV(t, tc.csv), http.StatusBadRequest, "invalid_argument")
			})
		}
	})
}

// ---------------------------------------------------------------------------------------------------
// Rate limit
// ---------------------------------------------------------------------------------------------------

func TestAPIRateLimit(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		t.Run("rapid logins get 429", func(t *testing.T) {
			e := newHubEnv(t, db, hubConfig{clock: testclock.New(time.Now().UTC())}) // frozen: no token comes back mid-test
			var statuses []int
			var limited hubResp
			for i := 0; i < 30; i++ {
				r := e.post(t, "/api/v1/auth/sandbox", "", map[string]any{"user": "flood"})
				statuses = append(statuses, r.status)
				if r.status == http.StatusTooManyRequests {
					limited = r
					break
				}
				if r.status != http.StatusOK {
					t.Fatalf("login %d = %s, want 200 or 429", i+1, r)
				}
			}
			if limited.status == 0 {
				t.Fatalf("30 rapid logins were never limited: %v", statuses)
			}
			if statuses[0] != http.StatusOK {
				t.Errorf("the first login was limited")
			}
			hubWantError(t, limited, http.StatusTooManyRequests, "rate_limited")
			if limited.header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			// Other endpoints are not limited.
			hubDecode[map[string]any](t, e.get(t, "/healthz", ""), http.StatusOK)
		})

		t.Run("a forged X-Forwarded-For does not lift the limit", func(t *testing.T) {
			e := newHubEnv(t, db, hubConfig{clock: testclock.New(time.Now().UTC())}) // frozen: no token comes back mid-test
			for i := 0; i < 30; i++ {
				if r := e.post(t, "/api/v1/auth/sandbox", "", map[string]any{"user": "flood"}); r.status == http.StatusTooManyRequests {
					break
				}
			}
			var spoofed []int
			for i := 0; i < 5; i++ {
				r := e.do(t, hubReq{method: http.MethodPost, path: "/api/v1/auth/sandbox", body: map[string]any{"user": "flood"},
					header: map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", i+1)}})
				spoofed = append(spoofed, r.status)
			}
			if slices.Contains(spoofed, http.StatusOK) {
				t.Fatalf("a limited client got %v with forged X-Forwarded-For", spoofed)
			}
		})
	})
}
