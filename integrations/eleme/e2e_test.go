package eleme_test

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
	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/eleme/elemefake"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/internal/testclock"
)

const (
	source = "62863"
	secret = "s3cr3t"
	shopID = "store-001"
)

// hub plays the o2ohub webhook: ReadPush, then Reply. sabotage > 0 answers that many deliveries with a
// wrong acknowledgement first.
type hub struct {
	c        *eleme.Client
	mu       sync.Mutex
	pushes   []market.Push
	hits     int
	sabotage int
}

func (h *hub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	p, err := h.c.ReadPush(market.Inbound{Method: r.Method, URL: "https://hub.example.com/webhooks/eleme",
		Query: r.URL.Query(), Body: body, ContentType: r.Header.Get("Content-Type")})
	h.mu.Lock()
	h.hits++
	bad := h.sabotage > 0
	if bad {
		h.sabotage--
	}
	if err == nil && !bad {
		h.pushes = append(h.pushes, p)
	}
	h.mu.Unlock()
	if bad {
		w.Write([]byte(`{"body":{"errno":0,"error":"success"},"cmd":"resp.other"}`))
		return
	}
	rep := h.c.Reply(p, err)
	w.Header().Set("Content-Type", rep.ContentType)
	w.WriteHeader(rep.Status)
	w.Write(rep.Body)
}

func (h *hub) got() []market.Push {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]market.Push(nil), h.pushes...)
}

type env struct {
	fake *elemefake.Fake
	c    *eleme.Client
	hub  *hub
	clk  *testclock.Clock
	base string
}

