package wechat

import (
	"context"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	wxcore "github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/utils"
)

// PayProvider is WeChat Pay's provider name in the hub.
const PayProvider = "wechatpay"

// PayConfig is what the WeChat Pay client needs. WeChat Pay signs its answers and notifications with
// the WeChat Pay public key (PublicKeyID, PublicKey) or, for merchants not yet migrated, with platform
// certificates downloaded with the APIv3 key (PlatformCerts); during a migration both are accepted.
type PayConfig struct {
	AppID          string
	MchID          string
	MerchantSerial string
	MerchantKey    *rsa.PrivateKey
	PublicKeyID    string
	PublicKey      *rsa.PublicKey
	PlatformCerts  bool
	APIv3Key       string
	// Base is the API base URL (DefaultPayBase, a proxy, or a fake).
	Base string
}

// Pay is WeChat Pay APIv3 behind core's payment interfaces.
type Pay struct {
	cfg      PayConfig
	jsapi    *jsapi.JsapiApiService
	refunds  *refunddomestic.RefundsApiService
	verifier auth.Verifier
	certs    *downloader.CertificateDownloader
	mp       *MiniProgram
	now      func() time.Time
	log      *slog.Logger
}

var (
	_ core.PaymentGateway   = (*Pay)(nil)
	_ core.Refunder         = (*Pay)(nil)
	_ core.RefundQuerier    = (*Pay)(nil)
	_ core.PaymentChecker   = (*Pay)(nil)
	_ core.ShippingReporter = (*Pay)(nil)
)

// NewPay returns the WeChat Pay client. mp, the mini-program the payments belong to, uploads shipping
// information. In platform-certificate mode it downloads the certificates once before it returns.
func NewPay(ctx context.Context, cfg PayConfig, mp *MiniProgram, now func() time.Time, log *slog.Logger) (*Pay, error) {
	switch {
	case cfg.AppID == "" || cfg.MchID == "" || cfg.MerchantSerial == "" || cfg.MerchantKey == nil:
		return nil, errors.New("wechatpay: appid, mchid, merchant serial and merchant private key are required")
	case len(cfg.APIv3Key) != 32:
		return nil, errors.New("wechatpay: the APIv3 key must be 32 characters")
	case (cfg.PublicKeyID == "") != (cfg.PublicKey == nil):
		return nil, errors.New("wechatpay: the public key and its id go together")
	case cfg.PublicKey == nil && !cfg.PlatformCerts:
		return nil, errors.New("wechatpay: configure the WeChat Pay public key (and its id) or platform certificates")
	}
	if cfg.Base == "" {
		cfg.Base = DefaultPayBase
	}
	if now == nil {
		now = time.Now
	}
	hc, err := NewClient(DefaultPayBase, cfg.Base, 15*time.Second)
	if err != nil {
		return nil, err
	}
	p := &Pay{cfg: cfg, mp: mp, now: now, log: log}
	signer := option.WithMerchantCredential(cfg.MchID, cfg.MerchantSerial, cfg.MerchantKey)
	if cfg.PlatformCerts {
		dc, err := wxcore.NewClient(ctx, signer, option.WithoutValidator(), option.WithHTTPClient(hc))
		if err != nil {
			return nil, err
		}
		if p.certs, err = downloader.NewCertificateDownloaderWithClient(ctx, dc, cfg.APIv3Key); err != nil {
			return nil, fmt.Errorf("wechatpay: download platform certificates: %w", err)
		}
	}
	switch {
	case cfg.PublicKey != nil && p.certs != nil:
		p.verifier = verifiers.NewSHA256WithRSACombinedVerifier(p.certs, cfg.PublicKeyID, *cfg.PublicKey)
	case cfg.PublicKey != nil:
		p.verifier = verifiers.NewSHA256WithRSAPubkeyVerifier(cfg.PublicKeyID, *cfg.PublicKey)
	default:
		p.verifier = verifiers.NewSHA256WithRSAVerifier(p.certs)
	}
	client, err := wxcore.NewClient(ctx, signer, option.WithVerifier(p.verifier), option.WithHTTPClient(hc))
	if err != nil {
		return nil, err
	}
	p.jsapi, p.refunds = &jsapi.JsapiApiService{Client: client}, &refunddomestic.RefundsApiService{Client: client}
	return p, nil
}

