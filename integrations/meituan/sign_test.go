package meituan

import (
	"net/url"
	"testing"
)

// The expected values were computed outside Go, by hand, with the shell commands beside each vector.
func TestSignGolden(t *testing.T) {
	for _, c := range []struct {
		name, url string
		params    url.Values
		want      string
	}{
		{
			// printf '%s' 'https://waimaiopen.meituan.com/api/v1/order/confirm?app_id=6118&order_id=27061900338318741&timestamp=1700000000s3cr3t' | md5sum
			name: "call",
			url:  "https://waimaiopen.meituan.com/api/v1/order/confirm",
			params: url.Values{"timestamp": {"1700000000"}, "order_id": {"27061900338318741"}, "app_id": {"6118"},
				"sig": {"ignored"}},
			want: "31bb9d405896fddafe809c3fd4e4a3d4",
		},
		{
			// printf '%s' 'https://hub.example.com/webhooks/meituan/paid?app_id=6118&caution=少放辣 100%&detail=[{"app_food_code":"A1","quantity":2,"price":3.5}]&order_id=123&timestamp=1700000000&wm_poi_name=s3cr3t' | md5sum
			name: "push with raw text, JSON and an empty value",
			url:  "https://hub.example.com/webhooks/meituan/paid",
			params: url.Values{"app_id": {"6118"}, "caution": {"少放辣 100%"}, "order_id": {"123"},
				"detail":    {`[{"app_food_code":"A1","quantity":2,"price":3.5}]`},
				"timestamp": {"1700000000"}, "wm_poi_name": {""}, "sig": {"917e"}},
			want: "917e171878ae6794a551f714979ac492",
		},
		{
			// printf '%s' 'https://waimaiopen.meituan.com/api/v1/retail/sku/stock?app_id=6118&app_poi_code=S1&food_data=[{"app_spu_code":"C1","skus":[{"sku_id":"C1","stock":"12"}]}]&timestamp=1700000000s3cr3t' | md5sum
			name: "stock",
			url:  "https://waimaiopen.meituan.com/api/v1/retail/sku/stock",
			params: url.Values{"app_id": {"6118"}, "app_poi_code": {"S1"}, "timestamp": {"1700000000"},
				"food_data": {`[{"app_spu_code":"C1","skus":[{"sku_id":"C1","stock":"12"}]}]`}},
			want: "4f3ea3046f41512405235cfbaf287174",
		},
	} {
		if got := Sign(c.url, c.params, "s3cr3t"); got != c.want {
			t.Errorf("%s: Sign = %s, want %s", c.name, got, c.want)
		}
	}
}
