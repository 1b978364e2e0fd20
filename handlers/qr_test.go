package handlers

// End-to-end tests of shelf QR codes over the real HTTP API: every code kind, bulk shelf codes,
// withdrawn and unknown codes, the QR PNG read back with an independent reader, the landing page, scan
// counting and order attribution, and the printable label sheet.

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"image/png"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/makiuchi-d/gozxing"
	zxqr "github.com/makiuchi-d/gozxing/qrcode"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
	"github.com/o2ohub/o2ohub/qrcode"
)

// ---------------------------------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------------------------------

// User agents of the three scan channels.
const (
	qrUABrowser = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
	qrUAWeChat  = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
	qrUAAlipay  = "Mozilla/5.0 (Linux; U; Android 13; zh-CN; V2055A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 Mobile Safari/537.36 Nebula AliApp(AP/10.5.36.8100) AlipayClient/10.5.36.8100 Language/zh-Hans Region/CN"
)

// The mini-program links of the landing page; "{code}" is replaced by the scanned code.
const (
	qrWechatLink = "weixin://dl/business/?t=abc&code={code}"
	qrAlipayLink = "alipays://platformapi/startapp?appId=2021000000000000&query=code%3D{code}"
)

// qrConfig varies how a QR test hub is built.
type qrConfig struct {
	traceLimit             int64 // core.Options.TraceScanLimit; core's default when 0
	wechatLink, alipayLink string
	gateway                bool         // register the sandbox payment gateway
	noAdmin                bool         // AdminToken "" (admin API disabled)
	clock                  domain.Clock // the system clock when nil
}

// newQREnv builds the hub of newHubEnv with the QR settings of cfg. Its client does not follow
// redirects, so that a landing page's redirect into a mini-program can be inspected.
func newQREnv(tb testing.TB, db *models.DB, cfg qrConfig) *hubEnv {
	tb.Helper()
	return newHubEnv(tb, db, hubConfig{noAdmin: cfg.noAdmin, gateway: cfg.gateway, clock: cfg.clock, noRedirect: true,
		// A trailing slash on the public URL must not show up as "//q/" in code URLs.
		publicURL: func(u string) string { return u + "/" },
		core:      func(o *core.Options) { o.TraceScanLimit = cfg.traceLimit },
		deps: func(d *Deps) {
			d.ScanPage, d.WechatLink, d.AlipayLink = "pages/scan/index", cfg.wechatLink, cfg.alipayLink
			d.TrustedProxies = []string{"127.0.0.1", "::1"}
		}})
}

// qrProducts are the catalog of the QR tests.
var qrProducts = []struct {
	sku, name string
	priceFen  int64
}{
	{"BUN", "鲜肉包 2只", 300},
	{"RICE", "五常大米 5kg", 4500},
	{"TEA", "明前龙井 250g", 1590},
	{"SOAP", "檀香皂", 800},
}

// qrSeed sets up stores around S01 and their stock. S01 stocks BUN, RICE (none on hand) and TEA, not
// SOAP. TEA is also at S02 (1 km), S03 (3 km), S06 (5 km) and S07 (7 km), which have it; S04 (closed,
// 0.5 km) and S05 (2 km, none on hand) do not count as nearby.
func qrSeed(t testing.TB, e *hubEnv) {
	t.Helper()
	for _, s := range []hubStore{
		{code: "S01", lat: hubLat, lng: hubLng, status: "open"},
		{code: "S02", lat: hubLat + 0.009, lng: hubLng, status: "open"},
		{code: "S03", lat: hubLat + 0.027, lng: hubLng, status: "open"},
		{code: "S04", lat: hubLat + 0.0045, lng: hubLng, status: "closed"},
		{code: "S05", lat: hubLat + 0.018, lng: hubLng, status: "open"},
		{code: "S06", lat: hubLat + 0.045, lng: hubLng, status: "open"},
		{code: "S07", lat: hubLat + 0.063, lng: hubLng, status: "open"},
	} {
		e.putStore(t, s)
	}
	for _, p := range qrProducts {
		hubDecode[catalog.ProductView](t, e.put(t, "/api/v1/admin/products/"+p.sku, hubAdminAuth, map[string]any{"name": p.name, "price_fen": p.priceFen}), http.StatusOK)
	}
	for _, st := range []struct {
		store, sku string
		n          int64
	}{
		{"S01", "BUN", 5}, {"S01", "RICE", 0}, {"S01", "TEA", 7},
		{"S02", "TEA", 3}, {"S02", "BUN", 2},
		{"S03", "TEA", 2}, {"S03", "SOAP", 4},
		{"S04", "TEA", 9},
		{"S05", "TEA", 0},
		{"S06", "TEA", 1},
		{"S07", "TEA", 1},
	} {
		e.putStock(t, st.store, st.sku, st.n)
	}
}

// qrCreate creates a code through the admin API.
func (e *hubEnv) qrCreate(t testing.TB, body any) shelf.QRView {
	t.Helper()
	v := hubDecode[shelf.QRView](t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, body), http.StatusCreated)
	e.qrWantWellFormed(t, v)
	return v
}

// qrWantWellFormed checks a code's form and URL.
func (e *hubEnv) qrWantWellFormed(t testing.TB, v shelf.QRView) {
	t.Helper()
	if !qrcode.ValidCode(v.Code) {
		t.Errorf("code %q is not of the form qrcode.NewCode makes", v.Code)
	}
	if want := e.srv.URL + "/q/" + v.Code; v.URL != want {
		t.Errorf("url = %q, want %q", v.URL, want)
	}
	if v.CreatedAt.IsZero() {
		t.Errorf("code %s has no created_at", v.Code)
	}
}

// qrScanReq is a GET of a scan path with a User-Agent ("" sends Go's default).
func (e *hubEnv) qrGet(t testing.TB, path, ua string) hubResp {
	t.Helper()
	var h map[string]string
	if ua != "" {
		h = map[string]string{"User-Agent": ua}
	}
	return e.do(t, hubReq{method: http.MethodGet, path: path, header: h})
}

// qrScan scans code through the mini-programs' endpoint and expects a success.
func (e *hubEnv) qrScan(t testing.TB, code, ua string) shelf.ScanView {
	t.Helper()
	return hubDecode[shelf.ScanView](t, e.qrGet(t, "/api/v1/scan/"+code, ua), http.StatusOK)
}

// qrRaw fetches path without the leak check of do: for binary bodies and base64-heavy pages, where
// "panic" can turn up by chance.
func (e *hubEnv) qrRaw(t testing.TB, path string, header map[string]string) hubResp {
	t.Helper()
	h := http.Header{}
	for k, v := range header {
		h.Set(k, v)
	}
	return hubRespOf(e.http.Send(t, httpx.Request{Method: http.MethodGet, Path: path, Header: h}))
}

// qrDelete withdraws a code.
func (e *hubEnv) qrDelete(t testing.TB, code string) hubResp {
	t.Helper()
	return e.do(t, hubReq{method: http.MethodDelete, path: "/api/v1/admin/qrcodes/" + code, auth: hubAdminAuth})
}

// qrLiveShelf returns sku → the live product codes of a store, straight from qr_codes.
func qrLiveShelf(t testing.TB, db *models.DB, store string) map[string][]string {
	t.Helper()
	var rows []struct{ SKU, Code string }
	err := db.Conn(context.Background()).Table("qr_codes").Select("products.sku AS sku, qr_codes.code AS code").
		Joins("JOIN stores ON stores.id = qr_codes.store_id").Joins("JOIN products ON products.id = qr_codes.product_id").
		Where("stores.code = ? AND qr_codes.kind = ? AND qr_codes.disabled_at IS NULL", store, shelf.QRProduct).Scan(&rows).Error
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, r := range rows {
		out[r.SKU] = append(out[r.SKU], r.Code)
	}
	return out
}

// qrCount counts qr_codes rows matching where.
func qrCount(t testing.TB, db *models.DB, where string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.Conn(context.Background()).Table("qr_codes").Where(where, args...).Count(&n).Error; err != nil {
		t.Fatal(err)
	}
	return n
}

// qrDecodePNG reads the QR code in a PNG with gozxing, a reader independent of the writer. gozxing's
// finder-pattern detector misses about 1 symbol in 700 that other readers (zbar) read; for those it
// reads the image as the pure barcode it is, which still checks format, version and error correction.
func qrDecodePNG(t testing.TB, b []byte) (string, int, int) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("png.Decode: %v", err)
	}
	bmp, err := gozxing.NewBinaryBitmapFromImage(img)
	if err != nil {
		t.Fatalf("NewBinaryBitmapFromImage: %v", err)
	}
	res, err := zxqr.NewQRCodeReader().Decode(bmp, nil)
	if err != nil {
		var perr error
		res, perr = zxqr.NewQRCodeReader().Decode(bmp, map[gozxing.DecodeHintType]any{gozxing.DecodeHintType_PURE_BARCODE: true})
		if perr != nil {
			t.Fatalf("gozxing could not read the QR code: %v; as a pure barcode: %v", err, perr)
		}
		t.Logf("gozxing's detector missed the symbol (%v); read as a pure barcode", err)
	}
	return res.GetText(), img.Bounds().Dx(), img.Bounds().Dy()
}

// qrWantHTML checks that r is an HTML page with status and returns it as text.
func qrWantHTML(t testing.TB, r hubResp, status int) string {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body: %s", r.status, status, r)
	}
	if ct := r.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type = %q, want text/html; charset=utf-8", ct)
	}
	page := string(r.body)
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, `lang="zh-CN"`) {
		t.Errorf("not a Chinese HTML page: %.200s", page)
	}
	return page
}

