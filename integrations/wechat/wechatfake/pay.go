package wechatfake

import (
	"bytes"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// AuthScheme is the Authorization scheme of WeChat Pay APIv3 requests.
const AuthScheme = "WECHATPAY2-SHA256-RSA2048"

// Tolerance is how far a request's or notification's timestamp may be from the clock.
const Tolerance = 5 * time.Minute

// payError is WeChat Pay's error answer: {"code","message","detail"} with an HTTP status.
type payError struct {
	status  int
	Code    string `json:"code"`
	Message string `json:"message"`
	Detail  any    `json:"detail,omitempty"`
}

func perr(status int, code, msg string) *payError {
	return &payError{status: status, Code: code, Message: msg}
}

// paramMissing is WeChat's PARAM_ERROR for an absent required field.
func paramMissing(location, field, name string) *payError {
	e := perr(http.StatusBadRequest, "PARAM_ERROR",
		fmt.Sprintf("输入源“/%s/%s”映射到值字段“%s”必填性规则校验失败，此字段为必填项", location, field, name))
	e.Detail = map[string]any{"location": location, "field": field, "issue": "required"}
	return e
}

// paramInvalid is WeChat's PARAM_ERROR for a field that breaks a format or length rule.
func paramInvalid(location, field, name, rule string, value any) *payError {
	e := perr(http.StatusBadRequest, "PARAM_ERROR",
		fmt.Sprintf("输入源“/%s/%s”映射到值字段“%s”%s", location, field, name, rule))
	e.Detail = map[string]any{"location": location, "field": field, "value": value, "issue": rule}
	return e
}

// payResult is what a WeChat Pay handler answers; after runs once the answer has been written.
type payResult struct {
	status int
	body   any // nil: no body (204)
	err    *payError
	signer func() (*rsa.PrivateKey, string)
	before func() // runs before the answer is written
	after  func()
}

func (f *Fake) servePay(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		writePay(w, nil, "", http.StatusBadRequest, mustJSON(perr(http.StatusBadRequest, "INVALID_REQUEST", "请求体无法读取或过大")), f.now())
		return
	}
	if e := f.authenticate(r, body); e != nil {
		writePay(w, nil, "", e.status, mustJSON(e), f.now()) // an unauthenticated request gets an unsigned answer
		return
	}
	f.requests.Add(1)
	res := f.routePay(r, body)
	key, serial := f.responseSigner(r)
	if res.signer != nil {
		key, serial = res.signer()
	}
	if res.before != nil {
		res.before()
	}
	switch {
	case res.err != nil:
		writePay(w, key, serial, res.err.status, mustJSON(res.err), f.now())
	case res.body == nil:
		writePay(w, key, serial, res.status, nil, f.now())
	default:
		writePay(w, key, serial, res.status, mustJSON(res.body), f.now())
	}
	if res.after != nil {
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		res.after()
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only the fake's own values are marshalled
	}
	return b
}

// writePay writes a WeChat Pay answer, signed over "timestamp\nnonce\nbody\n" when key is not nil.
func writePay(w http.ResponseWriter, key *rsa.PrivateKey, serial string, status int, body []byte, now time.Time) {
	h := w.Header()
	h.Set("Request-ID", strings.ToUpper(randomHex(36)))
	if body != nil {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if key != nil {
		ts := strconv.FormatInt(now.Unix(), 10)
		nonce := strings.ToUpper(randomHex(32))
		sig, err := signSHA256(key, ts+"\n"+nonce+"\n"+string(body)+"\n")
		if err == nil {
			h.Set("Wechatpay-Timestamp", ts)
			h.Set("Wechatpay-Nonce", nonce)
			h.Set("Wechatpay-Signature", sig)
			h.Set("Wechatpay-Serial", serial)
			h.Set("Wechatpay-Signature-Type", AuthScheme)
		}
	}
	w.WriteHeader(status)
	if len(body) > 0 {
		_, _ = w.Write(body)
	}
}

// responseSigner picks the key for an answer: the one the request's Wechatpay-Serial names, if the
// deployment has it (WeChat honours it while merchants migrate to public keys), else the Mode's.
func (f *Fake) responseSigner(r *http.Request) (*rsa.PrivateKey, string) {
	switch r.Header.Get("Wechatpay-Serial") {
	case f.o.Keys.PublicKeyID:
		return f.o.Keys.signer(PublicKeyMode)
	case f.o.Keys.CertSerial():
		return f.o.Keys.signer(CertificateMode)
	}
	return f.o.Keys.signer(f.o.Mode)
}

// parseAuthorization splits `SCHEME k="v",k="v",…` into the scheme and its parameters.
func parseAuthorization(h string) (string, map[string]string, bool) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return scheme, nil, false
	}
	params := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return scheme, nil, false
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		params[strings.TrimSpace(k)] = v
	}
	return scheme, params, true
}

