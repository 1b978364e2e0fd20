package eleme

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/internal/callopts"
	"github.com/o2ohub/o2ohub/integrations/internal/jsonx"
)

// DefaultBase is Ele.me retail's API endpoint; every command is POSTed to it.
const DefaultBase = "https://api-be.ele.me/"

// callTimeout bounds one call, whatever the caller's context says.
const callTimeout = 15 * time.Second

// maxAnswer caps how much of an answer is read.
const maxAnswer = 4 << 20

// Error numbers. Ele.me answers errno 0 for success and another number for a failure; the table of its
// numbers is not public, so the connector reads the class of a failure from the numbers below and from
// the words of the error text (see classify). The fake answers with these numbers.
const (
	// ErrnoRefused is a business refusal (wrong state, unknown order or shop, bad parameter) [?].
	ErrnoRefused = 1
	// ErrnoAuth is a refused signature, source or token [?].
	ErrnoAuth = 401
	// ErrnoRateLimited is a call over the platform's rate limit [?].
	ErrnoRateLimited = 429
	// ErrnoSystem is a failure on the platform's side; the call may be retried [?].
	ErrnoSystem = 500
	// ErrnoSKUFailed is sku.stock.update.batch refusing some SKUs (商品不存在 …) while taking the others:
	// its error text is JSON {"failed_list":[{"custom_sku_id","error_no","error_msg"}]} [seen].
	ErrnoSKUFailed = 500001
)

// rateLimitWait is how long to wait after a rate-limit refusal: Ele.me says none [?].
const rateLimitWait = time.Minute

// Config is what the connector needs to speak for one Ele.me app.
type Config struct {
	// Source is our app id (source); Secret its secret, which is signed but never sent.
	Source string
	Secret string
	// Base is the endpoint (default DefaultBase); the fake's URL in tests and the sandbox.
	Base string
	// HTTPClient makes the calls (default: a client with a 15 s timeout).
	HTTPClient *http.Client
	// Clock stamps requests and replies (default time.Now).
	Clock func() time.Time
}

// Client is the Ele.me retail connector. It is safe for concurrent use.
type Client struct {
	source, secret, base string
	hc                   *http.Client
	now                  func() time.Time
}

var _ market.Connector = (*Client)(nil)

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.Source == "" || cfg.Secret == "" {
		return nil, errors.New("eleme: source and secret are required")
	}
	base, err := callopts.Base("eleme", cfg.Base, DefaultBase)
	if err != nil {
		return nil, err
	}
	return &Client{source: cfg.Source, secret: cfg.Secret, base: base, hc: callopts.Client(cfg.HTTPClient, callTimeout), now: callopts.Clock(cfg.Clock)}, nil
}

// Platform returns market.Eleme.
func (c *Client) Platform() string { return market.Eleme }

// jsonText writes v as compact JSON without HTML escaping: the text that is signed and sent.
func jsonText(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// answer is Ele.me's reply to a call.
type answer struct {
	Cmd  string `json:"cmd"`
	Body struct {
		Errno num             `json:"errno"`
		Error string          `json:"error"`
		Data  json.RawMessage `json:"data"`
	} `json:"body"`
}

// call posts cmd with params and decodes the answer's data into out (when out is not nil).
func (c *Client) call(ctx context.Context, cmd string, params, out any) error {
	body, err := jsonText(params)
	if err != nil {
		return fmt.Errorf("eleme %s: encode: %w", cmd, err)
	}
	e := Envelope{Cmd: cmd, Body: body, Source: c.source, Ticket: NewTicket(),
		Timestamp: strconv.FormatInt(c.now().Unix(), 10), Version: Version}
	e.Sign = Sign(c.secret, e)
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base, strings.NewReader(e.Form().Encode()))
	if err != nil {
		return fmt.Errorf("eleme %s: %w", cmd, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("eleme %s: %w", cmd, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return fmt.Errorf("eleme %s: read answer: %w", cmd, err)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return &market.CallError{Kind: market.ErrRateLimited, Code: "http 429", Msg: "too many requests", RetryAfter: rateLimitWait}
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("eleme %s: http status %d", cmd, resp.StatusCode)
	}
	var a answer
	if err := json.Unmarshal(raw, &a); err != nil {
		return fmt.Errorf("eleme %s: answer is not an envelope: %w", cmd, err)
	}
	if a.Body.Errno != 0 {
		return classify(int64(a.Body.Errno), a.Body.Error)
	}
	if out != nil {
		if len(a.Body.Data) == 0 || string(a.Body.Data) == "null" {
			return fmt.Errorf("eleme %s: answer has no data", cmd)
		}
		if err := json.Unmarshal(a.Body.Data, out); err != nil {
			return fmt.Errorf("eleme %s: answer data: %w", cmd, err)
		}
	}
	return nil
}

// Words of error texts that say what kind of failure an unknown errno is (lowercased).
const (
	authWords   = "sign|签名|source|token|授权|权限|secret"
	rateWords   = "limit|频率|限流|频繁|too many|frequen"
	systemWords = "system error|系统错误|系统异常|服务繁忙|busy|timeout|超时"
)

// hasWord reports whether s holds one of the "|"-separated words.
func hasWord(s, words string) bool {
	s = strings.ToLower(s)
	for _, w := range strings.Split(words, "|") {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// classify turns a failure answer into a *market.CallError: ErrAuth, ErrRateLimited, ErrRefused, or a
// transient failure (Kind nil). The numbers above decide first, then the words of the text.
func classify(errno int64, msg string) error {
	ce := &market.CallError{Code: strconv.FormatInt(errno, 10), Msg: msg}
	switch {
	case errno == ErrnoSKUFailed:
		ce.Kind = market.ErrRefused
		var f struct {
			FailedList []struct {
				CustomSKUID str    `json:"custom_sku_id"`
				ErrorNo     str    `json:"error_no"`
				ErrorMsg    string `json:"error_msg"`
			} `json:"failed_list"`
		}
		if json.Unmarshal([]byte(msg), &f) == nil && len(f.FailedList) > 0 {
			ce.Failed = map[string]string{}
			for _, x := range f.FailedList {
				ce.Failed[string(x.CustomSKUID)] = strings.TrimSpace(string(x.ErrorNo) + " " + x.ErrorMsg)
			}
		}
	case errno == ErrnoAuth:
		ce.Kind = market.ErrAuth
	case errno == ErrnoRateLimited:
		ce.Kind, ce.RetryAfter = market.ErrRateLimited, rateLimitWait
	case errno == ErrnoSystem:
		ce.Kind = nil
	case hasWord(msg, rateWords):
		ce.Kind, ce.RetryAfter = market.ErrRateLimited, rateLimitWait
	case hasWord(msg, authWords):
		ce.Kind = market.ErrAuth
	case hasWord(msg, systemWords):
		ce.Kind = nil
	default:
		ce.Kind = market.ErrRefused
	}
	return ce
}

// num is an integer Ele.me writes as a JSON number or as a string of digits; null and "" are 0.
type num int64

// UnmarshalJSON reads a number or a quoted number.
func (n *num) UnmarshalJSON(b []byte) error {
	s := string(b)
	if s == "null" {
		*n = 0
		return nil
	}
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
		if s == "" {
			*n = 0
			return nil
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("%q is not an integer", s)
	}
	*n = num(v)
	return nil
}

// str reads a JSON string or number as its text, for fields the platform writes either way.
type str = jsonx.Text
