package elemefake

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
	"github.com/o2ohub/o2ohub/integrations/internal/pushloop"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// pageSize is how many orders one order.list page holds [?].
const pageSize = 20

// commissionPercent is the commission the fake records on every order (rounded down).
const commissionPercent = 8

// Options configures a Fake.
type Options struct {
	// Source and Secret are the app's credentials; calls and pushes are signed with them.
	Source, Secret string
	// PushURL is the hub's webhook URL as registered with Ele.me (one URL for every command).
	PushURL string
	// Clock is the fake's time (default time.Now): order times, push timestamps, throttling.
	Clock func() time.Time
	// RetryInterval is the wait between deliveries of an unacknowledged push (default 1 s).
	RetryInterval time.Duration
	// Log receives the fake's notes (default: discarded).
	Log *slog.Logger
	// HTTPClient delivers the pushes (default: a client with a 10 s timeout).
	HTTPClient *http.Client
}

// OrderLine is one line of an order the fake places or refunds.
type OrderLine = fakeorder.Line

// FakeOrder is a copy of an order as the fake holds it; Status is one of fakeorder's Status constants.
type FakeOrder = fakeorder.Order

// order is the fake's record of an order.
type order struct {
	FakeOrder
	created  time.Time
	refunded map[string]int64 // refunded units by code
	refunds  int
}

// shop is one Ele.me shop (shop_id as the merchant registered it).
type shop struct {
	stock    map[string]int64
	unlisted map[string]bool // codes the shop does not sell: stock updates for them fail
	seqDay   string
	seq      int
}

// Fake is an in-memory Ele.me retail open platform: an http.Handler serving the API at "/" and
// POST /sandbox/orders, pushing to the hub. It is safe for concurrent use.
type Fake struct {
	source, secret, pushURL string
	now                     func() time.Time
	log                     *slog.Logger
	pushes                  *pushloop.Loop

	mu        sync.Mutex
	shops     map[string]*shop
	orders    map[string]*order
	nextID    int64
	calls     map[string]int
	throttled time.Time
}

// New returns a running Fake; Close stops its deliveries.
func New(o Options) *Fake {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	log := o.Log.With("component", "elemefake")
	return &Fake{
		source: o.Source, secret: o.Secret, pushURL: o.PushURL, now: o.Clock,
		log: log, pushes: pushloop.New(o.HTTPClient, o.RetryInterval, log),
		shops: map[string]*shop{}, orders: map[string]*order{}, calls: map[string]int{},
	}
}

// Close stops the push deliveries and waits for them.
func (f *Fake) Close() {
	f.pushes.Close()
}

// AddShop opens a shop; calls naming another shop are refused.
func (f *Fake) AddShop(shopID string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.shops[shopID] == nil {
		f.shops[shopID] = &shop{stock: map[string]int64{}, unlisted: map[string]bool{}}
	}
}

// DeleteSKU removes a product from a shop: stock updates naming its code then fail for that code
// (errno 500001, 商品不存在) while the others are taken.
func (f *Fake) DeleteSKU(shopID, code string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.shops[shopID]; s != nil {
		s.unlisted[code] = true
		delete(s.stock, code)
	}
}

// Throttle makes the platform refuse every call for d from now (by the fake's clock) with its
// rate-limit error, to play a platform under load; the fake enforces no quota of its own.
func (f *Fake) Throttle(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttled = f.now().Add(d)
}

// SetDropPushes loses every new push while on (never sent), so that only a pull finds the order.
func (f *Fake) SetDropPushes(on bool) {
	f.pushes.SetDrop(on)
}

// Order returns a copy of the order.
func (f *Fake) Order(orderID string) (FakeOrder, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return FakeOrder{}, false
	}
	c := o.FakeOrder
	c.Lines = append([]OrderLine(nil), o.Lines...)
	return c, true
}

// Stock returns the stock the shop shows for a code, as last set.
func (f *Fake) Stock(shopID, code string) (int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.shops[shopID]; s != nil {
		q, ok := s.stock[code]
		return q, ok
	}
	return 0, false
}

// Calls returns how many calls of the command (cmd, e.g. "order.confirm") the fake received, refused ones
// included.
func (f *Fake) Calls(cmd string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[cmd]
}

// StockCalls returns how many sku.stock.update.batch calls the fake received.
func (f *Fake) StockCalls() int { return f.Calls(eleme.CmdStockBatch) }

// Pushes returns how many push deliveries the hub acknowledged.
func (f *Fake) Pushes() int {
	return f.pushes.Acknowledged()
}

