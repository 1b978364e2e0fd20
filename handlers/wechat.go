package handlers

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/integrations/wechat"
)

// MaxWebhookBody is the largest provider notification accepted; real ones are a few kilobytes.
const MaxWebhookBody = 64 << 10

// wechatLogin signs a shopper in with a wx.login code: their openid in this app is the identity, and
// their unionid, when WeChat gives one, links the apps of one open-platform account.
func (h *api) wechatLogin(c *gin.Context) {
	h.codeLogin(c, "微信用户", func(ctx context.Context, code string) (member.IdentityRef, []member.IdentityRef, error) {
		sess, err := h.WeChat.Login(ctx, code)
		var links []member.IdentityRef
		if sess.UnionID != "" {
			links = append(links, member.IdentityRef{Provider: wechat.UnionProvider, Subject: sess.UnionID})
		}
		return member.IdentityRef{Provider: h.WeChat.Channel(), Subject: sess.OpenID}, links, err
	})
}

// codeLogin signs a shopper in with the one-time code of a channel's login API: exchange turns the
// code into the identity the channel verified (and any identities linked to it).
func (h *api) codeLogin(c *gin.Context, displayName string, exchange func(context.Context, string) (member.IdentityRef, []member.IdentityRef, error)) {
	var in struct {
		Code string `json:"code"`
	}
	if !bindJSON(c, &in) {
		return
	}
	ctx := c.Request.Context()
	id, links, err := exchange(ctx, in.Code)
	if err != nil {
		respondError(c, err)
		return
	}
	out, err := h.Service.Members.SignIn(ctx, id.Provider, id.Subject, displayName, links...)
	respond(c, http.StatusOK, out, err)
}

// wechatPhone binds the phone number WeChat verified for the shopper; the client never sends a number.
func (h *api) wechatPhone(c *gin.Context) {
	var in struct {
		Code string `json:"code"`
	}
	if bindJSON(c, &in) {
		h.bindVerifiedPhone(c, func(ctx context.Context) (string, error) { return h.WeChat.PhoneNumber(ctx, in.Code) })
	}
}

// bindVerifiedPhone binds the phone number a channel verified (verify asks the channel) to the member.
func (h *api) bindVerifiedPhone(c *gin.Context, verify func(context.Context) (string, error)) {
	ctx := c.Request.Context()
	phone, err := verify(ctx)
	if err != nil {
		respondError(c, err)
		return
	}
	out, err := h.Service.Members.BindPhone(ctx, memberID(c), phone)
	respond(c, http.StatusOK, out, err)
}

// webhookBody reads a provider notification's raw body, at most MaxWebhookBody bytes; when it cannot,
// it answers with fail in the provider's format and returns false.
func webhookBody(c *gin.Context, fail func(c *gin.Context, status int, msg string)) ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxWebhookBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		fail(c, http.StatusRequestEntityTooLarge, "notification body too large")
		return nil, false
	case err != nil:
		fail(c, http.StatusBadRequest, "could not read the notification body")
		return nil, false
	}
	return body, true
}

// wechatPayFail answers WeChat Pay in its error format; WeChat retries after any non-2xx answer.
func wechatPayFail(c *gin.Context, status int, msg string) {
	c.AbortWithStatusJSON(status, gin.H{"code": "FAIL", "message": msg})
}

// wechatPayWebhook receives WeChat Pay's notifications: the raw body is read first (capped), verified
// and decrypted, then handed to core, which applies each payment or refund once. A notification that
// fails verification is answered 401 and changes nothing; when we fail, the answer is 500 so that WeChat
// retries.
func (h *api) wechatPayWebhook(c *gin.Context) {
	ctx := c.Request.Context()
	if h.WeChatPay == nil {
		wechatPayFail(c, http.StatusNotFound, "WeChat Pay is not configured on this hub")
		return
	}
	body, ok := webhookBody(c, wechatPayFail)
	if !ok {
		return
	}
	n, err := h.WeChatPay.ParseNotification(ctx, c.Request.Header, body)
	switch {
	case errors.Is(err, wechat.ErrMalformed), errors.Is(err, wechat.ErrForeign):
		logger(c).ErrorContext(ctx, "wechatpay notification refused", "err", err)
		wechatPayFail(c, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		logger(c).WarnContext(ctx, "wechatpay notification rejected", "err", err)
		wechatPayFail(c, http.StatusUnauthorized, err.Error())
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
		logger(c).ErrorContext(ctx, "wechatpay notification not applied", "id", n.ID, "err", err)
		wechatPayFail(c, http.StatusInternalServerError, "temporarily unable to process the notification")
		return
	}
	logger(c).InfoContext(ctx, "wechatpay notification", "id", n.ID, "event", n.EventType, "result", result)
	c.Status(http.StatusNoContent)
}
