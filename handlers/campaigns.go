package handlers

import (
	"context"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/core/domain"
)

// campaignRoutes serves messages to members by level: the campaign templates and campaigns for the admin
// token, and the member's subscription credits and inbox.
func (h *api) campaignRoutes(me, admin *gin.RouterGroup) {
	me.POST("/me/subscriptions", h.addSubscriptions)
	me.GET("/me/messages", h.myMessages)
	me.POST("/me/messages/:id/read", h.readMessage)
	admin.GET("/campaign-templates", h.campaignTemplates)
	admin.PUT("/campaign-templates/:template_id", h.putCampaignTemplate)
	admin.POST("/campaigns", h.idempotent, h.createCampaign)
	admin.GET("/campaigns", h.campaigns)
	admin.GET("/campaigns/:id", h.campaign)
	admin.POST("/campaigns/:id/start", h.campaignStep(func(ctx context.Context, id int64) (campaign.View, error) {
		return h.Service.StartCampaign(ctx, id)
	}))
	admin.POST("/campaigns/:id/cancel", h.campaignStep(func(ctx context.Context, id int64) (campaign.View, error) {
		return h.Service.Campaigns.Cancel(ctx, id)
	}))
}

// pathID reads a positive integer path parameter, answering 400 naming it when bad.
func pathID(c *gin.Context, name, what string) (int64, bool) {
	id, err := strconv.ParseInt(c.Param(name), 10, 64)
	if err != nil || id <= 0 {
		respondError(c, kindError(domain.ErrInvalidArgument, what+" id must be a positive integer"))
		return 0, false
	}
	return id, true
}

// pageQuery reads the before and limit query parameters of a paged list.
func pageQuery(c *gin.Context) (before int64, limit int, ok bool) {
	if before, ok = queryInt(c, "before"); !ok {
		return 0, 0, false
	}
	l, ok := queryInt(c, "limit")
	if !ok {
		return 0, 0, false
	}
	if l > campaign.MaxPage {
		respondError(c, kindError(domain.ErrInvalidArgument, "limit must be at most "+strconv.Itoa(campaign.MaxPage)))
		return 0, 0, false
	}
	return before, int(l), true
}

func (h *api) addSubscriptions(c *gin.Context) {
	var in struct {
		TemplateIDs []string `json:"template_ids"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Campaigns.AddCredits(c.Request.Context(), memberID(c), in.TemplateIDs)
	respond(c, http.StatusOK, out, err)
}

func (h *api) myMessages(c *gin.Context) {
	before, limit, ok := pageQuery(c)
	if !ok {
		return
	}
	out, err := h.Service.Campaigns.Messages(c.Request.Context(), memberID(c), before, limit)
	respond(c, http.StatusOK, out, err)
}

func (h *api) readMessage(c *gin.Context) {
	id, ok := pathID(c, "id", "message")
	if !ok {
		return
	}
	err := h.Service.Campaigns.MarkRead(c.Request.Context(), memberID(c), id)
	respond(c, http.StatusOK, gin.H{"id": id, "read": true}, err)
}

func (h *api) campaignTemplates(c *gin.Context) {
	out, err := h.Service.Campaigns.Templates(c.Request.Context())
	respond(c, http.StatusOK, out, err)
}

func (h *api) putCampaignTemplate(c *gin.Context) {
	var in campaign.TemplateInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Campaigns.PutTemplate(c.Request.Context(), c.Param("template_id"), in, actor(c).Username)
	respond(c, http.StatusOK, out, err)
}

func (h *api) createCampaign(c *gin.Context) {
	var in campaign.Input
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Campaigns.Create(c.Request.Context(), in, actor(c).Username)
	respond(c, http.StatusCreated, out, err)
}

func (h *api) campaigns(c *gin.Context) {
	before, limit, ok := pageQuery(c)
	if !ok {
		return
	}
	out, err := h.Service.Campaigns.List(c.Request.Context(), before, limit)
	respond(c, http.StatusOK, out, err)
}

func (h *api) campaign(c *gin.Context) {
	id, ok := pathID(c, "id", "campaign")
	if !ok {
		return
	}
	out, err := h.Service.Campaigns.Get(c.Request.Context(), id)
	respond(c, http.StatusOK, out, err)
}

// campaignStep serves a campaign's start or cancel.
func (h *api) campaignStep(step func(ctx context.Context, id int64) (campaign.View, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, ok := pathID(c, "id", "campaign")
		if !ok {
			return
		}
		out, err := step(c.Request.Context(), id)
		respond(c, http.StatusOK, out, err)
	}
}
