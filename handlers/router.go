package handlers

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/internal/metrics"
	"github.com/o2ohub/o2ohub/models"
)

// Deps is what the HTTP layer needs.
type Deps struct {
	Service       *core.Service
	DB            *models.DB
	Log           *slog.Logger
	Clock         domain.Clock
	AdminToken    string
	Sandbox       bool
	SandboxSecret string
	// TrustedProxies are the proxies whose X-Forwarded-For names the client; none when empty.
	TrustedProxies []string
	// WeChat is the mini-program shoppers sign in with; nil when WeChat is not configured.
	WeChat *wechat.MiniProgram
	// WeChatPay verifies WeChat Pay's notifications; nil when WeChat Pay is not configured.
	WeChatPay *wechat.Pay
	// Alipay signs shoppers in and verifies Alipay's notifications; nil when Alipay is not configured.
	Alipay *alipay.Client
	// ScanPage is the mini-program page a shelf's mini-program code opens.
	ScanPage string
	// WechatLink and AlipayLink open the mini-programs from a scan landing page ("{code}" is replaced).
	WechatLink, AlipayLink string
	// PublicURL is the hub's external base URL; console cookies are Secure when it is https.
	PublicURL string
	// SandboxPlatforms are the sandbox's instant-retail platform fakes by platform name, whose order
	// forms POST /sandbox/{platform}/orders serves; empty outside the sandbox.
	SandboxPlatforms map[string]http.Handler
	// ScanRate is how many scans a second one client address may make (bursts of five times that);
	// 0 means no limit.
	ScanRate float64
}

// MaxImportBody is the largest CSV or xlsx body accepted by the import endpoint.
const MaxImportBody = 10 << 20

// XLSXType is the content type of an xlsx workbook.
const XLSXType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

