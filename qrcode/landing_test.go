package qrcode

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

func renderLanding(t *testing.T, l Landing) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteLanding(&buf, l); err != nil {
		t.Fatalf("WriteLanding: %v", err)
	}
	return buf.String()
}

func contains(t *testing.T, html string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(html, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func lacks(t *testing.T, html string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(html, b) {
			t.Errorf("page contains %q", b)
		}
	}
}

func productLanding() Landing {
	return Landing{
		Code:         "7K2M9XQ4",
		Kind:         KindProduct,
		StoreName:    "静安寺店",
		StoreAddress: "上海市静安区南京西路 1788 号",
		ProductName:  "澳洲进口牛排 200g",
		SKU:          "BEEF-200",
		PriceFen:     1850,
		Available:    7,
		Nearby: []NearbyStore{
			{Name: "人民广场店", Address: "黄浦区西藏中路 268 号", DistanceM: 850, Available: 3},
			{Name: "徐家汇店", Address: "徐汇区虹桥路 1 号", DistanceM: 1234, Available: 12},
		},
	}
}

func TestWriteLandingProduct(t *testing.T) {
	html := renderLanding(t, productLanding())
	contains(t, html,
		`<html lang="zh-CN">`,
		`<meta name="viewport" content="width=device-width, initial-scale=1`,
		"<title>澳洲进口牛排 200g</title>",
		"<h1>澳洲进口牛排 200g</h1>",
		"¥18.50",
		"本店有货 7 件",
		"商品编码 BEEF-200",
		"静安寺店 · 上海市静安区南京西路 1788 号",
		"附近门店", "人民广场店", "850 米", "有货 3 件", "徐家汇店", "1.2 公里", "有货 12 件",
		"编号 7K2M9XQ4",
	)
	lacks(t, html, "本店暂时缺货", "在微信中打开", "在支付宝中打开", `class="warning"`, "溯源信息", "<script", "http://", "https://")
	if strings.Index(html, "人民广场店") > strings.Index(html, "徐家汇店") {
		t.Error("nearby stores out of order")
	}
}

func TestWriteLandingSoldOut(t *testing.T) {
	l := productLanding()
	l.Available = 0
	l.Nearby[0].Available = 0
	html := renderLanding(t, l)
	contains(t, html, "本店暂时缺货", "暂时缺货")
	lacks(t, html, "本店有货")
	l.Available = -2 // a stock count that went negative still reads as sold out
	contains(t, renderLanding(t, l), "本店暂时缺货")
}

func TestWriteLandingButtons(t *testing.T) {
	tests := []struct {
		name           string
		wechat, alipay string
		want, bad      []string
	}{
		{"none", "", "", nil, []string{"在微信中打开", "在支付宝中打开", `class="btn`}},
		{"wechat scheme", "weixin://dl/business/?t=abc123", "",
			[]string{`<a class="btn wechat" href="weixin://dl/business/?t=abc123">在微信中打开</a>`}, []string{"在支付宝中打开"}},
		{"alipay scheme", "", "alipays://platformapi/startapp?appId=2021000000000000&page=pages%2Fp%3Fc%3D7K2M9XQ4",
			[]string{`<a class="btn alipay" href="alipays://platformapi/startapp?appId=2021000000000000&amp;page=pages%2Fp%3Fc%3D7K2M9XQ4">在支付宝中打开</a>`}, []string{"在微信中打开"}},
		{"both https", "https://wxaurl.cn/abcDEF", "https://ds.alipay.com/?scheme=x",
			[]string{`href="https://wxaurl.cn/abcDEF"`, `href="https://ds.alipay.com/?scheme=x"`, "在微信中打开", "在支付宝中打开"}, nil},
		{"unsafe dropped", "javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
			nil, []string{"在微信中打开", "在支付宝中打开", "javascript:", "data:text", "ZgotmplZ"}},
		{"quote escaped", `https://wxaurl.cn/a"onclick="alert(1)`, "",
			[]string{"在微信中打开"}, []string{`"onclick="`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := productLanding()
			l.WeChatLink, l.AlipayLink = tt.wechat, tt.alipay
			html := renderLanding(t, l)
			contains(t, html, tt.want...)
			lacks(t, html, tt.bad...)
		})
	}
}

func TestWriteLandingWarning(t *testing.T) {
	l := productLanding()
	l.Warning = "此标签可能被复制，请以店内价格为准"
	html := renderLanding(t, l)
	contains(t, html, `<div class="warning" role="alert">⚠ 此标签可能被复制，请以店内价格为准</div>`)
	if strings.Index(html, `class="warning"`) > strings.Index(html, "<h1>") {
		t.Error("warning is not above the product")
	}
}

func TestWriteLandingEscapes(t *testing.T) {
	l := productLanding()
	l.ProductName = `<script>alert(1)</script>牛排`
	l.Warning = `<img src=x onerror=alert(2)>`
	l.StoreName = `"><svg onload=alert(3)>`
	l.Nearby[0].Name = `<iframe src=//evil>`
	l.Campaign = `<a href="javascript:alert(4)">领券</a>`
	l.Trace = &Trace{BatchNo: `<b>B1</b>`, Steps: []TraceStep{{Step: `<i>x</i>`, Place: `<u>p</u>`, Document: `</li><script>`}}}
	html := renderLanding(t, l)
	lacks(t, html, "<script>", "<img src=x", "<svg", "<iframe", `<a href="javascript`, "<b>B1", "<i>x", "<u>p", "</li><script>")
	contains(t, html, "&lt;script&gt;alert(1)&lt;/script&gt;牛排", "&lt;img src=x onerror=alert(2)&gt;")
}

func TestWriteLandingTrace(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	l := Landing{
		Code:        "ZZZZ0000",
		Kind:        KindTrace,
		StoreName:   "静安寺店",
		ProductName: "智利车厘子 JJ 级 1kg",
		PriceFen:    12900,
		Trace: &Trace{BatchNo: "CL-2024-0112", Steps: []TraceStep{
			{Step: StepProduction, Date: time.Date(2024, 1, 2, 0, 0, 0, 0, shanghai), Place: "智利 Rancagua 果园"},
			{Step: StepInspection, Date: time.Date(2024, 1, 20, 20, 0, 0, 0, time.UTC), Place: "上海海关", Document: "检验检疫证明 310000124000001"},
			{Step: StepImport, Date: time.Date(2024, 1, 22, 0, 0, 0, 0, shanghai), Document: "报关单 2201 2024 0000 1234"},
			{Step: StepArrival, Date: time.Date(2024, 1, 25, 0, 0, 0, 0, shanghai), Place: "静安寺店"},
			{Step: "冷链转运"},
		}},
	}
	html := renderLanding(t, l)
	contains(t, html,
		"溯源信息", "批次号 CL-2024-0112", `<ol class="timeline">`,
		`<span class="step">生产</span><span class="date">2024-01-02</span>`,
		`<span class="step">检验检疫</span><span class="date">2024-01-21</span>`, // 20:00 UTC is the next day in China
		"单证编号：检验检疫证明 310000124000001",
		`<span class="step">进口通关</span>`, "单证编号：报关单 2201 2024 0000 1234",
		`<span class="step">到店</span>`,
		`<li><span class="step">冷链转运</span></li>`,
		"¥129.00",
	)
	contains(t, html, "本店暂时缺货") // a trace code at a store has the stock line of the scan JSON
	l.Available = 4
	contains(t, renderLanding(t, l), "本店有货 4 件")
	l.StoreName = "" // a batch code, not at any store: no stock line
	lacks(t, renderLanding(t, l), "本店有货", "本店暂时缺货")
	for i, s := range []string{"生产", "检验检疫", "进口通关", "到店"} {
		if j := strings.Index(html, `<span class="step">`+s); j < 0 {
			t.Errorf("step %d %s missing", i, s)
		}
	}
}

func TestWriteLandingStoreAndCampaign(t *testing.T) {
	html := renderLanding(t, Landing{Code: "00000001", Kind: KindStore, StoreName: "徐家汇店", StoreAddress: "徐汇区虹桥路 1 号"})
	contains(t, html, "欢迎光临", "<h1>徐家汇店</h1>", "徐汇区虹桥路 1 号", "<title>徐家汇店</title>")
	lacks(t, html, "¥", "本店有货", "本店暂时缺货")

	html = renderLanding(t, Landing{Code: "00000002", Kind: KindCampaign, StoreName: "徐家汇店", Campaign: "满 99 减 20，周末限定"})
	contains(t, html, "门店活动", "满 99 减 20，周末限定")
	lacks(t, html, "¥", "本店有货")

	html = renderLanding(t, Landing{})
	contains(t, html, "<title>扫码结果</title>")
}

func TestWriteNotFound(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNotFound(&buf, "7K2M9XQ4", false); err != nil {
		t.Fatal(err)
	}
	html := buf.String()
	contains(t, html, "这个二维码已失效或不存在", "没有找到", "编号 7K2M9XQ4", `<meta name="viewport"`)
	lacks(t, html, "撤下")

	buf.Reset()
	if err := WriteNotFound(&buf, "7K2M9XQ4", true); err != nil {
		t.Fatal(err)
	}
	contains(t, buf.String(), "这个二维码已失效或不存在", "已被门店撤下")

	buf.Reset()
	if err := WriteNotFound(&buf, `<script>alert(1)</script>`, false); err != nil {
		t.Fatal(err)
	}
	lacks(t, buf.String(), "<script>", "alert(1)", "编号")
}

func TestYuan(t *testing.T) {
	tests := []struct {
		fen  int64
		want string
	}{
		{0, "¥0.00"}, {5, "¥0.05"}, {50, "¥0.50"}, {1230, "¥12.30"}, {1850, "¥18.50"}, {100000, "¥1000.00"},
		{-150, "-¥1.50"}, {math.MinInt64, "-¥92233720368547758.08"}, {math.MaxInt64, "¥92233720368547758.07"},
	}
	for _, tt := range tests {
		if got := cn.YuanSign(tt.fen); got != tt.want {
			t.Errorf("cn.YuanSign(%d) = %q, want %q", tt.fen, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		m    float64
		want string
	}{
		{0, "0 米"}, {12.4, "12 米"}, {850, "850 米"}, {999.4, "999 米"}, {999.6, "1.0 公里"},
		{1000, "1.0 公里"}, {1234, "1.2 公里"}, {1250.1, "1.3 公里"}, {15678, "15.7 公里"}, {123456, "123 公里"},
		{-1, ""}, {math.NaN(), ""},
	}
	for _, tt := range tests {
		if got := distance(tt.m); got != tt.want {
			t.Errorf("distance(%v) = %q, want %q", tt.m, got, tt.want)
		}
	}
}

func TestChannel(t *testing.T) {
	tests := []struct{ ua, want string }{
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI Language/zh_CN", ChannelWeChat},
		{"Mozilla/5.0 (Linux; Android 13; V2227A Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/107.0.5304.141 Mobile Safari/537.36 XWEB/5235 MMWEBSDK/20230701 MMWEBID/1234 MicroMessenger/8.0.40.2420(0x28002837) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64 miniProgram/wx1234567890abcdef", ChannelWeChat},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 ChannelId(5) NebulaSDK/1.8.100112 Nebula AliApp(AP/10.5.36.6000) AlipayClient/10.5.36.6000 Language/zh-Hans Region/CN", ChannelAlipay},
		{"Mozilla/5.0 (Linux; U; Android 12; zh-CN; M2102J2SC Build/SKQ1.211006.001) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.2.43 Mobile Safari/537.36 UCBS/3.22.2.43_220223200704 ChannelId(0) NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:393|0|2.75) AliApp(AP/10.2.80.8000) AlipayClient/10.2.80.8000 Language/zh-Hans useStatusBar/true isConcaveScreen/true Region/CNAriver/1.0.0 MiniProgram", ChannelAlipay},
		{"Mozilla/5.0 (iPhone) miniProgram", ChannelWeChat},
		{"micromessenger/8.0", ChannelWeChat},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1", ChannelBrowser},
		{"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Mobile Safari/537.36", ChannelBrowser},
		{"", ChannelBrowser},
	}
	for _, tt := range tests {
		if got := Channel(tt.ua); got != tt.want {
			t.Errorf("Channel(%q) = %q, want %q", tt.ua, got, tt.want)
		}
	}
}
