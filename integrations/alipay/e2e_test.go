package alipay_test

// End-to-end tests of the Alipay channel: the real gin engine, core, a real database (SQLite, and
// PostgreSQL when O2OHUB_TEST_POSTGRES is set) and the real smartwalle SDK, talking over loopback HTTP to
// the Alipay fake, which speaks Alipay's wire format with its own keys. The SDK keeps no process-wide
// state, so every hub has its own fake.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/alipay/alipayfake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

const (
	testAppID = "2021004100000042"
)

// keys are the deployment's keys (app, Alipay, root CA and certificates, AES key), generated once per
// test binary: RSA key generation is slow, the more so with -race.
var keys alipayfake.Keys

func TestMain(m *testing.M) {
	var err error
	if keys, err = alipayfake.GenerateKeys(); err != nil {
		panic(err)
	}
	os.Exit(m.Run())
}

// modes are Alipay's two ways of verifying signatures; the fake and the hub are configured alike.
var modes = []alipayfake.Mode{alipayfake.PublicKeyMode, alipayfake.CertMode}

// What the gateway in front of the fake does with the hub's calls.
const (
	gateUp         int32 = iota // passes them to the fake
	gateDown                    // drops the connection before the fake sees the call (Alipay unreachable)
	gateLoseAnswer              // lets the fake handle the call, then drops the connection (the answer is lost)
)

// gate stands between the hub and the fake: it can make Alipay unreachable, or lose its answers.
type gate struct {
	next http.Handler
	mode atomic.Int32
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch g.mode.Load() {
	case gateDown:
		hangUp(w)
	case gateLoseAnswer:
		g.next.ServeHTTP(httptest.NewRecorder(), r)
		hangUp(w)
	default:
		g.next.ServeHTTP(w, r)
	}
}

