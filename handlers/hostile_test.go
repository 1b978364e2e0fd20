package handlers

// The hostile-input suite: requests with a NUL, bytes that are not UTF-8, lone surrogate escapes, control
// and bidirectional override characters in every kind of outside text (JSON fields, path and query
// parameters, console forms), sent to a real hub on SQLite and PostgreSQL. Each is refused with 400,
// a message naming the field, and nothing stored.

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/models"
)

// hostileCase is one hostile request and the name its error must give.
type hostileCase struct {
	name         string
	method, path string
	// who sends it: "" (nobody), "shopper", "clerk" or "admin".
	who  string
	body string // sent as is when not empty
	// field is the quoted name the message must hold: a JSON path, or a path or query parameter.
	field string
}

// hostileTables are the tables whose rows no refused request may change.
var hostileTables = []string{"stores", "products", "stocks", "stock_movements", "members", "identities", "orders", "order_items",
	"payment_attempts", "payments", "refunds", "events", "staff", "qr_codes", "trace_batches", "trace_steps", "market_shops",
	"market_skus", "pickup_attempts"}

// hostileSnapshot is every row of hostileTables, as JSON.
func hostileSnapshot(t *testing.T, db *models.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, table := range hostileTables {
		var rows []map[string]any
		if err := db.Conn(context.Background()).Table(table).Order("1").Find(&rows).Error; err != nil {
			t.Fatalf("snapshot of %s: %v", table, err)
		}
		b, _ := json.Marshal(rows)
		out[table] = string(b)
	}
	return out
}

