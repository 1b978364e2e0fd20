package handlers

// Tests of the console's alerts page: admins see the open alerts and their count on every page, resolve
// them with a note; clerks see neither.

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// conAlertBadge finds the navigation's link to the alerts page and its count.
var conAlertBadge = regexp.MustCompile(`<a href="/console/alerts"[^>]*>告警(?: <span class="count alarm"[^>]*>(\d+)</span>)?</a>`)

// badge returns the open-alert count the page's navigation shows: -1 without the alerts link, 0 for
// the link without a count.
func badge(t *testing.T, r conResp) int {
	t.Helper()
	m := conAlertBadge.FindStringSubmatch(r.body)
	switch {
	case m == nil:
		if strings.Contains(r.body, "/console/alerts") {
			t.Errorf("the page links the alerts page in a form the test does not know: %.2000s", r.body)
		}
		return -1
	case m[1] == "":
		return 0
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// raiseAlert raises an alert at the clock's time, in a transaction, as core does.
func raiseAlert(t *testing.T, env domain.Env, kind, orderNo, detail string) {
	t.Helper()
	err := env.DB.Tx(context.Background(), func(ctx context.Context) error { return events.Alert(ctx, env, kind, orderNo, detail) })
	if err != nil {
		t.Fatalf("raise %s: %v", kind, err)
	}
}

// openAlerts reads the open alerts straight from the database, oldest first.
func openAlerts(t *testing.T, db *models.DB) []models.Alert {
	t.Helper()
	var rows []models.Alert
	if err := db.Conn(context.Background()).Where("resolved_at IS NULL").Order("id").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	return rows
}

func TestConsoleAlerts(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		no := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		clk := testclock.New(time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)) // 10:00 in China
		env := domain.NewEnv(db, clk, slog.New(slog.DiscardHandler))

		admin, clerk := e.signedIn(t, "boss"), e.signedIn(t, "clerk1")

		t.Run("no alerts: the link without a count", func(t *testing.T) {
			if n := badge(t, admin.get("/console/")); n != 0 {
				t.Errorf("admin badge = %d, want the link without a count", n)
			}
			wantPage(t, admin.get("/console/alerts"), http.StatusOK, "没有未处理的告警")
		})

		// The same kind for the same order twice (a retry), a later second minute; then two others.
		raiseAlert(t, env, "payment_amount_mismatch", no, "wechatpay paid 1 fen, order total 1250 fen")
		clk.Add(5 * time.Minute)
		raiseAlert(t, env, "payment_amount_mismatch", no, "wechatpay paid 2 fen, order total 1250 fen")
		clk.Add(time.Minute)
		raiseAlert(t, env, "refund_stuck", "", "refund R1: <script>alert(1)</script>")
		clk.Add(time.Minute)
		raiseAlert(t, env, "webhook_endpoint_gone", "", "endpoint erp answered 410")
		alerts := openAlerts(t, db)
		if len(alerts) != 3 {
			t.Fatalf("%d open alerts, want 3 (the repeated one once)", len(alerts))
		}

		t.Run("the admin sees the alerts, oldest first, and the count on every page", func(t *testing.T) {
			r := admin.get("/console/alerts")
			wantPage(t, r, http.StatusOK, "未处理 3 条", "支付金额不符", "payment_amount_mismatch",
				`href="/console/orders/`+no+`"`, "×2", "wechatpay paid 2 fen, order total 1250 fen",
				"2026-12-05 10:00:00", "2026-12-05 10:05:00", "refund R1: &lt;script&gt;alert(1)&lt;/script&gt;",
				`action="/console/alerts/`+strconv.FormatInt(alerts[0].ID, 10)+`/resolve"`, `name="note" required`,
				`href="/console/alerts?all=1"`, `aria-current="page">告警`)
			if strings.Contains(r.body, "<script>alert(1)") {
				t.Error("an alert's detail is not escaped")
			}
			if strings.Count(r.body, `class="card alarm`) != 3 || strings.Count(r.body, "×") != 1 {
				t.Errorf("want 3 alerts, one of them ×2: %.3000s", r.body)
			}
			first, second, third := strings.Index(r.body, "payment_amount_mismatch"), strings.Index(r.body, "refund_stuck"), strings.Index(r.body, "webhook_endpoint_gone")
			if !(first < second && second < third) {
				t.Errorf("alerts are not oldest first: at %d, %d, %d", first, second, third)
			}
			if strings.Contains(r.body, "wechatpay paid 1 fen") {
				t.Error("the repeated alert shows its old detail, want the latest")
			}
			for _, path := range []string{"/console/", "/console/today?store=S01", "/console/alerts", "/console/orders/" + no} {
				if n := badge(t, admin.get(path)); n != 3 {
					t.Errorf("GET %s: admin badge = %d, want 3", path, n)
				}
			}
			wantPage(t, admin.get("/console/orders/"+no), http.StatusOK, no)
		})

		t.Run("the badge costs one count of the open alerts per page", func(t *testing.T) {
			n := countAlertStatements(t, db)
			for _, path := range []string{"/console/", "/console/pickup?store=S01", "/console/orders/" + no} {
				n.Store(0)
				r := admin.get(path)
				if r.status != http.StatusOK || badge(t, r) != 3 {
					t.Fatalf("GET %s = %d, badge %d", path, r.status, badge(t, r))
				}
				if got := n.Load(); got != 1 {
					t.Errorf("GET %s sent %d statements on alerts, want 1 (the count)", path, got)
				}
			}
			n.Store(0)
			clerk.get("/console/")
			if got := n.Load(); got != 0 {
				t.Errorf("a clerk's page sent %d statements on alerts, want none", got)
			}
		})

		t.Run("pages need a session", func(t *testing.T) {
			b := e.browser(t)
			if r := b.get("/console/alerts?all=1"); r.status != http.StatusSeeOther || r.location() != "/console/login?next=%2Fconsole%2Falerts%3Fall%3D1" {
				t.Errorf("GET /console/alerts without a session = %d → %q", r.status, r.location())
			}
			r := b.post("/console/alerts/"+strconv.FormatInt(alerts[0].ID, 10)+"/resolve", url.Values{"note": {"x"}, "csrf": {"x"}})
			if r.status != http.StatusSeeOther || r.location() != "/console/login" || len(openAlerts(t, db)) != 3 {
				t.Errorf("POST resolve without a session = %d → %q", r.status, r.location())
			}
		})

		t.Run("a clerk is refused and sees no badge", func(t *testing.T) {
			for _, path := range []string{"/console/", "/console/today", "/console/pickup"} {
				if n := badge(t, clerk.get(path)); n != -1 {
					t.Errorf("GET %s: a clerk sees the alerts link (badge %d)", path, n)
				}
			}
			r := clerk.get("/console/alerts")
			wantPage(t, r, http.StatusForbidden, "此页面仅管理员可用")
			if strings.Contains(r.body, "payment_amount_mismatch") || badge(t, r) != -1 {
				t.Errorf("the refusal shows alerts: %.2000s", r.body)
			}
			id := strconv.FormatInt(alerts[0].ID, 10)
			r = clerk.post("/console/alerts/"+id+"/resolve", url.Values{"note": {"clerk did it"}})
			wantPage(t, r, http.StatusForbidden, "此页面仅管理员可用")
			if len(openAlerts(t, db)) != 3 {
				t.Error("a clerk resolved an alert")
			}
		})

		t.Run("resolving needs a note, the session's token and the same origin", func(t *testing.T) {
			admin.get("/console/alerts")
			id := strconv.FormatInt(alerts[0].ID, 10)
			for _, note := range []string{"", "   "} {
				r := admin.follow("/console/alerts/"+id+"/resolve", url.Values{"note": {note}, "back": {"/console/alerts"}})
				wantPage(t, r, http.StatusOK, "告警 #"+id+" 未处理：请填写处理说明")
				if badge(t, r) != 3 {
					t.Errorf("note %q: badge = %d, want 3", note, badge(t, r))
				}
			}
			r := admin.post("/console/alerts/"+id+"/resolve", url.Values{"note": {"checked"}, "csrf": {"forged"}})
			wantPage(t, r, http.StatusForbidden, "页面已过期")
			r = admin.do(http.MethodPost, "/console/alerts/"+id+"/resolve", url.Values{"note": {"checked"}, "csrf": {admin.csrf}},
				map[string]string{"Origin": "https://evil.example"})
			wantPage(t, r, http.StatusForbidden, "请求来源不可信")
			r = admin.follow("/console/alerts/"+id+"/resolve", url.Values{"note": {strings.Repeat("长", 700)}})
			wantPage(t, r, http.StatusOK, "处理说明无效")
			if got := openAlerts(t, db); len(got) != 3 || got[0].ResolvedBy != "" || got[0].Note != "" {
				t.Errorf("a refused resolve changed the alerts: %+v", got)
			}
		})

		t.Run("resolving works and the count drops", func(t *testing.T) {
			admin.get("/console/alerts")
			id := alerts[0].ID
			sid := strconv.FormatInt(id, 10)
			r := admin.follow("/console/alerts/"+sid+"/resolve", url.Values{"note": {" 已联系顾客，退回多付款项 "}, "back": {"/console/alerts"}})
			wantPage(t, r, http.StatusOK, "已处理告警 #"+sid+"（支付金额不符）", "未处理 2 条")
			if n := badge(t, r); n != 2 {
				t.Errorf("badge after resolving = %d, want 2", n)
			}
			if strings.Contains(r.body, `action="/console/alerts/`+sid+`/resolve"`) {
				t.Error("the resolved alert is still listed as open")
			}
			var a models.Alert
			if err := db.Conn(context.Background()).First(&a, id).Error; err != nil {
				t.Fatal(err)
			}
			if a.ResolvedAt == nil || a.ResolvedBy != "boss" || a.Note != "已联系顾客，退回多付款项" {
				t.Errorf("resolved alert = at %v by %q note %q, want now by boss with the trimmed note", a.ResolvedAt, a.ResolvedBy, a.Note)
			}
			// Resolving it again (another admin's stale page) says so.
			r = admin.follow("/console/alerts/"+sid+"/resolve", url.Values{"note": {"again"}})
			wantPage(t, r, http.StatusOK, "该告警已被处理")
			r = admin.follow("/console/alerts/999999/resolve", url.Values{"note": {"x"}})
			wantPage(t, r, http.StatusOK, "告警不存在")

			all := admin.get("/console/alerts?all=1")
			wantPage(t, all, http.StatusOK, "已处理", "已联系顾客，退回多付款项", "boss", `href="/console/alerts"`)
			if n := badge(t, admin.get("/console/")); n != 2 {
				t.Errorf("badge on the orders page = %d, want 2", n)
			}
		})

		t.Run("the same alert raised after it was resolved is a new one", func(t *testing.T) {
			raiseAlert(t, env, "payment_amount_mismatch", no, "wechatpay paid 3 fen, order total 1250 fen")
			r := admin.get("/console/alerts")
			wantPage(t, r, http.StatusOK, "未处理 3 条", "wechatpay paid 3 fen")
			if badge(t, r) != 3 {
				t.Errorf("badge = %d, want 3", badge(t, r))
			}
		})
	})
}

// countAlertStatements counts, from now on, the statements gorm sends on db that read or write the
// alerts table.
func countAlertStatements(t *testing.T, db *models.DB) *atomic.Int64 {
	t.Helper()
	var n atomic.Int64
	count := func(g *gorm.DB) {
		if g.Statement.Table == "alerts" || strings.Contains(g.Statement.SQL.String(), "alerts") {
			n.Add(1)
		}
	}
	cb := db.Conn(context.Background()).Callback()
	for _, err := range []error{
		cb.Query().After("gorm:query").Register("test:alerts", count),
		cb.Row().After("gorm:row").Register("test:alerts", count),
		cb.Raw().After("gorm:raw").Register("test:alerts", count),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return &n
}