// PlaceOrder creates a new paid order at a shop (the buyer paid the total; commission 8 %) and pushes
// order.create.
func (f *Fake) PlaceOrder(shopID string, lines []OrderLine) (string, error) {
	if len(lines) == 0 {
		return "", errors.New("an order needs lines")
	}
	for _, l := range lines {
		if l.Code == "" || l.Qty <= 0 || l.PriceFen < 0 {
			return "", fmt.Errorf("line %+v: code, positive qty and price needed", l)
		}
	}
	f.mu.Lock()
	s := f.shops[shopID]
	if s == nil {
		f.mu.Unlock()
		return "", fmt.Errorf("no shop %q", shopID)
	}
	now := f.now()
	if day := now.In(cn.Zone).Format("20060102"); day != s.seqDay {
		s.seqDay, s.seq = day, 0
	}
	s.seq++
	f.nextID++
	id := fmt.Sprintf("21%011d%06d", now.Unix()%100000000000, f.nextID)
	f.orders[id] = &order{FakeOrder: FakeOrder{ID: id, ShopID: shopID, DaySeq: s.seq, Status: fakeorder.StatusNew,
		Lines: append([]OrderLine(nil), lines...)}, created: now, refunded: map[string]int64{}}
	f.mu.Unlock()
	f.push(eleme.CmdOrderCreate, map[string]any{"order_id": id})
	return id, nil
}

// CancelOrder plays the buyer cancelling: the order is cancelled and order.status.push (10) is sent.
func (f *Fake) CancelOrder(orderID, reason string) error {
	if err := f.move(orderID, []string{fakeorder.StatusNew, fakeorder.StatusConfirmed, fakeorder.StatusPrepared}, fakeorder.StatusCancelled, func(o *order) {
		o.CancelReason, o.CancelCode = reason, "user"
	}); err != nil {
		return err
	}
	f.push(eleme.CmdStatusPush, map[string]any{"order_id": orderID, "status": eleme.StatusCancelled})
	return nil
}

// FinishOrder plays the rider delivering: the order is completed and order.status.push (9) is sent.
func (f *Fake) FinishOrder(orderID string) error {
	if err := f.move(orderID, []string{fakeorder.StatusConfirmed, fakeorder.StatusPrepared}, fakeorder.StatusCompleted, nil); err != nil {
		return err
	}
	f.push(eleme.CmdStatusPush, map[string]any{"order_id": orderID, "status": eleme.StatusCompleted})
	return nil
}

// RefundLines refunds units of an order (agreed partial refund) and pushes order.partrefund.push with
// status 20.
func (f *Fake) RefundLines(orderID string, lines []OrderLine) error {
	f.mu.Lock()
	o := f.orders[orderID]
	if o == nil {
		f.mu.Unlock()
		return fmt.Errorf("no order %q", orderID)
	}
	if o.Status == fakeorder.StatusCancelled {
		f.mu.Unlock()
		return fmt.Errorf("order %s is cancelled", orderID)
	}
	ordered := map[string]OrderLine{}
	for _, l := range o.Lines {
		x := ordered[l.Code]
		x.Code, x.Name, x.PriceFen, x.Qty = l.Code, l.Name, l.PriceFen, x.Qty+l.Qty
		ordered[l.Code] = x
	}
	want := map[string]int64{}
	for _, l := range lines {
		want[l.Code] += l.Qty
		if l.Qty <= 0 || ordered[l.Code].Qty-o.refunded[l.Code] < want[l.Code] {
			f.mu.Unlock()
			return fmt.Errorf("cannot refund %d of %q", l.Qty, l.Code)
		}
	}
	var products []map[string]any
	var price int64
	for _, l := range lines {
		o.refunded[l.Code] += l.Qty
		ol := ordered[l.Code]
		price += ol.PriceFen * l.Qty
		products = append(products, map[string]any{"custom_sku_id": l.Code, "sku_id": skuID(l.Code),
			"name": ol.Name, "number": l.Qty, "total_refund": ol.PriceFen * l.Qty, "gm_ids": []string{}, "is_free_gift": 0})
	}
	o.refunds++
	refundID := fmt.Sprintf("%s%02d", orderID[len(orderID)-8:], o.refunds)
	f.mu.Unlock()
	f.push(eleme.CmdPartRefundPush, map[string]any{"order_id": orderID, "refund_id": refundID, "type": 2,
		"status": eleme.PartRefundDone, "reason": "商户同意退单", "addition_reason": "", "refund_price": price,
		"refund_products": products})
	return nil
}

