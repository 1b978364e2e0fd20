package handlers

// Tests of the console's platform side: platform orders in the lists, on the order page and on the
// printed ticket, and the store's page of platform shops. Platform orders come in the real way: the
// Meituan fake places the order and pushes it to the hub's webhook, and the hub fetches it from the fake.

import (
	"context"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/models"
)

// conMeituanShop is the Meituan shop (app_poi_code) the tests bind to S01.
const conMeituanShop = "mt-poi-1"

// withMeituan enables Meituan on the hub through its fake, binds conMeituanShop to S01 (auto-accept
// off, safety stock 2, ratio 0.8) and returns the fake.
func (e *conEnv) withMeituan(t *testing.T) *meituanfake.Fake {
	t.Helper()
	fake := meituanfake.New(meituanfake.Options{AppID: "mt-app", AppSecret: "mt-secret", PushURL: e.srv.URL + "/webhooks/meituan",
		RetryInterval: 20 * time.Millisecond})
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); fakeSrv.Close() })
	conn, err := meituan.New(meituan.Config{AppID: "mt-app", AppSecret: "mt-secret", Base: fakeSrv.URL + "/api/v1"})
	if err != nil {
		t.Fatal(err)
	}
	e.svc.Market.Register(conn)
	fake.AddShop(conMeituanShop)
	if _, err := e.svc.Market.PutShop(context.Background(), market.ShopInput{Platform: market.Meituan, ShopID: conMeituanShop, Store: "S01",
		SafetyStock: 2, Ratio: "0.8"}); err != nil {
		t.Fatal(err)
	}
	return fake
}