func setup(t *testing.T) *env {
	t.Helper()
	clk := testclock.New(time.Date(2026, 3, 1, 10, 0, 0, 0, cn.Zone))
	h := &hub{}
	hubSrv := httptest.NewServer(h)
	t.Cleanup(hubSrv.Close)
	f := elemefake.New(elemefake.Options{Source: source, Secret: secret, PushURL: hubSrv.URL + "/webhooks/eleme",
		Clock: clk.Now, RetryInterval: 5 * time.Millisecond})
	t.Cleanup(f.Close)
	f.AddShop(shopID)
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := eleme.New(eleme.Config{Source: source, Secret: secret, Base: srv.URL + "/", Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	h.c = c
	return &env{fake: f, c: c, hub: h, clk: clk, base: srv.URL + "/"}
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(2 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func kindOf(err error) error {
	var ce *market.CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return nil
}

func TestOrderLifecycle(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	id, err := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{
		{Code: "A-1", Name: "矿泉水 550ml", Qty: 2, PriceFen: 1250}, {Code: "B-2", Name: "面包", Qty: 1, PriceFen: 399}})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "order.create", func() bool { return len(e.hub.got()) == 1 })
	p := e.hub.got()[0]
	if p.Kind != market.PushOrder || p.OrderID != id || p.Order != nil || p.Platform != market.Eleme ||
		!p.SignedAt.Equal(e.clk.Now().Truncate(time.Second)) || p.ID == "" {
		t.Fatalf("push = %+v", p)
	}
	o, err := e.c.FetchOrder(ctx, shopID, id)
	if err != nil {
		t.Fatal(err)
	}
	want := market.Order{Platform: market.Eleme, OrderID: id, ShopID: shopID, DaySeq: 1, Status: market.StatusNew,
		TotalFen: 2899, PaidFen: 2899, SubsidyFen: 0, CommissionFen: 231, Recipient: "顾客",
		RecipientPhone: "13800000000,1234", Address: "测试路 1 号", PlacedAt: e.clk.Now()}
	lines := o.Lines
	o.Lines = nil
	if !o.PlacedAt.Equal(want.PlacedAt) {
		t.Fatalf("PlacedAt %v, want %v", o.PlacedAt, want.PlacedAt)
	}
	o.PlacedAt = want.PlacedAt
	if fmt.Sprint(o) != fmt.Sprint(want) {
		t.Fatalf("order\n got %+v\nwant %+v", o, want)
	}
	if len(lines) != 2 || lines[0].Code != "A-1" || lines[0].Qty != 2 || lines[0].PriceFen != 1250 ||
		lines[0].Name != "矿泉水 550ml" || lines[0].PlatformSKU == "" || lines[1].Code != "B-2" || lines[1].PriceFen != 399 {
		t.Fatalf("lines %+v", lines)
	}

	ref := market.OrderRef{ShopID: shopID, OrderID: id}
	if err := e.c.Prepared(ctx, ref); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("prepared before confirm: %v", err)
	}
	if err := e.c.Confirm(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Confirm(ctx, ref); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("second confirm: %v", err)
	}
	if err := e.c.Prepared(ctx, ref); err != nil {
		t.Fatal(err)
	}
	if fo, _ := e.fake.Order(id); fo.Status != "prepared" {
		t.Fatalf("fake status %q", fo.Status)
	}
	if o, _ := e.c.FetchOrder(ctx, shopID, id); o.Status != market.StatusConfirmed {
		t.Fatalf("status after pickcomplete %q", o.Status)
	}
	if err := e.fake.RefundLines(id, []elemefake.OrderLine{{Code: "A-1", Qty: 1}}); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.FinishOrder(id); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refund and finish", func() bool { return len(e.hub.got()) == 3 })
	got := e.hub.got()
	var refund, finish market.Push
	for _, p := range got[1:] {
		switch p.Kind {
		case market.PushRefund:
			refund = p
		case market.PushFinished:
			finish = p
		}
	}
	if len(refund.Lines) != 1 || refund.Lines[0].Code != "A-1" || refund.Lines[0].Qty != 1 || refund.OrderID != id || refund.Reason != "商户同意退单" {
		t.Fatalf("refund push %+v", refund)
	}
	if finish.OrderID != id || finish.Status != market.StatusCompleted {
		t.Fatalf("finish push %+v", finish)
	}
	// The fake counts an acknowledgement once the hub's answer is back, a moment after the hub saw the push.
	eventually(t, "three acknowledged pushes", func() bool { return e.fake.Pushes() == 3 })
	if n := e.fake.Calls(eleme.CmdOrderConfirm); n != 2 {
		t.Fatalf("confirm calls %d", n)
	}
}

func TestRejectAndBuyerCancel(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	a, _ := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	b, _ := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	c, _ := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	if err := e.c.Reject(ctx, market.OrderRef{OrderID: a}, "", true); err != nil {
		t.Fatal(err)
	}
	if err := e.c.Reject(ctx, market.OrderRef{OrderID: b}, "门店停电", false); err != nil {
		t.Fatal(err)
	}
	fa, _ := e.fake.Order(a)
	fb, _ := e.fake.Order(b)
	if fa.Status != "cancelled" || fa.CancelCode != "3" || fa.CancelReason != "商品已售完" {
		t.Fatalf("sold out: %+v", fa)
	}
	if fb.Status != "cancelled" || fb.CancelCode != "-1" || fb.CancelReason != "门店停电" {
		t.Fatalf("custom: %+v", fb)
	}
	if err := e.c.Reject(ctx, market.OrderRef{OrderID: a}, "x", false); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("reject twice: %v", err)
	}
	if o, _ := e.c.FetchOrder(ctx, shopID, a); o.Status != market.StatusCancelled {
		t.Fatalf("status %q", o.Status)
	}
	if err := e.fake.CancelOrder(c, "不想要了"); err != nil {
		t.Fatal(err)
	}
	// The fake pushes each message from its own goroutine: the cancel may overtake an order.create.
	eventually(t, "cancel push", func() bool { return len(e.hub.got()) == 4 })
	var cancels []market.Push
	for _, p := range e.hub.got() {
		if p.Kind != market.PushOrder {
			cancels = append(cancels, p)
		}
	}
	if len(cancels) != 1 || cancels[0].Kind != market.PushCancelled || cancels[0].OrderID != c || cancels[0].Status != market.StatusCancelled {
		t.Fatalf("pushes besides the orders %+v, want c's cancel", cancels)
	}
	if _, err := e.c.FetchOrder(ctx, shopID, "404"); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("unknown order: %v", err)
	}
}