func hangUp(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

// dropper is the transport the fake posts its notifications with; it loses them while drop is set.
type dropper struct{ drop atomic.Bool }

func (d *dropper) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.drop.Load() {
		if r.Body != nil {
			r.Body.Close()
		}
		return nil, errors.New("notification lost on its way")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// hub is one running hub (internal/hubtest) wired to an Alipay fake of its own.
type hub struct {
	*hubtest.Hub
	client *alipay.Client
	fake   *alipayfake.Fake
	gate   *gate
	notes  *dropper
	users  atomic.Int64
}

func newHub(t testing.TB, db *models.DB, mode alipayfake.Mode) *hub {
	t.Helper()
	h := &hub{notes: &dropper{}}
	h.Hub = hubtest.New(t, db, hubtest.WithDeps(func(hh *hubtest.Hub, d *handlers.Deps) {
		h.fake = alipayfake.New(alipayfake.Options{AppID: testAppID, Keys: keys, Mode: mode, Client: &http.Client{Transport: h.notes, Timeout: 10 * time.Second}})
		h.gate = &gate{next: h.fake}
		gw := httptest.NewServer(h.gate)
		// Cleanups run last-registered first: the fake stops posting before its gateway closes, and
		// both before the hub's server (registered by hubtest before this hook runs).
		t.Cleanup(gw.Close)
		t.Cleanup(h.fake.Close)
		cfg := alipay.Config{AppID: testAppID, PrivateKey: keys.AppPrivateKeyPEM(), AESKey: keys.AESKey, SellerID: h.fake.SellerID(),
			Gateway: gw.URL + alipayfake.GatewayPath}
		if mode == alipayfake.CertMode {
			cfg.AppCert, cfg.RootCert, cfg.AlipayCert = keys.AppCertPEM(), keys.RootCertPEM(), keys.AlipayCertPEM()
		} else {
			cfg.AlipayPublicKey = keys.AlipayPublicKeyPEM()
		}
		client, err := alipay.New(cfg, hh.Log)
		if err != nil {
			t.Fatal(err)
		}
		h.client = client
		hh.Service.RegisterGateway(client)
		d.Alipay = client
	}))
	h.Stock(hubtest.S01, hubtest.Milk, 100)
	return h
}

// newUserID returns a fresh Alipay user id (2088 and 12 digits).
func (h *hub) newUserID() string { return fmt.Sprintf("2088%012d", 100000+h.users.Add(1)) }

// login signs a new Alipay user in (user_id mode) and returns their token and user id.
func (h *hub) login() (string, string) {
	h.T.Helper()
	uid := h.newUserID()
	var out member.Login
	h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": h.fake.IssueAuthCode(uid, "")}).Expect(200).JSON(&out)
	return out.Token, uid
}

// place places a pickup order of qty units of sku.
func (h *hub) place(token, sku string, qty int) core.OrderView {
	h.T.Helper()
	var o core.OrderView
	h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": sku, "qty": qty}}}).Expect(201).JSON(&o)
	return o
}

// pay starts the Alipay payment of an order.
func (h *hub) pay(token, orderNo string) core.PayView {
	h.T.Helper()
	var pv core.PayView
	h.Call("POST", "/api/v1/orders/"+orderNo+"/pay", token, map[string]string{"provider": "alipay"}).Expect(200).JSON(&pv)
	return pv
}

// order places a pickup order of qty MILK and starts its Alipay payment.
func (h *hub) order(token string, qty int) (core.OrderView, core.PayView) {
	h.T.Helper()
	o := h.place(token, "MILK", qty)
	return o, h.pay(token, o.OrderNo)
}

func (h *hub) refund(orderNo string, body map[string]any) core.RefundView {
	h.T.Helper()
	var r core.RefundView
	h.Call("POST", "/api/v1/admin/orders/"+orderNo+"/refund", hubtest.AdminToken, body).Expect(200).JSON(&r)
	return r
}

func (h *hub) stock() catalog.StockView {
	h.T.Helper()
	return hubtest.Must(h.Service.Catalog.Stock(context.Background(), "S01", "MILK"))
}

func (h *hub) trade(orderNo string) alipayfake.Trade {
	h.T.Helper()
	tr, ok := h.fake.Trade(orderNo)
	if !ok {
		h.T.Fatalf("Alipay has no trade for order %s", orderNo)
	}
	return tr
}

// acked counts the notifications of a trade the hub acknowledged with "success".
func (h *hub) acked(orderNo string) int {
	n := 0
	for _, d := range h.trade(orderNo).Deliveries {
		if d.Acked {
			n++
		}
	}
	return n
}

// post sends a raw form body to the hub's Alipay webhook, with query appended to its URL.
func (h *hub) post(query, body string) httpx.Response {
	h.T.Helper()
	path := "/webhooks/alipay"
	if query != "" {
		path += "?" + query
	}
	return h.Send(httpx.Request{Method: "POST", Path: path, Body: body, ContentType: "application/x-www-form-urlencoded; charset=utf-8"})
}

// notify posts a form as Alipay does and returns the hub's reply.
func (h *hub) notify(form url.Values) httpx.Response {
	h.T.Helper()
	return h.post("", form.Encode())
}

// expectReply checks the webhook's status and that the body is exactly "success" or "fail".
func (h *hub) expectReply(what string, r httpx.Response, status int) {
	h.T.Helper()
	want := "fail"
	if status == http.StatusOK {
		want = "success"
	}
	if r.Status != status || string(r.Body) != want {
		h.T.Fatalf("%s: got %d %q, want %d %q", what, r.Status, r.Body, status, want)
	}
}

// signed builds a trade_status_sync notification for an order from scratch and signs it with Alipay's
// key: what Alipay could have sent, with whatever content the test needs.
func (h *hub) signed(orderNo, tradeNo, status, amount string, extra map[string]string) url.Values {
	h.T.Helper()
	now := time.Now().In(cn.Zone).Format("2006-01-02 15:04:05")
	v := url.Values{"notify_time": {now}, "notify_type": {"trade_status_sync"}, "notify_id": {fmt.Sprintf("n%d", time.Now().UnixNano())},
		"app_id": {testAppID}, "charset": {"utf-8"}, "version": {"1.0"}, "trade_no": {tradeNo}, "out_trade_no": {orderNo},
		"trade_status": {status}, "total_amount": {amount}, "receipt_amount": {amount}, "buyer_pay_amount": {amount},
		"gmt_create": {now}, "gmt_payment": {now}, "subject": {"光明鲜牛奶 950ml"}, "buyer_id": {"2088000000000001"}, "seller_id": {h.fake.SellerID()}}
	for k, val := range extra {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return hubtest.Must(h.fake.SignForm(v))
}

// flip changes one character of s (at index i) into another valid base64 character.
func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func each(t *testing.T, fn func(t testing.TB, db *models.DB)) { dbtest.Each(t, fn) }

// eachMode runs fn in both key modes, on every database.
func eachMode(t *testing.T, fn func(t testing.TB, h *hub)) {
	for _, mode := range modes {
		t.Run(mode.String(), func(t *testing.T) {
			each(t, func(t testing.TB, db *models.DB) { fn(t, newHub(t, db, mode)) })
		})
	}
}

func TestLoginAndPhone(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		// A made-up or used code is a 401 naming Alipay's sub-code, not a 500.
		r := h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": "not-a-code"}).Expect(401)
		if !strings.Contains(string(r.Body), "isv.code-invalid") {
			t.Fatalf("invalid code answer %s does not name isv.code-invalid", r.Body)
		}
		uid := h.newUserID()
		code := h.fake.IssueAuthCode(uid, "")
		var first member.Login
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": code}).Expect(200).JSON(&first)
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": code}).Expect(401)
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": ""}).Expect(400)
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": strings.Repeat("c", 129)}).Expect(400)
		h.Call("POST", "/api/v1/auth/alipay", "", "{").Expect(400)
		// The same Alipay user signing in again is the same member.
		var again member.Login
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": h.fake.IssueAuthCode(uid, "")}).Expect(200).JSON(&again)
		if again.Member.ID != first.Member.ID || again.Token == first.Token {
			t.Fatalf("second sign-in of %s: member %d (first %d)", uid, again.Member.ID, first.Member.ID)
		}
		// An app in open-id mode gets an app-scoped open_id; it is an identity of its own.
		openID := "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"
		var open member.Login
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": h.fake.IssueAuthCode("", openID)}).Expect(200).JSON(&open)
		if open.Member.ID == first.Member.ID {
			t.Fatal("an open_id sign-in landed on a user_id member")
		}

		// A tampered phone response (one character of the ciphertext, or of the signature) is refused
		// and binds nothing.
		a, _ := h.login()
		b, _ := h.login()
		phone := "13912345678"
		genuine := hubtest.Must(h.fake.EncryptedPhoneResponse(phone))
		var env struct{ Response, Sign string }
		if err := json.Unmarshal([]byte(genuine), &env); err != nil {
			t.Fatal(err)
		}
		tampered := func(response, sign string) string {
			b, _ := json.Marshal(map[string]string{"response": response, "sign": sign})
			return string(b)
		}
		for _, c := range []struct {
			name, response string
			status         int
		}{
			{"one character of the ciphertext changed", tampered(flip(env.Response, 5), env.Sign), 401},
			{"one character of the signature changed", tampered(env.Response, flip(env.Sign, 10)), 401},
			{"ciphertext and signature swapped", tampered(env.Sign, env.Response), 401},
			{"unsigned", tampered(env.Response, ""), 400},
			{"a bare phone number", phone, 400},
		} {
			if r := h.Call("POST", "/api/v1/me/phone/alipay", a, map[string]string{"response": c.response}); r.Status != c.status {
				t.Fatalf("%s: got %d %s, want %d", c.name, r.Status, r.Body, c.status)
			}
		}
		var me member.View
		h.Call("GET", "/api/v1/me", a, nil).Expect(200).JSON(&me)
		if me.Phone != "" || h.Count("members", "phone IS NOT NULL") != 0 {
			t.Fatalf("a tampered response bound phone %q", me.Phone)
		}

		// Two shoppers bind the same verified phone: the second is merged into the first.
		var ma, mb member.View
		h.Call("POST", "/api/v1/me/phone/alipay", a, map[string]string{"response": genuine}).Expect(200).JSON(&ma)
		if ma.Phone != "139****5678" {
			t.Fatalf("bound phone shows as %q, want it masked", ma.Phone)
		}
		h.Call("POST", "/api/v1/me/phone/alipay", b, map[string]string{"response": hubtest.Must(h.fake.EncryptedPhoneResponse(phone))}).Expect(200).JSON(&mb)
		if mb.ID != ma.ID {
			t.Fatalf("second member %d was not merged into %d", mb.ID, ma.ID)
		}
		if n := h.Count("member_merges", "into_id = ?", ma.ID); n != 1 {
			t.Fatalf("%d merges recorded, want 1", n)
		}
	})
}

func TestPayNotifyRefund(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		ctx := context.Background()
		token, uid := h.login()
		ord, pv := h.order(token, 2)
		tr := h.trade(ord.OrderNo)
		if pv.Params["tradeNO"] != tr.TradeNo || tr.TradeNo == "" {
			t.Fatalf("my.tradePay gets tradeNO %v, Alipay's trade is %q", pv.Params["tradeNO"], tr.TradeNo)
		}
		if tr.TotalAmount != "37.00" || tr.BuyerID != uid || tr.ProductCode != "JSAPI_PAY" || tr.NotifyURL != h.URL+"/webhooks/alipay" ||
			tr.Status != alipayfake.StatusWaitBuyerPay || tr.SellerID != h.fake.SellerID() {
			t.Fatalf("Alipay has trade %+v", tr)
		}
		// Paying again returns the same trade, never a second payable one.
		if again := h.pay(token, ord.OrderNo); again.Params["tradeNO"] != pv.Params["tradeNO"] {
			t.Fatalf("second pay gave %v, first %v", again.Params["tradeNO"], pv.Params["tradeNO"])
		}
		if err := h.fake.Pay(ctx, ord.OrderNo); err != nil {
			t.Fatal(err)
		}
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusPaid {
			t.Fatalf("after the notification the order is %s", st)
		}
		if n := h.Count("payments", "order_no = ? AND provider = ? AND provider_txn = ? AND amount_fen = ? AND result = ?", ord.OrderNo, "alipay", tr.TradeNo, 3700, "applied"); n != 1 {
			t.Fatalf("%d applied payments of trade %s", n, tr.TradeNo)
		}
		if st := h.stock(); st.OnHand != 98 || st.Reserved != 0 {
			t.Fatalf("stock after paying 2: %+v", st)
		}

		// A partial refund, then the rest: alipay.trade.refund is synchronous (fund_change Y).
		r1 := h.refund(ord.OrderNo, map[string]any{"amount_fen": 1000, "reason": "少一瓶"})
		if r1.Status != "succeeded" || r1.OrderStatus != core.StatusPaid || r1.ProviderRefundID != tr.TradeNo {
			t.Fatalf("partial refund %+v", r1)
		}
		h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{"amount_fen": ord.TotalFen}).Expect(400)
		r2 := h.refund(ord.OrderNo, map[string]any{})
		if r2.Status != "succeeded" || r2.AmountFen != ord.TotalFen-1000 || r2.RefundNo == r1.RefundNo || r2.OrderStatus != core.StatusRefunded {
			t.Fatalf("full refund %+v after partial %+v", r2, r1)
		}
		// Each refund's trade_status_sync (out_biz_no = our refund number) is acknowledged and changes nothing more.
		h.WaitFor("the refund notifications", func() bool { return h.acked(ord.OrderNo) == 3 })
		tr = h.trade(ord.OrderNo)
		if tr.Status != alipayfake.StatusClosed || tr.RefundedFen != ord.TotalFen || len(tr.Refunds) != 2 ||
			tr.Refunds[0].OutRequestNo != r1.RefundNo || tr.Refunds[0].Amount != "10.00" || tr.Refunds[1].OutRequestNo != r2.RefundNo || tr.Refunds[1].Amount != "27.00" {
			t.Fatalf("Alipay has trade %+v", tr)
		}
		if n := h.Count("events", "topic = ? AND key = ?", "refund.succeeded", ord.OrderNo); n != 2 {
			t.Fatalf("%d refund.succeeded events, want 2", n)
		}
		if n := h.Count("refunds", "status = ?", "succeeded"); n != 2 {
			t.Fatalf("%d refunds succeeded, want 2", n)
		}
		// Replayed: the last refund's notification, and a TRADE_FINISHED for the refunded trade.
		last := hubtest.Must(h.fake.Notification(ord.OrderNo, nil))
		if last.Get("out_biz_no") != r2.RefundNo || last.Get("refund_fee") != "37.00" || last.Get("trade_status") != alipayfake.StatusClosed {
			t.Fatalf("the refund notification carries out_biz_no %q, refund_fee %q, trade_status %q", last.Get("out_biz_no"), last.Get("refund_fee"), last.Get("trade_status"))
		}
		h.expectReply("replayed refund notification", h.notify(last), 200)
		finished := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"trade_status": "TRADE_FINISHED", "out_biz_no": "", "refund_fee": "", "gmt_refund": ""}))
		h.expectReply("TRADE_FINISHED after the refund", h.notify(finished), 200)
		if n := h.Count("events", "topic = ? AND key = ?", "refund.succeeded", ord.OrderNo); n != 2 {
			t.Fatalf("%d refund.succeeded events after replays, want 2", n)
		}
		if st, n := h.OrderStatus(ord.OrderNo), h.Count("payments", "1 = 1"); st != core.StatusRefunded || n != 1 {
			t.Fatalf("after the replays the order is %s with %d payments", st, n)
		}
		if st := h.stock(); st.OnHand != 100 || st.Reserved != 0 {
			t.Fatalf("after the full refund of goods never handed over the stock is %+v, want 100 on hand", st)
		}

		// A shopper of an app in open-id mode pays with buyer_open_id.
		var open member.Login
		h.Call("POST", "/api/v1/auth/alipay", "", map[string]string{"code": h.fake.IssueAuthCode("", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")}).Expect(200).JSON(&open)
		o2, _ := h.order(open.Token, 1)
		if tr := h.trade(o2.OrderNo); tr.BuyerOpenID != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || tr.BuyerID != "" {
			t.Fatalf("open-id shopper's trade %+v", tr)
		}
		if err := h.fake.Pay(ctx, o2.OrderNo); err != nil || h.OrderStatus(o2.OrderNo) != core.StatusPaid {
			t.Fatalf("open-id shopper's payment: %v, order %s", err, h.OrderStatus(o2.OrderNo))
		}
	})
}

