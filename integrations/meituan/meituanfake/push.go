package meituanfake

import (
	"bytes"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/integrations/meituan"
)

// push signs params for event and delivers them in a goroutine, unless pushes are dropped. f.mu is held.
func (f *Fake) push(event string, params url.Values) {
	if f.opts.PushURL == "" {
		return
	}
	if f.drop {
		f.log.Info("push dropped", "event", event, "order_id", params.Get("order_id"))
		return
	}
	target := f.opts.PushURL + "/" + event
	params.Set("app_id", f.opts.AppID)
	params.Set("timestamp", strconv.FormatInt(f.opts.Clock().Unix(), 10))
	params.Set("sig", meituan.Sign(target, params, f.opts.AppSecret))
	body := EncodePush(params)
	f.wg.Add(1)
	go f.deliver(target, event, params.Get("order_id"), body)
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

// deliver posts body to target until the answer is exactly {"data":"ok"}, at most maxAttempts times.
func (f *Fake) deliver(target, event, orderID, body string) {
	defer f.wg.Done()
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		if f.post(target, body) {
			f.mu.Lock()
			f.pushes++
			f.mu.Unlock()
			return
		}
		f.log.Info("push not acknowledged", "event", event, "order_id", orderID, "attempt", attempt)
		select {
		case <-f.ctx.Done():
			return
		case <-time.After(f.opts.RetryInterval):
		}
	}
	f.log.Warn("push given up", "event", event, "order_id", orderID, "attempts", maxAttempts)
}

// post sends one delivery and reports whether it was acknowledged.
func (f *Fake) post(target, body string) bool {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := f.opts.HTTPClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode/100 == 2 && bytes.Equal(bytes.TrimSpace(b), []byte(meituan.Ack))
}
