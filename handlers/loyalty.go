package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
)

// loyaltyRoutes serves points and levels: the member's ledger, the settings for the admin token, and the
// member lookup and adjustments for signed-in admin staff through the store API.
func (h *api) loyaltyRoutes(v1, me, admin *gin.RouterGroup) {
	me.GET("/me/points", h.myPoints)
	admin.GET("/loyalty/settings", h.loyaltySettings)
	admin.PUT("/loyalty/settings", h.putLoyaltySettings)
	st := v1.Group("/store/loyalty", staffAuth(h.Service))
	st.GET("/members", h.loyaltyMember)
	st.POST("/members/:id/adjust", h.idempotent, h.adjustPoints)
}

func (h *api) myPoints(c *gin.Context) {
	before, ok := queryInt(c, "before")
	if !ok {
		return
	}
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	if limit > loyalty.MaxPage {
		respondError(c, kindError(domain.ErrInvalidArgument, "limit must be at most "+strconv.Itoa(loyalty.MaxPage)))
		return
	}
	out, err := h.Service.MyPoints(c.Request.Context(), memberID(c), before, int(limit))
	respond(c, http.StatusOK, out, err)
}

func (h *api) loyaltySettings(c *gin.Context) {
	out, err := h.Service.Loyalty.Settings(c.Request.Context())
	respond(c, http.StatusOK, out, err)
}

func (h *api) putLoyaltySettings(c *gin.Context) {
	var in loyalty.Settings
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Loyalty.PutSettings(c.Request.Context(), in, actor(c).Username)
	respond(c, http.StatusOK, out, err)
}

func (h *api) loyaltyMember(c *gin.Context) {
	out, err := h.Service.LookupMember(c.Request.Context(), actor(c), c.Query("phone"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) adjustPoints(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		respondError(c, kindError(domain.ErrInvalidArgument, "member id must be a positive integer"))
		return
	}
	var in loyalty.Adjustment
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.AdjustPoints(c.Request.Context(), actor(c), id, in)
	respond(c, http.StatusOK, out, err)
}
