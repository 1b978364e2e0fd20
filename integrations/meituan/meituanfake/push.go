package meituanfake

import (
	"bytes"
	"net/url"
	"strconv"

	"github.com/o2ohub/o2ohub/integrations/meituan"
)

// push signs params for event and sends them until Meituan's acknowledgement comes back, unless pushes
// are dropped.
func (f *Fake) push(event string, params url.Values) {
	if f.opts.PushURL == "" {
		return
	}
	target := f.opts.PushURL + "/" + event
	params.Set("app_id", f.opts.AppID)
	params.Set("timestamp", strconv.FormatInt(f.opts.Clock().Unix(), 10))
	params.Set("sig", meituan.Sign(target, params, f.opts.AppSecret))
	body := EncodePush(params)
	f.pushes.Send(target, "application/x-www-form-urlencoded", func() string { return body }, acked, "event", event, "order_id", params.Get("order_id"))
}

// acked reports whether an answer is Meituan's exact acknowledgement, {"data":"ok"}.
func acked(status int, body []byte) bool {
	return status/100 == 2 && bytes.Equal(bytes.TrimSpace(body), []byte(meituan.Ack))
}

// EncodePush writes push parameters as Meituan's form body: the doubly encoded fields URL-encoded once
// before the form encoding.
func EncodePush(params url.Values) string {
	wire := url.Values{}
	for k, vs := range params {
		for _, v := range vs {
			if meituan.DoublyEncoded(k) {
				v = url.QueryEscape(v)
			}
			wire.Add(k, v)
		}
	}
	return wire.Encode()
}