func TestCallErrors(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	for _, cfg := range []eleme.Config{{Source: source, Secret: "wrong"}, {Source: "99999", Secret: secret}} {
		cfg.Base, cfg.Clock = e.base, e.clk.Now
		c, _ := eleme.New(cfg)
		err := c.Confirm(ctx, market.OrderRef{OrderID: "1"})
		if !errors.Is(err, market.ErrAuth) || strings.Contains(err.Error(), secret) {
			t.Fatalf("bad credentials: %v", err)
		}
	}
	e.fake.Throttle(time.Minute)
	err := e.c.PushStock(ctx, shopID, []market.StockLevel{{Code: "A", Qty: 1}})
	var ce *market.CallError
	if !errors.As(err, &ce) || ce.Kind != market.ErrRateLimited || ce.RetryAfter <= 0 {
		t.Fatalf("throttled: %v", err)
	}
	e.clk.Add(61 * time.Second)
	if err := e.c.PushStock(ctx, shopID, []market.StockLevel{{Code: "A", Qty: 1}}); err != nil {
		t.Fatalf("after the throttle: %v", err)
	}
	if n := e.fake.StockCalls(); n != 2 {
		t.Fatalf("stock calls %d", n)
	}
	if _, err := eleme.New(eleme.Config{Source: source}); err == nil {
		t.Fatal("New without a secret")
	}
	// A platform that is down is a transient failure.
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer down.Close()
	c, _ := eleme.New(eleme.Config{Source: source, Secret: secret, Base: down.URL})
	if err := c.Confirm(ctx, market.OrderRef{OrderID: "1"}); err == nil || kindOf(err) != nil {
		t.Fatalf("502: %v", err)
	}
}

func TestStock(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	err := e.c.PushStock(ctx, shopID, []market.StockLevel{{Code: "A", Qty: 12}, {Code: "B", Qty: 100000}, {Code: "C", Qty: -3}})
	if err != nil {
		t.Fatal(err)
	}
	for code, want := range map[string]int64{"A": 12, "B": 99999, "C": 0} {
		if q, ok := e.fake.Stock(shopID, code); !ok || q != want {
			t.Errorf("stock %s = %d %v, want %d", code, q, ok, want)
		}
	}
	// Over the batch: refused before any call.
	many := make([]market.StockLevel, 101)
	for i := range many {
		many[i] = market.StockLevel{Code: fmt.Sprintf("S%03d", i), Qty: 1}
	}
	if err := e.c.PushStock(ctx, shopID, many); !errors.Is(err, market.ErrRefused) || e.fake.StockCalls() != 1 {
		t.Fatalf("101 levels: %v, calls %d", err, e.fake.StockCalls())
	}
	if e.c.StockBatch() != 100 {
		t.Fatal("StockBatch")
	}
	// The fake itself refuses 101 entries, as the platform does.
	pairs := make([]string, 101)
	for i := range pairs {
		pairs[i] = fmt.Sprintf("S%03d:1", i)
	}
	if ans := rawCall(t, e, eleme.CmdStockBatch, fmt.Sprintf(`{"shop_id":%q,"custom_sku_id":%q}`, shopID, strings.Join(pairs, ";"))); !strings.Contains(ans, `"errno":1,`) {
		t.Fatalf("fake took 101: %s", ans)
	}
	if _, ok := e.fake.Stock(shopID, "S000"); ok {
		t.Fatal("a refused batch changed stock")
	}
	// One SKU the shop does not sell: the others are taken, Failed names it.
	e.fake.DeleteSKU(shopID, "B")
	err = e.c.PushStock(ctx, shopID, []market.StockLevel{{Code: "A", Qty: 5}, {Code: "B", Qty: 7}, {Code: "x;y", Qty: 1}})
	var ce *market.CallError
	if !errors.As(err, &ce) || ce.Kind != market.ErrRefused || ce.Code != "500001" || len(ce.Failed) != 2 ||
		!strings.Contains(ce.Failed["B"], "商品不存在") || ce.Failed["x;y"] == "" {
		t.Fatalf("partial: %#v", err)
	}
	if q, _ := e.fake.Stock(shopID, "A"); q != 5 {
		t.Fatalf("A = %d", q)
	}
	if err := e.c.PushStock(ctx, "no-such-shop", []market.StockLevel{{Code: "A", Qty: 1}}); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("unknown shop: %v", err)
	}
}