func str(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// RefreshCertificates downloads the platform certificates again every interval until ctx ends (only in
// platform-certificate mode), so a rotated certificate is known before WeChat signs with it.
func (p *Pay) RefreshCertificates(ctx context.Context, interval time.Duration) {
	if p.certs == nil {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := p.certs.DownloadCertificates(ctx); err != nil && ctx.Err() == nil {
				p.log.ErrorContext(ctx, "wechatpay platform certificate download failed", "err", err)
			}
		}
	}
}

// Provider returns "wechatpay".
func (p *Pay) Provider() string { return PayProvider }

// Prepay creates a JSAPI transaction for the order and returns the parameters of wx.requestPayment.
// WeChat answers the same out_trade_no with the same parameters with the same prepay, so a retried
// prepay never creates a second payable transaction.
func (p *Pay) Prepay(ctx context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	openid := req.Identities["wechat:"+p.cfg.AppID]
	if openid == "" {
		return core.PrepayResult{}, &domain.Error{Kind: domain.ErrConflict, Msg: "sign in with WeChat in this mini-program before paying with WeChat Pay"}
	}
	desc := req.Description // WeChat counts the 127 in bytes
	for len(desc) > 127 {
		_, size := utf8.DecodeLastRuneInString(desc)
		desc = desc[:len(desc)-size]
	}
	expire := req.ExpiresAt.In(cn.Zone).Truncate(time.Second)
	resp, _, err := p.jsapi.PrepayWithRequestPayment(ctx, jsapi.PrepayRequest{
		Appid: &p.cfg.AppID, Mchid: &p.cfg.MchID, Description: &desc, OutTradeNo: &req.OrderNo, TimeExpire: &expire,
		NotifyUrl: &req.NotifyURL, Amount: &jsapi.Amount{Total: &req.AmountFen, Currency: wxcore.String("CNY")},
		Payer: &jsapi.Payer{Openid: &openid},
	})
	if err != nil {
		return core.PrepayResult{}, payError("prepay", err)
	}
	return core.PrepayResult{PrepayID: *resp.PrepayId, Params: map[string]any{
		"appId": *resp.Appid, "timeStamp": *resp.TimeStamp, "nonceStr": *resp.NonceStr, "package": *resp.Package,
		"signType": *resp.SignType, "paySign": *resp.PaySign,
	}}, nil
}

// QueryPayment asks WeChat Pay about the order's transaction.
func (p *Pay) QueryPayment(ctx context.Context, orderNo string) (core.PaymentState, error) {
	tx, _, err := p.jsapi.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: &orderNo, Mchid: &p.cfg.MchID})
	if wxcore.IsAPIError(err, "ORDER_NOT_EXIST") {
		return core.PaymentState{Closed: true}, nil
	}
	if err != nil {
		return core.PaymentState{}, payError("query", err)
	}
	switch str(tx.TradeState) {
	case "SUCCESS", "REFUND":
		n, err := p.payment(tx)
		return core.PaymentState{Paid: true, Payment: n}, err
	case "CLOSED", "REVOKED", "PAYERROR":
		return core.PaymentState{Closed: true}, nil
	}
	return core.PaymentState{}, nil
}

// ClosePayment closes the order's unpaid transaction; one already closed is fine.
func (p *Pay) ClosePayment(ctx context.Context, orderNo string) error {
	_, err := p.jsapi.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: &orderNo, Mchid: &p.cfg.MchID})
	if err == nil || wxcore.IsAPIError(err, "ORDER_CLOSED") {
		return nil
	}
	return payError("close", err)
}

// Refund asks WeChat Pay to refund part or all of a payment; the same refund number is the same refund.
func (p *Pay) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	reason := req.Reason
	if utf8.RuneCountInString(reason) > 80 {
		reason = string([]rune(reason)[:80])
	}
	r, _, err := p.refunds.Create(ctx, refunddomestic.CreateRequest{
		OutTradeNo: &req.OrderNo, OutRefundNo: &req.RefundNo, Reason: &reason, NotifyUrl: &req.NotifyURL,
		Amount: &refunddomestic.AmountReq{Refund: &req.AmountFen, Total: &req.TotalFen, Currency: wxcore.String("CNY")},
	})
	if err != nil {
		return core.RefundResult{}, payError("refund", err)
	}
	return refundResult(r), nil
}

