package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/integrations/wechat"
)

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
