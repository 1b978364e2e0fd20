package marketplaces_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/eleme/elemefake"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// fake is what the tests need of a platform fake; the three fakes share these controls.
type fake interface {
	http.Handler
	AddShop(shopID string)
	Close()
	SetDropPushes(bool)
	Stock(shopID, code string) (int64, bool)
	StockCalls() int
	Pushes() int
}

type platform struct {
	name  string
	fake  fake
	place func(shop string, code string, qty int64) (string, error)
	state func(id string) string
	// finish has the rider deliver the order.
	finish func(id string) error
	// refund has the platform refund qty units of code.
	refund func(id, code string, qty int64) error
	// down, while set, makes the platform's API answer 503 (its pushes still go out).
	down *atomic.Bool
}

// gate serves h unless down is set, when it answers 503 as a platform's API in an outage does.
func gate(down *atomic.Bool, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
			return
		}
		h.ServeHTTP(w, r)
	})
}

const shop = "shop-1"

// hub is a hub with the three platforms bound to store S01.
type hub struct {
	svc       *core.Service
	db        *models.DB
	ctx       context.Context
	platforms []platform
	// mt, el and jd are the three fakes, for the controls the fake interface does not share.
	mt *meituanfake.Fake
	el *elemefake.Fake
	jd *jddjfake.Fake
	// url is the hub's base URL; admin is its admin token.
	url string
	// delivered records every push the platforms delivered to the hub, so a test can deliver one again.
	mu        sync.Mutex
	delivered []delivery
}

// delivery is one push as a platform sent it.
type delivery struct {
	method, path, rawQuery, contentType string
	body                                []byte
}

// hubOptions changes how newHub builds the hub; the zero value is the default hub.
type hubOptions struct {
	// clock, when set, is the hub's clock and the connectors' and fakes' too (rate limits, timestamps).
	clock domain.Clock
	// pushInterval is the stock pool's push interval (default 1 ms).
	pushInterval time.Duration
}

const adminToken = "market-admin-token"

