package wechat_test

// End-to-end tests of the WeChat channel: the real gin engine, core, a real database (SQLite, and
// PostgreSQL when O2OHUB_TEST_POSTGRES is set) and the real SDKs, talking over loopback HTTP to the
// WeChat fake, which speaks WeChat's wire format with its own keys.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/integrations/wechat/wechatfake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

const (
	testAppID  = "wx1234567890abcdef"
	testSecret = "app-secret-for-tests"
	testMchID  = "1230000109"
)

var (
	keys wechatfake.Keys
	// wx is the WeChat every test talks to for the mini-program API: silenceper/wechat's HTTP hooks are
	// process-wide, so there is one per test binary. Its WeChat Pay side signs in public-key mode.
	wx    *wechatfake.Fake
	wxURL string
	// certWx is a second WeChat Pay that signs with its platform certificate.
	certWx    *wechatfake.Fake
	certWxURL string
)

func TestMain(m *testing.M) {
	var err error
	if keys, err = wechatfake.GenerateKeys(); err != nil {
		panic(err)
	}
	wx = wechatfake.New(wechatfake.Options{AppID: testAppID, AppSecret: testSecret, MchID: testMchID, Keys: keys, Mode: wechatfake.PublicKeyMode,
		TemplateIDs: []string{"tpl-ready", "tpl-refund", "tpl-promo"}})
	srv := httptest.NewServer(wx)
	wxURL = srv.URL
	certWx = wechatfake.New(wechatfake.Options{AppID: testAppID, AppSecret: testSecret, MchID: testMchID, Keys: keys, Mode: wechatfake.CertificateMode})
	certSrv := httptest.NewServer(certWx)
	certWxURL = certSrv.URL
	code := m.Run()
	wx.Close()
	certWx.Close()
	srv.Close()
	certSrv.Close()
	os.Exit(code)
}

// hub is one running hub (internal/hubtest) wired to the WeChat fake.
type hub struct {
	*hubtest.Hub
	pay  *wechat.Pay
	mp   *wechat.MiniProgram
	fake *wechatfake.Fake
}

type hubOptions struct {
	certMode bool // WeChat Pay signs with platform certificates and the hub downloads them
	both     bool // the hub accepts both the public key and the certificates
}

func newHub(t testing.TB, db *models.DB, o hubOptions) *hub {
	t.Helper()
	h := &hub{fake: wx}
	h.Hub = hubtest.New(t, db, hubtest.WithDeps(func(hh *hubtest.Hub, d *handlers.Deps) {
		ready, _ := wechat.ParseTemplate("tpl-ready", wechat.DefaultReadyFields)
		refunded, _ := wechat.ParseTemplate("tpl-refund|character_string1=order_no,amount2=amount,thing3=status", nil)
		mp, err := wechat.NewMiniProgram(wechat.MiniProgramConfig{AppID: testAppID, Secret: testSecret, Base: wxURL, Ready: ready, Refunded: refunded},
			wechat.NewCache(hh.DB, hh.Clock.Now), hh.Log)
		if err != nil {
			t.Fatal(err)
		}
		pc := wechat.PayConfig{AppID: testAppID, MchID: testMchID, MerchantSerial: keys.MerchantSerial, MerchantKey: keys.MerchantKey,
			PublicKeyID: keys.PublicKeyID, PublicKey: &keys.PlatformKey.PublicKey, APIv3Key: keys.APIv3Key, Base: wxURL}
		if o.certMode || o.both {
			pc.PlatformCerts, pc.Base, h.fake = true, certWxURL, certWx
		}
		if o.certMode {
			pc.PublicKeyID, pc.PublicKey = "", nil
		}
		pay, err := wechat.NewPay(context.Background(), pc, mp, hh.Clock.Now, hh.Log)
		if err != nil {
			t.Fatal(err)
		}
		h.mp, h.pay = mp, pay
		hh.Service.RegisterGateway(pay)
		hh.Service.RegisterShippingReporter(pay)
		hh.Service.RegisterMessenger(mp)
		d.WeChat, d.WeChatPay, d.ScanPage = mp, pay, "pages/scan/index"
	}))
	h.Stock(hubtest.S01, hubtest.Milk, 100)
	return h
}

