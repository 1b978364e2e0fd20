package meituan

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
)

// The push events, as path segments after the webhook base.
const (
	EventPaid      = "paid"
	EventConfirmed = "confirmed"
	EventCancel    = "cancel"
	EventRefund    = "refund"
	EventFinished  = "finished"
)

// Ack is Meituan's acknowledgement of a push, the exact body it waits for.
const Ack = `{"data":"ok"}`

// DoublyEncoded reports whether Meituan URL-encodes a push parameter twice (detail, extras, caution,
// recipient_*, wm_poi_*, poi_receive_detail).
func DoublyEncoded(key string) bool {
	switch key {
	case "detail", "extras", "caution", "poi_receive_detail":
		return true
	}
	return strings.HasPrefix(key, "recipient_") || strings.HasPrefix(key, "wm_poi_")
}

// PushParams reads a push's parameters (query, and a form body) with the doubly encoded ones decoded once
// more. A value whose second decoding fails is kept as it arrived.
func PushParams(in market.Inbound) (url.Values, error) {
	v := url.Values{}
	for k, vs := range in.Query {
		v[k] = append([]string(nil), vs...)
	}
	if len(in.Body) > 0 {
		mt, _, _ := mime.ParseMediaType(in.ContentType)
		if mt != "" && mt != "application/x-www-form-urlencoded" {
			return nil, fmt.Errorf("%w: content type %q", market.ErrMalformed, in.ContentType)
		}
		form, err := url.ParseQuery(string(in.Body))
		if err != nil {
			return nil, fmt.Errorf("%w: form: %v", market.ErrMalformed, err)
		}
		for k, vs := range form {
			v[k] = append(v[k], vs...)
		}
	}
	for k, vs := range v {
		if !DoublyEncoded(k) {
			continue
		}
		for i, s := range vs {
			if d, err := url.QueryUnescape(s); err == nil {
				vs[i] = d
			}
		}
	}
	return v, nil
}

// ReadPush verifies a push (app_id, then sig over the signed URL and every parameter but sig) and
// normalises it. An empty GET or POST is Meituan's URL check: PushCheck.
func (c *Client) ReadPush(in market.Inbound) (market.Push, error) {
	p := market.Push{Platform: market.Meituan}
	params, err := PushParams(in)
	if err != nil {
		return p, err
	}
	if len(params) == 0 {
		p.Kind = market.PushCheck
		return p, nil
	}
	switch in.Event {
	case EventPaid, EventConfirmed, EventCancel, EventRefund, EventFinished:
	default:
		return p, fmt.Errorf("%w: event %q", market.ErrMalformed, in.Event)
	}
	if params.Get("app_id") == "" {
		return p, fmt.Errorf("%w: no app_id", market.ErrMalformed)
	}
	if params.Get("app_id") != c.appID {
		return p, fmt.Errorf("%w: app_id %q", market.ErrForeign, params.Get("app_id"))
	}
	signed := in.URL
	if c.pushURL != "" {
		signed = c.pushURL + "/" + in.Event
	}
	want := Sign(signed, params, c.secret)
	if got := strings.ToLower(params.Get("sig")); subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return p, market.ErrBadSignature
	}
	if ts := params.Get("timestamp"); ts != "" {
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: timestamp %q", market.ErrMalformed, ts)
		}
		p.SignedAt = time.Unix(sec, 0)
	}
	p.OrderID, p.ShopID = params.Get("order_id"), params.Get("app_poi_code")
	if p.OrderID == "" {
		return p, fmt.Errorf("%w: no order_id", market.ErrMalformed)
	}
	p.ID = in.Event + ":" + p.OrderID + ":" + params.Get("timestamp")
	switch in.Event {
	case EventPaid:
		f := fields{}
		for k := range params {
			f[k] = params.Get(k)
		}
		o, err := parseOrder(f)
		if err != nil {
			return p, fmt.Errorf("%w: %v", market.ErrMalformed, err)
		}
		p.Kind, p.Order, p.Status = market.PushOrder, &o, o.Status
	case EventConfirmed:
		p.Kind, p.Status = market.PushConfirmed, market.StatusConfirmed
	case EventFinished:
		p.Kind, p.Status = market.PushFinished, market.StatusCompleted
	case EventCancel:
		p.Kind, p.Status, p.Reason = market.PushCancelled, market.StatusCancelled, params.Get("reason")
	case EventRefund:
		return refundPush(p, params)
	}
	return p, nil
}

// refundPush normalises a refund push: whole (no food) or partial (food lists the refunded units).
func refundPush(p market.Push, params url.Values) (market.Push, error) {
	p.Reason = params.Get("reason")
	if id := params.Get("refund_id"); id != "" {
		p.ID = EventRefund + ":" + p.OrderID + ":" + id + ":" + params.Get("notify_type")
	}
	nt := params.Get("notify_type")
	food := params.Get("food")
	if food == "" {
		if nt != "agree" {
			p.Kind, p.Status = market.PushStatus, market.StatusUnknown
			return p, nil
		}
		p.Kind, p.Status = market.PushCancelled, market.StatusCancelled
		return p, nil
	}
	if nt != "part" && nt != "agree" {
		p.Kind, p.Status = market.PushStatus, market.StatusUnknown
		return p, nil
	}
	lines, err := parseLines(food, func(d detailLine) json.Number {
		if d.RefundPrice != "" {
			return d.RefundPrice
		}
		return d.Price
	})
	if err != nil {
		return p, fmt.Errorf("%w: food: %v", market.ErrMalformed, err)
	}
	p.Kind, p.Lines, p.RefundID = market.PushRefund, lines, params.Get("refund_id")
	return p, nil
}

// Reply answers a push: 200 {"data":"ok"} when err is nil, else {"data":"ng","error":{…}} with 403 for a bad
// signature or a foreign app, 400 for a malformed, stale or unbound push, and 500 otherwise.
func (c *Client) Reply(_ market.Push, err error) market.Reply {
	if err == nil {
		return market.Reply{Status: http.StatusOK, ContentType: "application/json", Body: []byte(Ack)}
	}
	status, code, msg := http.StatusInternalServerError, CodeSystem, "system error"
	switch {
	case errors.Is(err, market.ErrBadSignature):
		status, code, msg = http.StatusForbidden, CodeSignature, "signature error"
	case errors.Is(err, market.ErrForeign):
		status, code, msg = http.StatusForbidden, CodeNoApp, "app_id mismatch"
	case errors.Is(err, market.ErrMalformed):
		status, code, msg = http.StatusBadRequest, CodeMissing, "malformed push"
	case errors.Is(err, market.ErrStale):
		status, code, msg = http.StatusBadRequest, CodeMissing, "stale timestamp"
	case errors.Is(err, market.ErrUnknownShop):
		status, code, msg = http.StatusBadRequest, CodeNoShop, "shop not bound"
	}
	body, _ := json.Marshal(map[string]any{"data": "ng", "error": map[string]any{"code": code, "msg": msg}})
	return market.Reply{Status: status, ContentType: "application/json", Body: body}
}
