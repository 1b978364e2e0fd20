package meituanfake

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// ServeHTTP serves Meituan's API under APIPrefix (GET with a query, or POST with a form body; system
// parameters in either) and POST /sandbox/orders.
func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/sandbox/orders" {
		fakeorder.SandboxForm(f.PlaceOrder).ServeHTTP(w, r)
		return
	}
	api, ok := strings.CutPrefix(r.URL.Path, APIPrefix)
	if !ok {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		f.count(api)
		ng(w, meituan.CodeFormat, "参数格式错误")
		return
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[api]++
	p := r.Form
	switch {
	case p.Get("app_id") == "" || p.Get("timestamp") == "" || p.Get("sig") == "":
		ng(w, meituan.CodeMissing, "缺少参数，数据不完整")
		return
	case p.Get("app_id") != f.opts.AppID:
		ng(w, meituan.CodeNoApp, "app_id不存在")
		return
	case !numericText(p.Get("timestamp")):
		ng(w, meituan.CodeFormat, "参数格式错误")
		return
	case p.Get("sig") != meituan.Sign(scheme+"://"+r.Host+r.URL.Path, p, f.opts.AppSecret):
		ng(w, meituan.CodeSignature, "签名验证错误")
		return
	}
	if code, ok := f.inject[api]; ok {
		delete(f.inject, api)
		msg := "系统错误"
		if code == meituan.CodeRateLimited {
			msg = "接口调用过于频繁，触发流控，请降低调用频率"
		}
		ng(w, code, msg)
		return
	}
	switch api {
	case meituan.PathConfirm, meituan.PathCancel, meituan.PathPrepared, meituan.PathOrderDetail:
		f.orderCall(w, api, p)
	case meituan.PathDaySeq, meituan.PathOrderIDByDaySeq:
		f.seqCall(w, api, p)
	case meituan.PathSkuStock:
		f.stockCall(w, p)
	default:
		ng(w, meituan.CodeNoAPIAccess, "没有权限访问该接口")
	}
}

// count records a call refused before the lock is taken.
func (f *Fake) count(api string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls[api]++
}

// orderCall serves the calls on one order. f.mu is held.
func (f *Fake) orderCall(w http.ResponseWriter, api string, p url.Values) {
	id := p.Get("order_id")
	if id == "" {
		ng(w, meituan.CodeMissing, "缺少参数，数据不完整")
		return
	}
	o := f.orders[id]
	if o == nil {
		ng(w, meituan.CodeNoOrder, "不存在此订单")
		return
	}
	switch api {
	case meituan.PathOrderDetail:
		writeJSON(w, map[string]any{"data": f.orderDetail(o)})
		return
	case meituan.PathConfirm:
		if o.Status != fakeorder.StatusNew {
			break
		}
		o.Status = fakeorder.StatusConfirmed
		f.push(meituan.EventConfirmed, f.orderParams(o))
		writeJSON(w, map[string]any{"data": "ok"})
		return
	case meituan.PathPrepared:
		if o.Status != fakeorder.StatusConfirmed {
			break
		}
		o.Status = fakeorder.StatusPrepared
		writeJSON(w, map[string]any{"data": "ok"})
		return
	case meituan.PathCancel:
		code := p.Get("reason_code")
		if code != "" && !numericText(code) || len(code) > 9 {
			ng(w, meituan.CodeFormat, "参数格式错误")
			return
		}
		if !open(o.Status) {
			break
		}
		if code == "" {
			code = strconv.Itoa(meituan.ReasonOther)
		}
		o.Status, o.CancelReason, o.CancelCode = fakeorder.StatusCancelled, p.Get("reason"), code
		f.push(meituan.EventCancel, url.Values{"order_id": {o.ID}, "reason_code": {code}, "reason": {o.CancelReason},
			"deal_op_type": {"6"}})
		writeJSON(w, map[string]any{"data": "ok"})
		return
	}
	ng(w, meituan.CodeFailed, "操作失败，订单状态已变更")
}