// requestTarget is the URL a request signature covers: the path and query exactly as sent.
func requestTarget(r *http.Request) string {
	t := r.RequestURI
	if t == "" {
		t = r.URL.RequestURI()
	}
	if i := strings.Index(t, "://"); i >= 0 && !strings.HasPrefix(t, "/") {
		rest := t[i+3:]
		if j := strings.IndexByte(rest, '/'); j >= 0 {
			t = rest[j:]
		} else {
			t = "/"
		}
	}
	return t
}

// authenticate checks the WECHATPAY2-SHA256-RSA2048 Authorization header over
// METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n; a failure is 401 SIGN_ERROR.
func (f *Fake) authenticate(r *http.Request, body []byte) *payError {
	signErr := func(issue string, info map[string]any) *payError {
		e := perr(http.StatusUnauthorized, "SIGN_ERROR", "签名错误，请检查后再试")
		d := map[string]any{"location": "authorization", "issue": issue}
		if info != nil {
			d["sign_information"] = info
		}
		e.Detail = d
		return e
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		return signErr("缺少 Authorization 请求头", nil)
	}
	scheme, p, ok := parseAuthorization(h)
	if !ok || scheme != AuthScheme {
		return signErr("Authorization 的认证类型不正确，应为 "+AuthScheme, nil)
	}
	for _, k := range []string{"mchid", "nonce_str", "timestamp", "serial_no", "signature"} {
		if p[k] == "" {
			return signErr("Authorization 缺少 "+k, nil)
		}
	}
	if p["mchid"] != f.o.MchID {
		return signErr("商户号 mchid 不存在或与签名不匹配", nil)
	}
	if p["serial_no"] != f.o.Keys.MerchantSerial {
		return signErr("商户证书序列号有误。请使用签名私钥匹配的证书序列号", nil)
	}
	ts, err := strconv.ParseInt(p["timestamp"], 10, 64)
	if err != nil {
		return signErr("timestamp 不是整数", nil)
	}
	if d := f.now().Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return signErr("请求的时间戳与当前时间相差超过 5 分钟", nil)
	}
	msg := r.Method + "\n" + requestTarget(r) + "\n" + p["timestamp"] + "\n" + p["nonce_str"] + "\n" + string(body) + "\n"
	if err := verifySHA256(&f.o.Keys.MerchantKey.PublicKey, msg, p["signature"]); err != nil {
		trunc := msg
		if len(trunc) > 256 {
			trunc = trunc[:256]
		}
		return signErr("sign not match", map[string]any{
			"method":                 r.Method,
			"url":                    requestTarget(r),
			"sign_message_length":    len(msg),
			"truncated_sign_message": trunc,
		})
	}
	return nil
}

