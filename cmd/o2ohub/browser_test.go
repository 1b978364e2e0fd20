package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/qrcode"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// phoneUA is the user agent of Safari on an iPhone: a plain phone browser, neither WeChat nor Alipay, so
// the landing page is served instead of a redirect into a mini-program.
const phoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

// TestBrowserLabelsAndLanding signs an admin in to the console and opens a demo store's label sheet, then
// a shelf code's landing page, in headless Chromium; it checks what a person would see (every QR image
// loaded, the sheet prints to A4 pages of 24 labels, the product name and price on the phone page, the
// friendly page for an unknown code) and saves screenshots and the printed PDF in $O2OHUB_SCREENSHOTS (a
// temporary directory when unset). Without /usr/bin/chromium it skips, unless O2OHUB_TEST_BROWSER=required
// (as in CI), where it fails.
func TestBrowserLabelsAndLanding(t *testing.T) {
	dir := requireBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const token = "browser-test-token-0123456789abcdef"
	// Without the sandbox, to show the pages need none of it. Without it staff passwords must cost 10 or
	// more (the default 12 costs seconds a hash under -race).
	addr := startDemoHub(t, map[string]string{"O2OHUB_ADMIN_TOKEN": token, "O2OHUB_SANDBOX": "false", "O2OHUB_PASSWORD_COST": "10"})
	base := "http://" + addr
	// The test's own console account (the demo's are printed once with random passwords).
	const user, password = "browser-admin", "labels-browser-test-pw"
	var staff staff.View
	demoCall(t, addr, "PUT", "/api/v1/admin/staff/"+user, token, fmt.Sprintf(`{"password":%q,"role":"admin"}`, password), &staff)

	// A few more products at S01, so that its sheet runs onto a second page, with a name long enough to
	// be clamped on the label and to wrap on the phone, and a four-digit price.
	extra := []struct {
		sku, name string
		fen       int64
	}{
		{"MILKPOWDER-900", "安佳全脂高钙成人奶粉 900g 罐装 新西兰原装进口 全家营养早餐冲饮 限时特惠两罐装", 29900},
		{"WINE-750", "张裕解百纳干红葡萄酒 750ml", 129900},
		{"HONEY-500", "冠生园蜂蜜 500g", 3290},
		{"SALT-400", "中盐加碘精制盐 400g", 250},
		{"NAPKIN-10", "心相印手帕纸 10包", 990},
		{"BATTERY-AA", "南孚碱性电池 5号 4粒", 1590},
	}
	for _, p := range extra {
		var out any
		demoCall(t, addr, "PUT", "/api/v1/admin/products/"+p.sku, token, fmt.Sprintf(`{"name":%q,"price_fen":%d}`, p.name, p.fen), &out)
		demoCall(t, addr, "PUT", "/api/v1/admin/stores/S01/stock/"+p.sku, token, `{"on_hand":12}`, &out)
	}
	// The shelf codes of S01, one per stocked product, made through the admin API.
	var codes []shelf.QRView
	demoCall(t, addr, "POST", "/api/v1/admin/stores/S01/qrcodes", token, "", &codes)
	if len(codes) != len(demoProducts)+len(extra) {
		t.Fatalf("%d shelf codes for S01, want %d (one per stocked product)", len(codes), len(demoProducts)+len(extra))
	}
	// The landing page is checked on the product with the longest name, the likeliest to wrap badly.
	pick := codes[0]
	for _, c := range codes {
		if len([]rune(c.ProductName)) > len([]rune(pick.ProductName)) {
			pick = c
		}
	}

	browserCtx := startBrowser(t, ctx)

	// 1. The label sheet, as the admin sees it on a desktop screen and as it prints: asking for it leads
	// to the console's sign-in, which leads back to the sheet.
	t.Run("labels", func(t *testing.T) {
		tab, cancelTab := chromedp.NewContext(browserCtx)
		defer cancelTab()
		if err := chromedp.Do(tab, cdpStep(network.Enable, network.EnableParams{}), chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		resp := consoleSignIn(t, tab, base, "/console/stores/S01/labels", user, password)
		if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console/stores/S01/labels") {
			t.Fatalf("after signing in: HTTP %d %s at %s, want the label sheet", resp.Status, resp.StatusText, resp.URL)
		}
		if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS(".label"))); err != nil {
			t.Fatalf("waiting for the labels: %v", err)
		}
		// Give the QR images a moment to decode; broken ones are counted (and screenshotted) below.
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](`[...document.images].every(i => i.complete && i.naturalWidth > 0)`,
			chromedp.WithPollingTimeout(5*time.Second))); err != nil {
			t.Logf("waiting for the QR images to load: %v", err)
		}
		var got struct {
			Labels   int      `json:"labels"`
			Images   int      `json:"images"`
			Loaded   int      `json:"loaded"`
			Pages    int      `json:"pages"`
			Codes    []string `json:"codes"`
			Overflow []string `json:"overflow"`
			Toolbar  string   `json:"toolbar"`
		}
		if err := evalInto(tab, `(() => {
			const labels = [...document.querySelectorAll('.label')];
			const imgs = labels.flatMap(l => [...l.querySelectorAll('.qr img')]);
			return {
				labels: labels.length,
				images: imgs.length,
				loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
				pages: document.querySelectorAll('section.page').length,
				codes: labels.map(l => (l.querySelector('.code') || {}).textContent || ''),
				// A label whose content is pushed past its box: the price or SKU would be cut off in print.
				overflow: labels.filter(l => {
					const box = l.getBoundingClientRect();
					return [...l.querySelectorAll('.qr, .price, .sku')].some(e => {
						const r = e.getBoundingClientRect();
						return r.bottom > box.bottom + 0.5 || r.right > box.right + 0.5;
					});
				}).map(l => (l.querySelector('.code') || {}).textContent || '?'),
				toolbar: (document.querySelector('.toolbar') || {}).innerText || '',
			};
		})()`, &got); err != nil {
			t.Fatal(err)
		}
		if got.Labels != len(codes) || got.Images != len(codes) || got.Loaded != len(codes) {
			t.Errorf("label sheet: %d labels, %d QR images, %d loaded; want %d of each", got.Labels, got.Images, got.Loaded, len(codes))
		}
		want := make(map[string]bool, len(codes))
		for _, c := range codes {
			want[c.Code] = true
		}
		for _, c := range got.Codes {
			if !want[strings.TrimSpace(c)] {
				t.Errorf("the sheet shows code %q, which is not one of S01's shelf codes", c)
			}
		}
		sheets := (len(codes) + qrcode.LabelsPerPage - 1) / qrcode.LabelsPerPage
		if got.Pages != sheets {
			t.Errorf("%d pages on screen, want %d", got.Pages, sheets)
		}
		if len(got.Overflow) > 0 {
			t.Errorf("labels whose content runs out of the label: %v", got.Overflow)
		}
		if !strings.Contains(got.Toolbar, "人民广场店") || !strings.Contains(got.Toolbar, fmt.Sprintf("共 %d 个标签", len(codes))) {
			t.Errorf("toolbar reads %q, want the store name and the label count", got.Toolbar)
		}

		shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		saveFile(t, dir, "labels.png", shot)

		// A4 in inches; the sheet's @page rule sets the size and margins too.
		pdf, err := printPDF(tab, 8.27, 11.69)
		if err != nil {
			t.Fatalf("print to PDF: %v", err)
		}
		saveFile(t, dir, "labels.pdf", pdf)
		if !bytes.HasPrefix(pdf, []byte("%PDF")) {
			t.Fatalf("the printed sheet is not a PDF: starts with %q", pdf[:min(len(pdf), 16)])
		}
		// Each page of 24 labels must print on exactly one A4 sheet: an extra page means a page of labels
		// overflowed its sheet (labels split or pushed onto the next one).
		if n := pdfPages(pdf); n != sheets {
			t.Errorf("the PDF has %d pages, want %d (%d labels, %d a sheet)", n, sheets, len(codes), qrcode.LabelsPerPage)
		}
	})

	// 2. The landing page of a shelf code and the page of an unknown code, on a phone.
	t.Run("landing", func(t *testing.T) {
		tab, cancelTab := chromedp.NewContext(browserCtx)
		defer cancelTab()
		if err := chromedp.Do(tab, cdpStep(network.Enable, network.EnableParams{}),
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
			cdpStep(emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: phoneUA})); err != nil {
			t.Fatal(err)
		}
		type element struct {
			Text    string `json:"text"`
			Visible bool   `json:"visible"`
		}
		var got struct {
			Name        *element `json:"name"`
			Price       *element `json:"price"`
			Body        string   `json:"body"`
			Width       int      `json:"width"`
			ScrollWidth int      `json:"scrollWidth"`
		}
		// inspect reads the page's heading and price, and whether each lies wholly within the first screen.
		const inspect = `(() => {
			const el = sel => {
				const e = document.querySelector(sel);
				if (!e) return null;
				const r = e.getBoundingClientRect(), s = getComputedStyle(e);
				return {
					text: e.innerText.trim(),
					visible: r.width > 0 && r.height > 0 && r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight &&
						r.right <= innerWidth && s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0',
				};
			};
			return {name: el('h1'), price: el('.price'), body: document.body.innerText,
				width: innerWidth, scrollWidth: document.documentElement.scrollWidth};
		})()`

		resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+"/q/"+pick.Code))
		if err != nil {
			t.Fatalf("open /q/%s: %v", pick.Code, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("/q/%s: HTTP %d %s", pick.Code, resp.Status, resp.StatusText)
		}
		if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatal(err)
		}
		if err := evalInto(tab, inspect, &got); err != nil {
			t.Fatal(err)
		}
		price := fmt.Sprintf("¥%d.%02d", pick.PriceFen/100, pick.PriceFen%100)
		if got.Name == nil || got.Name.Text != pick.ProductName || !got.Name.Visible {
			t.Errorf("product name: got %+v, want %q visible", got.Name, pick.ProductName)
		}
		if got.Price == nil || got.Price.Text != price || !got.Price.Visible {
			t.Errorf("price: got %+v, want %q visible", got.Price, price)
		}
		if got.Width != 390 || got.ScrollWidth > got.Width {
			t.Errorf("the landing page is %d px wide in a %d px viewport, want 390 and no sideways scrolling", got.ScrollWidth, got.Width)
		}
		shot, err := chromedp.Run(tab, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		saveFile(t, dir, "landing.png", shot)

		got.Name, got.Price = nil, nil
		resp, err = chromedp.RunResponse(tab, chromedp.Navigate(base+"/q/ZZZZZZZZ"))
		if err != nil {
			t.Fatalf("open /q/ZZZZZZZZ: %v", err)
		}
		if resp.Status != http.StatusNotFound {
			t.Errorf("/q/ZZZZZZZZ: HTTP %d, want 404", resp.Status)
		}
		if err := chromedp.Do(tab, chromedp.WaitVisible(chromedp.CSS("h1"))); err != nil {
			t.Fatal(err)
		}
		if err := evalInto(tab, inspect, &got); err != nil {
			t.Fatal(err)
		}
		const notFound = "这个二维码已失效或不存在"
		if got.Name == nil || got.Name.Text != notFound || !got.Name.Visible {
			t.Errorf("unknown code: heading %+v, want %q visible (page: %q)", got.Name, notFound, got.Body)
		}
		if got.ScrollWidth > got.Width {
			t.Errorf("the not-found page is %d px wide in a %d px viewport", got.ScrollWidth, got.Width)
		}
		if shot, err = chromedp.Run(tab, chromedp.FullScreenshot(100)); err != nil {
			t.Fatal(err)
		}
		saveFile(t, dir, "notfound.png", shot)
	})
	t.Logf("screenshots and PDF in %s", dir)
}

