package qrcode

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// distance formats metres for a shopper: "850 米" below a kilometre, "1.2 公里" above, "120 公里" far
// away; it returns "" for an unknown (negative or NaN) distance.
func distance(m float64) string {
	if math.IsNaN(m) || m < 0 {
		return ""
	}
	if r := math.Round(m); r < 1000 {
		return fmt.Sprintf("%d 米", int64(r))
	}
	km := m / 1000
	if km < 100 {
		return fmt.Sprintf("%.1f 公里", km)
	}
	return fmt.Sprintf("%.0f 公里", km)
}

// clip shortens s to at most n runes, ending with an ellipsis when it was cut. CSS clamps long names
// too; this keeps absurdly long ones from bloating a sheet of thousands.
func clip(s string, n int) string {
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return strings.TrimSpace(string(r[:n-1])) + "…"
}

// day formats t as a date in China time, or "" for the zero time.
func day(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cn.Zone).Format("2006-01-02")
}

// minute formats t as a date and minute in China time, or "" for the zero time.
func minute(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(cn.Zone).Format("2006-01-02 15:04")
}

// appSchemes are the URL schemes a mini-program link may use: universal links over http(s), and the
// apps' own schemes (weixin://dl/business/?t=…, alipays://platformapi/startapp?appId=…).
var appSchemes = map[string]bool{"https": true, "http": true, "weixin": true, "alipays": true, "alipay": true}

// appLink reports whether link is safe to put in an href: html/template would otherwise replace the
// weixin:// and alipays:// schemes with "#ZgotmplZ", and any other scheme (javascript:) is refused.
func appLink(link string) bool {
	u, err := url.Parse(strings.TrimSpace(link))
	return err == nil && appSchemes[strings.ToLower(u.Scheme)] && (u.Host != "" || u.Opaque != "" || u.RawQuery != "")
}
