package handlers

// Tests of the clerk console: the real engine, core and database over real HTTP, driven like a browser
// (a cookie jar, forms, redirects followed by hand so each step can be checked).

import (
	"context"
	"encoding/base64"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

const conPassword = "correct horse battery"

// conEnv is a hub with the console's fixtures: stores S01 and S02 (3 km apart, both stocking TEA and
// BUN), S03 far away, a clerk of each of S01 and S02, an admin, and a shopper.
type conEnv struct {
	*hubEnv
	shopper  string // the shopper's Authorization header
	memberID int64
}

// newConEnv builds the hub; with https the public URL is https (console cookies must be Secure).
func newConEnv(t *testing.T, db *models.DB, https bool) *conEnv {
	t.Helper()
	cfg := hubConfig{refunds: true, depsPublicURL: true, core: func(o *core.Options) { o.PasswordCost = 4 }}
	if https {
		cfg.publicURL = func(string) string { return "https://hub.example.com" }
	}
	e := &conEnv{hubEnv: newHubEnv(t, db, cfg)}
	svc := e.svc

	e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
	e.putStore(t, hubStore{code: "S02", lat: hubLat + 0.027, lng: hubLng, status: "open"})
	e.putStore(t, hubStore{code: "S03", lat: hubLat + 0.5, lng: hubLng, status: "open"})
	e.putProduct(t, "TEA", 1250)
	e.putProduct(t, "BUN", 300)
	for _, s := range []string{"S01", "S02"} {
		e.putStock(t, s, "TEA", 50)
		e.putStock(t, s, "BUN", 50)
	}
	ctx := context.Background()
	for _, in := range []staff.Input{
		{Username: "clerk1", Password: conPassword, Role: staff.RoleClerk, Store: "S01"},
		{Username: "clerk2", Password: conPassword, Role: staff.RoleClerk, Store: "S02"},
		{Username: "boss", Password: conPassword, Role: staff.RoleAdmin},
	} {
		if _, err := svc.Staff.Put(ctx, in); err != nil {
			t.Fatalf("put staff %s: %v", in.Username, err)
		}
	}
	var m member.View
	e.shopper, m = e.login(t, "alice")
	e.memberID = m.ID
	return e
}

// paidOrder places an order and applies its sandbox payment; it returns the order number.
func (e *conEnv) paidOrder(t *testing.T, body map[string]any) string {
	t.Helper()
	ord := e.createOrder(t, e.shopper, body)
	res, err := e.svc.ApplyPayment(context.Background(), core.PaymentNotification{Provider: sandbox.Provider, OrderNo: ord.OrderNo,
		TransactionID: sandbox.TransactionID(ord.OrderNo), AmountFen: ord.TotalFen, PaidAt: time.Now()})
	if err != nil || res != core.PaymentApplied {
		t.Fatalf("apply payment of %s: %v %v", ord.OrderNo, res, err)
	}
	return ord.OrderNo
}

func conDelivery(address string, items ...any) map[string]any {
	b := hubPickup("", items...)
	delete(b, "store")
	b["fulfillment"] = "delivery"
	b["address"] = map[string]any{"text": address, "lat": hubLat + 0.001, "lng": hubLng}
	return b
}

// status reads an order's state and store straight from the database.
func (e *conEnv) status(t *testing.T, no string) (core.Status, string) {
	t.Helper()
	var row struct {
		Status string
		Code   string
	}
	err := e.db.Conn(context.Background()).Table("orders").Select("orders.status, stores.code").
		Joins("JOIN stores ON stores.id = orders.store_id").Where("orders.order_no = ?", no).Scan(&row).Error
	if err != nil {
		t.Fatal(err)
	}
	return core.Status(row.Status), row.Code
}

func (e *conEnv) wantStatus(t *testing.T, no string, status core.Status, store string) {
	t.Helper()
	if st, code := e.status(t, no); st != status || code != store {
		t.Errorf("order %s is %s at %s, want %s at %s", no, st, code, status, store)
	}
}

// readyPickup makes a paid pickup order ready (as the admin) and returns the shopper's code and token.
func (e *conEnv) readyPickup(t *testing.T, no string) core.PickupView {
	t.Helper()
	ctx := context.Background()
	admin := staff.Actor{Username: "test-admin", Role: staff.RoleAdmin}
	if _, err := e.svc.AcceptOrder(ctx, admin, no); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.MarkReady(ctx, admin, no); err != nil {
		t.Fatal(err)
	}
	pv, err := e.svc.Pickup(ctx, e.memberID, no)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// ---------------------------------------------------------------------------------------------------
// A browser
// ---------------------------------------------------------------------------------------------------

type conBrowser struct {
	t      *testing.T
	base   string
	client *http.Client
	// csrf is the token of the last page read that had one.
	csrf string
}

type conResp struct {
	status int
	header http.Header
	body   string
	// cookies are the cookies the answer set, by name.
	cookies map[string]*http.Cookie
}

func (r conResp) location() string { return r.header.Get("Location") }

// browser returns a fresh browser on any test hub: its own cookies, redirects not followed.
func (e *hubEnv) browser(t *testing.T) *conBrowser {
	jar, _ := cookiejar.New(nil)
	return &conBrowser{t: t, base: e.srv.URL, client: &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

var conCSRFField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (b *conBrowser) do(method, path string, form url.Values, header map[string]string) conResp {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	r := conResp{status: resp.StatusCode, header: resp.Header, body: string(raw), cookies: map[string]*http.Cookie{}}
	for _, c := range resp.Cookies() {
		r.cookies[c.Name] = c
	}
	if m := conCSRFField.FindStringSubmatch(r.body); m != nil {
		b.csrf = html.UnescapeString(m[1])
	}
	if strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		for _, leak := range []string{"goroutine", "panic", "password_hash", conPassword} {
			if strings.Contains(r.body, leak) {
				b.t.Errorf("%s %s: page leaks %q", method, path, leak)
			}
		}
	}
	return r
}

func (b *conBrowser) get(path string) conResp {
	b.t.Helper()
	return b.do(http.MethodGet, path, nil, nil)
}

// post sends a form with the browser's CSRF token (unless the form sets its own csrf field).
func (b *conBrowser) post(path string, form url.Values) conResp {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["csrf"]; !ok {
		form.Set("csrf", b.csrf)
	}
	return b.do(http.MethodPost, path, form, nil)
}

// follow posts a form, checks it redirects (303), and reads the page it leads to.
func (b *conBrowser) follow(path string, form url.Values) conResp {
	b.t.Helper()
	r := b.post(path, form)
	if r.status != http.StatusSeeOther {
		b.t.Fatalf("POST %s = %d, want 303; body: %.400s", path, r.status, r.body)
	}
	return b.get(r.location())
}

// signIn signs a staff member in and returns the answer to the sign-in form.
func (b *conBrowser) signIn(user, pass string) conResp {
	b.t.Helper()
	if r := b.get("/console/login"); r.status != http.StatusOK {
		b.t.Fatalf("GET /console/login = %d", r.status)
	}
	return b.post("/console/login", url.Values{"username": {user}, "password": {pass}})
}

// signedIn returns a browser signed in as user (whose password is conPassword), on the orders page.
func (e *hubEnv) signedIn(t *testing.T, user string) *conBrowser {
	t.Helper()
	b := e.browser(t)
	if r := b.signIn(user, conPassword); r.status != http.StatusSeeOther || r.location() != "/console/" {
		t.Fatalf("sign-in of %s = %d → %q, want 303 → /console/; body: %.300s", user, r.status, r.location(), r.body)
	}
	if r := b.get("/console/"); r.status != http.StatusOK {
		t.Fatalf("GET /console/ as %s = %d", user, r.status)
	}
	return b
}

func wantPage(t *testing.T, r conResp, status int, parts ...string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status = %d, want %d; body: %.500s", r.status, status, r.body)
	}
	for _, p := range parts {
		if !strings.Contains(r.body, p) {
			t.Errorf("page lacks %q; body: %.1500s", p, r.body)
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// Sign-in, cookies, sign-out
// ---------------------------------------------------------------------------------------------------

func TestConsoleSignIn(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)

		t.Run("pages need a session", func(t *testing.T) {
			b := e.browser(t)
			for path, to := range map[string]string{
				"/console/":                   "/console/login",
				"/console/pickup":             "/console/login?next=%2Fconsole%2Fpickup",
				"/console/stores/S01/labels":  "/console/login?next=%2Fconsole%2Fstores%2FS01%2Flabels",
				"/console/orders/X?store=S01": "/console/login?next=%2Fconsole%2Forders%2FX%3Fstore%3DS01",
				"/console/today":              "/console/login?next=%2Fconsole%2Ftoday",
				"/console/delivery?store=S02": "/console/login?next=%2Fconsole%2Fdelivery%3Fstore%3DS02",
			} {
				if r := b.get(path); r.status != http.StatusSeeOther || r.location() != to {
					t.Errorf("GET %s = %d → %q, want 303 → %s", path, r.status, r.location(), to)
				}
			}
			if n := qrCount(t, db, "1 = 1"); n != 0 {
				t.Errorf("an unauthenticated label sheet made %d codes", n)
			}
		})

		t.Run("the sign-in page", func(t *testing.T) {
			r := e.browser(t).get("/console/login")
			wantPage(t, r, http.StatusOK, `<html lang="zh-CN">`, "门店后台登录", `name="viewport"`, `autocomplete="current-password"`)
			for k, want := range map[string]string{"Cache-Control": "no-store", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff"} {
				if got := r.header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
			csp := r.header.Get("Content-Security-Policy")
			for _, part := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
				if !strings.Contains(csp, part) {
					t.Errorf("CSP %q lacks %q", csp, part)
				}
			}
			if strings.Contains(r.body, "<script>") || strings.Contains(r.body, "style=") || strings.Contains(r.body, "onclick") {
				t.Errorf("the page has inline script or style, which the CSP forbids")
			}
			pre := r.cookies[conLoginCookie]
			if pre == nil || !pre.HttpOnly || pre.Path != "/console" || pre.SameSite != http.SameSiteLaxMode {
				t.Errorf("pre-session cookie = %+v, want HttpOnly, Path=/console, SameSite=Lax", pre)
			}
		})

		t.Run("static files are served", func(t *testing.T) {
			b := e.browser(t)
			for path, ct := range map[string]string{"/console/static/console.css": "text/css", "/console/static/console.js": "text/javascript"} {
				r := b.get(path)
				if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), ct) || len(r.body) < 100 {
					t.Errorf("GET %s = %d %q (%d bytes)", path, r.status, r.header.Get("Content-Type"), len(r.body))
				}
			}
			if r := b.get("/console/static/nope.js"); r.status != http.StatusNotFound {
				t.Errorf("unknown static file = %d, want 404", r.status)
			}
		})

		t.Run("wrong password", func(t *testing.T) {
			for _, tc := range []struct{ user, pass string }{{"clerk1", "wrong password!"}, {"nobody", conPassword}, {"clerk1", ""}} {
				b := e.browser(t)
				r := b.signIn(tc.user, tc.pass)
				if tc.pass == "" {
					wantPage(t, r, http.StatusBadRequest, "请输入用户名和密码")
				} else {
					wantPage(t, r, http.StatusUnauthorized, "用户名或密码错误")
				}
				if c := r.cookies[conSessionCookie]; c != nil {
					t.Errorf("a failed sign-in set the session cookie %+v", c)
				}
				if !strings.Contains(r.body, `value="`+tc.user+`"`) {
					t.Errorf("the form does not keep the username")
				}
				if b.get("/console/").status != http.StatusSeeOther {
					t.Errorf("a failed sign-in opened the console")
				}
			}
		})

		t.Run("sign-in without the form's token or from another site", func(t *testing.T) {
			b := e.browser(t) // no GET of the form: no pre-session cookie
			r := b.post("/console/login", url.Values{"username": {"clerk1"}, "password": {conPassword}, "csrf": {"forged"}})
			wantPage(t, r, http.StatusForbidden, "登录页面已过期")
			if r.cookies[conSessionCookie] != nil {
				t.Errorf("sign-in without a token set a session")
			}
			b.get("/console/login")
			r = b.do(http.MethodPost, "/console/login", url.Values{"username": {"clerk1"}, "password": {conPassword}, "csrf": {b.csrf}},
				map[string]string{"Origin": "https://evil.example"})
			wantPage(t, r, http.StatusForbidden, "请求来源不可信")
			if r.cookies[conSessionCookie] != nil {
				t.Errorf("sign-in from a foreign origin set a session")
			}
		})

		t.Run("sign-in sets the session cookie", func(t *testing.T) {
			b := e.browser(t)
			r := b.signIn("clerk1", conPassword)
			if r.status != http.StatusSeeOther || r.location() != "/console/" {
				t.Fatalf("sign-in = %d → %q, want 303 → /console/", r.status, r.location())
			}
			c := r.cookies[conSessionCookie]
			if c == nil {
				t.Fatal("no session cookie")
			}
			token := c.Value
			if !c.HttpOnly || c.Path != "/console" || c.SameSite != http.SameSiteLaxMode || c.Secure {
				t.Errorf("session cookie = %+v, want HttpOnly, Path=/console, SameSite=Lax, not Secure over http", c)
			}
			if left := time.Until(c.Expires); left < 11*time.Hour || left > 12*time.Hour+time.Minute {
				t.Errorf("session cookie expires in %s, want the 12 h session", left)
			}
			if pre := r.cookies[conLoginCookie]; pre == nil || pre.MaxAge >= 0 {
				t.Errorf("the pre-session cookie is not cleared: %+v", pre)
			}
			if strings.Contains(r.body, token) {
				t.Errorf("the token is in the page")
			}
			wantPage(t, b.get("/console/"), http.StatusOK, "clerk1（店员）", "新订单", "待备货", "S01")
			if r := b.get("/console/login"); r.status != http.StatusSeeOther || r.location() != "/console/" {
				t.Errorf("the sign-in page for a signed-in clerk = %d → %q, want 303 → /console/", r.status, r.location())
			}
		})

	})
}

