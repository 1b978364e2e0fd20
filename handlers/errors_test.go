package handlers

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
)

// TestErrorTable checks that every error kind core declares has one row, answered alike by the JSON
// API and the console.
func TestErrorTable(t *testing.T) {
	for _, c := range []struct {
		err    error
		status int
		code   string
		zh     string // a part of the console's message for action "accept"
	}{
		{domain.ErrNotFound, 404, "not_found", "订单不存在"},
		{domain.ErrInvalidArgument, 400, "invalid_argument", "填写的内容无效"},
		{domain.ErrOutOfStock, 409, "out_of_stock", "库存不足"},
		{domain.ErrConflict, 409, "conflict", "无法接单"},
		{domain.ErrInvalidTransition, 409, "conflict", "无法接单"},
		{domain.ErrUnauthenticated, 401, "unauthenticated", "登录已过期"},
		{domain.ErrForbidden, 403, "forbidden", "没有权限"},
		{&domain.Error{Kind: domain.ErrRateLimited, Msg: "slow down", RetryAfter: 1500 * time.Millisecond}, 429, "rate_limited", "请 2 秒后再试"},
		{domain.ErrUnavailable, 502, "provider_unavailable", "支付渠道暂时无法连接"},
		{core.ErrCodeUnknown, 404, "code_unknown", "取货码不存在"},
		{core.ErrCodeExpired, 410, "code_expired", "取货码已过期"},
		{core.ErrCodeUsed, 409, "code_used", "已取货"},
		{fmt.Errorf("wrapped: %w", &domain.Error{Kind: domain.ErrNotFound, Msg: "order x not found"}), 404, "not_found", "订单不存在"},
		{errTooLarge, 413, "invalid_argument", "过大"},
		{errors.New("disk full"), 500, "internal", "系统错误"},
	} {
		t.Run(c.err.Error(), func(t *testing.T) {
			gin.SetMode(gin.ReleaseMode)
			w := httptest.NewRecorder()
			ctx, _ := gin.CreateTestContext(w)
			ctx.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			respondError(ctx, c.err)
			if w.Code != c.status || !strings.Contains(w.Body.String(), `"code":"`+c.code+`"`) {
				t.Errorf("API answer = %d %s, want %d with code %s", w.Code, w.Body, c.status, c.code)
			}
			if c.status == 500 && strings.Contains(w.Body.String(), "disk") {
				t.Errorf("API answer %s shows an internal error", w.Body)
			}
			w = httptest.NewRecorder()
			ctx, _ = gin.CreateTestContext(w)
			ctx.Request = httptest.NewRequest(http.MethodPost, "/", nil)
			msg, status := conErrorText(ctx, "accept", c.err)
			if status != c.status || !strings.Contains(msg, c.zh) {
				t.Errorf("console answer = %d %q, want %d with %q", status, msg, c.status, c.zh)
			}
		})
	}
}
