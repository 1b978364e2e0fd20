package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core"
)

// Config is the effective configuration of one o2ohub process. Every field can be set in the JSON file
// (by its json name) and overridden by the environment variable in its env tag.
//
// The field comments are the configuration reference: `go run ./config/gen` turns them, with the env
// tags, the defaults of Default and the secret tags, into docs/configuration.md, and a test fails when
// that file is out of date. Each comment starts with the field's name; what follows the name (and "is")
// is the table's meaning column. An empty tag says what an empty default means ("admin API off"); a
// secret tag says how `o2ohub config` masks the value ("true": all of it, "dsn": the password of a
// database URL, "key": a key pasted in place of a file path).
type Config struct {
	// Addr is the listen address of the HTTP server. With the sandbox on, where anyone who reaches the hub
	// can sign in as any phone number, the default is loopback only; listening on another address with the
	// sandbox on must be asked for here and is logged as a warning at every start.
	Addr string `json:"addr" env:"O2OHUB_ADDR" empty:"127.0.0.1:8080 with the sandbox on, :8080 (every interface) with it off"`
	// DB is the database: `sqlite:PATH` or a `postgres://…` URL.
	DB string `json:"db" env:"O2OHUB_DB" secret:"dsn"`
	// AdminToken is the bearer token of the admin API; with the sandbox off it must be at least 32
	// characters (`openssl rand -hex 32` makes one).
	AdminToken string `json:"admin_token" env:"O2OHUB_ADMIN_TOKEN" secret:"true" empty:"admin API off"`
	// PublicURL is the externally visible base URL: provider notify URLs and the URLs printed in QR codes
	// (`/q/CODE`) are built from it (for WeChat Pay: https, reachable from the internet; for Alipay:
	// reachable from the internet, https recommended).
	PublicURL string `json:"public_url" env:"O2OHUB_PUBLIC_URL" empty:"http://127.0.0.1:PORT, the port of O2OHUB_ADDR"`
	// Sandbox enables the built-in sandbox payment provider and login, the sandbox WeChat when no WeChat
	// app is configured and the sandbox Alipay when no Alipay app is configured; `false` in production
	// refuses them.
	Sandbox bool `json:"sandbox" env:"O2OHUB_SANDBOX"`
	// SandboxSecret is the HMAC-SHA256 key the sandbox provider signs its notifications with (`simulate`
	// reads it from the same `O2OHUB_DB`).
	SandboxSecret string `json:"sandbox_secret" env:"O2OHUB_SANDBOX_SECRET" secret:"true" empty:"a random key made once and kept in the database"`
	// OrderTTL is how long an order waits for payment before it expires and releases its stock.
	OrderTTL time.Duration `json:"order_ttl" env:"O2OHUB_ORDER_TTL"`
	// SessionTTL is how long a shopper session stays valid.
	SessionTTL time.Duration `json:"session_ttl" env:"O2OHUB_SESSION_TTL"`
	// DeliveryRadiusM is the farthest a delivery address may be from the store that serves it, in whole
	// metres.
	DeliveryRadiusM int `json:"delivery_radius_m" env:"O2OHUB_DELIVERY_RADIUS_M"`
	// ExpiryInterval is how often the background workers run: expiry of unpaid orders, re-routing orders
	// not accepted in time, expired pickup codes, refunds, payment checks, channel tasks, writing scan
	// counts, loyalty points maturing and expiring.
	ExpiryInterval time.Duration `json:"expiry_interval" env:"O2OHUB_EXPIRY_INTERVAL"`
	// TrustedProxies lists the proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-For` is believed
	// when telling clients apart (rate limits are per client address).
	TrustedProxies string `json:"trusted_proxies" env:"O2OHUB_TRUSTED_PROXIES" empty:"none trusted"`
	// LogLevel is the least level logged: `debug`, `info`, `warn` or `error`.
	LogLevel string `json:"log_level" env:"O2OHUB_LOG_LEVEL"`

	// WechatAppID is the AppID of the WeChat mini-program.
	WechatAppID string `json:"wechat_appid" env:"O2OHUB_WECHAT_APPID" empty:"WeChat off, or the sandbox WeChat when the sandbox is on"`
	// WechatSecret is the AppSecret of the mini-program, required with the AppID.
	WechatSecret string `json:"wechat_secret" env:"O2OHUB_WECHAT_SECRET" secret:"true"`
	// WechatAPIBase is the base URL of WeChat's mini-program API (change it only to go through a proxy).
	WechatAPIBase string `json:"wechat_api_base" env:"O2OHUB_WECHAT_API_BASE"`
	// WechatTemplateReady is the subscribe-message template sent when a pickup order is ready: `ID`, or
	// `ID|key=field,…` with fields order_no, store, address, items, amount, time, status (see
	// docs/wechat.md).
	WechatTemplateReady string `json:"wechat_template_ready" env:"O2OHUB_WECHAT_TEMPLATE_READY" empty:"not sent"`
	// WechatTemplateRefund is the subscribe-message template sent when a refund is done, in the same form
	// as `O2OHUB_WECHAT_TEMPLATE_READY`.
	WechatTemplateRefund string `json:"wechat_template_refund" env:"O2OHUB_WECHAT_TEMPLATE_REFUND" empty:"not sent"`
	// WechatTemplateMoved is the subscribe-message template sent when an order moves to another store, in
	// the same form as `O2OHUB_WECHAT_TEMPLATE_READY` (`ID` alone fills the keys of WeChat's "订单状态通知").
	WechatTemplateMoved string `json:"wechat_template_moved" env:"O2OHUB_WECHAT_TEMPLATE_MOVED" empty:"not sent"`
	// WechatOrderPage is the mini-program page a message opens, with `?order_no=NO`.
	WechatOrderPage string `json:"wechat_order_page" env:"O2OHUB_WECHAT_ORDER_PAGE"`
	// WechatScanPage is the mini-program page a shelf code's WeChat mini-program code opens, with the
	// short code as its `scene`.
	WechatScanPage string `json:"wechat_scan_page" env:"O2OHUB_WECHAT_SCAN_PAGE"`
	// WechatReferralPage is the mini-program page a member's shared referral opens, with `?ref=CODE`
	// (the `share_path` of `GET /api/v1/me/referral`).
	WechatReferralPage string `json:"wechat_referral_page" env:"O2OHUB_WECHAT_REFERRAL_PAGE"`
	// WechatLink is the link that opens the WeChat mini-program from a scan landing page seen outside
	// WeChat (a URL Link or URL Scheme made for the mini-program); `{code}` in it is replaced by the short
	// code.
	WechatLink string `json:"wechat_link" env:"O2OHUB_WECHAT_LINK" empty:"no button"`
	// AlipayLink is the link that opens the Alipay mini-program from a scan landing page (an
	// `alipays://platformapi/startapp?appId=…` or https link); `{code}` in it is replaced by the short code.
	AlipayLink string `json:"alipay_link" env:"O2OHUB_ALIPAY_LINK" empty:"no button, no redirect"`
	// ScanRate is how many scans a second one client address may make on `/q/…` and `/api/v1/scan/…`
	// (bursts of five times that); `0` turns the limit off. It may be a fraction (0.5: one scan every two
	// seconds).
	ScanRate float64 `json:"scan_rate" env:"O2OHUB_SCAN_RATE"`
	// TraceScanLimit is how many different scanners a unit trace code may have before its scans warn of a
	// copied label (a whole number, at least 1).
	TraceScanLimit int `json:"trace_scan_limit" env:"O2OHUB_TRACE_SCAN_LIMIT"`
	// AcceptTimeout is how long a store has to accept a paid order before it moves to the next store.
	AcceptTimeout time.Duration `json:"accept_timeout" env:"O2OHUB_ACCEPT_TIMEOUT"`
	// RerouteRadiusM is how far, in whole metres, from the store the shopper chose a pickup order may move
	// when re-routed; a delivery may move to any store within `O2OHUB_DELIVERY_RADIUS_M` of its address.
	RerouteRadiusM int `json:"reroute_radius_m" env:"O2OHUB_REROUTE_RADIUS_M"`
	// PickupTTL is how long a pickup code stays valid; an order not collected by then is refunded and its
	// stock goes back.
	PickupTTL time.Duration `json:"pickup_ttl" env:"O2OHUB_PICKUP_TTL"`
	// PickupFailLimit is how many wrong pickup codes one clerk may type in a row before the counter
	// answers 429; a store's clerks together may type four times as many. One wrong code is forgiven a
	// minute, so an honest counter waits a minute at most, and a scanned QR code is never held up (see
	// [Limits](operations.md#limits)).
	PickupFailLimit int `json:"pickup_fail_limit" env:"O2OHUB_PICKUP_FAIL_LIMIT"`
	// PasswordCost is the bcrypt cost of staff passwords, 10-16 (lower, down to 4, only with the sandbox,
	// for fast tests).
	PasswordCost int `json:"password_cost" env:"O2OHUB_PASSWORD_COST"`
	// StaffSessionTTL is how long a console sign-in or a store API token lasts.
	StaffSessionTTL time.Duration `json:"staff_session_ttl" env:"O2OHUB_STAFF_SESSION_TTL"`
	// WechatPayMchID is the WeChat Pay merchant ID (商户号); it needs `O2OHUB_WECHAT_APPID`.
	WechatPayMchID string `json:"wechatpay_mchid" env:"O2OHUB_WECHATPAY_MCHID" empty:"WeChat Pay off"`
	// WechatPaySerial is the serial number of the merchant API certificate.
	WechatPaySerial string `json:"wechatpay_serial" env:"O2OHUB_WECHATPAY_SERIAL"`
	// WechatPayPrivateKey is the path of the merchant API private key, PEM (`apiclient_key.pem`; the file
	// is secret), or the PEM text itself.
	WechatPayPrivateKey string `json:"wechatpay_private_key" env:"O2OHUB_WECHATPAY_PRIVATE_KEY" secret:"key"`
	// WechatPayPublicKeyID is the ID of the WeChat Pay public key (`PUB_KEY_ID_…`) that verifies WeChat
	// Pay's answers and notifications.
	WechatPayPublicKeyID string `json:"wechatpay_public_key_id" env:"O2OHUB_WECHATPAY_PUBLIC_KEY_ID"`
	// WechatPayPublicKey is the path of the WeChat Pay public key, PEM; set together with its ID.
	WechatPayPublicKey string `json:"wechatpay_public_key" env:"O2OHUB_WECHATPAY_PUBLIC_KEY"`
	// WechatPayPlatformCerts also accepts signatures of the platform certificates, downloaded with the
	// APIv3 key at start and every 12 hours: for merchants not yet migrated to the public key, or
	// migrating.
	WechatPayPlatformCerts bool `json:"wechatpay_platform_certs" env:"O2OHUB_WECHATPAY_PLATFORM_CERTS"`
	// WechatPayAPIv3Key is the 32-character APIv3 key that decrypts notifications.
	WechatPayAPIv3Key string `json:"wechatpay_apiv3_key" env:"O2OHUB_WECHATPAY_APIV3_KEY" secret:"true"`
	// WechatPayBase is the base URL of the WeChat Pay API (change it only to go through a proxy).
	WechatPayBase string `json:"wechatpay_base" env:"O2OHUB_WECHATPAY_BASE"`

	// AlipayAppID is the APPID of the Alipay mini-program.
	AlipayAppID string `json:"alipay_appid" env:"O2OHUB_ALIPAY_APPID" empty:"Alipay off, or the sandbox Alipay when the sandbox is on"`
	// AlipayPrivateKey is the path of the app private key (应用私钥; the file is secret), or the key itself
	// (PEM or bare base64); required with the APPID.
	AlipayPrivateKey string `json:"alipay_private_key" env:"O2OHUB_ALIPAY_PRIVATE_KEY" secret:"key"`
	// AlipayPublicKey is the path of the Alipay public key (支付宝公钥, PEM or bare base64), in public-key
	// mode.
	AlipayPublicKey string `json:"alipay_public_key" env:"O2OHUB_ALIPAY_PUBLIC_KEY"`
	// AlipayAppCert is the path of the app public-key certificate (`appCertPublicKey_APPID.crt`), in
	// certificate mode.
	AlipayAppCert string `json:"alipay_app_cert" env:"O2OHUB_ALIPAY_APP_CERT"`
	// AlipayRootCert is the path of the Alipay root certificate (`alipayRootCert.crt`), in certificate
	// mode.
	AlipayRootCert string `json:"alipay_root_cert" env:"O2OHUB_ALIPAY_ROOT_CERT"`
	// AlipayPublicCert is the path of the Alipay public-key certificate (`alipayCertPublicKey_RSA2.crt`),
	// in certificate mode.
	AlipayPublicCert string `json:"alipay_public_cert" env:"O2OHUB_ALIPAY_PUBLIC_CERT"`
	// AlipayAESKey is the app's AES content-encryption key, base64 (接口内容加密方式), needed to read phone
	// numbers: it decrypts `my.getPhoneNumber`'s response.
	AlipayAESKey string `json:"alipay_aes_key" env:"O2OHUB_ALIPAY_AES_KEY" secret:"true" empty:"phone binding off"`
	// AlipaySellerID is the merchant's PID (`2088…`); when set, notifications for another seller are
	// refused.
	AlipaySellerID string `json:"alipay_seller_id" env:"O2OHUB_ALIPAY_SELLER_ID" empty:"not checked"`
	// AlipayGateway is the Alipay gateway URL (change it only to go through a proxy).
	AlipayGateway string `json:"alipay_gateway" env:"O2OHUB_ALIPAY_GATEWAY"`

	// MeituanAppID is the app id of our Meituan Flash Buy (美团闪购) developer app.
	MeituanAppID string `json:"meituan_app_id" env:"O2OHUB_MEITUAN_APP_ID" empty:"Meituan off, or the sandbox Meituan when the sandbox is on"`
	// MeituanAppSecret is the app secret Meituan signs with.
	MeituanAppSecret string `json:"meituan_app_secret" env:"O2OHUB_MEITUAN_APP_SECRET" secret:"true"`
	// MeituanBase is the base URL of Meituan's open API.
	MeituanBase string `json:"meituan_base" env:"O2OHUB_MEITUAN_BASE"`
	// ElemeSource is the source (app id) of our Ele.me retail (饿了么零售) app.
	ElemeSource string `json:"eleme_source" env:"O2OHUB_ELEME_SOURCE" empty:"Ele.me off, or the sandbox Ele.me when the sandbox is on"`
	// ElemeSecret is the secret Ele.me signs with.
	ElemeSecret string `json:"eleme_secret" env:"O2OHUB_ELEME_SECRET" secret:"true"`
	// ElemeBase is the URL of Ele.me's open API.
	ElemeBase string `json:"eleme_base" env:"O2OHUB_ELEME_BASE"`
	// JDDJAppKey is the app key of our JD Daojia (京东到家) app.
	JDDJAppKey string `json:"jddj_app_key" env:"O2OHUB_JDDJ_APP_KEY" empty:"JD Daojia off, or the sandbox JD Daojia when the sandbox is on"`
	// JDDJAppSecret is the app secret JD signs with.
	JDDJAppSecret string `json:"jddj_app_secret" env:"O2OHUB_JDDJ_APP_SECRET" secret:"true"`
	// JDDJToken is the merchant's authorisation token.
	JDDJToken string `json:"jddj_token" env:"O2OHUB_JDDJ_TOKEN" secret:"true"`
	// JDDJOperator is the operator (operPin, userPin) JD's calls name.
	JDDJOperator string `json:"jddj_operator" env:"O2OHUB_JDDJ_OPERATOR"`
	// JDDJBase is the base URL of JD Daojia's open API.
	JDDJBase string `json:"jddj_base" env:"O2OHUB_JDDJ_BASE"`
	// MarketPushWindow is how far a platform push's signed time may be from now; 0 turns the check off.
	MarketPushWindow time.Duration `json:"market_push_window" env:"O2OHUB_MARKET_PUSH_WINDOW"`
	// MarketFullSync is how often every platform shop is told every stock level again, to heal drift.
	MarketFullSync time.Duration `json:"market_full_sync" env:"O2OHUB_MARKET_FULL_SYNC"`
	// MarketPull is how often each platform shop's recent orders are pulled, to find orders whose push
	// was lost.
	MarketPull time.Duration `json:"market_pull" env:"O2OHUB_MARKET_PULL"`
	// MarketPushInterval is how often changed stock is pushed to the platforms (changes within it are
	// coalesced into one value per shop and SKU) and how soon a store's decision (confirm, reject,
	// packed) is sent to its platform.
	MarketPushInterval time.Duration `json:"market_push_interval" env:"O2OHUB_MARKET_PUSH_INTERVAL"`
	// EventRetention is how long delivered events and webhook deliveries are kept before they are pruned
	// (dead letters are kept until they are retried or deleted).
	EventRetention time.Duration `json:"event_retention" env:"O2OHUB_EVENT_RETENTION"`
	// WebhookAllowPrivate lets webhook endpoints be on loopback, private and IPv6 link-local addresses (an
	// ERP on the company network, or `o2ohub webhooks listen` on your machine). Off, such URLs are refused
	// when set and again at every delivery; cloud metadata addresses (all of 169.254.0.0/16 among them)
	// are refused either way.
	WebhookAllowPrivate bool `json:"webhook_allow_private" env:"O2OHUB_WEBHOOK_ALLOW_PRIVATE"`
	// PointsTTL is how long loyalty points stay available before they expire, in whole days (8760h is
	// 365 days): the default of the loyalty settings' expiry_days until an admin changes them.
	PointsTTL time.Duration `json:"points_ttl" env:"O2OHUB_POINTS_TTL"`
	// PointsHold is how long points earned by an order stay pending after it is completed or delivered,
	// in whole days (168h is 7 days): the default of the loyalty settings' hold_days.
	PointsHold time.Duration `json:"points_hold" env:"O2OHUB_POINTS_HOLD"`
	// CampaignRate is how many campaign subscribe messages a second the hub sends on one mini-program,
	// all replicas together (bursts of one second's worth); the rest wait their turn in the task outbox.
	CampaignRate float64 `json:"campaign_rate" env:"O2OHUB_CAMPAIGN_RATE"`
}

