package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestDefaultsRunTheSandbox(t *testing.T) {
	cfg, err := Load("", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:8080" || cfg.DB != "sqlite:o2ohub.db" || !cfg.Sandbox || cfg.OrderTTL != 15*time.Minute || cfg.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o2ohub.json")
	os.WriteFile(path, []byte(`{"addr":":9000","order_ttl":"20m","sandbox":false,"admin_token":"from-file-0123456789abcdef0123456789"}`), 0o600)
	cfg, err := Load(path, env(map[string]string{"O2OHUB_ADDR": "127.0.0.1:7000", "O2OHUB_DB": "postgres://u:pw@db/o2o?password=hunter2", "O2OHUB_PUBLIC_URL": "https://hub.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7000" || cfg.OrderTTL != 20*time.Minute || cfg.Sandbox || cfg.AdminToken != "from-file-0123456789abcdef0123456789" || cfg.PublicURL != "https://hub.example.com" {
		t.Fatalf("cfg = %+v", cfg)
	}
	out := strings.Join(cfg.Redacted(), "\n")
	for _, secret := range []string{"from-file", "pw@", "hunter2"} {
		if strings.Contains(out, secret) {
			t.Fatalf("redacted config shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "O2OHUB_ADMIN_TOKEN=****") || !strings.Contains(out, "O2OHUB_ADDR=127.0.0.1:7000") {
		t.Fatalf("redacted config:\n%s", out)
	}
}

// TestWeakAdminTokenRefusedOutsideTheSandbox: with the sandbox off a short admin token is refused, naming
// the setting; the sandbox's demo token and a long token are fine.
func TestWeakAdminTokenRefusedOutsideTheSandbox(t *testing.T) {
	_, err := Load("", env(map[string]string{"O2OHUB_SANDBOX": "false", "O2OHUB_ADMIN_TOKEN": "x"}))
	if err == nil || !strings.Contains(err.Error(), "O2OHUB_ADMIN_TOKEN must be at least 32 characters") {
		t.Fatalf("a 1-character admin token with the sandbox off: err = %v", err)
	}
	if strings.Contains(err.Error(), "=x") || strings.Contains(err.Error(), `"x"`) {
		t.Errorf("the error shows the token: %v", err)
	}
	for _, e := range []map[string]string{
		{"O2OHUB_ADMIN_TOKEN": "demo-admin"},
		{"O2OHUB_SANDBOX": "false", "O2OHUB_ADMIN_TOKEN": strings.Repeat("k", 32)},
		{"O2OHUB_SANDBOX": "false"},
	} {
		if _, err := Load("", env(e)); err != nil {
			t.Errorf("%v: %v", e, err)
		}
	}
}

func TestBadSettingsAreNamed(t *testing.T) {
	cases := map[string]map[string]string{
		"O2OHUB_SANDBOX":    {"O2OHUB_SANDBOX": "maybe"},
		"O2OHUB_ORDER_TTL":  {"O2OHUB_ORDER_TTL": "soon"},
		"O2OHUB_DB":         {"O2OHUB_DB": "mysql://x"},
		"O2OHUB_PUBLIC_URL": {"O2OHUB_PUBLIC_URL": "ftp://x"},
		"O2OHUB_LOG_LEVEL":  {"O2OHUB_LOG_LEVEL": "loud"},
	}
	for name, e := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Load("", env(e))
			if err == nil || !strings.Contains(err.Error(), name) {
				t.Fatalf("err = %v, want one naming %s", err, name)
			}
		})
	}
	path := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(path, []byte(`{"adress":":1"}`), 0o600)
	if _, err := Load(path, env(nil)); err == nil || !strings.Contains(err.Error(), "adress") {
		t.Fatalf("unknown file setting: %v", err)
	}
}

// TestRealProvidersNeedProductionSettings checks the guards around real WeChat and Alipay apps: the
// sandbox must be off, the notify URL public https, and every key the mode needs present.
func TestRealProvidersNeedProductionSettings(t *testing.T) {
	wechat := map[string]string{"O2OHUB_WECHAT_APPID": "wx1", "O2OHUB_WECHAT_SECRET": "s", "O2OHUB_SANDBOX": "false", "O2OHUB_PUBLIC_URL": "https://hub.example.com"}
	alipay := map[string]string{"O2OHUB_ALIPAY_APPID": "2021", "O2OHUB_ALIPAY_PRIVATE_KEY": "app.pem", "O2OHUB_ALIPAY_PUBLIC_KEY": "alipay.pem",
		"O2OHUB_SANDBOX": "false", "O2OHUB_PUBLIC_URL": "https://hub.example.com"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for name, c := range map[string]struct {
		env  map[string]string
		want string // "" for valid
	}{
		"wechat ok":                  {wechat, ""},
		"alipay ok":                  {alipay, ""},
		"sandbox beside wechat":      {with(wechat, "O2OHUB_SANDBOX", "true"), "O2OHUB_SANDBOX"},
		"sandbox beside alipay":      {with(alipay, "O2OHUB_SANDBOX", "true"), "O2OHUB_SANDBOX"},
		"http notify url":            {with(wechat, "O2OHUB_PUBLIC_URL", "http://hub.example.com"), "O2OHUB_PUBLIC_URL"},
		"loopback notify url":        {with(wechat, "O2OHUB_PUBLIC_URL", "https://127.0.0.1:8443"), "O2OHUB_PUBLIC_URL"},
		"private notify url":         {with(alipay, "O2OHUB_PUBLIC_URL", "https://10.0.0.5"), "O2OHUB_PUBLIC_URL"},
		"notify url with a query":    {with(wechat, "O2OHUB_PUBLIC_URL", "https://hub.example.com/?x=1"), "O2OHUB_PUBLIC_URL"},
		"wechat without secret":      {with(wechat, "O2OHUB_WECHAT_SECRET", ""), "O2OHUB_WECHAT_SECRET"},
		"wechatpay without key":      {with(wechat, "O2OHUB_WECHATPAY_MCHID", "1230000109", "O2OHUB_WECHATPAY_APIV3_KEY", "0123456789abcdef0123456789abcdef"), "O2OHUB_WECHATPAY_SERIAL"},
		"wechatpay short apiv3 key":  {with(wechat, "O2OHUB_WECHATPAY_MCHID", "1", "O2OHUB_WECHATPAY_SERIAL", "S", "O2OHUB_WECHATPAY_PRIVATE_KEY", "k.pem", "O2OHUB_WECHATPAY_PLATFORM_CERTS", "true", "O2OHUB_WECHATPAY_APIV3_KEY", "short"), "O2OHUB_WECHATPAY_APIV3_KEY"},
		"wechatpay no verifying key": {with(wechat, "O2OHUB_WECHATPAY_MCHID", "1", "O2OHUB_WECHATPAY_SERIAL", "S", "O2OHUB_WECHATPAY_PRIVATE_KEY", "k.pem", "O2OHUB_WECHATPAY_APIV3_KEY", "0123456789abcdef0123456789abcdef"), "O2OHUB_WECHATPAY_PUBLIC_KEY"},
		"alipay both key modes":      {with(alipay, "O2OHUB_ALIPAY_APP_CERT", "a", "O2OHUB_ALIPAY_ROOT_CERT", "r", "O2OHUB_ALIPAY_PUBLIC_CERT", "p"), "O2OHUB_ALIPAY_PUBLIC_KEY"},
		"alipay half cert mode":      {with(alipay, "O2OHUB_ALIPAY_PUBLIC_KEY", "", "O2OHUB_ALIPAY_APP_CERT", "a"), "O2OHUB_ALIPAY_ROOT_CERT"},
		"alipay without private key": {with(alipay, "O2OHUB_ALIPAY_PRIVATE_KEY", ""), "O2OHUB_ALIPAY_PRIVATE_KEY"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Load("", env(c.env))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("valid configuration refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("err = %v, want one naming %s", err, c.want)
			}
		})
	}
}

func TestPastedKeysAreMasked(t *testing.T) {
	key := "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
	bare := strings.Repeat("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", 10)
	for _, v := range []string{key, bare} {
		cfg := Default()
		cfg.AlipayPrivateKey, cfg.WechatPayPrivateKey = v, v
		out := strings.Join(cfg.Redacted(), "\n")
		if strings.Contains(out, "MIIEvQ") {
			t.Fatalf("a pasted key is printed:\n%s", out)
		}
	}
	cfg := Default()
	cfg.AlipayPrivateKey = "/etc/o2ohub/alipay_app.pem"
	if out := strings.Join(cfg.Redacted(), "\n"); !strings.Contains(out, "O2OHUB_ALIPAY_PRIVATE_KEY=/etc/o2ohub/alipay_app.pem") {
		t.Fatalf("a key path should be shown:\n%s", out)
	}
}

func TestMiniProgramLinksAreChecked(t *testing.T) {
	for link, ok := range map[string]bool{"": true, "weixin://dl/business/?t=abc": true, "alipays://platformapi/startapp?appId=2021": true,
		"https://wxaurl.cn/abc": true, "javascript:alert(1)": false, "ftp://x": false} {
		_, err := Load("", env(map[string]string{"O2OHUB_WECHAT_LINK": link}))
		if (err == nil) != ok {
			t.Errorf("O2OHUB_WECHAT_LINK=%q: err = %v, want ok=%v", link, err, ok)
		}
	}
}

// TestIntegerSettings checks that the integer settings take the whole numbers users write, from the
// environment and from the file (as JSON numbers or strings, 5000.0 and 1e4 included), and refuse a
// fraction or a word with an error naming the setting.
func TestIntegerSettings(t *testing.T) {
	for raw, want := range map[string]int{"7000": 7000, " 7000 ": 7000, "7000.0": 7000, "7e3": 7000} {
		cfg, err := Load("", env(map[string]string{"O2OHUB_REROUTE_RADIUS_M": raw}))
		if err != nil || cfg.RerouteRadiusM != want {
			t.Errorf("O2OHUB_REROUTE_RADIUS_M=%q: %d, %v; want %d", raw, cfg.RerouteRadiusM, err, want)
		}
	}
	for _, name := range []string{"O2OHUB_DELIVERY_RADIUS_M", "O2OHUB_REROUTE_RADIUS_M", "O2OHUB_TRACE_SCAN_LIMIT", "O2OHUB_PICKUP_FAIL_LIMIT", "O2OHUB_PASSWORD_COST"} {
		for _, raw := range []string{"12.5", "twelve", "1e400"} {
			_, err := Load("", env(map[string]string{name: raw}))
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), "whole number") {
				t.Errorf("%s=%q: err = %v, want a refusal naming %s and asking for a whole number", name, raw, err, name)
			}
		}
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	os.WriteFile(good, []byte(`{"delivery_radius_m":8000,"reroute_radius_m":"3000","trace_scan_limit":3.0,"pickup_fail_limit":"1e1","password_cost":10,"scan_rate":0.5}`), 0o600)
	cfg, err := Load(good, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DeliveryRadiusM != 8000 || cfg.RerouteRadiusM != 3000 || cfg.TraceScanLimit != 3 || cfg.PickupFailLimit != 10 || cfg.PasswordCost != 10 || cfg.ScanRate != 0.5 {
		t.Fatalf("cfg = %+v", cfg)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"delivery_radius_m":2500.5}`), 0o600)
	if _, err := Load(bad, env(nil)); err == nil || !strings.Contains(err.Error(), "delivery_radius_m") || !strings.Contains(err.Error(), "O2OHUB_DELIVERY_RADIUS_M") {
		t.Fatalf("a fraction in the file: err = %v, want one naming delivery_radius_m and O2OHUB_DELIVERY_RADIUS_M", err)
	}
	for name, e := range map[string]map[string]string{
		"O2OHUB_TRACE_SCAN_LIMIT":  {"O2OHUB_TRACE_SCAN_LIMIT": "0"},
		"O2OHUB_PICKUP_FAIL_LIMIT": {"O2OHUB_PICKUP_FAIL_LIMIT": "-1"},
		"O2OHUB_REROUTE_RADIUS_M":  {"O2OHUB_REROUTE_RADIUS_M": "0"},
		"O2OHUB_DELIVERY_RADIUS_M": {"O2OHUB_DELIVERY_RADIUS_M": "0"},
		"O2OHUB_PASSWORD_COST":     {"O2OHUB_PASSWORD_COST": "17"},
	} {
		if _, err := Load("", env(e)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%v: err = %v, want one naming %s", e, err, name)
		}
	}
}

// TestPlatformSettings: a platform is configured whole or not at all, its secrets are masked, and real
// platform credentials are refused beside the sandbox.
func TestPlatformSettings(t *testing.T) {
	_, err := Load("", env(map[string]string{"O2OHUB_JDDJ_APP_KEY": "k", "O2OHUB_JDDJ_TOKEN": "t"}))
	if err == nil || !strings.Contains(err.Error(), "JD Daojia is half configured") ||
		!strings.Contains(err.Error(), "O2OHUB_JDDJ_APP_SECRET, O2OHUB_JDDJ_OPERATOR missing") {
		t.Fatalf("half-configured JD: %v", err)
	}
	_, err = Load("", env(map[string]string{"O2OHUB_MEITUAN_APP_ID": "a", "O2OHUB_MEITUAN_APP_SECRET": "mt-secret-value"}))
	if err == nil || !strings.Contains(err.Error(), "O2OHUB_SANDBOX must be false") {
		t.Fatalf("Meituan beside the sandbox: %v", err)
	}
	cfg, err := Load("", env(map[string]string{"O2OHUB_SANDBOX": "false", "O2OHUB_PUBLIC_URL": "https://hub.example.com",
		"O2OHUB_ELEME_SOURCE": "src", "O2OHUB_ELEME_SECRET": "el-secret-value"}))
	if err != nil {
		t.Fatal(err)
	}
	if out := strings.Join(cfg.Redacted(), "\n"); strings.Contains(out, "el-secret-value") {
		t.Fatalf("the Ele.me secret is shown:\n%s", out)
	}
	if _, err := Load("", env(map[string]string{"O2OHUB_MARKET_PULL": "0s"})); err == nil || !strings.Contains(err.Error(), "O2OHUB_MARKET_PULL") {
		t.Fatalf("a zero pull interval: %v", err)
	}
}