func newHub(t testing.TB, db *models.DB, options ...hubOptions) *hub {
	t.Helper()
	var o hubOptions
	if len(options) > 0 {
		o = options[0]
	}
	if o.pushInterval == 0 {
		o.pushInterval = time.Millisecond
	}
	var now func() time.Time // nil: the connectors' and fakes' own default, time.Now
	if o.clock != nil {
		now = o.clock.Now
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	h := &hub{db: db, ctx: context.Background()}
	var engine http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/webhooks/") {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			h.mu.Lock()
			h.delivered = append(h.delivered, delivery{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), body})
			h.mu.Unlock()
		}
		engine.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	h.svc = core.New(domain.NewEnv(db, o.clock, log), core.Options{PublicURL: srv.URL, MarketPushWindow: 15 * time.Minute, Market: market.Options{PushInterval: o.pushInterval}})
	engine = handlers.New(handlers.Deps{Service: h.svc, DB: db, Log: log, PublicURL: srv.URL, AdminToken: adminToken})
	h.url = srv.URL
	if _, err := h.svc.Catalog.PutStore(h.ctx, catalog.StoreInput{Code: "S01", Name: "人民广场店", Lat: 31.2354, Lng: 121.4757}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Catalog.PutProduct(h.ctx, catalog.ProductInput{SKU: "MILK-1L", Name: "光明鲜牛奶 1L", PriceFen: 1590}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.svc.Catalog.SetStock(h.ctx, "S01", "MILK-1L", 10, "test"); err != nil {
		t.Fatal(err)
	}
	retry := 20 * time.Millisecond

	mt := meituanfake.New(meituanfake.Options{AppID: "mt-app", AppSecret: "mt-secret", PushURL: srv.URL + "/webhooks/meituan", RetryInterval: retry, Clock: now})
	downs := &[3]atomic.Bool{}
	mtSrv := httptest.NewServer(gate(&downs[0], mt))
	mtConn, err := meituan.New(meituan.Config{AppID: "mt-app", AppSecret: "mt-secret", Base: mtSrv.URL + "/api/v1", Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	el := elemefake.New(elemefake.Options{Source: "el-source", Secret: "el-secret", PushURL: srv.URL + "/webhooks/eleme", RetryInterval: retry, Clock: now})
	elSrv := httptest.NewServer(gate(&downs[1], el))
	elConn, err := eleme.New(eleme.Config{Source: "el-source", Secret: "el-secret", Base: elSrv.URL + "/", Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	jd := jddjfake.New(jddjfake.Options{AppKey: "jd-key", AppSecret: "jd-secret-0123456789abcdef012345", Token: "jd-token", PushURL: srv.URL + "/webhooks/jddj", RetryInterval: retry, Clock: now})
	jdSrv := httptest.NewServer(gate(&downs[2], jd))
	jdConn, err := jddj.New(jddj.Config{AppKey: "jd-key", AppSecret: "jd-secret-0123456789abcdef012345", Token: "jd-token", Operator: "o2ohub", Base: jdSrv.URL, Clock: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mt.Close()
		el.Close()
		jd.Close()
		mtSrv.Close()
		elSrv.Close()
		jdSrv.Close()
	})
	h.mt, h.el, h.jd = mt, el, jd
	h.platforms = []platform{
		{market.Meituan, mt, func(s, c string, q int64) (string, error) {
			return mt.PlaceOrder(s, []meituanfake.OrderLine{{Code: c, Name: "牛奶", Qty: q, PriceFen: 1590}})
		}, func(id string) string { o, _ := mt.Order(id); return o.Status }, mt.FinishOrder,
			func(id, c string, q int64) error {
				return mt.RefundLines(id, []meituanfake.OrderLine{{Code: c, Qty: q}})
			}, &downs[0]},
		{market.Eleme, el, func(s, c string, q int64) (string, error) {
			return el.PlaceOrder(s, []elemefake.OrderLine{{Code: c, Name: "牛奶", Qty: q, PriceFen: 1590}})
		}, func(id string) string { o, _ := el.Order(id); return o.Status }, el.FinishOrder,
			func(id, c string, q int64) error { return el.RefundLines(id, []elemefake.OrderLine{{Code: c, Qty: q}}) }, &downs[1]},
		{market.JDDJ, jd, func(s, c string, q int64) (string, error) {
			return jd.PlaceOrder(s, []jddjfake.OrderLine{{Code: c, Name: "牛奶", Qty: q, PriceFen: 1590}})
		}, func(id string) string { o, _ := jd.Order(id); return o.Status }, jd.FinishOrder,
			func(id, c string, q int64) error { return jd.RefundLines(id, []jddjfake.OrderLine{{Code: c, Qty: q}}) }, &downs[2]},
	}
	for _, c := range []market.Connector{mtConn, elConn, jdConn} {
		h.svc.Market.Register(c)
	}
	for _, p := range h.platforms {
		p.fake.AddShop(shop)
		if _, err := h.svc.Market.PutShop(h.ctx, market.ShopInput{Platform: p.name, ShopID: shop, Store: "S01"}); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

// redeliver sends the last push delivered to path again, byte for byte, as a platform does when our
// acknowledgement was lost, and returns the hub's status.
func (h *hub) redeliver(t testing.TB, path string) int {
	t.Helper()
	h.mu.Lock()
	var d *delivery
	for i := len(h.delivered) - 1; i >= 0; i-- {
		if strings.HasPrefix(h.delivered[i].path, path) {
			d = &h.delivered[i]
			break
		}
	}
	h.mu.Unlock()
	if d == nil {
		t.Fatalf("no push was delivered to %s", path)
	}
	u := h.url + d.path
	if d.rawQuery != "" {
		u += "?" + d.rawQuery
	}
	req, _ := http.NewRequest(d.method, u, bytes.NewReader(d.body))
	req.Header.Set("Content-Type", d.contentType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// order waits for the hub to hold a platform order and returns it.
func (h *hub) order(t testing.TB, platform, id string) models.Order {
	t.Helper()
	var ord models.Order
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := h.db.Conn(h.ctx).Preload("Items").Where("source = ? AND platform_order_id = ?", platform, id).Take(&ord).Error
		if err == nil {
			return ord
		}
		if !models.IsNotFound(err) || time.Now().After(deadline) {
			t.Fatalf("%s order %s never reached the hub: %v", platform, id, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *hub) waitStatus(t testing.TB, platform, id string, want core.Status) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ord := h.order(t, platform, id)
		if core.Status(ord.Status) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s order %s is %s, want %s", platform, id, ord.Status, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *hub) calls(t testing.TB) {
	t.Helper()
	if _, err := h.svc.Market.ProcessCalls(h.ctx, 100, nil); err != nil {
		t.Fatalf("outbox: %v", err)
	}
}

func (h *hub) stock(t testing.TB) catalog.StockView {
	t.Helper()
	v, err := h.svc.Catalog.Stock(h.ctx, "S01", "MILK-1L")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestPlatformOrderEndToEnd follows one order of each platform: pushed by the platform, taken in paid at
// the bound store with its stock committed, accepted at the store (the platform's confirm call), packed
// (its picked call), and completed when the platform says its rider delivered it; the platform then shows
// the stock left.
func TestPlatformOrderEndToEnd(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		admin := staff.AdminTokenActor
		onHand := int64(10)
		for _, p := range h.platforms {
			id, err := p.place(shop, "MILK-1L", 2)
			if err != nil {
				t.Fatalf("%s: %v", p.name, err)
			}
			ord := h.order(t, p.name, id)
			onHand -= 2
			if ord.Status != "paid" || ord.Fulfillment != core.FulfillmentPlatform || ord.MemberID != nil || ord.Source != p.name || ord.Attention != "" {
				t.Fatalf("%s: order = %+v", p.name, ord)
			}
			if got := h.stock(t); got.OnHand != onHand || got.Reserved != 0 {
				t.Fatalf("%s: stock = %+v, want on hand %d", p.name, got, onHand)
			}
			if _, err := h.svc.AcceptOrder(h.ctx, admin, ord.OrderNo); err != nil {
				t.Fatalf("%s accept: %v", p.name, err)
			}
			h.calls(t)
			if got := p.state(id); got != "confirmed" {
				t.Fatalf("%s: after accept the platform holds %q, want confirmed", p.name, got)
			}
			if _, err := h.svc.MarkReady(h.ctx, admin, ord.OrderNo); err != nil {
				t.Fatalf("%s ready: %v", p.name, err)
			}
			h.calls(t)
			if got := p.state(id); got != "prepared" {
				t.Fatalf("%s: after ready the platform holds %q, want prepared", p.name, got)
			}
			if err := p.finish(id); err != nil {
				t.Fatalf("%s finish: %v", p.name, err)
			}
			h.waitStatus(t, p.name, id, core.StatusCompleted)
		}
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatalf("stock push: %v", err)
		}
		for _, p := range h.platforms {
			if got, ok := p.fake.Stock(shop, "MILK-1L"); !ok || got != onHand {
				t.Errorf("%s shows %d (%v), want %d", p.name, got, ok, onHand)
			}
		}
	})
}

// TestConcurrentCopiesMakeOneOrder: the same order taken twenty times at once is one order, its stock
// committed once.
func TestConcurrentCopiesMakeOneOrder(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		o := market.Order{Platform: market.Meituan, OrderID: "MT-DUP-1", ShopID: shop, DaySeq: 7, TotalFen: 3180,
			Lines: []market.Line{{Code: "MILK-1L", Name: "牛奶", Qty: 2, PriceFen: 1590}}}
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for range 20 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- h.svc.TakePlatformOrder(h.ctx, o) }()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("take: %v", err)
			}
		}
		var n int64
		db.Conn(h.ctx).Model(&models.Order{}).Where("platform_order_id = ?", "MT-DUP-1").Count(&n)
		if n != 1 {
			t.Fatalf("%d orders, want 1", n)
		}
		if got := h.stock(t); got.OnHand != 8 {
			t.Fatalf("on hand %d, want 8", got.OnHand)
		}
	})
}

// TestCancelBeforeItsOrder: a cancellation that overtakes its order waits, and the order lands cancelled
// with its stock untouched.
func TestCancelBeforeItsOrder(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		res, err := h.svc.ReceivePush(h.ctx, market.Push{Platform: market.Eleme, Kind: market.PushCancelled, OrderID: "EL-9", ShopID: shop, Reason: "用户取消"})
		if err != nil || res != "kept until its order arrives" {
			t.Fatalf("early cancel = %q, %v", res, err)
		}
		o := market.Order{Platform: market.Eleme, OrderID: "EL-9", ShopID: shop, Lines: []market.Line{{Code: "MILK-1L", Qty: 3, PriceFen: 1590}}}
		if err := h.svc.TakePlatformOrder(h.ctx, o); err != nil {
			t.Fatal(err)
		}
		if ord := h.order(t, market.Eleme, "EL-9"); ord.Status != "cancelled" {
			t.Fatalf("status %s, want cancelled", ord.Status)
		}
		if got := h.stock(t); got.OnHand != 10 {
			t.Fatalf("on hand %d, want 10", got.OnHand)
		}
	})
}

// TestUnknownSKUNeedsAttention and the last unit: an unmapped code waits for the store with a reason and
// an alert; an order for more than is left is refused on the platform as sold out, never oversold.
func TestUnknownSKUAndSoldOut(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		if err := h.svc.TakePlatformOrder(h.ctx, market.Order{Platform: market.JDDJ, OrderID: "JD-1", ShopID: shop,
			Lines: []market.Line{{Code: "NOPE-1", Name: "未知商品\u202e", Qty: 1, PriceFen: 500}}}); err != nil {
			t.Fatal(err)
		}
		if ord := h.order(t, market.JDDJ, "JD-1"); ord.Status != "paid" || ord.Attention == "" || ord.Items[0].Name != "未知商品" {
			t.Fatalf("order = %+v, want paid with attention and a cleaned name", ord)
		}
		if err := h.svc.TakePlatformOrder(h.ctx, market.Order{Platform: market.Meituan, OrderID: "MT-BIG", ShopID: shop,
			Lines: []market.Line{{Code: "MILK-1L", Qty: 11, PriceFen: 1590}}}); err != nil {
			t.Fatal(err)
		}
		ord := h.order(t, market.Meituan, "MT-BIG")
		if ord.Status != "cancelled" || h.stock(t).OnHand != 10 {
			t.Fatalf("oversized order %s, stock %+v", ord.Status, h.stock(t))
		}
		var calls []models.MarketCall
		db.Conn(h.ctx).Where("order_no = ?", ord.OrderNo).Find(&calls)
		if len(calls) != 1 || calls[0].Kind != market.CallReject {
			t.Fatalf("calls = %+v, want one reject", calls)
		}
		var alerts int64
		db.Conn(h.ctx).Model(&models.Alert{}).Where("kind IN ?", []string{"platform_sold_out", "platform_order_attention"}).Count(&alerts)
		if alerts != 2 {
			t.Fatalf("%d alerts, want 2", alerts)
		}
	})
}