// qrWantFriendly checks the friendly page of an unknown (404) or withdrawn (410) code: Chinese, with
// nothing of the system's internals.
func qrWantFriendly(t testing.TB, r hubResp, disabled bool) string {
	t.Helper()
	status, reason := http.StatusNotFound, "没有找到这个二维码对应的商品或门店"
	if disabled {
		status, reason = http.StatusGone, "该二维码已被门店撤下"
	}
	page := qrWantHTML(t, r, status)
	for _, want := range []string{"<title>二维码已失效</title>", "这个二维码已失效或不存在", reason, "如需帮助，请咨询店内工作人员"} {
		if !strings.Contains(page, want) {
			t.Errorf("friendly page lacks %q: %s", want, page)
		}
	}
	low := strings.ToLower(page)
	for _, leak := range []string{"goroutine", "panic", "error", "not found", "withdrawn", "record", "sql", ".go:", "core:", "qrcode:", "runtime", "{\"", "stack"} {
		if strings.Contains(low, leak) {
			t.Errorf("friendly page leaks %q: %s", leak, page)
		}
	}
	return page
}

// qrReport fetches the scan report.
func (e *hubEnv) qrReport(t testing.TB, query string) map[string]shelf.ScanReportRow {
	t.Helper()
	rows := hubDecode[[]shelf.ScanReportRow](t, e.get(t, "/api/v1/admin/reports/scans"+query, hubAdminAuth), http.StatusOK)
	out := map[string]shelf.ScanReportRow{}
	for i, r := range rows {
		if i > 0 && r.Scans > rows[i-1].Scans {
			t.Errorf("report is not busiest first: %+v", rows)
		}
		out[r.Code] = r
	}
	return out
}

func (e *hubEnv) qrFlush(t testing.TB) int {
	t.Helper()
	n, err := e.svc.Shelf.FlushScans(context.Background(), 0)
	if err != nil {
		t.Fatalf("FlushScans: %v", err)
	}
	return n
}

// qrBasic is an HTTP basic Authorization header.
func qrBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// qrJourney is a full journey of batch B2024-001 of TEA.
var qrJourney = []shelf.TraceStepInput{
	{Step: "production", Date: "2024-03-01", Place: "杭州西湖龙井村"},
	{Step: "inspection", Date: "2024-03-05", Place: "杭州", Document: "CIQ-2024-0305"},
	{Step: "import", Date: "2024-03-10", Place: "上海洋山港", Document: "DEC-2024-0310"},
	{Step: "arrival", Date: "2024-03-12", Place: "人民广场店"},
}

func qrWantJourney(t testing.TB, got *shelf.TraceView, batch string, steps []shelf.TraceStepInput) {
	t.Helper()
	if got == nil {
		t.Fatalf("no trace, want batch %s", batch)
	}
	if got.BatchNo != batch || got.SKU != "TEA" || len(got.Steps) != len(steps) {
		t.Fatalf("trace = %+v, want batch %s of TEA with %d steps", got, batch, len(steps))
	}
	for i, s := range steps {
		want := shelf.TraceStepView{Step: s.Step, Date: s.Date, Place: s.Place, Document: s.Document}
		if got.Steps[i] != want {
			t.Errorf("step %d = %+v, want %+v", i+1, got.Steps[i], want)
		}
	}
}

// ---------------------------------------------------------------------------------------------------
// Every kind
// ---------------------------------------------------------------------------------------------------

