package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/integrations/wechat/wechatfake"
	"github.com/o2ohub/o2ohub/models"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// The sandbox's WeChat app and merchant.
const (
	sandboxAppID = "wx0o2ohubsandbox"
	sandboxMchID = "1900000109"

	sandboxReadyTemplate  = "sandbox-ready-template"
	sandboxRefundTemplate = "sandbox-refund-template"
	sandboxMovedTemplate  = "sandbox-moved-template"
)

// wechatChannel is the WeChat side of a running hub: the mini-program and WeChat Pay clients, and in
// sandbox mode the built-in WeChat they talk to.
type wechatChannel struct {
	mp   *wechat.MiniProgram
	pay  *wechat.Pay
	fake *wechatfake.Fake
	srv  *http.Server
}

// startWechat builds the WeChat clients from the configuration. In sandbox mode with no WeChat app
// configured it first starts the built-in WeChat fake on a loopback port (keys kept in the database, so
// `o2ohub simulate wechatpay` can sign for it) and points the clients at it.
func startWechat(ctx context.Context, cfg config.Config, db *models.DB, log *slog.Logger) (*wechatChannel, error) {
	ch := &wechatChannel{}
	if cfg.WechatAppID == "" {
		if !cfg.Sandbox {
			return ch, nil
		}
		keys, secret, err := sandboxWechatKeys(ctx, db)
		if err != nil {
			return nil, err
		}
		ch.fake = wechatfake.New(wechatfake.Options{AppID: sandboxAppID, AppSecret: secret, MchID: sandboxMchID, Keys: keys,
			Mode: wechatfake.PublicKeyMode, Lenient: true, AutoPay: time.Second, RefundDelay: time.Second, Log: log,
			TemplateIDs: []string{sandboxReadyTemplate, sandboxRefundTemplate, sandboxMovedTemplate}})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ch.srv = &http.Server{Handler: ch.fake, ReadHeaderTimeout: 10 * time.Second}
		go ch.srv.Serve(ln)
		base := "http://" + ln.Addr().String()
		cfg.WechatAppID, cfg.WechatSecret, cfg.WechatAPIBase, cfg.WechatPayBase = sandboxAppID, secret, base, base
		cfg.WechatTemplateReady, cfg.WechatTemplateRefund, cfg.WechatTemplateMoved = sandboxReadyTemplate, sandboxRefundTemplate, sandboxMovedTemplate
		log.Info("sandbox WeChat started", "base", base, "appid", sandboxAppID, "mchid", sandboxMchID)
		mp, pay, err := wechatClients(ctx, cfg, db, log, &keys)
		ch.mp, ch.pay = mp, pay
		if err != nil {
			ch.close()
		}
		return ch, err
	}
	mp, pay, err := wechatClients(ctx, cfg, db, log, nil)
	ch.mp, ch.pay = mp, pay
	if err != nil {
		ch.close()
	}
	return ch, err
}

// wechatClients builds the clients; keys, when given, replace the key files (the sandbox's own keys).
func wechatClients(ctx context.Context, cfg config.Config, db *models.DB, log *slog.Logger, keys *wechatfake.Keys) (mp *wechat.MiniProgram, pay *wechat.Pay, rerr error) {
	ready, err := wechat.ParseTemplate(cfg.WechatTemplateReady, wechat.DefaultReadyFields)
	if err != nil {
		return nil, nil, fmt.Errorf("O2OHUB_WECHAT_TEMPLATE_READY: %w", err)
	}
	refunded, err := wechat.ParseTemplate(cfg.WechatTemplateRefund, wechat.DefaultRefundedFields)
	if err != nil {
		return nil, nil, fmt.Errorf("O2OHUB_WECHAT_TEMPLATE_REFUND: %w", err)
	}
	moved, err := wechat.ParseTemplate(cfg.WechatTemplateMoved, wechat.DefaultMovedFields)
	if err != nil {
		return nil, nil, fmt.Errorf("O2OHUB_WECHAT_TEMPLATE_MOVED: %w", err)
	}
	mp, err = wechat.NewMiniProgram(wechat.MiniProgramConfig{AppID: cfg.WechatAppID, Secret: cfg.WechatSecret, Base: cfg.WechatAPIBase,
		Ready: ready, Refunded: refunded, Moved: moved, OrderPage: cfg.WechatOrderPage}, wechat.NewCache(db, nil), log)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if rerr != nil {
			mp.Close()
			mp = nil
		}
	}()
	pc := wechat.PayConfig{AppID: cfg.WechatAppID, MchID: cfg.WechatPayMchID, MerchantSerial: cfg.WechatPaySerial, PublicKeyID: cfg.WechatPayPublicKeyID,
		PlatformCerts: cfg.WechatPayPlatformCerts, APIv3Key: cfg.WechatPayAPIv3Key, Base: cfg.WechatPayBase}
	switch {
	case keys != nil:
		pc.MchID, pc.MerchantSerial, pc.MerchantKey = sandboxMchID, keys.MerchantSerial, keys.MerchantKey
		pc.PublicKeyID, pc.PublicKey, pc.APIv3Key = keys.PublicKeyID, &keys.PlatformKey.PublicKey, keys.APIv3Key
	case cfg.WechatPayMchID == "":
		return mp, nil, nil
	default:
		text, err := readKey("O2OHUB_WECHATPAY_PRIVATE_KEY", cfg.WechatPayPrivateKey)
		if err != nil {
			return nil, nil, err
		}
		if pc.MerchantKey, err = utils.LoadPrivateKey(text); err != nil {
			return nil, nil, errors.New("O2OHUB_WECHATPAY_PRIVATE_KEY: not a PEM private key (apiclient_key.pem)")
		}
		if cfg.WechatPayPublicKey != "" {
			if text, err = readKey("O2OHUB_WECHATPAY_PUBLIC_KEY", cfg.WechatPayPublicKey); err != nil {
				return nil, nil, err
			}
			if pc.PublicKey, err = utils.LoadPublicKey(text); err != nil {
				return nil, nil, errors.New("O2OHUB_WECHATPAY_PUBLIC_KEY: not a PEM public key (pub_key.pem)")
			}
		}
	}
	pay, err = wechat.NewPay(ctx, pc, mp, nil, log)
	return mp, pay, err
}