// TestConsoleSignInNext checks that sign-in leads back to the console page asked for, and nowhere else.
// (Its own hub: the sign-in rate limit counts per address.)
func TestConsoleSignInNext(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		t.Run("next leads back, only within the console", func(t *testing.T) {
			for next, want := range map[string]string{
				"/console/today":                "/console/today",
				"/console/pickup?store=S01":     "/console/pickup?store=S01",
				"https://evil.example/console/": "/console/",
				"//evil.example/console/":       "/console/",
				"/api/v1/admin/import":          "/console/",
				"/console/\\evil":               "/console/",
			} {
				b := e.browser(t)
				b.get("/console/login?next=" + url.QueryEscape(next))
				r := b.post("/console/login", url.Values{"username": {"clerk1"}, "password": {conPassword}, "next": {next}})
				if r.status != http.StatusSeeOther || r.location() != want {
					t.Errorf("next %q: %d → %q, want → %s", next, r.status, r.location(), want)
				}
			}
		})

	})
}

func TestConsoleSignOut(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		t.Run("sign-out ends the session", func(t *testing.T) {
			b := e.signedIn(t, "clerk1")
			var tok string
			u, _ := url.Parse(e.srv.URL + "/console/")
			for _, c := range b.client.Jar.Cookies(u) {
				if c.Name == conSessionCookie {
					tok = c.Value
				}
			}
			r := b.post("/console/logout", nil)
			if r.status != http.StatusSeeOther || r.location() != "/console/login" {
				t.Fatalf("logout = %d → %q", r.status, r.location())
			}
			if c := r.cookies[conSessionCookie]; c == nil || c.MaxAge >= 0 {
				t.Errorf("logout does not clear the cookie: %+v", c)
			}
			wantPage(t, b.get("/console/login"), http.StatusOK, "已退出登录")
			if _, err := e.svc.Staff.Authenticate(context.Background(), tok, staff.SessionConsole); err == nil {
				t.Errorf("the session still works after sign-out")
			}
			// The old cookie, replayed, opens nothing.
			replay := e.browser(t)
			replay.client.Jar.SetCookies(u, []*http.Cookie{{Name: conSessionCookie, Value: tok, Path: "/console"}})
			if r := replay.get("/console/"); r.status != http.StatusSeeOther {
				t.Errorf("the signed-out cookie still opens the console: %d", r.status)
			}
		})

		t.Run("a store API token is not a console session", func(t *testing.T) {
			l, err := e.svc.Staff.SignIn(context.Background(), "clerk1", conPassword, staff.SessionAPI)
			if err != nil {
				t.Fatal(err)
			}
			b := e.browser(t)
			u, _ := url.Parse(e.srv.URL + "/console/")
			b.client.Jar.SetCookies(u, []*http.Cookie{{Name: conSessionCookie, Value: l.Token, Path: "/console"}})
			if r := b.get("/console/"); r.status != http.StatusSeeOther {
				t.Errorf("a store API token opens the console: %d", r.status)
			}
		})
	})
}