// TestAmountExtremes pays orders of exactly 1 fen and of 99999999 fen (the largest amount below core's
// MaxPriceFen of one million yuan, as a single unit): they reach Alipay as "0.01" and "999999.99", and
// the notifications and refunds bring back the same fen.
func TestAmountExtremes(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		ctx := context.Background()
		hubtest.Must(h.Service.Catalog.PutProduct(ctx, catalog.ProductInput{SKU: "PENNY", Name: "一分钱", PriceFen: 1}))
		hubtest.Must(h.Service.Catalog.PutProduct(ctx, catalog.ProductInput{SKU: "GOLD", Name: "金条", PriceFen: 99999999}))
		hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "PENNY", 5, "test"))
		hubtest.Must(h.Service.Catalog.SetStock(ctx, "S01", "GOLD", 5, "test"))
		token, _ := h.login()
		for _, c := range []struct {
			sku, yuan string
			fen       int64
		}{{"PENNY", "0.01", 1}, {"GOLD", "999999.99", 99999999}} {
			ord := h.place(token, c.sku, 1)
			if ord.TotalFen != c.fen {
				t.Fatalf("%s order totals %d fen", c.sku, ord.TotalFen)
			}
			h.pay(token, ord.OrderNo)
			if tr := h.trade(ord.OrderNo); tr.TotalAmount != c.yuan || tr.TotalFen != c.fen {
				t.Fatalf("%s reached Alipay as %q (%d fen), want %q", c.sku, tr.TotalAmount, tr.TotalFen, c.yuan)
			}
			if note := hubtest.Must(h.fake.Notification(ord.OrderNo, nil)); note.Get("total_amount") != c.yuan {
				t.Fatalf("notification carries total_amount %q", note.Get("total_amount"))
			}
			if err := h.fake.Pay(ctx, ord.OrderNo); err != nil {
				t.Fatal(err)
			}
			if n := h.Count("payments", "order_no = ? AND amount_fen = ? AND result = ?", ord.OrderNo, c.fen, "applied"); n != 1 || h.OrderStatus(ord.OrderNo) != core.StatusPaid {
				t.Fatalf("%s: %d payments of %d fen applied, order %s", c.sku, n, c.fen, h.OrderStatus(ord.OrderNo))
			}
			if c.fen > 1 { // one fen back, then the rest
				h.refund(ord.OrderNo, map[string]any{"amount_fen": 1})
			}
			r := h.refund(ord.OrderNo, map[string]any{})
			if r.Status != "succeeded" || r.OrderStatus != core.StatusRefunded {
				t.Fatalf("%s refund %+v", c.sku, r)
			}
			tr := h.trade(ord.OrderNo)
			if tr.RefundedFen != c.fen || tr.Refunds[0].Amount != "0.01" || (c.fen > 1 && tr.Refunds[1].Amount != "999999.98") {
				t.Fatalf("%s refunds at Alipay: %+v", c.sku, tr.Refunds)
			}
		}
	})
}

