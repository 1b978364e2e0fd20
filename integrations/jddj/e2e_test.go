package jddj_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/testclock"
)

const (
	appKey = "ak-test"
	secret = "S3cr3tS3cr3tS3cr3tS3cr3tS3cr3t99" // 32 characters: AES key and IV
	token  = "tok-test"
	shop   = "11880001"
)

// env is a fake JD, a hub receiving its pushes through the connector, and the connector.
type env struct {
	clk    *testclock.Clock
	fake   *jddjfake.Fake
	jd     *httptest.Server
	client *jddj.Client
	pushes chan market.Push
	errs   chan error
}

func newEnv(t *testing.T, encrypt bool) *env {
	t.Helper()
	e := &env{clk: testclock.New(time.Date(2026, 3, 1, 10, 0, 0, 0, cn.Zone)), pushes: make(chan market.Push, 500), errs: make(chan error, 500)}
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		in := market.Inbound{Method: r.Method, URL: "http://hub" + r.URL.Path, Event: strings.TrimPrefix(r.URL.Path, "/webhooks/jddj/djsw/"),
			Query: r.URL.Query(), Body: body, ContentType: r.Header.Get("Content-Type")}
		p, err := e.client.ReadPush(in)
		if err != nil {
			e.errs <- err
		} else {
			e.pushes <- p
		}
		rep := e.client.Reply(p, err)
		w.Header().Set("Content-Type", rep.ContentType)
		w.WriteHeader(rep.Status)
		_, _ = w.Write(rep.Body)
	}))
	t.Cleanup(hub.Close)
	e.fake = jddjfake.New(jddjfake.Options{AppKey: appKey, AppSecret: secret, Token: token, PushURL: hub.URL + "/webhooks/jddj",
		Clock: e.clk.Now, RetryInterval: 5 * time.Millisecond, Encrypt: encrypt})
	t.Cleanup(e.fake.Close)
	e.fake.AddShop(shop)
	e.jd = httptest.NewServer(e.fake)
	t.Cleanup(e.jd.Close)
	e.client = e.newClient(t, secret, token)
	return e
}