func TestQRKinds(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{traceLimit: 2})
		qrSeed(t, e)

		var product, store, campaign, batch shelf.QRView
		hubStep(t, "product code, asked twice, is one code", func(t *testing.T) {
			product = e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
			want := shelf.QRView{Code: product.Code, URL: product.URL, Kind: "product", Store: "S01", SKU: "TEA", ProductName: "明前龙井 250g", PriceFen: 1590, CreatedAt: product.CreatedAt}
			if product != want {
				t.Errorf("product code = %+v, want %+v", product, want)
			}
			again := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
			if again.Code != product.Code {
				t.Errorf("second request made code %s, want the existing %s", again.Code, product.Code)
			}
			if got := qrLiveShelf(t, db, "S01")["TEA"]; len(got) != 1 {
				t.Errorf("live TEA codes at S01 = %v, want one", got)
			}
			// PostgreSQL keeps microseconds (see TestQRCreatedAtAsStored).
			if got := hubDecode[shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes/"+product.Code, hubAdminAuth), http.StatusOK); got.CreatedAt.Sub(product.CreatedAt).Abs() >= time.Microsecond || got.Code != product.Code || got.SKU != "TEA" {
				t.Errorf("GET code = %+v, want %+v", got, product)
			}
			// The same product at another store is another code.
			if other := e.qrCreate(t, map[string]any{"kind": "product", "store": "S02", "sku": "TEA"}); other.Code == product.Code || other.Store != "S02" {
				t.Errorf("TEA at S02 = %+v, want a code of its own", other)
			}
		})

		t.Run("product scan shows availability here and the nearest stores that have it", func(t *testing.T) {
			v := e.qrScan(t, product.Code, qrUABrowser)
			if v.Code != product.Code || v.Kind != "product" || v.Store == nil || v.Store.Code != "S01" || v.Product == nil ||
				*v.Product != (catalog.ProductView{SKU: "TEA", Name: "明前龙井 250g", PriceFen: 1590}) || v.Available != 7 {
				t.Fatalf("scan = %+v, want TEA at S01 with 7 available", v)
			}
			var near []string
			for i, n := range v.Nearby {
				near = append(near, fmt.Sprintf("%s:%d", n.Store.Code, n.Available))
				if i > 0 && n.DistanceM < v.Nearby[i-1].DistanceM {
					t.Errorf("nearby not nearest first: %+v", v.Nearby)
				}
				if want := catalog.DistanceM(hubLat, hubLng, n.Store.Lat, n.Store.Lng); n.DistanceM < want-1 || n.DistanceM > want+1 {
					t.Errorf("distance to %s = %.0f, want %.0f", n.Store.Code, n.DistanceM, want)
				}
			}
			// S04 is closed, S05 has none, S07 is the fourth: only three are listed.
			if !slices.Equal(near, []string{"S02:3", "S03:2", "S06:1"}) {
				t.Errorf("nearby = %v, want [S02:3 S03:2 S06:1]", near)
			}
			if v.Products != nil || v.Trace != nil || v.Warning != "" || v.Campaign != "" {
				t.Errorf("a product scan carries other kinds' fields: %+v", v)
			}
		})

		hubStep(t, "store code", func(t *testing.T) {
			hubWantError(t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, map[string]any{"kind": "store"}), http.StatusBadRequest, "invalid_argument")
			hubWantError(t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, map[string]any{"kind": "store", "store": "NOPE"}), http.StatusNotFound, "not_found")
			store = e.qrCreate(t, map[string]any{"kind": "store", "store": "S01"})
			if store.Kind != "store" || store.Store != "S01" || store.SKU != "" || store.Code == product.Code {
				t.Fatalf("store code = %+v", store)
			}
			v := e.qrScan(t, store.Code, "")
			want := hubDecode[[]catalog.Availability](t, e.get(t, "/api/v1/stores/S01/products", ""), http.StatusOK)
			if v.Kind != "store" || v.Store == nil || v.Store.Code != "S01" || v.Product != nil || !slices.Equal(v.Products, want) {
				t.Errorf("store scan = %+v, want S01 with products %+v", v, want)
			}
			var skus []string
			for _, p := range v.Products {
				skus = append(skus, p.SKU)
			}
			if !slices.Equal(skus, []string{"BUN", "RICE", "TEA"}) {
				t.Errorf("store scan lists %v, want the stocked BUN RICE TEA", skus)
			}
		})

		hubStep(t, "campaign code", func(t *testing.T) {
			for _, name := range []string{"", "   ", strings.Repeat("促", 65)} {
				hubWantError(t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, map[string]any{"kind": "campaign", "campaign": name}), http.StatusBadRequest, "invalid_argument")
			}
			campaign = e.qrCreate(t, map[string]any{"kind": "campaign", "campaign": " 中秋满100减20 ", "store": "S01"})
			if campaign.Kind != "campaign" || campaign.Campaign != "中秋满100减20" || campaign.Store != "S01" {
				t.Fatalf("campaign code = %+v", campaign)
			}
			if v := e.qrScan(t, campaign.Code, ""); v.Kind != "campaign" || v.Campaign != "中秋满100减20" || v.Store == nil || v.Store.Code != "S01" {
				t.Errorf("campaign scan = %+v", v)
			}
			chainwide := e.qrCreate(t, map[string]any{"kind": "campaign", "campaign": strings.Repeat("促", 64)})
			if v := e.qrScan(t, chainwide.Code, ""); v.Campaign != strings.Repeat("促", 64) || v.Store != nil {
				t.Errorf("chain-wide campaign scan = %+v", v)
			}
		})

		hubStep(t, "trace batch journey", func(t *testing.T) {
			got := hubDecode[shelf.TraceView](t, e.put(t, "/api/v1/admin/trace/batches/B2024-001", hubAdminAuth, map[string]any{"sku": "TEA", "steps": qrJourney}), http.StatusOK)
			qrWantJourney(t, &got, "B2024-001", qrJourney)
		})

		t.Run("bad journeys are refused and change nothing", func(t *testing.T) {
			steps := func(mod func(s []shelf.TraceStepInput) []shelf.TraceStepInput) []shelf.TraceStepInput {
				return mod(slices.Clone(qrJourney))
			}
			var twentyOne []shelf.TraceStepInput
			for i := 0; i < 21; i++ {
				twentyOne = append(twentyOne, shelf.TraceStepInput{Step: "arrival", Date: "2024-03-12"})
			}
			bad := []struct {
				name, batch string
				body        any
				status      int
				code        string
			}{
				{"bad step name", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[1].Step = "shipping"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"bad date", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[2].Date = "2024/03/10"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"no such day", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[0].Date = "2024-02-30"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"date in the future", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[3].Date = "2099-01-01"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"date absurdly old", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[0].Date = "1900-01-01"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"dates going back", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[3].Date = "2024-03-09"
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"steps out of journey order", "B2024-001", map[string]any{"sku": "TEA", "steps": steps(func(s []shelf.TraceStepInput) []shelf.TraceStepInput {
					s[1].Step, s[2].Step = "import", "inspection" // dates still go forward
					return s
				})}, http.StatusBadRequest, "invalid_argument"},
				{"too many steps", "B2024-001", map[string]any{"sku": "TEA", "steps": twentyOne}, http.StatusBadRequest, "invalid_argument"},
				{"unknown sku", "B2024-001", map[string]any{"sku": "NOPE", "steps": qrJourney}, http.StatusNotFound, "not_found"},
				{"bad batch number", "B%21001", map[string]any{"sku": "TEA", "steps": qrJourney}, http.StatusBadRequest, "invalid_argument"},
				{"not JSON", "B2024-001", "{", http.StatusBadRequest, "invalid_argument"},
			}
			for _, tc := range bad {
				t.Run(tc.name, func(t *testing.T) {
					msg := hubWantError(t, e.put(t, "/api/v1/admin/trace/batches/"+tc.batch, hubAdminAuth, tc.body), tc.status, tc.code)
					if tc.name == "date in the future" && (!strings.Contains(msg, "step 4") || !strings.Contains(msg, "date")) {
						t.Errorf("message %q does not name step 4's date", msg)
					}
					if tc.name == "dates going back" && !strings.Contains(msg, "step 4") {
						t.Errorf("message %q does not name step 4", msg)
					}
					if tc.name == "steps out of journey order" && !strings.Contains(msg, "step 3") {
						t.Errorf("message %q does not name step 3", msg)
					}
				})
			}
			var n int64
			if err := db.Conn(context.Background()).Table("trace_steps").Count(&n).Error; err != nil || n != 4 {
				t.Errorf("trace_steps has %d rows (%v) after refused journeys, want the 4 of the first", n, err)
			}
		})

		hubStep(t, "unit codes are numbered on", func(t *testing.T) {
			units := hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/trace/batches/B2024-001/codes", hubAdminAuth, map[string]any{"count": 3, "store": "S01"}), http.StatusCreated)
			if len(units) != 3 {
				t.Fatalf("%d unit codes, want 3", len(units))
			}
			seen := map[string]bool{}
			for i, u := range units {
				e.qrWantWellFormed(t, u)
				if want := fmt.Sprintf("%06d", i+1); u.Kind != "trace" || u.Batch != "B2024-001" || u.Unit != want || u.Store != "S01" || u.SKU != "TEA" || seen[u.Code] {
					t.Errorf("unit code %d = %+v, want unit %s of B2024-001 at S01", i+1, u, want)
				}
				seen[u.Code] = true
			}
			more := hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/trace/batches/B2024-001/codes", hubAdminAuth, map[string]any{"count": 2}), http.StatusCreated)
			if len(more) != 2 || more[0].Unit != "000004" || more[1].Unit != "000005" || more[0].Store != "" {
				t.Errorf("next unit codes = %+v, want 000004 and 000005 without a store", more)
			}
			for _, tc := range []struct {
				path   string
				body   any
				status int
				code   string
			}{
				{"B2024-001", map[string]any{"count": 0}, http.StatusBadRequest, "invalid_argument"},
				{"B2024-001", map[string]any{"count": shelf.MaxUnitCodes + 1}, http.StatusBadRequest, "invalid_argument"},
				{"B2024-001", map[string]any{"count": -1}, http.StatusBadRequest, "invalid_argument"},
				{"B2024-001", map[string]any{"count": 1, "store": "NOPE"}, http.StatusNotFound, "not_found"},
				{"NOPE", map[string]any{"count": 1}, http.StatusNotFound, "not_found"},
			} {
				hubWantError(t, e.post(t, "/api/v1/admin/trace/batches/"+tc.path+"/codes", hubAdminAuth, tc.body), tc.status, tc.code)
			}
			if n := qrCount(t, db, "kind = ? AND unit <> ''", shelf.QRTrace); n != 5 {
				t.Errorf("%d unit codes exist, want 5 (refused requests make none)", n)
			}
		})

		hubStep(t, "batch code without a unit", func(t *testing.T) {
			hubWantError(t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, map[string]any{"kind": "trace", "batch": "NOPE"}), http.StatusNotFound, "not_found")
			batch = e.qrCreate(t, map[string]any{"kind": "trace", "batch": "B2024-001"})
			if batch.Kind != "trace" || batch.Batch != "B2024-001" || batch.Unit != "" || batch.SKU != "TEA" || batch.Store != "" {
				t.Fatalf("batch code = %+v", batch)
			}
			// Only unit codes warn of copies: the batch code is printed on every box.
			for i := 0; i < 4; i++ {
				v := e.qrScan(t, batch.Code, "")
				if v.Kind != "trace" || v.Warning != "" || v.Product == nil || v.Product.SKU != "TEA" {
					t.Fatalf("batch scan %d = %+v, want TEA without a warning", i+1, v)
				}
				qrWantJourney(t, v.Trace, "B2024-001", qrJourney)
			}
		})

		t.Run("a journey put again replaces the old one", func(t *testing.T) {
			short := qrJourney[:2]
			hubDecode[shelf.TraceView](t, e.put(t, "/api/v1/admin/trace/batches/B2024-001", hubAdminAuth, map[string]any{"sku": "TEA", "steps": short}), http.StatusOK)
			qrWantJourney(t, e.qrScan(t, batch.Code, "").Trace, "B2024-001", short)
		})

		t.Run("bad requests", func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				body   any
				status int
				code   string
			}{
				{"unknown kind", map[string]any{"kind": "shelf", "store": "S01", "sku": "TEA"}, http.StatusBadRequest, "invalid_argument"},
				{"no kind", map[string]any{"store": "S01", "sku": "TEA"}, http.StatusBadRequest, "invalid_argument"},
				{"product without sku", map[string]any{"kind": "product", "store": "S01"}, http.StatusBadRequest, "invalid_argument"},
				{"product without store", map[string]any{"kind": "product", "sku": "TEA"}, http.StatusBadRequest, "invalid_argument"},
				{"unknown store", map[string]any{"kind": "product", "store": "NOPE", "sku": "TEA"}, http.StatusNotFound, "not_found"},
				{"unknown sku", map[string]any{"kind": "product", "store": "S01", "sku": "NOPE"}, http.StatusNotFound, "not_found"},
				{"not JSON", "kind=product", http.StatusBadRequest, "invalid_argument"},
				{"kind not a string", `{"kind":1}`, http.StatusBadRequest, "invalid_argument"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					hubWantError(t, e.post(t, "/api/v1/admin/qrcodes", hubAdminAuth, tc.body), tc.status, tc.code)
				})
			}
			for _, code := range []string{"ZZZZZZZZ", "abc", "UNKNOWN1"} {
				hubWantError(t, e.get(t, "/api/v1/admin/qrcodes/"+code, hubAdminAuth), http.StatusNotFound, "not_found")
				hubWantError(t, e.get(t, "/api/v1/scan/"+code, ""), http.StatusNotFound, "not_found")
			}
			hubWantError(t, e.get(t, "/api/v1/admin/qrcodes?store=NOPE", hubAdminAuth), http.StatusNotFound, "not_found")
			// This hub has no WeChat: no mini-program codes.
			hubWantError(t, e.get(t, "/api/v1/admin/qrcodes/"+product.Code+"/wxacode", hubAdminAuth), http.StatusNotFound, "not_found")
		})

		t.Run("listing", func(t *testing.T) {
			all := hubDecode[[]shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes", hubAdminAuth), http.StatusOK)
			s01 := hubDecode[[]shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes?store=S01", hubAdminAuth), http.StatusOK)
			// TEA at S01 and S02, the store code, two campaigns, five units (three at S01), the batch code.
			if len(all) != 11 {
				t.Errorf("%d codes listed, want 11", len(all))
			}
			var codes []string
			for _, v := range s01 {
				if v.Store != "S01" {
					t.Errorf("listing of S01 holds %+v", v)
				}
				codes = append(codes, v.Code)
			}
			for _, want := range []string{product.Code, store.Code, campaign.Code} {
				if !slices.Contains(codes, want) {
					t.Errorf("listing of S01 lacks %s", want)
				}
			}
			if len(s01) != 6 {
				t.Errorf("%d codes listed for S01, want 6", len(s01))
			}
		})

		t.Run("the admin token is required", func(t *testing.T) {
			guesser := 0
			for _, r := range []hubReq{
				{method: http.MethodPost, path: "/api/v1/admin/qrcodes", body: map[string]any{"kind": "store", "store": "S01"}},
				{method: http.MethodGet, path: "/api/v1/admin/qrcodes"},
				{method: http.MethodGet, path: "/api/v1/admin/qrcodes/" + product.Code},
				{method: http.MethodGet, path: "/api/v1/admin/qrcodes/" + product.Code + ".png"},
				{method: http.MethodGet, path: "/api/v1/admin/qrcodes/" + product.Code + "/wxacode"},
				{method: http.MethodDelete, path: "/api/v1/admin/qrcodes/" + product.Code},
				{method: http.MethodPost, path: "/api/v1/admin/stores/S01/qrcodes"},
				{method: http.MethodPut, path: "/api/v1/admin/trace/batches/B2", body: map[string]any{"sku": "TEA", "steps": qrJourney}},
				{method: http.MethodPost, path: "/api/v1/admin/trace/batches/B2024-001/codes", body: map[string]any{"count": 1}},
				{method: http.MethodGet, path: "/api/v1/admin/reports/scans"},
			} {
				for _, auth := range []string{"", hubBearer("wrong"), qrBasic("admin", hubAdminToken)} {
					t.Run(r.method+" "+r.path+" "+auth, func(t *testing.T) {
						// Each from an address of its own: wrong tokens are limited per address.
						guesser++
						r.auth, r.header = auth, map[string]string{"X-Forwarded-For": fmt.Sprintf("203.0.113.%d", guesser)}
						resp := e.do(t, r)
						hubWantError(t, resp, http.StatusUnauthorized, "unauthenticated")
						if !strings.HasPrefix(resp.header.Get("WWW-Authenticate"), "Bearer") {
							t.Errorf("WWW-Authenticate = %q", resp.header.Get("WWW-Authenticate"))
						}
					})
				}
			}
			if n := qrCount(t, db, "1 = 1"); n != 11 {
				t.Errorf("%d codes after refused requests, want 11", n)
			}
			if v := hubDecode[shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes/"+product.Code, hubAdminAuth), http.StatusOK); v.Disabled {
				t.Errorf("an unauthenticated DELETE withdrew the code")
			}
		})
	})
}