// move changes an order's state if it is in one of from; do runs under the lock.
func (f *Fake) move(orderID string, from []string, to string, do func(*order)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	o := f.orders[orderID]
	if o == nil {
		return fmt.Errorf("no order %q", orderID)
	}
	for _, s := range from {
		if o.Status == s {
			o.Status = to
			if do != nil {
				do(o)
			}
			return nil
		}
	}
	return fmt.Errorf("order %s is %s", orderID, o.Status)
}

// skuID is the platform's own id of a product, derived from our code.
func skuID(code string) string {
	var h uint64 = 1469598103934665603
	for i := 0; i < len(code); i++ {
		h = (h ^ uint64(code[i])) * 1099511628211
	}
	return strconv.FormatUint(h%1e16+1e16, 10)
}

// ServeHTTP serves the API (POST /) and the sandbox's order form (POST /sandbox/orders).
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/sandbox/orders" && r.Method == http.MethodPost:
		fakeorder.SandboxForm(f.PlaceOrder).ServeHTTP(w, r)
	case r.URL.Path == "/" && r.Method == http.MethodPost:
		f.serveAPI(w, r)
	default:
		http.NotFound(w, r)
	}
}

// refusal is an error answer: errno and text.
type refusal struct {
	errno int
	msg   string
}

func refuse(errno int, format string, a ...any) *refusal {
	return &refusal{errno: errno, msg: fmt.Sprintf(format, a...)}
}

// params are a call's business parameters.
type params map[string]json.RawMessage

// get returns a parameter as text (a JSON string's value, or a number's text); "" when absent.
func (p params) get(k string) string {
	raw, ok := p[k]
	if !ok || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

func (f *Fake) serveAPI(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		f.answer(w, "", "", refuse(eleme.ErrnoRefused, "request is not a form"), nil)
		return
	}
	e := eleme.EnvelopeFrom(r.PostForm)
	f.mu.Lock()
	f.calls[e.Cmd]++
	throttled := f.now().Before(f.throttled)
	f.mu.Unlock()
	data, ref := f.check(e, throttled)
	if ref == nil {
		var p params
		if err := json.Unmarshal([]byte(e.Body), &p); err != nil || p == nil {
			ref = refuse(eleme.ErrnoRefused, "body is not a JSON object")
		} else {
			data, ref = f.dispatch(e.Cmd, p)
		}
	}
	f.answer(w, e.Cmd, e.Ticket, ref, data)
}

// check refuses a request the platform would not read: throttled, incomplete, another app, bad sign.
func (f *Fake) check(e eleme.Envelope, throttled bool) (any, *refusal) {
	switch {
	case throttled:
		return nil, refuse(eleme.ErrnoRateLimited, "request too frequent, rate limited")
	case e.Cmd == "" || e.Ticket == "" || e.Timestamp == "" || e.Body == "" || e.Version == "":
		return nil, refuse(eleme.ErrnoRefused, "missing system parameter")
	case e.Source != f.source:
		return nil, refuse(eleme.ErrnoAuth, "source invalid")
	case !eleme.Verify(f.secret, e):
		return nil, refuse(eleme.ErrnoAuth, "sign error")
	case e.Version != eleme.Version:
		return nil, refuse(eleme.ErrnoRefused, "version %q not supported", e.Version)
	case e.Encrypt != "":
		return nil, refuse(eleme.ErrnoRefused, "encrypt %q not supported", e.Encrypt)
	}
	if _, err := strconv.ParseInt(e.Timestamp, 10, 64); err != nil {
		return nil, refuse(eleme.ErrnoRefused, "timestamp invalid")
	}
	return nil, nil
}

// answer writes Ele.me's answer envelope, signed: {"body":{"errno","error","data"},"cmd":"resp.<cmd>",…}.
func (f *Fake) answer(w http.ResponseWriter, cmd, ticket string, ref *refusal, data any) {
	body := map[string]any{"errno": 0, "error": "success", "data": data}
	if ref != nil {
		body = map[string]any{"errno": ref.errno, "error": ref.msg, "data": nil}
	}
	bodyText := compactJSON(body)
	if ticket == "" {
		ticket = eleme.NewTicket()
	}
	e := eleme.Envelope{Cmd: "resp." + cmd, Body: bodyText, Source: f.source, Ticket: ticket,
		Timestamp: strconv.FormatInt(f.now().Unix(), 10), Version: eleme.Version}
	out := fmt.Sprintf(`{"body":%s,"cmd":%s,"encrypt":"","sign":%q,"source":%s,"ticket":%s,"timestamp":%s,"version":"3"}`,
		bodyText, compactJSON(e.Cmd), eleme.Sign(f.secret, e), compactJSON(e.Source), compactJSON(e.Ticket), e.Timestamp)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_, _ = w.Write([]byte(out))
}

