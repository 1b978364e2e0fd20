package handlers

// The clerk console: server-rendered pages under /console/, embedded in the binary. A staff member signs
// in with a password and gets a console session in an HttpOnly cookie; every form that changes
// something carries a CSRF token derived from that session, and cross-origin posts are refused. Pages
// only call core, which decides what a clerk may see (their own store's orders) and do.

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// Console cookies. All are scoped to /console and HttpOnly.
const (
	// conSessionCookie holds the console session token from core.StaffSignIn.
	conSessionCookie = "o2o_console"
	// conLoginCookie holds a random pre-session value the sign-in form's CSRF token is derived from.
	conLoginCookie = "o2o_console_login"
	// conFlashCookie carries the outcome of a form to the page it redirects to.
	conFlashCookie = "o2o_flash"
	conCookiePath  = "/console"
)

// conCSRFLabel is what a CSRF token is the HMAC of, keyed by the session (or pre-session) token.
const conCSRFLabel = "o2ohub console csrf v1"

// conMaxForm caps a console form's body.
const conMaxForm = 64 << 10

// conRefreshSeconds is how often the incoming-orders page reloads itself to show new orders.
const conRefreshSeconds = 20

// conCSP is the console's Content-Security-Policy: no inline script or style, only the embedded files.
// The orders page may frame the console's own ticket page, to print it.
const conCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"frame-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// conTicketCSP is the ticket page's: the console's as it is, except that the orders page (same origin)
// may frame it to print it. The ticket has no form or link that acts, so framing it risks nothing.
const conTicketCSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"form-action 'none'; frame-ancestors 'self'; base-uri 'none'"

// labelsCSP lets the label sheet's inline styles, images and print button work, and nothing else.
var labelsCSP = func() string {
	sum := sha256.Sum256([]byte("window.print()"))
	return "default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src 'unsafe-hashes' 'sha256-" +
		base64.StdEncoding.EncodeToString(sum[:]) + "'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
}()

//go:embed console/*.html console/static/*
var consoleFS embed.FS

// conStatic holds the embedded static files by name, with a version derived from their content for
// cache-busting links.
var conStatic, conStaticVersion = func() (map[string][]byte, string) {
	files := map[string][]byte{}
	entries, err := consoleFS.ReadDir("console/static")
	if err != nil {
		panic(err)
	}
	sum := sha256.New()
	for _, e := range entries {
		b, err := consoleFS.ReadFile("console/static/" + e.Name())
		if err != nil {
			panic(err)
		}
		files[e.Name()] = b
		sum.Write(b)
	}
	return files, base64.RawURLEncoding.EncodeToString(sum.Sum(nil))[:10]
}()

var conFuncs = template.FuncMap{
	"yuan":     cn.YuanSign,
	"status":   conStatusName,
	"outcome":  conOutcomeName,
	"fulfil":   conFulfilName,
	"when":     conWhen,
	"rfc3339":  func(t time.Time) string { return t.UTC().Format(time.RFC3339) },
	"left":     conLeft,
	"itemsSum": conItemsSum,
	"closed":   func(v catalog.StoreView) bool { return v.Status != catalog.StoreOpen },
	"source":   conSourceName,
	"srcClass": conSourceClass,
	"shop":     conShopState,
	"pct":      func(r float64) string { return strconv.FormatFloat(math.Round(r*10000)/100, 'f', -1, 64) + "%" },
	"stamp":    conStamp,
	"static":   func(name string) string { return "/console/static/" + name + "?v=" + conStaticVersion },
	"alarm":    conAlertKind,
}

// conPages holds every console page, each parsed with the shared layout; html/template escapes all data
// by context.
var conPages = func() map[string]*template.Template {
	out := map[string]*template.Template{}
	for _, name := range []string{"login", "orders", "order", "pickup", "delivery", "today", "platforms", "alerts", "member", "error"} {
		out[name] = template.Must(template.New("layout.html").Funcs(conFuncs).ParseFS(consoleFS, "console/layout.html", "console/"+name+".html"))
	}
	// The ticket is a page of its own, for an 80 mm receipt printer: no layout, navigation or forms.
	out["ticket"] = template.Must(template.New("ticket.html").Funcs(conFuncs).ParseFS(consoleFS, "console/ticket.html"))
	return out
}()

// consoleRoutes serves the clerk console under /console/.
func (h *api) consoleRoutes(r *gin.Engine) {
	con := r.Group("/console", conHeaders)
	con.GET("/static/:file", conServeStatic)
	con.GET("/login", h.conLoginPage)
	con.POST("/login", conSameOrigin(h.PublicURL), conLoginLimit(h.lim.staffLogin), h.conLogin)

	in := con.Group("", h.conAuth)
	in.GET("/", h.conOrders)
	in.GET("/pickup", h.conPickup)
	in.GET("/delivery", h.conDelivery)
	in.GET("/today", h.conToday)
	in.GET("/orders/:no", h.conOrder)
	in.GET("/orders/:no/ticket", h.conTicket)
	in.GET("/platforms", h.conPlatforms)
	in.GET("/member", h.conMember)
	in.GET("/stores/:code/labels", h.labels)
	in.GET("/alerts", h.conAdmin, h.conAlerts)

	post := con.Group("", conSameOrigin(h.PublicURL), h.conAuth, h.conCSRF)
	post.POST("/logout", h.conLogout)
	post.POST("/orders/:no/accept", h.conStep("accept"))
	post.POST("/orders/:no/reject", h.conStep("reject"))
	post.POST("/orders/:no/ready", h.conStep("ready"))
	post.POST("/orders/:no/dispatch", h.conStep("dispatch"))
	post.POST("/orders/:no/deliver", h.conStep("deliver"))
	post.POST("/orders/:no/return", h.conStep("return"))
	post.POST("/pickup/verify", h.conPickupVerify)
	post.POST("/pickup/confirm", h.conPickupConfirm)
	post.POST("/alerts/:id/resolve", h.conAdmin, h.conResolveAlert)
	post.POST("/member", h.conMemberLookup)
}