// Default returns the configuration that runs the embedded sandbox on a fresh machine.
// The business settings (order and session lifetimes, radii, limits) take core's defaults, their one
// source.
func Default() Config {
	biz := core.DefaultOptions()
	return Config{
		DB:                 "sqlite:o2ohub.db",
		Sandbox:            true,
		OrderTTL:           biz.OrderTTL,
		SessionTTL:         biz.SessionTTL,
		DeliveryRadiusM:    int(biz.DeliveryRadiusM),
		ExpiryInterval:     10 * time.Second,
		LogLevel:           "info",
		WechatAPIBase:      "https://api.weixin.qq.com",
		WechatOrderPage:    "pages/order/detail",
		WechatScanPage:     "pages/scan/index",
		WechatReferralPage: "pages/index/index",
		TraceScanLimit:     int(biz.TraceScanLimit),
		ScanRate:           10,
		AcceptTimeout:      biz.AcceptTimeout,
		RerouteRadiusM:     int(biz.RerouteRadiusM),
		PickupTTL:          biz.PickupTTL,
		PickupFailLimit:    biz.PickupFailLimit,
		StaffSessionTTL:    biz.StaffSessionTTL,
		PasswordCost:       biz.PasswordCost,
		WechatPayBase:      "https://api.mch.weixin.qq.com",
		AlipayGateway:      "https://openapi.alipay.com/gateway.do",
		MeituanBase:        "https://waimaiopen.meituan.com/api/v1",
		ElemeBase:          "https://api-be.ele.me/",
		JDDJBase:           "https://openapi.jddj.com/djapi",
		MarketPushWindow:   biz.MarketPushWindow,
		MarketFullSync:     biz.Market.FullSync,
		MarketPull:         biz.Market.PullInterval,
		MarketPushInterval: biz.Market.PushInterval,
		EventRetention:     biz.Events.Retention,
		PointsTTL:          biz.Loyalty.TTL,
		PointsHold:         biz.Loyalty.Hold,
		CampaignRate:       biz.CampaignRate,
	}
}