// TestForeignShopAndStalePushChangeNothing: a push for a shop no store is bound to, and one signed too
// long ago, are refused and change nothing.
func TestForeignShopAndStalePushChangeNothing(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		err := h.svc.TakePlatformOrder(h.ctx, market.Order{Platform: market.Meituan, OrderID: "MT-X", ShopID: "shop-9",
			Lines: []market.Line{{Code: "MILK-1L", Qty: 1, PriceFen: 1590}}})
		if err == nil || !errorsIs(err, market.ErrUnknownShop) {
			t.Fatalf("foreign shop: %v", err)
		}
		_, err = h.svc.ReceivePush(h.ctx, market.Push{Platform: market.Meituan, Kind: market.PushCancelled, OrderID: "MT-Y", SignedAt: time.Now().Add(-time.Hour)})
		if !errorsIs(err, market.ErrStale) {
			t.Fatalf("stale push: %v", err)
		}
		var n int64
		db.Conn(h.ctx).Model(&models.Order{}).Count(&n)
		db.Conn(h.ctx).Model(&models.MarketPending{}).Count(&n)
		if n != 0 || h.stock(t).OnHand != 10 {
			t.Fatalf("something changed: %d pending, stock %+v", n, h.stock(t))
		}
	})
}

// TestLostPushFoundByPull: an order whose push is lost is taken in by the pull.
func TestLostPushFoundByPull(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		for _, p := range h.platforms {
			p.fake.SetDropPushes(true)
			id, err := p.place(shop, "MILK-1L", 1)
			if err != nil {
				t.Fatal(err)
			}
			db.Conn(h.ctx).Model(&models.MarketShop{}).Where("platform = ?", p.name).Update("pull_due_at", time.Now().Add(-time.Second))
			if _, err := h.svc.Market.PullOrders(h.ctx, 10, h.svc.TakePlatformOrder); err != nil {
				t.Fatalf("%s pull: %v", p.name, err)
			}
			if ord := h.order(t, p.name, id); ord.Status != "paid" {
				t.Fatalf("%s pulled order is %s", p.name, ord.Status)
			}
		}
	})
}

