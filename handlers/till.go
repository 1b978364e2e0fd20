package handlers

import (
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
)

// tillRoutes serves the member code (the member's app shows it at a store's till) and the till's sales
// and returns through the store API.
func (h *api) tillRoutes(v1, me *gin.RouterGroup) {
	me.GET("/me/member-code", h.memberCode)
	me.GET("/me/member-code.png", h.memberCodePNG)
	st := v1.Group("/store", staffAuth(h.Service))
	st.POST("/member-code", h.lookupMemberCode)
	st.POST("/sales", h.recordSale)
	st.GET("/sales/:no", h.sale)
	st.POST("/sales/:no/return", h.idempotent, h.returnSale)
}

func (h *api) memberCode(c *gin.Context) {
	out, err := h.Service.IssueMemberCode(c.Request.Context(), memberID(c))
	c.Header("Cache-Control", "no-store")
	respond(c, http.StatusOK, out, err)
}

// memberCodePNG issues a new member code and answers its QR; the code and its expiry are in the
// X-Member-Code and X-Member-Code-Expires-At headers, for the app to show beside it.
func (h *api) memberCodePNG(c *gin.Context) {
	out, err := h.Service.IssueMemberCode(c.Request.Context(), memberID(c))
	if err != nil {
		respondError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("X-Member-Code", out.Code)
	c.Header("X-Member-Code-Expires-At", out.ExpiresAt.Format(time.RFC3339))
	c.Data(http.StatusOK, "image/png", out.QRPNG)
}

func (h *api) lookupMemberCode(c *gin.Context) {
	var in struct {
		MemberCode string `json:"member_code"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.LookupMemberCode(c.Request.Context(), actor(c), in.MemberCode)
	respond(c, http.StatusOK, out, err)
}

// recordSale answers 201 with a sale first recorded and 200 with a repeat of one.
func (h *api) recordSale(c *gin.Context) {
	var in core.SaleInput
	if !bindJSON(c, &in) {
		return
	}
	out, created, err := h.Service.RecordSale(c.Request.Context(), actor(c), in)
	respond(c, createdStatus(created), out, err)
}

func (h *api) sale(c *gin.Context) {
	out, err := h.Service.Sale(c.Request.Context(), actor(c), c.Query("store"), c.Param("no"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) returnSale(c *gin.Context) {
	var in core.SaleReturnInput
	if !bindJSON(c, &in) {
		return
	}
	out, created, err := h.Service.ReturnSale(c.Request.Context(), actor(c), c.Param("no"), in)
	respond(c, createdStatus(created), out, err)
}

// createdStatus is 201 for something just recorded and 200 for a repeat answered as first recorded.
func createdStatus(created bool) int {
	if created {
		return http.StatusCreated
	}
	return http.StatusOK
}