// QueryRefund asks WeChat Pay where a refund stands.
func (p *Pay) QueryRefund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	r, _, err := p.refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: &req.RefundNo})
	if wxcore.IsAPIError(err, "RESOURCE_NOT_EXISTS") {
		return core.RefundResult{Outcome: core.RefundMissing}, nil
	}
	if err != nil {
		return core.RefundResult{}, payError("refund query", err)
	}
	return refundResult(r), nil
}

// abnormalRefund explains WeChat Pay's ABNORMAL refund state to an operator.
const abnormalRefund = "wechatpay refund ABNORMAL: the shopper's account could not take the money back; resolve it in the merchant platform (or apply-abnormal-refund)"

func refundResult(r *refunddomestic.Refund) core.RefundResult {
	res := core.RefundResult{Outcome: core.RefundAccepted, ProviderRefundID: str(r.RefundId)}
	if r.Status != nil {
		switch *r.Status {
		case refunddomestic.STATUS_SUCCESS:
			res.Outcome = core.RefundDone
		case refunddomestic.STATUS_CLOSED:
			res.Outcome, res.Detail = core.RefundRejected, "wechatpay refund CLOSED"
		case refunddomestic.STATUS_ABNORMAL:
			res.Detail = abnormalRefund
		}
	}
	return res
}

// ReportShipping uploads the shipping information of a WeChat Pay order through the mini-program.
func (p *Pay) ReportShipping(ctx context.Context, s core.Shipment) error {
	if p.mp == nil {
		return fmt.Errorf("%w: no mini-program is configured for shipping uploads", core.ErrPermanent)
	}
	return p.mp.ReportShipping(ctx, p.cfg.MchID, s)
}

// payment turns a verified transaction into core's payment, after checking it is ours.
func (p *Pay) payment(tx *payments.Transaction) (core.PaymentNotification, error) {
	if str(tx.Appid) != p.cfg.AppID || str(tx.Mchid) != p.cfg.MchID {
		return core.PaymentNotification{}, fmt.Errorf("%w: transaction of appid %q / mchid %q is not ours", ErrForeign, str(tx.Appid), str(tx.Mchid))
	}
	if tx.Amount == nil || tx.Amount.Total == nil || str(tx.TransactionId) == "" || str(tx.OutTradeNo) == "" {
		return core.PaymentNotification{}, fmt.Errorf("%w: transaction without id, order number or amount", ErrMalformed)
	}
	if *tx.Amount.Total <= 0 {
		return core.PaymentNotification{}, fmt.Errorf("%w: amount %d fen is not a payment", ErrMalformed, *tx.Amount.Total)
	}
	paidAt, err := time.Parse(time.RFC3339, str(tx.SuccessTime))
	if err != nil {
		return core.PaymentNotification{}, fmt.Errorf("%w: success_time %q", ErrMalformed, str(tx.SuccessTime))
	}
	return core.PaymentNotification{Provider: PayProvider, OrderNo: *tx.OutTradeNo, TransactionID: *tx.TransactionId, AmountFen: *tx.Amount.Total, PaidAt: paidAt}, nil
}

// payError keeps WeChat Pay's code and message and drops the rest (headers, raw body) of an API error;
// the caller sees that WeChat Pay failed (502), not an internal error.
func payError(call string, err error) error {
	var ae *wxcore.APIError
	if errors.As(err, &ae) {
		return &domain.Error{Kind: domain.ErrUnavailable, Msg: fmt.Sprintf("wechatpay %s: HTTP %d %s: %s", call, ae.StatusCode, ae.Code, ae.Message)}
	}
	return &domain.Error{Kind: domain.ErrUnavailable, Msg: fmt.Sprintf("wechatpay %s: %v", call, err)}
}

// Notification errors. A notification that fails verification changes nothing.
var (
	ErrUnsigned     = errors.New("wechatpay notification is not signed")
	ErrBadSignature = errors.New("wechatpay notification signature does not verify")
	ErrStale        = errors.New("wechatpay notification timestamp is more than 5 minutes off")
	ErrDecrypt      = errors.New("wechatpay notification resource does not decrypt")
	ErrMalformed    = errors.New("wechatpay notification is malformed")
	ErrForeign      = errors.New("wechatpay notification is for another app or merchant")
)

// gcmNonceSize is the length of an AEAD_AES_256_GCM resource's nonce (12 characters).
const gcmNonceSize = 12

// Tolerance is how far a notification's timestamp may be from our clock.
const Tolerance = 5 * time.Minute