// TestBrowserConsolePickup walks a pickup order through the clerk console in headless Chromium, as the
// clerk of store S01 would: sign in through the form, see the paid order among the new orders with its
// countdown running, accept it (接单), mark it ready (备货完成), then at the counter PC's pickup desk take
// the shopper's code as a USB scanner types it (digits and Enter), check the goods and hand them over
// (确认取货). The shopper's side goes through the HTTP API of a sandbox demo hub. Screenshots of the new
// orders on a phone and of the pickup desk on a PC go to $O2OHUB_SCREENSHOTS (a temporary directory when
// unset).
func TestBrowserConsolePickup(t *testing.T) {
	dir := requireBrowser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// A sandbox hub, so that a shopper can sign in and pay without money. Its built-in WeChat holds the
	// process-wide WeChat API base while it runs; it gives it back when the hub stops at the end of this
	// test, before the next sandbox hub of this binary (TestDemoServesAndDrains) starts.
	const token = "browser-console-token"
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "demo.db") // the test raises an alert in it
	addr := startDemoHub(t, map[string]string{"O2OHUB_ADMIN_TOKEN": token, "O2OHUB_DB": dsn})
	base := "http://" + addr

	// The clerk's account, made through the admin API.
	const clerk, password = "desk-s01", "pickup-desk-test-pw"
	var account staff.View
	demoCall(t, addr, "PUT", "/api/v1/admin/staff/"+clerk, token, fmt.Sprintf(`{"password":%q,"role":"clerk","store":"S01"}`, password), &account)
	if account.Role != staff.RoleClerk || account.Store != "S01" {
		t.Fatalf("staff account = %+v, want a clerk of S01", account)
	}

	// A shopper orders for pickup at S01 and pays with the sandbox provider, which confirms the payment
	// with a signed notification a moment later.
	var shopper member.Login
	demoCall(t, addr, "POST", "/api/v1/auth/sandbox", "", `{"user":"browser-shopper"}`, &shopper)
	var ord core.OrderView
	demoCall(t, addr, "POST", "/api/v1/orders", shopper.Token,
		`{"store":"S01","fulfillment":"pickup","items":[{"sku":"YOGURT-200","qty":2},{"sku":"MILK-1L","qty":1}]}`, &ord)
	const total, items = "¥28.90", "共 3 件" // 2 × ¥6.50 + ¥15.90
	var paying map[string]any
	demoCall(t, addr, "POST", "/api/v1/orders/"+ord.OrderNo+"/pay", shopper.Token, `{"provider":"sandbox"}`, &paying)
	for deadline := time.Now().Add(10 * time.Second); ; {
		demoCall(t, addr, "GET", "/api/v1/orders/"+ord.OrderNo, shopper.Token, "", &ord)
		if ord.Status == core.StatusPaid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s is %s 10 s after paying with the sandbox, want paid", ord.OrderNo, ord.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	no := ord.OrderNo

	browserCtx := startBrowser(t, ctx)
	tab, cancelTab := chromedp.NewContext(browserCtx)
	defer cancelTab()
	phone := cdpStep(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 390, Height: 844, DeviceScaleFactor: 2, Mobile: true})
	pc := cdpStep(emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{Width: 1366, Height: 768, DeviceScaleFactor: 1})
	if err := chromedp.Do(tab, cdpStep(network.Enable, network.EnableParams{}), phone); err != nil {
		t.Fatal(err)
	}

	pg := tabPage{tab: tab, dir: dir}
	// submit clicks a button (or link) that leads to another page and checks that page was served.
	submit := func(t *testing.T, what, sel string) {
		t.Helper()
		resp, err := chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("%s: HTTP %d %s at %s", what, resp.Status, resp.StatusText, resp.URL)
		}
	}
	wantText := func(t *testing.T, where, got string, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(got, p) {
				t.Errorf("%s does not show %q; it reads:\n%s", where, p, got)
			}
		}
	}
	// card selects the order's card in the orders page's lists: kind is "" (any list), ".incoming" (new
	// orders) or ".compact" (ready for pickup).
	card := func(kind string) string {
		return fmt.Sprintf(`article.order%s:has(a.no[href="/console/orders/%s"])`, kind, no)
	}

	step(t, "sign in on a phone", func(t *testing.T) {
		resp := consoleSignIn(t, tab, base, "/console/", clerk, password)
		if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console/") {
			t.Fatalf("after signing in: HTTP %d at %s, want the orders page", resp.Status, resp.URL)
		}
		wantText(t, "the top bar", pg.text(t, "header.top"), "o2ohub 门店后台", "S01", clerk+"（店员）", "订单", "取货台", "退出")
	})

	step(t, "the new order with a running countdown", func(t *testing.T) {
		wantText(t, "the new orders' heading", pg.text(t, "section h2"), "新订单")
		wantText(t, "the new order", pg.text(t, card(".incoming")), no, "自提", "安慕希酸奶 200g", "× 2", "光明鲜牛奶 1L", "× 1", total, "接单", "拒单")
		countdown := regexp.MustCompile(`剩余 [45]:[0-5]\d`)
		first := pg.text(t, card(".incoming")+" .countdown")
		if !countdown.MatchString(first) {
			t.Fatalf("countdown reads %q, want about 5 minutes left (剩余 4:59)", first)
		}
		// console.js ticks it every second (the page's CSP lets only its own script run).
		if _, err := chromedp.Run(tab, chromedp.Poll[bool](fmt.Sprintf(`(document.querySelector(%s) || {}).innerText !== %s`, jsString(card(".incoming")+" .countdown"), jsString(first)),
			chromedp.WithPollingTimeout(3*time.Second))); err != nil {
			t.Errorf("the countdown still reads %q after 3 s: %v", first, err)
		}
		if now := pg.text(t, card(".incoming")+" .countdown"); !countdown.MatchString(now) {
			t.Errorf("countdown reads %q after ticking", now)
		}
		var width struct {
			Inner  int `json:"inner"`
			Scroll int `json:"scroll"`
		}
		if err := evalInto(tab, `({inner: innerWidth, scroll: document.documentElement.scrollWidth})`, &width); err != nil {
			t.Fatal(err)
		}
		if width.Inner != 390 || width.Scroll > width.Inner {
			t.Errorf("the orders page is %d px wide in a %d px phone, want no sideways scrolling", width.Scroll, width.Inner)
		}
		pg.shot(t, "console-orders-phone.png")
	})

	step(t, "accept", func(t *testing.T) {
		submit(t, "接单", `form[action="/console/orders/`+no+`/accept"] button`)
		wantText(t, "the message after 接单", pg.text(t, ".flash.ok"), "已接单："+no)
		if pg.text(t, card(".incoming")) != "" {
			t.Errorf("the accepted order is still among the new orders")
		}
		wantText(t, "the order to prepare", pg.text(t, card("")), no, "安慕希酸奶 200g", total, "备货完成")
	})

	step(t, "ready", func(t *testing.T) {
		submit(t, "备货完成", `form[action="/console/orders/`+no+`/ready"] button`)
		wantText(t, "the message after 备货完成", pg.text(t, ".flash.ok"), "备货完成："+no, "取货码")
		wantText(t, "the ready order", pg.text(t, card(".compact")), no, "自提", "取货台")
	})

	// The shopper's code, as the mini-program shows it.
	var pv core.PickupView
	demoCall(t, addr, "GET", "/api/v1/orders/"+no+"/pickup", shopper.Token, "", &pv)
	if !regexp.MustCompile(`^\d{8}$`).MatchString(pv.Code) {
		t.Fatalf("pickup code %q, want 8 digits", pv.Code)
	}

	step(t, "the pickup desk on the counter PC takes a scanned code", func(t *testing.T) {
		if err := chromedp.Do(tab, pc); err != nil {
			t.Fatal(err)
		}
		submit(t, "取货台", `nav a[href="/console/pickup"]`)
		// A USB scanner types into whatever has the focus: the code field must have it on arrival.
		if on := focusOn(tab, "code"); on != "code" {
			t.Fatalf("the focus is on %q, want the code field", on)
		}
		wantText(t, "the pickup desk", pg.text(t, "form.desk"), "取货码", "查询")
		resp, err := chromedp.RunResponse(tab, chromedp.KeyEvent(pv.Code+kb.Enter))
		if err != nil {
			t.Fatalf("scan the code: %v", err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("scan the code: HTTP %d", resp.Status)
		}
		wantText(t, "the checked order", pg.text(t, "section.check"), "订单 "+no, "请核对并交付以下商品", "安慕希酸奶 200g", "× 2", "光明鲜牛奶 1L", "× 1",
			items, "合计 "+total, "确认取货", "取消")
		pg.shot(t, "console-pickup-verify-pc.png")
	})

	step(t, "hand over", func(t *testing.T) {
		submit(t, "确认取货", `form[action="/console/pickup/confirm"] button`)
		wantText(t, "the message after 确认取货", pg.text(t, ".flash.ok"), "取货成功：订单 "+no, items, total)
		if pg.text(t, "section.check") != "" {
			t.Errorf("the desk still shows the order after handing it over")
		}
		if on := focusOn(tab, "code"); on != "code" {
			t.Errorf("after the hand-over the focus is on %q, want the code field for the next customer", on)
		}
		pg.shot(t, "console-pickup-success-pc.png")
	})

	demoCall(t, addr, "GET", "/api/v1/orders/"+no, shopper.Token, "", &ord)
	if ord.Status != core.StatusCompleted {
		t.Errorf("after the hand-over the shopper's order is %s, want completed", ord.Status)
	}

	// An admin's alerts page: an alert raised twice for the order (as core raises one, in a transaction).
	const admin, adminPassword = "desk-admin", "alerts-browser-test-pw"
	demoCall(t, addr, "PUT", "/api/v1/admin/staff/"+admin, token, fmt.Sprintf(`{"password":%q,"role":"admin"}`, adminPassword), &account)
	raiseDemoAlert(t, dsn, "payment_amount_mismatch", no, "sandbox paid 1 fen, order total 2890 fen")
	raiseDemoAlert(t, dsn, "payment_amount_mismatch", no, "sandbox paid 2 fen, order total 2890 fen")

	step(t, "an admin sees the alert and its count, and resolves it with a note", func(t *testing.T) {
		submit(t, "退出", `form[action="/console/logout"] button`)
		resp := consoleSignIn(t, tab, base, "/console/alerts", admin, adminPassword)
		if resp.Status != http.StatusOK || !strings.HasSuffix(resp.URL, "/console/alerts") {
			t.Fatalf("after signing in: HTTP %d at %s, want the alerts page", resp.Status, resp.URL)
		}
		// The count is a badge beside the word (innerText puts it on a line of its own).
		if got := strings.Join(strings.Fields(pg.text(t, `nav a[href="/console/alerts"]`)), " "); got != "告警 1" {
			t.Errorf("the alerts link reads %q, want 告警 1", got)
		}
		wantText(t, "the alert", pg.text(t, "article.alarm"), "支付金额不符", "×2", no, "sandbox paid 2 fen", "标记为已处理")
		pg.shot(t, "console-alerts-pc.png")
		if err := chromedp.Do(tab, chromedp.SendKeys(chromedp.CSS(`article.alarm input[name="note"]`), "已核对，顾客按原价补付")); err != nil {
			t.Fatal(err)
		}
		submit(t, "标记为已处理", `article.alarm form button`)
		wantText(t, "the message after resolving", pg.text(t, ".flash.ok"), "已处理告警", "支付金额不符")
		wantText(t, "the alerts page", pg.text(t, "main"), "没有未处理的告警")
		if got := pg.text(t, `nav a[href="/console/alerts"]`); got != "告警" {
			t.Errorf("the alerts link reads %q after resolving the only alert, want 告警 without a count", got)
		}
	})
	t.Logf("screenshots in %s", dir)
}

