package handlers

import (
	"context"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/member"
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
