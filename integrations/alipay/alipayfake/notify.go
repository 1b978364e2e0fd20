package alipayfake

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// retrySchedule is when a notification is posted, relative to the first attempt. Alipay retries 8 times
// over about 25 hours (4m, 10m, 10m, 1h, 2h, 6h, 15h); the fake compresses that into well under a second.
var retrySchedule = []time.Duration{0, 50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond}

// notification is one trade_status_sync message on its way to the merchant.
type notification struct {
	outTradeNo, url string
	form            url.Values
}

// notification builds and signs the trade_status_sync form for t as it stands, with the refund's fields
// if refund is set, and extra merged in. f.mu must be held.
func (f *Fake) notification(t *Trade, refund *Refund, extra map[string]string) (notification, error) {
	now := f.clock()
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("notify_time", now.Format(timeLayout))
	set("notify_type", "trade_status_sync")
	set("notify_id", f.newNotifyID(now))
	set("app_id", f.appID)
	set("auth_app_id", f.appID)
	set("charset", "utf-8")
	set("version", "1.0")
	set("sign_type", "RSA2")
	set("trade_no", t.TradeNo)
	set("out_trade_no", t.OutTradeNo)
	set("buyer_id", t.BuyerID)
	set("buyer_open_id", t.BuyerOpenID)
	set("buyer_logon_id", logonID(t))
	set("seller_id", t.SellerID)
	set("trade_status", t.Status)
	set("total_amount", t.TotalAmount)
	set("subject", t.Subject)
	set("body", t.Body)
	set("passback_params", t.PassbackParams)
	set("gmt_create", t.Created.In(chinaTime).Format(timeLayout))
	if !t.Paid.IsZero() {
		set("gmt_payment", t.Paid.In(chinaTime).Format(timeLayout))
		set("receipt_amount", t.TotalAmount)
		set("invoice_amount", t.TotalAmount)
		set("buyer_pay_amount", t.TotalAmount)
		set("point_amount", "0.00")
		set("fund_bill_list", `[{"amount":"`+t.TotalAmount+`","fundChannel":"ALIPAYACCOUNT"}]`)
	}
	if t.RefundedFen > 0 {
		set("refund_fee", yuan(t.RefundedFen))
	}
	if refund != nil {
		set("out_biz_no", refund.OutRequestNo)
		set("gmt_refund", refund.At.In(chinaTime).Format(refundTimeLayout))
	}
	if !t.Closed.IsZero() {
		set("gmt_close", t.Closed.In(chinaTime).Format(timeLayout))
	}
	for k, val := range extra {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	form, err := signForm(f.keys.AlipayKey, v)
	if err != nil {
		return notification{}, err
	}
	return notification{outTradeNo: t.OutTradeNo, url: t.NotifyURL, form: form}, nil
}

// logonID is a masked buyer_logon_id (Alipay shows e.g. "186****7910"), stable per buyer.
func logonID(t *Trade) string {
	sum := sha256.Sum256([]byte("logon:" + t.BuyerID + t.BuyerOpenID))
	n := binary.BigEndian.Uint64(sum[:8]) % 1_000_000
	return fmt.Sprintf("1%02d****%04d", 30+n/10000%60, n%10000)
}

// deliver posts n on the retry schedule until it is acknowledged, ctx ends or the schedule runs out.
func (f *Fake) deliver(ctx context.Context, n notification) error {
	if n.url == "" {
		f.log.Warn("no notify_url; notification dropped", "out_trade_no", n.outTradeNo)
		return fmt.Errorf("%w: %s", ErrNoNotifyURL, n.outTradeNo)
	}
	start := time.Now()
	var last Delivery
	for _, at := range retrySchedule {
		if wait := time.Until(start.Add(at)); wait > 0 {
			timer := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				timer.Stop()
				return ctx.Err()
			case <-timer.C:
			}
		}
		last = f.post(ctx, n)
		f.mu.Lock()
		if t, ok := f.trades[n.outTradeNo]; ok {
			t.Deliveries = append(t.Deliveries, last)
		}
		f.mu.Unlock()
		f.log.Info("notification posted", "out_trade_no", n.outTradeNo, "trade_status", last.TradeStatus,
			"notify_id", last.NotifyID, "status", last.Status, "acked", last.Acked)
		if last.Acked {
			return nil
		}
	}
	if last.Err != "" {
		return fmt.Errorf("%w: %s: %s", ErrNotAcknowledged, n.outTradeNo, last.Err)
	}
	return fmt.Errorf("%w: %s: HTTP %d %q", ErrNotAcknowledged, n.outTradeNo, last.Status, last.Reply)
}

// deliverLater posts n in the background (refunds, closes, simulated buyers), as Alipay does after it
// has answered the call that caused it.
func (f *Fake) deliverLater(n notification) {
	f.goBackground(func(ctx context.Context) {
		if err := f.deliver(ctx, n); err != nil && !errors.Is(err, context.Canceled) {
			f.log.Warn("notification not acknowledged", "out_trade_no", n.outTradeNo, "err", err)
		}
	})
}

func (f *Fake) post(ctx context.Context, n notification) Delivery {
	d := Delivery{NotifyID: n.form.Get("notify_id"), TradeStatus: n.form.Get("trade_status"), At: f.clock()}
	d.Status, d.Reply, d.Err = postForm(ctx, f.client, n.url, n.form)
	d.Acked = acknowledged(d.Status, d.Reply)
	return d
}

// postForm posts form as application/x-www-form-urlencoded and returns the status and the reply.
func postForm(ctx context.Context, client *http.Client, target string, form url.Values) (int, string, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, "", err.Error()
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("User-Agent", "Mozilla/4.0 (alipayfake)")
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err.Error()
	}
	defer resp.Body.Close()
	return resp.StatusCode, readCapped(resp.Body, 4096), ""
}

// acknowledged reports whether a reply acknowledges a notification: exactly the seven characters
// "success", with a 2xx status.
func acknowledged(status int, reply string) bool {
	return status >= 200 && status < 300 && reply == "success"
}

// Notify signs form as Alipay signs notifications (with k.AlipayKey; see Fake.SignForm) and posts it to
// notifyURL, as the hub's "simulate alipay" command does from a process holding only the persisted keys.
// It returns the merchant's reply, and an error unless the reply is exactly "success". In cert mode the
// keys must include Alipay's certificate; the notification itself carries no certificate SN, as Alipay's
// trade_status_sync does not (its documented parameters have none, and the SDKs verify notifications
// over every parameter but sign and sign_type).
func Notify(ctx context.Context, client *http.Client, notifyURL string, k Keys, mode Mode, form url.Values) (reply string, err error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	if mode == CertMode {
		if err := k.certModeReady(); err != nil {
			return "", err
		}
		if pub, ok := k.AlipayCert.PublicKey.(*rsa.PublicKey); !ok || !pub.Equal(&k.AlipayKey.PublicKey) {
			return "", errors.New("alipayfake: Alipay certificate does not certify the Alipay key")
		}
	}
	signed, err := signForm(k.AlipayKey, form)
	if err != nil {
		return "", err
	}
	status, reply, terr := postForm(ctx, client, notifyURL, signed)
	if terr != "" {
		return "", fmt.Errorf("alipayfake: notify %s: %s", notifyURL, terr)
	}
	if !acknowledged(status, reply) {
		return reply, fmt.Errorf("%w: HTTP %d %q", ErrNotAcknowledged, status, reply)
	}
	return reply, nil
}