// raiseDemoAlert raises an alert in the demo hub's database, in a transaction, as core does.
func raiseDemoAlert(t *testing.T, dsn, kind, orderNo, detail string) {
	t.Helper()
	db, err := models.OpenExisting(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	env := domain.NewEnv(db, nil, slog.New(slog.DiscardHandler))
	if err := db.Tx(context.Background(), func(ctx context.Context) error { return events.Alert(ctx, env, kind, orderNo, detail) }); err != nil {
		t.Fatalf("raise %s: %v", kind, err)
	}
}

// requireBrowser skips the test without Chromium at /usr/bin/chromium, unless O2OHUB_TEST_BROWSER=required
// (as in CI), where it fails; it returns the directory screenshots go to.
func requireBrowser(t *testing.T) string {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("O2OHUB_TEST_BROWSER") == "required" {
			t.Fatalf("O2OHUB_TEST_BROWSER=required but there is no browser at %s (%v): apt-get install chromium", chromiumPath, err)
		}
		t.Skipf("SKIPPED, no browser at %s: to run the browser tests, apt-get install chromium fonts-wqy-microhei, then "+
			"O2OHUB_TEST_BROWSER=required go test -run Browser ./cmd/o2ohub (with O2OHUB_TEST_BROWSER=required a missing browser fails instead of skipping)", chromiumPath)
	}
	// Without a Chinese font every page still passes the DOM checks, but the screenshots show boxes where
	// the Chinese text should be, which makes them useless to look at.
	if out, err := exec.Command("fc-list", ":lang=zh", "family").Output(); err != nil || len(bytes.TrimSpace(out)) == 0 {
		msg := "no Chinese font found (fc-list :lang=zh): the screenshots will show boxes instead of Chinese text; apt-get install fonts-wqy-microhei"
		if os.Getenv("O2OHUB_TEST_BROWSER") == "required" {
			t.Error(msg)
		} else {
			t.Log("warning: " + msg)
		}
	}
	dir := os.Getenv("O2OHUB_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowser starts headless Chromium, closed when the test ends; tabs are chromedp.NewContext of the
// context it returns.
func startBrowser(t *testing.T, ctx context.Context) context.Context {
	t.Helper()
	// The profile is not a t.TempDir: Chromium's helper processes may still write into it for a moment
	// after the browser process has exited, which makes the testing package's removal fail the test.
	profile, err := os.MkdirTemp("", "o2ohub-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for i := 0; ; i++ {
			err := os.RemoveAll(profile)
			if err == nil {
				return
			}
			if i == 50 {
				t.Logf("could not remove the browser profile %s: %v", profile, err)
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chromiumPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1280, 900),
	)
	t.Cleanup(cancelAlloc)
	// chromedp's errors go to the test log, so a protocol change in a newer Chromium ("could not unmarshal
	// event") shows up there.
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}
	return browserCtx
}

// consoleSignIn opens path in tab, expects to be sent to the console's sign-in form, fills it in as a
// person would and submits it; it returns the answer to the page the sign-in leads to.
func consoleSignIn(t *testing.T, tab context.Context, base, path, user, password string) *network.Response {
	t.Helper()
	resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+path))
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	if resp.Status != http.StatusOK || !strings.Contains(resp.URL, "/console/login") {
		t.Fatalf("%s without a session: HTTP %d at %s, want the sign-in page", path, resp.Status, resp.URL)
	}
	heading, err := chromedp.Run(tab, chromedp.Text(chromedp.CSS("h1"), chromedp.NodeVisible))
	if err != nil {
		t.Fatal(err)
	}
	if heading != "门店后台登录" {
		t.Fatalf("the sign-in page's heading reads %q, want 门店后台登录", heading)
	}
	if err := chromedp.Do(tab,
		chromedp.SendKeys(chromedp.CSS("#username"), user),
		chromedp.SendKeys(chromedp.CSS("#password"), password)); err != nil {
		t.Fatalf("fill in the sign-in form: %v", err)
	}
	resp, err = chromedp.RunResponse(tab, chromedp.Click(chromedp.CSS(`form[action="/console/login"] button`), chromedp.NodeVisible))
	if err != nil {
		t.Fatalf("sign in as %s: %v", user, err)
	}
	return resp
}