// ---------------------------------------------------------------------------------------------------
// Middleware: headers, sessions, CSRF, origin, sign-in rate limit
// ---------------------------------------------------------------------------------------------------

// conHeaders sets the security headers of every console response.
func conHeaders(c *gin.Context) {
	hd := c.Writer.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("Content-Security-Policy", conCSP)
	c.Next()
}

func conServeStatic(c *gin.Context) {
	name := c.Param("file")
	b, ok := conStatic[name]
	if !ok {
		c.Status(http.StatusNotFound)
		return
	}
	ct := "application/octet-stream"
	switch path.Ext(name) {
	case ".css":
		ct = "text/css; charset=utf-8"
	case ".js":
		ct = "text/javascript; charset=utf-8"
	}
	c.Header("Cache-Control", "public, max-age=86400")
	c.Data(http.StatusOK, ct, b)
}

// conAuth admits requests with a valid console session; the actor and token go into the context. A
// request without one is sent to the sign-in page (GET, with where it wanted to go) or refused (POST).
func (h *api) conAuth(c *gin.Context) {
	token := conCookie(c, conSessionCookie)
	a, err := h.Service.Staff.Authenticate(c.Request.Context(), token, staff.SessionConsole)
	if err != nil {
		if !errors.Is(err, domain.ErrUnauthenticated) {
			h.conFail(c, err)
			return
		}
		if token != "" {
			h.conSetCookie(c, conSessionCookie, "", -1)
		}
		if c.Request.Method != http.MethodGet && c.Request.Method != http.MethodHead {
			h.conSetFlash(c, false, "登录已过期，请重新登录")
			c.Redirect(http.StatusSeeOther, "/console/login")
			c.Abort()
			return
		}
		to := "/console/login"
		if c.Request.URL.Path != "/console/" {
			to += "?next=" + url.QueryEscape(c.Request.URL.RequestURI())
		}
		c.Redirect(http.StatusSeeOther, to)
		c.Abort()
		return
	}
	c.Set("console_actor", a)
	c.Set("console_token", token)
	c.Next()
}

// conActor returns the signed-in staff member of a console request (set by conAuth). Like actor, it
// fails closed: a console route registered without conAuth panics with errNoActor and is refused.
func conActor(c *gin.Context) staff.Actor {
	if a, ok := c.Value("console_actor").(staff.Actor); ok {
		return a
	}
	panic(errNoActor)
}

// conToken derives the CSRF token of a session (or pre-session) token.
func conToken(secret string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(conCSRFLabel))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// conCSRFOK checks, in constant time, the csrf form field against the token derived from secret.
func conCSRFOK(c *gin.Context, secret string) bool {
	got := c.PostForm("csrf")
	return secret != "" && got != "" && hmac.Equal([]byte(got), []byte(conToken(secret)))
}

// conCSRF refuses a state-changing request whose form lacks the session's CSRF token; it also caps and
// parses the form.
func (h *api) conCSRF(c *gin.Context) {
	if !conParseForm(c) {
		return
	}
	if !conCSRFOK(c, c.GetString("console_token")) {
		logger(c).WarnContext(c.Request.Context(), "console form refused: bad csrf token", "path", c.FullPath())
		h.conRefuse(c, http.StatusForbidden, "页面已过期或请求来源不可信，请刷新页面后重试。")
		return
	}
	c.Next()
}

// conParseForm parses a capped form body, answering the client itself when it cannot, or when a field
// holds text the hub does not take (see text.go).
func conParseForm(c *gin.Context) bool {
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, conMaxForm)
	if err := c.Request.ParseForm(); err != nil {
		conRenderError(c, http.StatusBadRequest, "表单无法读取，请刷新页面后重试。")
		c.Abort()
		return false
	}
	if msg := formProblem(c.Request.PostForm); msg != "" {
		conRenderError(c, http.StatusBadRequest, msg)
		c.Abort()
		return false
	}
	return true
}

// conSameOrigin refuses posts a browser marks as coming from another site, or whose Origin header is
// not this host (or the hub's public URL).
func conSameOrigin(publicURL string) gin.HandlerFunc {
	var public string
	if u, err := url.Parse(publicURL); err == nil {
		public = strings.ToLower(u.Host)
	}
	return func(c *gin.Context) {
		ok := true
		if site := c.GetHeader("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
			ok = false
		}
		if o := c.GetHeader("Origin"); o != "" {
			u, err := url.Parse(o)
			host := ""
			if err == nil && (u.Scheme == "http" || u.Scheme == "https") {
				host = strings.ToLower(u.Host)
			}
			ok = ok && host != "" && (host == strings.ToLower(c.Request.Host) || host == public)
		}
		if !ok {
			logger(c).WarnContext(c.Request.Context(), "console form refused: foreign origin", "path", c.FullPath())
			conRenderError(c, http.StatusForbidden, "请求来源不可信，已拒绝。请直接在收银台页面操作。")
			c.Abort()
			return
		}
		c.Next()
	}
}

