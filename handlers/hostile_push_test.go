package handlers

// Verified notifications and platform pushes with odd text: they are never refused for it, and what
// they carry is stored cleaned (on PostgreSQL a NUL would otherwise fail the write, a 500 the provider
// retries for ever).

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/internal/text"
	"github.com/o2ohub/o2ohub/models"
)

// wantClean fails unless s is text a page or label may show.
func wantClean(t *testing.T, what, s string) {
	t.Helper()
	if err := text.Check(s, text.Printed); err != nil {
		t.Errorf("%s %q is stored as it came: %v", what, s, err)
	}
}

func TestHostileSandboxNotificationCleaned(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		ord := e.createOrder(t, e.shopper, hubPickup("S01", "TEA", 1))
		now := e.clock.Now()
		txn := sandbox.TransactionID(ord.OrderNo) + "\x00\u202e\x1b"
		n := hubJSON(t, sandbox.Notification{ID: "sbx_evt\x00" + ord.OrderNo, OrderNo: ord.OrderNo, TransactionID: txn,
			AmountFen: ord.TotalFen, PaidAt: now, Status: "SUCCESS"})
		res := hubDecode[map[string]string](t, e.sendNotification(t, n, hubSigned(hubSandboxSecret, now, n)), http.StatusOK)
		if res["result"] != string(core.PaymentApplied) {
			t.Fatalf("notification: %v", res)
		}
		if got := e.order(t, e.shopper, ord.OrderNo); got.Status != core.StatusPaid {
			t.Fatalf("order is %s, want paid", got.Status)
		}
		var o models.Order
		if err := db.Conn(context.Background()).Where("order_no = ?", ord.OrderNo).Take(&o).Error; err != nil {
			t.Fatal(err)
		}
		wantClean(t, "provider transaction", o.ProviderTxn)
		if !strings.HasPrefix(o.ProviderTxn, sandbox.TransactionID(ord.OrderNo)) {
			t.Errorf("provider transaction = %q, want it to start %q", o.ProviderTxn, sandbox.TransactionID(ord.OrderNo))
		}
		// The same notification again is the same payment.
		res = hubDecode[map[string]string](t, e.sendNotification(t, n, hubSigned(hubSandboxSecret, now, n)), http.StatusOK)
		if res["result"] != string(core.PaymentDuplicate) {
			t.Errorf("repeated notification: %v, want duplicate", res)
		}
	})
}

func TestHostileMeituanPushCleaned(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		const secret = "mt-secret"
		// post signs params for event as Meituan does and posts them to the hub.
		post := func(event string, params url.Values) (int, string) {
			target := e.srv.URL + "/webhooks/meituan/" + event
			params.Del("sig")
			params.Set("sig", meituan.Sign(target, params, secret))
			resp, err := e.client.Post(target, "application/x-www-form-urlencoded", strings.NewReader(meituanfake.EncodePush(params)))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		// The fake's pushes pass through here, where the buyer's text turns hostile, and are signed again.
		relay := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			params, err := meituan.PushParams(market.Inbound{Body: body, ContentType: r.Header.Get("Content-Type")})
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			if params.Get("recipient_address") != "" {
				params.Set("recipient_address", "北京市朝阳区望京街\x0010号\u202e1021#")
				params.Set("recipient_name", "张三\x1b[31m")
				params.Set("caution", "少放辣\r\n不要香菜\u2066\x00")
			}
			status, answer := post(path.Base(r.URL.Path), params)
			w.WriteHeader(status)
			io.WriteString(w, answer)
		}))
		t.Cleanup(relay.Close)
		fake := meituanfake.New(meituanfake.Options{AppID: "mt-app", AppSecret: secret, PushURL: relay.URL + "/webhooks/meituan",
			RetryInterval: 20 * time.Millisecond})
		fakeSrv := httptest.NewServer(fake)
		t.Cleanup(func() { fake.Close(); fakeSrv.Close() })
		conn, err := meituan.New(meituan.Config{AppID: "mt-app", AppSecret: secret, Base: fakeSrv.URL + "/api/v1"})
		if err != nil {
			t.Fatal(err)
		}
		e.svc.Market.Register(conn)
		fake.AddShop(conMeituanShop)
		if _, err := e.svc.Market.PutShop(context.Background(), market.ShopInput{Platform: market.Meituan, ShopID: conMeituanShop, Store: "S01", Ratio: "1"}); err != nil {
			t.Fatal(err)
		}

		ord := e.meituanOrder(t, fake, meituanfake.OrderLine{Code: "TEA", Name: "奶茶\x00\u202e大杯", Qty: 1, PriceFen: 1250})
		wantClean(t, "address", ord.AddressText)
		wantClean(t, "note", ord.Note)
		wantClean(t, "recipient", ord.Courier)
		if !strings.Contains(ord.AddressText, "望京街") || !strings.Contains(ord.Note, "不要香菜") {
			t.Errorf("address %q / note %q lost their text", ord.AddressText, ord.Note)
		}
		var items []models.OrderItem
		if err := db.Conn(context.Background()).Where("order_id = ?", ord.ID).Find(&items).Error; err != nil || len(items) != 1 {
			t.Fatalf("items %v: %v", items, err)
		}
		wantClean(t, "item name", items[0].Name)

		// A cancellation naming an order the hub does not hold (yet), whose id and reason hold a NUL.
		status, answer := post(meituan.EventCancel, url.Values{"app_id": {"mt-app"}, "timestamp": {strconv.FormatInt(time.Now().Unix(), 10)},
			"order_id": {"990\x001"}, "app_poi_code": {conMeituanShop}, "reason": {"不要了\x00"}, "reason_code": {"1001"}})
		if status != http.StatusOK || answer != meituan.Ack {
			t.Fatalf("cancel push = %d %s, want 200 %s", status, answer, meituan.Ack)
		}
		var pending []models.MarketPending
		if err := db.Conn(context.Background()).Find(&pending).Error; err != nil {
			t.Fatal(err)
		}
		for _, p := range pending {
			wantClean(t, "pending order id", p.PlatformOrderID)
			wantClean(t, "pending payload", p.Payload)
		}
	})
}
