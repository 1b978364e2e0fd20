package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestBrowserConsolePlatformOrder has the clerk of store S01 keep the console's orders page open on the
// counter PC in headless Chromium, turn on 新订单提醒 and 自动打印 once, and then a Meituan order arrive
// the real way (the Meituan fake pushes it to the hub's webhook and the hub fetches it): without a
// reload the page shows it with its source and #day_seq, beeps, and loads its ticket in a hidden frame
// that prints it. The ticket page itself is checked as a person sees it (the number very large) and as it
// prints on an 80 mm roll. Screenshots and the printed PDF go to $O2OHUB_SCREENSHOTS (a temporary
// directory when unset).
//
// The hub runs in this process rather than as `o2ohub demo`: a platform needs credentials, which the
// configuration refuses beside the sandbox, while the fake needs no sandbox at all.
func TestBrowserConsolePlatformOrder(t *testing.T) {
	dir := requireBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	const shopID = "mt-poi-browser"
	base, fake := startMarketHub(t, shopID)

	browserCtx := startBrowser(t, ctx)
	tab, cancelTab := chromedp.NewContext(browserCtx)
	defer cancelTab()
	if err := chromedp.Do(tab, cdpStep(network.Enable, network.EnableParams{}), cdpStep(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1366, Height: 768, DeviceScaleFactor: 1})); err != nil {
		t.Fatal(err)
	}
	pg := tabPage{tab: tab, dir: dir}
	eval := func(t *testing.T, js string, out any) {
		t.Helper()
		if err := evalInto(tab, js, out); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}

	step(t, "sign in and turn on the alerts", func(t *testing.T) {
		resp := consoleSignIn(t, tab, base, "/console/", marketClerk, marketPassword)
		if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console/") {
			t.Fatalf("after signing in: HTTP %d at %s, want the orders page", resp.Status, resp.URL)
		}
		if bar := pg.text(t, "[data-alerts]"); !strings.Contains(bar, "新订单提醒/自动打印") {
			t.Fatalf("the alert toggles are not shown (console.js unhides them): %q", bar)
		}
		for _, pref := range []string{"sound", "print"} {
			sel := fmt.Sprintf(`[data-pref=%q]`, pref)
			if err := chromedp.Do(tab, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible)); err != nil {
				t.Fatalf("click %s: %v", sel, err)
			}
			var pressed, stored string
			eval(t, fmt.Sprintf(`document.querySelector(%s).getAttribute("aria-pressed")`, jsString(sel)), &pressed)
			eval(t, fmt.Sprintf(`localStorage.getItem("o2ohub.console.%s")`, pref), &stored)
			if pressed != "true" || stored != "1" {
				t.Errorf("after clicking %s: aria-pressed %q, stored %q; want true and 1", pref, pressed, stored)
			}
		}
		// Turning the sound on plays it once, so the clerk knows what a new order sounds like.
		var beeps string
		eval(t, `document.body.getAttribute("data-beeps") || "0"`, &beeps)
		if beeps != "1" {
			t.Errorf("%s beeps after turning the sound on, want 1", beeps)
		}
		pg.shot(t, "console-platform-alerts-on-pc.png")
	})

	var no, platformID string
	step(t, "a Meituan order arrives and is announced without a reload", func(t *testing.T) {
		// Mark the document: a reload would lose the mark, an in-place refresh keeps it.
		eval(t, `(document.documentElement.dataset.sameDocument = "1")`, nil)
		id, err := fake.PlaceOrder(shopID, []meituanfake.OrderLine{{Code: "MILK-1L", Name: "光明鲜牛奶 1L", Qty: 2, PriceFen: 1590},
			{Code: "YOGURT-200", Name: "安慕希酸奶 200g", Qty: 1, PriceFen: 650}})
		if err != nil {
			t.Fatal(err)
		}
		platformID = id
		// The page refreshes itself every 20 seconds.
		announced, err := chromedp.Run(tab, chromedp.Poll[string](`document.body.getAttribute("data-announced")`,
			chromedp.WithPollingTimeout(40*time.Second), chromedp.WithPollingInterval(250*time.Millisecond)))
		if err != nil {
			t.Fatalf("no new order announced within 40 s: %v; the page reads:\n%s", err, pg.text(t, "main"))
		}
		no = strings.TrimSpace(announced)
		if !regexp.MustCompile(`^\d+$`).MatchString(no) {
			t.Fatalf("announced %q, want one order number", announced)
		}
		var same, beeps, printed string
		eval(t, `document.documentElement.dataset.sameDocument || ""`, &same)
		eval(t, `document.body.getAttribute("data-beeps") || "0"`, &beeps)
		eval(t, `document.body.getAttribute("data-printed") || ""`, &printed)
		if same != "1" {
			t.Error("the page reloaded to show the order; it must refresh in place so that sound stays allowed")
		}
		if beeps != "2" {
			t.Errorf("%s beeps, want 2 (turning it on, then the new order)", beeps)
		}
		if printed != no {
			t.Errorf("tickets printed: %q, want %q", printed, no)
		}
		card := fmt.Sprintf(`article.order.incoming[data-new-order=%q]`, no)
		got := pg.text(t, card)
		for _, want := range []string{"美团", "#1", no, "骑手取货", "光明鲜牛奶 1L", "× 2", "安慕希酸奶 200g", "¥38.30", "接单", "拒单", "打印小票"} {
			if !strings.Contains(got, want) {
				t.Errorf("the new order's card does not show %q; it reads:\n%s", want, got)
			}
		}
		var frame string
		eval(t, `(document.querySelector("iframe.print-frame") || {}).src || ""`, &frame)
		if !strings.HasSuffix(frame, "/console/orders/"+no+"/ticket?print=1") {
			t.Errorf("the print frame loads %q, want the new order's ticket with ?print=1", frame)
		}
		// The number the rider asks for stands out: at least twice the text around it.
		var size float64
		eval(t, fmt.Sprintf(`parseFloat(getComputedStyle(document.querySelector(%s)).fontSize)`, jsString(card+" .seq")), &size)
		if size < 30 {
			t.Errorf("#day_seq is %.0f px on the orders page, want it large (≥ 30 px)", size)
		}
		pg.shot(t, "console-platform-order-pc.png")
	})

	step(t, "the ticket on screen and on an 80 mm roll", func(t *testing.T) {
		resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+"/console/orders/"+no+"/ticket"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("ticket: HTTP %d", resp.Status)
		}
		got := pg.text(t, ".receipt")
		for _, want := range []string{"人民广场店", "美团订单", "#1", "订单号", no, "平台单号", platformID, "光明鲜牛奶 1L", "×2", "安慕希酸奶 200g", "×1",
			"共 3 件", "合计 ¥38.30", "地址：", "备注：", "打印于"} {
			if !strings.Contains(got, want) {
				t.Errorf("the ticket does not show %q; it reads:\n%s", want, got)
			}
		}
		var seq struct {
			Size  float64 `json:"size"`
			Width float64 `json:"width"`
			Page  float64 `json:"page"`
		}
		eval(t, `(() => {
			const s = document.querySelector(".receipt .seq"), r = document.querySelector(".receipt");
			return {size: parseFloat(getComputedStyle(s).fontSize), width: s.getBoundingClientRect().width, page: r.getBoundingClientRect().width};
		})()`, &seq)
		if seq.Size < 48 || seq.Width > seq.Page {
			t.Errorf("#day_seq on the ticket: %.0f px high, %.0f px wide on a %.0f px ticket; want ≥ 48 px and within the ticket", seq.Size, seq.Width, seq.Page)
		}
		pg.shot(t, "ticket.png")

		// 80 mm wide; the ticket's @page rule sets the size, the roll is as long as the ticket.
		pdf, err := printPDF(tab, 80/25.4, 11.69)
		if err != nil {
			t.Fatalf("print to PDF: %v", err)
		}
		saveFile(t, dir, "ticket.pdf", pdf)
		if !bytes.HasPrefix(pdf, []byte("%PDF")) {
			t.Fatalf("the printed ticket is not a PDF")
		}
		if n := pdfPages(pdf); n != 1 {
			t.Errorf("the ticket prints on %d pages, want 1", n)
		}
		// The page is 80 mm (226.8 pt) wide.
		if m := regexp.MustCompile(`/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]`).FindSubmatch(pdf); m != nil {
			if w, _ := strconv.ParseFloat(string(m[1]), 64); w < 224 || w > 230 {
				t.Errorf("the printed ticket is %.1f pt wide, want 80 mm (226.8 pt)", w)
			}
		} else {
			t.Error("the printed ticket has no MediaBox")
		}
	})

	step(t, "the platform shops page", func(t *testing.T) {
		resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+"/console/platforms"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("platforms: HTTP %d", resp.Status)
		}
		got := pg.text(t, "main")
		for _, want := range []string{"平台店铺", "美团", shopID, "已绑定", "自动接单", "最近订单"} {
			if !strings.Contains(got, want) {
				t.Errorf("the platforms page does not show %q; it reads:\n%s", want, got)
			}
		}
		pg.shot(t, "console-platforms-pc.png")
	})
	t.Logf("screenshots and PDF in %s", dir)
}

