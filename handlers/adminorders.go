package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
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

// orderStep serves one fulfilment step of the admin API.
func (h *api) orderStep(step func(context.Context, core.Actor, string) (core.OrderView, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		out, err := step(c.Request.Context(), core.AdminTokenActor, c.Param("no"))
		respond(c, http.StatusOK, out, err)
	}
}

func (h *api) dispatchOrder(c *gin.Context) {
	var in core.Courier
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Dispatch(c.Request.Context(), core.AdminTokenActor, c.Param("no"), in)
	respond(c, http.StatusOK, out, err)
}
