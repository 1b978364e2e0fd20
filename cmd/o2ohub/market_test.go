package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/models"
)

// TestDemoSandboxPlatforms runs the demo with the sandbox platforms: the demo stores are bound to a shop
// on each platform, `simulate meituan|eleme|jddj` places an order that the platform pushes to the hub,
// where it lands at its store as a paid platform order with its day number; the clerk's accept goes back
// to the platform through the outbox, and each platform is told the store's stock.
func TestDemoSandboxPlatforms(t *testing.T) {
	const admin = "demo-admin-token-0123456789abcdef"
	env := map[string]string{"O2OHUB_DB": "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), "O2OHUB_PASSWORD_COST": "4",
		"O2OHUB_ADMIN_TOKEN": admin, "O2OHUB_MARKET_PUSH_INTERVAL": "50ms"}
	addr := startDemoHub(t, env)
	env["O2OHUB_ADDR"] = addr // simulate finds the hub and its database as the demo's operator would
	getenv := func(k string) string { return env[k] }
	ctx := context.Background()

	var shops []market.ShopView
	demoCall(t, addr, "GET", "/api/v1/admin/marketplaces/shops", admin, "", &shops)
	if len(shops) != len(market.Platforms)*len(demoStores) {
		t.Fatalf("%d demo shop bindings, want %d: %+v", len(shops), len(market.Platforms)*len(demoStores), shops)
	}

	cfg, err := config.Load("", getenv)
	if err != nil {
		t.Fatal(err)
	}
	db, err := openDB(context.Background(), cfg, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range market.Platforms {
		var out bytes.Buffer
		if err := run(context.Background(), []string{"simulate", p, "--store", "S01", "--sku", "MILK-1L", "--qty", "1"}, &out, io.Discard, getenv); err != nil {
			t.Fatalf("simulate %s: %v", p, err)
		}
		if !strings.Contains(out.String(), "placed at shop S01") {
			t.Fatalf("simulate %s said %q", p, out.String())
		}
		var ord models.Order
		waitUntil(t, p+" order at the hub", func() bool {
			return db.Conn(ctx).Preload("Items").Where("source = ?", p).Take(&ord).Error == nil
		})
		if ord.Status != "paid" || ord.Fulfillment != "platform" || ord.DaySeq != 1 || ord.MemberID != nil || len(ord.Items) != 1 || ord.Items[0].Qty != 1 {
			t.Fatalf("%s order landed as %+v", p, ord)
		}
		var accepted map[string]any
		demoCall(t, addr, "POST", "/api/v1/admin/orders/"+ord.OrderNo+"/accept", admin, "", &accepted)
		waitUntil(t, p+" confirm call done", func() bool {
			var n int64
			db.Conn(ctx).Model(&models.MarketCall{}).Where("order_no = ? AND status = ?", ord.OrderNo, "done").Count(&n)
			return n == 1
		})
	}
	// Every platform is told every demo level, and that S01 has no milk left: its three units are sold,
	// one on each platform.
	waitUntil(t, "stock pushed to every platform", func() bool {
		var all, milk int64
		db.Conn(ctx).Model(&models.MarketLevel{}).Where("pushed IS NOT NULL AND pushed = desired").Count(&all)
		db.Conn(ctx).Model(&models.MarketLevel{}).Where("code = ? AND desired = 0 AND pushed = 0 AND shop_id IN (SELECT id FROM market_shops WHERE shop_id = ?)", "MILK-1L", "S01").Count(&milk)
		return all == int64(len(market.Platforms)*len(demoStores)*len(demoProducts)) && milk == int64(len(market.Platforms))
	})

	// The operators' metrics: requests by route, the platforms' pushes by outcome, the work queues.
	if resp, err := http.Get("http://" + addr + "/metrics"); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /metrics without the admin token: %v %v, want 401", resp, err)
	}
	req, _ := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+admin)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`o2ohub_http_requests_total{method="POST",route="/webhooks/meituan/:event",status="200"}`,
		`o2ohub_notifications_total{outcome="order",provider="meituan"}`,
		`o2ohub_queue_depth{queue="platform_calls"} 0`,
		`o2ohub_queue_depth{queue="refunds"}`,
		`o2ohub_queue_scrape_ok 1`,
		`o2ohub_worker_sweep_duration_seconds_count{worker="platform stock"}`,
		`go_sql_open_connections{db_name="o2ohub"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	for path, want := range map[string]int{"/sandbox/nope/orders": http.StatusNotFound, "/sandbox/meituan/orders": http.StatusBadRequest} {
		resp, err := http.Post("http://"+addr+path, "application/json", strings.NewReader(`{"shop_id":"S01","lines":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Fatalf("POST %s: %d, want %d", path, resp.StatusCode, want)
		}
	}
	for _, bad := range [][]string{
		{"simulate", "meituan", "--store", "S01"},
		{"simulate", "meituan", "--store", "NOPE", "--sku", "MILK-1L"},
		{"simulate", "eleme", "--store", "S01", "--sku", "NOPE"},
		{"simulate", "jddj", "--store", "S01", "--sku", "MILK-1L", "--qty", "0"},
	} {
		if err := run(context.Background(), bad, io.Discard, io.Discard, getenv); err == nil {
			t.Fatalf("o2ohub %v succeeded", bad)
		}
	}
}

// waitUntil polls cond for up to 20 seconds, failing the test with what it waited for.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
