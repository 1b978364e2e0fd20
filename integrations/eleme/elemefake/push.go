package elemefake

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/integrations/eleme"
)

// maxDeliveries bounds how often one push is sent before the fake gives up.
const maxDeliveries = 20

// push signs and sends a command to the hub in the background, again every RetryInterval until the hub
// acknowledges it. While pushes are dropped it is lost.
func (f *Fake) push(cmd string, body any) {
	e := eleme.Envelope{Cmd: cmd, Body: compactJSON(body), Source: f.source, Ticket: eleme.NewTicket(),
		Timestamp: strconv.FormatInt(f.now().Unix(), 10), Version: eleme.Version}
	e.Sign = eleme.Sign(f.secret, e)
	f.mu.Lock()
	drop := f.drop || f.pushURL == ""
	f.mu.Unlock()
	if drop {
		f.log.Info("push dropped", "cmd", cmd, "ticket", e.Ticket)
		return
	}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for n := 1; n <= maxDeliveries; n++ {
			if f.deliver(e) {
				f.mu.Lock()
				f.pushes++
				f.mu.Unlock()
				return
			}
			t := time.NewTimer(f.retry)
			select {
			case <-f.ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		f.log.Warn("push given up", "cmd", cmd, "ticket", e.Ticket, "deliveries", maxDeliveries)
	}()
}

// deliver posts e once and reports whether the hub acknowledged it exactly.
func (f *Fake) deliver(e eleme.Envelope) bool {
	req, err := http.NewRequestWithContext(f.ctx, http.MethodPost, f.pushURL, strings.NewReader(e.Form().Encode()))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	resp, err := f.hc.Do(req)
	if err != nil {
		f.log.Info("push not delivered", "cmd", e.Cmd, "ticket", e.Ticket, "err", err)
		return false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if why := f.checkAck(e, resp.StatusCode, raw); why != "" {
		f.log.Info("push not acknowledged", "cmd", e.Cmd, "ticket", e.Ticket, "status", resp.StatusCode, "why", why)
		return false
	}
	return true
}

// checkAck returns why an answer is not the acknowledgement of e ("" when it is): HTTP 200 and a
// signed envelope with cmd "resp.<cmd>", the push's ticket, our source and version 3, and body errno 0
// (with data.source_order_id for order.create).
func (f *Fake) checkAck(e eleme.Envelope, status int, raw []byte) string {
	if status != http.StatusOK {
		return "status " + strconv.Itoa(status)
	}
	var a map[string]json.RawMessage
	if json.Unmarshal(raw, &a) != nil {
		return "not a JSON object"
	}
	text := func(k string) string {
		var s string
		if json.Unmarshal(a[k], &s) == nil {
			return s
		}
		return string(a[k]) // a number (timestamp)
	}
	var body bytes.Buffer
	if json.Compact(&body, a["body"]) != nil {
		return "no body"
	}
	var b struct {
		Errno json.RawMessage `json:"errno"`
		Data  struct {
			SourceOrderID json.RawMessage `json:"source_order_id"`
		} `json:"data"`
	}
	if json.Unmarshal(body.Bytes(), &b) != nil {
		return "body is not an object"
	}
	ack := eleme.Envelope{Cmd: text("cmd"), Body: body.String(), Encrypt: text("encrypt"), Source: text("source"),
		Ticket: text("ticket"), Timestamp: text("timestamp"), Version: text("version"), Sign: text("sign")}
	switch {
	case ack.Cmd != "resp."+e.Cmd:
		return "cmd " + ack.Cmd
	case ack.Ticket != e.Ticket:
		return "ticket " + ack.Ticket
	case ack.Source != f.source || ack.Version != eleme.Version:
		return "source or version"
	case string(b.Errno) != "0" && string(b.Errno) != `"0"`:
		return "errno " + string(b.Errno)
	case e.Cmd == eleme.CmdOrderCreate && (len(b.Data.SourceOrderID) == 0 || string(b.Data.SourceOrderID) == `""` || string(b.Data.SourceOrderID) == "null"):
		return "no source_order_id"
	case !eleme.Verify(f.secret, ack):
		return "sign"
	}
	return ""
}
