package meituan_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/internal/testclock"
)

const (
	appID  = "6118"
	secret = "test-secret-6118"
	shopID = "S001"
)

// hub plays the o2ohub webhook: it hands each push to the connector and answers with its Reply.
type hub struct {
	t      *testing.T
	conn   *meituan.Client
	pushes chan market.Push
	mu     sync.Mutex
	// fail, while > 0, makes the hub answer a wrong acknowledgement (and counts down).
	fail     int
	attempts int
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.attempts++
	if h.fail > 0 {
		h.fail--
		h.mu.Unlock()
		w.Write([]byte(`{"data":"OK"}`))
		return
	}
	h.mu.Unlock()
	event := strings.TrimPrefix(r.URL.Path, "/webhooks/meituan/")
	in := market.Inbound{Method: r.Method, URL: "http://" + r.Host + r.URL.Path, Event: event, Query: r.URL.Query(),
		Body: body, ContentType: r.Header.Get("Content-Type")}
	p, err := h.conn.ReadPush(in)
	rep := h.conn.Reply(p, err)
	if err != nil {
		h.t.Errorf("hub: push %s refused: %v", event, err)
	} else {
		h.pushes <- p
	}
	w.Header().Set("Content-Type", rep.ContentType)
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
}

type env struct {
	fake  *meituanfake.Fake
	conn  *meituan.Client
	hub   *hub
	clock *testclock.Clock
	base  string
}