func TestConsoleSecureCookie(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, true)
		b := e.browser(t)
		r := b.get("/console/login")
		if c := r.cookies[conLoginCookie]; c == nil || !c.Secure {
			t.Errorf("pre-session cookie over an https hub = %+v, want Secure", c)
		}
		// The jar does not send Secure cookies over http; send the form by hand.
		pre := r.cookies[conLoginCookie]
		r = b.do(http.MethodPost, "/console/login", url.Values{"username": {"clerk1"}, "password": {conPassword}, "csrf": {b.csrf}},
			map[string]string{"Cookie": pre.Name + "=" + pre.Value, "Origin": "https://hub.example.com"})
		c := r.cookies[conSessionCookie]
		if r.status != http.StatusSeeOther || c == nil {
			t.Fatalf("sign-in = %d, cookie %+v; body: %.300s", r.status, c, r.body)
		}
		if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteLaxMode {
			t.Errorf("session cookie = %+v, want Secure, HttpOnly, SameSite=Lax", c)
		}
	})
}

func TestConsoleLoginRateLimit(t *testing.T) {
	e := newConEnv(t, dbtest.SQLite(t), false)
	b := e.browser(t)
	b.get("/console/login")
	limited := false
	for i := 0; i < 15 && !limited; i++ {
		r := b.post("/console/login", url.Values{"username": {"clerk1"}, "password": {"guess number " + string(rune('a'+i))}})
		if r.status == http.StatusTooManyRequests {
			limited = true
			wantPage(t, r, http.StatusTooManyRequests, "登录尝试过多")
			if r.header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
		}
	}
	if !limited {
		t.Errorf("15 sign-in attempts from one address were all let through")
	}
}

