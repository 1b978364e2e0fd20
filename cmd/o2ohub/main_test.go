package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
)

func TestConfigCommandMasksSecrets(t *testing.T) {
	var out bytes.Buffer
	env := map[string]string{"O2OHUB_ADMIN_TOKEN": "topsecret", "O2OHUB_DB": "postgres://app:hunter2@db:5432/o2o"}
	if err := run(context.Background(), []string{"config"}, &out, io.Discard, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if strings.Contains(s, "topsecret") || strings.Contains(s, "hunter2") || !strings.Contains(s, "O2OHUB_ADMIN_TOKEN=****") {
		t.Fatalf("config output:\n%s", s)
	}
}

func TestLoggerMasksPhonesAndDropsSecrets(t *testing.T) {
	var out bytes.Buffer
	log := newLogger(&out, "info")
	log.Info("x", "phone", "13812345678", "token", "abc123", "sandbox_secret", "s3", "authorization", "Bearer zzz")
	s := out.String()
	for _, leak := range []string{"13812345678", "abc123", `"s3"`, "zzz"} {
		if strings.Contains(s, leak) {
			t.Fatalf("log leaks %q: %s", leak, s)
		}
	}
	if !strings.Contains(s, "138****5678") {
		t.Fatalf("phone not masked: %s", s)
	}
}

// TestDemoServesAndDrains starts the demo on a free port, checks it is ready with seeded stores, then
// cancels it as SIGTERM would and expects a clean stop (startDemoHub's cleanup checks the stop).
func TestDemoServesAndDrains(t *testing.T) {
	env := map[string]string{"O2OHUB_DB": "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), "O2OHUB_PASSWORD_COST": "4"}
	addr := startDemoHub(t, env)
	env["O2OHUB_ADDR"] = addr // for simulate
	var stores json.RawMessage
	demoCall(t, addr, "GET", "/api/v1/stores", "", "", &stores)
	if !strings.Contains(string(stores), "人民广场店") {
		t.Fatalf("stores = %s", stores)
	}
	// The sandbox WeChat and Alipay sign shoppers in, and simulate signs their payment notifications.
	getenv := func(k string) string { return env[k] }
	for _, c := range []struct{ provider, login string }{{"wechatpay", "wechat"}, {"alipay", "alipay"}} {
		var login member.Login
		demoCall(t, addr, "POST", "/api/v1/auth/"+c.login, "", `{"code":"sandbox:carol"}`, &login)
		var ord core.OrderView
		demoCall(t, addr, "POST", "/api/v1/orders", login.Token, `{"store":"S01","fulfillment":"pickup","items":[{"sku":"YOGURT-200","qty":1}]}`, &ord)
		var out bytes.Buffer
		if err := run(context.Background(), []string{"simulate", c.provider, "--order", ord.OrderNo}, &out, io.Discard, getenv); err != nil {
			t.Fatalf("simulate %s: %v", c.provider, err)
		}
		demoCall(t, addr, "GET", "/api/v1/orders/"+ord.OrderNo, login.Token, "", &ord)
		if ord.Status != core.StatusPaid || ord.Provider != c.provider {
			t.Fatalf("after simulate %s the order is %s via %q (%s)", c.provider, ord.Status, ord.Provider, out.String())
		}
	}
}

func TestStrayArgumentsAreRefused(t *testing.T) {
	err := run(context.Background(), []string{"config", "-config", "prod.json"}, io.Discard, io.Discard, func(string) string { return "" })
	if err == nil || !strings.Contains(err.Error(), "before the command") {
		t.Fatalf("err = %v, want a refusal that says where -config goes", err)
	}
}

// demoCall sends a request to the demo hub and decodes its JSON answer into out, failing on a non-2xx.
func demoCall(t *testing.T, addr, method, path, token, body string, out any) {
	t.Helper()
	r := (&httpx.Client{Base: "http://" + addr}).Send(t, httpx.Request{Method: method, Path: path, Auth: token, Body: body})
	if r.Status/100 != 2 {
		t.Fatalf("%s %s: %s", method, path, r)
	}
	r.JSON(out)
}

// startDemoHub runs `o2ohub demo` on a free port with a fresh SQLite database and the given extra
// environment, waits until it answers, and stops it (expecting a clean drain) when the test ends.
func startDemoHub(t *testing.T, extra map[string]string) string {
	t.Helper()
	return startDemoHubTo(t, extra, io.Discard, io.Discard)
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startDemoHubTo is startDemoHub with the demo's standard output (logs) and standard error (what it
// prints for a person) going to stdout and stderr. An O2OHUB_ADDR in extra is where it listens; the
// hub is reached on loopback at that port.
func startDemoHubTo(t *testing.T, extra map[string]string, stdout, stderr io.Writer) string {
	t.Helper()
	addr := freeAddr(t)
	if a, ok := extra["O2OHUB_ADDR"]; ok {
		_, port, _ := strings.Cut(a, ":")
		addr = "127.0.0.1:" + port
	}
	env := map[string]string{"O2OHUB_ADDR": addr, "O2OHUB_DB": "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), "O2OHUB_PASSWORD_COST": "4"}
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"demo"}, stdout, stderr, func(k string) string { return env[k] }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("demo stopped with %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("demo did not stop")
		}
	})
	// A loaded CI machine may take a while (bcrypt of the demo passwords, migrations): wait up to a minute.
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		resp, err := http.Get("http://" + addr + "/api/v1/stores")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return addr
			}
		}
		select {
		case err := <-done:
			done <- err // for the cleanup
			t.Fatalf("demo exited before serving: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("demo never answered on %s", addr)
	return ""
}

// TestQRLabelsCommand writes the label sheet of a demo store to a file: one QR per stocked product, and
// running it again makes no new codes.
func TestQRLabelsCommand(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"O2OHUB_DB": "sqlite:" + filepath.Join(dir, "qr.db"), "O2OHUB_PASSWORD_COST": "4"}
	getenv := func(k string) string { return env[k] }
	cfg, err := config.Load("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	db, err := openDB(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	svc := newService(db, cfg, newLogger(io.Discard, "error"))
	if err := seedDemo(ctx, svc, io.Discard); err != nil {
		t.Fatal(err)
	}
	stocked, err := svc.Catalog.StoreProducts(ctx, "S01")
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "labels.html")
	for range 2 {
		var msg, warn bytes.Buffer
		if err := run(ctx, []string{"qr", "labels", "--store", "S01", "--out", out}, &msg, &warn, getenv); err != nil {
			t.Fatal(err)
		}
		// The default O2OHUB_PUBLIC_URL is loopback: the codes cannot be scanned, and the command says so.
		if !strings.Contains(warn.String(), "WARNING: O2OHUB_PUBLIC_URL is http://127.0.0.1:8080") {
			t.Fatalf("qr labels with a loopback public URL warned %q", warn.String())
		}
		if !strings.Contains(msg.String(), fmt.Sprintf("wrote %d labels", len(stocked))) {
			t.Fatalf("qr labels said %q, want %d labels", msg.String(), len(stocked))
		}
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(page), "data:image/png;base64,"); n != len(stocked) {
		t.Fatalf("%d QR images in the sheet, want %d", n, len(stocked))
	}
	db, err = openDB(ctx, cfg, true)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var codes int64
	if err := db.Conn(ctx).Table("qr_codes").Count(&codes).Error; err != nil || codes != int64(len(stocked)) {
		t.Fatalf("%d codes after two runs (%v), want %d", codes, err, len(stocked))
	}
	for _, args := range [][]string{{"qr"}, {"qr", "labels"}, {"qr", "labels", "--store", "NOPE"}} {
		if err := run(ctx, args, io.Discard, io.Discard, getenv); err == nil {
			t.Fatalf("o2ohub %v succeeded", args)
		}
	}
}