// compactJSON writes v as compact JSON without HTML escaping.
func compactJSON(v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// dispatch runs one command.
func (f *Fake) dispatch(cmd string, p params) (any, *refusal) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch cmd {
	case eleme.CmdOrderGet:
		o := f.orders[p.get("order_id")]
		if o == nil {
			return nil, refuse(eleme.ErrnoRefused, "order not exist")
		}
		return f.detail(o), nil
	case eleme.CmdOrderList:
		return f.list(p)
	case eleme.CmdOrderConfirm:
		return f.step(p.get("order_id"), fakeorder.StatusNew, fakeorder.StatusConfirmed, nil)
	case eleme.CmdPickComplete:
		return f.step(p.get("order_id"), fakeorder.StatusConfirmed, fakeorder.StatusPrepared, nil)
	case eleme.CmdOrderCancel:
		typ, reason := p.get("type"), p.get("reason")
		switch typ {
		case "1", "2", "3", "4", "5", "6", "7", "8":
		case eleme.CancelCustom:
			if strings.TrimSpace(reason) == "" {
				return nil, refuse(eleme.ErrnoRefused, "reason required when type is -1")
			}
		default:
			return nil, refuse(eleme.ErrnoRefused, "type %q invalid", typ)
		}
		o := f.orders[p.get("order_id")]
		switch {
		case o == nil:
			return nil, refuse(eleme.ErrnoRefused, "order not exist")
		case o.Status != fakeorder.StatusNew && o.Status != fakeorder.StatusConfirmed && o.Status != fakeorder.StatusPrepared:
			return nil, refuse(eleme.ErrnoRefused, "order status %d does not allow this", platformStatus(o))
		}
		o.Status, o.CancelCode, o.CancelReason = fakeorder.StatusCancelled, typ, reason
		return nil, nil
	case eleme.CmdStockBatch:
		return f.stock(p)
	}
	return nil, refuse(eleme.ErrnoRefused, "cmd %q not supported", cmd)
}

// step moves an order from one state to the next, as a merchant call; the lock is held.
func (f *Fake) step(orderID, from, to string, do func(*order)) (any, *refusal) {
	o := f.orders[orderID]
	switch {
	case o == nil:
		return nil, refuse(eleme.ErrnoRefused, "order not exist")
	case o.Status != from:
		return nil, refuse(eleme.ErrnoRefused, "order status %d does not allow this", platformStatus(o))
	}
	o.Status = to
	if do != nil {
		do(o)
	}
	return nil, nil
}

// platformStatus is the order's state as Ele.me numbers it.
func platformStatus(o *order) int {
	switch o.Status {
	case fakeorder.StatusNew:
		return eleme.StatusNew
	case fakeorder.StatusConfirmed, fakeorder.StatusPrepared:
		return eleme.StatusConfirmed
	case fakeorder.StatusCompleted:
		return eleme.StatusCompleted
	}
	return eleme.StatusCancelled
}

// detail is order.get's data for o; the lock is held.
func (f *Fake) detail(o *order) map[string]any {
	var total int64
	products := []map[string]any{}
	for i, l := range o.Lines {
		total += l.PriceFen * l.Qty
		products = append(products, map[string]any{"baidu_product_id": skuID(l.Code), "custom_sku_id": l.Code,
			"upc": "", "product_name": l.Name, "product_type": 1, "product_price": l.PriceFen, "product_amount": l.Qty,
			"product_fee": l.PriceFen * l.Qty, "package_price": 0, "package_amount": 0, "package_fee": 0,
			"total_fee": l.PriceFen * l.Qty, "product_custom_index": fmt.Sprintf("%s_0_%d", skuID(l.Code), i)})
	}
	commission := total * commissionPercent / 100
	partRefund := 0
	if len(o.refunded) > 0 {
		partRefund = 1
	}
	return map[string]any{
		"source": f.source,
		"shop":   map[string]any{"id": o.ShopID, "name": "门店 " + o.ShopID, "baidu_shop_id": skuID("shop:" + o.ShopID)},
		"order": map[string]any{"order_id": o.ID, "eleme_order_id": o.ID, "order_index": strconv.Itoa(o.DaySeq),
			"status": platformStatus(o), "send_immediately": 1, "send_fee": 0, "package_fee": 0, "discount_fee": 0,
			"total_fee": total, "shop_fee": total - commission, "user_fee": total, "commission": commission,
			"pay_type": 2, "pay_status": 2, "remark": "", "create_time": strconv.FormatInt(o.created.Unix(), 10),
			"ext": map[string]any{"part_refund": partRefund}},
		"user": map[string]any{"name": "顾客", "phone": "13800000000,1234", "gender": 1,
			"address": "测试路 1 号"},
		"products": [][]map[string]any{products},
		"discount": []any{},
	}
}

