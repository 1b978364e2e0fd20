package handlers

import (
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/loyalty"
)

// The console's member page: a clerk scans or types the member code a shopper shows and sees who it
// is (phone masked, level, points available). The pickup desk answers a member code the same way.
// Looking a code up does not use it; the till's sale does.

// conMemberData is what the member page shows: the member found, if any.
type conMemberData struct {
	Member *loyalty.MemberView
}

func (h *api) conMember(c *gin.Context) {
	p := h.conPageOf(c, "会员", "member")
	p.Data = conMemberData{}
	conRender(c, http.StatusOK, "member", p)
}

func (h *api) conMemberLookup(c *gin.Context) {
	p := h.conPageOf(c, "会员", "member")
	p.Self, p.Path = "/console/member", "/console/member"
	p.Data = conMemberData{}
	code := strings.TrimSpace(c.PostForm("code"))
	if code == "" {
		p.Error = "请输入或扫描顾客出示的会员码。"
		conRender(c, http.StatusBadRequest, "member", p)
		return
	}
	m, err := h.conLookupMember(c, code)
	if err != nil {
		msg, status := conErrorText(c, "member", err)
		p.Error = msg
		conRender(c, status, "member", p)
		return
	}
	p.Data = conMemberData{Member: &m}
	conRender(c, http.StatusOK, "member", p)
}

// conLookupMember looks a member code up for the signed-in clerk.
func (h *api) conLookupMember(c *gin.Context, code string) (loyalty.MemberView, error) {
	if len(code) > 64 {
		code = code[:64]
	}
	return h.Service.LookupMemberCode(c.Request.Context(), conActor(c), code)
}