// Load builds the configuration: defaults, then the JSON file at path (when path is not empty), then the
// environment read through getenv. It returns an error naming the first bad value.
func Load(path string, getenv func(string) string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config file: %w", err)
		}
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		var fc fileConfig
		if err := dec.Decode(&fc); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
		if err := fc.apply(&cfg); err != nil {
			return cfg, fmt.Errorf("config file %s: %w", path, err)
		}
	}
	v := reflect.ValueOf(&cfg).Elem()
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name := t.Field(i).Tag.Get("env")
		raw, ok := lookup(getenv, name)
		if !ok {
			continue
		}
		if err := setField(v.Field(i), raw); err != nil {
			return cfg, fmt.Errorf("%s: %w", name, err)
		}
	}
	if cfg.Addr == "" {
		cfg.Addr = defaultAddr(cfg.Sandbox)
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = defaultPublicURL(cfg.Addr)
	}
	return cfg, cfg.Validate()
}

func lookup(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// fileConfig holds the file's values as raw JSON so durations can be written as "15m".
type fileConfig map[string]json.RawMessage

func (fc fileConfig) apply(cfg *Config) error {
	v := reflect.ValueOf(cfg).Elem()
	t := v.Type()
	known := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		known[t.Field(i).Tag.Get("json")] = i
	}
	for k, raw := range fc {
		i, ok := known[k]
		if !ok {
			return fmt.Errorf("unknown setting %q", k)
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			s = string(raw) // numbers and booleans
		}
		if err := setField(v.Field(i), s); err != nil {
			return fmt.Errorf("%s (%s): %w", k, t.Field(i).Tag.Get("env"), err)
		}
	}
	return nil
}