// TestUnbindTellsZeroThenStops: unbinding tells the platform 0 for what it was told, then the binding
// goes and the pushes stop.
func TestUnbindTellsZeroThenStops(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		p := h.platforms[0]
		if got, _ := p.fake.Stock(shop, "MILK-1L"); got != 10 {
			t.Fatalf("before unbinding the platform shows %d", got)
		}
		if _, err := h.svc.Market.DeleteShop(h.ctx, p.name, shop); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		if got, _ := p.fake.Stock(shop, "MILK-1L"); got != 0 {
			t.Fatalf("after unbinding the platform shows %d, want 0", got)
		}
		if _, err := h.svc.Market.Shop(h.ctx, p.name, shop); err == nil {
			t.Fatal("the binding is still there")
		}
		calls := p.fake.StockCalls()
		h.svc.Catalog.SetStock(h.ctx, "S01", "MILK-1L", 3, "test")
		db.Conn(h.ctx).Model(&models.MarketShop{}).Where("1 = 1").Update("push_due_at", time.Now().Add(-time.Second))
		if _, err := h.svc.Market.PushStock(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		if p.fake.StockCalls() != calls {
			t.Fatal("an unbound shop was pushed to")
		}
	})
}

// TestPlatformOrderStaysWithItsShop: a platform order the store rejects is cancelled on its platform with
// the reason and its stock goes back, it is never moved to another store; one not accepted in time raises
// an alert and stays; and the hub never refunds or takes returns of a platform order itself.
func TestPlatformOrderStaysWithItsShop(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		if _, err := h.svc.Catalog.PutStore(h.ctx, catalog.StoreInput{Code: "S02", Name: "南京东路店", Lat: 31.2380, Lng: 121.4800}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.Catalog.SetStock(h.ctx, "S02", "MILK-1L", 10, "test"); err != nil {
			t.Fatal(err)
		}
		take := func(id string) models.Order {
			if err := h.svc.TakePlatformOrder(h.ctx, market.Order{Platform: market.Meituan, OrderID: id, ShopID: shop,
				Lines: []market.Line{{Code: "MILK-1L", Qty: 2, PriceFen: 1590}}}); err != nil {
				t.Fatal(err)
			}
			return h.order(t, market.Meituan, id)
		}
		admin := staff.AdminTokenActor
		rejected := take("MT-REJ")
		if _, err := h.svc.RejectOrder(h.ctx, admin, rejected.OrderNo, "冷柜故障"); err != nil {
			t.Fatal(err)
		}
		h.calls(t)
		if got := h.order(t, market.Meituan, "MT-REJ"); got.Status != "cancelled" || got.StoreID != rejected.StoreID {
			t.Fatalf("rejected order is %s at store %d", got.Status, got.StoreID)
		}
		var call models.MarketCall
		if err := db.Conn(h.ctx).Where("order_no = ?", rejected.OrderNo).Take(&call).Error; err != nil || call.Kind != market.CallReject || !strings.Contains(call.Payload, "冷柜故障") {
			t.Fatalf("reject call = %+v, %v", call, err)
		}
		if got := h.stock(t); got.OnHand != 10 {
			t.Fatalf("on hand %d after the reject, want 10", got.OnHand)
		}

		late := take("MT-LATE")
		if err := db.Conn(h.ctx).Model(&models.Order{}).Where("id = ?", late.ID).Update("accept_by", time.Now().Add(-time.Minute)).Error; err != nil {
			t.Fatal(err)
		}
		if _, err := h.svc.RerouteDue(h.ctx, 10); err != nil {
			t.Fatal(err)
		}
		if got := h.order(t, market.Meituan, "MT-LATE"); got.Status != "paid" || got.StoreID != late.StoreID || got.AcceptBy != nil {
			t.Fatalf("late order: %s at store %d, accept_by %v", got.Status, got.StoreID, got.AcceptBy)
		}
		var alerts int64
		db.Conn(h.ctx).Model(&models.Alert{}).Where("kind = ? AND order_no = ?", "platform_order_waiting", late.OrderNo).Count(&alerts)
		if alerts != 1 {
			t.Fatalf("%d waiting alerts, want 1", alerts)
		}
		if _, err := h.svc.RefundOrder(h.ctx, late.OrderNo, 0, ""); !errorsIs(err, domain.ErrConflict) {
			t.Fatalf("refunding a platform order: %v, want a conflict", err)
		}
	})
}