// Notification is a verified, decrypted WeChat Pay notification: a payment, a refund's final state, or
// an event the hub does not act on (both nil).
type Notification struct {
	ID        string
	EventType string
	Payment   *core.PaymentNotification
	Refund    *core.RefundNotice
}

type envelope struct {
	ID           string `json:"id"`
	EventType    string `json:"event_type"`
	ResourceType string `json:"resource_type"`
	Resource     struct {
		Algorithm      string `json:"algorithm"`
		Ciphertext     string `json:"ciphertext"`
		AssociatedData string `json:"associated_data"`
		Nonce          string `json:"nonce"`
		OriginalType   string `json:"original_type"`
	} `json:"resource"`
}

type refundResource struct {
	MchID        string `json:"mchid"`
	OutTradeNo   string `json:"out_trade_no"`
	OutRefundNo  string `json:"out_refund_no"`
	RefundID     string `json:"refund_id"`
	RefundStatus string `json:"refund_status"`
	Amount       struct {
		Total  int64 `json:"total"`
		Refund int64 `json:"refund"`
	} `json:"amount"`
}

// ParseNotification verifies a notification over its raw body (the signature headers, a timestamp
// within Tolerance of our clock), decrypts its resource with the APIv3 key, checks that it is for our
// app and merchant, and normalises it. Nothing in the body is trusted before the signature verifies.
func (p *Pay) ParseNotification(ctx context.Context, h http.Header, body []byte) (Notification, error) {
	ts, nonce, serial, sig := h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Serial"), h.Get("Wechatpay-Signature")
	if ts == "" || nonce == "" || serial == "" || sig == "" {
		return Notification{}, ErrUnsigned
	}
	if t := h.Get("Wechatpay-Signature-Type"); t != "" && t != "WECHATPAY2-SHA256-RSA2048" {
		return Notification{}, fmt.Errorf("%w: signature type %q", ErrBadSignature, t)
	}
	if err := p.verifier.Verify(ctx, serial, ts+"\n"+nonce+"\n"+string(body)+"\n", sig); err != nil {
		return Notification{}, fmt.Errorf("%w (serial %s)", ErrBadSignature, serial)
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil { // signed by WeChat Pay, so malformed rather than forged
		return Notification{}, fmt.Errorf("%w: Wechatpay-Timestamp %q", ErrMalformed, ts)
	}
	if d := p.now().Sub(time.Unix(sec, 0)); d > Tolerance || d < -Tolerance {
		return Notification{}, ErrStale
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Notification{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	n := Notification{ID: env.ID, EventType: env.EventType}
	if env.ResourceType != "encrypt-resource" || env.Resource.Algorithm != "AEAD_AES_256_GCM" {
		return n, nil // not a resource we decrypt (nothing the hub acts on)
	}
	if len(env.Resource.Nonce) != gcmNonceSize { // the SDK panics on any other length
		return Notification{}, ErrDecrypt
	}
	text, err := utils.DecryptAES256GCM(p.cfg.APIv3Key, env.Resource.AssociatedData, env.Resource.Nonce, env.Resource.Ciphertext)
	if err != nil {
		return Notification{}, ErrDecrypt
	}
	plain := []byte(text)
	switch env.EventType {
	case "TRANSACTION.SUCCESS":
		var tx payments.Transaction
		if err := json.Unmarshal(plain, &tx); err != nil {
			return Notification{}, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if str(tx.TradeState) != "SUCCESS" {
			return n, nil
		}
		pay, err := p.payment(&tx)
		if err != nil {
			return Notification{}, err
		}
		n.Payment = &pay
	case "REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED":
		var r refundResource
		if err := json.Unmarshal(plain, &r); err != nil || r.OutRefundNo == "" {
			return Notification{}, fmt.Errorf("%w: refund resource", ErrMalformed)
		}
		if r.MchID != p.cfg.MchID {
			return Notification{}, fmt.Errorf("%w: refund of mchid %q", ErrForeign, r.MchID)
		}
		n.Refund = &core.RefundNotice{Provider: PayProvider, RefundNo: r.OutRefundNo, ProviderRefundID: r.RefundID, AmountFen: r.Amount.Refund,
			Succeeded: r.RefundStatus == "SUCCESS" && env.EventType == "REFUND.SUCCESS", Detail: "wechatpay refund " + r.RefundStatus}
		if env.EventType == "REFUND.ABNORMAL" {
			n.Refund.Stuck, n.Refund.Detail = true, abnormalRefund
		}
	}
	return n, nil
}