// The console account of the market browser test.
const marketClerk, marketPassword = "desk-mt-s01", "platform-desk-test-pw"

// startMarketHub serves a hub on a fresh SQLite database with Meituan enabled through its fake: store
// S01 (人民广场店) stocking milk and yogurt, a clerk of S01, and the Meituan shop shopID bound to S01. It
// returns the hub's base URL and the fake.
func startMarketHub(t *testing.T, shopID string) (string, *meituanfake.Fake) {
	t.Helper()
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	db := dbtest.SQLite(t)
	var engine http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { engine.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	svc := core.New(domain.NewEnv(db, nil, log), core.Options{PublicURL: srv.URL, PasswordCost: 4, SessionTTL: time.Hour, OrderTTL: 15 * time.Minute,
		MarketPushWindow: 15 * time.Minute, Market: market.Options{PushInterval: time.Second, FullSync: time.Hour, PullInterval: time.Hour}})
	engine = handlers.New(handlers.Deps{Service: svc, DB: db, Log: log, PublicURL: srv.URL})

	fake := meituanfake.New(meituanfake.Options{AppID: "mt-app", AppSecret: "mt-secret", PushURL: srv.URL + "/webhooks/meituan",
		RetryInterval: 50 * time.Millisecond})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); fakeSrv.Close() })
	conn, err := meituan.New(meituan.Config{AppID: "mt-app", AppSecret: "mt-secret", Base: fakeSrv.URL + "/api/v1"})
	if err != nil {
		t.Fatal(err)
	}
	svc.Market.Register(conn)

	if _, err := svc.Catalog.PutStore(ctx, catalog.StoreInput{Code: "S01", Name: "人民广场店", Lat: 31.2304, Lng: 121.4737}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []catalog.ProductInput{{SKU: "MILK-1L", Name: "光明鲜牛奶 1L", PriceFen: 1590}, {SKU: "YOGURT-200", Name: "安慕希酸奶 200g", PriceFen: 650}} {
		if _, err := svc.Catalog.PutProduct(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Catalog.SetStock(ctx, "S01", p.SKU, 20, "test"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Staff.Put(ctx, staff.Input{Username: marketClerk, Password: marketPassword, Role: staff.RoleClerk, Store: "S01"}); err != nil {
		t.Fatal(err)
	}
	fake.AddShop(shopID)
	if _, err := svc.Market.PutShop(ctx, market.ShopInput{Platform: market.Meituan, ShopID: shopID, Store: "S01"}); err != nil {
		t.Fatal(err)
	}
	return srv.URL, fake
}
