package meituan

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/internal/callopts"
)

// DefaultBase is Meituan's open API base URL.
const DefaultBase = "https://waimaiopen.meituan.com/api/v1"

// The API paths the connector calls, relative to the base.
const (
	PathConfirm         = "order/confirm"
	PathCancel          = "order/cancel"
	PathOrderDetail     = "order/getOrderDetail"
	PathPrepared        = "order/preparationMealComplete"
	PathDaySeq          = "order/getOrderDaySeq"
	PathOrderIDByDaySeq = "order/getOrderIdByDaySeq"
	PathSkuStock        = "retail/sku/stock"
)

// Reason codes of order/cancel.
const (
	// ReasonSoldOut is 商品已售完.
	ReasonSoldOut = 2009
	// ReasonOther is APP方其他原因取消, Meituan's default when no code is given.
	ReasonOther = 2007
)

// Error codes of Meituan's answers that the connector tells apart.
const (
	CodeSystem       = 700
	CodeMissing      = 701
	CodeNoApp        = 702
	CodeFormat       = 705
	CodeSignature    = 703
	CodeNoAPIAccess  = 708
	CodeRateLimited  = 711
	CodeNoShop       = 803
	CodeNoOrder      = 806
	CodeFailed       = 808
	CodeNoSKU        = 1015
	CodeTokenExpired = 4001
)

// StockBatchSize is the most SKUs one retail/sku/stock call carries (see the package readings: unconfirmed).
const StockBatchSize = 200

// RateLimitWait is how long to wait after error 711 (our choice; see the package readings).
const RateLimitWait = 2 * time.Second

// callTimeout bounds a call whose context has no deadline.
const callTimeout = 15 * time.Second

// pullMax is the most order ids one PullOrders call returns.
const pullMax = 50

// Config configures a Client.
type Config struct {
	// AppID and AppSecret are the app's credentials from Meituan's developer console.
	AppID, AppSecret string
	// Base is the API base URL; "" means DefaultBase.
	Base string
	// PushURL is the hub's webhook base as registered with Meituan (e.g.
	// "https://hub.example.com/webhooks/meituan"); the push for event E is signed with PushURL + "/" + E.
	// "" means Inbound.URL is taken as the signed URL.
	PushURL string
	// HTTPClient makes the calls; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// Clock is the time source (timestamps, the pull's today); nil means time.Now.
	Clock func() time.Time
}

// Client is the Meituan connector.
type Client struct {
	appID, secret, base, pushURL string
	hc                           *http.Client
	now                          func() time.Time
}

var _ market.Connector = (*Client)(nil)

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.AppID == "" || cfg.AppSecret == "" {
		return nil, errors.New("meituan: AppID and AppSecret are required")
	}
	base, err := callopts.Base("meituan", cfg.Base, DefaultBase)
	if err != nil {
		return nil, err
	}
	if cfg.PushURL != "" {
		if _, err := callopts.Base("meituan push URL", cfg.PushURL, ""); err != nil {
			return nil, err
		}
	}
	return &Client{
		appID: cfg.AppID, secret: cfg.AppSecret, hc: callopts.Client(cfg.HTTPClient, 10*time.Second), now: callopts.Clock(cfg.Clock),
		base: callopts.TrimSlash(base), pushURL: callopts.TrimSlash(cfg.PushURL),
	}, nil
}

// Platform returns market.Meituan.
func (c *Client) Platform() string { return market.Meituan }

// StockBatch returns StockBatchSize.
func (c *Client) StockBatch() int { return StockBatchSize }

// Confirm accepts a new order (order/confirm).
func (c *Client) Confirm(ctx context.Context, o market.OrderRef) error {
	_, err := c.call(ctx, http.MethodGet, PathConfirm, url.Values{"order_id": {o.OrderID}})
	return err
}

// Reject cancels a new order as the merchant (order/cancel) with reason code 2009 when sold out, else 2007.
func (c *Client) Reject(ctx context.Context, o market.OrderRef, reason string, soldOut bool) error {
	code := ReasonOther
	if soldOut {
		code = ReasonSoldOut
	}
	_, err := c.call(ctx, http.MethodGet, PathCancel, url.Values{
		"order_id": {o.OrderID}, "reason": {reason}, "reason_code": {strconv.Itoa(code)},
	})
	return err
}

// Prepared tells Meituan the goods are packed (order/preparationMealComplete).
func (c *Client) Prepared(ctx context.Context, o market.OrderRef) error {
	_, err := c.call(ctx, http.MethodGet, PathPrepared, url.Values{"order_id": {o.OrderID}})
	return err
}

// FetchOrder reads one order (order/getOrderDetail).
func (c *Client) FetchOrder(ctx context.Context, shopID, orderID string) (market.Order, error) {
	data, err := c.call(ctx, http.MethodGet, PathOrderDetail, url.Values{"order_id": {orderID}})
	if err != nil {
		return market.Order{}, err
	}
	f, err := jsonFields(data)
	if err != nil {
		return market.Order{}, fmt.Errorf("meituan: %s: %w", PathOrderDetail, err)
	}
	o, err := parseOrder(f)
	if err != nil {
		return market.Order{}, fmt.Errorf("meituan: %s: %w", PathOrderDetail, err)
	}
	if o.ShopID == "" {
		o.ShopID = shopID
	}
	return o, nil
}