// meituanOrder has the fake place an order at conMeituanShop and waits for the hub to hold it.
func (e *conEnv) meituanOrder(t *testing.T, fake *meituanfake.Fake, lines ...meituanfake.OrderLine) models.Order {
	t.Helper()
	id, err := fake.PlaceOrder(conMeituanShop, lines)
	if err != nil {
		t.Fatal(err)
	}
	var ord models.Order
	for deadline := time.Now().Add(10 * time.Second); ; {
		err := e.db.Conn(context.Background()).Where("source = ? AND platform_order_id = ?", market.Meituan, id).Take(&ord).Error
		if err == nil {
			return ord
		}
		if !models.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("meituan order %s not taken: %v", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsolePlatformOrder(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		fake := e.withMeituan(t)
		// The name is what the platform's listing says: markup in it must be printed as text.
		ord := e.meituanOrder(t, fake, meituanfake.OrderLine{Code: "TEA", Name: `<b>绿茶</b> "大杯"`, Qty: 2, PriceFen: 1250},
			meituanfake.OrderLine{Code: "BUN", Name: "肉包", Qty: 1, PriceFen: 300})
		odd := e.meituanOrder(t, fake, meituanfake.OrderLine{Code: "NO-SUCH-SKU", Name: "神秘商品", Qty: 1, PriceFen: 990})
		mine := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		if ord.DaySeq != 1 || odd.DaySeq != 2 || odd.Attention == "" {
			t.Fatalf("orders taken with day_seq %d and %d, attention %q: want 1 and 2, and the unknown SKU noted", ord.DaySeq, odd.DaySeq, odd.Attention)
		}
		clerk := e.signedIn(t, "clerk1")

		t.Run("the orders page shows the source and the rider's number", func(t *testing.T) {
			r := clerk.get("/console/")
			wantPage(t, r, http.StatusOK, ord.OrderNo, odd.OrderNo, mine,
				`<span class="src meituan">美团</span>`, `<span class="seq" title="平台当日序号，骑手报号取货">#1</span>`, ">#2</span>",
				`<span class="src miniprogram">小程序</span>`, "需要处理：", "NO-SUCH-SKU",
				`href="/console/orders/`+ord.OrderNo+`/ticket?print=1"`, `data-new-order="`+ord.OrderNo+`"`, `data-source="meituan"`,
				"新订单提醒/自动打印", `data-pref="sound"`, `data-pref="print"`, "&lt;b&gt;绿茶&lt;/b&gt;")
			if strings.Contains(r.body, "<b>绿茶") {
				t.Error("the platform's product name is printed as markup")
			}
		})

		t.Run("the order page shows the platform's id and money", func(t *testing.T) {
			r := clerk.get("/console/orders/" + ord.OrderNo)
			wantPage(t, r, http.StatusOK, "美团", "平台单号", *ord.PlatformOrderID, conMeituanShop, "#1", "顾客实付", "平台补贴", "平台佣金",
				"¥28.00", "骑手取货", "收货人", "顾客备注", "接单", "打印小票")
			// The fake's buyer note and address carry & and #: escaped, never raw.
			if !strings.Contains(r.body, "&amp; 5单元 #1201") || !strings.Contains(r.body, "少放辣 100% 谢谢&#43;1") {
				t.Errorf("the address or note is not shown escaped; body: %.3000s", r.body)
			}
			wantPage(t, clerk.get("/console/orders/"+odd.OrderNo), http.StatusOK, `class="attention"`, "需要处理：", "NO-SUCH-SKU")
		})

		t.Run("the ticket", func(t *testing.T) {
			r := clerk.get("/console/orders/" + ord.OrderNo + "/ticket?print=1")
			wantPage(t, r, http.StatusOK, `<div class="seq">#1</div>`, "Store S01", "美团订单", ord.OrderNo, *ord.PlatformOrderID,
				"&lt;b&gt;绿茶&lt;/b&gt;", "×2", "肉包", "×1", "合计 <strong>¥28.00</strong>", "共 3 件", `data-print="1"`,
				"ticket.css", "console.js", "地址：", "备注：")
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("ticket CSP %q: want the orders page (same origin) allowed to frame it, nothing inline", csp)
			}
			if xfo := r.header.Get("X-Frame-Options"); xfo != "SAMEORIGIN" {
				t.Errorf("ticket X-Frame-Options %q, want SAMEORIGIN", xfo)
			}
			if strings.Contains(r.body, "<form") || strings.Contains(r.body, "csrf") {
				t.Error("the ticket, which may be framed, carries a form or the CSRF token")
			}
			plain := clerk.get("/console/orders/" + ord.OrderNo + "/ticket")
			wantPage(t, plain, http.StatusOK, `<div class="seq">#1</div>`)
			if regexp.MustCompile(`data-print="`).MatchString(plain.body) {
				t.Error("the ticket without ?print=1 prints itself")
			}
			// A mini-program order's ticket has no rider's number.
			own := clerk.get("/console/orders/" + mine + "/ticket")
			wantPage(t, own, http.StatusOK, "小程序订单", mine, "自提")
			if strings.Contains(own.body, `class="seq"`) {
				t.Error("a mini-program order's ticket shows a day sequence number")
			}
			// The pages that frame the ticket allow it.
			if csp := clerk.get("/console/").header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-src 'self'") || !strings.Contains(csp, "frame-ancestors 'none'") {
				t.Errorf("orders page CSP %q: want frame-src 'self' and itself never framed", csp)
			}
		})

		t.Run("another store's clerk sees neither the order nor its ticket", func(t *testing.T) {
			other := e.signedIn(t, "clerk2")
			for _, path := range []string{"/console/orders/" + ord.OrderNo, "/console/orders/" + ord.OrderNo + "/ticket", "/console/orders/" + ord.OrderNo + "/ticket?print=1"} {
				r := other.get(path)
				wantPage(t, r, http.StatusNotFound, "订单不存在或不属于本店")
				if strings.Contains(r.body, *ord.PlatformOrderID) || strings.Contains(r.body, "绿茶") {
					t.Errorf("%s: the refusal shows the order", path)
				}
			}
			if strings.Contains(other.get("/console/").body, ord.OrderNo) {
				t.Error("S02's orders page lists S01's platform order")
			}
		})

		t.Run("the admin prints any store's ticket", func(t *testing.T) {
			wantPage(t, e.signedIn(t, "boss").get("/console/orders/"+ord.OrderNo+"/ticket"), http.StatusOK, `<div class="seq">#1</div>`)
		})

		t.Run("without a session the ticket leads to the sign-in", func(t *testing.T) {
			r := e.browser(t).get("/console/orders/" + ord.OrderNo + "/ticket?print=1")
			if r.status != http.StatusSeeOther || !strings.HasPrefix(r.location(), "/console/login?next=") || strings.Contains(r.body, "绿茶") {
				t.Errorf("GET ticket without a session = %d → %q, want 303 to the sign-in", r.status, r.location())
			}
		})

		t.Run("once accepted and ready it waits for the rider", func(t *testing.T) {
			clerk.get("/console/orders/" + ord.OrderNo)
			r := clerk.follow("/console/orders/"+ord.OrderNo+"/accept", nil)
			wantPage(t, r, http.StatusOK, "已接单："+ord.OrderNo)
			r = clerk.follow("/console/orders/"+ord.OrderNo+"/ready", nil)
			wantPage(t, r, http.StatusOK, "等待美团骑手报号取货")
		})
	})
}