// TestQRCreatedAtAsStored: the created_at of the answer that made a code is the one read back later.
func TestQRCreatedAtAsStored(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{})
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		made := e.qrCreate(t, map[string]any{"kind": "store", "store": "S01"})
		got := hubDecode[shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes/"+made.Code, hubAdminAuth), http.StatusOK)
		if !got.CreatedAt.Equal(made.CreatedAt) {
			t.Errorf("created_at read back = %v, made = %v", got.CreatedAt, made.CreatedAt)
		}
	})
}

// ---------------------------------------------------------------------------------------------------
// Bulk shelf codes
// ---------------------------------------------------------------------------------------------------

func TestQRBulkStoreCodes(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{})
		qrSeed(t, e)
		bulk := func(t *testing.T, store string) []shelf.QRView {
			t.Helper()
			return hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/stores/"+store+"/qrcodes", hubAdminAuth, nil), http.StatusOK)
		}
		bySKU := func(t *testing.T, vs []shelf.QRView) map[string]string {
			t.Helper()
			out := map[string]string{}
			for _, v := range vs {
				out[v.SKU] = v.Code
			}
			return out
		}

		var tea shelf.QRView
		var first map[string]string
		hubStep(t, "one code per stocked SKU, reusing an existing one", func(t *testing.T) {
			tea = e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
			got := bulk(t, "S01")
			var skus []string
			for _, v := range got {
				e.qrWantWellFormed(t, v)
				if v.Kind != "product" || v.Store != "S01" || v.Disabled {
					t.Errorf("bulk code = %+v", v)
				}
				skus = append(skus, v.SKU)
			}
			// RICE has none on hand but is stocked; SOAP is not stocked at S01.
			if !slices.Equal(skus, []string{"BUN", "RICE", "TEA"}) {
				t.Fatalf("bulk codes for %v, want BUN RICE TEA", skus)
			}
			first = bySKU(t, got)
			if first["TEA"] != tea.Code {
				t.Errorf("bulk TEA code = %s, want the existing %s", first["TEA"], tea.Code)
			}
		})

		hubStep(t, "again makes nothing new", func(t *testing.T) {
			if again := bySKU(t, bulk(t, "S01")); !maps.Equal(again, first) {
				t.Errorf("second bulk = %v, want %v", again, first)
			}
			if n := qrCount(t, db, "kind = ?", shelf.QRProduct); n != 3 {
				t.Errorf("%d product codes exist, want 3", n)
			}
		})

		hubStep(t, "concurrent bulk calls make one code per product", func(t *testing.T) {
			// S02 stocks BUN and TEA; five more stores stock all four products. Eight callers at once
			// per store, so that several race to create the same shelf code.
			stores := map[string]int{"S02": 2}
			for i := 1; i <= 5; i++ {
				code := fmt.Sprintf("C%02d", i)
				e.putStore(t, hubStore{code: code, lat: hubLat + 0.1, lng: hubLng + float64(i)*0.01, status: "open"})
				for _, p := range qrProducts {
					e.putStock(t, code, p.sku, 1)
				}
				stores[code] = len(qrProducts)
			}
			const callers = 8
			for store, stocked := range stores {
				results := make([]hubResp, callers)
				errs := make([]error, callers)
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i := range callers {
					wg.Go(func() {
						<-start
						req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/admin/stores/"+store+"/qrcodes", nil)
						req.Header.Set("Authorization", hubAdminAuth)
						resp, err := e.client.Do(req)
						if err != nil {
							errs[i] = err
							return
						}
						defer resp.Body.Close()
						body, err := io.ReadAll(resp.Body)
						results[i], errs[i] = hubResp{status: resp.StatusCode, header: resp.Header, body: body}, err
					})
				}
				close(start)
				wg.Wait()
				var want map[string]string
				for i, r := range results {
					if errs[i] != nil {
						t.Fatalf("%s caller %d: %v", store, i, errs[i])
					}
					got := bySKU(t, hubDecode[[]shelf.QRView](t, r, http.StatusOK))
					if i == 0 {
						want = got
					} else if !maps.Equal(got, want) {
						t.Errorf("%s: caller %d got %v, caller 0 got %v", store, i, got, want)
					}
				}
				live := qrLiveShelf(t, db, store)
				if len(live) != stocked || len(want) != stocked {
					t.Errorf("%s: live codes %v, answered %v, want one for each of %d products", store, live, want, stocked)
				}
				for sku, codes := range live {
					if len(codes) != 1 || codes[0] != want[sku] {
						t.Errorf("%s: live %s codes = %v, want [%s]", store, sku, codes, want[sku])
					}
				}
			}
			if n := qrCount(t, db, "kind = ?", shelf.QRProduct); n != 3+2+5*4 {
				t.Errorf("%d product codes exist, want %d", n, 3+2+5*4)
			}
		})

		var fresh map[string]string
		hubStep(t, "after a withdrawal bulk replaces that code only", func(t *testing.T) {
			if r := e.qrDelete(t, tea.Code); r.status != http.StatusNoContent || len(r.body) != 0 {
				t.Fatalf("DELETE = %s, want 204", r)
			}
			if v := hubDecode[shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes/"+tea.Code, hubAdminAuth), http.StatusOK); !v.Disabled {
				t.Errorf("withdrawn code shows %+v", v)
			}
			fresh = bySKU(t, bulk(t, "S01"))
			if fresh["TEA"] == tea.Code || !qrcode.ValidCode(fresh["TEA"]) {
				t.Errorf("TEA after withdrawal = %s, want a new code (old %s)", fresh["TEA"], tea.Code)
			}
			if fresh["BUN"] != first["BUN"] || fresh["RICE"] != first["RICE"] {
				t.Errorf("bulk after withdrawal = %v, want BUN and RICE unchanged from %v", fresh, first)
			}
			if n := qrCount(t, db, "kind = ?", shelf.QRProduct); n != 26 {
				t.Errorf("%d product codes exist, want 26 (the withdrawn one stays)", n)
			}
			live := qrLiveShelf(t, db, "S01")
			if len(live["TEA"]) != 1 || live["TEA"][0] != fresh["TEA"] {
				t.Errorf("live TEA codes at S01 = %v, want [%s]", live["TEA"], fresh["TEA"])
			}
			if v := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"}); v.Code != fresh["TEA"] {
				t.Errorf("asking for the TEA code gives %s, want the new %s", v.Code, fresh["TEA"])
			}
			listed := hubDecode[[]shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes?store=S01", hubAdminAuth), http.StatusOK)
			disabled := map[string]bool{}
			for _, v := range listed {
				disabled[v.Code] = v.Disabled
			}
			if len(listed) != 4 || !disabled[tea.Code] || disabled[fresh["TEA"]] {
				t.Errorf("listing of S01 = %+v, want the withdrawn and the three live codes", listed)
			}
		})

		t.Run("withdrawing again, unknown codes and stores", func(t *testing.T) {
			if r := e.qrDelete(t, tea.Code); r.status != http.StatusNoContent {
				t.Errorf("second DELETE = %s, want 204", r)
			}
			hubWantError(t, e.qrDelete(t, "ZZZZZZZZ"), http.StatusNotFound, "not_found")
			hubWantError(t, e.qrDelete(t, "abc"), http.StatusNotFound, "not_found")
			hubWantError(t, e.post(t, "/api/v1/admin/stores/NOPE/qrcodes", hubAdminAuth, nil), http.StatusNotFound, "not_found")
			if live := qrLiveShelf(t, db, "S01"); len(live["TEA"]) != 1 || live["TEA"][0] != fresh["TEA"] {
				t.Errorf("live TEA codes at S01 = %v", live["TEA"])
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Withdrawn and unknown codes
// ---------------------------------------------------------------------------------------------------

func TestQRDisabledAndUnknown(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{wechatLink: qrWechatLink, alipayLink: qrAlipayLink})
		qrSeed(t, e)
		code := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"}).Code
		e.qrScan(t, code, "")
		if r := e.qrDelete(t, code); r.status != http.StatusNoContent {
			t.Fatalf("DELETE = %s", r)
		}
		e.qrFlush(t) // the one scan before the withdrawal

		t.Run("scan endpoint", func(t *testing.T) {
			msg := hubWantError(t, e.get(t, "/api/v1/scan/"+code, ""), http.StatusNotFound, "not_found")
			if !strings.Contains(msg, code) {
				t.Errorf("message %q does not name the code", msg)
			}
		})

		t.Run("landing page", func(t *testing.T) {
			// Every channel gets the page: a withdrawn code does not lead into the mini-programs.
			for _, ua := range []string{qrUABrowser, qrUAWeChat, qrUAAlipay} {
				page := qrWantFriendly(t, e.qrGet(t, "/q/"+code, ua), true)
				if !strings.Contains(page, "编号 "+code) {
					t.Errorf("page does not show the code %s", code)
				}
			}
		})

		t.Run("withdrawn scans are not counted", func(t *testing.T) {
			if n := e.qrFlush(t); n != 0 {
				t.Errorf("flush wrote %d counts after scans of a withdrawn code only", n)
			}
			if r := e.qrReport(t, "?store=S01")[code]; r.Scans != 1 {
				t.Errorf("report = %+v, want the 1 scan before the withdrawal", r)
			}
		})

		t.Run("unknown code", func(t *testing.T) {
			page := qrWantFriendly(t, e.qrGet(t, "/q/ZZZZZZZZ", qrUAWeChat), false)
			if !strings.Contains(page, "编号 ZZZZZZZZ") {
				t.Errorf("page does not echo the well-formed code")
			}
			hubWantError(t, e.get(t, "/api/v1/scan/ZZZZZZZZ", ""), http.StatusNotFound, "not_found")
		})

		for _, tc := range []struct{ name, path string }{
			{"too short", "abc"},
			{"look-alike letters", "ILOU1234"},
			{"too long", code + "Z"},
			{"dots", "..etc"},
			{"dot dot", ".."},
			{"markup", "%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E"},
			{"quote", "%22%27%3E%3Cscript%3E"},
			{"UNKNOWN1", "UNKNOWN1"},
		} {
			t.Run("malformed "+tc.name, func(t *testing.T) {
				page := qrWantFriendly(t, e.qrGet(t, "/q/"+tc.path, qrUABrowser), false)
				if strings.Contains(page, "编号") || strings.Contains(page, "<img src") || strings.Contains(page, "<script") || strings.Contains(page, "onerror") {
					t.Errorf("a malformed code is echoed: %s", page)
				}
				hubWantError(t, e.get(t, "/api/v1/scan/"+tc.path, ""), http.StatusNotFound, "not_found")
			})
		}

		t.Run("path traversal", func(t *testing.T) {
			// Not a landing URL at all: still the friendly 404 page, without internals.
			for _, p := range []string{"/q/../etc", "/q/..%2Fetc", "/q/%2E%2E/%2E%2E/etc/passwd", "/q/A/B"} {
				r := e.qrGet(t, p, qrUABrowser)
				if r.status != http.StatusNotFound || !bytes.Contains(r.body, []byte("这个二维码已失效或不存在")) {
					t.Errorf("GET %s = %s, want the friendly 404 page", p, r)
				}
				if bytes.Contains(r.body, []byte("root:")) || bytes.Contains(bytes.ToLower(r.body), []byte(".go:")) {
					t.Errorf("GET %s leaks: %s", p, r)
				}
			}
		})
	})
}