// conLoginLimit spends one attempt of the client address's staff login budget (shared with the store
// API's login) per sign-in, answering with the sign-in page when it is spent.
func conLoginLimit(l *limits.Limit) gin.HandlerFunc {
	return func(c *gin.Context) {
		wait, err := l.Take(c.Request.Context(), clientAddress(c))
		if err != nil {
			logger(c).ErrorContext(c.Request.Context(), "console sign-in limit", "err", err)
			conRender(c, http.StatusInternalServerError, "login", conPage{Title: "登录", Error: "服务暂时不可用，请稍后再试。"})
			c.Abort()
			return
		}
		if wait > 0 {
			c.Header("Retry-After", retryAfter(wait))
			conRender(c, http.StatusTooManyRequests, "login", conPage{Title: "登录", Error: fmt.Sprintf("登录尝试过多，请 %s 秒后再试。", retryAfter(wait))})
			c.Abort()
			return
		}
		c.Next()
	}
}

// ---------------------------------------------------------------------------------------------------
// Cookies and flash messages
// ---------------------------------------------------------------------------------------------------

func conCookie(c *gin.Context, name string) string {
	ck, err := c.Request.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

// conSecure says whether console cookies must be Secure: the hub is served over https.
func (h *api) conSecure(c *gin.Context) bool {
	return strings.HasPrefix(strings.ToLower(h.PublicURL), "https://") || c.Request.TLS != nil
}

// conSetCookie sets (maxAge > 0), or deletes (maxAge < 0), a console cookie.
func (h *api) conSetCookie(c *gin.Context, name, value string, maxAge int) {
	ck := &http.Cookie{Name: name, Value: value, Path: conCookiePath, MaxAge: maxAge, HttpOnly: true,
		Secure: h.conSecure(c), SameSite: http.SameSiteLaxMode}
	if maxAge > 0 {
		ck.Expires = time.Now().Add(time.Duration(maxAge) * time.Second)
	}
	http.SetCookie(c.Writer, ck)
}

// conFlash is the outcome of a form, shown once on the page the form redirected to.
type conFlash struct {
	OK  bool   `json:"ok"`
	Msg string `json:"m"`
}

func (h *api) conSetFlash(c *gin.Context, ok bool, msg string) {
	b, _ := json.Marshal(conFlash{OK: ok, Msg: msg})
	h.conSetCookie(c, conFlashCookie, base64.RawURLEncoding.EncodeToString(b), 60)
}

// conTakeFlash reads and clears the flash message, if any.
func (h *api) conTakeFlash(c *gin.Context) *conFlash {
	raw := conCookie(c, conFlashCookie)
	if raw == "" {
		return nil
	}
	h.conSetCookie(c, conFlashCookie, "", -1)
	b, err := base64.RawURLEncoding.DecodeString(raw)
	var f conFlash
	if err != nil || len(b) > 2048 || json.Unmarshal(b, &f) != nil || f.Msg == "" {
		return nil
	}
	return &f
}

// conBack returns where a form should lead back to: the console page it names, or the fallback.
func conBack(raw, fallback string) string {
	u, err := url.Parse(raw)
	if raw == "" || err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" ||
		!strings.HasPrefix(u.Path, "/console/") || strings.Contains(u.Path, "//") || strings.Contains(u.Path, "/.") || strings.ContainsAny(raw, "\\\r\n") {
		return fallback
	}
	if u.RawQuery != "" {
		return u.Path + "?" + u.RawQuery
	}
	return u.Path
}

// ---------------------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------------------

// conPage is what every console page renders from.
type conPage struct {
	Title string
	Nav   string
	Actor staff.Actor
	// SignedIn says the navigation and sign-out are shown.
	SignedIn bool
	CSRF     string
	// Store is the store shown (a clerk's own, or the admin's choice); Stores lists the admin's choices.
	Store  string
	Stores []catalog.StoreView
	// Self is the page's own URL, where its forms lead back to; Path is the page's path, where the
	// admin's store selector leads.
	Self    string
	Path    string
	Flash   *conFlash
	Error   string
	Refresh int
	// Now is the hub's clock when the page was made, for the countdowns.
	Now  time.Time
	Data any

	// OpenAlerts is how many alerts nobody has resolved, counted for admins only (the navigation's
	// badge).
	OpenAlerts int64
}

// StoreQuery says whether links must name the store: an admin works on the store chosen.
func (p conPage) StoreQuery() bool { return p.Actor.IsAdmin() && p.Store != "" }

// conRender writes a page with the given status.
func conRender(c *gin.Context, status int, name string, p conPage) {
	var buf bytes.Buffer
	if err := conPages[name].Execute(&buf, p); err != nil {
		logger(c).ErrorContext(c.Request.Context(), "console page failed", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("系统错误，请稍后重试。"))
		return
	}
	c.Data(status, "text/html; charset=utf-8", buf.Bytes())
}

// conRenderError writes the error page, without the signed-in navigation.
func conRenderError(c *gin.Context, status int, msg string) {
	conRender(c, status, "error", conPage{Title: "出错了", Error: msg})
}

// conPageOf starts the page data of a signed-in request. For an admin it counts the open alerts (one
// COUNT on the partial index of unresolved alerts); a failed count is logged and shows no badge rather
// than failing the page.
func (h *api) conPageOf(c *gin.Context, title, nav string) conPage {
	a := conActor(c)
	p := conPage{Title: title, Nav: nav, Actor: a, SignedIn: true, CSRF: conToken(c.GetString("console_token")),
		Store: a.Store, Self: c.Request.URL.RequestURI(), Path: c.Request.URL.Path, Flash: h.conTakeFlash(c), Now: h.Clock.Now()}
	if a.IsAdmin() {
		n, err := h.Service.Events.OpenAlerts(c.Request.Context())
		if err != nil {
			logger(c).ErrorContext(c.Request.Context(), "console: counting open alerts", "err", err)
		}
		p.OpenAlerts = n
	}
	return p
}

// conAdmin admits admins only: a clerk is answered with the forbidden page.
func (h *api) conAdmin(c *gin.Context) {
	if !conActor(c).IsAdmin() {
		msg, status := conErrorText(c, "admin", kindError(domain.ErrForbidden, "admins only"))
		h.conRefuse(c, status, msg)
		return
	}
	c.Next()
}

// conRefuse answers a signed-in request with the error page and status.
func (h *api) conRefuse(c *gin.Context, status int, msg string) {
	p := h.conPageOf(c, "出错了", "")
	p.Error = msg
	conRender(c, status, "error", p)
	c.Abort()
}

// conFail answers a request whose core call failed unexpectedly: logged, no internals shown.
func (h *api) conFail(c *gin.Context, err error) {
	logger(c).ErrorContext(c.Request.Context(), "console request failed", "err", err)
	conRenderError(c, http.StatusInternalServerError, "系统错误，请稍后重试。")
	c.Abort()
}

// conWithStore resolves the store a page shows: a clerk's own (asking for another is refused as not
// found, as core does), or the admin's choice from ?store=, with the list to choose from. It returns
// false when the admin has not chosen yet; the page shows the selector.
func (h *api) conWithStore(c *gin.Context, p *conPage, store string) (bool, error) {
	if !p.Actor.IsAdmin() {
		if store != "" && store != p.Actor.Store {
			return false, &domain.Error{Kind: domain.ErrNotFound, Msg: "store " + store + " not found"}
		}
		return true, nil
	}
	stores, err := h.Service.Catalog.Stores(c.Request.Context(), nil, nil)
	if err != nil {
		return false, err
	}
	p.Stores, p.Store = stores, store
	return store != "", nil
}

// conErrorText says in Chinese what went wrong with an action on an order, and the status to answer a
// page with, both from the error table; unexpected errors are logged.
func conErrorText(c *gin.Context, action string, err error) (string, int) {
	k, ok := kindOf(err)
	if !ok {
		logger(c).ErrorContext(c.Request.Context(), "console action failed", "action", action, "err", err)
		return k.zh, k.status
	}
	msg := k.zhMessage(action)
	if k.kind == domain.ErrRateLimited {
		wait := 60
		var de *domain.Error
		if errors.As(err, &de) && de.RetryAfter > 0 {
			wait = int(math.Ceil(de.RetryAfter.Seconds()))
		}
		c.Header("Retry-After", strconv.Itoa(wait))
		msg = fmt.Sprintf(msg, wait)
	}
	return msg, k.status
}

// ---------------------------------------------------------------------------------------------------
// Sign-in and sign-out
// ---------------------------------------------------------------------------------------------------

type conLoginData struct {
	Username string
	Next     string
}

// conLoginForm renders the sign-in page, making the pre-session cookie its CSRF token comes from.
func (h *api) conLoginForm(c *gin.Context, status int, p conPage, data conLoginData) {
	pre := conCookie(c, conLoginCookie)
	if len(pre) < 32 {
		b := make([]byte, 32)
		rand.Read(b)
		pre = base64.RawURLEncoding.EncodeToString(b)
		h.conSetCookie(c, conLoginCookie, pre, 3600)
	}
	p.Title, p.CSRF, p.Data = "登录", conToken(pre), data
	conRender(c, status, "login", p)
}

func (h *api) conLoginPage(c *gin.Context) {
	next := conBack(c.Query("next"), "")
	if _, err := h.Service.Staff.Authenticate(c.Request.Context(), conCookie(c, conSessionCookie), staff.SessionConsole); err == nil {
		c.Redirect(http.StatusSeeOther, conBack(next, "/console/"))
		return
	}
	h.conLoginForm(c, http.StatusOK, conPage{Flash: h.conTakeFlash(c)}, conLoginData{Next: next})
}

func (h *api) conLogin(c *gin.Context) {
	if !conParseForm(c) {
		return
	}
	data := conLoginData{Username: strings.TrimSpace(c.PostForm("username")), Next: conBack(c.PostForm("next"), "")}
	if len(data.Username) > 64 {
		data.Username = ""
	}
	if !conCSRFOK(c, conCookie(c, conLoginCookie)) {
		h.conLoginForm(c, http.StatusForbidden, conPage{Error: "登录页面已过期，请重新输入后登录。"}, data)
		return
	}
	password := c.PostForm("password")
	if data.Username == "" || password == "" {
		h.conLoginForm(c, http.StatusBadRequest, conPage{Error: "请输入用户名和密码。"}, data)
		return
	}
	login, err := h.Service.Staff.SignIn(c.Request.Context(), data.Username, password, staff.SessionConsole)
	if errors.Is(err, domain.ErrUnauthenticated) {
		h.conLoginForm(c, http.StatusUnauthorized, conPage{Error: "用户名或密码错误，或账号已停用。"}, data)
		return
	}
	if err != nil {
		h.conFail(c, err)
		return
	}
	h.conSetCookie(c, conLoginCookie, "", -1)
	maxAge := int(time.Until(login.ExpiresAt).Seconds())
	if maxAge < 1 {
		maxAge = 1
	}
	h.conSetCookie(c, conSessionCookie, login.Token, maxAge)
	c.Redirect(http.StatusSeeOther, conBack(data.Next, "/console/"))
}

func (h *api) conLogout(c *gin.Context) {
	if err := h.Service.Staff.SignOut(c.Request.Context(), c.GetString("console_token")); err != nil {
		h.conFail(c, err)
		return
	}
	h.conSetCookie(c, conSessionCookie, "", -1)
	h.conSetFlash(c, true, "已退出登录。")
	c.Redirect(http.StatusSeeOther, "/console/login")
}

// ---------------------------------------------------------------------------------------------------
// Order pages
// ---------------------------------------------------------------------------------------------------

type conOrdersData struct {
	Incoming, ToPrepare, Ready []core.StoreOrderView
}

// conStorePage starts a page that shows one store's data: it resolves the store and renders the page
// as is (with the selector) when an admin has not chosen one yet.
func (h *api) conStorePage(c *gin.Context, name, title string) (conPage, bool) {
	p := h.conPageOf(c, title, name)
	chosen, err := h.conWithStore(c, &p, c.Query("store"))
	if err != nil {
		h.conPageError(c, p, "store", err)
		return p, false
	}
	if !chosen {
		conRender(c, http.StatusOK, name, p)
		return p, false
	}
	return p, true
}

// conPageError answers a page whose core call failed.
func (h *api) conPageError(c *gin.Context, p conPage, action string, err error) {
	msg, status := conErrorText(c, action, err)
	if status == http.StatusInternalServerError {
		conRenderError(c, status, msg)
		return
	}
	p.Error, p.Data = msg, nil
	conRender(c, status, "error", p)
}

func (h *api) conOrders(c *gin.Context) {
	p, ok := h.conStorePage(c, "orders", "订单")
	if !ok {
		return
	}
	list, err := h.Service.StoreOrders(c.Request.Context(), p.Actor, p.Store, "paid,accepted,ready")
	if err != nil {
		h.conPageError(c, p, "store", err)
		return
	}
	var d conOrdersData
	for _, o := range list {
		switch o.Status {
		case core.StatusPaid:
			d.Incoming = append(d.Incoming, o)
		case core.StatusAccepted:
			d.ToPrepare = append(d.ToPrepare, o)
		case core.StatusReady:
			d.Ready = append(d.Ready, o)
		}
	}
	// The most urgent first: the nearest deadline to accept, the oldest order to prepare.
	slices.SortStableFunc(d.Incoming, func(a, b core.StoreOrderView) int {
		if a.AcceptBy == nil || b.AcceptBy == nil {
			return 0
		}
		return a.AcceptBy.Compare(*b.AcceptBy)
	})
	slices.Reverse(d.ToPrepare)
	p.Data, p.Refresh = d, conRefreshSeconds
	conRender(c, http.StatusOK, "orders", p)
}

func (h *api) conDelivery(c *gin.Context) {
	p, ok := h.conStorePage(c, "delivery", "配送")
	if !ok {
		return
	}
	list, err := h.Service.StoreOrders(c.Request.Context(), p.Actor, p.Store, "delivering")
	if err != nil {
		h.conPageError(c, p, "store", err)
		return
	}
	slices.Reverse(list)
	p.Data, p.Refresh = list, 60
	conRender(c, http.StatusOK, "delivery", p)
}

func (h *api) conToday(c *gin.Context) {
	p, ok := h.conStorePage(c, "today", "今日")
	if !ok {
		return
	}
	day, err := h.Service.StoreToday(c.Request.Context(), p.Actor, p.Store)
	if err != nil {
		h.conPageError(c, p, "store", err)
		return
	}
	p.Data = day
	conRender(c, http.StatusOK, "today", p)
}

type conOrderData struct {
	Order      core.StoreOrderView
	Returnable bool
	Left       map[string]int64
}

func (h *api) conOrder(c *gin.Context) {
	p := h.conPageOf(c, "订单详情", "orders")
	o, err := h.Service.StoreOrder(c.Request.Context(), p.Actor, c.Param("no"))
	if err != nil {
		h.conPageError(c, p, "order", err)
		return
	}
	p.Store = o.Store
	d := conOrderData{Order: o, Left: map[string]int64{}}
	if o.Status == core.StatusCompleted || o.Status == core.StatusDelivered {
		for _, it := range o.Items {
			if left := it.Qty - it.Returned; left > 0 {
				d.Left[it.SKU] = left
				d.Returnable = true
			}
		}
	}
	p.Title, p.Data = "订单 "+o.OrderNo, d
	conRender(c, http.StatusOK, "order", p)
}

// conTicketData is what the ticket page prints.
type conTicketData struct {
	Order     core.StoreOrderView
	StoreName string
	// Print says the page prints itself once loaded (?print=1).
	Print bool
}

// conTicket is an order's ticket for the store's 80 mm receipt printer: the store, where the order came
// from, the platform's number for the rider very large, the lines and the total. With ?print=1 it
// prints itself once loaded; the orders page frames it so to print a new order.
func (h *api) conTicket(c *gin.Context) {
	// Not conPageOf: a ticket framed by the orders page must not take the flash message meant for it.
	p := conPage{Title: "小票", Actor: conActor(c), Now: h.Clock.Now()}
	ctx := c.Request.Context()
	o, err := h.Service.StoreOrder(ctx, p.Actor, c.Param("no"))
	if err != nil {
		h.conPageError(c, p, "order", err)
		return
	}
	st, err := h.Service.Catalog.StoreByCode(ctx, o.Store)
	if err != nil {
		h.conPageError(c, p, "store", err)
		return
	}
	c.Header("Content-Security-Policy", conTicketCSP)
	c.Header("X-Frame-Options", "SAMEORIGIN")
	p.Store, p.Title = o.Store, "小票 "+o.OrderNo
	p.Data = conTicketData{Order: o, StoreName: st.Name, Print: c.Query("print") == "1"}
	conRender(c, http.StatusOK, "ticket", p)
}

// ---------------------------------------------------------------------------------------------------
// Platform shops
// ---------------------------------------------------------------------------------------------------

// conPlatforms shows the store's platform shops and how their sync stands, read-only: binding and
// settings are the admin API's.
func (h *api) conPlatforms(c *gin.Context) {
	p, ok := h.conStorePage(c, "platforms", "平台店铺")
	if !ok {
		return
	}
	shops, err := h.Service.StoreShops(c.Request.Context(), p.Actor, p.Store)
	if err != nil {
		h.conPageError(c, p, "store", err)
		return
	}
	p.Data = shops
	conRender(c, http.StatusOK, "platforms", p)
}

// conStep runs one step on an order from a form and redirects back with the outcome.
func (h *api) conStep(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx, a, no := c.Request.Context(), conActor(c), c.Param("no")
		back := conBack(c.PostForm("back"), "/console/")
		var msg string
		var err error
		switch action {
		case "accept":
			_, err = h.Service.AcceptOrder(ctx, a, no)
			msg = "已接单：" + no + "，请尽快备货。"
		case "reject":
			var v core.OrderView
			v, err = h.Service.RejectOrder(ctx, a, no, c.PostForm("reason"))
			msg = "已拒单：" + no + "，订单已转给其他门店。"
			if v.Status == core.StatusRefunding || v.Status == core.StatusRefunded {
				msg = "已拒单：" + no + "。附近没有其他门店可以接单，已为顾客退款。"
			}
			if err == nil && strings.HasPrefix(back, "/console/orders/") {
				back = "/console/" // the order has left this store
			}
		case "ready":
			_, err = h.Service.MarkReady(ctx, a, no)
			msg = "备货完成：" + no + "，已通知顾客凭取货码到店取货。"
		case "dispatch":
			_, err = h.Service.Dispatch(ctx, a, no, core.Courier{Name: c.PostForm("courier"), Phone: c.PostForm("phone"), TrackingNo: c.PostForm("tracking_no")})
			msg = "已发货：" + no + "。"
		case "deliver":
			_, err = h.Service.Deliver(ctx, a, no)
			msg = "已送达：" + no + "。"
		case "return":
			in, ok := conReturnInput(c)
			if !ok {
				err = &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "no items"}
				break
			}
			var r core.RefundView
			r, err = h.Service.ReturnItems(ctx, a, no, in)
			msg = "已退货：" + no + "，退款 " + cn.YuanSign(r.AmountFen) + "（" + conRefundName(r.Status) + "）。"
		}
		if err != nil {
			msg, _ = conErrorText(c, action, err)
		}
		h.conSetFlash(c, err == nil, msg)
		c.Redirect(http.StatusSeeOther, back)
	}
}

