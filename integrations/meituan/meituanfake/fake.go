package meituanfake

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
	"github.com/o2ohub/o2ohub/integrations/internal/pushloop"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// APIPrefix is where the fake serves Meituan's API, as waimaiopen.meituan.com does.
const APIPrefix = "/api/v1/"

// commissionPercent is the platform service fee the fake records (foodShareFeeChargeByPoi), rounded down.
const commissionPercent = 8

// Options configures a Fake.
type Options struct {
	// AppID and AppSecret are the app's credentials; the fake accepts calls signed with them only.
	AppID, AppSecret string
	// PushURL is the hub's webhook base as registered; the push for event E goes to PushURL + "/" + E.
	// "" means pushes are not sent.
	PushURL string
	// Clock is the fake's time (order times, day sequences, push timestamps); nil means time.Now.
	Clock func() time.Time
	// RetryInterval is the wait between deliveries of an unacknowledged push; 0 means 1 s.
	RetryInterval time.Duration
	// Log receives the fake's events; nil discards them.
	Log *slog.Logger
	// HTTPClient delivers pushes; nil means a client with a 5 s timeout.
	HTTPClient *http.Client
}

// OrderLine is one line of an order the fake places or refunds.
type OrderLine = fakeorder.Line

// FakeOrder is a copy of an order as the fake holds it; Status is one of fakeorder's Status constants.
type FakeOrder = fakeorder.Order

// order is an order with what the platform keeps about it.
type order struct {
	FakeOrder
	placed     time.Time
	orig       []OrderLine
	total, fee int64
	refunds    int
}

// shop is one app_poi_code's state.
type shop struct {
	stock    map[string]int64
	delisted map[string]bool
	days     map[string][]string // yyyyMMdd → order ids by day_seq-1
}

// Fake is an in-memory Meituan Flash Buy open platform: an http.Handler serving APIPrefix + the API paths,
// and POST /sandbox/orders. It is safe for concurrent use.
type Fake struct {
	opts   Options
	log    *slog.Logger
	pushes *pushloop.Loop

	mu     sync.Mutex
	shops  map[string]*shop
	orders map[string]*order
	calls  map[string]int
	inject map[string]int
	nextID int64
}

// New returns a Fake. Its push goroutines run until Close.
func New(opts Options) *Fake {
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	opts.PushURL = strings.TrimRight(opts.PushURL, "/")
	log := opts.Log.With("component", "meituanfake")
	return &Fake{
		opts: opts, log: log, pushes: pushloop.New(opts.HTTPClient, opts.RetryInterval, log),
		shops: map[string]*shop{}, orders: map[string]*order{}, calls: map[string]int{}, inject: map[string]int{},
		nextID: 27000000000000000,
	}
}

// Close stops the push goroutines and waits for them.
func (f *Fake) Close() {
	f.pushes.Close()
}

// AddShop makes shopID (an app_poi_code) known to the platform.
func (f *Fake) AddShop(shopID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shops[shopID] == nil {
		f.shops[shopID] = &shop{stock: map[string]int64{}, delisted: map[string]bool{}, days: map[string][]string{}}
	}
}

// DelistSKU makes the platform list no SKU code at shopID: stock updates for it are refused (error 1015).
func (f *Fake) DelistSKU(shopID, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.shops[shopID]; s != nil {
		s.delisted[code] = true
	}
}

// FailNext makes the next call to api (e.g. "order/confirm") answer Meituan's error code, after the
// signature is checked: 711 plays the rate limit, 700 a system error.
func (f *Fake) FailNext(api string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[api] = code
}

// SetDropPushes makes new pushes lost (never sent) while drop is true.
func (f *Fake) SetDropPushes(drop bool) {
	f.pushes.SetDrop(drop)
}

// Order returns a copy of an order's state.
func (f *Fake) Order(orderID string) (FakeOrder, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return FakeOrder{}, false
	}
	c := o.FakeOrder
	c.Lines = slices.Clone(o.Lines)
	return c, true
}

// Stock returns the stock the platform shows for code at shopID.
func (f *Fake) Stock(shopID, code string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shops[shopID]
	if s == nil {
		return 0, false
	}
	q, ok := s.stock[code]
	return q, ok
}

// Calls returns how many calls the platform received for api (e.g. "retail/sku/stock"), refused ones included.
func (f *Fake) Calls(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[api]
}

// StockCalls returns Calls("retail/sku/stock").
func (f *Fake) StockCalls() int { return f.Calls(meituan.PathSkuStock) }

// Pushes returns how many push deliveries were acknowledged with {"data":"ok"}.
func (f *Fake) Pushes() int {
	return f.pushes.Acknowledged()
}