// TestQRTypedCodes looks codes up as shoppers and clerks type them: Crockford's base32 reads lower case
// as upper case, I and L as 1, O as 0, and ignores hyphens and spaces, at every door a code comes in by.
func TestQRTypedCodes(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{})
		qrSeed(t, e)
		tea := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
		// A code with the digits that have look-alike letters, so that every rewriting is exercised.
		const code = "K1001XQ1"
		if err := db.Conn(context.Background()).Table("qr_codes").Where("code = ?", tea.Code).Update("code", code).Error; err != nil {
			t.Fatal(err)
		}
		typed := []string{"k1001xq1", "KI0OLXQ1", "kioo-lxq1", "K100%201XQ1", "K1-00-1X-Q1"}
		for _, in := range typed {
			t.Run(in, func(t *testing.T) {
				if v := e.qrScan(t, in, qrUAWeChat); v.Code != code || v.Product == nil || v.Product.SKU != "TEA" {
					t.Errorf("scan of %q = %+v, want code %s of TEA", in, v, code)
				}
				page := qrWantHTML(t, e.qrGet(t, "/q/"+in, qrUABrowser), http.StatusOK)
				qrInOrder(t, page, "明前龙井 250g", "编号 "+code)
				if v := hubDecode[shelf.QRView](t, e.get(t, "/api/v1/admin/qrcodes/"+in, hubAdminAuth), http.StatusOK); v.Code != code {
					t.Errorf("admin GET of %q = %+v, want code %s", in, v, code)
				}
			})
		}
		alice, _ := e.login(t, "alice")
		t.Run("an order's scan", func(t *testing.T) {
			body := hubPickup("S01", "TEA", 1)
			body["scan"] = "kioo-lxq1"
			no := e.createOrder(t, alice, body).OrderNo
			var got string
			if err := db.Conn(context.Background()).Table("orders").Where("order_no = ?", no).Select("scan_code").Scan(&got).Error; err != nil || got != code {
				t.Errorf("order's scan_code = %q (%v), want %s", got, err, code)
			}
		})
		t.Run("U is no digit and stays refused", func(t *testing.T) {
			hubWantError(t, e.get(t, "/api/v1/scan/K1001XQU", ""), http.StatusNotFound, "not_found")
		})
		t.Run("withdrawn as typed", func(t *testing.T) {
			if r := e.qrDelete(t, "k1oo1xq1"); r.status != http.StatusNoContent {
				t.Fatalf("DELETE = %s", r)
			}
			qrWantFriendly(t, e.qrGet(t, "/q/k1oo1xq1", qrUABrowser), true)
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// QR image
// ---------------------------------------------------------------------------------------------------

func TestQRPNG(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{})
		qrSeed(t, e)
		product := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
		units := hubDecode[[]shelf.QRView](t, func() hubResp {
			e.put(t, "/api/v1/admin/trace/batches/B1", hubAdminAuth, map[string]any{"sku": "TEA", "steps": qrJourney})
			return e.post(t, "/api/v1/admin/trace/batches/B1/codes", hubAdminAuth, map[string]any{"count": 1})
		}(), http.StatusCreated)
		admin := map[string]string{"Authorization": hubAdminAuth}

		for _, v := range []shelf.QRView{product, units[0]} {
			t.Run(v.Kind+" reads back as its URL", func(t *testing.T) {
				r := e.qrRaw(t, "/api/v1/admin/qrcodes/"+v.Code+".png?size=300", admin)
				if r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
					t.Fatalf("PNG = %d %q, want 200 image/png", r.status, r.header.Get("Content-Type"))
				}
				text, w, h := qrDecodePNG(t, r.body)
				if w != 300 || h != 300 {
					t.Errorf("image is %d×%d, want 300×300", w, h)
				}
				if want := e.srv.URL + "/q/" + v.Code; text != want {
					t.Errorf("QR reads %q, want %q", text, want)
				}
			})
		}

		t.Run("default size", func(t *testing.T) {
			r := e.qrRaw(t, "/api/v1/admin/qrcodes/"+product.Code+".png", admin)
			if r.status != http.StatusOK {
				t.Fatalf("PNG = %s", r)
			}
			if text, w, _ := qrDecodePNG(t, r.body); w != qrcode.DefaultSize || text != product.URL {
				t.Errorf("default PNG is %dpx reading %q, want %dpx reading %q", w, text, qrcode.DefaultSize, product.URL)
			}
		})

		t.Run("size bounds", func(t *testing.T) {
			for _, size := range []int{qrcode.MinSize, qrcode.MaxSize} {
				r := e.qrRaw(t, fmt.Sprintf("/api/v1/admin/qrcodes/%s.png?size=%d", product.Code, size), admin)
				cfg, err := png.DecodeConfig(bytes.NewReader(r.body))
				if r.status != http.StatusOK || err != nil || cfg.Width != size || cfg.Height != size {
					t.Errorf("size=%d: %d, %v, %d×%d", size, r.status, err, cfg.Width, cfg.Height)
				}
			}
			for _, size := range []string{"127", "2049", "0", "-300", "abc", "300px", "1e3"} {
				msg := hubWantError(t, e.get(t, "/api/v1/admin/qrcodes/"+product.Code+".png?size="+size, hubAdminAuth), http.StatusBadRequest, "invalid_argument")
				if !strings.Contains(msg, "128") || !strings.Contains(msg, "2048") {
					t.Errorf("size=%s: message %q does not give the range", size, msg)
				}
			}
		})

		t.Run("unknown code", func(t *testing.T) {
			hubWantError(t, e.get(t, "/api/v1/admin/qrcodes/ZZZZZZZZ.png", hubAdminAuth), http.StatusNotFound, "not_found")
			hubWantError(t, e.get(t, "/api/v1/admin/qrcodes/.png", hubAdminAuth), http.StatusNotFound, "not_found")
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Landing page
// ---------------------------------------------------------------------------------------------------

// qrInOrder checks that the parts appear in page in this order.
func qrInOrder(t testing.TB, page string, parts ...string) {
	t.Helper()
	at := 0
	for _, p := range parts {
		i := strings.Index(page[at:], p)
		if i < 0 {
			t.Errorf("page lacks %q after byte %d: %s", p, at, page)
			return
		}
		at += i + len(p)
	}
}

func TestQRLanding(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{wechatLink: qrWechatLink, alipayLink: qrAlipayLink, traceLimit: 2})
		plain := newQREnv(t, db, qrConfig{}) // the same database, no mini-program links
		qrSeed(t, e)
		tea := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
		rice := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "RICE"})

		t.Run("product page in a browser", func(t *testing.T) {
			r := e.qrGet(t, "/q/"+tea.Code, qrUABrowser)
			page := qrWantHTML(t, r, http.StatusOK)
			if cc := r.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control = %q, want no-store (stock changes)", cc)
			}
			qrInOrder(t, page, "<title>明前龙井 250g</title>", "<h1>明前龙井 250g</h1>", "¥15.90", "本店有货 7 件", "商品编码 TEA", "Store S01 · Address of S01",
				"在微信中打开", "在支付宝中打开", "附近门店", "Store S02", "1.0 公里", "有货 3 件", "Store S03", "有货 2 件", "Store S06", "有货 1 件", "编号 "+tea.Code)
			for _, absent := range []string{"Store S04", "Store S05", "Store S07", "class=\"warning\"", "溯源信息"} {
				if strings.Contains(page, absent) {
					t.Errorf("page shows %q", absent)
				}
			}
			for _, link := range []string{
				`href="weixin://dl/business/?t=abc&amp;code=` + tea.Code + `"`,
				`href="alipays://platformapi/startapp?appId=2021000000000000&amp;query=code%3D` + tea.Code + `"`,
			} {
				if !strings.Contains(page, link) {
					t.Errorf("page lacks the button link %s", link)
				}
			}
		})

		t.Run("sold out here", func(t *testing.T) {
			page := qrWantHTML(t, e.qrGet(t, "/q/"+rice.Code, qrUABrowser), http.StatusOK)
			qrInOrder(t, page, "五常大米 5kg", "¥45.00", "本店暂时缺货")
			if strings.Contains(page, "本店有货") || strings.Contains(page, "附近门店") {
				t.Errorf("sold-out page claims stock or nearby stores: %s", page)
			}
		})

		t.Run("inside Alipay the page opens the mini-program; inside WeChat it cannot and shows the page", func(t *testing.T) {
			want := "alipays://platformapi/startapp?appId=2021000000000000&query=code%3D" + tea.Code
			if r := e.qrGet(t, "/q/"+tea.Code, qrUAAlipay); r.status != http.StatusFound || r.header.Get("Location") != want {
				t.Errorf("Alipay: %d Location %q, want 302 to %q", r.status, r.header.Get("Location"), want)
			}
			// A web page inside WeChat cannot open a mini-program through a link (WeChat opens it itself
			// when the /q/ prefix is registered for 扫普通链接二维码打开小程序), so it gets the page.
			for _, ua := range []string{qrUAWeChat, "Mozilla/5.0 miniProgram"} {
				r := e.qrGet(t, "/q/"+tea.Code, ua)
				if r.status != http.StatusOK || r.header.Get("Location") != "" || !strings.Contains(string(r.body), "明前龙井") {
					t.Errorf("%s: %d Location %q, want the page", ua, r.status, r.header.Get("Location"))
				}
			}
		})

		t.Run("without links every channel gets the page", func(t *testing.T) {
			for _, ua := range []string{qrUAWeChat, qrUAAlipay, qrUABrowser} {
				page := qrWantHTML(t, plain.qrGet(t, "/q/"+tea.Code, ua), http.StatusOK)
				if !strings.Contains(page, "明前龙井 250g") || strings.Contains(page, "在微信中打开") || strings.Contains(page, "在支付宝中打开") {
					t.Errorf("page without links for %s: %s", ua, page)
				}
			}
		})

		t.Run("store page", func(t *testing.T) {
			store := e.qrCreate(t, map[string]any{"kind": "store", "store": "S01"})
			page := qrWantHTML(t, e.qrGet(t, "/q/"+store.Code, qrUABrowser), http.StatusOK)
			qrInOrder(t, page, "<title>Store S01</title>", "欢迎光临", "<h1>Store S01</h1>", "Address of S01")
			if strings.Contains(page, "本店有货") || strings.Contains(page, "¥") {
				t.Errorf("store page shows a product: %s", page)
			}
		})

		t.Run("campaign page escapes the name", func(t *testing.T) {
			c := e.qrCreate(t, map[string]any{"kind": "campaign", "store": "S01", "campaign": `双11 <b onclick="x()">满100减20</b>`})
			page := qrWantHTML(t, e.qrGet(t, "/q/"+c.Code, qrUABrowser), http.StatusOK)
			qrInOrder(t, page, "Store S01", "门店活动", "双11 &lt;b onclick=&#34;x()&#34;&gt;满100减20&lt;/b&gt;")
			if strings.Contains(page, "<b onclick") {
				t.Errorf("campaign name is not escaped: %s", page)
			}
		})

		e.put(t, "/api/v1/admin/trace/batches/B2024-001", hubAdminAuth, map[string]any{"sku": "TEA", "steps": qrJourney})
		t.Run("trace page shows the journey", func(t *testing.T) {
			b := e.qrCreate(t, map[string]any{"kind": "trace", "batch": "B2024-001"})
			page := qrWantHTML(t, e.qrGet(t, "/q/"+b.Code, qrUABrowser), http.StatusOK)
			qrInOrder(t, page, "明前龙井 250g", "溯源信息", "批次号 B2024-001",
				"生产", "2024-03-01", "杭州西湖龙井村",
				"检验检疫", "2024-03-05", "单证编号：CIQ-2024-0305",
				"进口通关", "2024-03-10", "上海洋山港", "单证编号：DEC-2024-0310",
				"到店", "2024-03-12", "人民广场店")
			if strings.Contains(page, "本店有货") || strings.Contains(page, "class=\"warning\"") {
				t.Errorf("batch page shows stock or a warning: %s", page)
			}
		})

		t.Run("a unit code at a store shows the stock there, as its scan JSON does", func(t *testing.T) {
			unit := hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/trace/batches/B2024-001/codes", hubAdminAuth, map[string]any{"count": 1, "store": "S01"}), http.StatusCreated)[0]
			if v := e.qrScan(t, unit.Code, qrUABrowser); v.Available != 7 || v.Store == nil || v.Store.Code != "S01" {
				t.Fatalf("unit scan = %+v, want 7 available at S01", v)
			}
			page := qrWantHTML(t, e.qrGet(t, "/q/"+unit.Code, qrUABrowser), http.StatusOK)
			qrInOrder(t, page, "明前龙井 250g", "本店有货 7 件", "Store S01", "溯源信息")
		})

		t.Run("a unit scanned too often warns of a copied label", func(t *testing.T) {
			units := hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/trace/batches/B2024-001/codes", hubAdminAuth, map[string]any{"count": 2, "store": "S01"}), http.StatusCreated)
			u := units[0].Code
			// Scanners are told apart by network; the hub trusts its loopback proxy's X-Forwarded-For.
			net := func(n int, ua string) map[string]string {
				return map[string]string{"User-Agent": ua, "X-Forwarded-For": fmt.Sprintf("198.51.%d.7", n)}
			}
			// The limit is 2 scanners: the first two are fine, through either door, and one scanner
			// scanning again and again does not add up (nor could anyone brand a genuine unit as copied).
			if v := hubDecode[shelf.ScanView](t, e.do(t, hubReq{method: http.MethodGet, path: "/api/v1/scan/" + u, header: net(1, "device-1")}), http.StatusOK); v.Warning != "" {
				t.Errorf("scanner 1 warns: %q", v.Warning)
			}
			for i := range 5 {
				page := qrWantHTML(t, e.do(t, hubReq{method: http.MethodGet, path: "/q/" + u, header: net(2, fmt.Sprint("device-2.", i))}), http.StatusOK)
				if strings.Contains(page, "class=\"warning\"") {
					t.Fatalf("scanner 2, scanning again, warns: %s", page)
				}
			}
			page := qrWantHTML(t, e.do(t, hubReq{method: http.MethodGet, path: "/q/" + u, header: net(3, "device-3")}), http.StatusOK)
			qrInOrder(t, page, `<div class="warning" role="alert">`, "此商品码已被 3 台不同设备扫描", "可能是复制的标签", "</div>", "明前龙井 250g", "溯源信息")
			if v := hubDecode[shelf.ScanView](t, e.do(t, hubReq{method: http.MethodGet, path: "/api/v1/scan/" + u, header: net(4, qrUAWeChat)}), http.StatusOK); !strings.Contains(v.Warning, "4 台不同设备") || v.Trace == nil {
				t.Errorf("scanner 4 = %+v, want a warning naming 4 scanners", v)
			}
			if n := qrCount(t, db, "code = ? AND scan_count = 4", u); n != 1 {
				t.Errorf("unit %s was not counted as scanned by 4 scanners", u)
			}
			// Another unit of the batch has its own count.
			if v := e.qrScan(t, units[1].Code, qrUABrowser); v.Warning != "" {
				t.Errorf("the other unit warns: %q", v.Warning)
			}
		})
	})
}