func TestReconcilerQueriesAndCloses(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		ctx := context.Background()
		token, _ := h.login()
		lost, _ := h.order(token, 1)
		unpaid, _ := h.order(token, 1)
		// The shopper pays but Alipay's notification never arrives.
		if err := h.fake.PayQuietly(lost.OrderNo); err != nil {
			t.Fatal(err)
		}
		if n := hubtest.Must(h.Service.ReconcilePayments(ctx, 10)); n != 0 {
			t.Fatalf("reconciler checked %d attempts before their first check was due", n)
		}
		h.Clock.Add(2*time.Minute + time.Second) // past core's default PaymentCheckAfter
		if n := hubtest.Must(h.Service.ReconcilePayments(ctx, 10)); n != 2 {
			t.Fatalf("reconciler checked %d attempts, want 2", n)
		}
		if st := h.OrderStatus(lost.OrderNo); st != core.StatusPaid {
			t.Fatalf("the order paid without a notification is %s after alipay.trade.query", st)
		}
		if n := h.Count("payments", "order_no = ? AND provider_txn = ? AND amount_fen = ?", lost.OrderNo, h.trade(lost.OrderNo).TradeNo, lost.TotalFen); n != 1 {
			t.Fatalf("%d payments recorded from the query", n)
		}
		if st := h.OrderStatus(unpaid.OrderNo); st != core.StatusPendingPayment {
			t.Fatalf("the unpaid order is %s", st)
		}
		// The late notification changes nothing.
		h.expectReply("late notification", h.notify(hubtest.Must(h.fake.Notification(lost.OrderNo, nil))), 200)
		if n := h.Count("events", "topic = ? AND key = ?", "order.paid", lost.OrderNo); n != 1 {
			t.Fatalf("%d order.paid events, want 1", n)
		}
		// The unpaid one expires: its trade is closed, so the shopper can no longer pay it.
		h.Clock.Add(15 * time.Minute)
		if n := hubtest.Must(h.Service.ExpireDue(ctx, 10)); n != 1 {
			t.Fatalf("%d orders expired, want 1", n)
		}
		hubtest.Must(h.Service.ReconcilePayments(ctx, 10))
		if tr := h.trade(unpaid.OrderNo); tr.Status != alipayfake.StatusClosed {
			t.Fatalf("the expired order's trade is %s at Alipay, want TRADE_CLOSED", tr.Status)
		}
		if n := h.Count("payment_attempts", "status = ?", "open"); n != 0 {
			t.Fatalf("%d payment attempts still open", n)
		}
		if err := h.fake.Pay(ctx, unpaid.OrderNo); !errors.Is(err, alipayfake.ErrTradeState) {
			t.Fatalf("paying the closed trade: %v", err)
		}
		// Alipay's TRADE_CLOSED notification is acknowledged and changes nothing.
		h.WaitFor("the TRADE_CLOSED notification", func() bool { return h.acked(unpaid.OrderNo) == 1 })
		if st := h.OrderStatus(unpaid.OrderNo); st != core.StatusExpired {
			t.Fatalf("the expired order is %s", st)
		}
	})
}

