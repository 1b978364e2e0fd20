package meituanfake

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/integrations/meituan"
)

func TestEncodePushEncodesTwice(t *testing.T) {
	got := EncodePush(url.Values{"caution": {"100% 辣"}, "order_id": {"1"}, "recipient_name": {"a&b"}})
	want := "caution=100%2525%2B%25E8%25BE%25A3&order_id=1&recipient_name=a%2526b"
	if got != want {
		t.Errorf("EncodePush = %s, want %s", got, want)
	}
}

// call makes a signed GET to the fake and returns the answer's error code (0 for success).
func call(t *testing.T, srv *httptest.Server, path string, p url.Values, secret string) int {
	t.Helper()
	p.Set("app_id", "1")
	p.Set("timestamp", strconv.FormatInt(time.Now().Unix(), 10))
	p.Set("sig", meituan.Sign(srv.URL+APIPrefix+path, p, secret))
	resp, err := http.Get(srv.URL + APIPrefix + path + "?" + p.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var a struct {
		Error *struct {
			Code int `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		t.Fatalf("%s: %s", path, b)
	}
	if a.Error == nil {
		return 0
	}
	return a.Error.Code
}

func TestAPIChecks(t *testing.T) {
	f := New(Options{AppID: "1", AppSecret: "k"})
	defer f.Close()
	f.AddShop("S")
	srv := httptest.NewServer(f)
	defer srv.Close()
	id, err := f.PlaceOrder("S", []OrderLine{{Code: "A", Name: "a", Qty: 1, PriceFen: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		path   string
		p      url.Values
		secret string
		code   int
	}{
		{meituan.PathConfirm, url.Values{"order_id": {id}}, "wrong", 703},
		{meituan.PathConfirm, url.Values{}, "k", 701},
		{meituan.PathConfirm, url.Values{"order_id": {"42"}}, "k", 806},
		{meituan.PathPrepared, url.Values{"order_id": {id}}, "k", 808},
		{meituan.PathConfirm, url.Values{"order_id": {id}}, "k", 0},
		{meituan.PathConfirm, url.Values{"order_id": {id}}, "k", 808},
		{meituan.PathPrepared, url.Values{"order_id": {id}}, "k", 0},
		{meituan.PathCancel, url.Values{"order_id": {id}, "reason_code": {"x"}}, "k", 705},
		{meituan.PathCancel, url.Values{"order_id": {id}, "reason_code": {"2008"}, "reason": {"忙"}}, "k", 0},
		{meituan.PathCancel, url.Values{"order_id": {id}}, "k", 808},
		{meituan.PathDaySeq, url.Values{"app_poi_code": {"X"}}, "k", 803},
		{meituan.PathOrderIDByDaySeq, url.Values{"app_poi_code": {"S"}, "date_time": {"19990101"}, "day_seq": {"1"}}, "k", 806},
		{"order/unknown", url.Values{}, "k", 708},
	} {
		if got := call(t, srv, c.path, c.p, c.secret); got != c.code {
			t.Errorf("%s %v: code %d, want %d", c.path, c.p, got, c.code)
		}
	}
	if o, _ := f.Order(id); o.Status != "cancelled" || o.CancelCode != "2008" || o.CancelReason != "忙" {
		t.Errorf("order %+v", o)
	}
	if f.Calls(meituan.PathConfirm) != 5 {
		t.Errorf("confirm calls %d", f.Calls(meituan.PathConfirm))
	}
	if err := f.FinishOrder(id); err == nil {
		t.Error("finished a cancelled order")
	}
	if _, err := f.PlaceOrder("X", []OrderLine{{Code: "A", Qty: 1}}); err == nil {
		t.Error("order at an unknown shop")
	}
}