func TestHostileText(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		clerk := e.staff(t, "clerk1")
		unpaid := e.createOrder(t, e.shopper, hubPickup("S01", "BUN", 1)).OrderNo
		paid := e.paidOrder(t, hubPickup("S01", "TEA", 1)).OrderNo
		hubDecode[map[string]any](t, e.put(t, "/api/v1/admin/trace/batches/B1", hubAdminAuth,
			map[string]any{"sku": "TEA", "steps": []map[string]any{{"step": "production", "date": "2024-05-01", "place": "杭州"}}}), http.StatusOK)

		// A NUL as a JSON escape, a raw byte that is not UTF-8, a lone surrogate escape, a control
		// character and a right-to-left override.
		const nul, bad, lone, esc, rlo = `\u0000`, "\xff", `\ud800`, `\u001b`, `\u202e`
		cases := []hostileCase{
			// Signing in, without a session.
			{"sandbox user NUL", "POST", "/api/v1/auth/sandbox", "", `{"user":"` + nul + `"}`, `"user"`},
			{"sandbox user not UTF-8", "POST", "/api/v1/auth/sandbox", "", `{"user":"al` + bad + `ice"}`, `"user"`},
			{"sandbox user lone surrogate", "POST", "/api/v1/auth/sandbox", "", `{"user":"` + lone + `"}`, `"user"`},
			{"sandbox user RLO", "POST", "/api/v1/auth/sandbox", "", `{"user":"eve` + rlo + `"}`, `"user"`},
			{"store login username NUL", "POST", "/api/v1/store/login", "", `{"username":"clerk1` + nul + `","password":"x"}`, `"username"`},
			{"store login username not UTF-8", "POST", "/api/v1/store/login", "", `{"username":"` + bad + `","password":"x"}`, `"username"`},
			{"store login password NUL", "POST", "/api/v1/store/login", "", `{"username":"clerk1","password":"` + nul + `"}`, `"password"`},
			{"store login password not UTF-8", "POST", "/api/v1/store/login", "", `{"username":"clerk1","password":"` + bad + `"}`, `"password"`},
			// Public reads.
			{"store products %00", "GET", "/api/v1/stores/%00/products", "", "", `"code"`},
			{"store products not UTF-8", "GET", "/api/v1/stores/S0%FF/products", "", "", `"code"`},
			{"store products control", "GET", "/api/v1/stores/S01%1B/products", "", "", `"code"`},
			{"scan %00", "GET", "/api/v1/scan/AB%00CD", "", "", `"code"`},
			{"landing %00", "GET", "/q/AB%00CD", "", "", `"code"`},
			{"stores query NUL", "GET", "/api/v1/stores?lat=1%00", "", "", `"lat"`},
			// A shopper's orders.
			{"order %00", "GET", "/api/v1/orders/12%003", "shopper", "", `"no"`},
			{"cancel %00", "POST", "/api/v1/orders/%00/cancel", "shopper", "", `"no"`},
			{"pickup not UTF-8", "GET", "/api/v1/orders/" + unpaid + "%C3/pickup", "shopper", "", `"no"`},
			{"order sku NUL", "POST", "/api/v1/orders", "shopper", `{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA` + nul + `","qty":1}]}`, `"items[0].sku"`},
			{"order sku not UTF-8", "POST", "/api/v1/orders", "shopper", `{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA","qty":1},{"sku":"B` + bad + `N","qty":1}]}`, `"items[1].sku"`},
			{"order store NUL", "POST", "/api/v1/orders", "shopper", `{"store":"S01` + nul + `","fulfillment":"pickup","items":[{"sku":"TEA","qty":1}]}`, `"store"`},
			{"order address NUL", "POST", "/api/v1/orders", "shopper", `{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道` + nul + `200号","lat":31.2304,"lng":121.4737}}`, `"address.text"`},
			{"order address RLO", "POST", "/api/v1/orders", "shopper", `{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道` + rlo + `200号","lat":31.2304,"lng":121.4737}}`, `"address.text"`},
			{"order address newline", "POST", "/api/v1/orders", "shopper", `{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"人民大道\n200号","lat":31.2304,"lng":121.4737}}`, `"address.text"`},
			{"order address lone surrogate", "POST", "/api/v1/orders", "shopper", `{"fulfillment":"delivery","items":[{"sku":"TEA","qty":1}],"address":{"text":"` + lone + `","lat":31.2304,"lng":121.4737}}`, `"address.text"`},
			{"order scan NUL", "POST", "/api/v1/orders", "shopper", `{"store":"S01","fulfillment":"pickup","items":[{"sku":"TEA","qty":1}],"scan":"` + nul + `"}`, `"scan"`},
			{"order fulfillment control", "POST", "/api/v1/orders", "shopper", `{"store":"S01","fulfillment":"pickup` + esc + `","items":[{"sku":"TEA","qty":1}]}`, `"fulfillment"`},
			{"pay provider NUL", "POST", "/api/v1/orders/" + unpaid + "/pay", "shopper", `{"provider":"sandbox` + nul + `"}`, `"provider"`},
			{"phone NUL", "POST", "/api/v1/me/phone/sandbox", "shopper", `{"phone":"1380000` + nul + `0000"}`, `"phone"`},
			// The admin API.
			{"store name NUL", "PUT", "/api/v1/admin/stores/S01", "admin", `{"name":"人民广场` + nul + `店","address":"x","lat":31.2,"lng":121.4,"status":"open"}`, `"name"`},
			{"store name RLO", "PUT", "/api/v1/admin/stores/S01", "admin", `{"name":"人民广场` + rlo + `店","address":"x","lat":31.2,"lng":121.4,"status":"open"}`, `"name"`},
			{"store name not UTF-8", "PUT", "/api/v1/admin/stores/S01", "admin", `{"name":"` + bad + `","address":"x","lat":31.2,"lng":121.4,"status":"open"}`, `"name"`},
			{"store address isolate", "PUT", "/api/v1/admin/stores/S01", "admin", `{"name":"S01","address":"人民大道\u2066200号","lat":31.2,"lng":121.4,"status":"open"}`, `"address"`},
			{"store address tab", "PUT", "/api/v1/admin/stores/S01", "admin", `{"name":"S01","address":"人民大道\t200号","lat":31.2,"lng":121.4,"status":"open"}`, `"address"`},
			{"store code %00", "PUT", "/api/v1/admin/stores/S%0001", "admin", `{"name":"S","address":"x","lat":31.2,"lng":121.4,"status":"open"}`, `"code"`},
			{"product name NUL", "PUT", "/api/v1/admin/products/TEA", "admin", `{"name":"茶` + nul + `","price_fen":100}`, `"name"`},
			{"product name RLO", "PUT", "/api/v1/admin/products/TEA", "admin", `{"name":"茶` + rlo + `","price_fen":100}`, `"name"`},
			{"product name not UTF-8", "PUT", "/api/v1/admin/products/TEA", "admin", `{"name":"茶` + bad + `","price_fen":100}`, `"name"`},
			{"product sku %00", "PUT", "/api/v1/admin/products/T%00EA", "admin", `{"name":"茶","price_fen":100}`, `"sku"`},
			{"stock sku %00", "PUT", "/api/v1/admin/stores/S01/stock/TEA%00", "admin", `{"on_hand":5}`, `"sku"`},
			{"qrcode store NUL", "POST", "/api/v1/admin/qrcodes", "admin", `{"kind":"store","store":"S01` + nul + `"}`, `"store"`},
			{"qrcode campaign RLO", "POST", "/api/v1/admin/qrcodes", "admin", `{"kind":"campaign","campaign":"spring` + rlo + `"}`, `"campaign"`},
			{"qrcode kind not UTF-8", "POST", "/api/v1/admin/qrcodes", "admin", `{"kind":"st` + bad + `ore","store":"S01"}`, `"kind"`},
			{"qrcode %00", "GET", "/api/v1/admin/qrcodes/AB%00", "admin", "", `"code"`},
			{"qrcodes store query", "GET", "/api/v1/admin/qrcodes?store=S01%00", "admin", "", `"store"`},
			{"trace batch %00", "PUT", "/api/v1/admin/trace/batches/B%001", "admin", `{"sku":"TEA","steps":[]}`, `"no"`},
			{"trace place NUL", "PUT", "/api/v1/admin/trace/batches/B1", "admin", `{"sku":"TEA","steps":[{"step":"production","date":"2024-05-01","place":"杭州` + nul + `"}]}`, `"steps[0].place"`},
			{"trace document RLO", "PUT", "/api/v1/admin/trace/batches/B1", "admin", `{"sku":"TEA","steps":[{"step":"production","date":"2024-05-01","place":"杭州","document":"CIQ` + rlo + `"}]}`, `"steps[0].document"`},
			{"trace sku not UTF-8", "PUT", "/api/v1/admin/trace/batches/B1", "admin", `{"sku":"TE` + bad + `","steps":[]}`, `"sku"`},
			{"trace codes store NUL", "POST", "/api/v1/admin/trace/batches/B1/codes", "admin", `{"count":1,"store":"` + nul + `"}`, `"store"`},
			{"scan report store", "GET", "/api/v1/admin/reports/scans?store=%00", "admin", "", `"store"`},
			{"refund reason NUL", "POST", "/api/v1/admin/orders/" + paid + "/refund", "admin", `{"amount_fen":1,"reason":"` + nul + `"}`, `"reason"`},
			{"admin accept %00", "POST", "/api/v1/admin/orders/%00/accept", "admin", "", `"no"`},
			{"staff password NUL", "PUT", "/api/v1/admin/staff/dora", "admin", `{"password":"correct horse` + nul + `","role":"clerk","store":"S01"}`, `"password"`},
			{"staff store not UTF-8", "PUT", "/api/v1/admin/staff/dora", "admin", `{"password":"correct horse battery","role":"clerk","store":"S0` + bad + `"}`, `"store"`},
			{"staff username %00", "PUT", "/api/v1/admin/staff/do%00ra", "admin", `{"password":"correct horse battery","role":"clerk","store":"S01"}`, `"username"`},
			{"market shop %00", "PUT", "/api/v1/admin/marketplaces/meituan/shops/p%00", "admin", `{"store":"S01","ratio":"1"}`, `"shop"`},
			{"market shop store NUL", "PUT", "/api/v1/admin/marketplaces/meituan/shops/p1", "admin", `{"store":"S01` + nul + `","ratio":"1"}`, `"store"`},
			{"market sku NUL", "PUT", "/api/v1/admin/marketplaces/meituan/skus/c1", "admin", `{"sku":"TEA` + nul + `"}`, `"sku"`},
			{"market shops query", "GET", "/api/v1/admin/marketplaces/shops?store=%FF", "admin", "", `"store"`},
			// The store API.
			{"reject reason NUL", "POST", "/api/v1/store/orders/" + paid + "/reject", "clerk", `{"reason":"缺货` + nul + `"}`, `"reason"`},
			{"reject reason RLO", "POST", "/api/v1/store/orders/" + paid + "/reject", "clerk", `{"reason":"缺货` + rlo + `"}`, `"reason"`},
			{"dispatch courier NUL", "POST", "/api/v1/store/orders/" + paid + "/dispatch", "clerk", `{"courier":"王` + nul + `","phone":"13800000000"}`, `"courier"`},
			{"dispatch tracking RLO", "POST", "/api/v1/store/orders/" + paid + "/dispatch", "clerk", `{"courier":"王","tracking_no":"SF` + rlo + `1"}`, `"tracking_no"`},
			{"return sku NUL", "POST", "/api/v1/store/orders/" + paid + "/return", "clerk", `{"items":[{"sku":"TEA` + nul + `","qty":1}],"reason":"坏了"}`, `"items[0].sku"`},
			{"pickup code NUL", "POST", "/api/v1/store/pickup/verify", "clerk", `{"code":"1234` + nul + `5678"}`, `"code"`},
			{"pickup store not UTF-8", "POST", "/api/v1/store/pickup/confirm", "clerk", `{"code":"12345678","store":"` + bad + `"}`, `"store"`},
			{"store accept %00", "POST", "/api/v1/store/orders/" + paid + "%00/accept", "clerk", "", `"no"`},
			{"store orders query", "GET", "/api/v1/store/orders?status=paid%00", "clerk", "", `"status"`},
			{"store today query", "GET", "/api/v1/store/today?store=%1B", "clerk", "", `"store"`},
			// A member name in the body itself.
			{"member name NUL", "POST", "/api/v1/auth/sandbox", "", `{"us` + nul + `er":"bob"}`, `"us\x00er"`},
		}
		auth := map[string]string{"": "", "shopper": e.shopper, "clerk": clerk, "admin": hubAdminAuth}
		before := hostileSnapshot(t, db)
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := hubReq{method: c.method, path: c.path, auth: auth[c.who]}
				if c.body != "" {
					r.body = c.body
				}
				msg := hubWantError(t, e.do(t, r), http.StatusBadRequest, "invalid_argument")
				if !strings.Contains(msg, c.field) {
					t.Errorf("message %q does not name %s", msg, c.field)
				}
			})
		}
		after := hostileSnapshot(t, db)
		for _, table := range hostileTables {
			if before[table] != after[table] {
				t.Errorf("refused requests changed %s:\nbefore %s\nafter  %s", table, before[table], after[table])
			}
		}
	})
}