func TestConsolePlatformsPage(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		fake := e.withMeituan(t)
		e.meituanOrder(t, fake, meituanfake.OrderLine{Code: "TEA", Name: "绿茶", Qty: 1, PriceFen: 1250})

		t.Run("a clerk sees their store's shops", func(t *testing.T) {
			r := e.signedIn(t, "clerk1").get("/console/platforms")
			wantPage(t, r, http.StatusOK, `aria-current="page">平台店铺</a>`, `<span class="src meituan">美团</span>`, conMeituanShop,
				"已绑定", "自动接单", "否（店员接单）", "安全库存", "<dd>2</dd>", "80%", "最近推送库存", "最近订单", "待推送")
			if strings.Contains(r.body, "<span class=\"muted\">暂无</span>") {
				t.Error("the shop that just took an order shows no last order")
			}
			if strings.Contains(r.body, "<form") && strings.Contains(r.body, "/shops/") {
				t.Error("the read-only page has a form that changes a shop")
			}
		})

		t.Run("another store's clerk does not", func(t *testing.T) {
			other := e.signedIn(t, "clerk2")
			r := other.get("/console/platforms")
			wantPage(t, r, http.StatusOK, "本店还没有绑定平台店铺")
			if strings.Contains(r.body, conMeituanShop) {
				t.Error("S02's page shows S01's shop")
			}
			r = other.get("/console/platforms?store=S01")
			wantPage(t, r, http.StatusNotFound, "门店不存在或不属于您")
			if strings.Contains(r.body, conMeituanShop) {
				t.Error("the refusal shows S01's shop")
			}
		})

		t.Run("the admin picks a store", func(t *testing.T) {
			admin := e.signedIn(t, "boss")
			r := admin.get("/console/platforms")
			wantPage(t, r, http.StatusOK, `<select id="store-pick"`, "请先选择一个门店")
			if strings.Contains(r.body, conMeituanShop) {
				t.Error("the admin's page shows a shop before a store is chosen")
			}
			wantPage(t, admin.get("/console/platforms?store=S01"), http.StatusOK, conMeituanShop, `href="/console/platforms?store=S01"`)
			wantPage(t, admin.get("/console/platforms?store=NOPE"), http.StatusNotFound)
		})

		t.Run("without a session it leads to the sign-in", func(t *testing.T) {
			r := e.browser(t).get("/console/platforms")
			if r.status != http.StatusSeeOther || r.location() != "/console/login?next=%2Fconsole%2Fplatforms" {
				t.Errorf("GET /console/platforms without a session = %d → %q, want 303 to the sign-in", r.status, r.location())
			}
		})
	})
}