func setField(f reflect.Value, raw string) error {
	raw = strings.TrimSpace(raw)
	switch f.Interface().(type) {
	case string:
		f.SetString(raw)
	case bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", raw)
		}
		f.SetBool(b)
	case time.Duration:
		d, err := time.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("want a duration such as 15m, got %q", raw)
		}
		f.SetInt(int64(d))
	case float64:
		x, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", raw)
		}
		f.SetFloat(x)
	case int:
		n, err := parseWhole(raw)
		if err != nil {
			return err
		}
		f.SetInt(int64(n))
	default:
		return fmt.Errorf("unsupported setting type %s", f.Type())
	}
	return nil
}

// parseWhole reads an integer setting. Besides plain integers it takes what such settings took when they
// were read as numbers (5000.0, 1e4), as long as the value is whole.
func parseWhole(raw string) (int, error) {
	if n, err := strconv.Atoi(raw); err == nil {
		return n, nil
	}
	x, err := strconv.ParseFloat(raw, 64)
	if err != nil || x != math.Trunc(x) || math.Abs(x) > 1<<53 {
		return 0, fmt.Errorf("want a whole number, got %q", raw)
	}
	return int(x), nil
}

// defaultAddr is the listen address when O2OHUB_ADDR is not set: loopback only while the sandbox is on,
// every interface when it is off.
func defaultAddr(sandbox bool) string {
	if sandbox {
		return "127.0.0.1:8080"
	}
	return ":8080"
}