// PlaceOrder creates a new paid order at shopID (next day sequence, customer paid = total, no platform
// subsidy, an 8% service fee rounded down) and pushes it to the paid URL.
func (f *Fake) PlaceOrder(shopID string, lines []OrderLine) (string, error) {
	if len(lines) == 0 {
		return "", errors.New("meituanfake: an order needs lines")
	}
	var total int64
	for _, l := range lines {
		if l.Code == "" || l.Qty <= 0 || l.PriceFen < 0 {
			return "", fmt.Errorf("meituanfake: bad line %+v", l)
		}
		total += l.Qty * l.PriceFen
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.shops[shopID]
	if s == nil {
		return "", fmt.Errorf("meituanfake: unknown shop %q", shopID)
	}
	now := f.opts.Clock()
	day := now.In(cn.Zone).Format("20060102")
	f.nextID++
	id := strconv.FormatInt(f.nextID, 10)
	s.days[day] = append(s.days[day], id)
	o := &order{
		FakeOrder: FakeOrder{ID: id, ShopID: shopID, DaySeq: len(s.days[day]), Status: fakeorder.StatusNew, Lines: slices.Clone(lines)},
		placed:    now, orig: slices.Clone(lines), total: total, fee: total * commissionPercent / 100,
	}
	f.orders[id] = o
	f.push(meituan.EventPaid, f.orderParams(o))
	return id, nil
}

// CancelOrder plays the buyer cancelling: the order is cancelled and the cancel URL is pushed.
func (f *Fake) CancelOrder(orderID, reason string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return fmt.Errorf("meituanfake: unknown order %q", orderID)
	}
	if !open(o.Status) {
		return fmt.Errorf("meituanfake: order %s is %s", orderID, o.Status)
	}
	code := "1102" // 用户取消，商家确认前取消
	if o.Status != fakeorder.StatusNew {
		code = "1103" // 用户取消，用户退款取消
	}
	o.Status, o.CancelReason, o.CancelCode = fakeorder.StatusCancelled, reason, code
	f.push(meituan.EventCancel, url.Values{"order_id": {o.ID}, "reason_code": {code}, "reason": {reason}, "deal_op_type": {"1"}})
	return nil
}

// RefundLines refunds those units (by Code and Qty) and pushes the refund URL: a partial refund
// (notify_type part, food listing the units), or a whole refund (notify_type agree, the order cancelled)
// when no unit remains.
func (f *Fake) RefundLines(orderID string, lines []OrderLine) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return fmt.Errorf("meituanfake: unknown order %q", orderID)
	}
	if o.Status == fakeorder.StatusCancelled {
		return fmt.Errorf("meituanfake: order %s is cancelled", orderID)
	}
	left := slices.Clone(o.Lines)
	type food struct {
		AppFoodCode string      `json:"app_food_code"`
		SkuID       string      `json:"sku_id"`
		FoodName    string      `json:"food_name"`
		Count       int64       `json:"count"`
		FoodPrice   json.Number `json:"food_price"`
		RefundPrice json.Number `json:"refund_price"`
	}
	var foods []food
	var money int64
	for _, r := range lines {
		i := slices.IndexFunc(left, func(l OrderLine) bool { return l.Code == r.Code })
		if r.Qty <= 0 || i < 0 || left[i].Qty < r.Qty {
			return fmt.Errorf("meituanfake: cannot refund %d of %q", r.Qty, r.Code)
		}
		left[i].Qty -= r.Qty
		p := json.Number(cn.Yuan(left[i].PriceFen))
		foods = append(foods, food{r.Code, r.Code, left[i].Name, r.Qty, p, p})
		money += r.Qty * left[i].PriceFen
	}
	left = slices.DeleteFunc(left, func(l OrderLine) bool { return l.Qty == 0 })
	o.Lines = left
	o.refunds++
	v := url.Values{"order_id": {o.ID}, "refund_id": {strconv.FormatInt(o.placed.Unix()*100+int64(o.refunds), 10)},
		"ctime": {strconv.FormatInt(f.opts.Clock().Unix(), 10)}, "money": {cn.Yuan(money)}}
	if len(left) == 0 {
		o.Status, o.CancelReason, o.CancelCode = fakeorder.StatusCancelled, "全额退款", ""
		v.Set("notify_type", "agree")
		v.Set("reason", "全额退款")
		v.Set("res_type", "2")
	} else {
		b, _ := json.Marshal(foods)
		v.Set("notify_type", "part")
		v.Set("reason", "部分退款")
		v.Set("food", string(b))
	}
	f.push(meituan.EventRefund, v)
	return nil
}

