package alipay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/internal/cn"
	sdk "github.com/smartwalle/alipay/v3"
)

// Provider is Alipay's provider name in the hub.
const Provider = "alipay"

// DefaultGateway is Alipay's production gateway.
const DefaultGateway = "https://openapi.alipay.com/gateway.do"

// Config is what the Alipay client needs. Keys are PEM text. In public-key mode AlipayPublicKey is set;
// in public-key-certificate mode AppCert, RootCert and AlipayCert are.
type Config struct {
	AppID           string
	PrivateKey      string
	AlipayPublicKey string
	AppCert         string
	RootCert        string
	AlipayCert      string
	// AESKey is the app's content-encryption key (base64), which decrypts my.getPhoneNumber's response.
	AESKey string
	// SellerID is the merchant's 2088… user id; when set, notifications for another seller are refused.
	SellerID string
	// Gateway is the gateway URL (DefaultGateway, a proxy, or a fake).
	Gateway string
}

// Client is Alipay behind core's payment interfaces.
type Client struct {
	cfg   Config
	api   *sdk.Client
	phone *sdk.Client // a second client: the AES key switches encryption on for every call of its client
	log   *slog.Logger
}

var (
	_ core.PaymentGateway = (*Client)(nil)
	_ core.Refunder       = (*Client)(nil)
	_ core.RefundQuerier  = (*Client)(nil)
	_ core.PaymentChecker = (*Client)(nil)
)

// New returns the Alipay client.
func New(cfg Config, log *slog.Logger) (*Client, error) {
	if cfg.AppID == "" || cfg.PrivateKey == "" {
		return nil, errors.New("alipay: the app id and the app private key are required")
	}
	certMode := cfg.AppCert != "" || cfg.RootCert != "" || cfg.AlipayCert != ""
	switch {
	case certMode && (cfg.AppCert == "" || cfg.RootCert == "" || cfg.AlipayCert == ""):
		return nil, errors.New("alipay: certificate mode needs the app certificate, the Alipay root certificate and the Alipay public-key certificate")
	case certMode && cfg.AlipayPublicKey != "":
		return nil, errors.New("alipay: configure either the Alipay public key or the certificates, not both")
	case !certMode && cfg.AlipayPublicKey == "":
		return nil, errors.New("alipay: configure the Alipay public key (public-key mode) or the certificates (certificate mode)")
	}
	if cfg.Gateway == "" {
		cfg.Gateway = DefaultGateway
	}
	if u, err := url.Parse(cfg.Gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("alipay: gateway %q must be an absolute http(s) URL", cfg.Gateway)
	}
	c := &Client{cfg: cfg, log: log}
	var err error
	if c.api, err = c.newSDK(certMode); err != nil {
		return nil, err
	}
	if cfg.AESKey != "" {
		if c.phone, err = c.newSDK(certMode); err != nil {
			return nil, err
		}
		if err := c.phone.SetEncryptKey(cfg.AESKey); err != nil {
			return nil, fmt.Errorf("alipay: AES key: %w", err)
		}
	}
	return c, nil
}

func (c *Client) newSDK(certMode bool) (*sdk.Client, error) {
	hc := &http.Client{Timeout: 15 * time.Second}
	api, err := sdk.New(c.cfg.AppID, c.cfg.PrivateKey, true, sdk.WithProductionGateway(c.cfg.Gateway), sdk.WithHTTPClient(hc), sdk.WithTimeLocation(cn.Zone))
	if err != nil {
		return nil, fmt.Errorf("alipay: app private key: %w", err)
	}
	if !certMode {
		if err := api.LoadAliPayPublicKey(c.cfg.AlipayPublicKey); err != nil {
			return nil, fmt.Errorf("alipay: Alipay public key: %w", err)
		}
		return api, nil
	}
	if err := api.LoadAppCertPublicKey(c.cfg.AppCert); err != nil {
		return nil, fmt.Errorf("alipay: app certificate: %w", err)
	}
	if err := api.LoadAliPayRootCert(c.cfg.RootCert); err != nil {
		return nil, fmt.Errorf("alipay: root certificate: %w", err)
	}
	if err := api.LoadAlipayCertPublicKey(c.cfg.AlipayCert); err != nil {
		return nil, fmt.Errorf("alipay: Alipay public-key certificate: %w", err)
	}
	return api, nil
}

// Provider returns "alipay".
func (c *Client) Provider() string { return Provider }

// Channel returns the identity provider of open_ids in this app; user_ids are global ("alipay").
func (c *Client) Channel() string { return "alipay:" + c.cfg.AppID }

// UserProvider is the identity provider of Alipay user ids (2088…), the same in every app.
const UserProvider = "alipay"