// ---------------------------------------------------------------------------------------------------
// Scan counting and order attribution
// ---------------------------------------------------------------------------------------------------

func TestQRScanCountsAndAttribution(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		now := time.Now().UTC()
		e := newQREnv(t, db, qrConfig{wechatLink: qrWechatLink, alipayLink: qrAlipayLink, gateway: true, clock: testclock.New(now)})
		qrSeed(t, e)
		tea := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"})
		store := e.qrCreate(t, map[string]any{"kind": "store", "store": "S01"})
		elsewhere := e.qrCreate(t, map[string]any{"kind": "product", "store": "S02", "sku": "TEA"})

		hubStep(t, "scans through both doors and every channel", func(t *testing.T) {
			for _, s := range []struct {
				path, ua string
				n        int
				status   int
			}{
				{"/api/v1/scan/" + tea.Code, qrUAWeChat, 3, 200},
				{"/api/v1/scan/" + tea.Code, qrUAAlipay, 2, 200},
				{"/api/v1/scan/" + tea.Code, qrUABrowser, 1, 200},
				{"/api/v1/scan/" + tea.Code, "", 1, 200}, // Go's own user agent: a browser
				{"/q/" + tea.Code, qrUABrowser, 2, 200},
				{"/q/" + tea.Code, qrUAWeChat, 1, 200},
				{"/q/" + tea.Code, qrUAAlipay, 1, 302}, // not counted: the mini-program it opens reports the scan
				{"/q/" + store.Code, qrUABrowser, 1, 200},
				{"/q/ZZZZZZZZ", qrUABrowser, 1, 404},
				{"/api/v1/scan/ZZZZZZZZ", qrUAWeChat, 1, 404},
			} {
				for range s.n {
					if r := e.qrGet(t, s.path, s.ua); r.status != s.status {
						t.Fatalf("GET %s (%s) = %s, want %d", s.path, s.ua, r, s.status)
					}
				}
			}
		})

		hubStep(t, "nothing reaches the database before a flush", func(t *testing.T) {
			if r := e.qrReport(t, "?store=S01")[tea.Code]; r.Scans != 0 || len(r.ByChannel) != 0 {
				t.Errorf("report before the flush = %+v, want no scans yet", r)
			}
		})

		hubStep(t, "the flush writes the counts by channel", func(t *testing.T) {
			if n := e.qrFlush(t); n != 4 {
				t.Errorf("flush wrote %d counts, want 4 (TEA by 3 channels, the store code)", n)
			}
			rep := e.qrReport(t, "?store=S01")
			if len(rep) != 2 {
				t.Errorf("report of S01 has %d codes, want 2: %+v", len(rep), rep)
			}
			if r := rep[tea.Code]; r.Scans != 10 || !maps.Equal(r.ByChannel, map[string]int64{"wechat": 4, "alipay": 2, "browser": 4}) ||
				r.Kind != "product" || r.Store != "S01" || r.SKU != "TEA" || r.Orders != 0 || r.Conversion != 0 {
				t.Errorf("TEA row = %+v, want 10 scans: wechat 4, alipay 2, browser 4", r)
			}
			if r := rep[store.Code]; r.Scans != 1 || !maps.Equal(r.ByChannel, map[string]int64{"browser": 1}) || r.Kind != "store" {
				t.Errorf("store row = %+v, want 1 browser scan", r)
			}
			if _, ok := rep[elsewhere.Code]; ok {
				t.Errorf("report of S01 holds a code of S02")
			}
			if r, ok := e.qrReport(t, "")[elsewhere.Code]; !ok || r.Scans != 0 || r.Store != "S02" {
				t.Errorf("chain report row of S02's code = %+v, %v", r, ok)
			}
		})

		hubStep(t, "flushing again adds nothing; later scans add up", func(t *testing.T) {
			if n := e.qrFlush(t); n != 0 {
				t.Errorf("an empty flush wrote %d counts", n)
			}
			e.qrScan(t, tea.Code, qrUAWeChat)
			e.qrScan(t, tea.Code, qrUAWeChat)
			if n := e.qrFlush(t); n != 1 {
				t.Errorf("flush wrote %d counts, want 1", n)
			}
			if r := e.qrReport(t, "?store=S01")[tea.Code]; r.Scans != 12 || r.ByChannel["wechat"] != 6 {
				t.Errorf("TEA row = %+v, want 12 scans with wechat 6", r)
			}
		})

		alice, _ := e.login(t, "alice")
		var paid core.OrderView
		hubStep(t, "orders started from a scan are attributed", func(t *testing.T) {
			body := hubPickup("S01", "TEA", 2)
			body["scan"] = tea.Code
			paid = e.createOrder(t, alice, body)
			body = hubPickup("S01", "BUN", 1)
			body["scan"] = tea.Code
			e.createOrder(t, alice, body)                       // from the scan, never paid
			e.createOrder(t, alice, hubPickup("S01", "BUN", 1)) // not from a scan
			hubDecode[core.PayView](t, e.post(t, "/api/v1/orders/"+paid.OrderNo+"/pay", alice, map[string]any{"provider": "sandbox"}), http.StatusOK)
			e.waitStatus(t, alice, paid.OrderNo, core.StatusPaid)
			var rows []struct {
				OrderNo  string
				ScanCode string
			}
			db.Conn(context.Background()).Table("orders").Select("order_no, scan_code").Order("id").Scan(&rows)
			if len(rows) != 3 || rows[0].ScanCode != tea.Code || rows[1].ScanCode != tea.Code || rows[2].ScanCode != "" {
				t.Errorf("orders' scan codes = %+v", rows)
			}
		})

		hubStep(t, "the report shows orders, paid orders and money", func(t *testing.T) {
			r := e.qrReport(t, "?store=S01")[tea.Code]
			if r.Orders != 2 || r.PaidOrders != 1 || r.PaidFen != paid.TotalFen || paid.TotalFen != 2*1590 {
				t.Errorf("TEA row = %+v, want orders 2, paid_orders 1, paid_fen %d", r, 2*1590)
			}
			if want := 1.0 / 12; r.Conversion < want-1e-9 || r.Conversion > want+1e-9 {
				t.Errorf("conversion = %v, want %v", r.Conversion, want)
			}
			if s := e.qrReport(t, "?store=S01")[store.Code]; s.Orders != 0 || s.PaidOrders != 0 || s.PaidFen != 0 {
				t.Errorf("store row = %+v, want no orders", s)
			}
			today := now.In(cn.Zone).Format("2006-01-02")
			if r := e.qrReport(t, "?store=S01&from="+today+"&to="+today)[tea.Code]; r.Scans != 12 || r.Orders != 2 {
				t.Errorf("today's TEA row = %+v", r)
			}
			if r := e.qrReport(t, "?store=S01&from=2000-01-01&to=2000-01-31")[tea.Code]; r.Scans != 0 || r.Orders != 0 || r.PaidFen != 0 || len(r.ByChannel) != 0 {
				t.Errorf("TEA row of January 2000 = %+v, want empty", r)
			}
		})

		t.Run("an order from an unknown code is refused", func(t *testing.T) {
			for _, code := range []string{"ZZZZZZZZ", "abc", tea.Code[:qrcode.CodeLen-1] + "U"} {
				body := hubPickup("S01", "TEA", 1)
				body["scan"] = code
				msg := hubWantError(t, e.post(t, "/api/v1/orders", alice, body), http.StatusBadRequest, "invalid_argument")
				if !strings.Contains(msg, "scan") {
					t.Errorf("message %q does not name the scan", msg)
				}
			}
			if n := len(e.orders(t, alice)); n != 3 {
				t.Errorf("alice has %d orders, want 3", n)
			}
			e.wantStock(t, "S01", "TEA", 5, 0)
		})

		t.Run("bad report queries", func(t *testing.T) {
			hubWantError(t, e.get(t, "/api/v1/admin/reports/scans?store=NOPE", hubAdminAuth), http.StatusNotFound, "not_found")
			for _, q := range []string{"?from=2024-13-01", "?to=yesterday", "?from=2030-01-02&to=2030-01-01"} {
				hubWantError(t, e.get(t, "/api/v1/admin/reports/scans"+q, hubAdminAuth), http.StatusBadRequest, "invalid_argument")
			}
		})
	})
}