// login signs a new WeChat user in and returns their token and openid.
func (h *hub) login(unionid string) (string, string) {
	h.T.Helper()
	openid := fmt.Sprintf("o%d", time.Now().UnixNano())
	var out member.Login
	h.Call("POST", "/api/v1/auth/wechat", "", map[string]string{"code": wx.IssueLoginCode(openid, unionid)}).Expect(200).JSON(&out)
	return out.Token, openid
}

// order places a pickup order of qty MILK and starts its WeChat Pay payment.
func (h *hub) order(token string, qty int) (core.OrderView, core.PayView) {
	h.T.Helper()
	var o core.OrderView
	h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": "MILK", "qty": qty}}}).Expect(201).JSON(&o)
	var pv core.PayView
	h.Call("POST", "/api/v1/orders/"+o.OrderNo+"/pay", token, map[string]string{"provider": "wechatpay"}).Expect(200).JSON(&pv)
	return o, pv
}

// post sends a notification to the hub's WeChat Pay webhook.
func (h *hub) post(header http.Header, body []byte) httpx.Response {
	h.T.Helper()
	return h.Send(httpx.Request{Method: "POST", Path: "/webhooks/wechatpay", Body: body, Header: header})
}

func each(t *testing.T, fn func(t testing.TB, db *models.DB)) { dbtest.Each(t, fn) }

func TestLoginPhoneAndMerge(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		// A bad code is a 401 naming WeChat's errcode, not a 500.
		r := h.Call("POST", "/api/v1/auth/wechat", "", map[string]string{"code": "not-a-code"}).Expect(401)
		if !strings.Contains(string(r.Body), "40029") {
			t.Fatalf("invalid code answer %s does not name errcode 40029", r.Body)
		}
		// A code is single use.
		code := wx.IssueLoginCode("o-single-use", "")
		h.Call("POST", "/api/v1/auth/wechat", "", map[string]string{"code": code}).Expect(200)
		h.Call("POST", "/api/v1/auth/wechat", "", map[string]string{"code": code}).Expect(401)
		h.Call("POST", "/api/v1/auth/wechat", "", "{").Expect(400)

		// Two shoppers bind the same verified phone: the second is merged into the first.
		a, _ := h.login("")
		b, _ := h.login("")
		phone := "13912345678"
		var ma, mb member.View
		h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": wx.IssuePhoneCode(phone)}).Expect(200).JSON(&ma)
		if ma.Phone != "139****5678" {
			t.Fatalf("bound phone shows as %q, want it masked", ma.Phone)
		}
		h.Call("POST", "/api/v1/me/phone/wechat", b, map[string]string{"code": wx.IssuePhoneCode(phone)}).Expect(200).JSON(&mb)
		if mb.ID != ma.ID {
			t.Fatalf("second member %d was not merged into %d", mb.ID, ma.ID)
		}
		if n := h.Count("member_merges", "into_id = ?", ma.ID); n != 1 {
			t.Fatalf("%d merges recorded, want 1", n)
		}
		// A phone code is not a phone number: made-up codes are refused.
		h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": phone}).Expect(401)

		// The same unionid from a fresh openid lands on the same member.
		u1, _ := h.login("union-1")
		u2, _ := h.login("union-1")
		var m1, m2 member.View
		h.Call("GET", "/api/v1/me", u1, nil).Expect(200).JSON(&m1)
		h.Call("GET", "/api/v1/me", u2, nil).Expect(200).JSON(&m2)
		if m1.ID != m2.ID {
			t.Fatalf("same unionid gave members %d and %d", m1.ID, m2.ID)
		}
	})
}

