package qrcode

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// Code kinds, as carried in Landing.Kind.
const (
	// KindProduct is a shelf code for one product in one store.
	KindProduct = "product"
	// KindStore is a code for a store as a whole (door, counter, receipt).
	KindStore = "store"
	// KindCampaign is a code for a promotion.
	KindCampaign = "campaign"
	// KindTrace is a traceability code for one batch of a product.
	KindTrace = "trace"
)

// Trace step names, as carried in TraceStep.Step; WriteLanding shows them in Chinese.
const (
	// StepProduction is where and when the batch was produced (生产).
	StepProduction = "production"
	// StepInspection is the inspection and quarantine (检验检疫), usually with a certificate number.
	StepInspection = "inspection"
	// StepImport is customs clearance (进口通关), usually with a declaration number.
	StepImport = "import"
	// StepArrival is the batch's arrival at the store (到店).
	StepArrival = "arrival"
)

// stepNames are the Chinese names of the known trace steps; other steps are shown as given.
var stepNames = map[string]string{
	StepProduction: "生产",
	StepInspection: "检验检疫",
	StepImport:     "进口通关",
	StepArrival:    "到店",
}

// Landing is what the scan landing page shows. Empty fields are left out of the page. The stock line
// ("本店有货 N 件" or "本店暂时缺货") shows wherever the scan names a product at a store: for product
// codes (Kind KindProduct, or Kind empty and ProductName set) and for trace codes with a StoreName.
type Landing struct {
	Code         string
	Kind         string // KindProduct, KindStore, KindCampaign or KindTrace
	StoreName    string
	StoreAddress string
	ProductName  string
	SKU          string
	PriceFen     int64
	Available    int64         // units available at this store; 0 = sold out here
	Nearby       []NearbyStore // other stores that have it, nearest first
	Campaign     string
	Trace        *Trace // for trace codes
	Warning      string // e.g. a copied-label warning, shown prominently as a red banner
	WeChatLink   string // a link that opens the WeChat mini-program (https or weixin://); empty = not offered
	AlipayLink   string // a link that opens the Alipay mini-program (https or alipays://); empty = not offered
}

// NearbyStore is another store that has the product, with its distance from the scanning store.
type NearbyStore struct {
	Name      string
	Address   string
	DistanceM float64 // metres; negative = unknown, not shown
	Available int64
}

// Trace is the journey of one batch, for traceability codes.
type Trace struct {
	BatchNo string
	Steps   []TraceStep // in order, earliest first
}

// TraceStep is one stage of a batch's journey.
type TraceStep struct {
	Step     string    // StepProduction, StepInspection, StepImport, StepArrival, or free text
	Date     time.Time // shown as a date in China time; zero = not shown
	Place    string
	Document string // e.g. a customs declaration or inspection certificate number
}

type landingView struct {
	Title, Code, Warning    string
	StoreName, StoreAddress string
	ProductName, SKU, Price string
	ShowStock               bool
	Available               int64
	Nearby                  []nearbyView
	Campaign                string
	Trace                   *traceView
	WeChatLink, AlipayLink  template.URL
}

type nearbyView struct {
	Name, Address, Distance string
	Available               int64
}

type traceView struct {
	BatchNo string
	Steps   []stepView
}

type stepView struct{ Step, Date, Place, Document string }

// showStock reports whether a landing page has the stock line: see Landing.
func showStock(l Landing) bool {
	switch l.Kind {
	case KindProduct:
		return true
	case KindTrace:
		return l.ProductName != "" && l.StoreName != ""
	case "":
		return l.ProductName != ""
	}
	return false
}

// WriteLanding renders the mobile landing page a shopper sees after scanning: a Chinese, self-contained
// page (inline CSS, no scripts, no external assets) sized for phones around 360px wide. It shows the
// warning as a red banner, the product name and price (¥18.50), the stock line at this store, the
// campaign, "在微信中打开" / "在支付宝中打开" buttons when the links are set, nearby stores nearest first
// with distance ("1.2 公里", "850 米") and stock, and the trace journey as a dated timeline with
// document references. Links must be http(s), weixin:// or alipays:// URLs; any other link is left
// out. All text is HTML-escaped. Nothing is written if rendering fails.
func WriteLanding(w io.Writer, l Landing) error {
	v := landingView{
		Code:         l.Code,
		Warning:      strings.TrimSpace(l.Warning),
		StoreName:    l.StoreName,
		StoreAddress: l.StoreAddress,
		ProductName:  l.ProductName,
		SKU:          l.SKU,
		Price:        cn.YuanSign(l.PriceFen),
		ShowStock:    showStock(l),
		Available:    max(l.Available, 0),
		Campaign:     l.Campaign,
	}
	switch {
	case l.ProductName != "":
		v.Title = l.ProductName
	case l.StoreName != "":
		v.Title = l.StoreName
	default:
		v.Title = "扫码结果"
	}
	if appLink(l.WeChatLink) {
		v.WeChatLink = template.URL(strings.TrimSpace(l.WeChatLink))
	}
	if appLink(l.AlipayLink) {
		v.AlipayLink = template.URL(strings.TrimSpace(l.AlipayLink))
	}
	for _, n := range l.Nearby {
		v.Nearby = append(v.Nearby, nearbyView{Name: n.Name, Address: n.Address, Distance: distance(n.DistanceM), Available: max(n.Available, 0)})
	}
	if l.Trace != nil {
		t := &traceView{BatchNo: l.Trace.BatchNo}
		for _, s := range l.Trace.Steps {
			name := stepNames[s.Step]
			if name == "" {
				name = s.Step
			}
			t.Steps = append(t.Steps, stepView{Step: name, Date: day(s.Date), Place: s.Place, Document: s.Document})
		}
		v.Trace = t
	}
	return render(w, "landing.html", v)
}

// WriteNotFound renders the friendly page for an unknown or disabled code: "这个二维码已失效或不存在"
// with a short explanation, saying the code was withdrawn when disabled is true. It reveals nothing
// about the system; code is echoed only when it has the form ValidCode accepts. Choosing the HTTP
// status is the caller's business. Nothing is written if rendering fails.
func WriteNotFound(w io.Writer, code string, disabled bool) error {
	v := struct {
		Code     string
		Disabled bool
	}{Disabled: disabled}
	if ValidCode(code) {
		v.Code = code
	}
	return render(w, "notfound.html", v)
}

// render executes a small page into memory first, so a failure never leaves half a page behind.
func render(w io.Writer, name string, data any) error {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("qrcode: render %s: %w", name, err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// Scanner channels returned by Channel.
const (
	// ChannelWeChat is WeChat's in-app browser or a WeChat mini-program web-view.
	ChannelWeChat = "wechat"
	// ChannelAlipay is Alipay's in-app browser or an Alipay mini-program web-view.
	ChannelAlipay = "alipay"
	// ChannelBrowser is any other scanner: a phone camera opening the system browser, and so on.
	ChannelBrowser = "browser"
)

// Channel classifies a scanner by its User-Agent: "wechat" for WeChat's browser and mini-program
// web-views (MicroMessenger), "alipay" for Alipay's (AlipayClient), and "browser" for everything else.
// A "miniProgram" marker without either app's name is taken as WeChat. Matching ignores case.
func Channel(userAgent string) string {
	ua := strings.ToLower(userAgent)
	switch {
	case strings.Contains(ua, "micromessenger"):
		return ChannelWeChat
	case strings.Contains(ua, "alipayclient"):
		return ChannelAlipay
	case strings.Contains(ua, "miniprogram"):
		return ChannelWeChat
	}
	return ChannelBrowser
}