func TestQRConcurrentScansAreAllCounted(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newQREnv(t, db, qrConfig{clock: testclock.New(time.Now().UTC())})
		qrSeed(t, e)
		code := e.qrCreate(t, map[string]any{"kind": "product", "store": "S01", "sku": "TEA"}).Code
		uas := []string{qrUAWeChat, qrUAAlipay, qrUABrowser}
		const scans = 50
		var wg sync.WaitGroup
		errs := make(chan error, scans)
		start := make(chan struct{})
		for i := range scans {
			wg.Go(func() {
				<-start
				req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/scan/"+code, nil)
				req.Header.Set("User-Agent", uas[i%len(uas)])
				resp, err := e.client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("scan %d: status %d", i, resp.StatusCode)
				}
			})
		}
		// Flushes run while the scans come in: a count taken out for writing must not lose one added
		// meanwhile.
		stop := make(chan struct{})
		flushed := make(chan error, 1)
		go func() {
			var err error
			for {
				select {
				case <-stop:
					flushed <- err
					return
				default:
				}
				if _, ferr := e.svc.Shelf.FlushScans(context.Background(), 0); ferr != nil {
					err = errors.Join(err, ferr)
				}
				time.Sleep(time.Millisecond)
			}
		}()
		close(start)
		wg.Wait()
		close(stop)
		if err := <-flushed; err != nil {
			t.Fatalf("a concurrent flush failed: %v", err)
		}
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		e.qrFlush(t)
		r := e.qrReport(t, "?store=S01")[code]
		if r.Scans != scans || r.ByChannel["wechat"] != 17 || r.ByChannel["alipay"] != 17 || r.ByChannel["browser"] != 16 {
			t.Errorf("report = %+v, want exactly %d scans: wechat 17, alipay 17, browser 16", r, scans)
		}
		var sum int64
		if err := db.Conn(context.Background()).Table("qr_scans").Select("COALESCE(SUM(count), 0)").Scan(&sum).Error; err != nil || sum != scans {
			t.Errorf("qr_scans holds %d scans (%v), want %d", sum, err, scans)
		}
	})
}

