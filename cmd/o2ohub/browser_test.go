package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/qrcode"
)

// chromiumPath is where Debian's chromium package puts the browser.
const chromiumPath = "/usr/bin/chromium"

// phoneUA is the user agent of Safari on an iPhone: a plain phone browser, neither WeChat nor Alipay, so
// the landing page is served instead of a redirect into a mini-program.
const phoneUA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"

// TestBrowserLabelsAndLanding opens a demo store's label sheet and a shelf code's landing page in
// headless Chromium, checks what a person would see (every QR image loaded, the sheet prints to A4 pages
// of 24 labels, the product name and price on the phone page, the friendly page for an unknown code) and
// saves screenshots and the printed PDF in $O2OHUB_SCREENSHOTS (a temporary directory when unset).
// Without /usr/bin/chromium it skips, unless O2OHUB_TEST_BROWSER=required (as in CI), where it fails.
func TestBrowserLabelsAndLanding(t *testing.T) {
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("O2OHUB_TEST_BROWSER") == "required" {
			t.Fatalf("O2OHUB_TEST_BROWSER=required but there is no browser at %s (%v): apt-get install chromium", chromiumPath, err)
		}
		t.Skipf("no browser at %s: apt-get install chromium to run this test (O2OHUB_TEST_BROWSER=required makes this a failure)", chromiumPath)
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
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	const token = "browser-test-token"
	// Without the sandbox: its built-in WeChat points a process-wide client at its own random port, so
	// only one sandbox demo can run in a test binary, and TestDemoServesAndDrains needs it. The pages
	// under test do not use it.
	addr := startDemoHub(t, map[string]string{"O2OHUB_ADMIN_TOKEN": token, "O2OHUB_SANDBOX": "false"})
	base := "http://" + addr

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
	var codes []core.QRView
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
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	)
	defer cancelAlloc()
	// chromedp's errors go to the test log: this cdproto predates some event fields of today's Chromium
	// ("could not unmarshal event: unknown IPAddressSpace value"), which is harmless here.
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	defer cancelBrowser()
	if err := chromedp.Run(browserCtx); err != nil {
		t.Fatalf("start %s: %v", chromiumPath, err)
	}

	save := func(t *testing.T, name string, data []byte) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s (%d bytes)", path, len(data))
	}

	// 1. The label sheet, as the admin sees it on a desktop screen and as it prints.
	t.Run("labels", func(t *testing.T) {
		tab, cancelTab := chromedp.NewContext(browserCtx)
		defer cancelTab()
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:"+token))
		if err := chromedp.Run(tab, network.Enable(), network.SetExtraHTTPHeaders(network.Headers{"Authorization": auth}),
			chromedp.EmulateViewport(1280, 900)); err != nil {
			t.Fatal(err)
		}
		resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+"/console/stores/S01/labels"))
		if err != nil {
			t.Fatalf("open the label sheet: %v", err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("label sheet: HTTP %d %s", resp.Status, resp.StatusText)
		}
		if err := chromedp.Run(tab, chromedp.WaitVisible(".label", chromedp.ByQuery)); err != nil {
			t.Fatalf("waiting for the labels: %v", err)
		}
		// Give the QR images a moment to decode; broken ones are counted (and screenshotted) below.
		var allLoaded bool
		if err := chromedp.Run(tab, chromedp.Poll(`[...document.images].every(i => i.complete && i.naturalWidth > 0)`, &allLoaded,
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
		if err := chromedp.Run(tab, chromedp.Evaluate(`(() => {
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
		})()`, &got)); err != nil {
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

		var shot []byte
		if err := chromedp.Run(tab, chromedp.FullScreenshot(&shot, 100)); err != nil {
			t.Fatal(err)
		}
		save(t, "labels.png", shot)

		var pdf []byte
		if err := chromedp.Run(tab, chromedp.ActionFunc(func(ctx context.Context) error {
			var err error
			// A4 in inches; the sheet's @page rule sets the size and margins too.
			pdf, _, err = page.PrintToPDF().WithPaperWidth(8.27).WithPaperHeight(11.69).
				WithPreferCSSPageSize(true).WithPrintBackground(true).Do(ctx)
			return err
		})); err != nil {
			t.Fatalf("print to PDF: %v", err)
		}
		save(t, "labels.pdf", pdf)
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
		if err := chromedp.Run(tab, network.Enable(),
			chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile),
			emulation.SetUserAgentOverride(phoneUA)); err != nil {
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
		inspect := chromedp.Evaluate(`(() => {
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
		})()`, &got)

		resp, err := chromedp.RunResponse(tab, chromedp.Navigate(base+"/q/"+pick.Code))
		if err != nil {
			t.Fatalf("open /q/%s: %v", pick.Code, err)
		}
		if resp.Status != http.StatusOK {
			t.Fatalf("/q/%s: HTTP %d %s", pick.Code, resp.Status, resp.StatusText)
		}
		if err := chromedp.Run(tab, chromedp.WaitVisible("h1", chromedp.ByQuery), inspect); err != nil {
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
		var shot []byte
		if err := chromedp.Run(tab, chromedp.FullScreenshot(&shot, 100)); err != nil {
			t.Fatal(err)
		}
		save(t, "landing.png", shot)

		got.Name, got.Price = nil, nil
		resp, err = chromedp.RunResponse(tab, chromedp.Navigate(base+"/q/ZZZZZZZZ"))
		if err != nil {
			t.Fatalf("open /q/ZZZZZZZZ: %v", err)
		}
		if resp.Status != http.StatusNotFound {
			t.Errorf("/q/ZZZZZZZZ: HTTP %d, want 404", resp.Status)
		}
		if err := chromedp.Run(tab, chromedp.WaitVisible("h1", chromedp.ByQuery), inspect); err != nil {
			t.Fatal(err)
		}
		const notFound = "这个二维码已失效或不存在"
		if got.Name == nil || got.Name.Text != notFound || !got.Name.Visible {
			t.Errorf("unknown code: heading %+v, want %q visible (page: %q)", got.Name, notFound, got.Body)
		}
		if got.ScrollWidth > got.Width {
			t.Errorf("the not-found page is %d px wide in a %d px viewport", got.ScrollWidth, got.Width)
		}
		if err := chromedp.Run(tab, chromedp.FullScreenshot(&shot, 100)); err != nil {
			t.Fatal(err)
		}
		save(t, "notfound.png", shot)
	})
	t.Logf("screenshots and PDF in %s", dir)
}

// startDemoHub runs `o2ohub demo` on a free port with a fresh SQLite database and the given extra
// environment, waits until it answers, and stops it (expecting a clean drain) when the test ends.
func startDemoHub(t *testing.T, extra map[string]string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	env := map[string]string{"O2OHUB_ADDR": addr, "O2OHUB_DB": "sqlite:" + filepath.Join(t.TempDir(), "demo.db"), "O2OHUB_PASSWORD_COST": "4"}
	for k, v := range extra {
		env[k] = v
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"demo"}, io.Discard, func(k string) string { return env[k] }) }()
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
	for i := 0; i < 200; i++ {
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

// pdfPageObject matches a page object of a PDF (not the /Pages tree nodes). Chromium writes object
// dictionaries uncompressed, only the page contents are compressed.
var pdfPageObject = regexp.MustCompile(`/Type\s*/Page\b`)

// pdfPages counts the pages of a PDF that Chromium printed.
func pdfPages(pdf []byte) int {
	return len(pdfPageObject.FindAll(pdf, -1))
}