// seqCall serves the day-sequence pull. f.mu is held.
func (f *Fake) seqCall(w http.ResponseWriter, api string, p url.Values) {
	s := f.shops[p.Get("app_poi_code")]
	if p.Get("app_poi_code") == "" {
		ng(w, meituan.CodeMissing, "缺少参数，数据不完整")
		return
	}
	if s == nil {
		ng(w, meituan.CodeNoShop, "不存在此门店")
		return
	}
	if api == meituan.PathDaySeq {
		today := f.opts.Clock().In(cn.Zone).Format("20060102")
		writeJSON(w, map[string]any{"data": map[string]any{"day_seq": len(s.days[today])}})
		return
	}
	day, seq := p.Get("date_time"), p.Get("day_seq")
	n, err := strconv.Atoi(seq)
	if len(day) != 8 || !numericText(day) || err != nil {
		ng(w, meituan.CodeFormat, "参数格式错误")
		return
	}
	ids := s.days[day]
	if n < 1 || n > len(ids) {
		ng(w, meituan.CodeNoOrder, "不存在此订单")
		return
	}
	writeJSON(w, map[string]any{"data": map[string]any{"order_id": json.Number(ids[n-1])}})
}

// stockCall serves retail/sku/stock: absolute stock per SKU; delisted SKUs are refused one by one. f.mu is
// held.
func (f *Fake) stockCall(w http.ResponseWriter, p url.Values) {
	s := f.shops[p.Get("app_poi_code")]
	if p.Get("app_poi_code") == "" || p.Get("food_data") == "" {
		ng(w, meituan.CodeMissing, "缺少参数，数据不完整")
		return
	}
	if s == nil {
		ng(w, meituan.CodeNoShop, "不存在此门店")
		return
	}
	var foods []struct {
		AppSpuCode string `json:"app_spu_code"`
		Skus       []struct {
			SkuID string `json:"sku_id"`
			Stock string `json:"stock"`
		} `json:"skus"`
	}
	if err := json.Unmarshal([]byte(p.Get("food_data")), &foods); err != nil || len(foods) == 0 {
		ng(w, meituan.CodeFormat, "参数格式错误")
		return
	}
	type item struct {
		AppSpuCode string `json:"app_spu_code"`
		SkuID      string `json:"sku_id"`
		Code       int    `json:"code,omitempty"`
		Msg        string `json:"msg,omitempty"`
	}
	var okList, errList []item
	for _, fd := range foods {
		if fd.AppSpuCode == "" || len(fd.Skus) == 0 {
			errList = append(errList, item{fd.AppSpuCode, "", meituan.CodeFormat, "参数格式错误"})
			continue
		}
		for _, sku := range fd.Skus {
			n, err := strconv.ParseInt(sku.Stock, 10, 64)
			switch {
			case sku.SkuID == "" || err != nil || n < 0:
				errList = append(errList, item{fd.AppSpuCode, sku.SkuID, meituan.CodeFormat, "参数格式错误"})
			case s.delisted[sku.SkuID] || s.delisted[fd.AppSpuCode]:
				errList = append(errList, item{fd.AppSpuCode, sku.SkuID, meituan.CodeNoSKU, "不存在此菜品sku"})
			default:
				s.stock[sku.SkuID] = n
				okList = append(okList, item{AppSpuCode: fd.AppSpuCode, SkuID: sku.SkuID})
			}
		}
	}
	switch {
	case len(errList) == 0:
		writeJSON(w, map[string]any{"data": "ok"})
	case len(okList) == 0:
		writeJSON(w, map[string]any{"data": "ng", "result_code": 3, "msg": "全部操作失败", "error_list": errList})
	default:
		writeJSON(w, map[string]any{"data": "ng", "result_code": 2, "msg": "部分成功", "error_list": errList,
			"success_list": okList})
	}
}

// numericText reports whether s is a non-empty string of ASCII digits.
func numericText(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func ng(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, map[string]any{"data": "ng", "error": map[string]any{"code": code, "msg": msg}})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