// conReturnInput reads the lines handed back (sku and qty fields in pairs; empty or 0 quantities are
// skipped) and the reason; false when nothing is handed back.
func conReturnInput(c *gin.Context) (core.ReturnInput, bool) {
	skus, qtys := c.PostFormArray("sku"), c.PostFormArray("qty")
	in := core.ReturnInput{Reason: c.PostForm("reason")}
	for i, sku := range skus {
		if i >= len(qtys) || strings.TrimSpace(qtys[i]) == "" {
			continue
		}
		q, err := strconv.ParseInt(strings.TrimSpace(qtys[i]), 10, 64)
		if err != nil || q < 0 {
			return in, false
		}
		if q > 0 {
			in.Items = append(in.Items, core.ItemInput{SKU: sku, Qty: q})
		}
	}
	return in, len(in.Items) > 0
}

// ---------------------------------------------------------------------------------------------------
// Alerts
// ---------------------------------------------------------------------------------------------------

// conAlertsPage is how many alerts one page of the alerts list shows.
const conAlertsPage = 100

// conAlertsData is what the alerts page shows.
type conAlertsData struct {
	Alerts []events.AlertView
	// All says resolved alerts are listed too.
	All bool
	// More is the link to the next page, when there is one.
	More string
}

// conAlerts lists the alerts nobody has resolved, oldest first (?all=1: the resolved ones too), each
// with a form to resolve it with a note. Admins only.
func (h *api) conAlerts(c *gin.Context) {
	p := h.conPageOf(c, "告警", "alerts")
	d := conAlertsData{All: c.Query("all") == "1"}
	var after int64
	if raw := c.Query("after"); raw != "" {
		n, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || n < 0 {
			h.conPageError(c, p, "alerts", kindError(domain.ErrInvalidArgument, "after must be an alert id"))
			return
		}
		after = n
	}
	list, err := h.Service.Events.Alerts(c.Request.Context(), !d.All, after, conAlertsPage)
	if err != nil {
		h.conPageError(c, p, "alerts", err)
		return
	}
	d.Alerts = list
	if len(list) == conAlertsPage {
		d.More = "/console/alerts?after=" + strconv.FormatInt(list[len(list)-1].ID, 10)
		if d.All {
			d.More += "&all=1"
		}
	}
	p.Data = d
	conRender(c, http.StatusOK, "alerts", p)
}