// rawCall signs and posts a command to the fake by hand and returns the answer.
func rawCall(t *testing.T, e *env, cmd, body string) string {
	t.Helper()
	en := eleme.Envelope{Cmd: cmd, Body: body, Source: source, Ticket: eleme.NewTicket(),
		Timestamp: fmt.Sprint(e.clk.Now().Unix()), Version: "3"}
	en.Sign = eleme.Sign(secret, en)
	resp, err := http.PostForm(e.base, en.Form())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestPullFindsDroppedOrders(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	since := e.clk.Now().Add(-time.Hour)
	e.fake.SetDropPushes(true)
	var placed []string
	for i := 0; i < 25; i++ {
		id, err := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
		if err != nil {
			t.Fatal(err)
		}
		placed = append(placed, id)
		e.clk.Add(time.Second)
	}
	ids, cur, err := e.c.PullOrders(ctx, shopID, "", since)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(ids) != fmt.Sprint(placed) {
		t.Fatalf("pulled %v\n want %v", ids, placed)
	}
	e.clk.Add(10 * time.Minute)
	late, _ := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	ids, _, err = e.c.PullOrders(ctx, shopID, cur, since)
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) == 0 || ids[len(ids)-1] != late {
		t.Fatalf("second pull %v, want it to end with %s", ids, late)
	}
	if e.fake.Pushes() != 0 || len(e.hub.got()) != 0 {
		t.Fatal("dropped pushes were delivered")
	}
	if _, _, err := e.c.PullOrders(ctx, shopID, "garbage", since); err == nil {
		t.Fatal("a foreign cursor was taken")
	}
}

func TestFakeResendsUntilExactAck(t *testing.T) {
	e := setup(t)
	e.hub.mu.Lock()
	e.hub.sabotage = 3
	e.hub.mu.Unlock()
	id, _ := e.fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	eventually(t, "ack", func() bool { return e.fake.Pushes() == 1 })
	e.hub.mu.Lock()
	hits := e.hub.hits
	e.hub.mu.Unlock()
	if hits != 4 || len(e.hub.got()) != 1 || e.hub.got()[0].OrderID != id {
		t.Fatalf("hits %d, pushes %+v", hits, e.hub.got())
	}
}

// push builds a signed push form body.
func push(cmd, body, src, sec, ticket, ts string) []byte {
	en := eleme.Envelope{Cmd: cmd, Body: body, Source: src, Ticket: ticket, Timestamp: ts, Version: "3"}
	en.Sign = eleme.Sign(sec, en)
	return []byte(en.Form().Encode())
}

