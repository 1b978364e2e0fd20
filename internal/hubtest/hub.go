package hubtest

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
)

// AdminToken is the admin API's bearer token in every hub unless WithAdminToken says otherwise.
const AdminToken = "adm"

// Hub is one running hub: database, clock, service and HTTP server, until the test ends.
type Hub struct {
	// T is the test the hub was built for; its helpers fail it.
	T testing.TB
	// DB is the hub's database, from models/dbtest.
	DB *models.DB
	// Clock is core's and the HTTP layer's clock; tests move it.
	Clock *testclock.Clock
	// Log is where the hub logs: discarded unless WithLog says otherwise.
	Log *slog.Logger
	// Service is the core service behind the engine.
	Service *core.Service
	// URL is the server's base URL, known (and passed to core as PublicURL) before the service is built.
	URL string
	// AdminToken is the admin API's bearer token; empty when the admin API is disabled.
	AdminToken string
	// Server serves the gin engine of handlers.New; it closes when the test ends.
	Server *httptest.Server
	// HTTP sends requests to the server.
	HTTP *httpx.Client
}

// Option changes how New builds a hub.
type Option func(*settings)

type settings struct {
	start      time.Time
	log        *slog.Logger
	adminToken string
	sandbox    string
	core       []func(*core.Options)
	deps       []func(*Hub, *handlers.Deps)
}

// WithClock starts the hub's clock at t instead of the current time.
func WithClock(t time.Time) Option { return func(s *settings) { s.start = t } }

// WithLog makes the hub log to l instead of discarding its logs.
func WithLog(l *slog.Logger) Option { return func(s *settings) { s.log = l } }

// WithAdminToken sets the admin API's token; "" disables the admin API.
func WithAdminToken(token string) Option { return func(s *settings) { s.adminToken = token } }

// WithSandbox turns the sandbox on (its sign-in and its webhook) with the given notification secret.
func WithSandbox(secret string) Option { return func(s *settings) { s.sandbox = secret } }

// WithCore changes the options the core service is built with, after the harness has set its own.
func WithCore(fn func(*core.Options)) Option {
	return func(s *settings) { s.core = append(s.core, fn) }
}

// WithDeps lets a test wire what the harness does not: fn runs once the service exists and before the
// engine is built, so it can register gateways and messengers on h.Service, set the provider fields of
// d, and register cleanups that run before the server closes. Several run in order.
func WithDeps(fn func(h *Hub, d *handlers.Deps)) Option {
	return func(s *settings) { s.deps = append(s.deps, fn) }
}

// New builds a hub on db and serves it over HTTP until the test ends.
func New(t testing.TB, db *models.DB, opts ...Option) *Hub {
	t.Helper()
	s := settings{start: time.Now().UTC(), log: slog.New(slog.DiscardHandler), adminToken: AdminToken}
	for _, o := range opts {
		o(&s)
	}
	// The listener exists before the service so that PublicURL (the notify URL base) is known; the
	// server only starts once everything is wired. Its cleanup is registered first so that it runs
	// last: whatever WithDeps starts (a fake posting notifications) stops before the server closes.
	srv := httptest.NewUnstartedServer(nil)
	t.Cleanup(srv.Close)
	h := &Hub{T: t, DB: db, Clock: testclock.New(s.start), Log: s.log, URL: "http://" + srv.Listener.Addr().String(),
		AdminToken: s.adminToken, Server: srv}
	h.HTTP = &httpx.Client{Base: h.URL, HTTP: srv.Client()}
	co := core.Options{OrderTTL: 15 * time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 10000, PublicURL: h.URL}
	for _, fn := range s.core {
		fn(&co)
	}
	h.Service = core.New(domain.NewEnv(db, h.Clock, h.Log), co)
	d := handlers.Deps{Service: h.Service, DB: db, Log: h.Log, Clock: h.Clock, AdminToken: h.AdminToken,
		Sandbox: s.sandbox != "", SandboxSecret: s.sandbox}
	for _, fn := range s.deps {
		fn(h, &d)
	}
	srv.Config.Handler = handlers.New(d)
	srv.Start()
	return h
}

// Call sends a request to the hub with a JSON body (unless body is nil, a string or []byte) and a bearer
// token (unless auth is empty).
func (h *Hub) Call(method, path, auth string, body any) httpx.Response {
	h.T.Helper()
	return h.HTTP.Call(h.T, method, path, auth, body)
}

// Send sends any request to the hub.
func (h *Hub) Send(r httpx.Request) httpx.Response {
	h.T.Helper()
	return h.HTTP.Send(h.T, r)
}

// WaitFor polls cond for up to five seconds and fails the test, naming what, if it never holds.
func (h *Hub) WaitFor(what string, cond func() bool) {
	h.T.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if cond() {
			return
		}
	}
	h.T.Fatalf("timed out waiting for %s", what)
}

// Count returns how many rows of table match where (a SQL condition with ? placeholders for args).
func (h *Hub) Count(table, where string, args ...any) int64 {
	h.T.Helper()
	var n int64
	if err := h.DB.Conn(context.Background()).Table(table).Where(where, args...).Count(&n).Error; err != nil {
		h.T.Fatal(err)
	}
	return n
}

// OrderStatus reads an order's status straight from the database.
func (h *Hub) OrderStatus(orderNo string) core.Status {
	h.T.Helper()
	var st string
	if err := h.DB.Conn(context.Background()).Raw("SELECT status FROM orders WHERE order_no = ?", orderNo).Scan(&st).Error; err != nil {
		h.T.Fatal(err)
	}
	return core.Status(st)
}

// Must returns v, panicking when err is set (the testing package reports the panic with its stack). It
// is for a test's own goroutine, where a call returning a value and an error cannot take a t.
func Must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