// SandboxExposed reports whether the sandbox is on and the hub listens beyond loopback, where anyone on
// the network can sign in as any phone number and take over that member.
func (c Config) SandboxExposed() bool {
	if !c.Sandbox {
		return false
	}
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return true
	}
	if host == "localhost" {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

func defaultPublicURL(addr string) string {
	host, port, ok := strings.Cut(addr, ":")
	if !ok {
		return "http://127.0.0.1:8080"
	}
	if host == "" || host == "0.0.0.0" || host == "[::]" {
		host = "127.0.0.1"
	}
	return "http://" + host + ":" + port
}

// MinAdminToken is the shortest admin token accepted with the sandbox off: 32 characters are far beyond
// guessing, even without the limit on wrong tokens.
const MinAdminToken = 32

// Validate reports the first setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Addr == "" {
		errs = append(errs, errors.New("O2OHUB_ADDR is empty"))
	}
	if !strings.HasPrefix(c.DB, "sqlite:") && !strings.HasPrefix(c.DB, "postgres://") && !strings.HasPrefix(c.DB, "postgresql://") {
		errs = append(errs, errors.New("O2OHUB_DB must be sqlite:PATH or a postgres:// URL"))
	}
	if u, err := url.Parse(c.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("O2OHUB_PUBLIC_URL must be an http(s) URL, got %q", c.PublicURL))
	}
	if c.OrderTTL < time.Minute {
		errs = append(errs, errors.New("O2OHUB_ORDER_TTL must be at least 1m"))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, errors.New("O2OHUB_SESSION_TTL must be at least 1m"))
	}
	if c.ExpiryInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("O2OHUB_EXPIRY_INTERVAL must be at least 100ms"))
	}
	if c.DeliveryRadiusM <= 0 {
		errs = append(errs, errors.New("O2OHUB_DELIVERY_RADIUS_M must be positive"))
	}
	if c.EventRetention < time.Hour {
		errs = append(errs, errors.New("O2OHUB_EVENT_RETENTION must be at least 1h"))
	}
	for _, p := range c.ProxyList() {
		if net.ParseIP(p) == nil {
			if _, _, err := net.ParseCIDR(p); err != nil {
				errs = append(errs, fmt.Errorf("O2OHUB_TRUSTED_PROXIES: %q is not an IP or CIDR", p))
			}
		}
	}
	if c.WechatPayMchID != "" {
		if c.WechatAppID == "" {
			errs = append(errs, errors.New("O2OHUB_WECHATPAY_MCHID needs O2OHUB_WECHAT_APPID: payments belong to a mini-program"))
		}
		if c.WechatPaySerial == "" || c.WechatPayPrivateKey == "" {
			errs = append(errs, errors.New("WeChat Pay needs O2OHUB_WECHATPAY_SERIAL and O2OHUB_WECHATPAY_PRIVATE_KEY"))
		}
		if len(c.WechatPayAPIv3Key) != 32 {
			errs = append(errs, errors.New("O2OHUB_WECHATPAY_APIV3_KEY must be the 32-character APIv3 key"))
		}
		if (c.WechatPayPublicKeyID == "") != (c.WechatPayPublicKey == "") {
			errs = append(errs, errors.New("O2OHUB_WECHATPAY_PUBLIC_KEY_ID and O2OHUB_WECHATPAY_PUBLIC_KEY go together"))
		}
		if c.WechatPayPublicKey == "" && !c.WechatPayPlatformCerts {
			errs = append(errs, errors.New("WeChat Pay needs O2OHUB_WECHATPAY_PUBLIC_KEY_ID/O2OHUB_WECHATPAY_PUBLIC_KEY or O2OHUB_WECHATPAY_PLATFORM_CERTS=true"))
		}
	}
	if c.WechatAppID != "" && c.WechatSecret == "" {
		errs = append(errs, errors.New("O2OHUB_WECHAT_APPID needs O2OHUB_WECHAT_SECRET"))
	}
	if c.AlipayAppID != "" {
		certs := c.AlipayAppCert != "" || c.AlipayRootCert != "" || c.AlipayPublicCert != ""
		switch {
		case c.AlipayPrivateKey == "":
			errs = append(errs, errors.New("O2OHUB_ALIPAY_APPID needs O2OHUB_ALIPAY_PRIVATE_KEY"))
		case certs && (c.AlipayAppCert == "" || c.AlipayRootCert == "" || c.AlipayPublicCert == ""):
			errs = append(errs, errors.New("Alipay certificate mode needs O2OHUB_ALIPAY_APP_CERT, O2OHUB_ALIPAY_ROOT_CERT and O2OHUB_ALIPAY_PUBLIC_CERT"))
		case certs && c.AlipayPublicKey != "":
			errs = append(errs, errors.New("set O2OHUB_ALIPAY_PUBLIC_KEY (public-key mode) or the Alipay certificates (certificate mode), not both"))
		case !certs && c.AlipayPublicKey == "":
			errs = append(errs, errors.New("Alipay needs O2OHUB_ALIPAY_PUBLIC_KEY (public-key mode) or O2OHUB_ALIPAY_APP_CERT, O2OHUB_ALIPAY_ROOT_CERT and O2OHUB_ALIPAY_PUBLIC_CERT (certificate mode)"))
		}
	}
	for _, p := range c.platformSettings() {
		var set, missing []string
		for _, f := range p.fields {
			if *f.v != "" {
				set = append(set, f.env)
			} else {
				missing = append(missing, f.env)
			}
		}
		if len(set) > 0 && len(missing) > 0 {
			errs = append(errs, fmt.Errorf("%s is half configured: %s set, %s missing", p.name, strings.Join(set, ", "), strings.Join(missing, ", ")))
		}
	}
	if c.MarketPushWindow < 0 || c.MarketFullSync <= 0 || c.MarketPull <= 0 || c.MarketPushInterval <= 0 {
		errs = append(errs, errors.New("O2OHUB_MARKET_FULL_SYNC, O2OHUB_MARKET_PULL and O2OHUB_MARKET_PUSH_INTERVAL must be positive, O2OHUB_MARKET_PUSH_WINDOW 0 or more"))
	}
	if c.RealProviders() {
		if c.Sandbox {
			errs = append(errs, errors.New("O2OHUB_SANDBOX must be false when a real WeChat or Alipay app is configured: the sandbox lets anyone bind any phone and pay without money"))
		}
		if u, err := url.Parse(c.PublicURL); err == nil && !publicHTTPS(u) {
			errs = append(errs, fmt.Errorf("O2OHUB_PUBLIC_URL must be the public https URL the providers send notifications to (no query, not localhost or a private address), got %q", c.PublicURL))
		}
	}
	for name, base := range map[string]string{"O2OHUB_WECHAT_API_BASE": c.WechatAPIBase, "O2OHUB_WECHATPAY_BASE": c.WechatPayBase, "O2OHUB_ALIPAY_GATEWAY": c.AlipayGateway} {
		if u, err := url.Parse(base); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL, got %q", name, base))
		}
	}
	for name, link := range map[string]string{"O2OHUB_WECHAT_LINK": c.WechatLink, "O2OHUB_ALIPAY_LINK": c.AlipayLink} {
		if u, err := url.Parse(link); link != "" && (err != nil || !map[string]bool{"https": true, "http": true, "weixin": true, "alipays": true, "alipay": true}[u.Scheme]) {
			errs = append(errs, fmt.Errorf("%s must be an https://, weixin:// or alipays:// link, got %q", name, link))
		}
	}
	if !c.Sandbox && c.AdminToken != "" && len(c.AdminToken) < MinAdminToken {
		errs = append(errs, fmt.Errorf("O2OHUB_ADMIN_TOKEN must be at least %d characters with the sandbox off (it has %d); make one with `openssl rand -hex 32`", MinAdminToken, len(c.AdminToken)))
	}
	if c.TraceScanLimit < 1 {
		errs = append(errs, errors.New("O2OHUB_TRACE_SCAN_LIMIT must be a whole number of at least 1"))
	}
	if c.PickupFailLimit < 1 {
		errs = append(errs, errors.New("O2OHUB_PICKUP_FAIL_LIMIT must be a whole number of at least 1"))
	}
	for name, d := range map[string]time.Duration{"O2OHUB_ACCEPT_TIMEOUT": c.AcceptTimeout, "O2OHUB_PICKUP_TTL": c.PickupTTL, "O2OHUB_STAFF_SESSION_TTL": c.StaffSessionTTL} {
		if d < time.Second {
			errs = append(errs, fmt.Errorf("%s must be a duration of at least 1s, got %s", name, d))
		}
	}
	if min := map[bool]int{true: 4, false: 10}[c.Sandbox]; c.PasswordCost < min || c.PasswordCost > 16 {
		errs = append(errs, fmt.Errorf("O2OHUB_PASSWORD_COST must be a whole number from %d to 16", min))
	}
	for name, d := range map[string]time.Duration{"O2OHUB_POINTS_TTL": c.PointsTTL, "O2OHUB_POINTS_HOLD": c.PointsHold} {
		if d < 24*time.Hour || d%(24*time.Hour) != 0 {
			errs = append(errs, fmt.Errorf("%s must be a whole number of days of at least one (24h, 168h, 8760h …), got %s", name, d))
		}
	}
	if c.CampaignRate < 0.01 || c.CampaignRate > 10000 {
		errs = append(errs, fmt.Errorf("O2OHUB_CAMPAIGN_RATE must be between 0.01 and 10000 (messages a second), got %g", c.CampaignRate))
	}
	if c.RerouteRadiusM < 1 {
		errs = append(errs, errors.New("O2OHUB_REROUTE_RADIUS_M must be at least 1 (metres)"))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("O2OHUB_LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel))
	}
	return errors.Join(errs...)
}

