package jddj_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/internal/pushrec"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
	"github.com/o2ohub/o2ohub/internal/cn"
)

var fuzzClock = time.Date(2026, 3, 1, 10, 0, 0, 0, cn.Zone)

func fuzzClient(t testing.TB, hc *http.Client) *jddj.Client {
	c, err := jddj.New(jddj.Config{AppKey: appKey, AppSecret: secret, Token: token, Operator: "op-pin", Base: "https://jd.example.com/djapi",
		Clock: func() time.Time { return fuzzClock }, HTTPClient: hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// genuinePushes are pushes the JD fake signs and sends, plain and encrypted: a new order and its
// cancellation, and the fake's signed forms of the other messages.
func genuinePushes(f *testing.F, c *jddj.Client) []market.Inbound {
	var all []market.Inbound
	for _, encrypt := range []bool{false, true} {
		rec := pushrec.New(c, func(p string) string { return p[strings.LastIndexByte(p, '/')+1:] })
		fake := jddjfake.New(jddjfake.Options{AppKey: appKey, AppSecret: secret, Token: token, PushURL: "https://hub.example.com/webhooks/jddj",
			Clock: func() time.Time { return fuzzClock }, HTTPClient: rec.Client(), RetryInterval: time.Millisecond, Encrypt: encrypt})
		fake.AddShop(shop)
		id, err := fake.PlaceOrder(shop, []jddjfake.OrderLine{{Code: "MILK", Name: "牛奶", Qty: 2, PriceFen: 350}})
		if err != nil {
			f.Fatal(err)
		}
		if err := fake.CancelOrder(id, "不要了"); err != nil {
			f.Fatal(err)
		}
		all = append(all, rec.Wait(f, 2)...)
		fake.Close()
		for _, msg := range []string{jddj.MsgFinishOrder, jddj.MsgNewAfterSaleBill, jddj.MsgPushDeliveryStatus, jddj.MsgApplyCancelOrder} {
			body := `{"billId":"2600000000001","statusId":"41000","timestamp":"2026-03-01 10:00:00","note":"<退>&%+"}`
			all = append(all, market.Inbound{Method: "POST", Event: msg, Body: []byte(fake.PushForm(body).Encode()),
				ContentType: "application/x-www-form-urlencoded;charset=UTF-8"})
		}
	}
	return all
}

// FuzzReadPush feeds ReadPush arbitrary pushes, starting from genuine ones, plain and encrypted. A
// non-zero resign signs the push with the app's secret first, as JD would (1: over the parameters as
// they are; 2: jd_param_json encrypted, signed over the encrypted form; 3: encrypted, signed over the
// decrypted JSON), so the fuzzer explores the parsing behind the signature. ReadPush must never panic,
// fail only with ErrBadSignature, ErrForeign or ErrMalformed, accept nothing whose signature does not
// verify, and Reply must always answer in JD's format.
func FuzzReadPush(f *testing.F) {
	c := fuzzClient(f, nil)
	for _, in := range genuinePushes(f, c) {
		if _, err := c.ReadPush(in); err != nil {
			f.Fatalf("a genuine %s push is refused: %v", in.Event, err)
		}
		for resign := range uint8(4) {
			f.Add(in.Event, in.Query.Encode(), in.Body, resign)
		}
	}
	f.Add(jddj.MsgNewOrder, "", []byte("app_key="+appKey+"&sign=X&timestamp=2026-03-01+10%3A00%3A00&encrypt_jd_param_json=AAAA"), uint8(0))
	f.Add(jddj.MsgNewOrder, "app_key="+appKey+"&timestamp=2026-13-01+10%3A00%3A00&jd_param_json=%7B%22billId%22%3A1e400%7D", []byte{}, uint8(1))
	f.Fuzz(func(t *testing.T, event, query string, body []byte, resign uint8) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		in := market.Inbound{Method: "POST", Event: event, Query: q, Body: body}
		form := url.Values{}
		for k, v := range q {
			form[k] = v
		}
		if len(body) > 0 {
			b, err := url.ParseQuery(string(body))
			if err != nil {
				b = nil
			}
			for k, v := range b {
				form[k] = v
			}
		}
		params := map[string]string{}
		for k := range form {
			params[k] = form.Get(k)
		}
		if resign%4 != 0 {
			if resign%4 >= 2 && params["jd_param_json"] != "" {
				plain := params["jd_param_json"]
				enc, err := jddj.Encrypt(secret, plain)
				if err != nil {
					t.Fatal(err)
				}
				delete(params, "jd_param_json")
				params["encrypt_jd_param_json"] = enc
				if resign%4 == 3 {
					alt := map[string]string{}
					for k, v := range params {
						alt[k] = v
					}
					delete(alt, "encrypt_jd_param_json")
					alt["jd_param_json"] = plain
					params["sign"] = jddj.Sign(secret, alt)
				} else {
					params["sign"] = jddj.Sign(secret, params)
				}
			} else {
				params["sign"] = jddj.Sign(secret, params)
			}
			out := url.Values{}
			for k, v := range params {
				out.Set(k, v)
			}
			in.Query, in.Body = nil, []byte(out.Encode())
		}
		p, err := c.ReadPush(in)
		switch {
		case err == nil:
			if params["app_key"] != appKey || !genuine(params) {
				t.Fatalf("ReadPush accepted a push JD did not sign: %v", params)
			}
			if p.Platform != market.JDDJ || p.ID == "" || (p.OrderID == "" && p.RefundID == "") {
				t.Fatalf("ReadPush accepted a push naming nothing: %+v", p)
			}
		case errors.Is(err, market.ErrBadSignature), errors.Is(err, market.ErrForeign), errors.Is(err, market.ErrMalformed):
		default:
			t.Fatalf("ReadPush failed with an error of its own: %v", err)
		}
		rep := c.Reply(p, err)
		var a struct{ Code, Msg, Data string }
		if json.Unmarshal(rep.Body, &a) != nil || !strings.HasPrefix(rep.ContentType, "application/json") {
			t.Fatalf("Reply is not JD's JSON: %s %q", rep.ContentType, rep.Body)
		}
		if (err == nil) != (rep.Status == 200 && string(rep.Body) == jddj.Ack) || err != nil && (a.Code == "0" || rep.Status < 400) {
			t.Fatalf("Reply to %v is %d %s", err, rep.Status, rep.Body)
		}
	})
}

// genuine reports whether params carry JD's signature: over the parameters as sent, or over the
// decrypted jd_param_json of an encrypted push.
func genuine(params map[string]string) bool {
	sign := strings.ToUpper(params["sign"])
	if jddj.Sign(secret, params) == sign {
		return true
	}
	plain, err := jddj.Decrypt(secret, params["encrypt_jd_param_json"])
	if err != nil {
		return false
	}
	alt := map[string]string{}
	for k, v := range params {
		alt[k] = v
	}
	delete(alt, "encrypt_jd_param_json")
	alt["jd_param_json"] = plain
	return jddj.Sign(secret, alt) == sign
}

// answerOp is one call whose answer FuzzAnswers decodes.
var answerOps = []func(ctx context.Context, c *jddj.Client) error{
	func(ctx context.Context, c *jddj.Client) error {
		o, err := c.FetchOrder(ctx, shop, "2600000000001")
		for _, l := range o.Lines {
			if err == nil && l.Qty < 0 {
				return errors.New("negative line")
			}
		}
		return err
	},
	func(ctx context.Context, c *jddj.Client) error {
		return c.Confirm(ctx, market.OrderRef{ShopID: shop, OrderID: "1"})
	},
	func(ctx context.Context, c *jddj.Client) error { _, err := c.FetchRefund(ctx, "29000001"); return err },
	func(ctx context.Context, c *jddj.Client) error {
		_, _, err := c.PullOrders(ctx, shop, "", fuzzClock.Add(-time.Hour))
		return err
	},
	func(ctx context.Context, c *jddj.Client) error {
		return c.PushStock(ctx, shop, []market.StockLevel{{Code: "MILK", Qty: 3}})
	},
}

// FuzzAnswers answers the connector's calls with arbitrary bodies (JD's envelope, its data as text or
// as an object, encrypted or not). The connector must never panic, and must not report a negative line.
func FuzzAnswers(f *testing.F) {
	enc, _ := jddj.Encrypt(secret, `{"code":"0","result":{"resultList":[]}}`)
	for op := range uint8(len(answerOps)) {
		for _, s := range []string{`{"code":"0","msg":"success","data":"{\"code\":\"0\",\"msg\":\"ok\",\"result\":{\"pageNo\":1,\"totalCount\":1,\"resultList\":[{\"orderId\":2600000000001,\"orderStatus\":41000,\"product\":[{\"skuIdIsv\":\"MILK\",\"skuCount\":2,\"skuJdPrice\":350}]}]}}"}`,
			`{"code":"0","data":{"code":0,"result":{"resultList":[{"orderId":"1","product":[{"skuCount":-1}]}]}}}`,
			`{"code":"0","data":"","encryptData":"` + enc + `"}`, `{"code":"0","encryptData":"!!"}`, `{"code":"10013","msg":"无效Token令牌"}`,
			`{"code":"0","data":"{\"code\":\"1\",\"msg\":\"失败\"}"}`, `{"code":"0","data":null}`, `[]`, ``} {
			f.Add(op, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, op uint8, body []byte) {
		c := fuzzClient(t, &http.Client{Transport: canned(body)})
		if err := answerOps[int(op)%len(answerOps)](context.Background(), c); err != nil && err.Error() == "negative line" {
			t.Fatalf("a line of negative units was read from %q", body)
		}
	})
}

// canned answers every request with its body.
type canned []byte

func (b canned) RoundTrip(*http.Request) (*http.Response, error) {
	w := httptest.NewRecorder()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
	return w.Result(), nil
}