// register makes WeChat available to core: WeChat Pay as a gateway and shipping reporter, the
// mini-program as a messenger.
func (ch *wechatChannel) register(svc *core.Service) {
	if ch.mp != nil {
		svc.RegisterMessenger(ch.mp)
	}
	if ch.pay != nil {
		svc.RegisterGateway(ch.pay)
		svc.RegisterShippingReporter(ch.pay)
	}
}

func (ch *wechatChannel) close() {
	if ch.mp != nil {
		ch.mp.Close()
	}
	if ch.srv != nil {
		ch.srv.Close()
	}
	if ch.fake != nil {
		ch.fake.Close()
	}
}

// sandboxWechatKeys returns the sandbox WeChat's keys and app secret, made once and kept in the database.
func sandboxWechatKeys(ctx context.Context, db *models.DB) (wechatfake.Keys, string, error) {
	text, err := db.Setting(ctx, "wechat_sandbox_keys", func() (string, error) {
		k, err := wechatfake.GenerateKeys()
		if err != nil {
			return "", err
		}
		b, err := k.MarshalText()
		return string(b), err
	})
	if err != nil {
		return wechatfake.Keys{}, "", err
	}
	keys, err := wechatfake.ParseKeys([]byte(text))
	if err != nil {
		return keys, "", fmt.Errorf("stored sandbox WeChat keys: %w", err)
	}
	secret, err := db.Setting(ctx, "wechat_sandbox_secret", func() (string, error) {
		b := make([]byte, 16)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
	return keys, secret, err
}

// simulateWechatPay sends a TRANSACTION.SUCCESS notification signed with the sandbox WeChat's keys to a
// running sandbox hub, as WeChat Pay would after the shopper paid.
func simulateWechatPay(ctx context.Context, cfg config.Config, db *models.DB, svc *core.Service, orderNo string, amount int64, url string) (string, error) {
	if cfg.WechatAppID != "" {
		return "", errors.New("simulate wechatpay signs with the sandbox WeChat's keys; it cannot sign for a real merchant")
	}
	keys, _, err := sandboxWechatKeys(ctx, db)
	if err != nil {
		return "", err
	}
	if amount == 0 {
		if amount, err = svc.OrderTotal(ctx, orderNo); err != nil {
			return "", err
		}
	}
	b := make([]byte, 8)
	rand.Read(b)
	tx := wechatfake.Transaction{AppID: sandboxAppID, MchID: sandboxMchID, OutTradeNo: orderNo, TransactionID: "4200" + hex.EncodeToString(b),
		State: "SUCCESS", Total: amount, OpenID: "o_simulated_payer", SuccessTime: time.Now()}
	return wechatfake.NotifyTransaction(ctx, &http.Client{Timeout: 10 * time.Second}, url, keys, wechatfake.PublicKeyMode, tx)
}

// readKey returns key material given as a file path or, as key tools also hand it out, as the key text
// itself (PEM, or bare base64). Errors never quote the value: it may be a private key.
func readKey(env, value string) (string, error) {
	if config.LooksLikeKey(value) {
		return value, nil
	}
	b, err := os.ReadFile(value)
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return "", fmt.Errorf("%s: cannot read the file: %v", env, pe.Err)
	}
	if err != nil {
		return "", fmt.Errorf("%s: cannot read the file", env)
	}
	return string(b), nil
}
