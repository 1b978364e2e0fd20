package alipay_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/alipay/alipayfake"
)

// FuzzParseNotification feeds ParseNotification arbitrary forms, starting from notifications signed with
// the Alipay fake's key. With resign set, the form is signed with that key first (as Alipay would sign
// it), so the fuzzer explores the normalisation behind the signature. ParseNotification must never panic,
// fail only with its own errors, accept only forms Alipay signed, for our app and seller, and report a
// payment only with its order, trade, positive amount and time.
func FuzzParseNotification(f *testing.F) {
	fake := alipayfake.New(alipayfake.Options{AppID: testAppID, Keys: keys, Mode: alipayfake.PublicKeyMode})
	defer fake.Close()
	c, err := alipay.New(alipay.Config{AppID: testAppID, PrivateKey: keys.AppPrivateKeyPEM(), AlipayPublicKey: keys.AlipayPublicKeyPEM(),
		SellerID: fake.SellerID(), Gateway: "https://alipay.example.com/gateway.do"}, nil)
	if err != nil {
		f.Fatal(err)
	}
	base := url.Values{"notify_time": {"2026-11-23 10:00:00"}, "notify_type": {"trade_status_sync"}, "notify_id": {"n1"},
		"app_id": {testAppID}, "charset": {"utf-8"}, "version": {"1.0"}, "trade_no": {"2026112322001000000000000001"},
		"out_trade_no": {"202611230000000000000001"}, "trade_status": {"TRADE_SUCCESS"}, "total_amount": {"18.50"},
		"gmt_create": {"2026-11-23 09:59:00"}, "gmt_payment": {"2026-11-23 10:00:00"}, "subject": {"光明鲜牛奶 950ml & \"全脂\""},
		"buyer_id": {"2088000000000001"}, "seller_id": {fake.SellerID()}}
	variant := func(extra map[string]string) url.Values {
		v := url.Values{}
		for k, vs := range base {
			v[k] = vs
		}
		for k, val := range extra {
			if val == "" {
				v.Del(k)
			} else {
				v.Set(k, val)
			}
		}
		return v
	}
	for _, extra := range []map[string]string{nil, {"trade_status": "TRADE_FINISHED"}, {"trade_status": "WAIT_BUYER_PAY", "gmt_payment": ""},
		{"trade_status": "TRADE_CLOSED"}, {"out_biz_no": "R1", "refund_fee": "18.50", "gmt_refund": "2026-11-23 10:05:00.123"},
		{"total_amount": "0.00"}, {"total_amount": "1e3"}, {"gmt_payment": "tomorrow"}, {"app_id": "2021000000000000"},
		{"seller_id": "2088999999999999"}, {"alipay_cert_sn": "x"}, {"notify_type": "trade_refund"}} {
		signed, err := fake.SignForm(variant(extra))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(signed.Encode(), false)
		f.Add(signed.Encode(), true)
	}
	f.Add("sign=AAAA&app_id="+testAppID, false)
	f.Add("", false)
	f.Fuzz(func(t *testing.T, raw string, resign bool) {
		form, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		if resign {
			if form, err = fake.SignForm(form); err != nil {
				t.Fatal(err)
			}
		}
		n, err := c.ParseNotification(form)
		if err != nil {
			if !errors.Is(err, alipay.ErrBadSignature) && !errors.Is(err, alipay.ErrForeign) && !errors.Is(err, alipay.ErrMalformed) {
				t.Fatalf("ParseNotification failed with an error of its own: %v", err)
			}
			return
		}
		again, err := fake.SignForm(form)
		if err != nil || again.Get("sign") != form.Get("sign") {
			t.Fatalf("ParseNotification accepted a form Alipay did not sign: %q", raw)
		}
		if form.Get("app_id") != testAppID || form.Get("seller_id") != fake.SellerID() {
			t.Fatalf("ParseNotification accepted another app's or seller's notification: %q", raw)
		}
		if p := n.Payment; p != nil && (p.OrderNo == "" || p.TransactionID == "" || p.AmountFen <= 0 || p.PaidAt.IsZero()) {
			t.Fatalf("ParseNotification reported an incomplete payment %+v from %q", *p, raw)
		}
		if r := n.Refund; r != nil && r.RefundNo == "" {
			t.Fatalf("ParseNotification reported a refund without its number from %q", raw)
		}
	})
}
