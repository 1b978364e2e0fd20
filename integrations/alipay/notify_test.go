package alipay_test

import (
	"errors"
	"net/url"
	"testing"

	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/alipay/alipayfake"
)

// TestParseNotificationRefusesZeroAmount is a finding of FuzzParseNotification: a signed TRADE_SUCCESS
// with total_amount "0.00" was reported as a payment of 0 fen.
func TestParseNotificationRefusesZeroAmount(t *testing.T) {
	fake := alipayfake.New(alipayfake.Options{AppID: testAppID, Keys: keys, Mode: alipayfake.PublicKeyMode})
	defer fake.Close()
	c, err := alipay.New(alipay.Config{AppID: testAppID, PrivateKey: keys.AppPrivateKeyPEM(), AlipayPublicKey: keys.AlipayPublicKeyPEM(),
		SellerID: fake.SellerID(), Gateway: "https://alipay.example.com/gateway.do"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	form, err := fake.SignForm(url.Values{"notify_type": {"trade_status_sync"}, "notify_id": {"n1"}, "app_id": {testAppID},
		"seller_id": {fake.SellerID()}, "trade_no": {"2026112322001000000000000001"}, "out_trade_no": {"202611230000000000000001"},
		"trade_status": {"TRADE_SUCCESS"}, "total_amount": {"0.00"}, "gmt_payment": {"2026-11-23 10:00:00"}})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := c.ParseNotification(form); !errors.Is(err, alipay.ErrMalformed) {
		t.Fatalf("ParseNotification = %+v, %v; want ErrMalformed", n, err)
	}
}