func TestAccessTokenExpiryIsRecovered(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		a, _ := h.login("")
		h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": wx.IssuePhoneCode("13800001111")}).Expect(200)
		// WeChat invalidates every token (another process force-refreshed, or it was revoked): the next
		// call gets 40001, drops the cached token, fetches a new one and succeeds.
		wx.ExpireAccessTokens()
		h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": wx.IssuePhoneCode("13800001111")}).Expect(200)
	})
}

func TestPayNotifyRefund(t *testing.T) {
	for _, o := range []hubOptions{{}, {certMode: true}, {both: true}} {
		t.Run(fmt.Sprintf("certs=%v/both=%v", o.certMode, o.both), func(t *testing.T) {
			each(t, func(t testing.TB, db *models.DB) {
				h := newHub(t, db, o)
				token, openid := h.login("")
				ord, pv := h.order(token, 2)
				for _, k := range []string{"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} {
					if pv.Params[k] == nil || pv.Params[k] == "" {
						t.Fatalf("wx.requestPayment parameter %s missing in %v", k, pv.Params)
					}
				}
				// Paying again returns the same prepay, never a second payable transaction.
				var again core.PayView
				h.Call("POST", "/api/v1/orders/"+ord.OrderNo+"/pay", token, map[string]string{"provider": "wechatpay"}).Expect(200).JSON(&again)
				if again.Params["package"] != pv.Params["package"] {
					t.Fatalf("second pay gave %v, first %v", again.Params["package"], pv.Params["package"])
				}
				tx, ok := h.fake.Transaction(ord.OrderNo)
				if !ok || tx.OpenID != openid || tx.Total != ord.TotalFen {
					t.Fatalf("WeChat has %+v for the order", tx)
				}
				if err := h.fake.Pay(context.Background(), ord.OrderNo); err != nil {
					t.Fatal(err)
				}
				if st := h.OrderStatus(ord.OrderNo); st != core.StatusPaid {
					t.Fatalf("after the notification the order is %s", st)
				}

				// A partial refund, then the rest.
				var r1, r2 core.RefundView
				h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{"amount_fen": 1000, "reason": "少一瓶"}).Expect(200).JSON(&r1)
				h.WaitFor("partial refund notification", func() bool { return h.Count("refunds", "refund_no = ? AND status = ?", r1.RefundNo, "succeeded") == 1 })
				if st := h.OrderStatus(ord.OrderNo); st != core.StatusPaid {
					t.Fatalf("a partial refund moved the order to %s", st)
				}
				h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{"amount_fen": ord.TotalFen}).Expect(400)
				h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{}).Expect(200).JSON(&r2)
				if r2.AmountFen != ord.TotalFen-1000 || r2.RefundNo == r1.RefundNo {
					t.Fatalf("full refund %+v after partial %+v", r2, r1)
				}
				h.WaitFor("order refunded", func() bool { return h.OrderStatus(ord.OrderNo) == core.StatusRefunded })
				if rec, ok := h.fake.Refund(r2.RefundNo); !ok || rec.Refund != r2.AmountFen {
					t.Fatalf("WeChat has refund %+v", rec)
				}
				var stock catalog.StockView
				stock = hubtest.Must(h.Service.Catalog.Stock(context.Background(), "S01", "MILK"))
				if stock.OnHand != 100 {
					t.Fatalf("after the full refund of goods never handed over on_hand is %d, want 100", stock.OnHand)
				}
			})
		})
	}
}

