package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/idem"
)

// errBody is the JSON error format of every API response that is not a success.
type errBody struct {
	Error errDetail `json:"error"`
}

type errDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// Error kinds of the HTTP layer itself, for what core never says: they have rows in errorTable like
// core's kinds.
var (
	// errTooLarge is a request body over its cap.
	errTooLarge = errors.New("request body too large")
	// errMethodNotAllowed is a known path asked with a method it does not serve.
	errMethodNotAllowed = errors.New("method not allowed")
)

// errorKind is one row of the error table: how an error of one kind is answered by the JSON API (status
// and code), by the console (status and a message in Chinese) and to a provider's webhook (status).
type errorKind struct {
	kind   error
	code   string
	status int
	// zh is the console's message; zhFor overrides it for the console actions it names, where the action
	// says more than the kind. The rate-limited message holds one %d, the seconds to wait.
	zh    string
	zhFor map[string]string
}

// errorTable maps every error kind to its answer, in one place for the JSON API (respondError), the
// console (conErrorText) and the webhooks. The first row whose kind an error wraps answers it: the
// pickup-code errors come first, as each also wraps a general kind below. An error of no kind here is
// ours: it is logged and answered 500, without its text.
var errorTable = []errorKind{
	{kind: core.ErrCodeUnknown, code: "code_unknown", status: http.StatusNotFound, zh: "取货码不存在或不属于本店，请核对后重试。"},
	{kind: core.ErrCodeExpired, code: "code_expired", status: http.StatusGone, zh: "取货码已过期，订单将自动退款。"},
	{kind: core.ErrCodeUsed, code: "code_used", status: http.StatusConflict, zh: "该订单已取货，请勿重复交付。"},
	{kind: core.ErrMemberCodeUnknown, code: "member_code_unknown", status: http.StatusNotFound, zh: "会员码无效，请让顾客刷新会员码后重新扫描。"},
	{kind: core.ErrMemberCodeExpired, code: "member_code_expired", status: http.StatusGone, zh: "会员码已过期（有效期 60 秒），请让顾客刷新后重新扫描。"},
	{kind: core.ErrMemberCodeUsed, code: "member_code_used", status: http.StatusConflict, zh: "会员码已使用过，每个会员码只能用于一笔交易，请让顾客刷新后重新扫描。"},
	{kind: idem.ErrKeyReused, code: "idempotency_key_reused", status: http.StatusUnprocessableEntity, zh: "请求编号已用于另一请求，请刷新后重试。"},
	{kind: idem.ErrInProgress, code: "idempotency_in_progress", status: http.StatusConflict, zh: "相同的请求正在处理，请稍后刷新。"},
	{kind: domain.ErrNotFound, code: "not_found", status: http.StatusNotFound, zh: "订单不存在或不属于本店。",
		// A code not found at the pickup desk is ErrCodeUnknown, above; what is left is the store.
		zhFor: map[string]string{"store": "门店不存在或不属于您。", "pickup": "门店不存在或不属于您。", "alert": "告警不存在。"}},
	{kind: domain.ErrInvalidArgument, code: "invalid_argument", status: http.StatusBadRequest, zh: "填写的内容无效，请检查后重试。",
		zhFor: map[string]string{
			"reject":   "请填写拒单原因（1–80 个字）。",
			"dispatch": "请填写骑手姓名或运单号（每项最多 64 个字）。",
			"return":   "退货数量或原因无效：数量不能超过可退数量，原因最多 80 个字。",
			"pickup":   "取货码应为 8 位数字，或扫描顾客出示的取货二维码。",
			"alert":    "处理说明无效：请填写做了什么，最多 600 个汉字。",
			"alerts":   "页码无效，请从告警页重新进入。",
			"member":   "会员码应为 88 开头的 18 位数字，请扫描顾客出示的会员码。",
		}},
	{kind: domain.ErrOutOfStock, code: "out_of_stock", status: http.StatusConflict, zh: "库存不足，请刷新后重试。"},
	{kind: domain.ErrConflict, code: "conflict", status: http.StatusConflict, zh: "订单状态已变化，请刷新后重试。",
		zhFor: map[string]string{
			"accept":   "该订单已不是待接单状态（可能已超时转给其他门店或已处理），无法接单。",
			"reject":   "该订单已不是待接单状态（可能已超时转给其他门店或已处理），无法拒单。",
			"ready":    "只有已接单的自提订单才能标记为备货完成。",
			"dispatch": "只有已接单的配送订单才能发货。",
			"deliver":  "只有配送中的订单才能标记为已送达。",
			"return":   "该订单当前不能退货：须已取货或已送达，且还有未退的商品。",
			"pickup":   "该订单当前不可取货（可能已退款）。",
			"alert":    "该告警已被处理（可能其他管理员刚处理过），请刷新。",
		}},
	{kind: domain.ErrUnauthenticated, code: "unauthenticated", status: http.StatusUnauthorized, zh: "登录已过期，请重新登录。"},
	{kind: domain.ErrForbidden, code: "forbidden", status: http.StatusForbidden, zh: "没有权限执行此操作。",
		zhFor: map[string]string{"admin": "此页面仅管理员可用。"}},
	{kind: domain.ErrRateLimited, code: "rate_limited", status: http.StatusTooManyRequests, zh: "尝试次数过多，请 %d 秒后再试。"},
	{kind: domain.ErrUnavailable, code: "provider_unavailable", status: http.StatusBadGateway, zh: "支付渠道暂时无法连接，请稍后重试。"},
	{kind: errTooLarge, code: "invalid_argument", status: http.StatusRequestEntityTooLarge, zh: "提交的内容过大。"},
	{kind: errMethodNotAllowed, code: "invalid_argument", status: http.StatusMethodNotAllowed, zh: "不支持该请求方法。"},
}

// internalError is the answer to an error of no kind in the table.
var internalError = errorKind{code: "internal", status: http.StatusInternalServerError, zh: "系统错误，请稍后重试。"}

// kindOf returns the row of the error table that answers err; ok is false for an error of no kind,
// which is answered as internalError.
func kindOf(err error) (k errorKind, ok bool) {
	for _, k := range errorTable {
		if errors.Is(err, k.kind) {
			return k, true
		}
	}
	return internalError, false
}

// zhMessage is the console's message for an error of kind k met doing action.
func (k errorKind) zhMessage(action string) string {
	if msg := k.zhFor[action]; msg != "" {
		return msg
	}
	return k.zh
}

// kindError returns an error of kind whose message, meant for the caller, is msg.
func kindError(kind error, msg string) error { return &domain.Error{Kind: kind, Msg: msg} }

// respond answers with out as JSON and status, or, when err is set, with the error.
func respond(c *gin.Context, status int, out any, err error) {
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(status, out)
}

// respondError maps err to its HTTP status and error code. Errors that are not domain errors are logged
// and answered with a bare 500: no internals reach the client.
func respondError(c *gin.Context, err error) {
	k, ok := kindOf(err)
	if !ok {
		logger(c).ErrorContext(c.Request.Context(), "request failed", "err", err)
		abort(c, k.status, k.code, "internal error")
		return
	}
	var de *domain.Error
	msg := k.kind.Error()
	if errors.As(err, &de) {
		msg = de.Msg
		if de.RetryAfter > 0 {
			c.Header("Retry-After", retryAfter(de.RetryAfter))
		}
	}
	abort(c, k.status, k.code, msg)
}

// abort writes the JSON error body; callers map an error through respondError rather than pick a status.
func abort(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, errBody{Error: errDetail{Code: code, Message: msg}})
}
