package handlers

import (
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/internal/metrics"
)

// measure records every answered request by route pattern (not the path, so order numbers and codes do
// not make new series), method and status.
func measure(c *gin.Context) {
	began := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	metrics.HTTPRequests.WithLabelValues(route, c.Request.Method, strconv.Itoa(c.Writer.Status())).Inc()
	metrics.HTTPDuration.WithLabelValues(route, c.Request.Method).Observe(time.Since(began).Seconds())
}

// countNotification records a provider notification or platform push by its outcome.
func countNotification(provider, outcome string) {
	metrics.Notifications.WithLabelValues(provider, outcome).Inc()
}