// FinishOrder plays the rider delivering: a confirmed or prepared order completes and the finished URL is
// pushed.
func (f *Fake) FinishOrder(orderID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return fmt.Errorf("meituanfake: unknown order %q", orderID)
	}
	if o.Status != fakeorder.StatusConfirmed && o.Status != fakeorder.StatusPrepared {
		return fmt.Errorf("meituanfake: order %s is %s", orderID, o.Status)
	}
	o.Status = fakeorder.StatusCompleted
	f.push(meituan.EventFinished, url.Values{"order_id": {o.ID}, "app_poi_code": {o.ShopID}, "status": {"8"},
		"utime": {strconv.FormatInt(f.opts.Clock().Unix(), 10)}})
	return nil
}

// open reports whether an order in status s can still be cancelled.
func open(s string) bool {
	return s == fakeorder.StatusNew || s == fakeorder.StatusConfirmed || s == fakeorder.StatusPrepared
}

// statusCode is Meituan's status code for the fake's status.
func statusCode(s string) string {
	switch s {
	case fakeorder.StatusNew:
		return "2"
	case fakeorder.StatusConfirmed, fakeorder.StatusPrepared:
		return "4"
	case fakeorder.StatusCompleted:
		return "8"
	case fakeorder.StatusCancelled:
		return "9"
	}
	return "1"
}

// orderParams is the order as Meituan's paid push writes it (plain values, before any encoding).
func (f *Fake) orderParams(o *order) url.Values {
	type line struct {
		AppFoodCode  string      `json:"app_food_code"`
		AppSpuCode   string      `json:"app_spu_code"`
		SkuID        string      `json:"sku_id"`
		FoodName     string      `json:"food_name"`
		Quantity     int64       `json:"quantity"`
		Price        json.Number `json:"price"`
		Unit         string      `json:"unit"`
		BoxNum       int         `json:"box_num"`
		BoxPrice     int         `json:"box_price"`
		FoodDiscount int         `json:"food_discount"`
	}
	ls := make([]line, len(o.orig))
	for i, l := range o.orig {
		ls[i] = line{l.Code, l.Code, l.Code, l.Name, l.Qty, json.Number(cn.Yuan(l.PriceFen)), "份", 0, 0, 1}
	}
	detail, _ := json.Marshal(ls)
	prd, _ := json.Marshal(map[string]any{
		"actOrderChargeByMt": []any{}, "actOrderChargeByPoi": []any{}, "foodShareFeeChargeByPoi": o.fee,
		"logisticsFee": 0, "onlinePayment": o.total, "wmPoiReceiveCent": o.total - o.fee, "reconciliationExtras": "{}",
	})
	ts := strconv.FormatInt(o.placed.Unix(), 10)
	return url.Values{
		"order_id": {o.ID}, "wm_order_id_view": {o.ID}, "app_poi_code": {o.ShopID},
		"wm_poi_name": {"o2ohub 沙盒门店 " + o.ShopID}, "wm_poi_address": {"北京市朝阳区望京东路6号"},
		"wm_poi_phone": {"010-12345678"}, "recipient_name": {"张三(先生)"}, "recipient_phone": {"13800000000_1234"},
		"recipient_address": {"北京市朝阳区望京街10号 3号楼 & 5单元 #1201"}, "caution": {"少放辣 100% 谢谢+1"},
		"shipping_fee": {"0"}, "total": {cn.Yuan(o.total)}, "original_price": {cn.Yuan(o.total)},
		"status": {statusCode(o.Status)}, "ctime": {ts}, "utime": {ts}, "day_seq": {strconv.Itoa(o.DaySeq)},
		"detail": {string(detail)}, "extras": {"[]"}, "poi_receive_detail": {string(prd)}, "pay_type": {"2"},
		"pick_type": {"0"}, "logistics_code": {"1001"},
	}
}

// numeric reports whether getOrderDetail writes the order field k as a JSON number.
func numeric(k string) bool {
	switch k {
	case "order_id", "wm_order_id_view", "shipping_fee", "total", "original_price", "status", "ctime", "utime",
		"day_seq", "pay_type", "pick_type":
		return true
	}
	return false
}

// orderDetail is getOrderDetail's data for o: numbers as numbers, detail and the other JSON as JSON text.
func (f *Fake) orderDetail(o *order) map[string]any {
	v := f.orderParams(o)
	v.Set("status", statusCode(o.Status))
	out := map[string]any{}
	for k := range v {
		if numeric(k) {
			out[k] = json.Number(v.Get(k))
		} else {
			out[k] = v.Get(k)
		}
	}
	return out
}