// LooksLikeKey reports whether a key setting holds the key itself (PEM text, or the bare base64 that
// Alipay's key tool prints) rather than the path of a file.
func LooksLikeKey(v string) bool {
	return strings.Contains(v, "-----BEGIN") || (len(v) > 200 && !strings.ContainsAny(v, "/\\"))
}

// RealProviders reports whether a real WeChat or Alipay app, or a real platform, is configured.
func (c Config) RealProviders() bool {
	return c.WechatAppID != "" || c.AlipayAppID != "" || c.MeituanAppID != "" || c.ElemeSource != "" || c.JDDJAppKey != ""
}

type setting struct {
	env string
	v   *string
}

// platformSettings lists, per platform, the settings that must be set together.
func (c *Config) platformSettings() []struct {
	name   string
	fields []setting
} {
	return []struct {
		name   string
		fields []setting
	}{
		{"Meituan", []setting{{"O2OHUB_MEITUAN_APP_ID", &c.MeituanAppID}, {"O2OHUB_MEITUAN_APP_SECRET", &c.MeituanAppSecret}}},
		{"Ele.me", []setting{{"O2OHUB_ELEME_SOURCE", &c.ElemeSource}, {"O2OHUB_ELEME_SECRET", &c.ElemeSecret}}},
		{"JD Daojia", []setting{{"O2OHUB_JDDJ_APP_KEY", &c.JDDJAppKey}, {"O2OHUB_JDDJ_APP_SECRET", &c.JDDJAppSecret},
			{"O2OHUB_JDDJ_TOKEN", &c.JDDJToken}, {"O2OHUB_JDDJ_OPERATOR", &c.JDDJOperator}}},
	}
}

// publicHTTPS reports whether u can be a provider's notify URL base: https, no query, and a host that is
// not loopback or private.
func publicHTTPS(u *url.URL) bool {
	if u.Scheme != "https" || u.RawQuery != "" || u.Host == "" {
		return false
	}
	host := u.Hostname()
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return false
	}
	if ip := net.ParseIP(host); ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast()) {
		return false
	}
	return true
}

// Redacted returns the configuration as environment-variable lines, secrets masked, for `o2ohub config`.
func (c Config) Redacted() []string {
	v := reflect.ValueOf(c)
	t := v.Type()
	var out []string
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		val := fmt.Sprint(v.Field(i).Interface())
		switch f.Tag.Get("secret") {
		case "true":
			if val != "" {
				val = "****"
			}
		case "dsn":
			val = MaskDSN(val)
		case "key":
			if LooksLikeKey(val) {
				val = "****"
			}
		}
		out = append(out, f.Tag.Get("env")+"="+val)
	}
	return out
}

// MaskDSN hides the password of a database URL.
func MaskDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		return "****"
	}
	q := u.Query()
	if q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// ProxyList returns TrustedProxies as a list.
func (c Config) ProxyList() []string {
	var out []string
	for _, p := range strings.Split(c.TrustedProxies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