// jsString writes s as a JavaScript string literal.
// tabPage is a browser tab under test, and where its screenshots go.
type tabPage struct {
	tab context.Context
	dir string
}

// text returns the text a person sees in the first element matching sel ("" when there is none).
func (p tabPage) text(t *testing.T, sel string) string {
	t.Helper()
	s, err := chromedp.Run(p.tab, chromedp.Evaluate[string](fmt.Sprintf(`(document.querySelector(%s) || {}).innerText || ""`, jsString(sel))))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(s)
}

// shot saves a full-page screenshot under name.
func (p tabPage) shot(t *testing.T, name string) {
	t.Helper()
	png, err := chromedp.Run(p.tab, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	saveFile(t, p.dir, name, png)
}

// step runs one step of a walk through the console as a subtest; the walk stops at the first that fails.
func step(t *testing.T, name string, fn func(t *testing.T)) {
	t.Helper()
	if !t.Run(name, fn) {
		t.FailNow()
	}
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// saveFile writes a screenshot (or PDF) into dir and logs where.
func saveFile(t *testing.T, dir, name string, data []byte) {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("saved %s (%d bytes)", path, len(data))
}

// pdfPageObject matches a page object of a PDF (not the /Pages tree nodes). Chromium writes object
// dictionaries uncompressed, only the page contents are compressed.
var pdfPageObject = regexp.MustCompile(`/Type\s*/Page\b`)

// pdfPages counts the pages of a PDF that Chromium printed.
func pdfPages(pdf []byte) int {
	return len(pdfPageObject.FindAll(pdf, -1))
}

// focusOn returns the id of the element that has the focus once the element with id want has it, or
// whatever has it after 3 seconds: the browser applies autofocus a frame or two after a page loads.
func focusOn(tab context.Context, want string) string {
	chromedp.Run(tab, chromedp.Poll[bool](`document.activeElement !== null && document.activeElement.id === "`+want+`"`,
		chromedp.WithPollingTimeout(3*time.Second)))
	on, _ := chromedp.Run(tab, chromedp.Evaluate[string](`document.activeElement ? document.activeElement.id : ""`))
	return on
}

// evalInto evaluates js in tab and decodes its value into out (or drops it when out is nil).
func evalInto(tab context.Context, js string, out any) error {
	raw, err := chromedp.Run(tab, chromedp.Evaluate[[]byte](js))
	if err != nil || out == nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// cdpStep is a step that sends the DevTools protocol command cmd with params to the tab it runs in.
func cdpStep[P, R any](cmd cdp.Command[P, R], params P) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, cmd, params)
		return err
	})
}

// printPDF prints the page of tab to a PDF on paper of width × height inches, the page's own @page size
// taking precedence, with backgrounds.
func printPDF(tab context.Context, width, height float64) ([]byte, error) {
	return chromedp.Run(tab, chromedp.PrintToPDF(chromedp.PDFPaper(chromedp.PaperSize{Width: width, Height: height}),
		chromedp.PDFPreferCSSPageSize(), chromedp.PDFPrintBackground()))
}
