package jddjfake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
	"github.com/o2ohub/o2ohub/integrations/internal/pushloop"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// The fake's limits, as JD publishes them for batch stock updates.
const (
	// StockCallsPerMinute is how many stock calls a merchant may make in any minute.
	StockCallsPerMinute = 300
	// CommissionPercent is the commission the fake's platform keeps (rounded down to the fen).
	CommissionPercent = 8
)

// The fake's own order states and JD's orderStatus for each.
const (
	StatusNew       = fakeorder.StatusNew       // 41000 待处理
	StatusConfirmed = fakeorder.StatusConfirmed // 32000 等待出库
	StatusPrepared  = fakeorder.StatusPrepared  // 32000 等待出库 (the rider is called; JD's state moves on when he collects)
	StatusCancelled = fakeorder.StatusCancelled // 20020 订单取消
	StatusCompleted = fakeorder.StatusCompleted // 33060 已妥投
)

func wireStatus(s string) string {
	switch s {
	case StatusNew:
		return "41000"
	case StatusConfirmed, StatusPrepared:
		return "32000"
	case StatusCancelled:
		return "20020"
	case StatusCompleted:
		return "33060"
	}
	return ""
}

// Options configures a Fake.
type Options struct {
	// AppKey, AppSecret and Token are the app's credentials and the merchant's token the fake accepts.
	AppKey, AppSecret, Token string
	// PushURL is the hub's webhook base as registered (e.g. "https://hub.example.com/webhooks/jddj");
	// pushes go to PushURL + "/djsw/<msg>". Empty means no pushes are sent.
	PushURL string
	// Clock is the fake's clock (timestamps, rate limits, order times); nil means time.Now.
	Clock func() time.Time
	// RetryInterval is the pause between attempts of an unacknowledged push (default 1 s).
	RetryInterval time.Duration
	// Log receives the fake's notes; nil discards them.
	Log *slog.Logger
	// Encrypt makes pushes carry encrypt_jd_param_json and answers carry encryptData, as some
	// deployments do.
	Encrypt bool
	// HTTPClient sends the pushes; nil means a client with a 5 s timeout.
	HTTPClient *http.Client
}

// OrderLine is one line of an order the fake places or refunds.
type OrderLine = fakeorder.Line

// FakeOrder is a copy of an order as the fake holds it; Status is one of fakeorder's Status constants.
type FakeOrder = fakeorder.Order

// order is the fake's record of an order.
type order struct {
	FakeOrder
	placed        time.Time
	carrier       string
	totalFen      int64
	commissionFen int64
	refunds       map[string]int64 // units refunded per code
}

// Fake is an in-memory JD Daojia open platform for one app and merchant. It is an http.Handler serving
// the API paths (with or without the "/djapi" prefix) and POST /sandbox/orders. Safe for concurrent use.
type Fake struct {
	o      Options
	log    *slog.Logger
	pushes *pushloop.Loop

	mu          sync.Mutex
	shops       map[string]bool
	stock       map[string]map[string]int64
	orders      map[string]*order
	daySeq      map[string]int // shop + "/" + China date
	nextOrder   int64
	nextAfs     int64
	bills       map[string]afsBill // after-sale bills by afsServiceOrder
	calls       map[string]int
	stockWindow []time.Time
	lockedUntil time.Time
}

// New returns a Fake; Close stops its pushes.
func New(o Options) *Fake {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	o.PushURL = strings.TrimRight(o.PushURL, "/")
	log := o.Log.With("component", "jddjfake")
	return &Fake{
		o: o, log: log, pushes: pushloop.New(o.HTTPClient, o.RetryInterval, log),
		shops: map[string]bool{}, stock: map[string]map[string]int64{}, orders: map[string]*order{},
		daySeq: map[string]int{}, nextOrder: 2600000000000, nextAfs: 30000000, bills: map[string]afsBill{}, calls: map[string]int{},
	}
}

// Close stops the pushes in flight and waits for them.
func (f *Fake) Close() {
	f.pushes.Close()
}

