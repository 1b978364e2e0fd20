package alipayfake

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"
)

// Token lifetimes alipay.system.oauth.token reports (seconds), as real responses show them.
const (
	accessTokenTTL  = 1296000 // 15 days
	refreshTokenTTL = 2592000 // 30 days
)

// bizErr is a business failure: code 40004 "Business Failed" with an ACQ.* sub-code.
func bizErr(subCode, subMsg string) *object {
	return (&object{}).str("code", "40004").str("msg", "Business Failed").str("sub_code", subCode).str("sub_msg", subMsg)
}

func success() *object { return (&object{}).str("code", "10000").str("msg", "Success") }

// str reads a biz_content field as a string; numbers keep the digits they were sent with.
func (r *request) str(key string) string {
	switch v := r.biz[key].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

// list reads a biz_content array of strings (query_options).
func (r *request) list(key string) []string {
	arr, _ := r.biz[key].([]any)
	var out []string
	for _, v := range arr {
		if s, ok := v.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

func (r *request) wants(option string) bool {
	for _, o := range r.list("query_options") {
		if o == option {
			return true
		}
	}
	return false
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// oauthToken is alipay.system.oauth.token. grant_type, code and refresh_token are common parameters, not
// biz_content. Success carries no code/msg; failures come back under "error_response" with code 40002.
func (f *Fake) oauthToken(r *request) (*object, *gwError, func()) {
	var u user
	var ok bool
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.params.Get("grant_type") {
	case "authorization_code":
		code := r.params.Get("code")
		if u, ok = f.codes[code]; ok {
			delete(f.codes, code)
		} else if name, isSandbox := strings.CutPrefix(code, "sandbox:"); f.lenient && isSandbox && name != "" {
			u, ok = user{userID: derivedUserID(name), openID: derivedOpenID(f.appID, name)}, true
		}
		if !ok {
			return nil, invalid("isv.code-invalid", "授权码code无效"), nil
		}
	case "refresh_token":
		rt := r.params.Get("refresh_token")
		if u, ok = f.refreshes[rt]; !ok {
			return nil, invalid("isv.refresh-token-invalid", "刷新令牌refresh_token无效"), nil
		}
		delete(f.refreshes, rt)
	default:
		return nil, invalid("isv.grant-type-invalid", "grant_type参数不正确"), nil
	}
	access, refresh := "authusrB"+randomHex(16), "authusrB"+randomHex(16)
	f.refreshes[refresh] = u
	o := &object{}
	o.str("access_token", access).str("refresh_token", refresh).
		num("expires_in", accessTokenTTL).num("re_expires_in", refreshTokenTTL).
		str("auth_start", f.clock().Format(timeLayout)).
		str("user_id", u.userID).str("open_id", u.openID)
	return o, nil, nil
}

// outTradeNoPattern is Alipay's merchant order number: at most 64 letters, digits and underscores.
var outTradeNoPattern = regexp.MustCompile(`^[A-Za-z0-9_]{1,64}$`)

// buyerIDPattern is an Alipay user id: 2088 and 12 digits.
var buyerIDPattern = regexp.MustCompile(`^2088[0-9]{12}$`)

// tradeCreate is alipay.trade.create (统一收单交易创建接口), the call behind a mini-program payment.
func (f *Fake) tradeCreate(r *request) (*object, *gwError, func()) {
	outTradeNo, amount, subject := r.str("out_trade_no"), r.str("total_amount"), r.str("subject")
	buyerID, openID := r.str("buyer_id"), r.str("buyer_open_id")
	switch {
	case outTradeNo == "":
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no不能为空"), nil, nil
	case !outTradeNoPattern.MatchString(outTradeNo):
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: out_trade_no仅支持字母、数字、下划线，长度不超过64"), nil, nil
	case subject == "" || utf8.RuneCountInString(subject) > 256:
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: subject不能为空且不超过256个字符"), nil, nil
	case amount == "":
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: total_amount不能为空"), nil, nil
	}
	fen, ok := parseYuan(amount)
	if !ok {
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: total_amount格式错误，单位为元，精确到小数点后两位"), nil, nil
	}
	if fen < 1 || fen > 100_000_000_00 {
		return bizErr("ACQ.TOTAL_FEE_EXCEED", "订单总金额不在允许范围内，取值范围[0.01,100000000]"), nil, nil
	}
	switch pc := r.str("product_code"); pc {
	case "", "JSAPI_PAY", "FACE_TO_FACE_PAYMENT":
	default:
		return bizErr("ACQ.ACCESS_FORBIDDEN", "无权限使用接口: 未签约产品"+pc), nil, nil
	}
	switch {
	case buyerID == "" && openID == "":
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: 小程序支付buyer_id与buyer_open_id不能同时为空"), nil, nil
	case buyerID != "" && !buyerIDPattern.MatchString(buyerID):
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: buyer_id必须为2088开头的16位数字"), nil, nil
	case buyerID != "" && buyerID == f.sellerID:
		return bizErr("ACQ.BUYER_SELLER_EQUAL", "买卖家不能相同"), nil, nil
	}
	if buyerID != "" {
		openID = "" // buyer_id wins when both are sent
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	if t, exists := f.trades[outTradeNo]; exists {
		switch {
		case t.Status == StatusSuccess || t.Status == StatusFinished:
			return bizErr("ACQ.TRADE_HAS_SUCCESS", "交易已被支付"), nil, nil
		case t.Status == StatusClosed:
			return bizErr("ACQ.TRADE_HAS_CLOSE", "交易已经关闭"), nil, nil
		case t.BuyerID != buyerID || t.BuyerOpenID != openID:
			return bizErr("ACQ.TRADE_BUYER_NOT_MATCH", "交易买家不匹配"), nil, nil
		case t.TotalFen != fen || t.Subject != subject:
			return bizErr("ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"), nil, nil
		}
		// The same order again: Alipay answers with the trade it already has.
		return success().str("out_trade_no", t.OutTradeNo).str("trade_no", t.TradeNo), nil, nil
	}
	now := f.clock()
	t := &Trade{
		TradeNo:        f.newTradeNo(now),
		OutTradeNo:     outTradeNo,
		Status:         StatusWaitBuyerPay,
		TotalAmount:    yuan(fen),
		TotalFen:       fen,
		Subject:        subject,
		Body:           r.str("body"),
		BuyerID:        buyerID,
		BuyerOpenID:    openID,
		SellerID:       f.sellerID,
		ProductCode:    r.str("product_code"),
		NotifyURL:      r.params.Get("notify_url"),
		PassbackParams: r.str("passback_params"),
		Created:        now,
	}
	f.trades[outTradeNo] = t
	f.tradeNos[t.TradeNo] = outTradeNo
	var after func()
	if f.autoPay > 0 {
		after = func() { f.simulateBuyer(outTradeNo) }
	}
	return success().str("out_trade_no", t.OutTradeNo).str("trade_no", t.TradeNo), nil, after
}

// simulateBuyer pays a trade after the AutoPay delay, if it is still waiting, and notifies.
func (f *Fake) simulateBuyer(outTradeNo string) {
	f.goBackground(func(ctx context.Context) {
		timer := time.NewTimer(f.autoPay)
		defer timer.Stop()
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		f.mu.Lock()
		t, err := f.markPaid(outTradeNo)
		if err != nil {
			f.mu.Unlock()
			return // closed or paid meanwhile
		}
		n, err := f.notification(t, nil, nil)
		f.mu.Unlock()
		if err != nil {
			f.log.Error("sign notification", "err", err)
			return
		}
		f.log.Info("simulated buyer paid", "out_trade_no", outTradeNo)
		_ = f.deliver(ctx, n)
	})
}

// findTrade looks a trade up by the biz_content's trade_no / out_trade_no. f.mu must be held.
func (f *Fake) findTrade(r *request) (*Trade, *object) {
	tradeNo, outTradeNo := r.str("trade_no"), r.str("out_trade_no")
	if tradeNo == "" && outTradeNo == "" {
		return nil, bizErr("ACQ.INVALID_PARAMETER", "参数无效: trade_no与out_trade_no不能同时为空")
	}
	t := f.lookup(tradeNo, outTradeNo)
	if t == nil {
		return nil, bizErr("ACQ.TRADE_NOT_EXIST", "交易不存在").str("out_trade_no", outTradeNo).str("trade_no", tradeNo)
	}
	return t, nil
}

// buyer adds the buyer's id field (buyer_user_id or buyer_open_id) to a response.
func buyer(o *object, t *Trade) *object {
	return o.str("buyer_user_id", t.BuyerID).str("buyer_open_id", t.BuyerOpenID).str("buyer_logon_id", logonID(t))
}

// tradeQuery is alipay.trade.query (统一收单交易查询).
func (f *Fake) tradeQuery(r *request) (*object, *gwError, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, fail := f.findTrade(r)
	if fail != nil {
		return fail.str("buyer_pay_amount", "0.00").str("invoice_amount", "0.00").
			str("point_amount", "0.00").str("receipt_amount", "0.00"), nil, nil
	}
	o := success().str("trade_no", t.TradeNo).str("out_trade_no", t.OutTradeNo).
		str("trade_status", t.Status).str("total_amount", t.TotalAmount).str("subject", t.Subject).
		str("point_amount", "0.00")
	buyer(o, t)
	paid := "0.00"
	if !t.Paid.IsZero() {
		paid = t.TotalAmount
		o.str("send_pay_date", t.Paid.In(chinaTime).Format(timeLayout))
		if r.wants("fund_bill_list") {
			o.set("fund_bill_list", `[{"amount":`+quote(t.TotalAmount)+`,"fund_channel":"ALIPAYACCOUNT"}]`)
		}
	}
	o.str("buyer_pay_amount", paid).str("invoice_amount", paid).str("receipt_amount", paid)
	return o, nil, nil
}

// tradeClose is alipay.trade.close: only a WAIT_BUYER_PAY trade can be closed. Alipay then notifies
// TRADE_CLOSED (to the close call's notify_url if it has one).
func (f *Fake) tradeClose(r *request) (*object, *gwError, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, fail := f.findTrade(r)
	if fail != nil {
		return fail, nil, nil
	}
	if t.Status != StatusWaitBuyerPay {
		return bizErr("ACQ.TRADE_STATUS_ERROR", "交易状态不合法").str("out_trade_no", t.OutTradeNo).str("trade_no", t.TradeNo), nil, nil
	}
	t.Status, t.Closed = StatusClosed, f.clock()
	if u := r.params.Get("notify_url"); u != "" {
		t.NotifyURL = u
	}
	var after func()
	if t.NotifyURL != "" {
		if n, err := f.notification(t, nil, nil); err == nil {
			after = func() { f.deliverLater(n) }
		}
	}
	return success().str("out_trade_no", t.OutTradeNo).str("trade_no", t.TradeNo), nil, after
}

// tradeRefund is alipay.trade.refund (统一收单交易退款接口): synchronous, idempotent on out_request_no,
// followed by a trade_status_sync notification carrying refund_fee, gmt_refund and out_biz_no.
func (f *Fake) tradeRefund(r *request) (*object, *gwError, func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, fail := f.findTrade(r)
	if fail != nil {
		return fail, nil, nil
	}
	failed := func(sub, msg string) (*object, *gwError, func()) {
		return bizErr(sub, msg).str("out_trade_no", t.OutTradeNo).str("trade_no", t.TradeNo).
			str("refund_fee", yuan(t.RefundedFen)).str("send_back_fee", "0.00"), nil, nil
	}
	amount := r.str("refund_amount")
	fen, ok := parseYuan(amount)
	if !ok || fen < 1 {
		return failed("ACQ.INVALID_PARAMETER", "参数无效: refund_amount格式错误")
	}
	reqNo := r.str("out_request_no")
	if reqNo == "" {
		reqNo = t.OutTradeNo // Alipay's default; then only a full refund is allowed
	}
	for _, rf := range t.Refunds {
		if rf.OutRequestNo == reqNo {
			if rf.AmountFen != fen {
				return failed("ACQ.DISCORDANT_REPEAT_REQUEST", "不一致的请求")
			}
			o := success().str("trade_no", t.TradeNo).str("out_trade_no", t.OutTradeNo).
				str("fund_change", "N").str("refund_fee", yuan(t.RefundedFen)).
				str("gmt_refund_pay", rf.At.In(chinaTime).Format(timeLayout)).str("send_back_fee", rf.Amount)
			return buyer(o, t), nil, nil
		}
	}
	switch t.Status {
	case StatusWaitBuyerPay:
		return failed("ACQ.TRADE_STATUS_ERROR", "交易状态非法")
	case StatusFinished:
		return failed("ACQ.TRADE_HAS_FINISHED", "交易已完结")
	case StatusClosed:
		if t.Paid.IsZero() {
			return failed("ACQ.TRADE_STATUS_ERROR", "交易状态非法")
		}
		return failed("ACQ.TRADE_HAS_CLOSE", "交易已经关闭")
	}
	if t.RefundedFen+fen > t.TotalFen || (r.str("out_request_no") == "" && fen != t.TotalFen) {
		return failed("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
	}
	now := f.clock()
	rf := Refund{OutRequestNo: reqNo, Amount: yuan(fen), AmountFen: fen, Reason: r.str("refund_reason"), At: now}
	t.Refunds = append(t.Refunds, rf)
	t.RefundedFen += fen
	if t.RefundedFen == t.TotalFen {
		t.Status, t.Closed = StatusClosed, now
	}
	o := success().str("trade_no", t.TradeNo).str("out_trade_no", t.OutTradeNo).
		str("fund_change", "Y").str("refund_fee", yuan(t.RefundedFen)).
		str("gmt_refund_pay", now.Format(timeLayout)).str("send_back_fee", rf.Amount)
	var after func()
	if t.NotifyURL != "" {
		if n, err := f.notification(t, &rf, nil); err == nil {
			after = func() { f.deliverLater(n) }
		}
	}
	return buyer(o, t), nil, after
}

// refundQuery is alipay.trade.fastpay.refund.query (统一收单交易退款查询). A refund it does not know is
// answered with success and no refund_status, as Alipay documents.
func (f *Fake) refundQuery(r *request) (*object, *gwError, func()) {
	reqNo := r.str("out_request_no")
	if reqNo == "" {
		return bizErr("ACQ.INVALID_PARAMETER", "参数无效: out_request_no不能为空"), nil, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	t, fail := f.findTrade(r)
	if fail != nil {
		return fail, nil, nil
	}
	o := success().str("trade_no", t.TradeNo).str("out_trade_no", t.OutTradeNo).str("out_request_no", reqNo)
	for _, rf := range t.Refunds {
		if rf.OutRequestNo == reqNo {
			o.str("total_amount", t.TotalAmount).str("refund_amount", rf.Amount).str("refund_status", "REFUND_SUCCESS")
			if r.wants("gmt_refund_pay") {
				o.str("gmt_refund_pay", rf.At.In(chinaTime).Format(timeLayout))
			}
			break
		}
	}
	return o, nil, nil
}
