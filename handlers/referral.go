package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/referral"
)

// referralRoutes serves referral rebates: the member's code, rebates and binding, the settings for the
// admin token, and a member's rebates and payouts for signed-in admin staff through the store API.
func (h *api) referralRoutes(v1, me, admin *gin.RouterGroup) {
	me.GET("/me/referral", h.myReferral)
	me.POST("/me/referrer", h.idempotent, h.bindReferrer)
	admin.GET("/referral/settings", h.referralSettings)
	admin.PUT("/referral/settings", h.putReferralSettings)
	st := v1.Group("/store/referral", staffAuth(h.Service))
	st.GET("/members/:id", h.memberReferral)
	st.POST("/payouts", h.idempotent, h.referralPayout)
}

func (h *api) myReferral(c *gin.Context) {
	out, err := h.Service.Referral.View(c.Request.Context(), memberID(c))
	respond(c, http.StatusOK, out, err)
}

func (h *api) bindReferrer(c *gin.Context) {
	var in struct {
		Code string `json:"code"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Referral.Bind(c.Request.Context(), memberID(c), in.Code)
	respond(c, http.StatusOK, out, err)
}

func (h *api) referralSettings(c *gin.Context) {
	out, err := h.Service.Referral.Settings(c.Request.Context())
	respond(c, http.StatusOK, out, err)
}

func (h *api) putReferralSettings(c *gin.Context) {
	var in referral.Settings
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Referral.PutSettings(c.Request.Context(), in, actor(c).Username)
	respond(c, http.StatusOK, out, err)
}

func (h *api) memberReferral(c *gin.Context) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		respondError(c, kindError(domain.ErrInvalidArgument, "member id must be a positive integer"))
		return
	}
	out, err := h.Service.MemberReferral(c.Request.Context(), actor(c), id)
	respond(c, http.StatusOK, out, err)
}

func (h *api) referralPayout(c *gin.Context) {
	var in referral.Payout
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.PayoutRebates(c.Request.Context(), actor(c), in)
	respond(c, http.StatusOK, out, err)
}