// AddShop lists a station (JD's stationNo = the hub's ShopID).
func (f *Fake) AddShop(shopID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.shops[shopID] = true
}

// PlaceOrder creates a new paid order at the shop (status new, the shop's next day sequence, the buyer
// paying the whole list price, no platform subsidy, a CommissionPercent commission) and pushes newOrder.
func (f *Fake) PlaceOrder(shopID string, lines []OrderLine) (string, error) {
	if len(lines) == 0 {
		return "", errors.New("jddjfake: an order needs lines")
	}
	var total int64
	for _, l := range lines {
		if l.Code == "" || l.Qty <= 0 || l.PriceFen < 0 {
			return "", fmt.Errorf("jddjfake: bad line %+v", l)
		}
		total += l.Qty * l.PriceFen
	}
	f.mu.Lock()
	if !f.shops[shopID] {
		f.mu.Unlock()
		return "", fmt.Errorf("jddjfake: unknown station %q", shopID)
	}
	now := f.o.Clock()
	day := shopID + "/" + now.In(cn.Zone).Format("20060102")
	f.daySeq[day]++
	f.nextOrder++
	id := strconv.FormatInt(f.nextOrder, 10)
	f.orders[id] = &order{
		FakeOrder: FakeOrder{ID: id, ShopID: shopID, DaySeq: f.daySeq[day], Status: StatusNew, Lines: append([]OrderLine(nil), lines...)},
		placed:    now, carrier: jddj.CarrierJDZB, totalFen: total, commissionFen: total * CommissionPercent / 100,
		refunds: map[string]int64{},
	}
	f.mu.Unlock()
	f.push(jddj.MsgNewOrder, id, "41000")
	return id, nil
}

// CancelOrder plays the buyer cancelling: the order is cancelled and userCancelOrder pushed.
func (f *Fake) CancelOrder(orderID, reason string) error {
	f.mu.Lock()
	o, ok := f.orders[orderID]
	if !ok || o.Status == StatusCancelled || o.Status == StatusCompleted {
		f.mu.Unlock()
		return fmt.Errorf("jddjfake: order %q cannot be cancelled", orderID)
	}
	o.Status, o.CancelReason = StatusCancelled, reason
	f.mu.Unlock()
	f.push(jddj.MsgUserCancelOrder, orderID, "20020")
	return nil
}

// RefundLines refunds units of an order: an after-sale bill is made and newAfterSaleBill pushed.
func (f *Fake) RefundLines(orderID string, lines []OrderLine) error {
	f.mu.Lock()
	o, ok := f.orders[orderID]
	if !ok || o.Status == StatusCancelled {
		f.mu.Unlock()
		return fmt.Errorf("jddjfake: order %q cannot be refunded", orderID)
	}
	for _, l := range lines {
		var bought int64
		for _, ol := range o.Lines {
			if ol.Code == l.Code {
				bought += ol.Qty
			}
		}
		if l.Qty <= 0 || o.refunds[l.Code]+l.Qty > bought {
			f.mu.Unlock()
			return fmt.Errorf("jddjfake: cannot refund %d of %q", l.Qty, l.Code)
		}
	}
	bill := afsBill{orderID: orderID}
	for _, l := range lines {
		o.refunds[l.Code] += l.Qty
		for _, ol := range o.Lines {
			if ol.Code == l.Code {
				bill.lines = append(bill.lines, OrderLine{Code: l.Code, Name: ol.Name, Qty: l.Qty, PriceFen: ol.PriceFen})
				break
			}
		}
	}
	f.nextAfs++
	afs := strconv.FormatInt(f.nextAfs, 10)
	f.bills[afs] = bill
	f.mu.Unlock()
	f.push(jddj.MsgNewAfterSaleBill, afs, jddj.AfsRefunded)
	return nil
}

// afsBill is an after-sale bill: the refunded units of one order, refunded at once (state 32).
type afsBill struct {
	orderID string
	lines   []OrderLine
}

