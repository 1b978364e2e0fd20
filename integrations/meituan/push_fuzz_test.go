package meituan_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/internal/pushrec"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
)

const (
	fuzzApp     = "6118"
	fuzzSecret  = "s3cr3t-for-fuzzing"
	fuzzPushURL = "https://hub.example.com/webhooks/meituan"
)

// genuinePushes are the pushes the Meituan fake signs and sends for an order's life: paid, a partial
// refund, cancel, and another order's paid.
func genuinePushes(f *testing.F, c *meituan.Client) []market.Inbound {
	rec := pushrec.New(c, path.Base)
	clk := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	fake := meituanfake.New(meituanfake.Options{AppID: fuzzApp, AppSecret: fuzzSecret, PushURL: fuzzPushURL,
		Clock: func() time.Time { return clk }, HTTPClient: rec.Client(), RetryInterval: time.Millisecond})
	defer fake.Close()
	fake.AddShop("S1")
	lines := []meituanfake.OrderLine{{Code: "MILK", Name: "牛奶 & \"全脂\"", Qty: 3, PriceFen: 350}, {Code: "BREAD", Name: "面包", Qty: 1, PriceFen: 990}}
	a, err := fake.PlaceOrder("S1", lines)
	if err != nil {
		f.Fatal(err)
	}
	if err := fake.RefundLines(a, []meituanfake.OrderLine{{Code: "MILK", Qty: 1}}); err != nil {
		f.Fatal(err)
	}
	if err := fake.CancelOrder(a, "用户取消 100%"); err != nil {
		f.Fatal(err)
	}
	if _, err := fake.PlaceOrder("S1", lines[:1]); err != nil {
		f.Fatal(err)
	}
	return rec.Wait(f, 4)
}

func fuzzClient(t testing.TB) *meituan.Client {
	c, err := meituan.New(meituan.Config{AppID: fuzzApp, AppSecret: fuzzSecret, PushURL: fuzzPushURL})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// FuzzReadPush feeds ReadPush arbitrary pushes, starting from genuine ones. With resign set, the push's
// parameters are signed with the app's secret first (as Meituan would sign them), so the fuzzer explores
// the parsing behind the signature. ReadPush must never panic, fail only with ErrBadSignature, ErrForeign
// or ErrMalformed, accept nothing but Meituan's URL check without a valid sig, and Reply must always
// answer in Meituan's format.
func FuzzReadPush(f *testing.F) {
	c := fuzzClient(f)
	for _, in := range genuinePushes(f, c) {
		if _, err := c.ReadPush(in); err != nil {
			f.Fatalf("a genuine %s push is refused: %v", in.Event, err)
		}
		f.Add(in.Method, in.Event, in.Query.Encode(), in.Body, in.ContentType, false)
		f.Add(in.Method, in.Event, in.Query.Encode(), in.Body, in.ContentType, true)
	}
	f.Add("GET", "paid", "", []byte{}, "", false)
	f.Add("POST", "finished", "", []byte("app_id=6118&order_id=27000000000000002&app_poi_code=S1&status=8&timestamp=1772359200"), "application/x-www-form-urlencoded", true)
	f.Add("POST", "confirmed", "", []byte("app_id=6118&order_id=27000000000000002&timestamp=1772359200"), "", true)
	f.Add("POST", "refund", "app_id=6118&order_id=1&notify_type=part&food=%255B%257B%2522app_food_code%2522%253A%2522A%2522%252C%2522quantity%2522%253A1%252C%2522refund_price%2522%253A1e400%257D%255D", []byte{}, "", true)
	f.Add("POST", "paid", "", []byte("app_id=6118&order_id=1&detail=%5B%5D&timestamp=x"), "application/x-www-form-urlencoded", true)
	f.Add("POST", "paid", "", []byte("app_id=6118&order_id=1&detail=%zz"), "text/plain", false)
	f.Fuzz(func(t *testing.T, method, event, query string, body []byte, ctype string, resign bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		in := market.Inbound{Method: method, URL: fuzzPushURL + "/" + event, Event: event, Query: q, Body: body, ContentType: ctype}
		if resign {
			params, err := meituan.PushParams(in)
			if err != nil || len(params) == 0 {
				return
			}
			params.Set("sig", meituan.Sign(fuzzPushURL+"/"+event, params, fuzzSecret))
			in.Query, in.Body, in.ContentType = nil, []byte(meituanfake.EncodePush(params)), "application/x-www-form-urlencoded"
		}
		p, err := c.ReadPush(in)
		switch {
		case err == nil:
			params, perr := meituan.PushParams(in)
			if perr != nil {
				t.Fatalf("ReadPush accepted a push whose parameters do not read: %v", perr)
			}
			if p.Kind != market.PushCheck && strings.ToLower(params.Get("sig")) != meituan.Sign(fuzzPushURL+"/"+event, params, fuzzSecret) {
				t.Fatalf("ReadPush accepted a push without a valid sig: %+v", p)
			}
			if p.Kind != market.PushCheck && (p.OrderID == "" || p.ID == "") {
				t.Fatalf("ReadPush accepted a push without an order: %+v", p)
			}
			if p.Order != nil {
				for _, l := range p.Order.Lines {
					if l.Qty < 0 {
						t.Fatalf("ReadPush accepted an order line of %d units: %+v", l.Qty, l)
					}
				}
			}
			for _, l := range p.Lines {
				if l.Qty < 0 {
					t.Fatalf("ReadPush accepted a refund line of %d units: %+v", l.Qty, l)
				}
			}
		case errors.Is(err, market.ErrBadSignature), errors.Is(err, market.ErrForeign), errors.Is(err, market.ErrMalformed):
		default:
			t.Fatalf("ReadPush failed with an error of its own: %v", err)
		}
		rep := c.Reply(p, err)
		var ans struct {
			Data  string `json:"data"`
			Error *struct {
				Code int    `json:"code"`
				Msg  string `json:"msg"`
			} `json:"error"`
		}
		if json.Unmarshal(rep.Body, &ans) != nil || rep.ContentType != "application/json" {
			t.Fatalf("Reply is not Meituan's JSON: %s %q", rep.ContentType, rep.Body)
		}
		if ok := err == nil; ok != (rep.Status == 200 && ans.Data == "ok" && ans.Error == nil) || !ok && (ans.Data != "ng" || ans.Error == nil || rep.Status < 400) {
			t.Fatalf("Reply to %v is %d %s", err, rep.Status, rep.Body)
		}
	})
}
