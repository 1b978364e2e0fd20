package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/integrations/alipay"
)

// alipayLogin signs a shopper in with a my.getAuthCode code.
func (h *api) alipayLogin(c *gin.Context) {
	h.codeLogin(c, "支付宝用户", func(ctx context.Context, code string) (member.IdentityRef, []member.IdentityRef, error) {
		id, err := h.Alipay.Login(ctx, code)
		return id, nil, err
	})
}

// alipayPhone binds the phone number in my.getPhoneNumber's signed, encrypted response.
func (h *api) alipayPhone(c *gin.Context) {
	var in struct {
		Response string `json:"response"`
	}
	if bindJSON(c, &in) {
		h.bindVerifiedPhone(c, func(ctx context.Context) (string, error) { return h.Alipay.PhoneNumber(ctx, in.Response) })
	}
}

// alipayReply answers Alipay: exactly "success" stops its retries, anything else makes it try again.
func alipayReply(c *gin.Context, status int, body string) {
	c.Data(status, "text/plain; charset=utf-8", []byte(body))
	c.Abort()
}

// alipayFail answers Alipay "fail" (the reason is for our log, not for Alipay).
func alipayFail(c *gin.Context, status int, _ string) { alipayReply(c, status, "fail") }

// alipayWebhook receives Alipay's trade_status_sync notifications. The form is read from the body
// alone (capped), verified, and handed to core, which applies each payment or refund once.
func (h *api) alipayWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	if h.Alipay == nil {
		alipayReply(c, http.StatusNotFound, "fail")
		return
	}
	body, ok := webhookBody(c, alipayFail)
	if !ok {
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		alipayReply(c, http.StatusBadRequest, "fail")
		return
	}
	n, err := h.Alipay.ParseNotification(form)
	switch {
	case errors.Is(err, alipay.ErrMalformed), errors.Is(err, alipay.ErrForeign):
		logger(c).ErrorContext(ctx, "alipay notification refused", "err", err)
		alipayReply(c, http.StatusBadRequest, "fail")
		return
	case err != nil:
		logger(c).WarnContext(ctx, "alipay notification rejected", "err", err)
		alipayReply(c, http.StatusUnauthorized, "fail")
		return
	}
	var result any = "ignored"
	switch {
	case n.Payment != nil:
		result, err = h.Service.ApplyPayment(ctx, *n.Payment)
	case n.Refund != nil:
		result, err = h.Service.CompleteRefund(ctx, *n.Refund)
	}
	if err != nil {
		logger(c).ErrorContext(ctx, "alipay notification not applied", "notify_id", n.ID, "err", err)
		alipayReply(c, http.StatusInternalServerError, "fail")
		return
	}
	logger(c).InfoContext(ctx, "alipay notification", "notify_id", n.ID, "order_no", n.OrderNo, "trade_status", n.TradeStatus, "result", result)
	alipayReply(c, http.StatusOK, "success")
}
