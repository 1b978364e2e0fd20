package jddjfake

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
	"github.com/o2ohub/o2ohub/integrations/jddj"
)

// ServeHTTP serves JD's API paths and POST /sandbox/orders.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sandbox/orders" {
		fakeorder.SandboxForm(f.PlaceOrder).ServeHTTP(w, r)
		return
	}
	path := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, "/djapi"), "/")
	f.mu.Lock()
	f.calls[path]++
	f.mu.Unlock()
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	if err := r.ParseForm(); err != nil {
		f.fail(w, jddj.CodeBadParam, "API参数异常")
		return
	}
	biz, code, msg := f.authenticate(r)
	if code != "" {
		f.fail(w, code, msg)
		return
	}
	switch path {
	case jddj.PathAccept:
		f.accept(w, biz)
	case jddj.PathJDZBDelivery, jddj.PathDDTCDelivery, jddj.PathSellerDelivery, jddj.PathSelfMention:
		f.picked(w, path, biz)
	case jddj.PathQuery:
		f.query(w, biz)
	case jddj.PathStock:
		f.stockUpdate(w, biz)
	case jddj.PathAfsService:
		f.afsService(w, biz)
	default:
		f.fail(w, jddj.CodeNoMethod, "不存在的方法名")
	}
}

// authenticate checks the system parameters, the credentials, the signature and the timestamp as JD
// does, and returns the business JSON or JD's refusal.
func (f *Fake) authenticate(r *http.Request) (json.RawMessage, string, string) {
	params := map[string]string{}
	for k := range r.Form {
		params[k] = r.Form.Get(k)
	}
	for _, k := range []string{"app_key", "token", "timestamp", "format", "v", "sign", "jd_param_json"} {
		if params[k] == "" {
			return nil, jddj.CodeMissing, "必填项参数未填: " + k
		}
	}
	if params["app_key"] != f.o.AppKey || params["token"] != f.o.Token {
		return nil, jddj.CodeBadToken, "无效Token令牌"
	}
	if jddj.Sign(f.o.AppSecret, params) != params["sign"] {
		return nil, jddj.CodeBadSign, "无效Sign签名"
	}
	if params["format"] != "json" || params["v"] != "1.0" {
		return nil, jddj.CodeBadParam, "API参数异常"
	}
	at, err := jddj.ParseTime(params["timestamp"])
	if d := f.o.Clock().Sub(at); err != nil || d > jddj.Skew || d < -jddj.Skew {
		return nil, jddj.CodeBadParam, "API参数异常: timestamp超出允许范围"
	}
	biz := json.RawMessage(params["jd_param_json"])
	if !json.Valid(biz) {
		return nil, jddj.CodeBadParam, "API参数异常: jd_param_json"
	}
	return biz, "", ""
}

// answer writes JD's success envelope with data as JSON text (or encryptData).
func (f *Fake) answer(w http.ResponseWriter, data any) {
	text, _ := json.Marshal(data)
	env := map[string]any{"code": jddj.CodeOK, "msg": "操作成功", "success": true}
	if f.o.Encrypt {
		enc, _ := jddj.Encrypt(f.o.AppSecret, string(text))
		env["encryptData"] = enc
	} else {
		env["data"] = string(text)
	}
	writeJSON(w, http.StatusOK, env)
}