// TestHostileConsoleForms sends the console's forms and pages hostile text: the sign-in form, an order
// step and a page's path and query.
func TestHostileConsoleForms(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		paid := e.paidOrder(t, hubPickup("S01", "TEA", 1)).OrderNo
		before := hostileSnapshot(t, db)

		anon := e.browser(t)
		anon.get("/console/login")
		wantPage(t, anon.post("/console/login", url.Values{"username": {"clerk1\x00"}, "password": {stPassword}}), http.StatusBadRequest, "「username」")
		wantPage(t, anon.post("/console/login", url.Values{"username": {"clerk1"}, "password": {stPassword + "\xff"}}), http.StatusBadRequest, "「password」")

		b := e.signedIn(t, "clerk1")
		b.get("/console/orders/" + paid)
		wantPage(t, b.post("/console/orders/"+paid+"/reject", url.Values{"reason": {"缺货\u202e"}}), http.StatusBadRequest, "「reason」")
		wantPage(t, b.post("/console/orders/"+paid+"/dispatch", url.Values{"courier": {"王\x00"}}), http.StatusBadRequest, "「courier」")
		wantPage(t, b.post("/console/pickup/verify", url.Values{"code": {"1234\x005678"}}), http.StatusBadRequest, "「code」")
		wantPage(t, b.get("/console/orders/"+paid+"%00"), http.StatusBadRequest, "「no」")
		wantPage(t, b.get("/console/?store=%00"), http.StatusBadRequest, "「store」")

		after := hostileSnapshot(t, db)
		for _, table := range hostileTables {
			if before[table] != after[table] {
				t.Errorf("refused forms changed %s:\nbefore %s\nafter  %s", table, before[table], after[table])
			}
		}
	})
}