// conResolveAlert closes an alert with the note the admin wrote (required), by the admin's username,
// and leads back to the alerts page with the outcome.
func (h *api) conResolveAlert(c *gin.Context) {
	back := conBack(c.PostForm("back"), "/console/alerts")
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		h.conSetFlash(c, false, "告警不存在。")
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	note := strings.TrimSpace(c.PostForm("note"))
	if note == "" {
		h.conSetFlash(c, false, fmt.Sprintf("告警 #%d 未处理：请填写处理说明（做了什么、结果如何）后再标记为已处理。", id))
		c.Redirect(http.StatusSeeOther, back)
		return
	}
	v, err := h.Service.Events.ResolveAlert(c.Request.Context(), id, conActor(c).Username, note)
	if err != nil {
		msg, _ := conErrorText(c, "alert", err)
		h.conSetFlash(c, false, fmt.Sprintf("告警 #%d：%s", id, msg))
	} else {
		h.conSetFlash(c, true, fmt.Sprintf("已处理告警 #%d（%s）。", v.ID, conAlertKind(v.Kind)))
	}
	c.Redirect(http.StatusSeeOther, back)
}

// conAlertKinds names the kinds of alert core raises as an operator knows them.
var conAlertKinds = map[string]string{
	"payment_amount_mismatch":  "支付金额不符",
	"payment_unknown_order":    "未知订单收到付款",
	"payment_check_failing":    "支付查询失败",
	"refund_required":          "需要退款",
	"refund_failed":            "退款失败",
	"refund_stuck":             "退款异常",
	"refund_unknown":           "未知退款",
	"refund_amount_mismatch":   "退款金额不符",
	"refund_succeeded_late":    "退款延迟成功",
	"task_failed":              "任务失败",
	"platform_order_waiting":   "平台订单待分配",
	"platform_sold_out":        "平台订单缺货",
	"platform_order_attention": "平台订单需处理",
	"platform_order_unread":    "平台订单无法读取",
	"platform_call_failed":     "平台调用失败",
	"platform_auth":            "平台凭证被拒",
	"webhook_endpoint_gone":    "Webhook 地址已失效",
	"webhook_dead_letter":      "Webhook 投递失败",
}