func TestQueryWorkerRecoversAndExpiryCloses(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		token, _ := h.login("")
		lost, _ := h.order(token, 1)
		unpaid, _ := h.order(token, 1)
		// The shopper pays but WeChat's notification never arrives.
		if err := wx.PayQuietly(lost.OrderNo); err != nil {
			t.Fatal(err)
		}
		if n := hubtest.Must(h.Service.ReconcilePayments(ctx, 10)); n != 0 {
			t.Fatalf("reconciler checked %d attempts before their first check was due", n)
		}
		h.Clock.Add(3 * time.Minute)
		if n := hubtest.Must(h.Service.ReconcilePayments(ctx, 10)); n != 2 {
			t.Fatalf("reconciler checked %d attempts, want 2", n)
		}
		if st := h.OrderStatus(lost.OrderNo); st != core.StatusPaid {
			t.Fatalf("the order paid without a notification is %s after the query", st)
		}
		if st := h.OrderStatus(unpaid.OrderNo); st != core.StatusPendingPayment {
			t.Fatalf("the unpaid order is %s", st)
		}
		// The unpaid one expires: its WeChat transaction is closed, so the shopper can no longer pay it.
		h.Clock.Add(15 * time.Minute)
		hubtest.Must(h.Service.ExpireDue(ctx, 10))
		hubtest.Must(h.Service.ReconcilePayments(ctx, 10))
		if tx, _ := wx.Transaction(unpaid.OrderNo); tx.State != "CLOSED" {
			t.Fatalf("the expired order's transaction is %s at WeChat, want CLOSED", tx.State)
		}
		if n := h.Count("payment_attempts", "status = ?", "open"); n != 0 {
			t.Fatalf("%d payment attempts still open", n)
		}
	})
}

func TestReadyMessageAndShippingUpload(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		token, openid := h.login("")
		ord, _ := h.order(token, 1)
		hubtest.Must(0, wx.Pay(ctx, ord.OrderNo))
		wx.Subscribe(openid, "tpl-ready")
		for _, step := range []string{"accept", "ready", "complete"} {
			h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/"+step, hubtest.AdminToken, nil).Expect(200)
		}
		hubtest.Must(h.Service.ProcessTasks(ctx, 10))
		var sent bool
		for _, m := range wx.Messages() {
			if m.ToUser == openid && m.TemplateID == "tpl-ready" {
				sent = true
			}
		}
		if !sent {
			t.Fatalf("no ready message to %s among %+v", openid, wx.Messages())
		}
		var shipped bool
		for _, s := range wx.Shipments() {
			if s.OutTradeNo == ord.OrderNo && s.LogisticsType == 4 {
				shipped = true
			}
		}
		if !shipped {
			t.Fatalf("no pickup shipping upload for %s among %+v", ord.OrderNo, wx.Shipments())
		}
		// The refund message: this shopper did not subscribe to it (43101), which is recorded, not retried.
		h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{}).Expect(200)
		h.WaitFor("refund", func() bool { return h.OrderStatus(ord.OrderNo) == core.StatusRefunded })
		hubtest.Must(h.Service.ProcessTasks(ctx, 10))
		if n := h.Count("tasks", "kind = ? AND status = ? AND last_error LIKE ?", "message", "rejected", "%43101%"); n != 1 {
			var rows []models.Task
			h.DB.Conn(ctx).Find(&rows)
			t.Logf("tasks: %+v", rows)
			t.Fatalf("%d rejected refund messages with 43101, want 1", n)
		}
		h.Clock.Add(time.Hour)
		if n := hubtest.Must(h.Service.ProcessTasks(ctx, 10)); n != 0 {
			t.Fatalf("%d tasks retried after a permanent refusal", n)
		}
	})
}