// New returns the gin engine serving the whole HTTP API.
func New(d Deps) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	if d.Clock == nil {
		d.Clock = domain.SystemClock{}
	}
	h := &api{Deps: d, lim: newAPILimits(d)}
	r := gin.New()
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		d.Log.Error("ignoring O2OHUB_TRUSTED_PROXIES", "err", err)
		r.SetTrustedProxies(nil)
	}
	r.ContextWithFallback = true
	r.Use(recoverJSON(), requestLog(d.Log), measure, checkText())
	r.NoRoute(func(c *gin.Context) {
		if strings.HasPrefix(c.Request.URL.Path, "/q/") { // a damaged QR link still gets the friendly page
			notFoundPage(c, "", false)
			return
		}
		respondError(c, kindError(domain.ErrNotFound, "no such endpoint"))
	})
	r.NoMethod(func(c *gin.Context) { respondError(c, kindError(errMethodNotAllowed, "method not allowed")) })
	r.HandleMethodNotAllowed = true

	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", h.ready)
	r.GET("/metrics", adminAuth(d.AdminToken, h.lim.adminFail), gin.WrapH(metrics.Handler()))
	r.GET("/api/openapi.json", func(c *gin.Context) { c.Data(http.StatusOK, "application/json", openapiJSON) })

	v1 := r.Group("/api/v1")
	v1.GET("/stores", h.stores)
	v1.GET("/stores/:code/products", h.storeProducts)
	v1.GET("/scan/:code", scanLimit(d.ScanRate), h.scan)

	auth := v1.Group("/auth", sharedLimit(h.lim.signIn))
	auth.POST("/sandbox", h.sandboxOnly, h.sandboxLogin)
	wechatOnly, alipayOnly := configured("WeChat", d.WeChat != nil), configured("Alipay", d.Alipay != nil)
	auth.POST("/wechat", wechatOnly, h.wechatLogin)
	auth.POST("/alipay", alipayOnly, h.alipayLogin)

	me := v1.Group("", memberAuth(d.Service))
	me.GET("/me", h.me)
	me.POST("/me/phone/sandbox", h.sandboxOnly, h.sandboxPhone)
	me.POST("/me/phone/wechat", wechatOnly, h.wechatPhone)
	me.POST("/me/phone/alipay", alipayOnly, h.alipayPhone)
	me.POST("/orders", h.idempotent, h.createOrder)
	me.GET("/orders", h.orders)
	me.GET("/orders/:no", h.order)
	me.POST("/orders/:no/cancel", h.idempotent, h.cancelOrder)
	me.POST("/orders/:no/pay", h.idempotent, h.pay)
	me.GET("/orders/:no/pickup", h.pickup)

	admin := v1.Group("/admin", adminAuth(d.AdminToken, h.lim.adminFail))
	admin.PUT("/stores/:code", h.putStore)
	admin.PUT("/products/:sku", h.putProduct)
	admin.PUT("/stores/:code/stock/:sku", h.putStock)
	admin.POST("/import", h.importCatalog)
	admin.POST("/qrcodes", h.createQRCode)
	admin.GET("/qrcodes", h.listQRCodes)
	admin.GET("/qrcodes/:code", h.qrCode)
	admin.GET("/qrcodes/:code/wxacode", wechatOnly, h.qrWXACode)
	admin.DELETE("/qrcodes/:code", h.disableQRCode)
	admin.POST("/stores/:code/qrcodes", h.storeQRCodes)
	admin.PUT("/trace/batches/:no", h.putTraceBatch)
	admin.POST("/trace/batches/:no/codes", h.traceUnitCodes)
	admin.GET("/reports/scans", h.scanReport)
	admin.POST("/orders/:no/refund", h.idempotent, h.refundOrder)
	admin.POST("/orders/:no/accept", h.storeStep(d.Service.AcceptOrder))
	admin.POST("/orders/:no/reject", h.storeReject)
	admin.POST("/orders/:no/ready", h.storeStep(d.Service.MarkReady))
	admin.POST("/orders/:no/complete", h.storeStep(d.Service.CompletePickup))
	admin.POST("/orders/:no/dispatch", h.storeDispatch)
	admin.POST("/orders/:no/deliver", h.storeStep(d.Service.Deliver))
	admin.PUT("/staff/:username", h.putStaff)
	h.eventRoutes(admin)

	r.GET("/q/:code", scanLimit(d.ScanRate), h.landing)
	h.storeRoutes(v1)
	h.consoleRoutes(r)
	r.POST("/sandbox/:platform/orders", h.sandboxOnly, h.sandboxPlatformOrder)
	r.POST("/webhooks/sandbox", h.sandboxOnly, h.webhook(sandboxDoor(d.SandboxSecret, d.Clock)))
	r.POST("/webhooks/wechatpay", h.webhook(wechatPayDoor(d.WeChatPay)))
	r.POST("/webhooks/alipay", h.webhook(alipayDoor(d.Alipay)))
	h.marketRoutes(r, admin)
	h.loyaltyRoutes(v1, me, admin)
	h.tillRoutes(v1, me)
	h.referralRoutes(v1, me, admin)
	h.campaignRoutes(me, admin)
	v1.DELETE("/auth/session", memberAuth(d.Service), h.signOut)
	return r
}

type api struct {
	Deps
	lim apiLimits
}

func (h *api) ready(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := h.DB.Ping(ctx); err != nil {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "database unreachable"})
		return
	}
	v, err := h.DB.AppliedVersion(ctx)
	if err != nil || v < models.SchemaVersion() {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "migrations not applied"})
		return
	}
	if stuck := h.Service.StuckWorkers(); len(stuck) > 0 {
		c.JSON(http.StatusServiceUnavailable, gin.H{"status": "workers stuck", "workers": stuck})
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "schema_version": v})
}

func (h *api) sandboxOnly(c *gin.Context) {
	if !h.Sandbox {
		respondError(c, kindError(domain.ErrForbidden, "the sandbox is disabled (O2OHUB_SANDBOX=false)"))
	}
}

