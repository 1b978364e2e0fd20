package handlers

import (
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
)

// signOut ends the shopper session the request carries, or with ?all=true every session of its member.
func (h *api) signOut(c *gin.Context) {
	all := false
	if raw, ok := c.GetQuery("all"); ok {
		var err error
		if all, err = strconv.ParseBool(raw); err != nil {
			respondError(c, kindError(domain.ErrInvalidArgument, "all must be true or false"))
			return
		}
	}
	if _, err := h.Service.Members.SignOut(c.Request.Context(), memberID(c), bearer(c), all); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