// Login exchanges a my.getAuthCode code for the shopper's identity: their user_id, or the app-scoped
// open_id for apps in open-id mode.
func (c *Client) Login(ctx context.Context, code string) (member.IdentityRef, error) {
	if code == "" || len(code) > 128 {
		return member.IdentityRef{}, &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "code must be the 1-128 character code of my.getAuthCode"}
	}
	res, err := c.api.SystemOauthToken(ctx, sdk.SystemOauthToken{GrantType: "authorization_code", Code: code})
	if err != nil {
		var ae *sdk.Error
		if errors.As(err, &ae) && (strings.HasPrefix(ae.SubCode, "isv.code") || strings.Contains(ae.SubCode, "grant")) {
			return member.IdentityRef{}, &domain.Error{Kind: domain.ErrUnauthenticated, Msg: fmt.Sprintf("alipay rejected the login code (%s)", ae.SubCode)}
		}
		return member.IdentityRef{}, c.unavailable("login", err)
	}
	if res.Code != "" && !res.Code.IsSuccess() {
		return member.IdentityRef{}, &domain.Error{Kind: domain.ErrUnauthenticated, Msg: fmt.Sprintf("alipay rejected the login code (%s %s)", res.Code, res.SubCode)}
	}
	switch {
	case res.AccessToken != "" && res.UserId != "":
		return member.IdentityRef{Provider: UserProvider, Subject: res.UserId}, nil
	case res.AccessToken != "" && res.OpenId != "":
		return member.IdentityRef{Provider: c.Channel(), Subject: res.OpenId}, nil
	}
	return member.IdentityRef{}, c.unavailable("login", errors.New("no user_id or open_id in the answer"))
}

// phoneEnvelope is what my.getPhoneNumber hands the mini-program.
type phoneEnvelope struct {
	Response string `json:"response"`
	Sign     string `json:"sign"`
}

// PhoneNumber checks the signature of my.getPhoneNumber's encrypted response, decrypts it with the
// app's AES key and returns the verified mainland number.
func (c *Client) PhoneNumber(ctx context.Context, response string) (string, error) {
	if c.phone == nil {
		return "", &domain.Error{Kind: domain.ErrConflict, Msg: "phone numbers need the app's AES key (O2OHUB_ALIPAY_AES_KEY)"}
	}
	var env phoneEnvelope
	if err := json.Unmarshal([]byte(response), &env); err != nil || env.Response == "" || env.Sign == "" || len(response) > 4096 {
		return "", &domain.Error{Kind: domain.ErrInvalidArgument, Msg: "response must be the string my.getPhoneNumber returned: {\"response\":…,\"sign\":…}"}
	}
	// The SDK verifies the signature over the quoted ciphertext and then decrypts it.
	raw, _ := json.Marshal(map[string]string{"response": env.Response, "sign": env.Sign})
	res, err := c.phone.DecodePhoneNumber(ctx, string(raw))
	if err != nil {
		return "", &domain.Error{Kind: domain.ErrUnauthenticated, Msg: "the phone number response does not verify or decrypt"}
	}
	if !res.Code.IsSuccess() || res.Mobile == "" {
		return "", &domain.Error{Kind: domain.ErrUnauthenticated, Msg: fmt.Sprintf("alipay did not release the phone number (%s %s)", res.Code, res.Msg)}
	}
	return res.Mobile, nil
}

// Prepay creates the Alipay trade of the order (alipay.trade.create, JSAPI_PAY) for the buyer; the
// mini-program passes the trade_no to my.tradePay. The same order number with the same amount is the
// same trade.
func (c *Client) Prepay(ctx context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	p := sdk.TradeCreate{BuyerId: req.Identities[UserProvider], BuyerOpenId: req.Identities[c.Channel()]}
	if p.BuyerId == "" && p.BuyerOpenId == "" {
		return core.PrepayResult{}, &domain.Error{Kind: domain.ErrConflict, Msg: "sign in with Alipay before paying with Alipay"}
	}
	if p.BuyerId != "" {
		p.BuyerOpenId = ""
	}
	subject := req.Description
	if utf8.RuneCountInString(subject) > 256 {
		subject = string([]rune(subject)[:255]) + "…"
	}
	p.NotifyURL, p.Subject, p.OutTradeNo, p.TotalAmount, p.ProductCode = req.NotifyURL, subject, req.OrderNo, cn.Yuan(req.AmountFen), "JSAPI_PAY"
	p.TimeExpire = req.ExpiresAt.In(cn.Zone).Format("2006-01-02 15:04:05")
	res, err := c.api.TradeCreate(ctx, p)
	if err != nil {
		return core.PrepayResult{}, c.unavailable("trade.create", err)
	}
	if !res.IsSuccess() {
		return core.PrepayResult{}, fmt.Errorf("alipay trade.create: %s %s %s", res.Code, res.SubCode, res.SubMsg)
	}
	return core.PrepayResult{PrepayID: res.TradeNo, Params: map[string]any{"tradeNO": res.TradeNo}}, nil
}

