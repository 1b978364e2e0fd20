package alipay

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/cn"
	sdk "github.com/smartwalle/alipay/v3"
)

// Notification errors. A notification that fails verification changes nothing. ErrMalformed also marks a
// trade.query answer that cannot be read.
var (
	ErrBadSignature = errors.New("alipay notification signature does not verify")
	ErrMalformed    = errors.New("alipay message is malformed")
	ErrForeign      = errors.New("alipay notification is for another app or seller")
)

// Notification is a verified trade_status_sync: a payment, a refund, or neither (a trade waiting for
// payment, or closed unpaid).
type Notification struct {
	ID          string
	OrderNo     string
	TradeStatus string
	Payment     *core.PaymentNotification
	Refund      *core.RefundNotice
}

// ParseNotification verifies an asynchronous notification (the form body only, never the URL query:
// a parameter added to the URL is not covered by Alipay's signature) and normalises it. A notification
// carrying out_biz_no and refund_fee reports a refund; TRADE_SUCCESS and TRADE_FINISHED otherwise report
// the payment (applied once, so TRADE_FINISHED after a refund changes nothing).
func (c *Client) ParseNotification(form url.Values) (Notification, error) {
	if form.Get("sign") == "" {
		return Notification{}, fmt.Errorf("%w: not signed", ErrBadSignature)
	}
	// alipay_cert_sn is not covered by the signature, and the SDK would download any certificate it
	// names: verify with the configured key or certificate only.
	form = cloneValues(form)
	form.Del("alipay_cert_sn")
	n, err := c.api.DecodeNotification(form)
	if err != nil {
		return Notification{}, ErrBadSignature
	}
	if n.AppId != c.cfg.AppID || (c.cfg.SellerID != "" && n.SellerId != c.cfg.SellerID) {
		return Notification{}, fmt.Errorf("%w: app_id %q, seller_id %q", ErrForeign, n.AppId, n.SellerId)
	}
	if n.NotifyType != "trade_status_sync" || n.OutTradeNo == "" || n.TradeNo == "" {
		return Notification{}, fmt.Errorf("%w: notify_type %q, out_trade_no %q, trade_no %q", ErrMalformed, n.NotifyType, n.OutTradeNo, n.TradeNo)
	}
	out := Notification{ID: n.NotifyId, OrderNo: n.OutTradeNo, TradeStatus: string(n.TradeStatus)}
	if n.OutBizNo != "" && n.RefundFee != "" {
		if _, err := Fen(n.RefundFee); err != nil {
			return Notification{}, fmt.Errorf("%w: refund_fee: %v", ErrMalformed, err)
		}
		// refund_fee is the trade's cumulative refund, not this refund's amount, so it is not compared.
		out.Refund = &core.RefundNotice{Provider: Provider, RefundNo: n.OutBizNo, ProviderRefundID: n.TradeNo, Succeeded: true, Detail: "alipay " + string(n.TradeStatus)}
		return out, nil
	}
	switch n.TradeStatus {
	case sdk.TradeStatusSuccess, sdk.TradeStatusFinished:
		amount, err := Fen(n.TotalAmount)
		if err != nil {
			return Notification{}, fmt.Errorf("%w: total_amount: %v", ErrMalformed, err)
		}
		if amount <= 0 {
			return Notification{}, fmt.Errorf("%w: total_amount %q is not a payment", ErrMalformed, n.TotalAmount)
		}
		paidAt, err := payDate("gmt_payment", n.GmtPayment)
		if err != nil {
			return Notification{}, err
		}
		out.Payment = &core.PaymentNotification{Provider: Provider, OrderNo: n.OutTradeNo, TransactionID: n.TradeNo, AmountFen: amount, PaidAt: paidAt}
	}
	return out, nil
}

// payDate reads a payment time Alipay sends (yyyy-MM-dd HH:mm:ss, China time) in field: one that is
// missing or unreadable is ErrMalformed, never the zero time.
func payDate(field, s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05", s, cn.Zone)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s %q is not a time", ErrMalformed, field, s)
	}
	return t, nil
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}