func optFloat(c *gin.Context, name string) (*float64, error) {
	raw := c.Query(name)
	if raw == "" {
		return nil, nil
	}
	f, err := strconv.ParseFloat(raw, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, errors.New(name + " must be a finite number")
	}
	return &f, nil
}

func (h *api) stores(c *gin.Context) {
	lat, err1 := optFloat(c, "lat")
	lng, err2 := optFloat(c, "lng")
	if err := errors.Join(err1, err2); err != nil {
		respondError(c, kindError(domain.ErrInvalidArgument, err.Error()))
		return
	}
	out, err := h.Service.Catalog.Stores(c.Request.Context(), lat, lng)
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeProducts(c *gin.Context) {
	out, err := h.Service.Catalog.StoreProducts(c.Request.Context(), c.Param("code"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) sandboxLogin(c *gin.Context) {
	var in struct {
		User string `json:"user"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Members.SignIn(c.Request.Context(), sandbox.Provider, in.User, in.User)
	respond(c, http.StatusOK, out, err)
}

func (h *api) me(c *gin.Context) {
	out, err := h.Service.Me(c.Request.Context(), memberID(c))
	respond(c, http.StatusOK, out, err)
}

func (h *api) sandboxPhone(c *gin.Context) {
	var in struct {
		Phone string `json:"phone"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Members.BindPhone(c.Request.Context(), memberID(c), in.Phone)
	respond(c, http.StatusOK, out, err)
}

func (h *api) createOrder(c *gin.Context) {
	var in core.OrderInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.CreateOrder(c.Request.Context(), memberID(c), in)
	respond(c, http.StatusCreated, out, err)
}

func (h *api) orders(c *gin.Context) {
	out, err := h.Service.Orders(c.Request.Context(), memberID(c))
	respond(c, http.StatusOK, out, err)
}

func (h *api) order(c *gin.Context) {
	out, err := h.Service.Order(c.Request.Context(), memberID(c), c.Param("no"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) cancelOrder(c *gin.Context) {
	out, err := h.Service.CancelOrder(c.Request.Context(), memberID(c), c.Param("no"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) pay(c *gin.Context) {
	var in struct {
		Provider string `json:"provider"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.StartPayment(c.Request.Context(), memberID(c), c.Param("no"), in.Provider)
	respond(c, http.StatusOK, out, err)
}

func (h *api) putStore(c *gin.Context) {
	var in catalog.StoreInput
	if !bindJSON(c, &in) {
		return
	}
	in.Code = c.Param("code")
	out, err := h.Service.Catalog.PutStore(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) putProduct(c *gin.Context) {
	var in catalog.ProductInput
	if !bindJSON(c, &in) {
		return
	}
	in.SKU = c.Param("sku")
	out, err := h.Service.Catalog.PutProduct(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) putStock(c *gin.Context) {
	var in struct {
		OnHand *int64 `json:"on_hand"`
	}
	if !bindJSON(c, &in) {
		return
	}
	if in.OnHand == nil {
		respondError(c, kindError(domain.ErrInvalidArgument, "on_hand is required"))
		return
	}
	out, err := h.Service.Catalog.SetStock(c.Request.Context(), c.Param("code"), c.Param("sku"), *in.OnHand, "admin_set")
	respond(c, http.StatusOK, out, err)
}

// importCatalog imports a CSV or an xlsx body: a body sent as XLSXType must be a workbook; any other is
// told by its content, since clients label CSV many ways.
func (h *api) importCatalog(c *gin.Context) {
	b, err := readBody(c, MaxImportBody)
	if err != nil {
		return
	}
	format := catalog.FormatAuto
	if c.ContentType() == XLSXType {
		format = catalog.FormatXLSX
	}
	out, err := h.Service.Catalog.Import(c.Request.Context(), b, format)
	if err != nil {
		respondError(c, err)
		return
	}
	status := http.StatusOK
	if out.Failed > 0 {
		status = http.StatusUnprocessableEntity
	}
	c.JSON(status, out)
}