// FinishOrder plays the rider delivering: the order is completed and finishOrder pushed.
func (f *Fake) FinishOrder(orderID string) error {
	f.mu.Lock()
	o, ok := f.orders[orderID]
	if !ok || (o.Status != StatusConfirmed && o.Status != StatusPrepared) {
		f.mu.Unlock()
		return fmt.Errorf("jddjfake: order %q cannot be delivered", orderID)
	}
	o.Status = StatusCompleted
	f.mu.Unlock()
	f.push(jddj.MsgFinishOrder, orderID, "33060")
	return nil
}

// SetDropPushes makes new pushes be lost (never sent) while drop is true.
func (f *Fake) SetDropPushes(drop bool) {
	f.pushes.SetDrop(drop)
}

// Order returns a copy of an order's state.
func (f *Fake) Order(orderID string) (FakeOrder, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[orderID]
	if !ok {
		return FakeOrder{}, false
	}
	c := o.FakeOrder
	c.Lines = append([]OrderLine(nil), o.Lines...)
	return c, true
}

// Commission returns the commission the fake's platform keeps on an order (JD's order query does not
// carry it).
func (f *Fake) Commission(orderID string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[orderID]
	if !ok {
		return 0, false
	}
	return o.commissionFen, true
}

// Stock returns the stock the platform shows for a SKU code at a station.
func (f *Fake) Stock(shopID, code string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q, ok := f.stock[shopID][code]
	return q, ok
}

// Calls returns how many calls an API path (e.g. jddj.PathStock) received, refused ones included.
func (f *Fake) Calls(api string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[strings.TrimPrefix(api, "/")]
}

// StockCalls returns how many stock/batchUpdateCurrentQtys calls the fake received.
func (f *Fake) StockCalls() int { return f.Calls(jddj.PathStock) }

// Pushes returns how many push deliveries were acknowledged.
func (f *Fake) Pushes() int {
	return f.pushes.Acknowledged()
}

// sortedOrders returns the orders oldest first (by placing time, then id).
func (f *Fake) sortedOrders() []*order {
	list := make([]*order, 0, len(f.orders))
	for _, o := range f.orders {
		list = append(list, o)
	}
	sort.Slice(list, func(i, j int) bool {
		if !list[i].placed.Equal(list[j].placed) {
			return list[i].placed.Before(list[j].placed)
		}
		return list[i].ID < list[j].ID
	})
	return list
}

// push sends a message to the hub in the background, re-sent until JD's exact acknowledgement; each
// attempt is signed anew.
func (f *Fake) push(msg, billID, statusID string) {
	if f.o.PushURL == "" {
		return
	}
	body, _ := json.Marshal(jddj.PushBody{BillID: billID, StatusID: statusID, Timestamp: jddj.Timestamp(f.o.Clock())})
	f.pushes.Send(f.o.PushURL+jddj.PushPath(msg), "application/x-www-form-urlencoded;charset=UTF-8",
		func() string { return f.PushForm(string(body)).Encode() }, acked, "msg", msg, "bill", billID)
}

// acked reports whether an answer is JD's exact acknowledgement.
func acked(status int, body []byte) bool {
	return status == http.StatusOK && bytes.Equal(bytes.TrimSpace(body), []byte(jddj.Ack))
}

// PushForm returns the signed form of a push carrying the business JSON body, as JD sends it.
func (f *Fake) PushForm(body string) url.Values {
	p := map[string]string{
		"token": f.o.Token, "app_key": f.o.AppKey, "timestamp": jddj.Timestamp(f.o.Clock()), "format": "json", "v": "1.0",
	}
	if f.o.Encrypt {
		enc, err := jddj.Encrypt(f.o.AppSecret, body)
		if err != nil {
			f.log.Error("push not encrypted", "err", err)
		}
		p["encrypt_jd_param_json"] = enc
	} else {
		p["jd_param_json"] = body
	}
	p["sign"] = jddj.Sign(f.o.AppSecret, p)
	form := url.Values{}
	for k, v := range p {
		form.Set(k, v)
	}
	return form
}