// TestRefundRetries: a refund whose submission fails is retried by the refund worker; one whose answer
// was lost after Alipay made it is submitted again with the same out_request_no, which Alipay answers
// with fund_change N, and the money moves once.
func TestRefundRetries(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		ctx := context.Background()
		token, _ := h.login()
		ord := h.place(token, "MILK", 2)
		// Alipay unreachable at payment time: a 502 the shopper can retry.
		h.gate.mode.Store(gateDown)
		h.Call("POST", "/api/v1/orders/"+ord.OrderNo+"/pay", token, map[string]string{"provider": "alipay"}).Expect(502)
		h.gate.mode.Store(gateUp)
		h.pay(token, ord.OrderNo)
		if err := h.fake.Pay(ctx, ord.OrderNo); err != nil {
			t.Fatal(err)
		}

		// Alipay unreachable: the refund is recorded and waits for the worker.
		h.gate.mode.Store(gateDown)
		r1 := h.refund(ord.OrderNo, map[string]any{"amount_fen": 1000})
		h.gate.mode.Store(gateUp)
		if r1.Status != "requested" || r1.LastError == "" || len(h.trade(ord.OrderNo).Refunds) != 0 {
			t.Fatalf("refund while Alipay is unreachable: %+v", r1)
		}
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 0 {
			t.Fatalf("the worker retried %d refunds before the backoff", n)
		}
		h.Clock.Add(time.Minute)
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 1 {
			t.Fatalf("the worker retried %d refunds, want 1", n)
		}
		if n := h.Count("refunds", "refund_no = ? AND status = ?", r1.RefundNo, "succeeded"); n != 1 {
			t.Fatal("the retried refund did not succeed")
		}
		h.WaitFor("the refund notification", func() bool { return h.acked(ord.OrderNo) == 2 })

		// Alipay makes the refund but its answer, and its notification, are lost.
		h.notes.drop.Store(true)
		h.gate.mode.Store(gateLoseAnswer)
		r2 := h.refund(ord.OrderNo, map[string]any{})
		h.gate.mode.Store(gateUp)
		if r2.Status != "requested" || r2.OrderStatus != core.StatusRefunding {
			t.Fatalf("refund whose answer was lost: %+v", r2)
		}
		if tr := h.trade(ord.OrderNo); len(tr.Refunds) != 2 || tr.RefundedFen != ord.TotalFen {
			t.Fatalf("Alipay did not make the refund: %+v", tr)
		}
		h.Clock.Add(time.Minute)
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 1 {
			t.Fatalf("the worker retried %d refunds, want 1", n)
		}
		tr := h.trade(ord.OrderNo)
		if len(tr.Refunds) != 2 || tr.RefundedFen != ord.TotalFen || tr.Refunds[1].OutRequestNo != r2.RefundNo {
			t.Fatalf("the resubmitted refund moved money twice: %+v", tr.Refunds)
		}
		// The repeat answers fund_change "N": no money moved this time, which alone does not prove the
		// refund was made, so the hub waits for the refund query to confirm it.
		if n := h.Count("refunds", "refund_no = ? AND status = ?", r2.RefundNo, "processing"); n != 1 || h.OrderStatus(ord.OrderNo) != core.StatusRefunding {
			t.Fatalf("after the resubmission: refund processing %d, order %s", n, h.OrderStatus(ord.OrderNo))
		}
		h.Clock.Add(11 * time.Minute) // the first query waits 5 minutes, doubled for the refund's second submission
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 1 {
			t.Fatalf("the worker queried %d refunds, want 1", n)
		}
		if n := h.Count("refunds", "refund_no = ? AND status = ?", r2.RefundNo, "succeeded"); n != 1 || h.OrderStatus(ord.OrderNo) != core.StatusRefunded {
			t.Fatalf("after the query: refund succeeded %d, order %s", n, h.OrderStatus(ord.OrderNo))
		}
		h.notes.drop.Store(false)
		if n := h.Count("events", "topic = ? AND key = ?", "refund.succeeded", ord.OrderNo); n != 2 {
			t.Fatalf("%d refund.succeeded events, want 2", n)
		}
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 0 {
			t.Fatalf("the worker found %d more refunds", n)
		}

		// alipay.trade.fastpay.refund.query: a made refund is done, an unknown one is missing (to be submitted
		// again under the same number, as Alipay advises).
		if res, err := h.client.QueryRefund(ctx, core.RefundRequest{OrderNo: ord.OrderNo, RefundNo: r2.RefundNo}); err != nil || res.Outcome != core.RefundDone {
			t.Fatalf("query of a made refund: %+v, %v", res, err)
		}
		if res, err := h.client.QueryRefund(ctx, core.RefundRequest{OrderNo: ord.OrderNo, RefundNo: ord.OrderNo + "R9"}); err != nil || res.Outcome != core.RefundMissing {
			t.Fatalf("query of an unknown refund: %+v, %v", res, err)
		}
		// The same refund submitted again is the same refund (fund_change N: accepted, for the query to
		// confirm), not a second one.
		if res, err := h.client.Refund(ctx, core.RefundRequest{OrderNo: ord.OrderNo, RefundNo: r2.RefundNo, AmountFen: r2.AmountFen, Reason: "again"}); err != nil || res.Outcome != core.RefundAccepted {
			t.Fatalf("resubmitted refund: %+v, %v", res, err)
		}
		if tr := h.trade(ord.OrderNo); len(tr.Refunds) != 2 {
			t.Fatalf("a resubmission made refund %+v", tr.Refunds)
		}
	})
}