func (e *env) newClient(t *testing.T, sec, tok string) *jddj.Client {
	t.Helper()
	c, err := jddj.New(jddj.Config{AppKey: appKey, AppSecret: sec, Token: tok, Operator: "op-pin", Base: e.jd.URL + "/djapi", Clock: e.clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (e *env) nextPush(t *testing.T) market.Push {
	t.Helper()
	select {
	case p := <-e.pushes:
		return p
	case err := <-e.errs:
		t.Fatalf("push refused: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no push")
	}
	return market.Push{}
}

func kindOf(err error) error {
	var ce *market.CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return nil
}

var lines = []jddjfake.OrderLine{{Code: "A1", Name: "苹果 500g", Qty: 2, PriceFen: 1250}, {Code: "B2", Name: "牛奶", Qty: 1, PriceFen: 399}}

func TestOrderLifecycle(t *testing.T) {
	for _, encrypt := range []bool{false, true} {
		e := newEnv(t, encrypt)
		ctx := context.Background()
		id, err := e.fake.PlaceOrder(shop, lines)
		if err != nil {
			t.Fatal(err)
		}
		p := e.nextPush(t)
		if p.Kind != market.PushOrder || p.OrderID != id || p.Order != nil || p.Status != market.StatusNew ||
			!p.SignedAt.Equal(e.clk.Now()) || p.Platform != market.JDDJ {
			t.Fatalf("newOrder push = %+v", p)
		}
		o, err := e.client.FetchOrder(ctx, shop, id)
		if err != nil {
			t.Fatal(err)
		}
		want := market.Order{Platform: market.JDDJ, OrderID: id, ShopID: shop, DaySeq: 1, Status: market.StatusNew,
			Lines: []market.Line{
				{Code: "A1", PlatformSKU: "2000000001", Name: "苹果 500g", Qty: 2, PriceFen: 1250},
				{Code: "B2", PlatformSKU: "2000000002", Name: "牛奶", Qty: 1, PriceFen: 399},
			},
			TotalFen: 2899, PaidFen: 2899, Recipient: "测试用户", RecipientPhone: "13800000000", Address: "北京市朝阳区测试路1号",
			DeliveryMode: jddj.CarrierJDZB, PlacedAt: e.clk.Now()}
		if !reflect.DeepEqual(o, want) {
			t.Fatalf("FetchOrder =\n%+v\nwant\n%+v", o, want)
		}
		if c, _ := e.fake.Commission(id); c != 231 {
			t.Errorf("commission = %d, want 231 (8%% of 2899 rounded down)", c)
		}
		ref := market.OrderRef{ShopID: shop, OrderID: id, DeliveryMode: o.DeliveryMode}
		if err := e.client.Prepared(ctx, ref); kindOf(err) != market.ErrRefused {
			t.Fatalf("Prepared before Confirm = %v, want refused", err)
		}
		if err := e.client.Confirm(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if p := e.nextPush(t); p.Kind != market.PushStatus || p.Status != market.StatusConfirmed || p.OrderID != id {
			t.Fatalf("orderWaitOutStore push = %+v", p)
		}
		if err := e.client.Confirm(ctx, ref); kindOf(err) != market.ErrRefused {
			t.Fatalf("second Confirm = %v, want refused", err)
		}
		if err := e.client.Prepared(ctx, market.OrderRef{OrderID: id, DeliveryMode: jddj.CarrierSelfPickup}); kindOf(err) != market.ErrRefused {
			t.Fatalf("Prepared with the wrong mode = %v, want refused", err)
		}
		if err := e.client.Prepared(ctx, ref); err != nil {
			t.Fatal(err)
		}
		if fo, _ := e.fake.Order(id); fo.Status != jddjfake.StatusPrepared || fo.DaySeq != 1 {
			t.Fatalf("fake order = %+v", fo)
		}
		if err := e.fake.FinishOrder(id); err != nil {
			t.Fatal(err)
		}
		if p := e.nextPush(t); p.Kind != market.PushFinished || p.Status != market.StatusCompleted {
			t.Fatalf("finishOrder push = %+v", p)
		}
		if o, _ := e.client.FetchOrder(ctx, shop, id); o.Status != market.StatusCompleted {
			t.Fatalf("status after finish = %s", o.Status)
		}
		// The fake counts an acknowledgement once the hub's answer is back, a moment after the hub saw the push.
		for deadline := time.Now().Add(5 * time.Second); e.fake.Pushes() < 3 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := e.fake.Pushes(); n != 3 {
			t.Errorf("acknowledged pushes = %d, want 3", n)
		}
		if n := e.fake.Calls(jddj.PathAccept); n != 2 {
			t.Errorf("accept calls = %d, want 2", n)
		}
		if _, err := e.client.FetchOrder(ctx, shop, "999"); kindOf(err) != market.ErrRefused {
			t.Errorf("FetchOrder of an unknown order = %v", err)
		}
	}
}

func TestRejectCancelRefund(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	a, _ := e.fake.PlaceOrder(shop, lines)
	b, _ := e.fake.PlaceOrder(shop, lines)
	e.nextPush(t)
	e.nextPush(t)
	if err := e.client.Reject(ctx, market.OrderRef{ShopID: shop, OrderID: a}, "sold out", true); err != nil {
		t.Fatal(err)
	}
	if p := e.nextPush(t); p.Kind != market.PushCancelled || p.OrderID != a {
		t.Fatalf("push after reject = %+v", p)
	}
	if fo, _ := e.fake.Order(a); fo.Status != jddjfake.StatusCancelled || fo.DaySeq != 1 {
		t.Fatalf("rejected order = %+v", fo)
	}
	if err := e.fake.RefundLines(b, []jddjfake.OrderLine{{Code: "A1", Qty: 1}}); err != nil {
		t.Fatal(err)
	}
	if p := e.nextPush(t); p.Kind != market.PushRefund || p.OrderID != "" || p.RefundID != "30000001" || len(p.Lines) != 0 {
		t.Fatalf("newAfterSaleBill push = %+v", p)
	}
	// The bill names the refund only: afs/getAfsService gives its order and units.
	got, err := e.client.FetchRefund(ctx, "30000001")
	if err != nil || got.Kind != market.PushRefund || got.OrderID != b || got.RefundID != "30000001" || len(got.Lines) != 1 ||
		got.Lines[0].Code != "A1" || got.Lines[0].Qty != 1 {
		t.Fatalf("FetchRefund = %+v, %v", got, err)
	}
	var ce *market.CallError
	if _, err := e.client.FetchRefund(ctx, "39999999"); !errors.As(err, &ce) || !errors.Is(err, market.ErrRefused) {
		t.Fatalf("FetchRefund of an unknown bill = %v", err)
	}
	if err := e.fake.RefundLines(b, []jddjfake.OrderLine{{Code: "A1", Qty: 2}}); err == nil {
		t.Fatal("refunding more units than bought succeeded")
	}
	if err := e.fake.CancelOrder(b, "不想要了"); err != nil {
		t.Fatal(err)
	}
	if p := e.nextPush(t); p.Kind != market.PushCancelled || p.OrderID != b || p.Status != market.StatusCancelled {
		t.Fatalf("userCancelOrder push = %+v", p)
	}
	if fo, _ := e.fake.Order(b); fo.CancelReason != "不想要了" || fo.DaySeq != 2 {
		t.Fatalf("cancelled order = %+v", fo)
	}
}

func TestPullOrders(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	since := e.clk.Now()
	e.fake.SetDropPushes(true)
	e.fake.AddShop("other")
	var want []string
	for i := 0; i < 130; i++ {
		e.clk.Add(time.Second)
		id, err := e.fake.PlaceOrder(shop, lines[:1])
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	if _, err := e.fake.PlaceOrder("other", lines); err != nil {
		t.Fatal(err)
	}
	e.clk.Add(time.Minute)
	ids, next, err := e.client.PullOrders(ctx, shop, "", since)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("PullOrders = %d ids, want %d (%v…)", len(ids), len(want), ids[:min(3, len(ids))])
	}
	newest := since.Add(130 * time.Second)
	if next != "v1:"+strconv.FormatInt(newest.Unix(), 10) {
		t.Fatalf("next cursor = %q", next)
	}
	e.clk.Add(time.Second)
	late, _ := e.fake.PlaceOrder(shop, lines)
	ids, _, err = e.client.PullOrders(ctx, shop, next, since)
	if err != nil || !reflect.DeepEqual(ids, []string{want[129], late}) {
		t.Fatalf("PullOrders from the cursor = %v, %v; want [%s %s]", ids, err, want[129], late)
	}
	if n := e.fake.Pushes(); n != 0 {
		t.Errorf("dropped pushes acknowledged: %d", n)
	}
	if _, _, err := e.client.PullOrders(ctx, shop, "garbage", since); err == nil {
		t.Error("a foreign cursor was accepted")
	}
}

func TestStock(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	if err := e.client.PushStock(ctx, shop, []market.StockLevel{{Code: "A1", Qty: 12}, {Code: "B2", Qty: 0}}); err != nil {
		t.Fatal(err)
	}
	if q, ok := e.fake.Stock(shop, "A1"); !ok || q != 12 {
		t.Fatalf("stock A1 = %d, %v", q, ok)
	}
	if q, ok := e.fake.Stock(shop, "B2"); !ok || q != 0 {
		t.Fatalf("stock B2 = %d, %v", q, ok)
	}
	err := e.client.PushStock(ctx, shop, []market.StockLevel{{Code: "A1", Qty: 5}, {Code: "", Qty: 3}})
	var ce *market.CallError
	if !errors.As(err, &ce) || ce.Kind != market.ErrRefused || len(ce.Failed) != 1 || ce.Failed[""] == "" {
		t.Fatalf("partial stock = %v", err)
	}
	if q, _ := e.fake.Stock(shop, "A1"); q != 5 {
		t.Fatalf("stock A1 after partial = %d", q)
	}
	if err := e.client.PushStock(ctx, "nowhere", []market.StockLevel{{Code: "A1", Qty: 1}}); kindOf(err) != market.ErrRefused {
		t.Fatalf("unknown station = %v", err)
	}
	if got := e.client.StockBatch(); got != 50 {
		t.Fatalf("StockBatch = %d", got)
	}
	big := make([]market.StockLevel, 51)
	for i := range big {
		big[i] = market.StockLevel{Code: "S" + strconv.Itoa(i+1), Qty: 1}
	}
	calls := e.fake.StockCalls()
	if err := e.client.PushStock(ctx, shop, big); err == nil || e.fake.StockCalls() != calls {
		t.Fatalf("51 levels = %v (calls %d → %d)", err, calls, e.fake.StockCalls())
	}
	// The fake refuses an oversized batch sent by hand.
	list := make([]string, 51)
	for i := range list {
		list[i] = `{"outSkuId":"S` + strconv.Itoa(i) + `","stockQty":1}`
	}
	form := jddj.SignedParams(appKey, secret, token, `{"stationNo":"`+shop+`","userPin":"op","skuStockList":[`+strings.Join(list, ",")+`]}`, e.clk.Now())
	resp, err := http.PostForm(e.jd.URL+"/djapi/"+jddj.PathStock, form)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"code":"10015"`) {
		t.Fatalf("oversized batch answered %s", body)
	}
	if _, ok := e.fake.Stock(shop, "S0"); ok {
		t.Fatal("an oversized batch was applied")
	}
}

func TestStockRateLimit(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	lvl := []market.StockLevel{{Code: "A1", Qty: 1}}
	used := e.fake.StockCalls()
	for i := used; i < jddjfake.StockCallsPerMinute; i++ {
		if err := e.client.PushStock(ctx, shop, lvl); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
	}
	err := e.client.PushStock(ctx, shop, lvl)
	var ce *market.CallError
	if !errors.As(err, &ce) || ce.Kind != market.ErrRateLimited || ce.RetryAfter != time.Minute || ce.Code != "10032" {
		t.Fatalf("call 301 = %v", err)
	}
	e.clk.Add(59 * time.Second)
	if err := e.client.PushStock(ctx, shop, lvl); kindOf(err) != market.ErrRateLimited {
		t.Fatalf("call during the lock-out = %v", err)
	}
	e.clk.Add(2 * time.Second)
	if err := e.client.PushStock(ctx, shop, lvl); err != nil {
		t.Fatalf("call after the lock-out = %v", err)
	}
	if n := e.fake.StockCalls(); n != 303 {
		t.Errorf("stock calls = %d, want 303", n)
	}
}

func TestCallErrors(t *testing.T) {
	e := newEnv(t, false)
	ctx := context.Background()
	id, _ := e.fake.PlaceOrder(shop, lines)
	ref := market.OrderRef{ShopID: shop, OrderID: id}
	for name, c := range map[string]*jddj.Client{
		"bad secret": e.newClient(t, strings.Repeat("x", 32), token),
		"bad token":  e.newClient(t, secret, "other"),
	} {
		err := c.Confirm(ctx, ref)
		if kindOf(err) != market.ErrAuth || !errors.Is(err, market.ErrAuth) {
			t.Errorf("%s: %v, want ErrAuth", name, err)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the secret is in the error", name)
		}
	}
	skewed, _ := jddj.New(jddj.Config{AppKey: appKey, AppSecret: secret, Token: token, Operator: "op", Base: e.jd.URL,
		Clock: func() time.Time { return e.clk.Now().Add(-7 * time.Minute) }})
	if err := skewed.Confirm(ctx, ref); kindOf(err) != market.ErrRefused {
		t.Errorf("skewed clock = %v", err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(502) }))
	defer down.Close()
	c, _ := jddj.New(jddj.Config{AppKey: appKey, AppSecret: secret, Token: token, Operator: "op", Base: down.URL})
	if err := c.Confirm(ctx, ref); err == nil || kindOf(err) != nil {
		t.Errorf("502 = %v, want a transient error", err)
	}
	if _, err := jddj.New(jddj.Config{AppKey: appKey, AppSecret: secret, Token: token}); err == nil {
		t.Error("New without an operator succeeded")
	}
}

func form(e *env, body string) []byte { return []byte(e.fake.PushForm(body).Encode()) }

func TestReadPush(t *testing.T) {
	e := newEnv(t, false)
	good := `{"billId":"2600000000001","statusId":"41000","timestamp":"2026-03-01 10:00:00"}`
	in := market.Inbound{Method: "POST", Event: jddj.MsgNewOrder, Body: form(e, good)}
	p, err := e.client.ReadPush(in)
	if err != nil || p.Kind != market.PushOrder || p.OrderID != "2600000000001" || p.ID != "newOrder:2600000000001:41000:2026-03-01 10:00:00" {
		t.Fatalf("good push = %+v, %v", p, err)
	}
	forged := e.fake.PushForm(good)
	forged.Set("jd_param_json", strings.Replace(good, "41000", "90000", 1))
	if _, err := e.client.ReadPush(market.Inbound{Event: jddj.MsgNewOrder, Body: []byte(forged.Encode())}); !errors.Is(err, market.ErrBadSignature) {
		t.Errorf("forged push = %v", err)
	}
	other := jddjfake.New(jddjfake.Options{AppKey: "another", AppSecret: secret, Token: token})
	if _, err := e.client.ReadPush(market.Inbound{Event: jddj.MsgNewOrder, Body: []byte(other.PushForm(good).Encode())}); !errors.Is(err, market.ErrForeign) {
		t.Errorf("other app's push = %v", err)
	}
	for name, in := range map[string]market.Inbound{
		"unknown msg": {Event: "orderAdjust", Body: form(e, good)},
		"no billId":   {Event: jddj.MsgNewOrder, Body: form(e, `{"statusId":"41000"}`)},
		"not json":    {Event: jddj.MsgNewOrder, Body: form(e, `billId=1`)},
		"no sign":     {Event: jddj.MsgNewOrder, Body: []byte("app_key=" + appKey)},
	} {
		if _, err := e.client.ReadPush(in); !errors.Is(err, market.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	// Text a buyer typed never breaks a genuine push.
	odd := `{"billId":"2600000000002","statusId":"20030","timestamp":"2026-03-01 10:00:00","note":"<script>&%+ 退"}`
	if p, err := e.client.ReadPush(market.Inbound{Event: jddj.MsgApplyCancelOrder, Body: form(e, odd)}); err != nil || p.Status != market.StatusUnknown {
		t.Errorf("odd push = %+v, %v", p, err)
	}
	// An encrypted push signed over its decrypted JSON (as some integrations verify) is accepted too.
	plain := e.fake.PushForm(good)
	enc, _ := jddj.Encrypt(secret, good)
	plain.Set("encrypt_jd_param_json", enc)
	plain.Del("jd_param_json")
	if p, err := e.client.ReadPush(market.Inbound{Event: jddj.MsgFinishOrder, Body: []byte(plain.Encode())}); err != nil || p.Kind != market.PushFinished {
		t.Errorf("encrypted push signed over the plain JSON = %+v, %v", p, err)
	}
}

func TestReplyBytes(t *testing.T) {
	e := newEnv(t, false)
	for _, c := range []struct {
		err    error
		status int
		body   string
	}{
		{nil, 200, `{"code":"0","msg":"success","data":""}`},
		{market.ErrBadSignature, 400, `{"code":"10014","data":"","msg":"无效Sign签名"}`},
		{market.ErrForeign, 400, `{"code":"10013","data":"","msg":"无效Token令牌"}`},
		{market.ErrMalformed, 400, `{"code":"10015","data":"","msg":"API参数异常"}`},
		{market.ErrStale, 400, `{"code":"10015","data":"","msg":"API参数异常"}`},
		{market.ErrUnknownShop, 404, `{"code":"-1","data":"","msg":"门店未绑定"}`},
		{errors.New("database down"), 500, `{"code":"-10000","data":"","msg":"业务重试"}`},
	} {
		r := e.client.Reply(market.Push{}, c.err)
		if r.Status != c.status || string(r.Body) != c.body || r.ContentType != "application/json;charset=utf-8" {
			t.Errorf("Reply(%v) = %d %s", c.err, r.Status, r.Body)
		}
	}
}

func TestPushResentUntilExactAck(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		switch n {
		case 1:
			w.WriteHeader(500)
		case 2:
			_, _ = io.WriteString(w, `{"code":"0","msg":"ok","data":""}`) // not JD's exact ack
		default:
			_, _ = io.WriteString(w, jddj.Ack)
		}
	}))
	defer hub.Close()
	f := jddjfake.New(jddjfake.Options{AppKey: appKey, AppSecret: secret, Token: token, PushURL: hub.URL, RetryInterval: time.Millisecond})
	defer f.Close()
	f.AddShop(shop)
	if _, err := f.PlaceOrder(shop, lines); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.Pushes() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if f.Pushes() != 1 || attempts != 3 {
		t.Fatalf("pushes %d after %d attempts, want 1 after 3", f.Pushes(), attempts)
	}
}

func TestSandboxOrders(t *testing.T) {
	e := newEnv(t, false)
	resp, err := http.Post(e.jd.URL+"/sandbox/orders", "application/json",
		strings.NewReader(`{"shop_id":"`+shop+`","lines":[{"code":"A1","name":"苹果","qty":3,"price_fen":199}]}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), `{"order_id":"26`) {
		t.Fatalf("sandbox order: %d %s", resp.StatusCode, body)
	}
	p := e.nextPush(t)
	o, err := e.client.FetchOrder(context.Background(), shop, p.OrderID)
	if err != nil || o.TotalFen != 597 || o.PaidFen != 597 || o.Lines[0].Qty != 3 {
		t.Fatalf("sandbox order = %+v, %v", o, err)
	}
	resp, _ = http.Post(e.jd.URL+"/sandbox/orders", "application/json", strings.NewReader(`{"shop_id":"nowhere","lines":[{"code":"A1","qty":1}]}`))
	if resp.StatusCode != 400 {
		t.Fatalf("unknown shop: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