// conAlertKind names an alert's kind, or returns it as it is when it has no name.
func conAlertKind(kind string) string {
	if n, ok := conAlertKinds[kind]; ok {
		return n
	}
	return kind
}

// ---------------------------------------------------------------------------------------------------
// Pickup desk
// ---------------------------------------------------------------------------------------------------

type conPickupData struct {
	Check *core.PickupCheck
	// Code is what was typed or scanned, carried to the confirm button.
	Code string
	// Member is the member whose member code was scanned at the desk instead of a pickup code.
	Member *loyalty.MemberView
}

func (h *api) conPickup(c *gin.Context) {
	p, ok := h.conStorePage(c, "pickup", "取货")
	if !ok {
		return
	}
	p.Data = conPickupData{}
	conRender(c, http.StatusOK, "pickup", p)
}

// conDeskPage starts a pickup desk page for a form post: the store comes from the form's store field.
func (h *api) conDeskPage(c *gin.Context) (conPage, bool) {
	p := h.conPageOf(c, "取货", "pickup")
	p.Self, p.Path = "/console/pickup", "/console/pickup"
	store := strings.TrimSpace(c.PostForm("store"))
	chosen, err := h.conWithStore(c, &p, store)
	if err != nil {
		msg, status := conErrorText(c, "store", err)
		p.Error, p.Data = msg, conPickupData{}
		conRender(c, status, "pickup", p)
		return p, false
	}
	if store != "" {
		p.Self += "?store=" + url.QueryEscape(store)
	}
	if !chosen {
		p.Error, p.Data = "请先选择门店。", conPickupData{}
		conRender(c, http.StatusBadRequest, "pickup", p)
		return p, false
	}
	return p, true
}

