package meituan

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
)

// getOrderDetail as some SDKs show it: data a list, detail and poi_receive_detail as JSON, a subsidy.
func TestParseOrderDetailVariants(t *testing.T) {
	data := json.RawMessage(`[{"order_id":27061900338318741,"app_poi_code":"S9","status":4,"day_seq":12,
		"total":25.5,"original_price":31.05,"ctime":1700000000,"recipient_name":"李四","caution":"",
		"detail":[{"app_spu_code":"A1","sku_id":"","food_name":"苹果","quanity":3,"price":2.8,"item_id":88},
		          {"app_food_code":"B2","food_name":"梨","quantity":1,"price":10}],
		"poi_receive_detail":{"actOrderChargeByMt":[{"moneyCent":150},{"moneyCent":205}],
		          "foodShareFeeChargeByPoi":204,"wmPoiReceiveCent":2000}}]`)
	f, err := jsonFields(data)
	if err != nil {
		t.Fatal(err)
	}
	o, err := parseOrder(f)
	if err != nil {
		t.Fatal(err)
	}
	if o.OrderID != "27061900338318741" || o.ShopID != "S9" || o.Status != market.StatusConfirmed || o.DaySeq != 12 {
		t.Errorf("order %+v", o)
	}
	if o.PaidFen != 2550 || o.TotalFen != 3105 || o.SubsidyFen != 355 || o.CommissionFen != 204 {
		t.Errorf("money paid %d total %d subsidy %d commission %d", o.PaidFen, o.TotalFen, o.SubsidyFen, o.CommissionFen)
	}
	if len(o.Lines) != 2 || o.Lines[0] != (market.Line{Code: "A1", PlatformSKU: "88", Name: "苹果", Qty: 3, PriceFen: 280}) ||
		o.Lines[1] != (market.Line{Code: "B2", Name: "梨", Qty: 1, PriceFen: 1000}) {
		t.Errorf("lines %+v", o.Lines)
	}
	if !o.PlacedAt.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("placed %v", o.PlacedAt)
	}
	f["total"] = "25.555"
	if _, err := parseOrder(f); err == nil {
		t.Error("a third decimal was taken")
	}
}

func TestMapStatus(t *testing.T) {
	for code, want := range map[string]market.Status{"1": market.StatusNew, "2": market.StatusNew,
		"4": market.StatusConfirmed, "8": market.StatusCompleted, "9": market.StatusCancelled, "3": market.StatusUnknown,
		"": market.StatusUnknown} {
		if got := MapStatus(code); got != want {
			t.Errorf("MapStatus(%q) = %s, want %s", code, got, want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	for _, c := range []Config{{}, {AppID: "1"}, {AppID: "1", AppSecret: "k", Base: "ftp://x"},
		{AppID: "1", AppSecret: "k", PushURL: "https://h/x?y=1"}} {
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v) accepted", c)
		}
	}
	if _, err := New(Config{AppID: "1", AppSecret: "k"}); err != nil {
		t.Error(err)
	}
}
