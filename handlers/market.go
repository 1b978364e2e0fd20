package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/meituan"
)

// marketRoutes serves the platforms' webhooks and the admin API of shops and SKU maps.
func (h *api) marketRoutes(r *gin.Engine, admin *gin.RouterGroup) {
	r.GET("/webhooks/meituan/:event", h.marketWebhook(market.Meituan))
	r.POST("/webhooks/meituan/:event", h.marketWebhook(market.Meituan))
	r.POST("/webhooks/eleme", h.marketWebhook(market.Eleme))
	r.POST("/webhooks/jddj/djsw/:event", h.marketWebhook(market.JDDJ))

	admin.GET("/marketplaces/:platform/shops/:shop", h.marketShop)
	admin.PUT("/marketplaces/:platform/shops/:shop", h.putMarketShop)
	admin.DELETE("/marketplaces/:platform/shops/:shop", h.deleteMarketShop)
	admin.GET("/marketplaces/shops", h.marketShops)
	admin.PUT("/marketplaces/:platform/skus/:code", h.putMarketSKU)
	admin.DELETE("/marketplaces/:platform/skus/:code", h.deleteMarketSKU)
}

// meituanEvents are the push kinds Meituan's console registers a URL for; another is 404.
var meituanEvents = map[string]bool{meituan.EventPaid: true, meituan.EventConfirmed: true, meituan.EventCancel: true,
	meituan.EventRefund: true, meituan.EventFinished: true}

// marketWebhook receives one platform's pushes: the raw body is read first (capped), the connector
// verifies and normalises it, core applies it once, and the platform gets its own exact answer. A forged,
// foreign, stale or unbound push is refused with a 4xx in the platform's format and changes nothing; when
// we fail, the answer is a 5xx so that the platform sends it again. A platform that is off answers 404.
func (h *api) marketWebhook(platform string) gin.HandlerFunc {
	return func(c *gin.Context) {
		conn, ok := h.Service.Market.Connector(platform)
		event := c.Param("event")
		if !ok || (platform == market.Meituan && !meituanEvents[event]) {
			c.AbortWithStatus(http.StatusNotFound)
			return
		}
		reply := func(p market.Push, err error) {
			r := conn.Reply(p, err)
			c.Data(r.Status, r.ContentType, r.Body)
			c.Abort()
		}
		body, _, err := webhookBody(c)
		if err != nil {
			reply(market.Push{}, fmt.Errorf("%w: %v", market.ErrMalformed, err))
			return
		}
		in := market.Inbound{Method: c.Request.Method, URL: strings.TrimRight(h.PublicURL, "/") + c.Request.URL.Path, Event: event,
			Query: c.Request.URL.Query(), Body: body, ContentType: c.ContentType()}
		ctx := c.Request.Context()
		p, err := conn.ReadPush(in)
		if err != nil {
			logger(c).WarnContext(ctx, "platform push refused", "platform", platform, "event", event, "err", err)
			countNotification(platform, "refused")
			reply(p, err)
			return
		}
		p.Platform = platform
		result, err := h.Service.ReceivePush(ctx, p)
		switch {
		case errors.Is(err, market.ErrStale), errors.Is(err, market.ErrUnknownShop), errors.Is(err, market.ErrMalformed):
			logger(c).WarnContext(ctx, "platform push refused", "platform", platform, "push", p.ID, "err", err)
			countNotification(platform, "refused")
		case err != nil:
			logger(c).ErrorContext(ctx, "platform push not applied", "platform", platform, "push", p.ID, "err", err)
			countNotification(platform, "failed")
		default:
			logger(c).InfoContext(ctx, "platform push", "platform", platform, "kind", p.Kind, "platform_order_id", p.OrderID, "result", result)
			countNotification(platform, string(p.Kind))
		}
		reply(p, err)
	}
}

func (h *api) marketShop(c *gin.Context) {
	out, err := h.Service.Market.Shop(c.Request.Context(), c.Param("platform"), c.Param("shop"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) marketShops(c *gin.Context) {
	out, err := h.Service.Market.Shops(c.Request.Context(), c.Query("store"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) putMarketShop(c *gin.Context) {
	var in market.ShopInput
	if !bindJSON(c, &in) {
		return
	}
	in.Platform, in.ShopID = c.Param("platform"), c.Param("shop")
	out, err := h.Service.Market.PutShop(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) deleteMarketShop(c *gin.Context) {
	out, err := h.Service.Market.DeleteShop(c.Request.Context(), c.Param("platform"), c.Param("shop"))
	respond(c, http.StatusAccepted, out, err)
}

func (h *api) putMarketSKU(c *gin.Context) {
	var in market.SKUInput
	if !bindJSON(c, &in) {
		return
	}
	in.Platform, in.Code = c.Param("platform"), c.Param("code")
	out, err := h.Service.Market.PutSKU(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) deleteMarketSKU(c *gin.Context) {
	if err := h.Service.Market.DeleteSKU(c.Request.Context(), c.Param("platform"), c.Param("code")); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// sandboxPlatformOrder hands a sandbox order form ({"shop_id","lines":[{"code","name","qty","price_fen"}]})
// to the sandbox fake of the platform, which places the order and pushes it to the hub as the platform
// would; `o2ohub simulate meituan|eleme|jddj` posts here.
func (h *api) sandboxPlatformOrder(c *gin.Context) {
	fake := h.SandboxPlatforms[c.Param("platform")]
	if fake == nil {
		respondError(c, kindError(domain.ErrNotFound, "no sandbox platform "+strconv.Quote(c.Param("platform"))))
		return
	}
	r := c.Request.Clone(c.Request.Context())
	r.URL.Path, r.URL.RawPath = "/sandbox/orders", ""
	r.Body = http.MaxBytesReader(c.Writer, c.Request.Body, 1<<20)
	fake.ServeHTTP(c.Writer, r)
}