// ---------------------------------------------------------------------------------------------------
// Label sheet
// ---------------------------------------------------------------------------------------------------

// qrDataPNG matches a label's inline QR image; html/template writes "+" of the base64 as "&#43;".
var qrDataPNG = regexp.MustCompile(`<img src="data:image/png;base64,([^"]+)"`)

func TestQRLabels(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		// The console's hub (clerk1 of S01, clerk2 of S02 and the admin boss, who sign in with conPassword)
		// with the stores and catalog of the QR tests.
		e := newConEnv(t, db, false).hubEnv
		qrSeed(t, e)
		// labels fetches a store's sheet with b's cookies, without following redirects and without the
		// leak check of conBrowser.do (a base64 image can spell "panic" by chance).
		labels := func(t *testing.T, b *conBrowser, store string, header map[string]string) hubResp {
			t.Helper()
			req, err := http.NewRequest(http.MethodGet, e.srv.URL+"/console/stores/"+store+"/labels", nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range header {
				req.Header.Set(k, v)
			}
			resp, err := b.client.Do(req)
			if err != nil {
				t.Fatalf("GET the labels of %s: %v", store, err)
			}
			defer resp.Body.Close()
			raw, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			return hubResp{status: resp.StatusCode, header: resp.Header, body: raw}
		}

		t.Run("a console session is required", func(t *testing.T) {
			const signIn = "/console/login?next=%2Fconsole%2Fstores%2FS01%2Flabels"
			// No credentials, the old basic auth with the admin token, the admin token as a bearer, a forged
			// session cookie: all are sent to the sign-in page, and no code is made.
			u, _ := url.Parse(e.srv.URL + "/console/")
			for name, header := range map[string]map[string]string{
				"nothing":           nil,
				"basic admin token": {"Authorization": qrBasic("admin", hubAdminToken)},
				"bearer admin":      {"Authorization": hubAdminAuth},
				"forged session":    nil,
			} {
				b := e.browser(t)
				if name == "forged session" {
					b.client.Jar.SetCookies(u, []*http.Cookie{{Name: conSessionCookie, Value: "forged-session-token", Path: "/console"}})
				}
				r := labels(t, b, "S01", header)
				if r.status != http.StatusSeeOther || r.header.Get("Location") != signIn {
					t.Errorf("%s: = %d → %q, want 303 → %s", name, r.status, r.header.Get("Location"), signIn)
				}
				if strings.Contains(string(r.body), "<img") {
					t.Errorf("%s: the refusal shows labels", name)
				}
			}
			if n := qrCount(t, db, "1 = 1"); n != 0 {
				t.Errorf("refused requests made %d codes", n)
			}
		})

		t.Run("another store's clerk gets not found", func(t *testing.T) {
			r := labels(t, e.signedIn(t, "clerk2"), "S01", nil)
			page := string(r.body)
			if r.status != http.StatusNotFound || !strings.Contains(page, "门店不存在或不属于您") || strings.Contains(page, "<img") || strings.Contains(page, qrProducts[0].name) {
				t.Errorf("S02's clerk asking for S01's sheet = %s, want 404 and the console's refusal", r)
			}
			if n := qrCount(t, db, "1 = 1"); n != 0 {
				t.Errorf("a refused clerk made %d codes", n)
			}
		})

		var sheet string
		hubStep(t, "the store's clerk gets every stocked product with its QR code", func(t *testing.T) {
			r := labels(t, e.signedIn(t, "clerk1"), "S01", nil)
			sheet = qrWantHTML(t, r, http.StatusOK)
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") || !strings.Contains(csp, "img-src data:") {
				t.Errorf("label sheet CSP = %q", csp)
			}
			live := qrLiveShelf(t, db, "S01")
			if len(live) != 3 {
				t.Fatalf("the sheet made codes for %v, want BUN RICE TEA", live)
			}
			for _, p := range qrProducts {
				if p.sku == "SOAP" {
					if strings.Contains(sheet, p.name) {
						t.Errorf("the sheet shows %s, not stocked at S01", p.name)
					}
					continue
				}
				qrInOrder(t, sheet, `alt="二维码 `+live[p.sku][0]+`"`, `<div class="code">`+live[p.sku][0]+`</div>`, p.name, fmt.Sprintf("¥%d.%02d", p.priceFen/100, p.priceFen%100), p.sku)
			}
			imgs := qrDataPNG.FindAllStringSubmatch(sheet, -1)
			if len(imgs) != 3 || strings.Count(sheet, "<img") != 3 {
				t.Fatalf("%d QR images (%d img tags), want 3", len(imgs), strings.Count(sheet, "<img"))
			}
			var read, want []string
			for _, m := range imgs {
				b, err := base64.StdEncoding.DecodeString(html.UnescapeString(m[1]))
				if err != nil {
					t.Fatal(err)
				}
				text, _, _ := qrDecodePNG(t, b)
				read = append(read, text)
			}
			for _, codes := range live {
				want = append(want, e.srv.URL+"/q/"+codes[0])
			}
			sort.Strings(read)
			sort.Strings(want)
			if !slices.Equal(read, want) {
				t.Errorf("the QR codes read %v, want %v", read, want)
			}
		})

		t.Run("the admin printing again reuses the codes", func(t *testing.T) {
			again := qrWantHTML(t, labels(t, e.signedIn(t, "boss"), "S01", nil), http.StatusOK)
			for _, codes := range qrLiveShelf(t, db, "S01") {
				if !strings.Contains(again, codes[0]) {
					t.Errorf("second sheet lacks %s", codes[0])
				}
			}
			if n := qrCount(t, db, "1 = 1"); n != 3 {
				t.Errorf("%d codes after two sheets, want 3", n)
			}
			if !strings.Contains(sheet, "Store S01（S01） 货架标签") || !strings.Contains(sheet, "共 3 个标签，1 页") {
				t.Errorf("the sheet does not name the store and count the labels")
			}
		})

		t.Run("unknown store", func(t *testing.T) {
			for _, user := range []string{"boss", "clerk1"} {
				r := labels(t, e.signedIn(t, user), "NOPE", nil)
				if r.status != http.StatusNotFound || !strings.Contains(string(r.body), "门店不存在") {
					t.Errorf("%s: store NOPE = %s, want 404 and the console's not-found page", user, r)
				}
			}
		})
	})
}

// TestQRScanRateLimit checks that one client address cannot scan faster than O2OHUB_SCAN_RATE allows
// (probing codes, or flooding the counters), on both scan doors.
func TestQRScanRateLimit(t *testing.T) {
	db := dbtest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := core.New(domain.NewEnv(db, nil, log), core.Options{OrderTTL: time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 1000, PublicURL: "http://hub.test"})
	engine := New(Deps{Service: svc, DB: db, Log: log, ScanRate: 1})
	for _, path := range []string{"/api/v1/scan/ZZZZZZZZ", "/q/ZZZZZZZZ"} {
		var limited int
		for range 10 {
			w := httptest.NewRecorder()
			engine.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
			if w.Code == http.StatusTooManyRequests {
				limited++
			}
		}
		if limited < 3 { // a burst of 6, then refusals (a slow machine may earn back a token)
			t.Errorf("%s: %d of 10 quick scans refused, want about 4", path, limited)
		}
	}
}

// TestUnconfiguredChannelsAnswerNotFound checks that a hub without WeChat or Alipay refuses their
// endpoints with a clear 404 instead of failing inside them.
func TestUnconfiguredChannelsAnswerNotFound(t *testing.T) {
	db := dbtest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	svc := core.New(domain.NewEnv(db, nil, log), core.Options{OrderTTL: time.Minute, SessionTTL: time.Hour, DeliveryRadiusM: 1000, PublicURL: "http://hub.test"})
	engine := New(Deps{Service: svc, DB: db, Log: log, AdminToken: "adm"})
	login, err := svc.Members.SignIn(context.Background(), "sandbox", "u1", "u1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ method, path, auth, want string }{
		{"POST", "/api/v1/auth/wechat", "", "WeChat is not configured"},
		{"POST", "/api/v1/auth/alipay", "", "Alipay is not configured"},
		{"POST", "/api/v1/me/phone/wechat", login.Token, "WeChat is not configured"},
		{"POST", "/api/v1/me/phone/alipay", login.Token, "Alipay is not configured"},
		{"GET", "/api/v1/admin/qrcodes/ABCDEFGH/wxacode", "adm", "WeChat is not configured"},
	} {
		w := httptest.NewRecorder()
		req := httptest.NewRequest(c.method, c.path, strings.NewReader(`{"code":"x","response":"x"}`))
		if c.auth != "" {
			req.Header.Set("Authorization", "Bearer "+c.auth)
		}
		engine.ServeHTTP(w, req)
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), c.want) {
			t.Errorf("%s %s = %d %s, want 404 %q", c.method, c.path, w.Code, w.Body, c.want)
		}
	}
}