func setup(t *testing.T) *env {
	t.Helper()
	clk := testclock.New(time.Date(2026, 3, 14, 10, 0, 0, 0, time.UTC))
	h := &hub{t: t, pushes: make(chan market.Push, 100)}
	hubSrv := httptest.NewServer(h)
	t.Cleanup(hubSrv.Close)
	pushURL := hubSrv.URL + "/webhooks/meituan"
	f := meituanfake.New(meituanfake.Options{AppID: appID, AppSecret: secret, PushURL: pushURL, Clock: clk.Now,
		RetryInterval: 5 * time.Millisecond})
	t.Cleanup(f.Close)
	f.AddShop(shopID)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	conn, err := meituan.New(meituan.Config{AppID: appID, AppSecret: secret, Base: srv.URL + "/api/v1",
		PushURL: pushURL, Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.conn = conn
	return &env{fake: f, conn: conn, hub: h, clock: clk, base: srv.URL + "/api/v1"}
}

func (e *env) next(t *testing.T, kind market.PushKind) market.Push {
	t.Helper()
	select {
	case p := <-e.hub.pushes:
		if p.Kind != kind {
			t.Fatalf("push kind %q, want %q (%+v)", p.Kind, kind, p)
		}
		return p
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s push", kind)
	}
	return market.Push{}
}

var lines = []meituanfake.OrderLine{
	{Code: "C1", Name: "可口可乐 330ml", Qty: 2, PriceFen: 350},
	{Code: "C2", Name: "薯片 & 坚果 100%", Qty: 1, PriceFen: 1299},
}

func TestOrderFlow(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id, err := e.fake.PlaceOrder(shopID, lines)
	if err != nil {
		t.Fatal(err)
	}
	p := e.next(t, market.PushOrder)
	if p.OrderID != id || p.ShopID != shopID || p.Order == nil || p.SignedAt.Unix() != e.clock.Now().Unix() {
		t.Fatalf("push %+v", p)
	}
	o := *p.Order
	if o.TotalFen != 1999 || o.PaidFen != 1999 || o.SubsidyFen != 0 || o.CommissionFen != 159 {
		t.Errorf("amounts total %d paid %d subsidy %d commission %d", o.TotalFen, o.PaidFen, o.SubsidyFen, o.CommissionFen)
	}
	if o.DaySeq != 1 || o.Status != market.StatusNew || o.Platform != market.Meituan {
		t.Errorf("order %+v", o)
	}
	if o.Recipient != "张三(先生)" || o.Address != "北京市朝阳区望京街10号 3号楼 & 5单元 #1201" || o.Remark != "少放辣 100% 谢谢+1" ||
		o.RecipientPhone != "13800000000_1234" {
		t.Errorf("text %q %q %q %q", o.Recipient, o.Address, o.Remark, o.RecipientPhone)
	}
	want := []market.Line{{Code: "C1", Name: "可口可乐 330ml", Qty: 2, PriceFen: 350}, {Code: "C2", Name: "薯片 & 坚果 100%", Qty: 1, PriceFen: 1299}}
	if fmt.Sprint(o.Lines) != fmt.Sprint(want) {
		t.Errorf("lines %+v", o.Lines)
	}
	if !o.PlacedAt.Equal(e.clock.Now().Truncate(time.Second)) {
		t.Errorf("placed %v", o.PlacedAt)
	}

	ref := market.OrderRef{ShopID: shopID, OrderID: id}
	if err := e.conn.Prepared(ctx, ref); !errors.Is(err, market.ErrRefused) {
		t.Errorf("prepared before confirm: %v", err)
	}
	if err := e.conn.Confirm(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if p := e.next(t, market.PushConfirmed); p.OrderID != id || p.ShopID != shopID {
		t.Errorf("confirmed push %+v", p)
	}
	var ce *market.CallError
	if err := e.conn.Confirm(ctx, ref); !errors.As(err, &ce) || ce.Kind != market.ErrRefused || ce.Code != "808" {
		t.Errorf("second confirm: %v", err)
	}
	if err := e.conn.Prepared(ctx, ref); err != nil {
		t.Fatal(err)
	}
	got, err := e.conn.FetchOrder(ctx, shopID, id)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != market.StatusConfirmed || got.TotalFen != 1999 || got.PaidFen != 1999 || got.CommissionFen != 159 ||
		got.DaySeq != 1 || got.OrderID != id || fmt.Sprint(got.Lines) != fmt.Sprint(want) {
		t.Errorf("fetched %+v", got)
	}
	if fo, _ := e.fake.Order(id); fo.Status != "prepared" {
		t.Errorf("fake status %s", fo.Status)
	}
	if err := e.fake.FinishOrder(id); err != nil {
		t.Fatal(err)
	}
	if p := e.next(t, market.PushFinished); p.OrderID != id || p.Status != market.StatusCompleted {
		t.Errorf("finished %+v", p)
	}
	if got, _ := e.conn.FetchOrder(ctx, shopID, id); got.Status != market.StatusCompleted {
		t.Errorf("status %s", got.Status)
	}
	if _, err := e.conn.FetchOrder(ctx, shopID, "1"); !errors.Is(err, market.ErrRefused) {
		t.Errorf("unknown order: %v", err)
	}
}

func TestRejectAndBuyerCancel(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, c := range []struct {
		soldOut bool
		code    string
	}{{true, "2009"}, {false, "2007"}} {
		id, _ := e.fake.PlaceOrder(shopID, lines)
		e.next(t, market.PushOrder)
		if err := e.conn.Reject(ctx, market.OrderRef{ShopID: shopID, OrderID: id}, "卖完了", c.soldOut); err != nil {
			t.Fatal(err)
		}
		fo, _ := e.fake.Order(id)
		if fo.Status != "cancelled" || fo.CancelCode != c.code || fo.CancelReason != "卖完了" {
			t.Errorf("rejected %+v", fo)
		}
		if p := e.next(t, market.PushCancelled); p.OrderID != id || p.Reason != "卖完了" {
			t.Errorf("cancel push %+v", p)
		}
	}
	id, _ := e.fake.PlaceOrder(shopID, lines)
	e.next(t, market.PushOrder)
	if err := e.fake.CancelOrder(id, "不想要了"); err != nil {
		t.Fatal(err)
	}
	if p := e.next(t, market.PushCancelled); p.OrderID != id || p.Reason != "不想要了" || p.Status != market.StatusCancelled {
		t.Errorf("buyer cancel %+v", p)
	}
}

func TestRefunds(t *testing.T) {
	e := setup(t)
	id, _ := e.fake.PlaceOrder(shopID, lines)
	e.next(t, market.PushOrder)
	if err := e.fake.RefundLines(id, []meituanfake.OrderLine{{Code: "C1", Qty: 1}}); err != nil {
		t.Fatal(err)
	}
	p := e.next(t, market.PushRefund)
	if p.OrderID != id || fmt.Sprint(p.Lines) != fmt.Sprint([]market.Line{{Code: "C1", Name: "可口可乐 330ml", Qty: 1, PriceFen: 350}}) {
		t.Errorf("partial refund %+v", p)
	}
	if err := e.fake.RefundLines(id, []meituanfake.OrderLine{{Code: "C1", Qty: 2}}); err == nil {
		t.Error("refunded more than left")
	}
	if err := e.fake.RefundLines(id, []meituanfake.OrderLine{{Code: "C1", Qty: 1}, {Code: "C2", Qty: 1}}); err != nil {
		t.Fatal(err)
	}
	if p := e.next(t, market.PushCancelled); p.OrderID != id {
		t.Errorf("whole refund %+v", p)
	}
	if fo, _ := e.fake.Order(id); fo.Status != "cancelled" || len(fo.Lines) != 0 {
		t.Errorf("fake %+v", fo)
	}
}

func TestCallErrors(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id, _ := e.fake.PlaceOrder(shopID, lines)
	ref := market.OrderRef{ShopID: shopID, OrderID: id}
	for _, c := range []struct{ id, secret string }{{appID, "wrong"}, {"9999", secret}} {
		bad, _ := meituan.New(meituan.Config{AppID: c.id, AppSecret: c.secret, Base: e.base})
		err := bad.Confirm(ctx, ref)
		var ce *market.CallError
		if !errors.As(err, &ce) || !errors.Is(err, market.ErrAuth) {
			t.Errorf("%s: %v", c.id, err)
		}
		if strings.Contains(err.Error(), c.secret) {
			t.Errorf("secret in error %q", err)
		}
	}
	e.fake.FailNext(meituan.PathConfirm, meituan.CodeRateLimited)
	var ce *market.CallError
	if err := e.conn.Confirm(ctx, ref); !errors.As(err, &ce) || !errors.Is(err, market.ErrRateLimited) || ce.RetryAfter != 2*time.Second || ce.Code != "711" {
		t.Errorf("rate limit: %v", err)
	}
	e.fake.FailNext(meituan.PathConfirm, meituan.CodeSystem)
	err := e.conn.Confirm(ctx, ref)
	if !errors.As(err, &ce) || ce.Kind != nil || errors.Is(err, market.ErrRefused) || errors.Is(err, market.ErrAuth) {
		t.Errorf("system error: %v", err)
	}
	if err := e.conn.Confirm(ctx, ref); err != nil {
		t.Errorf("confirm after the faults: %v", err)
	}
	if n := e.fake.Calls(meituan.PathConfirm); n != 5 {
		t.Errorf("confirm calls %d, want 5", n)
	}
	down, _ := meituan.New(meituan.Config{AppID: appID, AppSecret: secret, Base: "http://127.0.0.1:1/api/v1"})
	if err := down.Confirm(ctx, ref); err == nil || errors.As(err, &ce) {
		t.Errorf("network error: %v", err)
	}
}

func TestPushStock(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	if e.conn.StockBatch() != 200 {
		t.Fatalf("batch %d", e.conn.StockBatch())
	}
	if err := e.conn.PushStock(ctx, shopID, []market.StockLevel{{Code: "C1", Qty: 12}, {Code: "C2", Qty: 0}}); err != nil {
		t.Fatal(err)
	}
	if q, ok := e.fake.Stock(shopID, "C1"); !ok || q != 12 {
		t.Errorf("C1 %d %v", q, ok)
	}
	if q, ok := e.fake.Stock(shopID, "C2"); !ok || q != 0 {
		t.Errorf("C2 %d %v", q, ok)
	}
	e.fake.DelistSKU(shopID, "GONE")
	err := e.conn.PushStock(ctx, shopID, []market.StockLevel{{Code: "C1", Qty: 7}, {Code: "GONE", Qty: 3}})
	var ce *market.CallError
	if !errors.As(err, &ce) || ce.Kind != market.ErrRefused || len(ce.Failed) != 1 || ce.Failed["GONE"] != "1015 不存在此菜品sku" {
		t.Errorf("partial: %v %+v", err, ce)
	}
	if q, _ := e.fake.Stock(shopID, "C1"); q != 7 {
		t.Errorf("C1 after partial %d", q)
	}
	if err := e.conn.PushStock(ctx, shopID, []market.StockLevel{{Code: "GONE", Qty: 3}}); !errors.As(err, &ce) || ce.Code != "result_code 3" || ce.Failed["GONE"] == "" {
		t.Errorf("all refused: %v", err)
	}
	if err := e.conn.PushStock(ctx, "NOPE", []market.StockLevel{{Code: "C1", Qty: 1}}); !errors.As(err, &ce) || ce.Code != "803" || !errors.Is(err, market.ErrRefused) {
		t.Errorf("unknown shop: %v", err)
	}
	before := e.fake.StockCalls()
	big := make([]market.StockLevel, 201)
	for i := range big {
		big[i] = market.StockLevel{Code: fmt.Sprintf("K%d", i), Qty: 1}
	}
	if err := e.conn.PushStock(ctx, shopID, big); err == nil {
		t.Error("201 levels sent")
	}
	if err := e.conn.PushStock(ctx, shopID, big[:200]); err != nil {
		t.Errorf("200 levels: %v", err)
	}
	if n := e.fake.StockCalls(); n != before+1 {
		t.Errorf("stock calls %d, want %d", n, before+1)
	}
}

func TestPullFindsDroppedOrders(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	e.fake.SetDropPushes(true)
	start := e.clock.Now()
	var day1 []string
	for range 3 {
		id, _ := e.fake.PlaceOrder(shopID, lines)
		day1 = append(day1, id)
	}
	ids, cur, err := e.conn.PullOrders(ctx, shopID, "", start)
	if err != nil || fmt.Sprint(ids) != fmt.Sprint(day1) || cur != "20260314:3" {
		t.Fatalf("pull: %v %q %v", ids, cur, err)
	}
	if ids, cur2, err := e.conn.PullOrders(ctx, shopID, cur, start); err != nil || len(ids) != 0 || cur2 != cur {
		t.Fatalf("pull again: %v %q %v", ids, cur2, err)
	}
	// One more the same day, then the day turns and another comes.
	late, _ := e.fake.PlaceOrder(shopID, lines)
	e.clock.Add(24 * time.Hour)
	next, _ := e.fake.PlaceOrder(shopID, lines)
	ids, cur, err = e.conn.PullOrders(ctx, shopID, cur, start)
	if err != nil || fmt.Sprint(ids) != fmt.Sprint([]string{late, next}) || cur != "20260315:1" {
		t.Fatalf("across days: %v %q %v", ids, cur, err)
	}
	if fo, _ := e.fake.Order(next); fo.DaySeq != 1 {
		t.Errorf("day seq %d", fo.DaySeq)
	}
	if e.fake.Pushes() != 0 {
		t.Errorf("dropped pushes delivered: %d", e.fake.Pushes())
	}
	if _, _, err := e.conn.PullOrders(ctx, shopID, "garbage", start); err == nil {
		t.Error("bad cursor taken")
	}
}

func TestPushResentUntilExactAck(t *testing.T) {
	e := setup(t)
	e.hub.mu.Lock()
	e.hub.fail = 2
	e.hub.mu.Unlock()
	id, _ := e.fake.PlaceOrder(shopID, lines)
	if p := e.next(t, market.PushOrder); p.OrderID != id {
		t.Fatal(p)
	}
	deadline := time.Now().Add(2 * time.Second)
	for e.fake.Pushes() != 1 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	if e.fake.Pushes() != 1 || e.hub.attempts != 3 {
		t.Errorf("pushes %d attempts %d", e.fake.Pushes(), e.hub.attempts)
	}
}

func TestReadPushRefusals(t *testing.T) {
	e := setup(t)
	pushURL := "https://hub.example.com/webhooks/meituan"
	conn, _ := meituan.New(meituan.Config{AppID: appID, AppSecret: secret, PushURL: pushURL})
	params := url.Values{"order_id": {"27000000000000001"}, "reason": {"用户取消"}, "reason_code": {"1102"},
		"app_id": {appID}, "timestamp": {"1700000000"}}
	signed := func(v url.Values, key string) url.Values {
		c := url.Values{}
		for k, vs := range v {
			c[k] = append([]string(nil), vs...)
		}
		c.Set("sig", meituan.Sign(pushURL+"/cancel", c, key))
		return c
	}
	in := func(v url.Values, event string) market.Inbound {
		return market.Inbound{Method: "POST", URL: pushURL + "/" + event, Event: event, Body: []byte(meituanfake.EncodePush(v)),
			ContentType: "application/x-www-form-urlencoded"}
	}
	p, err := conn.ReadPush(in(signed(params, secret), "cancel"))
	if err != nil || p.Kind != market.PushCancelled || p.OrderID != "27000000000000001" || p.Reason != "用户取消" ||
		p.SignedAt.Unix() != 1700000000 || p.ShopID != "" {
		t.Fatalf("good push: %+v %v", p, err)
	}
	forged := signed(params, secret)
	forged.Set("reason", "改过的")
	if _, err := conn.ReadPush(in(forged, "cancel")); !errors.Is(err, market.ErrBadSignature) {
		t.Errorf("forged: %v", err)
	}
	if _, err := conn.ReadPush(in(signed(params, "other"), "cancel")); !errors.Is(err, market.ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}
	other := url.Values{}
	for k, v := range params {
		other[k] = v
	}
	other.Set("app_id", "7000")
	if _, err := conn.ReadPush(in(signed(other, secret), "cancel")); !errors.Is(err, market.ErrForeign) {
		t.Errorf("foreign: %v", err)
	}
	if _, err := conn.ReadPush(in(signed(params, secret), "delivering")); !errors.Is(err, market.ErrMalformed) {
		t.Errorf("unknown event: %v", err)
	}
	bad := in(signed(params, secret), "cancel")
	bad.Body = []byte("%zz")
	if _, err := conn.ReadPush(bad); !errors.Is(err, market.ErrMalformed) {
		t.Errorf("bad form: %v", err)
	}
	// A GET push carries everything in the query.
	get := market.Inbound{Method: "GET", URL: pushURL + "/cancel", Event: "cancel", Query: signed(params, secret)}
	if p, err := conn.ReadPush(get); err != nil || p.Kind != market.PushCancelled {
		t.Errorf("GET push: %+v %v", p, err)
	}
	for _, method := range []string{"GET", "POST"} {
		p, err := conn.ReadPush(market.Inbound{Method: method, URL: pushURL + "/paid", Event: "paid"})
		if err != nil || p.Kind != market.PushCheck {
			t.Errorf("URL check %s: %+v %v", method, p, err)
		}
	}
	for _, c := range []struct {
		err    error
		status int
		body   string
	}{
		{nil, 200, `{"data":"ok"}`},
		{market.ErrBadSignature, 403, `{"data":"ng","error":{"code":703,"msg":"signature error"}}`},
		{market.ErrForeign, 403, `{"data":"ng","error":{"code":702,"msg":"app_id mismatch"}}`},
		{market.ErrMalformed, 400, `{"data":"ng","error":{"code":701,"msg":"malformed push"}}`},
		{market.ErrStale, 400, `{"data":"ng","error":{"code":701,"msg":"stale timestamp"}}`},
		{market.ErrUnknownShop, 400, `{"data":"ng","error":{"code":803,"msg":"shop not bound"}}`},
		{errors.New("db down"), 500, `{"data":"ng","error":{"code":700,"msg":"system error"}}`},
	} {
		r := e.conn.Reply(market.Push{}, c.err)
		if r.Status != c.status || string(r.Body) != c.body || r.ContentType != "application/json" {
			t.Errorf("Reply(%v) = %d %s", c.err, r.Status, r.Body)
		}
	}
}

func TestSandboxEndpoint(t *testing.T) {
	e := setup(t)
	srv := httptest.NewServer(e.fake)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/sandbox/orders", "application/json",
		strings.NewReader(`{"shop_id":"S001","lines":[{"code":"C9","name":"水","qty":3,"price_fen":200}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	p := e.next(t, market.PushOrder)
	if resp.StatusCode != 200 || string(b) != `{"order_id":"`+p.OrderID+`"}`+"\n" || p.Order.PaidFen != 600 {
		t.Errorf("sandbox: %d %s %+v", resp.StatusCode, b, p.Order)
	}
}
