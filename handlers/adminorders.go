package handlers

import (
	"net/http"

	"github.com/gin-gonic/gin"
)

func (h *api) refundOrder(c *gin.Context) {
	var in struct {
		AmountFen int64  `json:"amount_fen"`
		Reason    string `json:"reason"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.RefundOrder(c.Request.Context(), c.Param("no"), in.AmountFen, in.Reason)
	respond(c, http.StatusOK, out, err)
}
