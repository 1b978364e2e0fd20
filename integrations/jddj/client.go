package jddj

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/internal/callopts"
	"github.com/o2ohub/o2ohub/integrations/internal/jsonx"
)

// DefaultBase is JD Daojia's open-platform gateway.
const DefaultBase = "https://openapi.jddj.com/djapi"

// The API paths the connector calls, under the base.
const (
	PathAccept       = "ocs/orderAcceptOperate"
	PathQuery        = "order/es/query"
	PathStock        = "stock/batchUpdateCurrentQtys"
	PathJDZBDelivery = "bm/open/api/order/OrderJDZBDelivery"
	PathDDTCDelivery = "bm/open/api/order/OrderDDTCDelivery"
	// PathSellerDelivery keeps JD's own spelling ("Serller").
	PathSellerDelivery = "bm/open/api/order/OrderSerllerDelivery"
	PathSelfMention    = "bm/open/api/order/OrderSelfMention"
	// PathAfsService reads one after-sale bill (售后单详情) by afsServiceOrder.
	PathAfsService = "afs/getAfsService"
)

// The delivery carriers (the order's deliveryCarrierNo) that decide which goods-picked call applies.
const (
	CarrierJDZB       = "9966" // JD's crowd-sourced riders (Dada): the usual case
	CarrierSeller     = "2938" // the merchant delivers
	CarrierDDTC       = "1130" // Dada same-city delivery
	CarrierSelfPickup = "9999" // the buyer collects at the store
)

// JD's gateway codes the connector and the fake share.
const (
	CodeOK          = "0"
	CodeFailed      = "-1"     // 操作失败
	CodeRetry       = "-10000" // 业务重试
	CodeMissing     = "10005"  // 必填项参数未填
	CodeBadToken    = "10013"  // 无效Token令牌
	CodeBadSign     = "10014"  // 无效Sign签名
	CodeBadParam    = "10015"  // API参数异常
	CodeNoMethod    = "10018"  // 不存在的方法名
	CodeRateLimited = "10032"  // 调用次数超过限制
)

// StockBatchSize is the most SKUs one stock/batchUpdateCurrentQtys call may carry.
const StockBatchSize = 50

// RateLimitLockout is how long JD locks a merchant out after code 10032.
const RateLimitLockout = time.Minute

// Config is what the connector needs: the app's credentials, the merchant's token and operator, and the
// gateway.
type Config struct {
	AppKey    string
	AppSecret string
	// Token is the merchant's authorisation token for the app.
	Token string
	// Operator is the merchant account (JD's operator / operPin / userPin) the calls act as.
	Operator string
	// Base is the gateway (DefaultBase when empty), without a trailing slash.
	Base string
	// HTTPClient makes the calls; nil means a client with a 15 s timeout.
	HTTPClient *http.Client
	// Clock gives the time for the timestamp parameter and the pull windows; nil means time.Now.
	Clock func() time.Time
}

// Client is JD Daojia behind market.Connector. It is safe for concurrent use.
type Client struct {
	cfg  Config
	http *http.Client
	now  func() time.Time
}

var _ market.Connector = (*Client)(nil)

// New checks cfg and returns the connector.
func New(cfg Config) (*Client, error) {
	if cfg.AppKey == "" || cfg.AppSecret == "" || cfg.Token == "" || cfg.Operator == "" {
		return nil, errors.New("jddj: app key, app secret, token and operator are required")
	}
	base, err := callopts.Base("jddj", cfg.Base, DefaultBase)
	if err != nil {
		return nil, err
	}
	cfg.Base = callopts.TrimSlash(base)
	return &Client{cfg: cfg, http: callopts.Client(cfg.HTTPClient, 15*time.Second), now: callopts.Clock(cfg.Clock)}, nil
}

// Platform returns market.JDDJ.
func (c *Client) Platform() string { return market.JDDJ }

// StockBatch returns StockBatchSize.
func (c *Client) StockBatch() int { return StockBatchSize }

// SignedParams returns the form of a call carrying business JSON biz, signed with secret: the system
// parameters app_key, format, jd_param_json, timestamp, token, v and sign.
func SignedParams(appKey, secret, token, biz string, at time.Time) url.Values {
	p := map[string]string{
		"app_key": appKey, "format": "json", "jd_param_json": biz,
		"timestamp": Timestamp(at), "token": token, "v": "1.0",
	}
	p["sign"] = Sign(secret, p)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	return form
}

// envelope is JD's answer to every call.
type envelope struct {
	Code        string `json:"code"`
	Msg         string `json:"msg"`
	Data        any    `json:"data"`
	EncryptData string `json:"encryptData"`
}

// call posts biz to path and returns the answer's data as JSON text, or the refusal as a *CallError.
func (c *Client) call(ctx context.Context, path string, biz any) ([]byte, error) {
	body, err := json.Marshal(biz)
	if err != nil {
		return nil, fmt.Errorf("jddj %s: %w", path, err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 15*time.Second)
		defer cancel()
	}
	form := SignedParams(c.cfg.AppKey, c.cfg.AppSecret, c.cfg.Token, string(body), c.now())
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Base+"/"+path, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("jddj %s: %w", path, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=UTF-8")
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jddj %s: %w", path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return nil, fmt.Errorf("jddj %s: read answer: %w", path, err)
	}
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("jddj %s: HTTP %d", path, resp.StatusCode)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("jddj %s: answer is not JD's JSON envelope", path)
	}
	if env.Code != CodeOK {
		return nil, callError(env.Code, env.Msg)
	}
	switch d := env.Data.(type) {
	case string:
		if d != "" {
			return []byte(d), nil
		}
	case nil:
	default: // some answers carry data as an object rather than as text
		return json.Marshal(d)
	}
	if env.EncryptData != "" {
		plain, err := Decrypt(c.cfg.AppSecret, env.EncryptData)
		if err != nil {
			return nil, fmt.Errorf("jddj %s: encryptData: %w", path, err)
		}
		return []byte(plain), nil
	}
	return []byte("{}"), nil
}

// callError maps JD's gateway code to the market error kinds.
func callError(code, msg string) *market.CallError {
	e := &market.CallError{Code: code, Msg: msg}
	switch code {
	case CodeBadToken, CodeBadSign:
		e.Kind = market.ErrAuth
	case CodeRateLimited:
		e.Kind, e.RetryAfter = market.ErrRateLimited, RateLimitLockout
	case CodeRetry:
		// transient: the platform asks to try again
	default:
		e.Kind = market.ErrRefused
	}
	return e
}

// inner is the business answer most calls carry inside data.
type inner struct {
	Code flex   `json:"code"`
	Msg  string `json:"msg"`
}

// check reads the business answer of a simple call: code "0" (or absent) is success.
func check(data []byte) error {
	var in inner
	if err := json.Unmarshal(data, &in); err != nil {
		return fmt.Errorf("jddj: unreadable answer data")
	}
	if in.Code != "" && in.Code != CodeOK {
		return &market.CallError{Kind: market.ErrRefused, Code: string(in.Code), Msg: in.Msg}
	}
	return nil
}

// flex reads a JSON string or number as its text, for fields the platform writes either way.
type flex = jsonx.Text
