package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
)

// eventRoutes serves the admin API of outgoing events: webhook endpoints and their deliveries, the
// event catalogue, the pull API and the alerts.
func (h *api) eventRoutes(admin *gin.RouterGroup) {
	admin.GET("/events/types", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"types": events.Types()}) })
	admin.GET("/events", h.pullEvents)
	admin.GET("/webhooks", func(c *gin.Context) {
		out, err := h.Service.Events.Endpoints(c.Request.Context())
		respond(c, http.StatusOK, gin.H{"webhooks": out}, err)
	})
	admin.PUT("/webhooks/:name", h.putWebhook)
	admin.GET("/webhooks/:name", func(c *gin.Context) {
		out, err := h.Service.Events.GetEndpoint(c.Request.Context(), c.Param("name"))
		respond(c, http.StatusOK, out, err)
	})
	admin.DELETE("/webhooks/:name", func(c *gin.Context) {
		respondNoContent(c, h.Service.Events.DeleteEndpoint(c.Request.Context(), c.Param("name")))
	})
	admin.POST("/webhooks/:name/rotate", func(c *gin.Context) {
		out, err := h.Service.Events.RotateSecret(c.Request.Context(), c.Param("name"))
		respond(c, http.StatusOK, out, err)
	})
	admin.GET("/webhooks/:name/deliveries", h.webhookDeliveries)
	admin.POST("/webhooks/:name/deliveries/:id/retry", h.deliveryStep((*events.Service).RetryDelivery))
	admin.DELETE("/webhooks/:name/deliveries/:id", h.deliveryStep((*events.Service).DeleteDelivery))
	admin.POST("/webhooks/:name/replay", h.replayWebhook)
	admin.GET("/alerts", h.alerts)
	admin.POST("/alerts/:id/resolve", h.resolveAlert)
}

func respondNoContent(c *gin.Context, err error) {
	if err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// queryInt reads an optional non-negative integer query parameter, answering 400 naming it when bad.
func queryInt(c *gin.Context, name string) (int64, bool) {
	raw := c.Query(name)
	if raw == "" {
		return 0, true
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil || n < 0 {
		respondError(c, kindError(domain.ErrInvalidArgument, name+" must be a whole number ≥ 0"))
		return 0, false
	}
	return n, true
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func (h *api) pullEvents(c *gin.Context) {
	ctx := c.Request.Context()
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	var after int64
	switch raw := c.Query("after"); raw {
	case "latest":
		latest, err := h.Service.Events.Latest(ctx)
		respond(c, http.StatusOK, gin.H{"events": []events.Message{}, "next_after": latest}, err)
		return
	case "":
	default:
		var err error
		if after, err = events.ParseCursor(raw); err != nil {
			respondError(c, err)
			return
		}
	}
	out, next, err := h.Service.Events.Pull(ctx, after, int(limit), splitList(c.Query("types")))
	respond(c, http.StatusOK, gin.H{"events": out, "next_after": next}, err)
}

func (h *api) putWebhook(c *gin.Context) {
	var in events.Endpoint
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Events.PutEndpoint(c.Request.Context(), c.Param("name"), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) webhookDeliveries(c *gin.Context) {
	before, ok := queryInt(c, "before")
	if !ok {
		return
	}
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	out, err := h.Service.Events.Deliveries(c.Request.Context(), c.Param("name"), c.Query("status"), before, int(limit))
	respond(c, http.StatusOK, gin.H{"deliveries": out}, err)
}

func (h *api) deliveryStep(step func(s *events.Service, ctx context.Context, name string, id int64) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := pathID(c, "id", "delivery")
		if !ok {
			return
		}
		respondNoContent(c, step(h.Service.Events, c.Request.Context(), c.Param("name"), id))
	}
}

func (h *api) replayWebhook(c *gin.Context) {
	var in events.Replay
	if !bindJSON(c, &in) {
		return
	}
	n, err := h.Service.Events.ReplayEvents(c.Request.Context(), c.Param("name"), in)
	respond(c, http.StatusAccepted, gin.H{"queued": n}, err)
}

func (h *api) alerts(c *gin.Context) {
	after, ok := queryInt(c, "after")
	if !ok {
		return
	}
	limit, ok := queryInt(c, "limit")
	if !ok {
		return
	}
	out, err := h.Service.Events.Alerts(c.Request.Context(), c.Query("open") == "true", after, int(limit))
	respond(c, http.StatusOK, gin.H{"alerts": out}, err)
}

func (h *api) resolveAlert(c *gin.Context) {
	id, ok := pathID(c, "id", "alert")
	if !ok {
		return
	}
	var in struct {
		Note string `json:"note"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Events.ResolveAlert(c.Request.Context(), id, actor(c).Username, in.Note)
	respond(c, http.StatusOK, out, err)
}
