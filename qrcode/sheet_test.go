package qrcode

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

func testLabels(n int) []Label {
	labels := make([]Label, n)
	for i := range labels {
		code := fmt.Sprintf("%08d", i) // digits are valid Crockford characters
		labels[i] = Label{
			Name:     fmt.Sprintf("有机纯牛奶 250ml×12 第%d款", i),
			SKU:      fmt.Sprintf("SKU-%05d", i),
			PriceFen: int64(1230 + i),
			URL:      "https://hub.example.com/q/" + code,
			Code:     code,
		}
	}
	return labels
}

var imgRE = regexp.MustCompile(`<img src="data:image/png;base64,([^"]+)" alt="二维码 ([^"]*)"`)

func renderSheet(t testing.TB, s Sheet) string {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteSheet(&buf, s); err != nil {
		t.Fatalf("WriteSheet: %v", err)
	}
	return buf.String()
}

func TestWriteSheet(t *testing.T) {
	for _, n := range []int{1, 23, 24, 25, 500} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			labels := testLabels(n)
			page := renderSheet(t, Sheet{StoreName: "静安寺店", StoreCode: "SH001", Labels: labels, GeneratedAt: time.Date(2024, 5, 1, 2, 30, 0, 0, time.UTC)})

			imgs := imgRE.FindAllStringSubmatch(page, -1)
			if len(imgs) != n {
				t.Fatalf("%d QR images, want %d", len(imgs), n)
			}
			for i, m := range imgs { // order preserved: the i-th image is the i-th label's
				if m[2] != labels[i].Code {
					t.Fatalf("image %d is for code %q, want %q", i, m[2], labels[i].Code)
				}
			}
			// The images encode their own label's URL (decode a few, including the last).
			for _, i := range []int{0, n / 2, n - 1} {
				// html/template writes '+' in attributes as &#43;, which a browser decodes back.
				b, err := base64.StdEncoding.DecodeString(html.UnescapeString(imgs[i][1]))
				if err != nil {
					t.Fatal(err)
				}
				got, img := decodeQR(t, b)
				if got != labels[i].URL {
					t.Errorf("image %d reads %q, want %q", i, got, labels[i].URL)
				}
				if img.Bounds().Dx() != LabelQRSize {
					t.Errorf("image %d is %dpx, want %d", i, img.Bounds().Dx(), LabelQRSize)
				}
			}
			// Names, prices and codes appear in label order.
			last := -1
			for i, l := range labels {
				at := strings.Index(page[last+1:], `<div class="name">`+l.Name+`</div><div class="price">`+cn.YuanSign(l.PriceFen)+`</div><div class="sku">`+l.SKU+`</div>`)
				if at < 0 {
					t.Fatalf("label %d (%s %s) missing or out of order", i, l.Name, cn.YuanSign(l.PriceFen))
				}
				last += 1 + at
			}
			pages := (n + LabelsPerPage - 1) / LabelsPerPage
			if got := strings.Count(page, `<section class="page">`); got != pages {
				t.Errorf("%d pages, want %d", got, pages)
			}
			for _, want := range []string{
				"<title>静安寺店 货架标签</title>",
				"静安寺店（SH001）",
				fmt.Sprintf("共 %d 个标签，%d 页，生成于 2024-05-01 10:30", n, pages), // China time
				"¥12.30",
				`onclick="window.print()"`,
			} {
				if !strings.Contains(page, want) {
					t.Errorf("sheet lacks %q", want)
				}
			}
		})
	}
}

func TestWriteSheetPrintCSS(t *testing.T) {
	page := renderSheet(t, Sheet{StoreName: "店", Labels: testLabels(1)})
	for _, want := range []string{
		"@page { size: A4 portrait; margin:",
		"break-inside: avoid",
		"page-break-inside: avoid",
		"break-after: page",
		"@media print",
		".toolbar { display: none; }",
		"-webkit-line-clamp: 3",
		`<html lang="zh-CN">`,
		`<meta charset="utf-8">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("sheet lacks %q", want)
		}
	}
}

func TestWriteSheetEscapes(t *testing.T) {
	labels := testLabels(2)
	labels[0].Name = `<script>alert("x")</script>牛奶`
	labels[1].SKU = `"><img src=x onerror=alert(1)>`
	page := renderSheet(t, Sheet{StoreName: `<b>店</b>`, StoreCode: `</title><script>`, Labels: labels})
	for _, bad := range []string{"<script>alert", "<b>店", "<img src=x", "</title><script>"} {
		if strings.Contains(page, bad) {
			t.Errorf("sheet contains unescaped %q", bad)
		}
	}
	if !strings.Contains(page, "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;牛奶") {
		t.Errorf("escaped name missing")
	}
}

func TestWriteSheetLongName(t *testing.T) {
	labels := testLabels(1)
	labels[0].Name = strings.Repeat("澳大利亚进口", 30)
	page := renderSheet(t, Sheet{Labels: labels})
	want := clip(labels[0].Name, labelNameRunes)
	if !strings.HasSuffix(want, "…") || !strings.Contains(page, `<div class="name">`+want+`</div>`) {
		t.Errorf("long name not clipped to %q", want)
	}
}

func TestWriteSheetEmpty(t *testing.T) {
	page := renderSheet(t, Sheet{StoreName: "空店"})
	if !strings.Contains(page, "没有需要打印的标签") || strings.Contains(page, "<img") {
		t.Errorf("empty sheet: %s", page)
	}
}

func TestWriteSheetBadURL(t *testing.T) {
	labels := testLabels(100)
	labels[70].URL = ""
	labels[90].URL = strings.Repeat("x", 4000)
	var buf bytes.Buffer
	err := WriteSheet(&buf, Sheet{Labels: labels})
	if err == nil || !strings.Contains(err.Error(), "label 71") || !strings.Contains(err.Error(), "SKU-00070") {
		t.Errorf("WriteSheet error = %v, want one naming label 71", err)
	}
	if buf.Len() != 0 {
		t.Errorf("WriteSheet wrote %d bytes before failing", buf.Len())
	}
}

func BenchmarkSheet500(b *testing.B) {
	s := Sheet{StoreName: "静安寺店", StoreCode: "SH001", Labels: testLabels(500), GeneratedAt: time.Now()}
	var n int
	cw := &countWriter{}
	for b.Loop() {
		cw.n = 0
		if err := WriteSheet(cw, s); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n*len(s.Labels))/b.Elapsed().Seconds(), "labels/s")
	b.ReportMetric(float64(cw.n), "B/sheet")
}

type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countWriter)(nil)