// resign signs body as WeChat Pay does (public-key mode), for tests that forge a notification WeChat
// could have sent: the signature is right, the content is what the test wants.
func resign(t testing.TB, h http.Header, body []byte) http.Header {
	t.Helper()
	out := h.Clone()
	sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(rand.Reader, keys.PlatformKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	out.Set("Wechatpay-Signature", base64.StdEncoding.EncodeToString(sig))
	return out
}

// txPlain is a transaction resource as WeChat Pay encrypts it into a notification.
func txPlain(appid, mchid, orderNo, txnID string, total int64) []byte {
	b, _ := json.Marshal(map[string]any{"appid": appid, "mchid": mchid, "out_trade_no": orderNo, "transaction_id": txnID, "trade_type": "JSAPI",
		"trade_state": "SUCCESS", "trade_state_desc": "支付成功", "bank_type": "OTHERS", "attach": "", "success_time": time.Now().In(cn.Zone).Format(time.RFC3339),
		"payer": map[string]string{"openid": "o-payer"}, "amount": map[string]any{"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"}})
	return b
}

func TestHostileNotifications(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		token, _ := h.login("")
		ord, _ := h.order(token, 1)
		if err := wx.PayQuietly(ord.OrderNo); err != nil {
			t.Fatal(err)
		}
		hdr, body, err := wx.TransactionNotification(ord.OrderNo)
		if err != nil {
			t.Fatal(err)
		}
		flip := func(s string) string {
			b := []byte(s)
			if b[10] == 'A' {
				b[10] = 'B'
			} else {
				b[10] = 'A'
			}
			return string(b)
		}
		forged := hdr.Clone()
		forged.Set("Wechatpay-Signature", flip(hdr.Get("Wechatpay-Signature")))
		wrongSerial := hdr.Clone()
		wrongSerial.Set("Wechatpay-Serial", "PUB_KEY_ID_0000000000000000000000000000")
		unsigned := hdr.Clone()
		unsigned.Del("Wechatpay-Signature")
		badTS := hdr.Clone()
		badTS.Set("Wechatpay-Timestamp", "yesterday")
		var env map[string]any
		json.Unmarshal(body, &env)
		res := env["resource"].(map[string]any)
		res["ciphertext"] = flip(res["ciphertext"].(string))
		tampered, _ := json.Marshal(env)
		otherApp, otherAppBody := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain("wx0000000000000000", testMchID, ord.OrderNo, "4200000000000000000000000001", ord.TotalFen)))
		otherMch, otherMchBody := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, "1999999999", ord.OrderNo, "4200000000000000000000000002", ord.TotalFen)))
		junk, junkBody := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", []byte("not json")))
		for _, c := range []struct {
			name   string
			h      http.Header
			body   []byte
			status int
		}{
			{"forged signature", forged, body, 401},
			{"wrong serial", wrongSerial, body, 401},
			{"no signature", unsigned, body, 401},
			{"body changed after signing", hdr, bytes.Replace(body, []byte(`"TRANSACTION.SUCCESS"`), []byte(`"TRANSACTION.SUCCESS" `), 1), 401},
			// Signed by WeChat Pay but not decryptable with our APIv3 key: we failed, so WeChat must retry.
			{"tampered ciphertext, re-signed", resign(t, hdr, tampered), tampered, 500},
			{"timestamp not a number, re-signed", resign(t, badTS, body), body, 400},
			{"another appid", otherApp, otherAppBody, 400},
			{"another mchid", otherMch, otherMchBody, 400},
			{"signed junk", junk, junkBody, 400},
			{"over the size cap", hdr, bytes.Repeat([]byte(" "), handlers.MaxWebhookBody+1), 413},
		} {
			r := h.post(c.h, c.body)
			if r.Status != c.status || !strings.Contains(string(r.Body), `"code":"FAIL"`) {
				t.Fatalf("%s: got %d %s, want %d with code FAIL", c.name, r.Status, r.Body, c.status)
			}
		}
		// A notification six minutes old is refused, whatever its signature.
		h.Clock.Add(6 * time.Minute)
		if r := h.post(hdr, body); r.Status != 401 {
			t.Fatalf("stale notification: got %d %s", r.Status, r.Body)
		}
		h.Clock.Add(-6 * time.Minute)
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusPendingPayment || h.Count("payments", "1 = 1") != 0 {
			t.Fatalf("rejected notifications changed the order to %s", st)
		}

		// The genuine notification, 50 times at once: applied once.
		var wg sync.WaitGroup
		codes := make(chan int, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes <- h.post(hdr, body).Status
			}()
		}
		wg.Wait()
		close(codes)
		for c := range codes {
			if c != 204 {
				t.Fatalf("a copy of the genuine notification got %d", c)
			}
		}
		if n := h.Count("payments", "order_no = ?", ord.OrderNo); n != 1 {
			t.Fatalf("%d payments recorded, want 1", n)
		}
		if n := h.Count("events", "topic = ? AND key = ?", "order.paid", ord.OrderNo); n != 1 {
			t.Fatalf("%d order.paid events, want 1", n)
		}
		if st := hubtest.Must(h.Service.Catalog.Stock(ctx, "S01", "MILK")); st.OnHand != 99 || st.Reserved != 0 {
			t.Fatalf("stock after one paid unit: %+v", st)
		}

		// A wrong amount and an unknown order are acknowledged (WeChat would retry for a day) and alerted.
		second, _ := h.order(token, 1)
		mh, mb := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, second.OrderNo, "4200000000000000000000000003", second.TotalFen-1)))
		h.post(mh, mb).Expect(204)
		if st := h.OrderStatus(second.OrderNo); st != core.StatusPendingPayment || h.Count("alerts", "kind = ?", "payment_amount_mismatch") != 1 {
			t.Fatalf("wrong amount: order %s, %d alerts", st, h.Count("alerts", "kind = ?", "payment_amount_mismatch"))
		}
		uh, ub := must2(wx.SignNotification("TRANSACTION.SUCCESS", "transaction", txPlain(testAppID, testMchID, "999999999999999999999999", "4200000000000000000000000004", 100)))
		h.post(uh, ub).Expect(204)
		if h.Count("alerts", "kind = ?", "payment_unknown_order") != 1 {
			t.Fatal("an unknown order's payment was not alerted")
		}
		// A refund notification for a refund we never asked for changes nothing and is alerted.
		rp, _ := json.Marshal(map[string]any{"mchid": testMchID, "out_trade_no": ord.OrderNo, "transaction_id": "4200000000000000000000000005", "out_refund_no": "NOT-OURS-1",
			"refund_id": "50300000000000000000000001", "refund_status": "SUCCESS", "success_time": time.Now().Format(time.RFC3339), "user_received_account": "支付用户零钱",
			"amount": map[string]any{"total": ord.TotalFen, "refund": ord.TotalFen, "payer_total": ord.TotalFen, "payer_refund": ord.TotalFen}})
		rh, rb := must2(wx.SignNotification("REFUND.SUCCESS", "refund", rp))
		h.post(rh, rb).Expect(204)
		if st := h.OrderStatus(ord.OrderNo); st != core.StatusPaid || h.Count("alerts", "kind = ?", "refund_unknown") != 1 {
			t.Fatalf("unknown refund: order %s", st)
		}
	})
}

