package eleme

import (
	"encoding/json"
	"testing"

	"github.com/o2ohub/o2ohub/core/market"
)

// The shape of a real order.get answer as integrations quote it: numbers as strings, products in bags,
// discounts with the platform's share in baidu_rate.
const orderGetData = `{"source":"62863","shop":{"id":"test_781544_62863","name":"店","baidu_shop_id":"2234526556"},
"order":{"order_from":"2","cold_box_fee":"0","eleme_order_id":"2100170426395197452","ext":{"taoxi_flag":0},
"commission":"137","order_id":"15397181282021","order_index":"3","status":5,"send_fee":300,"package_fee":"100",
"total_fee":"2900","shop_fee":2063,"user_fee":1700,"remark":"不要辣","create_time":"1539718127","discount_fee":1200},
"user":{"name":"陆先生","phone":"17865218840","gender":1,"address":"文化路 1 号","province":null,"coord":{"longitude":116.9,"latitude":35.5}},
"products":[[{"baidu_product_id":"1539717705337067","custom_sku_id":"SKU-9","product_name":"蝌蚪","product_price":"1250","product_amount":2,"product_fee":2500}],
[{"baidu_product_id":"1539717705337068","custom_sku_id":"","product_name":"赠品","product_price":0,"product_amount":"1"}]],
"discount":[{"type":"jian","fee":1000,"baidu_rate":"600","shop_rate":400},{"type":"payenjoy","fee":200,"baidu_rate":200,"shop_rate":0}]}`

func TestNormaliseRealShape(t *testing.T) {
	var w wireOrder
	if err := json.Unmarshal([]byte(orderGetData), &w); err != nil {
		t.Fatal(err)
	}
	o, err := w.normalise()
	if err != nil {
		t.Fatal(err)
	}
	if o.OrderID != "15397181282021" || o.ShopID != "test_781544_62863" || o.DaySeq != 3 || o.Status != market.StatusConfirmed ||
		o.TotalFen != 2900 || o.PaidFen != 1700 || o.SubsidyFen != 800 || o.CommissionFen != 137 ||
		o.Remark != "不要辣" || o.Recipient != "陆先生" || o.PlacedAt.Unix() != 1539718127 {
		t.Fatalf("%+v", o)
	}
	if len(o.Lines) != 2 || o.Lines[0] != (market.Line{Code: "SKU-9", PlatformSKU: "1539717705337067", Name: "蝌蚪", Qty: 2, PriceFen: 1250}) ||
		o.Lines[1].Code != "" || o.Lines[1].Qty != 1 {
		t.Fatalf("lines %+v", o.Lines)
	}
	// A fractional amount is not fen: refused, never rounded.
	var bad wireOrder
	if err := json.Unmarshal([]byte(`{"order":{"order_id":"1","total_fee":"12.5"}}`), &bad); err == nil {
		t.Fatal("took 12.5 fen")
	}
}

func TestMapStatus(t *testing.T) {
	for s, want := range map[int64]market.Status{1: "new", 5: "confirmed", 7: "confirmed", 8: "delivering", 9: "completed",
		10: "cancelled", 15: "cancelled", 2: "unknown"} {
		if got := mapStatus(s, false); got != want {
			t.Errorf("%d → %s, want %s", s, got, want)
		}
	}
	if mapStatus(15, true) != market.StatusUnknown {
		t.Error("15 with a partial refund")
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		errno int64
		msg   string
		kind  error
	}{
		{ErrnoAuth, "x", market.ErrAuth}, {7, "sign error", market.ErrAuth}, {8, "签名错误", market.ErrAuth},
		{ErrnoRateLimited, "x", market.ErrRateLimited}, {9, "调用频率超过限制", market.ErrRateLimited},
		{ErrnoSystem, "x", nil}, {10, "系统错误", nil}, {1, "订单状态不允许", market.ErrRefused},
	} {
		ce := classify(c.errno, c.msg).(*market.CallError)
		if ce.Kind != c.kind || (c.kind == market.ErrRateLimited) != (ce.RetryAfter > 0) {
			t.Errorf("%d %q → %v", c.errno, c.msg, ce)
		}
	}
}
