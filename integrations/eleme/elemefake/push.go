package elemefake

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/o2ohub/o2ohub/integrations/eleme"
)

// push signs and sends a command to the hub in the background, again every RetryInterval until the hub
// acknowledges it. While pushes are dropped it is lost.
func (f *Fake) push(cmd string, body any) {
	if f.pushURL == "" {
		return
	}
	e := eleme.Envelope{Cmd: cmd, Body: compactJSON(body), Source: f.source, Ticket: eleme.NewTicket(),
		Timestamp: strconv.FormatInt(f.now().Unix(), 10), Version: eleme.Version}
	e.Sign = eleme.Sign(f.secret, e)
	form := e.Form().Encode()
	f.pushes.Send(f.pushURL, "application/x-www-form-urlencoded; charset=utf-8", func() string { return form },
		func(status int, raw []byte) bool {
			why := f.checkAck(e, status, raw)
			if why != "" {
				f.log.Info("push not acknowledged", "cmd", e.Cmd, "ticket", e.Ticket, "status", status, "why", why)
			}
			return why == ""
		}, "cmd", cmd, "ticket", e.Ticket)
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