func (f *Fake) routePay(r *http.Request, body []byte) payResult {
	if r.Header.Get("User-Agent") == "" {
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "HTTP 请求缺少 User-Agent")}
	}
	if r.Method == http.MethodPost && !strings.HasPrefix(strings.ToLower(r.Header.Get("Content-Type")), "application/json") {
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "请求的 Content-Type 应为 application/json")}
	}
	var segs []string
	for _, s := range strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/") {
		u, err := url.PathUnescape(s)
		if err != nil {
			return payResult{err: perr(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在")}
		}
		segs = append(segs, u)
	}
	route := strings.Join(segs, "/")
	method := func(m string, h func() payResult) payResult {
		if r.Method != m {
			return payResult{err: perr(http.StatusMethodNotAllowed, "INVALID_REQUEST", "不支持的请求方法 "+r.Method)}
		}
		return h()
	}
	switch {
	case route == "v3/pay/transactions/jsapi":
		return method(http.MethodPost, func() payResult { return f.prepay(body) })
	case len(segs) == 5 && strings.HasPrefix(route, "v3/pay/transactions/out-trade-no/"):
		return method(http.MethodGet, func() payResult { return f.queryOrder(r, segs[4], false) })
	case len(segs) == 6 && strings.HasPrefix(route, "v3/pay/transactions/out-trade-no/") && segs[5] == "close":
		return method(http.MethodPost, func() payResult { return f.closeOrder(segs[4], body) })
	case len(segs) == 5 && strings.HasPrefix(route, "v3/pay/transactions/id/"):
		return method(http.MethodGet, func() payResult { return f.queryOrder(r, segs[4], true) })
	case route == "v3/refund/domestic/refunds":
		return method(http.MethodPost, func() payResult { return f.createRefund(body) })
	case len(segs) == 5 && strings.HasPrefix(route, "v3/refund/domestic/refunds/"):
		return method(http.MethodGet, func() payResult { return f.queryRefund(segs[4]) })
	case route == "v3/certificates":
		return method(http.MethodGet, f.certificates)
	}
	return payResult{err: perr(http.StatusNotFound, "NOT_FOUND", "请求的资源不存在")}
}

// decodeBody decodes a JSON request body, turning decoding failures into WeChat's PARAM_ERROR.
func decodeBody(body []byte, v any) *payError {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			field := strings.ReplaceAll(te.Field, ".", "/")
			return paramInvalid("body", field, field, "数据类型不正确，应为 "+te.Type.String(), te.Value)
		}
		e := perr(http.StatusBadRequest, "PARAM_ERROR", "无法将 JSON 输入源“/body”映射到目标字段：JSON 格式错误")
		return e
	}
	return nil
}

var (
	reOutTradeNo  = regexp.MustCompile(`^[0-9A-Za-z_\-|*]{6,32}$`)
	reOutRefundNo = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)
)

// checkNotifyURL applies WeChat's notify_url rules: an absolute URL that is directly reachable and
// carries no query string. (WeChat requires https; the fake also accepts http for local sandboxes.)
func checkNotifyURL(field, s string) *payError {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || len(s) > 255 {
		return paramInvalid("body", field, "通知地址", "字符串规则校验失败，应为不带查询串的 http(s) 绝对地址，不超过 255 字节", s)
	}
	return nil
}

type prepayRequest struct {
	AppID       *string `json:"appid"`
	MchID       *string `json:"mchid"`
	Description *string `json:"description"`
	OutTradeNo  *string `json:"out_trade_no"`
	TimeExpire  *string `json:"time_expire"`
	Attach      *string `json:"attach"`
	NotifyURL   *string `json:"notify_url"`
	GoodsTag    *string `json:"goods_tag"`
	Amount      *struct {
		Total    *int64  `json:"total"`
		Currency *string `json:"currency"`
	} `json:"amount"`
	Payer *struct {
		OpenID *string `json:"openid"`
	} `json:"payer"`
}