func TestReadPushAndReplyBytes(t *testing.T) {
	c, _ := eleme.New(eleme.Config{Source: source, Secret: secret})
	const t1, t3 = "5001ABFE-43B1-C887-A7C7-EAF9F16F8D3D", "A1B2C3D4-0000-4000-8000-000000000003"
	in := func(b []byte) market.Inbound {
		return market.Inbound{Method: "POST", Body: b, ContentType: "application/x-www-form-urlencoded"}
	}

	p, err := c.ReadPush(in(push("order.create", `{"order_id":"2100000000000000001"}`, source, secret, t1, "1539940745")))
	if err != nil || p.Kind != market.PushOrder || p.OrderID != "2100000000000000001" || p.SignedAt.Unix() != 1539940745 {
		t.Fatalf("create: %+v %v", p, err)
	}
	// Expected signature: B='{"errno":0,"error":"success","data":{"source_order_id":"2100000000000000001"}}'; printf '%s' "body=$B&cmd=resp.order.create&encrypt=&secret=s3cr3t&source=62863&ticket=5001ABFE-43B1-C887-A7C7-EAF9F16F8D3D&timestamp=1539940745&version=3" | md5sum
	want := `{"body":{"errno":0,"error":"success","data":{"source_order_id":"2100000000000000001"}},"cmd":"resp.order.create","encrypt":"","sign":"14471090EF7190851E40AE002AE73C8F","source":"62863","ticket":"5001ABFE-43B1-C887-A7C7-EAF9F16F8D3D","timestamp":1539940745,"version":"3"}`
	if r := c.Reply(p, nil); r.Status != 200 || string(r.Body) != want || !strings.HasPrefix(r.ContentType, "application/json") {
		t.Fatalf("reply %d %s\nwant %s", r.Status, r.Body, want)
	}

	status := push("order.status.push", `{"order_id":"7","status":5}`, source, secret, t3, "1700000002")
	p, err = c.ReadPush(in(status))
	if err != nil || p.Kind != market.PushConfirmed || p.Status != market.StatusConfirmed {
		t.Fatalf("status: %+v %v", p, err)
	}
	// B='{"errno":0,"error":"success"}'; printf '%s' "body=$B&cmd=resp.order.status.push&encrypt=&secret=s3cr3t&source=62863&ticket=A1B2C3D4-0000-4000-8000-000000000003&timestamp=1700000002&version=3" | md5sum
	want = `{"body":{"errno":0,"error":"success"},"cmd":"resp.order.status.push","encrypt":"","sign":"117B2064E1F955649A8D440DB66DA1EC","source":"62863","ticket":"A1B2C3D4-0000-4000-8000-000000000003","timestamp":1700000002,"version":"3"}`
	if r := c.Reply(p, nil); r.Status != 200 || string(r.Body) != want {
		t.Fatalf("reply %s\nwant %s", r.Body, want)
	}

	// A forged signature: refused, and the refusal is a signed envelope with a 4xx.
	forged := push("order.status.push", `{"order_id":"7","status":5}`, source, "guess", t3, "1700000002")
	p, err = c.ReadPush(in(forged))
	if !errors.Is(err, market.ErrBadSignature) {
		t.Fatalf("forged: %v", err)
	}
	// B='{"errno":-1,"error":"sign check failed"}'; printf '%s' "body=$B&cmd=resp.order.status.push&encrypt=&secret=s3cr3t&source=62863&ticket=A1B2C3D4-0000-4000-8000-000000000003&timestamp=1700000002&version=3" | md5sum
	want = `{"body":{"errno":-1,"error":"sign check failed"},"cmd":"resp.order.status.push","encrypt":"","sign":"E7BEF972592E035350E363EA12CD5CEE","source":"62863","ticket":"A1B2C3D4-0000-4000-8000-000000000003","timestamp":1700000002,"version":"3"}`
	if r := c.Reply(p, err); r.Status != 400 || string(r.Body) != want {
		t.Fatalf("refusal %d %s\nwant %s", r.Status, r.Body, want)
	}
	if r := c.Reply(p, errors.New("database down")); r.Status != 500 {
		t.Fatalf("own failure status %d", r.Status)
	}
	if r := c.Reply(p, market.ErrUnknownShop); r.Status != 400 {
		t.Fatalf("unknown shop status %d", r.Status)
	}

	// Another app's push, signed with its own secret.
	if _, err := c.ReadPush(in(push("order.create", `{"order_id":"1"}`, "11111", "their", t1, "1"))); !errors.Is(err, market.ErrForeign) {
		t.Fatalf("foreign: %v", err)
	}
	// Malformed: not JSON, no order id, no sign, a broken form.
	for name, b := range map[string][]byte{
		"body":  push("order.create", `{"order_id":`, source, secret, t1, "1"),
		"id":    push("order.status.push", `{"status":5}`, source, secret, t1, "1"),
		"sign":  []byte("cmd=order.create&body=%7B%7D&source=62863&ticket=T&timestamp=1&version=3"),
		"form":  []byte("cmd=%zz"),
		"ts":    push("order.create", `{"order_id":"1"}`, source, secret, t1, "soon"),
		"empty": nil,
	} {
		if _, err := c.ReadPush(in(b)); !errors.Is(err, market.ErrMalformed) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Text in a genuine push never makes it fail; numbers may come as strings.
	p, err = c.ReadPush(in(push("order.partrefund.push",
		`{"order_id":2126598687722675268,"refund_id":"9349959209409","reason":"<b>&'\"\u0000","status":"20","type":2,"refund_products":[{"custom_sku_id":"1240377","sku_id":"15851261672253743","name":"聚荣 安神补脑液","number":"2","total_refund":1}]}`,
		source, secret, t1, "1589421127")))
	if err != nil || p.Kind != market.PushRefund || p.OrderID != "2126598687722675268" || len(p.Lines) != 1 ||
		p.Lines[0].Code != "1240377" || p.Lines[0].Qty != 2 || p.Lines[0].PlatformSKU != "15851261672253743" {
		t.Fatalf("partrefund: %+v %v", p, err)
	}
	for _, c2 := range []struct {
		cmd, body string
		kind      market.PushKind
		status    market.Status
	}{
		{"order.status.push", `{"order_id":"1","status":8}`, market.PushStatus, market.StatusDelivering},
		{"order.status.push", `{"order_id":"1","status":10}`, market.PushCancelled, market.StatusCancelled},
		{"order.status.push", `{"order_id":"1","status":9}`, market.PushFinished, market.StatusCompleted},
		{"order.status.push", `{"order_id":"1","status":15}`, market.PushStatus, market.StatusUnknown},
		{"order.user.cancel", `{"order_id":"1","type":10,"cancel_reason":"买错了"}`, market.PushStatus, market.StatusUnknown},
		{"order.user.cancel", `{"order_id":"1","type":60,"cancel_reason":"买错了"}`, market.PushCancelled, market.StatusCancelled},
		{"order.partrefund.push", `{"order_id":"1","status":10,"refund_products":[]}`, market.PushStatus, market.StatusUnknown},
		{"order.deliveryStatus.push", `{"order_id":"1","status":"3"}`, market.PushStatus, market.StatusUnknown},
		{"shop.bind.msg", `{"shop_list":[]}`, market.PushCheck, ""},
	} {
		p, err := c.ReadPush(in(push(c2.cmd, c2.body, source, secret, t1, "1")))
		if err != nil || p.Kind != c2.kind || p.Status != c2.status {
			t.Errorf("%s %s: %+v %v", c2.cmd, c2.body, p, err)
		}
	}
	// A push by GET, fields in the query.
	q, _ := url.ParseQuery(string(push("order.create", `{"order_id":"5"}`, source, secret, t1, "1")))
	if p, err := c.ReadPush(market.Inbound{Method: "GET", Query: q}); err != nil || p.OrderID != "5" {
		t.Fatalf("GET: %+v %v", p, err)
	}
}

func TestSandboxOrderForm(t *testing.T) {
	e := setup(t)
	resp, err := http.Post(e.base+"sandbox/orders", "application/json",
		strings.NewReader(`{"shop_id":"store-001","lines":[{"code":"A","name":"水","qty":3,"price_fen":150}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"order_id":"21`) {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	eventually(t, "push", func() bool { return e.fake.Pushes() == 1 })
	o, err := e.c.FetchOrder(context.Background(), shopID, e.hub.got()[0].OrderID)
	if err != nil || o.TotalFen != 450 || o.CommissionFen != 36 || o.Lines[0].Qty != 3 {
		t.Fatalf("%+v %v", o, err)
	}
	resp, _ = http.Post(e.base+"sandbox/orders", "application/json", strings.NewReader(`{"shop_id":"nope","lines":[{"code":"A","qty":1}]}`))
	if resp.StatusCode != 400 {
		t.Fatalf("unknown shop: %d", resp.StatusCode)
	}
	resp.Body.Close()
}