// list is order.list: the shop's orders created in [start_time, end_time], oldest first, by page.
func (f *Fake) list(p params) (any, *refusal) {
	shopID := p.get("shop_id")
	if f.shops[shopID] == nil {
		return nil, refuse(eleme.ErrnoRefused, "shop not exist")
	}
	start, err1 := strconv.ParseInt(p.get("start_time"), 10, 64)
	end, err2 := strconv.ParseInt(p.get("end_time"), 10, 64)
	if err1 != nil || err2 != nil || end < start {
		return nil, refuse(eleme.ErrnoRefused, "start_time and end_time invalid")
	}
	page := int64(1)
	if s := p.get("page"); s != "" {
		var err error
		if page, err = strconv.ParseInt(s, 10, 64); err != nil || page < 1 {
			return nil, refuse(eleme.ErrnoRefused, "page invalid")
		}
	}
	status := p.get("status")
	var hits []*order
	for _, o := range f.orders {
		at := o.created.Unix()
		if o.ShopID == shopID && at >= start && at <= end && (status == "" || status == strconv.Itoa(platformStatus(o))) {
			hits = append(hits, o)
		}
	}
	sort.Slice(hits, func(i, j int) bool {
		if !hits[i].created.Equal(hits[j].created) {
			return hits[i].created.Before(hits[j].created)
		}
		return hits[i].ID < hits[j].ID
	})
	list := []map[string]any{}
	for i := (page - 1) * pageSize; i < int64(len(hits)) && i < page*pageSize; i++ {
		o := hits[i]
		list = append(list, map[string]any{"order_id": o.ID, "eleme_order_id": o.ID, "status": platformStatus(o),
			"order_from": "2", "create_time": o.created.Unix()})
	}
	pages := (int64(len(hits)) + pageSize - 1) / pageSize
	return map[string]any{"total": len(hits), "page": page, "pages": pages, "list": list}, nil
}

// stock is sku.stock.update.batch by custom_sku_id "code:qty;code:qty": at most 100, stock 0–99999.
func (f *Fake) stock(p params) (any, *refusal) {
	s := f.shops[p.get("shop_id")]
	if s == nil {
		return nil, refuse(eleme.ErrnoRefused, "shop not exist")
	}
	if p.get("skuid_stocks") != "" || p.get("upc_stocks") != "" {
		return nil, refuse(eleme.ErrnoRefused, "only custom_sku_id is served here")
	}
	spec := p.get("custom_sku_id")
	if spec == "" {
		return nil, refuse(eleme.ErrnoRefused, "custom_sku_id required")
	}
	entries := strings.Split(strings.TrimSuffix(spec, ";"), ";")
	if len(entries) > eleme.MaxStockBatch {
		return nil, refuse(eleme.ErrnoRefused, "at most %d custom_sku_id per call, got %d", eleme.MaxStockBatch, len(entries))
	}
	levels := map[string]int64{}
	var order []string
	for _, en := range entries {
		code, qty, ok := strings.Cut(en, ":")
		q, err := strconv.ParseInt(qty, 10, 64)
		if !ok || code == "" || err != nil || q < 0 || q > eleme.MaxStock {
			return nil, refuse(eleme.ErrnoRefused, "custom_sku_id entry %q invalid (stock 0-%d)", en, eleme.MaxStock)
		}
		if _, seen := levels[code]; !seen {
			order = append(order, code)
		}
		levels[code] = q
	}
	var failed []map[string]any
	for _, code := range order {
		if s.unlisted[code] {
			failed = append(failed, map[string]any{"custom_sku_id": code, "error_no": 1, "error_msg": "商品不存在"})
			continue
		}
		s.stock[code] = levels[code]
	}
	if failed != nil {
		return nil, &refusal{errno: eleme.ErrnoSKUFailed, msg: compactJSON(map[string]any{"failed_list": failed})}
	}
	return "", nil
}