// prepayParams are the parameters that must not change when an out_trade_no is ordered again.
type prepayParams struct {
	AppID, MchID, Description, NotifyURL, Attach, TimeExpire, GoodsTag, Currency, OpenID string
	Total                                                                                int64
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// POST /v3/pay/transactions/jsapi
func (f *Fake) prepay(body []byte) payResult {
	var req prepayRequest
	if e := decodeBody(body, &req); e != nil {
		return payResult{err: e}
	}
	required := []struct {
		ok          bool
		field, name string
	}{
		{req.AppID != nil, "appid", "应用ID"},
		{req.MchID != nil, "mchid", "直连商户号"},
		{req.Description != nil, "description", "商品描述"},
		{req.OutTradeNo != nil, "out_trade_no", "商户订单号"},
		{req.NotifyURL != nil, "notify_url", "通知地址"},
		{req.Amount != nil, "amount", "订单金额"},
		{req.Amount == nil || req.Amount.Total != nil, "amount/total", "总金额"},
		{req.Payer != nil, "payer", "支付者"},
		{req.Payer == nil || req.Payer.OpenID != nil, "payer/openid", "用户标识"},
	}
	for _, c := range required {
		if !c.ok {
			return payResult{err: paramMissing("body", c.field, c.name)}
		}
	}
	p := prepayParams{
		AppID: *req.AppID, MchID: *req.MchID, Description: *req.Description, NotifyURL: *req.NotifyURL,
		Attach: str(req.Attach), TimeExpire: str(req.TimeExpire), GoodsTag: str(req.GoodsTag),
		Currency: str(req.Amount.Currency), OpenID: *req.Payer.OpenID, Total: *req.Amount.Total,
	}
	no := *req.OutTradeNo
	lengths := []struct {
		field, name, v string
		lo, hi         int
	}{
		{"appid", "应用ID", p.AppID, 1, 32},
		{"mchid", "直连商户号", p.MchID, 1, 32},
		{"description", "商品描述", p.Description, 1, 127},
		{"attach", "附加数据", p.Attach, 0, 128},
		{"goods_tag", "订单优惠标记", p.GoodsTag, 0, 32},
		{"payer/openid", "用户标识", p.OpenID, 1, 128},
	}
	for _, l := range lengths {
		if n := len(l.v); n < l.lo || n > l.hi {
			return payResult{err: paramInvalid("body", l.field, l.name,
				fmt.Sprintf("字符串规则校验失败，字节数 %d，应在 %d 到 %d 之间", n, l.lo, l.hi), l.v)}
		}
	}
	if !reOutTradeNo.MatchString(no) {
		return payResult{err: paramInvalid("body", "out_trade_no", "商户订单号",
			"字符串规则校验失败，应为 6-32 个数字、大小写字母或 _-|* 字符", no)}
	}
	if e := checkNotifyURL("notify_url", p.NotifyURL); e != nil {
		return payResult{err: e}
	}
	if p.TimeExpire != "" {
		if _, err := time.Parse(time.RFC3339, p.TimeExpire); err != nil {
			return payResult{err: paramInvalid("body", "time_expire", "支付结束时间", "时间格式不正确，应为 RFC 3339 格式", p.TimeExpire)}
		}
	}
	if p.Total < 1 {
		return payResult{err: paramInvalid("body", "amount/total", "总金额", "整数规则校验失败，最小值为 1", p.Total)}
	}
	if p.Currency != "" && p.Currency != "CNY" {
		return payResult{err: paramInvalid("body", "amount/currency", "货币类型", "枚举规则校验失败，只支持 CNY", p.Currency)}
	}
	if p.MchID != f.o.MchID {
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "请求中的商户号 mchid 与签名商户号不一致")}
	}
	if p.AppID != f.o.AppID {
		return payResult{err: perr(http.StatusBadRequest, "APPID_MCHID_NOT_MATCH", "AppID和mch_id不匹配")}
	}
	if p.Currency == "" {
		p.Currency = "CNY"
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if tx, ok := f.txs[no]; ok {
		switch tx.State {
		case "SUCCESS", "REFUND":
			return payResult{err: perr(http.StatusBadRequest, "ORDERPAID", "该订单已支付")}
		case "CLOSED":
			return payResult{err: perr(http.StatusBadRequest, "ORDER_CLOSED", "该订单已关闭")}
		}
		if f.prepays[no] != p {
			return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "201 商户订单号重复")}
		}
		return payResult{status: http.StatusOK, body: map[string]string{"prepay_id": tx.PrepayID}}
	}
	now := f.now()
	tx := &Transaction{
		AppID: p.AppID, MchID: p.MchID, OutTradeNo: no, State: "NOTPAY", Total: p.Total, OpenID: p.OpenID,
		PrepayID: "wx" + now.In(china).Format("20060102150405") + randomHex(20), NotifyURL: p.NotifyURL,
		Description: p.Description, Attach: p.Attach, CreateTime: now,
	}
	f.txs[no] = tx
	f.prepays[no] = p
	f.users[p.OpenID] = true
	res := payResult{status: http.StatusOK, body: map[string]string{"prepay_id": tx.PrepayID}}
	if f.o.AutoPay > 0 {
		res.after = func() { f.after(f.o.AutoPay, func() { f.autoPay(no) }) }
	}
	return res
}

