package handlers

import "github.com/gin-gonic/gin"

// consoleRoutes serves the clerk console under /console/.
func (h *api) consoleRoutes(r *gin.Engine) {
	r.GET("/console/stores/:code/labels", h.labels)
}