func (h *api) conPickupVerify(c *gin.Context) {
	p, ok := h.conDeskPage(c)
	if !ok {
		return
	}
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" {
		p.Error, p.Data = "请输入或扫描取货码。", conPickupData{}
		conRender(c, http.StatusBadRequest, "pickup", p)
		return
	}
	if len(code) > 256 {
		code = code[:256]
	}
	if core.IsMemberCode(code) { // a member code scanned at the desk: show who it is
		m, err := h.conLookupMember(c, code)
		if err != nil {
			msg, status := conErrorText(c, "member", err)
			p.Error, p.Data = msg, conPickupData{}
			conRender(c, status, "pickup", p)
			return
		}
		p.Data = conPickupData{Member: &m}
		conRender(c, http.StatusOK, "pickup", p)
		return
	}
	check, err := h.Service.VerifyPickup(c.Request.Context(), p.Actor, p.Store, code)
	if err != nil {
		msg, status := conErrorText(c, "pickup", err)
		p.Error, p.Data = msg, conPickupData{}
		conRender(c, status, "pickup", p)
		return
	}
	p.Data = conPickupData{Check: &check, Code: code}
	conRender(c, http.StatusOK, "pickup", p)
}

func (h *api) conPickupConfirm(c *gin.Context) {
	p, ok := h.conDeskPage(c)
	if !ok {
		return
	}
	v, err := h.Service.ConfirmPickup(c.Request.Context(), p.Actor, p.Store, strings.TrimSpace(c.PostForm("code")))
	if err != nil {
		msg, _ := conErrorText(c, "pickup", err)
		h.conSetFlash(c, false, msg)
	} else {
		h.conSetFlash(c, true, fmt.Sprintf("取货成功：订单 %s，共 %d 件，%s。", v.OrderNo, conItemsSum(v.Items), cn.YuanSign(v.TotalFen)))
	}
	c.Redirect(http.StatusSeeOther, p.Self)
}