// TestPaidAfterCancelIsRefunded: the shopper pays a trade whose order they had just cancelled; the
// payment is kept nowhere: the order is marked for refund and the refund worker sends the money back
// through alipay.trade.refund.
func TestPaidAfterCancelIsRefunded(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, alipayfake.PublicKeyMode)
		ctx := context.Background()
		token, _ := h.login()
		ord, _ := h.order(token, 3)
		h.Call("POST", "/api/v1/orders/"+ord.OrderNo+"/cancel", token, nil).Expect(200)
		if err := h.fake.Pay(ctx, ord.OrderNo); err != nil {
			t.Fatal(err)
		}
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusRefunding || h.Count("alerts", "kind = ? AND order_no = ?", "refund_required", ord.OrderNo) != 1 {
			t.Fatalf("paid after cancellation: order %s", st)
		}
		if n := hubtest.Must(h.Service.ProcessRefunds(ctx, 10)); n != 1 {
			t.Fatalf("the worker submitted %d refunds, want 1", n)
		}
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusRefunded {
			t.Fatalf("after the refund the order is %s", st)
		}
		if tr := h.trade(ord.OrderNo); tr.Status != alipayfake.StatusClosed || tr.RefundedFen != ord.TotalFen || len(tr.Refunds) != 1 {
			t.Fatalf("Alipay has trade %+v", tr)
		}
		// The reconciler finds the trade paid and refunded, and changes nothing.
		h.Clock.Add(time.Hour)
		hubtest.Must(h.Service.ReconcilePayments(ctx, 10))
		if st := h.stock(); st.OnHand != 100 || st.Reserved != 0 {
			t.Fatalf("stock after the cancelled order's refund: %+v", st)
		}
		if n := h.Count("payments", "order_no = ?", ord.OrderNo); n != 1 {
			t.Fatalf("%d payments of the cancelled order", n)
		}
	})
}