// QueryPayment asks Alipay about the order's trade.
func (c *Client) QueryPayment(ctx context.Context, orderNo string) (core.PaymentState, error) {
	res, err := c.api.TradeQuery(ctx, sdk.TradeQuery{OutTradeNo: orderNo})
	if err != nil {
		return core.PaymentState{}, c.unavailable("trade.query", err)
	}
	if res.SubCode == "ACQ.TRADE_NOT_EXIST" {
		return core.PaymentState{Closed: true}, nil
	}
	if !res.IsSuccess() {
		return core.PaymentState{}, fmt.Errorf("alipay trade.query: %s %s %s", res.Code, res.SubCode, res.SubMsg)
	}
	return tradeState(res)
}

// tradeState is what a successful trade.query says of the payment: paid (TRADE_SUCCESS, TRADE_FINISHED,
// or TRADE_CLOSED with a send_pay_date, a trade paid and refunded in full), closed unpaid, or neither.
func tradeState(res *sdk.TradeQueryRsp) (core.PaymentState, error) {
	closed := false
	switch res.TradeStatus {
	case sdk.TradeStatusSuccess, sdk.TradeStatusFinished:
	case sdk.TradeStatusClosed:
		if res.SendPayDate == "" {
			return core.PaymentState{Closed: true}, nil
		}
		closed = true // paid, then refunded in full: the payment still happened
	default:
		return core.PaymentState{}, nil
	}
	amount, err := Fen(res.TotalAmount)
	if err != nil {
		return core.PaymentState{}, err
	}
	paidAt, err := payDate("send_pay_date", res.SendPayDate)
	if err != nil {
		return core.PaymentState{}, fmt.Errorf("alipay trade.query of %s: %w", res.OutTradeNo, err)
	}
	return core.PaymentState{Paid: true, Closed: closed, Payment: core.PaymentNotification{Provider: Provider, OrderNo: res.OutTradeNo, TransactionID: res.TradeNo,
		AmountFen: amount, PaidAt: paidAt}}, nil
}

// ClosePayment closes the order's unpaid trade; a trade Alipay never created or already closed is fine.
func (c *Client) ClosePayment(ctx context.Context, orderNo string) error {
	res, err := c.api.TradeClose(ctx, sdk.TradeClose{OutTradeNo: orderNo})
	if err != nil {
		return c.unavailable("trade.close", err)
	}
	if res.IsSuccess() || res.SubCode == "ACQ.TRADE_NOT_EXIST" {
		return nil
	}
	return fmt.Errorf("alipay trade.close: %s %s %s", res.Code, res.SubCode, res.SubMsg)
}

// Refund refunds part or all of a payment (alipay.trade.refund, synchronous). The refund number is
// the out_request_no, so a repeated request is the same refund (fund_change "N" the second time).
func (c *Client) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	res, err := c.api.TradeRefund(ctx, sdk.TradeRefund{OutTradeNo: req.OrderNo, RefundAmount: cn.Yuan(req.AmountFen), RefundReason: req.Reason, OutRequestNo: req.RefundNo})
	if err != nil {
		return core.RefundResult{}, c.unavailable("trade.refund", err)
	}
	if !res.IsSuccess() {
		return core.RefundResult{}, fmt.Errorf("alipay trade.refund: %s %s %s", res.Code, res.SubCode, res.SubMsg)
	}
	// Only fund_change "Y" confirms that money moved; otherwise (a repeated request, or a refund Alipay is
	// still working on) the refund query settles it.
	if res.FundChange != "Y" {
		return core.RefundResult{Outcome: core.RefundAccepted, ProviderRefundID: res.TradeNo}, nil
	}
	return core.RefundResult{Outcome: core.RefundDone, ProviderRefundID: res.TradeNo}, nil
}

// QueryRefund asks Alipay where a refund stands (alipay.trade.fastpay.refund.query). A refund Alipay does
// not list was not made (or not yet): as Alipay advises, it is submitted again under the same number.
func (c *Client) QueryRefund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	res, err := c.api.TradeFastPayRefundQuery(ctx, sdk.TradeFastPayRefundQuery{OutTradeNo: req.OrderNo, OutRequestNo: req.RefundNo})
	if err != nil {
		return core.RefundResult{}, c.unavailable("refund.query", err)
	}
	if !res.IsSuccess() {
		return core.RefundResult{}, fmt.Errorf("alipay refund.query: %s %s %s", res.Code, res.SubCode, res.SubMsg)
	}
	if res.RefundStatus == "REFUND_SUCCESS" {
		return core.RefundResult{Outcome: core.RefundDone, ProviderRefundID: res.TradeNo}, nil
	}
	return core.RefundResult{Outcome: core.RefundMissing}, nil
}

func (c *Client) unavailable(call string, err error) error {
	c.log.Error("alipay call failed", "call", call, "err", err)
	return &domain.Error{Kind: domain.ErrUnavailable, Msg: fmt.Sprintf("alipay %s failed; try again", call)}
}
