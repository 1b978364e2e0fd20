package meituan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core/market"
)

// FuzzDecodeAnswer feeds decodeAnswer arbitrary answers, as a broken proxy or a changed API could send.
// It must never panic, and fail either with a *market.CallError (Meituan refused) or an unreadable answer.
func FuzzDecodeAnswer(f *testing.F) {
	for _, s := range []string{`{"data":"ok"}`, `{"data":"ng","error":{"code":711,"msg":"超过流量限制"}}`,
		`{"data":"ng","error":{"code":"705","msg":"签名错误"}}`, `{"data":[{"order_id":1}]}`,
		`{"result_code":1,"data":"ok"}`, `{"result_code":2,"msg":"部分成功","error_list":[{"app_spu_code":"A","code":1015,"msg":"not listed"}]}`,
		`{"result_code":3,"error_list":"[{\"sku_id\":\"B\",\"error_msg\":\"x\"}]"}`, `{"result_code":9}`, `{"error":{"code":1e400}}`,
		`{"data":"ng"}`, `null`, `[]`, ``, `{"result_code":"1"}`, `{"error_list":{}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		data, err := decodeAnswer("order/confirm", []byte(body))
		var ce *market.CallError
		switch {
		case err == nil:
			if len(strings.TrimSpace(string(data))) > 0 && !json.Valid(data) {
				t.Fatalf("decodeAnswer(%q) returned data that is not JSON: %q", body, data)
			}
		case errors.As(err, &ce):
			if ce.Code == "" {
				t.Fatalf("decodeAnswer(%q) refused without a code: %+v", body, ce)
			}
		case !strings.Contains(err.Error(), "unreadable answer"):
			t.Fatalf("decodeAnswer(%q) failed with %v", body, err)
		}
	})
}

// FuzzParseOrder reads arbitrary getOrderDetail data as an order. It must never panic, and an order it
// reads has an id and no line of fewer than zero units.
func FuzzParseOrder(f *testing.F) {
	f.Add(`[{"order_id":27061900338318741,"app_poi_code":"S9","status":4,"day_seq":12,
		"total":25.5,"original_price":31.05,"ctime":1700000000,"recipient_name":"李四","caution":"",
		"detail":[{"app_spu_code":"A1","sku_id":"","food_name":"苹果","quanity":3,"price":2.8,"item_id":88},
		          {"app_food_code":"B2","food_name":"梨","quantity":1,"price":10}],
		"poi_receive_detail":{"actOrderChargeByMt":[{"moneyCent":150},{"moneyCent":205}],
		          "foodShareFeeChargeByPoi":204,"wmPoiReceiveCent":2000}}]`)
	f.Add(`{"order_id":"1","detail":"[{\"app_food_code\":\"A\",\"quantity\":\"2\",\"price\":\"1.5\"}]","poi_receive_detail":"{}"}`)
	f.Add(`{"order_id":"1","detail":[{"quantity":-1}]}`)
	f.Add(`{"order_id":"1","total":"1e3","day_seq":"x"}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, data string) {
		fl, err := jsonFields(json.RawMessage(data))
		if err != nil {
			return
		}
		o, err := parseOrder(fl)
		if err != nil {
			return
		}
		if o.OrderID == "" {
			t.Fatalf("parseOrder(%q) read an order without an id", data)
		}
		for _, l := range o.Lines {
			if l.Qty < 0 {
				t.Fatalf("parseOrder(%q) read a line of %d units", data, l.Qty)
			}
		}
	})
}