// TestQueryPaymentOfRefundedTrade: core.PaymentState says Paid "is true once the shopper paid, even if
// the money has since been refunded" (core/reconcile.go), as the WeChat client does for state REFUND.
// Alipay reports a paid and fully refunded trade as TRADE_CLOSED, with send_pay_date set.
func TestQueryPaymentOfRefundedTrade(t *testing.T) {
	h := newHub(t, dbtest.SQLite(t), alipayfake.PublicKeyMode)
	ctx := context.Background()
	token, _ := h.login()
	ord, _ := h.order(token, 1)
	hubtest.Must(0, h.fake.PayQuietly(ord.OrderNo))
	// Refunded in full (by the merchant's console, say) before the hub heard of the payment.
	if _, err := h.client.Refund(ctx, core.RefundRequest{OrderNo: ord.OrderNo, RefundNo: ord.OrderNo + "X1", AmountFen: ord.TotalFen}); err != nil {
		t.Fatal(err)
	}
	st, err := h.client.QueryPayment(ctx, ord.OrderNo)
	if err != nil || !st.Paid || st.Payment.AmountFen != ord.TotalFen {
		t.Fatalf("query of a paid, refunded trade: %+v, %v", st, err)
	}
}

func TestHostileNotifications(t *testing.T) {
	eachMode(t, func(t testing.TB, h *hub) {
		ctx := context.Background()
		token, _ := h.login()
		ord, _ := h.order(token, 1)
		hubtest.Must(0, h.fake.PayQuietly(ord.OrderNo))
		tradeNo := h.trade(ord.OrderNo).TradeNo
		genuine := hubtest.Must(h.fake.Notification(ord.OrderNo, nil))

		// A signature containing '+': Alipay form-encodes it as %2B. Left raw, it reads as a space.
		var plus url.Values
		for range 200 {
			if f := hubtest.Must(h.fake.Notification(ord.OrderNo, nil)); strings.Contains(f.Get("sign"), "+") {
				plus = f
				break
			}
		}
		if plus == nil {
			t.Fatal("no signature with a '+' in 200 notifications")
		}
		enc := plus.Encode()
		esc := url.QueryEscape(plus.Get("sign"))
		rawPlus := strings.Replace(enc, "sign="+esc, "sign="+strings.ReplaceAll(esc, "%2B", "+"), 1)
		if rawPlus == enc {
			t.Fatal("could not unescape the '+' of the signature")
		}

		// edit returns f encoded with key set to val, or removed when val is empty, without re-signing.
		edit := func(f url.Values, key, val string) string {
			c := url.Values{}
			for k, v := range f {
				c[k] = v
			}
			if val == "" {
				c.Del(key)
			} else {
				c.Set(key, val)
			}
			return c.Encode()
		}
		otherApp := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"app_id": "2021000000009999", "auth_app_id": "2021000000009999"}))
		otherSeller := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"seller_id": "2088000000009999"}))
		refundNotify := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"notify_type": "trade_refund_sync"}))
		noTradeNo := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"trade_no": ""}))
		badAmount := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"total_amount": "18.5O"}))
		badTime := hubtest.Must(h.fake.Notification(ord.OrderNo, map[string]string{"gmt_payment": "yesterday"}))
		for _, c := range []struct {
			name   string
			query  string
			body   string
			status int
		}{
			{"forged signature", "", edit(genuine, "sign", flip(genuine.Get("sign"), 10)), 401},
			{"no signature", "", edit(genuine, "sign", ""), 401},
			{"signature only in the URL", "sign=" + url.QueryEscape(genuine.Get("sign")), edit(genuine, "sign", ""), 401},
			{"signature not base64", "", edit(genuine, "sign", "not base64!"), 401},
			{"'+' of the signature left raw", "", rawPlus, 401},
			{"body changed after signing", "", edit(genuine, "total_amount", "0.01"), 401},
			{"status changed after signing", "", edit(genuine, "trade_status", "TRADE_FINISHED"), 401},
			{"value padded with a space", "", edit(genuine, "trade_status", "TRADE_SUCCESS "), 401},
			{"empty duplicate before the signed value", "", "trade_status=&" + genuine.Encode(), 401},
			{"parameter added to the body", "", genuine.Encode() + "&refund_fee=18.50", 401},
			{"another app", "", otherApp.Encode(), 400},
			{"another seller", "", otherSeller.Encode(), 400},
			{"another notify_type", "", refundNotify.Encode(), 400},
			{"no trade_no", "", noTradeNo.Encode(), 400},
			{"amount not in yuan", "", badAmount.Encode(), 400},
			{"gmt_payment not a time", "", badTime.Encode(), 400},
			{"not a form", "", "%zz=1", 400},
			{"empty", "", "", 401},
			{"over the size cap", "", "a=" + strings.Repeat("x", handlers.MaxWebhookBody), 413},
		} {
			h.expectReply(c.name, h.post(c.query, c.body), c.status)
		}
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusPendingPayment || h.Count("payments", "1 = 1") != 0 || h.Count("alerts", "1 = 1") != 0 {
			t.Fatalf("rejected notifications changed the order to %s", st)
		}

		// A parameter added to the URL is not covered by the signature and is never read: a waiting trade's
		// genuine notification with TRADE_SUCCESS in its query leaves the order unpaid.
		second, _ := h.order(token, 1)
		waiting := hubtest.Must(h.fake.Notification(second.OrderNo, nil))
		if waiting.Get("trade_status") != alipayfake.StatusWaitBuyerPay {
			t.Fatalf("unpaid trade notifies %s", waiting.Get("trade_status"))
		}
		inject := url.Values{"trade_status": {"TRADE_SUCCESS"}, "total_amount": {"0.01"}, "gmt_payment": {"2026-01-01 00:00:00"}, "out_trade_no": {ord.OrderNo}}
		h.expectReply("WAIT_BUYER_PAY with TRADE_SUCCESS in the URL", h.post(inject.Encode(), waiting.Encode()), 200)
		if st := h.OrderStatus(second.OrderNo); st != core.StatusPendingPayment || h.Count("payments", "1 = 1") != 0 {
			t.Fatalf("a query parameter paid the order: %s", st)
		}

		// The genuine notification with a '+' in its signature, properly encoded, 30 times at once (and
		// with overriding fields in its URL): applied once, from the body.
		var wg sync.WaitGroup
		replies := make(chan httpx.Response, 30)
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				query := ""
				if i%2 == 1 {
					query = url.Values{"total_amount": {"0.01"}, "out_trade_no": {second.OrderNo}, "trade_no": {"2026010122001000000000000001"}}.Encode()
				}
				replies <- h.post(query, plus.Encode())
			}()
		}
		wg.Wait()
		close(replies)
		for r := range replies {
			if r.Status != 200 || string(r.Body) != "success" {
				t.Fatalf("a copy of the genuine notification got %d %q", r.Status, r.Body)
			}
		}
		if n := h.Count("payments", "1 = 1"); n != 1 {
			t.Fatalf("%d payments recorded, want 1", n)
		}
		if n := h.Count("payments", "order_no = ? AND provider_txn = ? AND amount_fen = ? AND result = ?", ord.OrderNo, tradeNo, ord.TotalFen, "applied"); n != 1 {
			t.Fatal("the payment was not recorded from the body")
		}
		if n := h.Count("events", "topic = ? AND key = ?", "order.paid", ord.OrderNo); n != 1 {
			t.Fatalf("%d order.paid events, want 1", n)
		}
		if h.OrderStatus(ord.OrderNo) != core.StatusPaid || h.OrderStatus(second.OrderNo) != core.StatusPendingPayment {
			t.Fatalf("orders are %s and %s", h.OrderStatus(ord.OrderNo), h.OrderStatus(second.OrderNo))
		}
		if st := h.stock(); st.OnHand != 99 || st.Reserved != 1 {
			t.Fatalf("stock after one paid unit and one reserved: %+v", st)
		}

		// A wrong amount and an unknown order are acknowledged (Alipay would retry for a day) and alerted.
		mismatch := h.signed(second.OrderNo, h.trade(second.OrderNo).TradeNo, "TRADE_SUCCESS", "18.49", nil)
		h.expectReply("wrong amount", h.notify(mismatch), 200)
		if st, n := h.OrderStatus(second.OrderNo), h.Count("alerts", "kind = ? AND order_no = ?", "payment_amount_mismatch", second.OrderNo); st != core.StatusPendingPayment || n != 1 {
			t.Fatalf("wrong amount: order %s, %d alerts", st, n)
		}
		unknown := h.signed("209912310000000000000001", "2099123122001000000000000001", "TRADE_SUCCESS", "1.00", nil)
		h.expectReply("unknown order", h.notify(unknown), 200)
		if h.Count("alerts", "kind = ? AND order_no = ?", "payment_unknown_order", "209912310000000000000001") != 1 {
			t.Fatal("an unknown order's payment was not alerted")
		}
		// A refund notification for a refund we never asked for changes nothing and is alerted.
		foreign := h.signed(ord.OrderNo, tradeNo, "TRADE_SUCCESS", "18.50", map[string]string{"out_biz_no": "NOT-OURS-1", "refund_fee": "18.50",
			"gmt_refund": time.Now().In(cn.Zone).Format("2006-01-02 15:04:05.000")})
		h.expectReply("unknown refund", h.notify(foreign), 200)
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusPaid || h.Count("alerts", "kind = ?", "refund_unknown") != 1 || h.Count("refunds", "1 = 1") != 0 {
			t.Fatalf("unknown refund: order %s", st)
		}

		// TRADE_FINISHED after a partial refund (the end of the refund period) changes nothing.
		r := h.refund(ord.OrderNo, map[string]any{"amount_fen": 500})
		if r.Status != "succeeded" {
			t.Fatalf("partial refund %+v", r)
		}
		h.WaitFor("the refund notification", func() bool { return h.acked(ord.OrderNo) == 1 })
		if err := h.fake.Finish(ctx, ord.OrderNo); err != nil {
			t.Fatalf("TRADE_FINISHED not acknowledged: %v", err)
		}
		if st, n := h.OrderStatus(ord.OrderNo), h.Count("payments", "order_no = ?", ord.OrderNo); st != core.StatusPaid || n != 1 {
			t.Fatalf("after TRADE_FINISHED: order %s, %d payments", st, n)
		}
		if n, m := h.Count("refunds", "status = ?", "succeeded"), h.Count("events", "topic = ?", "refund.succeeded"); n != 1 || m != 1 {
			t.Fatalf("after TRADE_FINISHED: %d refunds, %d refund events", n, m)
		}
		if st := h.stock(); st.OnHand != 99 || st.Reserved != 1 {
			t.Fatalf("stock after TRADE_FINISHED: %+v", st)
		}
	})
}
