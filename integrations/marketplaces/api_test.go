package marketplaces_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// call makes one HTTP request to the hub and returns its status and body.
func (h *hub) call(t testing.TB, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func (h *hub) admin(t testing.TB, method, path, body string) (int, string) {
	return h.call(t, method, path, body, map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "application/json"})
}

// TestAdminAPI: bindings and SKU maps through the admin API, and every bad input refused with a clear
// error that changes nothing.
func TestAdminAPI(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		shopPath := "/api/v1/admin/marketplaces/meituan/shops/poi-2"
		for _, c := range []struct {
			name, method, path, body string
			status                   int
			code                     string
		}{
			{"no token", "PUT", shopPath, `{"store":"S01"}`, 401, "unauthenticated"},
			{"ratio above 1", "PUT", shopPath, `{"store":"S01","ratio":1.5}`, 400, "ratio"},
			{"ratio with three decimals", "PUT", shopPath, `{"store":"S01","ratio":0.333}`, 400, "ratio"},
			{"negative safety stock", "PUT", shopPath, `{"store":"S01","safety_stock":-1}`, 400, "safety_stock"},
			{"unknown store", "PUT", shopPath, `{"store":"S99"}`, 404, "S99"},
			{"unknown platform", "PUT", "/api/v1/admin/marketplaces/taobao/shops/x", `{"store":"S01"}`, 404, "taobao"},
			{"bad shop id", "PUT", "/api/v1/admin/marketplaces/meituan/shops/a%20b", `{"store":"S01"}`, 400, "shop id"},
			{"unbound shop", "GET", shopPath, "", 404, "poi-2"},
			{"map to an unknown SKU", "PUT", "/api/v1/admin/marketplaces/eleme/skus/EL-1", `{"sku":"NOPE"}`, 404, "NOPE"},
			{"unmap an unmapped code", "DELETE", "/api/v1/admin/marketplaces/eleme/skus/EL-1", "", 404, "EL-1"},
		} {
			header := map[string]string{"Authorization": "Bearer " + adminToken, "Content-Type": "application/json"}
			if c.name == "no token" {
				header = nil
			}
			status, body := h.call(t, c.method, c.path, c.body, header)
			if status != c.status || !strings.Contains(body, c.code) {
				t.Errorf("%s: %d %s, want %d naming %q", c.name, status, body, c.status, c.code)
			}
		}
		if shops, _ := h.svc.Market.Shops(h.ctx, ""); len(shops) != 3 {
			t.Fatalf("a refused request changed the bindings: %+v", shops)
		}

		h.platforms[0].fake.AddShop("poi-2")
		status, body := h.admin(t, "PUT", shopPath, `{"store":"S01","auto_accept":true,"safety_stock":2,"ratio":0.5}`)
		var v market.ShopView
		if err := json.Unmarshal([]byte(body), &v); status != 200 || err != nil || v.Store != "S01" || v.Ratio != 0.5 || v.SafetyStock != 2 || !v.AutoAccept {
			t.Fatalf("bind: %d %s", status, body)
		}
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		// 10 on hand, 2 held back, half shown.
		if got, ok := h.platforms[0].fake.Stock("poi-2", "MILK-1L"); !ok || got != 4 {
			t.Fatalf("poi-2 shows %d (%v), want 4", got, ok)
		}
		status, body = h.admin(t, "GET", "/api/v1/admin/marketplaces/shops?store=S01", "")
		var list []market.ShopView
		if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil || len(list) != 4 {
			t.Fatalf("list: %d %s", status, body)
		}
		if status, body = h.admin(t, "PUT", "/api/v1/admin/marketplaces/eleme/skus/EL-MILK", `{"sku":"MILK-1L"}`); status != 200 {
			t.Fatalf("map: %d %s", status, body)
		}
		if err := h.svc.TakePlatformOrder(h.ctx, market.Order{Platform: market.Eleme, OrderID: "EL-MAP", ShopID: shop,
			Lines: []market.Line{{Code: "EL-MILK", Qty: 1, PriceFen: 1590}}}); err != nil {
			t.Fatal(err)
		}
		if ord := h.order(t, market.Eleme, "EL-MAP"); ord.Attention != "" || ord.Items[0].SKU != "MILK-1L" || h.stock(t).OnHand != 9 {
			t.Fatalf("a mapped code: %+v, stock %+v", ord, h.stock(t))
		}
		if status, _ = h.admin(t, "DELETE", "/api/v1/admin/marketplaces/eleme/skus/EL-MILK", ""); status != 204 {
			t.Fatalf("unmap: %d", status)
		}
		if status, body = h.admin(t, "DELETE", shopPath, ""); status != 202 || !strings.Contains(body, `"state":"unbinding"`) {
			t.Fatalf("unbind: %d %s", status, body)
		}
	})
}

// TestWebhooksRefuseWhatTheyMust: an unknown Meituan event and a platform that is off answer 404; a
// forged push is refused in the platform's own format and changes nothing; the URL check is answered.
func TestWebhooksRefuseWhatTheyMust(t *testing.T) {
	h := newHub(t, dbtest.SQLite(t))
	off := httptest.NewServer(handlers.New(handlers.Deps{Service: core.New(domain.NewEnv(h.db, nil, nil), core.Options{}), DB: h.db, Log: slog.New(slog.DiscardHandler)}))
	defer off.Close()
	for _, path := range []string{"/webhooks/meituan/paid", "/webhooks/eleme", "/webhooks/jddj/djsw/newOrder"} {
		res, err := http.Post(off.URL+path, "application/x-www-form-urlencoded", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 404 {
			t.Errorf("%s on a hub with no platforms: %d, want 404", path, res.StatusCode)
		}
	}
	if status, _ := h.call(t, "POST", "/webhooks/meituan/nonsense", "", nil); status != 404 {
		t.Errorf("unknown Meituan event: %d, want 404", status)
	}
	if status, body := h.call(t, "GET", "/webhooks/meituan/paid", "", nil); status != 200 || body != `{"data":"ok"}` {
		t.Errorf("Meituan's URL check: %d %s", status, body)
	}
	form := url.Values{"app_id": {"mt-app"}, "timestamp": {"1700000000"}, "order_id": {"MT-FORGED"}, "app_poi_code": {shop},
		"detail": {`[{"app_food_code":"MILK-1L","quantity":1,"price":15.9}]`}, "sig": {"0123456789abcdef0123456789abcdef"}}
	status, body := h.call(t, "POST", "/webhooks/meituan/paid", form.Encode(), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status < 400 || status >= 500 || !strings.Contains(body, `"ng"`) {
		t.Errorf("forged Meituan push: %d %s, want a 4xx in Meituan's format", status, body)
	}
	status, body = h.call(t, "POST", "/webhooks/eleme", "cmd=order.create&body=%7B%7D&sign=BAD", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if status < 400 || status >= 500 || !strings.Contains(body, "errno") {
		t.Errorf("forged Ele.me push: %d %s, want a 4xx envelope", status, body)
	}
	var n int64
	h.db.Conn(h.ctx).Model(&models.Order{}).Count(&n)
	if n != 0 || h.stock(t).OnHand != 10 {
		t.Fatalf("forged pushes changed something: %d orders, stock %+v", n, h.stock(t))
	}
}
