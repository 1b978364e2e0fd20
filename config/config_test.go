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
	if cfg.Addr != ":8080" || cfg.DB != "sqlite:o2ohub.db" || !cfg.Sandbox || cfg.OrderTTL != 15*time.Minute || cfg.PublicURL != "http://127.0.0.1:8080" {
		t.Fatalf("defaults = %+v", cfg)
	}
}

func TestEnvironmentOverridesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "o2ohub.json")
	os.WriteFile(path, []byte(`{"addr":":9000","order_ttl":"20m","sandbox":false,"admin_token":"from-file"}`), 0o600)
	cfg, err := Load(path, env(map[string]string{"O2OHUB_ADDR": "127.0.0.1:7000", "O2OHUB_DB": "postgres://u:pw@db/o2o?password=hunter2", "O2OHUB_PUBLIC_URL": "https://hub.example.com"}))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Addr != "127.0.0.1:7000" || cfg.OrderTTL != 20*time.Minute || cfg.Sandbox || cfg.AdminToken != "from-file" || cfg.PublicURL != "https://hub.example.com" {
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
