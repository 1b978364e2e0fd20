package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/alipay/alipayfake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
)

// sandboxAlipayAppID is the sandbox's Alipay app.
const sandboxAlipayAppID = "2021000000000001"

// alipayChannel is the Alipay side of a running hub: the client and, in sandbox mode, the built-in
// Alipay gateway it talks to.
type alipayChannel struct {
	client *alipay.Client
	fake   *alipayfake.Fake
	srv    *http.Server
}

// startAlipay builds the Alipay client from the configuration. In sandbox mode with no Alipay app
// configured it first starts the built-in Alipay gateway on a loopback port (keys kept in the database,
// so `o2ohub simulate alipay` can sign for it) and points the client at it.
func startAlipay(ctx context.Context, cfg config.Config, db *models.DB, log *slog.Logger) (*alipayChannel, error) {
	ch := &alipayChannel{}
	if cfg.AlipayAppID == "" {
		if !cfg.Sandbox {
			return ch, nil
		}
		keys, err := sandboxAlipayKeys(ctx, db)
		if err != nil {
			return nil, err
		}
		ch.fake = alipayfake.New(alipayfake.Options{AppID: sandboxAlipayAppID, Keys: keys, Mode: alipayfake.PublicKeyMode, Lenient: true, AutoPay: time.Second, Log: log})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ch.srv = &http.Server{Handler: ch.fake, ReadHeaderTimeout: 10 * time.Second}
		go ch.srv.Serve(ln)
		gateway := "http://" + ln.Addr().String() + alipayfake.GatewayPath
		log.Info("sandbox Alipay started", "gateway", gateway, "appid", sandboxAlipayAppID)
		ch.client, err = alipay.New(alipay.Config{AppID: sandboxAlipayAppID, PrivateKey: keys.AppPrivateKeyPEM(), AlipayPublicKey: keys.AlipayPublicKeyPEM(),
			AESKey: keys.AESKey, SellerID: ch.fake.SellerID(), Gateway: gateway}, log)
		if err != nil {
			ch.close()
		}
		return ch, err
	}
	ac := alipay.Config{AppID: cfg.AlipayAppID, AESKey: cfg.AlipayAESKey, SellerID: cfg.AlipaySellerID, Gateway: cfg.AlipayGateway}
	for _, f := range []struct {
		env, path string
		into      *string
	}{
		{"O2OHUB_ALIPAY_PRIVATE_KEY", cfg.AlipayPrivateKey, &ac.PrivateKey},
		{"O2OHUB_ALIPAY_PUBLIC_KEY", cfg.AlipayPublicKey, &ac.AlipayPublicKey},
		{"O2OHUB_ALIPAY_APP_CERT", cfg.AlipayAppCert, &ac.AppCert},
		{"O2OHUB_ALIPAY_ROOT_CERT", cfg.AlipayRootCert, &ac.RootCert},
		{"O2OHUB_ALIPAY_PUBLIC_CERT", cfg.AlipayPublicCert, &ac.AlipayCert},
	} {
		if f.path == "" {
			continue
		}
		text, err := readKey(f.env, f.path)
		if err != nil {
			return nil, err
		}
		*f.into = text
	}
	var err error
	ch.client, err = alipay.New(ac, log)
	return ch, err
}

// register makes Alipay a payment gateway of core.
func (ch *alipayChannel) register(svc *core.Service) {
	if ch.client != nil {
		svc.RegisterGateway(ch.client)
	}
}

func (ch *alipayChannel) close() {
	if ch.srv != nil {
		ch.srv.Close()
	}
	if ch.fake != nil {
		ch.fake.Close()
	}
}

// sandboxAlipayKeys returns the sandbox Alipay's keys, made once and kept in the database.
func sandboxAlipayKeys(ctx context.Context, db *models.DB) (alipayfake.Keys, error) {
	text, err := db.Setting(ctx, "alipay_sandbox_keys", func() (string, error) {
		k, err := alipayfake.GenerateKeys()
		if err != nil {
			return "", err
		}
		b, err := k.MarshalText()
		return string(b), err
	})
	if err != nil {
		return alipayfake.Keys{}, err
	}
	keys, err := alipayfake.ParseKeys([]byte(text))
	if err != nil {
		return keys, fmt.Errorf("stored sandbox Alipay keys: %w", err)
	}
	return keys, nil
}

// simulateAlipay sends a TRADE_SUCCESS notification signed with the sandbox Alipay's keys to a running
// sandbox hub, as Alipay would after the buyer paid.
func simulateAlipay(ctx context.Context, cfg config.Config, db *models.DB, orderNo string, amount int64, notifyURL string) (string, error) {
	if cfg.AlipayAppID != "" {
		return "", fmt.Errorf("simulate alipay signs with the sandbox Alipay's keys; it cannot sign for a real app")
	}
	keys, err := sandboxAlipayKeys(ctx, db)
	if err != nil {
		return "", err
	}
	gw := alipayfake.New(alipayfake.Options{AppID: sandboxAlipayAppID, Keys: keys}) // only to learn the sandbox seller
	seller := gw.SellerID()
	gw.Close()
	now := time.Now().In(cn.Zone)
	ts := now.Format("2006-01-02 15:04:05")
	form := url.Values{
		"notify_time": {ts}, "notify_type": {"trade_status_sync"}, "notify_id": {fmt.Sprintf("sim%d", now.UnixNano())},
		"app_id": {sandboxAlipayAppID}, "charset": {"utf-8"}, "version": {"1.0"}, "sign_type": {"RSA2"},
		"trade_no": {now.Format("20060102") + fmt.Sprintf("22001%015d", now.UnixNano()%1e15)}, "out_trade_no": {orderNo},
		"trade_status": {"TRADE_SUCCESS"}, "total_amount": {cn.Yuan(amount)}, "receipt_amount": {cn.Yuan(amount)},
		"buyer_pay_amount": {cn.Yuan(amount)}, "gmt_create": {ts}, "gmt_payment": {ts}, "subject": {"o2ohub simulate"},
		"buyer_id": {"2088000000000001"}, "seller_id": {seller},
	}
	return alipayfake.Notify(ctx, &http.Client{Timeout: 10 * time.Second}, notifyURL, keys, alipayfake.PublicKeyMode, form)
}