// ---------------------------------------------------------------------------------------------------
// CSRF and origin
// ---------------------------------------------------------------------------------------------------

func TestConsoleCSRF(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		no := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		b := e.signedIn(t, "clerk1")
		other := e.signedIn(t, "clerk1") // the same clerk on another device: another session, another token
		if b.csrf == "" || b.csrf == other.csrf {
			t.Fatalf("CSRF tokens %q and %q: want one per session", b.csrf, other.csrf)
		}
		accept := "/console/orders/" + no + "/accept"

		for _, tc := range []struct {
			name   string
			form   url.Values
			header map[string]string
			want   string
		}{
			{"no token", url.Values{}, nil, "页面已过期"},
			{"empty token", url.Values{"csrf": {""}}, nil, "页面已过期"},
			{"wrong token", url.Values{"csrf": {"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}, nil, "页面已过期"},
			{"another session's token", url.Values{"csrf": {other.csrf}}, nil, "页面已过期"},
			{"foreign origin", url.Values{"csrf": {b.csrf}}, map[string]string{"Origin": "https://evil.example"}, "请求来源不可信"},
			{"null origin", url.Values{"csrf": {b.csrf}}, map[string]string{"Origin": "null"}, "请求来源不可信"},
			{"cross-site fetch", url.Values{"csrf": {b.csrf}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, "请求来源不可信"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := b.do(http.MethodPost, accept, tc.form, tc.header)
				wantPage(t, r, http.StatusForbidden, tc.want)
				e.wantStatus(t, no, core.StatusPaid, "S01")
			})
		}
		t.Run("a forged flash message is only text", func(t *testing.T) {
			u, _ := url.Parse(e.srv.URL + "/console/")
			raw := base64.RawURLEncoding.EncodeToString([]byte(`{"ok":true,"m":"<script>alert(1)</script>"}`))
			b.client.Jar.SetCookies(u, []*http.Cookie{{Name: conFlashCookie, Value: raw, Path: "/console"}})
			r := b.get("/console/")
			wantPage(t, r, http.StatusOK, "&lt;script&gt;alert(1)&lt;/script&gt;")
			if strings.Contains(r.body, "<script>alert") {
				t.Errorf("the flash is not escaped")
			}
		})
		t.Run("logout needs the token too", func(t *testing.T) {
			wantPage(t, b.do(http.MethodPost, "/console/logout", url.Values{}, nil), http.StatusForbidden)
			if r := b.get("/console/"); r.status != http.StatusOK {
				t.Errorf("a forged logout ended the session")
			}
		})
		t.Run("a post without a session changes nothing", func(t *testing.T) {
			r := e.browser(t).do(http.MethodPost, accept, url.Values{"csrf": {b.csrf}}, nil)
			if r.status != http.StatusSeeOther || r.location() != "/console/login" {
				t.Errorf("= %d → %q, want 303 → /console/login", r.status, r.location())
			}
			e.wantStatus(t, no, core.StatusPaid, "S01")
		})
		t.Run("same origin with the token works", func(t *testing.T) {
			r := b.do(http.MethodPost, accept, url.Values{"csrf": {b.csrf}}, map[string]string{"Origin": e.srv.URL, "Sec-Fetch-Site": "same-origin"})
			if r.status != http.StatusSeeOther {
				t.Fatalf("= %d; body %.300s", r.status, r.body)
			}
			e.wantStatus(t, no, core.StatusAccepted, "S01")
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// A clerk sees and touches only their own store
// ---------------------------------------------------------------------------------------------------

func TestConsoleStoreIsolation(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		mine := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		theirs := e.paidOrder(t, hubPickup("S02", "BUN", 2))
		theirsReady := e.paidOrder(t, hubPickup("S02", "TEA", 1))
		code := e.readyPickup(t, theirsReady)
		b := e.signedIn(t, "clerk1")

		t.Run("lists show only the clerk's store", func(t *testing.T) {
			r := b.get("/console/")
			wantPage(t, r, http.StatusOK, mine)
			for _, no := range []string{theirs, theirsReady} {
				if strings.Contains(r.body, no) {
					t.Errorf("S01's list shows S02's order %s", no)
				}
			}
			for _, path := range []string{"/console/?store=S02", "/console/delivery?store=S02", "/console/today?store=S02", "/console/pickup?store=S02"} {
				r := b.get(path)
				wantPage(t, r, http.StatusNotFound, "门店不存在或不属于您")
				if strings.Contains(r.body, theirs) {
					t.Errorf("%s shows S02's order", path)
				}
			}
		})

		t.Run("another store's order is not found", func(t *testing.T) {
			for _, no := range []string{theirs, theirsReady} {
				r := b.get("/console/orders/" + no)
				wantPage(t, r, http.StatusNotFound, "订单不存在或不属于本店")
				if strings.Contains(r.body, "BUN") || strings.Contains(r.body, "TEA") {
					t.Errorf("the refusal shows the order's items")
				}
			}
		})

		t.Run("steps on another store's order fail", func(t *testing.T) {
			for _, step := range []struct {
				path string
				form url.Values
			}{
				{"/console/orders/" + theirs + "/accept", nil},
				{"/console/orders/" + theirs + "/reject", url.Values{"reason": {"缺货"}}},
				{"/console/orders/" + theirs + "/ready", nil},
				{"/console/orders/" + theirs + "/dispatch", url.Values{"courier": {"张三"}}},
				{"/console/orders/" + theirs + "/deliver", nil},
				{"/console/orders/" + theirsReady + "/return", url.Values{"sku": {"TEA"}, "qty": {"1"}}},
			} {
				r := b.follow(step.path, step.form)
				wantPage(t, r, http.StatusOK, `class="flash err"`, "订单不存在或不属于本店")
			}
			e.wantStatus(t, theirs, core.StatusPaid, "S02")
			e.wantStatus(t, theirsReady, core.StatusReady, "S02")
		})

		t.Run("another store's pickup code is unknown at the desk", func(t *testing.T) {
			for _, input := range []string{code.Code, code.Token} {
				r := b.post("/console/pickup/verify", url.Values{"code": {input}})
				wantPage(t, r, http.StatusNotFound, "取货码不存在或不属于本店")
				if strings.Contains(r.body, `action="/console/pickup/confirm"`) {
					t.Errorf("the desk offers to hand over another store's order")
				}
				r = b.follow("/console/pickup/confirm", url.Values{"code": {input}})
				wantPage(t, r, http.StatusOK, "取货码不存在或不属于本店")
			}
			// Naming the other store outright is refused too.
			r := b.post("/console/pickup/verify", url.Values{"code": {code.Code}, "store": {"S02"}})
			wantPage(t, r, http.StatusNotFound, "门店不存在或不属于您")
			if strings.Contains(r.body, `action="/console/pickup/confirm"`) {
				t.Errorf("the desk offers to hand over another store's order")
			}
			e.wantStatus(t, theirsReady, core.StatusReady, "S02")
		})

		t.Run("label sheets: own store only", func(t *testing.T) {
			wantPage(t, b.get("/console/stores/S02/labels"), http.StatusNotFound, "门店不存在或不属于您")
			r := b.get("/console/stores/S01/labels")
			wantPage(t, r, http.StatusOK, "货架标签")
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "script-src 'self'") {
				t.Errorf("label sheet CSP = %q", csp)
			}
			if r.header.Get("Cache-Control") != "no-store" || r.header.Get("X-Frame-Options") != "DENY" {
				t.Errorf("label sheet headers: %v", r.header)
			}
			if n := qrCount(t, db, "1 = 1"); n != 2 {
				t.Errorf("%d codes after S01's sheet, want 2 (TEA and BUN)", n)
			}
		})

		t.Run("the other store's clerk sees theirs, not mine", func(t *testing.T) {
			b2 := e.signedIn(t, "clerk2")
			r := b2.get("/console/")
			wantPage(t, r, http.StatusOK, theirs)
			if strings.Contains(r.body, mine) {
				t.Errorf("S02's list shows S01's order")
			}
			wantPage(t, b2.get("/console/orders/"+mine), http.StatusNotFound)
		})

		t.Run("an admin picks a store", func(t *testing.T) {
			a := e.signedIn(t, "boss")
			r := a.get("/console/")
			wantPage(t, r, http.StatusOK, "boss（管理员）", "请先选择一个门店", `<option value="S01">`, `<option value="S02">`)
			if strings.Contains(r.body, mine) || strings.Contains(r.body, theirs) {
				t.Errorf("the admin's page shows orders before a store is chosen")
			}
			r = a.get("/console/?store=S02")
			wantPage(t, r, http.StatusOK, theirs, `<option value="S02" selected>`, `href="/console/pickup?store=S02"`)
			wantPage(t, a.get("/console/orders/"+mine), http.StatusOK, mine)
			wantPage(t, a.get("/console/stores/S02/labels"), http.StatusOK, "货架标签")
			wantPage(t, a.get("/console/stores/NOPE/labels"), http.StatusNotFound, "门店不存在")
			wantPage(t, a.get("/console/?store=NOPE"), http.StatusNotFound, "门店不存在")
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Working the orders
// ---------------------------------------------------------------------------------------------------

func TestConsoleOrderSteps(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		b := e.signedIn(t, "clerk1")
		acceptMe := e.paidOrder(t, hubPickup("S01", "TEA", 2, "BUN", 1))
		rejectMe := e.paidOrder(t, hubPickup("S01", "BUN", 1))

		t.Run("incoming orders with a countdown and a refreshing page", func(t *testing.T) {
			r := b.get("/console/")
			wantPage(t, r, http.StatusOK, acceptMe, rejectMe, "data-deadline=", `data-refresh="20"`, "接单", "拒单", "¥28.00", "Product TEA", "× 2")
			if !regexp.MustCompile(`剩余 [45]:[0-5]\d`).MatchString(r.body) {
				t.Errorf("no countdown of about 5 minutes in the page")
			}
		})

		t.Run("accept", func(t *testing.T) {
			r := b.follow("/console/orders/"+acceptMe+"/accept", url.Values{"back": {"/console/"}})
			wantPage(t, r, http.StatusOK, `class="flash ok"`, "已接单："+acceptMe, "备货完成")
			e.wantStatus(t, acceptMe, core.StatusAccepted, "S01")
			// The flash is shown once.
			if r := b.get("/console/"); strings.Contains(r.body, "已接单：") {
				t.Errorf("the flash shows again")
			}
			r = b.follow("/console/orders/"+acceptMe+"/accept", nil)
			wantPage(t, r, http.StatusOK, `class="flash err"`, "该订单已不是待接单状态")
		})

		t.Run("reject needs a reason and moves the order on", func(t *testing.T) {
			r := b.follow("/console/orders/"+rejectMe+"/reject", url.Values{"reason": {"  "}})
			wantPage(t, r, http.StatusOK, "请填写拒单原因")
			e.wantStatus(t, rejectMe, core.StatusPaid, "S01")
			r = b.follow("/console/orders/"+rejectMe+"/reject", url.Values{"reason": {"<b>缺货</b>"}, "back": {"/console/orders/" + rejectMe}})
			wantPage(t, r, http.StatusOK, "已拒单："+rejectMe, "订单已转给其他门店")
			if strings.Contains(r.body, `<a class="no" href="/console/orders/`+rejectMe) {
				t.Errorf("the rejected order is still listed")
			}
			e.wantStatus(t, rejectMe, core.StatusPaid, "S02")
			wantPage(t, b.get("/console/orders/"+rejectMe), http.StatusNotFound)
			// S02's clerk sees it, with the history, the reason escaped.
			b2 := e.signedIn(t, "clerk2")
			r = b2.get("/console/orders/" + rejectMe)
			wantPage(t, r, http.StatusOK, "派单记录", "已拒单", "&lt;b&gt;缺货&lt;/b&gt;", "clerk1")
			if strings.Contains(r.body, "<b>缺货") {
				t.Errorf("the reason is not escaped")
			}
		})

		var pv core.PickupView
		t.Run("ready issues the pickup code", func(t *testing.T) {
			r := b.follow("/console/orders/"+acceptMe+"/ready", url.Values{"back": {"/console/orders/" + acceptMe}})
			wantPage(t, r, http.StatusOK, "备货完成："+acceptMe, "待取货", "取货台")
			e.wantStatus(t, acceptMe, core.StatusReady, "S01")
			var err error
			if pv, err = e.svc.Pickup(context.Background(), e.memberID, acceptMe); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("the pickup desk", func(t *testing.T) {
			r := b.get("/console/pickup")
			wantPage(t, r, http.StatusOK, `name="code"`, "autofocus", `action="/console/pickup/verify"`)
			if strings.Contains(r.body, "data-refresh") || strings.Contains(r.body, `http-equiv="refresh"`) {
				t.Errorf("the desk refreshes itself: a typed code would be lost")
			}
			for _, tc := range []struct {
				code   string
				status int
				msg    string
			}{
				{"", http.StatusBadRequest, "请输入或扫描取货码"},
				{"12ab", http.StatusBadRequest, "取货码应为 8 位数字"},
				{"OP1-forged.token", http.StatusNotFound, "取货码不存在或不属于本店"},
			} {
				r := b.post("/console/pickup/verify", url.Values{"code": {tc.code}})
				wantPage(t, r, tc.status, tc.msg, "autofocus")
			}
			// A scanner types the token and Enter.
			r = b.post("/console/pickup/verify", url.Values{"code": {pv.Token}})
			wantPage(t, r, http.StatusOK, "订单 <a href=\"/console/orders/"+acceptMe, "Product TEA", "× 2", "Product BUN", "共 3 件", "¥28.00", "确认取货",
				`name="code" value="`+pv.Token+`"`)
			e.wantStatus(t, acceptMe, core.StatusReady, "S01")
			// Typed: the same order.
			r = b.post("/console/pickup/verify", url.Values{"code": {" " + pv.Code + " "}})
			wantPage(t, r, http.StatusOK, "确认取货", `name="code" value="`+pv.Code+`"`)
			// Confirming goes back to the desk, the input focused, with the outcome.
			c := b.post("/console/pickup/confirm", url.Values{"code": {pv.Code}})
			if c.status != http.StatusSeeOther || c.location() != "/console/pickup" {
				t.Fatalf("confirm = %d → %q", c.status, c.location())
			}
			r = b.get(c.location())
			wantPage(t, r, http.StatusOK, `class="flash ok"`, "取货成功：订单 "+acceptMe, "共 3 件", "autofocus")
			e.wantStatus(t, acceptMe, core.StatusCompleted, "S01")
			// Again: used.
			r = b.post("/console/pickup/verify", url.Values{"code": {pv.Code}})
			wantPage(t, r, http.StatusConflict, "该订单已取货")
			r = b.follow("/console/pickup/confirm", url.Values{"code": {pv.Code}})
			wantPage(t, r, http.StatusOK, `class="flash err"`, "该订单已取货")
		})

		t.Run("counter return from the detail page", func(t *testing.T) {
			r := b.get("/console/orders/" + acceptMe)
			wantPage(t, r, http.StatusOK, "已取货", "柜台退货", `name="sku" value="TEA"`, `max="2"`)
			r = b.follow("/console/orders/"+acceptMe+"/return", url.Values{"sku": {"TEA", "BUN"}, "qty": {"0", ""}, "back": {"/console/orders/" + acceptMe}})
			wantPage(t, r, http.StatusOK, "退货数量或原因无效")
			r = b.follow("/console/orders/"+acceptMe+"/return", url.Values{"sku": {"TEA", "BUN"}, "qty": {"3", "0"}, "back": {"/console/orders/" + acceptMe}})
			wantPage(t, r, http.StatusOK, "退货数量或原因无效")
			r = b.follow("/console/orders/"+acceptMe+"/return", url.Values{"sku": {"TEA", "BUN"}, "qty": {"1", "0"}, "reason": {"包装破损"}, "back": {"/console/orders/" + acceptMe}})
			wantPage(t, r, http.StatusOK, `class="flash ok"`, "已退货："+acceptMe, "¥12.50", `max="1"`)
		})

		t.Run("too many wrong codes", func(t *testing.T) {
			var last conResp
			for i := 0; i < 8; i++ {
				last = b.post("/console/pickup/verify", url.Values{"code": {"0000000" + string(rune('0'+i))}})
				if last.status == http.StatusTooManyRequests {
					break
				}
			}
			wantPage(t, last, http.StatusTooManyRequests, "尝试次数过多，请 ", " 秒后再试")
			if last.header.Get("Retry-After") == "" {
				t.Errorf("no Retry-After")
			}
		})

		t.Run("today", func(t *testing.T) {
			r := b.get("/console/today")
			wantPage(t, r, http.StatusOK, "今日概况", "销售额", "已完成", "¥", "拒单 / 超时", `href="/console/stores/S01/labels"`)
		})
	})
}

func TestConsoleDelivery(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		if _, err := e.svc.Members.BindPhone(context.Background(), e.memberID, "13812345678"); err != nil {
			t.Fatal(err)
		}
		no := e.paidOrder(t, conDelivery(`<script>alert(1)</script> 人民大道 1 号`, "TEA", 1))
		if _, st := e.status(t, no); st != "S01" {
			t.Fatalf("the delivery went to %s, want S01", st)
		}
		b := e.signedIn(t, "clerk1")
		b.follow("/console/orders/"+no+"/accept", nil)

		r := b.get("/console/")
		wantPage(t, r, http.StatusOK, "发货", `name="courier"`, "13812345678", "&lt;script&gt;alert(1)&lt;/script&gt; 人民大道 1 号")
		if strings.Contains(r.body, "<script>alert(1)") {
			t.Fatalf("the address is not escaped")
		}
		r = b.follow("/console/orders/"+no+"/dispatch", url.Values{"courier": {" "}, "tracking_no": {""}})
		wantPage(t, r, http.StatusOK, "请填写骑手姓名或运单号")
		e.wantStatus(t, no, core.StatusAccepted, "S01")
		r = b.follow("/console/orders/"+no+"/ready", nil)
		wantPage(t, r, http.StatusOK, "只有已接单的自提订单")

		r = b.follow("/console/orders/"+no+"/dispatch", url.Values{"courier": {"李四"}, "phone": {"13900000000"}, "tracking_no": {"SF123"}, "back": {"/console/delivery"}})
		wantPage(t, r, http.StatusOK, "已发货："+no, "配送中", "李四", "SF123", "已送达")
		e.wantStatus(t, no, core.StatusDelivering, "S01")

		r = b.follow("/console/orders/"+no+"/deliver", url.Values{"back": {"/console/delivery"}})
		wantPage(t, r, http.StatusOK, "已送达："+no, "没有配送中的订单")
		e.wantStatus(t, no, core.StatusDelivered, "S01")
		wantPage(t, b.get("/console/orders/"+no), http.StatusOK, "已送达", "柜台退货")
	})
}