func TestRefundNotificationBeforeRefundCallReturns(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		token, _ := h.login("")
		ord, _ := h.order(token, 3)
		hubtest.Must(0, wx.Pay(context.Background(), ord.OrderNo))
		wx.SetRefundNotifyBeforeReply(true)
		defer wx.SetRefundNotifyBeforeReply(false)
		var r core.RefundView
		h.Call("POST", "/api/v1/admin/orders/"+ord.OrderNo+"/refund", hubtest.AdminToken, map[string]any{"reason": "缺货"}).Expect(200).JSON(&r)
		if r.Status != "succeeded" || r.OrderStatus != core.StatusRefunded {
			t.Fatalf("refund %+v, want succeeded with the order refunded", r)
		}
		if n := h.Count("events", "topic = ? AND key = ?", "refund.succeeded", ord.OrderNo); n != 1 {
			t.Fatalf("%d refund.succeeded events, want 1", n)
		}
		// The refund worker has nothing left to do with it.
		h.Clock.Add(time.Hour)
		if n := hubtest.Must(h.Service.ProcessRefunds(context.Background(), 10)); n != 0 {
			t.Fatalf("worker picked up %d refunds after the notification completed it", n)
		}
	})
}

func must2(h http.Header, b []byte, err error) (http.Header, []byte) {
	if err != nil {
		panic(err)
	}
	return h, b
}