// fail writes JD's gateway refusal (HTTP 200, as JD answers).
func (f *Fake) fail(w http.ResponseWriter, code, msg string) {
	writeJSON(w, http.StatusOK, map[string]any{"code": code, "msg": msg, "data": nil, "success": false})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// business is the inner answer of order calls.
func business(code, msg string) map[string]any { return map[string]any{"code": code, "msg": msg} }

func (f *Fake) accept(w http.ResponseWriter, biz json.RawMessage) {
	var q struct {
		OrderID  string `json:"orderId"`
		IsAgreed *bool  `json:"isAgreed"`
		Operator string `json:"operator"`
	}
	if json.Unmarshal(biz, &q) != nil || q.OrderID == "" || q.IsAgreed == nil || q.Operator == "" {
		f.fail(w, jddj.CodeMissing, "必填项参数未填")
		return
	}
	f.mu.Lock()
	o, ok := f.orders[q.OrderID]
	switch {
	case !ok:
		f.mu.Unlock()
		f.answer(w, business(jddj.CodeFailed, "订单不存在"))
		return
	case o.Status != StatusNew:
		f.mu.Unlock()
		f.answer(w, business(jddj.CodeFailed, "订单状态不允许接单操作"))
		return
	}
	msg, status := jddj.MsgOrderWaitOutStore, "32000"
	if *q.IsAgreed {
		o.Status = StatusConfirmed
	} else {
		o.Status, o.CancelReason = StatusCancelled, "商家拒单"
		msg, status = jddj.MsgUserCancelOrder, "20020"
	}
	f.mu.Unlock()
	f.answer(w, business(jddj.CodeOK, "操作成功"))
	f.push(msg, q.OrderID, status)
}

func (f *Fake) picked(w http.ResponseWriter, path string, biz json.RawMessage) {
	var q struct {
		OrderID  string `json:"orderId"`
		Operator string `json:"operator"`
	}
	if json.Unmarshal(biz, &q) != nil || q.OrderID == "" || q.Operator == "" {
		f.fail(w, jddj.CodeMissing, "必填项参数未填")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.orders[q.OrderID]
	switch {
	case !ok:
		f.answer(w, business(jddj.CodeFailed, "订单不存在"))
	case o.Status != StatusConfirmed:
		f.answer(w, business(jddj.CodeFailed, "订单状态不允许拣货完成"))
	case jddj.PreparedPath(o.carrier) != path:
		f.answer(w, business(jddj.CodeFailed, "订单配送方式与接口不符"))
	default:
		o.Status = StatusPrepared
		f.answer(w, business(jddj.CodeOK, "操作成功"))
	}
}

// maxPageSize is order/es/query's largest page.
const maxPageSize = 100

func (f *Fake) query(w http.ResponseWriter, biz json.RawMessage) {
	var q struct {
		OrderID     json.Number `json:"orderId"`
		Begin       string      `json:"orderStartTime_begin"`
		End         string      `json:"orderStartTime_end"`
		Station     string      `json:"deliveryStationNo"`
		OrderStatus json.Number `json:"orderStatus"`
		PageNo      int         `json:"pageNo"`
		PageSize    int         `json:"pageSize"`
	}
	d := json.NewDecoder(strings.NewReader(string(biz)))
	d.UseNumber()
	if d.Decode(&q) != nil {
		f.fail(w, jddj.CodeBadParam, "API参数异常")
		return
	}
	if q.PageNo <= 0 {
		q.PageNo = 1
	}
	if q.PageSize <= 0 {
		q.PageSize = 20
	}
	if q.PageSize > maxPageSize {
		f.fail(w, jddj.CodeBadParam, "API参数异常: pageSize最大100")
		return
	}
	var begin, end time.Time
	if q.OrderID == "" {
		var err1, err2 error
		begin, err1 = jddj.ParseTime(q.Begin)
		end, err2 = jddj.ParseTime(q.End)
		if err1 != nil || err2 != nil {
			f.fail(w, jddj.CodeMissing, "必填项参数未填: orderId或orderStartTime_begin/orderStartTime_end")
			return
		}
	}
	f.mu.Lock()
	var list []map[string]any
	for _, o := range f.sortedOrders() {
		switch {
		case q.OrderID != "" && o.ID != q.OrderID.String():
			continue
		case q.OrderID == "" && (o.placed.Truncate(time.Second).Before(begin) || o.placed.Truncate(time.Second).After(end)):
			continue
		case q.Station != "" && o.ShopID != q.Station:
			continue
		case q.OrderStatus != "" && wireStatus(o.Status) != q.OrderStatus.String():
			continue
		}
		list = append(list, f.wireOrder(o))
	}
	f.mu.Unlock()
	total := len(list)
	from := min((q.PageNo-1)*q.PageSize, total)
	to := min(from+q.PageSize, total)
	page := list[from:to]
	if page == nil {
		page = []map[string]any{}
	}
	f.answer(w, map[string]any{"code": "0", "msg": "操作成功", "result": map[string]any{
		"pageNo": q.PageNo, "pageSize": q.PageSize, "maxPageSize": maxPageSize, "totalCount": total, "resultList": page,
	}})
}

// wireOrder writes an order as order/es/query does (amounts in fen, ids as numbers).
func (f *Fake) wireOrder(o *order) map[string]any {
	id, _ := strconv.ParseInt(o.ID, 10, 64)
	products := make([]map[string]any, len(o.Lines))
	for i, l := range o.Lines {
		products[i] = map[string]any{
			"skuId": 2000000000 + int64(i) + 1, "skuIdIsv": l.Code, "skuName": l.Name, "skuCount": l.Qty,
			"skuJdPrice": l.PriceFen, "skuStorePrice": l.PriceFen,
		}
	}
	status, _ := strconv.Atoi(wireStatus(o.Status))
	return map[string]any{
		"orderId": id, "orderStatus": status, "orderStartTime": jddj.Timestamp(o.placed),
		"orderNum": o.DaySeq, "deliveryStationNo": o.ShopID, "deliveryStationNoIsv": "", "deliveryCarrierNo": o.carrier,
		"deliveryCarrierName": "达达专送", "buyerFullName": "测试用户", "buyerMobile": "13800000000",
		"buyerFullAddress": "北京市朝阳区测试路1号", "orderTotalMoney": o.totalFen, "orderDiscountMoney": 0,
		"orderFreightMoney": 0, "orderBuyerPayableMoney": o.totalFen, "orderBuyerRemark": "", "orderCancelRemark": o.CancelReason,
		"product": products, "discount": []any{},
	}
}

// stockUpdate serves stock/batchUpdateCurrentQtys with JD's batch size and rate limit.
func (f *Fake) stockUpdate(w http.ResponseWriter, biz json.RawMessage) {
	now := f.o.Clock()
	f.mu.Lock()
	if now.Before(f.lockedUntil) {
		f.mu.Unlock()
		f.fail(w, jddj.CodeRateLimited, "调用次数超过限制")
		return
	}
	keep := f.stockWindow[:0]
	for _, t := range f.stockWindow {
		if now.Sub(t) < time.Minute {
			keep = append(keep, t)
		}
	}
	f.stockWindow = append(keep, now)
	if len(f.stockWindow) > StockCallsPerMinute {
		f.lockedUntil = now.Add(jddj.RateLimitLockout)
		f.mu.Unlock()
		f.fail(w, jddj.CodeRateLimited, "调用次数超过限制")
		return
	}
	f.mu.Unlock()
	var q struct {
		StationNo    string `json:"stationNo"`
		OutStationNo string `json:"outStationNo"`
		UserPin      string `json:"userPin"`
		SkuStockList []struct {
			OutSkuID string `json:"outSkuId"`
			StockQty *int64 `json:"stockQty"`
		} `json:"skuStockList"`
	}
	if json.Unmarshal(biz, &q) != nil || q.UserPin == "" || (q.StationNo == "" && q.OutStationNo == "") || len(q.SkuStockList) == 0 {
		f.fail(w, jddj.CodeMissing, "必填项参数未填")
		return
	}
	if len(q.SkuStockList) > jddj.StockBatchSize {
		f.fail(w, jddj.CodeBadParam, "API参数异常: skuStockList最多50个")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.shops[q.StationNo] {
		f.answer(w, map[string]any{"retCode": "1", "retMsg": "门店不存在", "data": []any{}})
		return
	}
	if f.stock[q.StationNo] == nil {
		f.stock[q.StationNo] = map[string]int64{}
	}
	retCode, retMsg := "0", "操作成功"
	results := make([]map[string]any, 0, len(q.SkuStockList))
	for _, s := range q.SkuStockList {
		if s.OutSkuID == "" || s.StockQty == nil || *s.StockQty < 0 {
			retCode, retMsg = "1", "部分商品更新失败"
			results = append(results, map[string]any{"outSkuId": s.OutSkuID, "code": "1", "msg": "库存数量不合法"})
			continue
		}
		f.stock[q.StationNo][s.OutSkuID] = *s.StockQty
		results = append(results, map[string]any{"outSkuId": s.OutSkuID, "code": "0", "msg": "成功"})
	}
	f.answer(w, map[string]any{"retCode": retCode, "retMsg": retMsg, "data": results})
}

// afsService answers afs/getAfsService with one after-sale bill, as JD does: the inner code, the bill's
// state and its lines by the merchant's SKU code.
func (f *Fake) afsService(w http.ResponseWriter, biz json.RawMessage) {
	var q struct {
		AfsServiceOrder string `json:"afsServiceOrder"`
	}
	if json.Unmarshal(biz, &q) != nil || q.AfsServiceOrder == "" {
		f.fail(w, jddj.CodeMissing, "必填项参数未填: afsServiceOrder")
		return
	}
	f.mu.Lock()
	b, ok := f.bills[q.AfsServiceOrder]
	f.mu.Unlock()
	if !ok {
		f.answer(w, business(jddj.CodeFailed, "售后单不存在"))
		return
	}
	details := make([]map[string]any, len(b.lines))
	var cash int64
	for i, l := range b.lines {
		details[i] = map[string]any{"skuIdIsv": l.Code, "skuId": 2000000000 + int64(i) + 1, "wareName": l.Name, "skuCount": l.Qty,
			"cashMoney": l.PriceFen * l.Qty, "payPrice": l.PriceFen}
		cash += l.PriceFen * l.Qty
	}
	res := business(jddj.CodeOK, "操作成功")
	res["result"] = map[string]any{"afsServiceOrder": q.AfsServiceOrder, "afsServiceState": 32, "orderId": b.orderID,
		"questionDesc": "商品缺货", "cashMoney": cash, "afsDetailList": details}
	f.answer(w, res)
}