// txJSON renders an order as WeChat Pay's query answer.
func txJSON(tx *Transaction) map[string]any {
	amount := map[string]any{"total": tx.Total, "currency": "CNY", "payer_currency": "CNY"}
	out := map[string]any{
		"appid":            tx.AppID,
		"mchid":            tx.MchID,
		"out_trade_no":     tx.OutTradeNo,
		"trade_state":      tx.State,
		"trade_state_desc": stateDesc(tx.State),
		"amount":           amount,
		"payer":            map[string]any{},
		"promotion_detail": []any{},
	}
	if tx.Attach != "" {
		out["attach"] = tx.Attach
	}
	if tx.TransactionID != "" {
		out["transaction_id"] = tx.TransactionID
		out["trade_type"] = "JSAPI"
		out["bank_type"] = tx.BankType
		out["success_time"] = rfc3339China(tx.SuccessTime)
		out["payer"] = map[string]any{"openid": tx.OpenID}
		amount["payer_total"] = tx.Total
	}
	return out
}

func stateDesc(state string) string {
	switch state {
	case "SUCCESS":
		return "支付成功"
	case "NOTPAY":
		return "订单未支付"
	case "CLOSED":
		return "订单已关闭"
	case "REFUND":
		return "转入退款"
	}
	return ""
}

// GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid= and /v3/pay/transactions/id/{transaction_id}?mchid=
func (f *Fake) queryOrder(r *http.Request, key string, byID bool) payResult {
	mchid := r.URL.Query().Get("mchid")
	if mchid == "" {
		return payResult{err: paramMissing("query", "mchid", "直连商户号")}
	}
	if mchid != f.o.MchID {
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "请求中的商户号 mchid 与签名商户号不一致")}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := f.txs[key]
	if byID {
		tx = f.txByID[key]
	}
	if tx == nil {
		return payResult{err: perr(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")}
	}
	return payResult{status: http.StatusOK, body: txJSON(tx)}
}

// POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close
func (f *Fake) closeOrder(no string, body []byte) payResult {
	var req struct {
		MchID *string `json:"mchid"`
	}
	if e := decodeBody(body, &req); e != nil {
		return payResult{err: e}
	}
	if req.MchID == nil || *req.MchID == "" {
		return payResult{err: paramMissing("body", "mchid", "直连商户号")}
	}
	if *req.MchID != f.o.MchID {
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "请求中的商户号 mchid 与签名商户号不一致")}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tx := f.txs[no]
	switch {
	case tx == nil:
		return payResult{err: perr(http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")}
	case tx.State == "SUCCESS" || tx.State == "REFUND":
		return payResult{err: perr(http.StatusBadRequest, "ORDERPAID", "订单已支付")}
	}
	tx.State = "CLOSED"
	return payResult{status: http.StatusNoContent}
}

type refundRequest struct {
	TransactionID *string `json:"transaction_id"`
	OutTradeNo    *string `json:"out_trade_no"`
	OutRefundNo   *string `json:"out_refund_no"`
	Reason        *string `json:"reason"`
	NotifyURL     *string `json:"notify_url"`
	FundsAccount  *string `json:"funds_account"`
	Amount        *struct {
		Refund   *int64  `json:"refund"`
		Total    *int64  `json:"total"`
		Currency *string `json:"currency"`
	} `json:"amount"`
}

// refundJSON renders a refund as WeChat Pay's refund answer.
func refundJSON(rf *RefundRecord) map[string]any {
	out := map[string]any{
		"refund_id":             rf.RefundID,
		"out_refund_no":         rf.OutRefundNo,
		"transaction_id":        rf.TransactionID,
		"out_trade_no":          rf.OutTradeNo,
		"channel":               "ORIGINAL",
		"user_received_account": "支付用户零钱",
		"create_time":           rfc3339China(rf.CreateTime),
		"status":                rf.Status,
		"funds_account":         "AVAILABLE",
		"amount": map[string]any{
			"total":             rf.Total,
			"refund":            rf.Refund,
			"from":              []any{},
			"payer_total":       rf.Total,
			"payer_refund":      rf.Refund,
			"settlement_refund": rf.Refund,
			"settlement_total":  rf.Total,
			"discount_refund":   0,
			"currency":          "CNY",
			"refund_fee":        0,
		},
		"promotion_detail": []any{},
	}
	if rf.Status == "SUCCESS" {
		out["success_time"] = rfc3339China(rf.SuccessTime)
	}
	return out
}

// POST /v3/refund/domestic/refunds
func (f *Fake) createRefund(body []byte) payResult {
	var req refundRequest
	if e := decodeBody(body, &req); e != nil {
		return payResult{err: e}
	}
	switch {
	case req.OutRefundNo == nil:
		return payResult{err: paramMissing("body", "out_refund_no", "商户退款单号")}
	case str(req.TransactionID) == "" && str(req.OutTradeNo) == "":
		return payResult{err: paramInvalid("body", "out_trade_no", "商户订单号", "与 transaction_id 必须二选一填写", nil)}
	case req.Amount == nil:
		return payResult{err: paramMissing("body", "amount", "金额信息")}
	case req.Amount.Refund == nil:
		return payResult{err: paramMissing("body", "amount/refund", "退款金额")}
	case req.Amount.Total == nil:
		return payResult{err: paramMissing("body", "amount/total", "原订单金额")}
	case req.Amount.Currency == nil:
		return payResult{err: paramMissing("body", "amount/currency", "退款币种")}
	}
	no := *req.OutRefundNo
	refund, total := *req.Amount.Refund, *req.Amount.Total
	switch {
	case !reOutRefundNo.MatchString(no):
		return payResult{err: paramInvalid("body", "out_refund_no", "商户退款单号", "字符串规则校验失败，应为 1-64 个数字、大小写字母或 _-|*@ 字符", no)}
	case refund < 1:
		return payResult{err: paramInvalid("body", "amount/refund", "退款金额", "整数规则校验失败，最小值为 1", refund)}
	case total < 1:
		return payResult{err: paramInvalid("body", "amount/total", "原订单金额", "整数规则校验失败，最小值为 1", total)}
	case *req.Amount.Currency != "CNY":
		return payResult{err: paramInvalid("body", "amount/currency", "退款币种", "枚举规则校验失败，只支持 CNY", *req.Amount.Currency)}
	case utf8.RuneCountInString(str(req.Reason)) > 80:
		return payResult{err: paramInvalid("body", "reason", "退款原因", "字符串规则校验失败，不超过 80 个字符", str(req.Reason))}
	case req.FundsAccount != nil && *req.FundsAccount != "AVAILABLE":
		return payResult{err: paramInvalid("body", "funds_account", "退款资金来源", "枚举规则校验失败，只支持 AVAILABLE", *req.FundsAccount)}
	}
	if req.NotifyURL != nil {
		if e := checkNotifyURL("notify_url", *req.NotifyURL); e != nil {
			return payResult{err: e}
		}
	}
	mismatch := perr(http.StatusBadRequest, "INVALID_REQUEST", "订单金额或退款金额与之前请求不一致,请核实后再试")

	f.mu.Lock()
	defer f.mu.Unlock()
	var tx *Transaction
	if id := str(req.TransactionID); id != "" {
		tx = f.txByID[id]
		if tx != nil && str(req.OutTradeNo) != "" && tx.OutTradeNo != *req.OutTradeNo {
			tx = nil
		}
	} else {
		tx = f.txs[*req.OutTradeNo]
	}
	if rf, ok := f.refunds[no]; ok {
		if tx == nil || rf.OutTradeNo != tx.OutTradeNo || rf.Refund != refund || rf.Total != total {
			return payResult{err: mismatch}
		}
		return payResult{status: http.StatusOK, body: refundJSON(rf)}
	}
	switch {
	case tx == nil || tx.TransactionID == "":
		return payResult{err: perr(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")}
	case total != tx.Total:
		return payResult{err: mismatch}
	case tx.Refunded+refund > tx.Total:
		return payResult{err: perr(http.StatusBadRequest, "INVALID_REQUEST", "申请退款金额超过订单可退金额")}
	}
	now := f.now()
	rf := &RefundRecord{
		OutRefundNo: no, RefundID: "50" + randomDigits(3) + now.In(china).Format("20060102") + randomDigits(16),
		OutTradeNo: tx.OutTradeNo, TransactionID: tx.TransactionID, Reason: str(req.Reason),
		NotifyURL: str(req.NotifyURL), Refund: refund, Total: total, Status: "PROCESSING", CreateTime: now,
	}
	f.refunds[no] = rf
	tx.Refunded += refund
	tx.State = "REFUND"
	res := payResult{status: http.StatusOK, body: refundJSON(rf)}
	if f.refundNotifyBeforeReply {
		res.before = func() {
			f.completeRefund(no)
			f.deliverRefund(no, true)
		}
	} else {
		res.after = func() {
			f.after(f.o.RefundDelay, func() {
				f.completeRefund(no)
				f.deliverRefund(no, false)
			})
		}
	}
	return res
}

// completeRefund moves a PROCESSING refund to SUCCESS.
func (f *Fake) completeRefund(no string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rf := f.refunds[no]
	if rf == nil || rf.Status != "PROCESSING" {
		return
	}
	rf.Status = "SUCCESS"
	rf.SuccessTime = f.now()
}

// GET /v3/refund/domestic/refunds/{out_refund_no}
func (f *Fake) queryRefund(no string) payResult {
	f.mu.Lock()
	defer f.mu.Unlock()
	rf := f.refunds[no]
	if rf == nil {
		return payResult{err: perr(http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")}
	}
	return payResult{status: http.StatusOK, body: refundJSON(rf)}
}

// GET /v3/certificates: the platform certificate, encrypted with the APIv3 key, answered with the
// certificate key's signature whatever the Mode.
func (f *Fake) certificates() payResult {
	k := f.o.Keys
	certPEM := pemCertificate(k.Cert)
	nonce, ct, err := sealAESGCM(k.APIv3Key, "certificate", certPEM)
	if err != nil {
		return payResult{err: perr(http.StatusInternalServerError, "SYSTEM_ERROR", "系统错误")}
	}
	return payResult{
		status: http.StatusOK,
		body: map[string]any{"data": []any{map[string]any{
			"serial_no":      k.CertSerial(),
			"effective_time": rfc3339China(k.Cert.NotBefore),
			"expire_time":    rfc3339China(k.Cert.NotAfter),
			"encrypt_certificate": map[string]any{
				"algorithm":       "AEAD_AES_256_GCM",
				"nonce":           nonce,
				"associated_data": "certificate",
				"ciphertext":      ct,
			},
		}}},
		signer: func() (*rsa.PrivateKey, string) { return k.signer(CertificateMode) },
	}
}