// ---------------------------------------------------------------------------------------------------
// Formatting
// ---------------------------------------------------------------------------------------------------

func conStatusName(s core.Status) string {
	if n, ok := map[core.Status]string{
		core.StatusPendingPayment: "待支付", core.StatusPaid: "待接单", core.StatusAccepted: "备货中",
		core.StatusReady: "待取货", core.StatusCompleted: "已取货", core.StatusDelivering: "配送中",
		core.StatusDelivered: "已送达", core.StatusCancelled: "已取消", core.StatusExpired: "已过期",
		core.StatusRefunding: "退款中", core.StatusRefunded: "已退款",
	}[s]; ok {
		return n
	}
	return string(s)
}

func conOutcomeName(o string) string {
	if n, ok := map[string]string{core.OfferOpen: "待接单", core.OfferAccepted: "已接单", core.OfferRejected: "已拒单",
		core.OfferTimeout: "超时未接", core.OfferWithdrawn: "已撤回"}[o]; ok {
		return n
	}
	return o
}

func conRefundName(s string) string {
	if n, ok := map[string]string{core.RefundSucceeded: "退款成功", core.RefundFailed: "退款暂未成功，系统会继续处理"}[s]; ok {
		return n
	}
	return "退款处理中"
}

func conFulfilName(f string) string {
	switch f {
	case core.FulfillmentPickup:
		return "自提"
	case core.FulfillmentDelivery:
		return "配送"
	case core.FulfillmentPlatform:
		return "骑手取货"
	}
	return f
}

// conSources names the places an order comes from as a clerk knows them.
var conSources = map[string]string{core.SourceMiniProgram: "小程序", market.Meituan: "美团", market.Eleme: "饿了么", market.JDDJ: "京东到家"}

// conSourceName names where an order came from; an order from before sources were kept is the
// mini-program's.
func conSourceName(src string) string {
	if src == "" {
		src = core.SourceMiniProgram
	}
	if n, ok := conSources[src]; ok {
		return n
	}
	return src
}

// conSourceClass is the CSS class of a source's badge: the source itself when it is a known one.
func conSourceClass(src string) string {
	if src == "" {
		return core.SourceMiniProgram
	}
	if _, ok := conSources[src]; ok {
		return src
	}
	return "other"
}

// conShopState names a platform shop's binding state.
func conShopState(state string) string {
	switch state {
	case market.ShopBound:
		return "已绑定"
	case market.ShopUnbinding:
		return "解绑中"
	}
	return state
}

// conStamp writes a time in China time to the second, as a ticket prints it.
func conStamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cn.Zone).Format("2006-01-02 15:04:05")
}

// conWhen writes a time in China time, as a clerk reads it.
func conWhen(t any) string {
	var tt time.Time
	switch v := t.(type) {
	case time.Time:
		tt = v
	case *time.Time:
		if v == nil {
			return ""
		}
		tt = *v
	default:
		return ""
	}
	if tt.IsZero() {
		return ""
	}
	return tt.In(cn.Zone).Format("01-02 15:04")
}

// conLeft writes the time left from now until a deadline as m:ss ("0:00" when it passed).
func conLeft(deadline *time.Time, now time.Time) string {
	if deadline == nil {
		return ""
	}
	d := deadline.Sub(now)
	if d < 0 {
		d = 0
	}
	s := int(d.Seconds())
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

func conItemsSum(items []core.OrderItemView) int64 {
	var n int64
	for _, it := range items {
		n += it.Qty
	}
	return n
}
