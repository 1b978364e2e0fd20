package eleme_test

import (
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/eleme/elemefake"
	"github.com/o2ohub/o2ohub/integrations/internal/pushrec"
)

const fuzzPushURL = "https://hub.example.com/webhooks/eleme"

// genuinePushes are the pushes the Ele.me fake signs and sends: order.create, a partial refund and a
// cancellation.
func genuinePushes(f *testing.F, c *eleme.Client) []market.Inbound {
	rec := pushrec.New(c, func(string) string { return "" })
	clk := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	fake := elemefake.New(elemefake.Options{Source: source, Secret: secret, PushURL: fuzzPushURL,
		Clock: func() time.Time { return clk }, HTTPClient: rec.Client(), RetryInterval: time.Millisecond})
	defer fake.Close()
	fake.AddShop(shopID)
	id, err := fake.PlaceOrder(shopID, []elemefake.OrderLine{{Code: "MILK", Name: "牛奶 \"全脂\"", Qty: 3, PriceFen: 350}, {Code: "BREAD", Qty: 1, PriceFen: 990}})
	if err != nil {
		f.Fatal(err)
	}
	if err := fake.RefundLines(id, []elemefake.OrderLine{{Code: "MILK", Qty: 1}}); err != nil {
		f.Fatal(err)
	}
	if err := fake.CancelOrder(id, "不想要了"); err != nil {
		f.Fatal(err)
	}
	return rec.Wait(f, 3)
}

// FuzzReadPush feeds ReadPush arbitrary pushes, starting from genuine ones. With resign set, the envelope
// is signed with the app's secret first (as Ele.me would sign it), so the fuzzer explores the parsing
// behind the signature. ReadPush must never panic, fail only with ErrBadSignature, ErrForeign or
// ErrMalformed, accept nothing whose signature does not verify, and Reply must always answer with an
// envelope Ele.me can verify.
func FuzzReadPush(f *testing.F) {
	c, err := eleme.New(eleme.Config{Source: source, Secret: secret})
	if err != nil {
		f.Fatal(err)
	}
	for _, in := range genuinePushes(f, c) {
		if _, err := c.ReadPush(in); err != nil {
			f.Fatalf("a genuine push is refused: %v", err)
		}
		f.Add(in.Method, in.Query.Encode(), in.Body, in.ContentType, false)
		f.Add(in.Method, in.Query.Encode(), in.Body, in.ContentType, true)
	}
	e := eleme.Envelope{Cmd: eleme.CmdPartRefundPush, Source: source, Ticket: "T-1", Timestamp: "1772359200", Version: eleme.Version,
		Body: `{"order_id":"5","status":"20","refund_products":[{"custom_sku_id":"A","number":"1e3"}]}`}
	f.Add("POST", "", []byte(e.Form().Encode()), "application/x-www-form-urlencoded", true)
	e.Cmd, e.Body = eleme.CmdUserCancel, `{"order_id":5,"type":"60","cancel_reason":"x"}`
	f.Add("GET", e.Form().Encode(), []byte{}, "", true)
	e.Cmd, e.Ticket, e.Body = "shop.msg", "\xff", `null`
	f.Add("POST", "", []byte(e.Form().Encode()), "", true)
	f.Fuzz(func(t *testing.T, method, query string, body []byte, ctype string, resign bool) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		in := market.Inbound{Method: method, URL: fuzzPushURL, Query: q, Body: body, ContentType: ctype}
		form := q
		if len(body) > 0 {
			if form, err = url.ParseQuery(string(body)); err != nil {
				form = nil
			}
		}
		if resign {
			if form == nil {
				return
			}
			env := eleme.EnvelopeFrom(form)
			form.Set("sign", eleme.Sign(secret, env))
			in.Query, in.Body = nil, []byte(form.Encode())
		}
		p, err := c.ReadPush(in)
		switch {
		case err == nil:
			if env := eleme.EnvelopeFrom(form); env.Source != source || !eleme.Verify(secret, env) {
				t.Fatalf("ReadPush accepted a push not signed by Ele.me: %+v", env)
			}
			for _, l := range p.Lines {
				if l.Qty < 0 {
					t.Fatalf("ReadPush accepted a refund line of %d units", l.Qty)
				}
			}
		case errors.Is(err, market.ErrBadSignature), errors.Is(err, market.ErrForeign), errors.Is(err, market.ErrMalformed):
		default:
			t.Fatalf("ReadPush failed with an error of its own: %v", err)
		}
		rep := c.Reply(p, err)
		var a map[string]json.RawMessage
		if json.Unmarshal(rep.Body, &a) != nil || !strings.HasPrefix(rep.ContentType, "application/json") {
			t.Fatalf("Reply is not Ele.me's JSON envelope: %s %q", rep.ContentType, rep.Body)
		}
		text := func(k string) string {
			var s string
			if json.Unmarshal(a[k], &s) == nil {
				return s
			}
			return string(a[k])
		}
		ack := eleme.Envelope{Cmd: text("cmd"), Body: string(a["body"]), Encrypt: text("encrypt"), Source: text("source"),
			Ticket: text("ticket"), Timestamp: text("timestamp"), Version: text("version"), Sign: text("sign")}
		if !eleme.Verify(secret, ack) || !strings.HasPrefix(ack.Cmd, "resp.") || ack.Source != source {
			t.Fatalf("Reply to %v is not a signed envelope Ele.me can verify: %s", err, rep.Body)
		}
		var b struct {
			Errno int `json:"errno"`
		}
		if json.Unmarshal(a["body"], &b) != nil || (err == nil) != (b.Errno == 0 && rep.Status == 200) {
			t.Fatalf("Reply to %v is %d %s", err, rep.Status, rep.Body)
		}
	})
}