// PushStock sets the absolute stock of at most StockBatch SKUs at one shop in one retail/sku/stock call, each
// SKU listed with our code as both app_spu_code and sku_id. Negative quantities are sent as 0.
func (c *Client) PushStock(ctx context.Context, shopID string, levels []market.StockLevel) error {
	if len(levels) == 0 {
		return nil
	}
	if len(levels) > StockBatchSize {
		return fmt.Errorf("meituan: %d stock levels in one call, at most %d", len(levels), StockBatchSize)
	}
	type sku struct {
		SkuID string `json:"sku_id"`
		Stock string `json:"stock"`
	}
	type food struct {
		AppSpuCode string `json:"app_spu_code"`
		Skus       []sku  `json:"skus"`
	}
	foods := make([]food, len(levels))
	for i, l := range levels {
		foods[i] = food{AppSpuCode: l.Code, Skus: []sku{{SkuID: l.Code, Stock: strconv.FormatInt(max(l.Qty, 0), 10)}}}
	}
	b, err := json.Marshal(foods)
	if err != nil {
		return err
	}
	_, err = c.call(ctx, http.MethodPost, PathSkuStock, url.Values{"app_poi_code": {shopID}, "food_data": {string(b)}})
	return err
}

// call makes one signed call and returns the answer's data. GET carries every parameter in the query; POST
// carries app_id, timestamp and sig in the query and params in the form body.
func (c *Client) call(ctx context.Context, method, path string, params url.Values) (json.RawMessage, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, callTimeout)
		defer cancel()
	}
	endpoint := c.base + "/" + path
	all := url.Values{}
	for k, v := range params {
		all[k] = v
	}
	all.Set("app_id", c.appID)
	all.Set("timestamp", strconv.FormatInt(c.now().Unix(), 10))
	sig := Sign(endpoint, all, c.secret)
	var req *http.Request
	var err error
	if method == http.MethodPost {
		q := url.Values{"app_id": {c.appID}, "timestamp": {all.Get("timestamp")}, "sig": {sig}}
		req, err = http.NewRequestWithContext(ctx, method, endpoint+"?"+q.Encode(), strings.NewReader(params.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
	} else {
		all.Set("sig", sig)
		req, err = http.NewRequestWithContext(ctx, method, endpoint+"?"+all.Encode(), nil)
	}
	if err != nil {
		return nil, fmt.Errorf("meituan: %s: %w", path, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("meituan: %s: %w", path, scrub(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("meituan: %s: read answer: %w", path, err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("meituan: %s: http status %d", path, resp.StatusCode)
	}
	return decodeAnswer(path, body)
}

// scrub drops the request URL (with its signed query) from a transport error.
func scrub(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

// answer is Meituan's answer envelope, plain or a retail batch's.
type answer struct {
	Data       json.RawMessage `json:"data"`
	Error      *apiError       `json:"error"`
	ResultCode *int            `json:"result_code"`
	ErrorList  json.RawMessage `json:"error_list"`
	Msg        string          `json:"msg"`
}

type apiError struct {
	Code json.Number `json:"code"`
	Msg  string      `json:"msg"`
}

// decodeAnswer maps an answer to its data or a *market.CallError.
func decodeAnswer(path string, body []byte) (json.RawMessage, error) {
	var a answer
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("meituan: %s: unreadable answer: %w", path, err)
	}
	if a.Error != nil && a.Error.Code == "" {
		// Meituan's errors always carry a code: without one the answer is not Meituan's (a proxy, a
		// truncated body), so the call is retried rather than taken as refused.
		return nil, fmt.Errorf("meituan: %s: unreadable answer: an error without a code (%q)", path, a.Error.Msg)
	}
	if a.ResultCode != nil {
		switch *a.ResultCode {
		case 1:
			return a.Data, nil
		case 2, 3:
			failed := failedSKUs(a.ErrorList)
			msg := a.Msg
			if msg == "" {
				msg = fmt.Sprintf("%d SKUs refused", len(failed))
			}
			return nil, &market.CallError{Kind: market.ErrRefused, Code: "result_code " + strconv.Itoa(*a.ResultCode),
				Msg: msg, Failed: failed}
		}
		if a.Error == nil {
			return nil, &market.CallError{Code: "result_code " + strconv.Itoa(*a.ResultCode), Msg: a.Msg}
		}
	}
	if a.Error != nil {
		return nil, callError(a.Error)
	}
	if s := strings.TrimSpace(string(a.Data)); s == `"ng"` {
		return nil, &market.CallError{Kind: market.ErrRefused, Code: "ng", Msg: "refused without an error"}
	}
	return a.Data, nil
}

// callError maps one of Meituan's error codes to its kind.
func callError(e *apiError) *market.CallError {
	ce := &market.CallError{Code: e.Code.String(), Msg: e.Msg}
	code, _ := strconv.Atoi(e.Code.String())
	switch code {
	case CodeRateLimited:
		ce.Kind, ce.RetryAfter = market.ErrRateLimited, RateLimitWait
	case CodeNoApp, CodeSignature, CodeNoAPIAccess, CodeTokenExpired:
		ce.Kind = market.ErrAuth
	case CodeSystem:
		ce.Kind = nil
	default:
		ce.Kind = market.ErrRefused
	}
	return ce
}

// failedSKUs reads a retail batch's error_list (JSON, or JSON text) into code → reason.
func failedSKUs(raw json.RawMessage) map[string]string {
	raw = unquoteJSON(raw)
	var list []struct {
		AppSpuCode string      `json:"app_spu_code"`
		SkuID      string      `json:"sku_id"`
		Code       json.Number `json:"code"`
		Msg        string      `json:"msg"`
		ErrorMsg   string      `json:"error_msg"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &list) != nil {
		return nil
	}
	out := make(map[string]string, len(list))
	for _, e := range list {
		code := e.SkuID
		if code == "" {
			code = e.AppSpuCode
		}
		msg := e.Msg
		if msg == "" {
			msg = e.ErrorMsg
		}
		if e.Code != "" {
			msg = e.Code.String() + " " + msg
		}
		out[code] = msg
	}
	return out
}
