package eleme

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
)

// Commands Ele.me pushes to us [seen].
const (
	CmdOrderCreate    = "order.create"
	CmdStatusPush     = "order.status.push"
	CmdUserCancel     = "order.user.cancel"
	CmdPartRefundPush = "order.partrefund.push"
	CmdDeliveryPush   = "order.deliveryStatus.push"
)

// PartRefundDone is the order.partrefund.push status of a refund that went through (seen with the
// reason 商户同意退单); other states are steps of a request [?].
const PartRefundDone = 20

// order.user.cancel types that mean the cancellation was agreed (40 客服同意, 60 商户同意) [?]; the others
// are steps of a request (10 申请, 20 客服介入, 30 客服拒绝, 50 商户拒绝, 70 申请失效).
func userCancelAgreed(typ int64) bool { return typ == 40 || typ == 60 }

// replyTo is what Reply needs of a push: Push.Reply holds one.
type replyTo struct{ cmd, ticket, timestamp string }

// ReadPush verifies a push (its source, then its signature over the raw form values) and normalises it.
// When the envelope could be read, the Push it returns carries the reply's ticket and command even with
// an error, so that Reply can refuse in Ele.me's format: pass it to Reply as it is.
func (c *Client) ReadPush(in market.Inbound) (market.Push, error) {
	p := market.Push{Platform: market.Eleme}
	form := in.Query
	if len(in.Body) > 0 {
		var err error
		if form, err = url.ParseQuery(string(in.Body)); err != nil {
			return p, fmt.Errorf("%w: form: %v", market.ErrMalformed, err)
		}
	}
	e := EnvelopeFrom(form)
	p.ID = e.Ticket
	if e.Cmd != "" && e.Ticket != "" {
		p.Reply = replyTo{cmd: e.Cmd, ticket: e.Ticket, timestamp: e.Timestamp}
	}
	if e.Cmd == "" || e.Ticket == "" || e.Source == "" || e.Sign == "" || e.Timestamp == "" {
		return p, fmt.Errorf("%w: cmd, ticket, source, timestamp and sign are required", market.ErrMalformed)
	}
	if e.Source != c.source {
		return p, fmt.Errorf("%w: source %q", market.ErrForeign, e.Source)
	}
	if !Verify(c.secret, e) {
		return p, market.ErrBadSignature
	}
	ts, err := strconv.ParseInt(e.Timestamp, 10, 64)
	if err != nil {
		return p, fmt.Errorf("%w: timestamp %q", market.ErrMalformed, e.Timestamp)
	}
	p.SignedAt = time.Unix(ts, 0)
	if e.Encrypt != "" {
		return p, fmt.Errorf("%w: encrypted body (%q) not supported", market.ErrMalformed, e.Encrypt)
	}
	var b struct {
		OrderID        str    `json:"order_id"`
		ShopID         str    `json:"shop_id"`
		Status         num    `json:"status"`
		Type           num    `json:"type"`
		CancelReason   string `json:"cancel_reason"`
		AdditionReason string `json:"addition_reason"`
		Reason         string `json:"reason"`
		RefundID       str    `json:"refund_id"`
		RefundProducts []struct {
			CustomSkuID str    `json:"custom_sku_id"`
			SkuID       str    `json:"sku_id"`
			Name        string `json:"name"`
			Number      num    `json:"number"`
		} `json:"refund_products"`
	}
	if err := json.Unmarshal([]byte(e.Body), &b); err != nil {
		return p, fmt.Errorf("%w: body: %v", market.ErrMalformed, err)
	}
	p.OrderID, p.ShopID = string(b.OrderID), string(b.ShopID)
	switch e.Cmd {
	case CmdOrderCreate, CmdStatusPush, CmdUserCancel, CmdPartRefundPush, CmdDeliveryPush:
		if p.OrderID == "" {
			return p, fmt.Errorf("%w: %s without order_id", market.ErrMalformed, e.Cmd)
		}
	}
	switch e.Cmd {
	case CmdOrderCreate:
		// The push names the order only; the hub reads it with order.get [seen].
		p.Kind = market.PushOrder
	case CmdStatusPush:
		p.Status = mapStatus(int64(b.Status), false)
		switch b.Status {
		case StatusConfirmed:
			p.Kind = market.PushConfirmed
		case StatusCompleted:
			p.Kind = market.PushFinished
		case StatusCancelled:
			p.Kind = market.PushCancelled
		case StatusRefunded:
			// A refund: of the whole order or not, the order says.
			p.Kind, p.Status = market.PushStatus, market.StatusUnknown
		default:
			p.Kind = market.PushStatus
		}
	case CmdUserCancel:
		p.Reason = joinReason(b.CancelReason, b.AdditionReason)
		p.Kind, p.Status = market.PushStatus, market.StatusUnknown
		if userCancelAgreed(int64(b.Type)) {
			p.Kind, p.Status = market.PushCancelled, market.StatusCancelled
		}
	case CmdPartRefundPush:
		p.Reason = b.Reason
		if b.Status != 0 && b.Status != PartRefundDone {
			p.Kind, p.Status = market.PushStatus, market.StatusUnknown
			break
		}
		p.Kind, p.RefundID = market.PushRefund, string(b.RefundID)
		for _, l := range b.RefundProducts {
			p.Lines = append(p.Lines, market.Line{Code: string(l.CustomSkuID), PlatformSKU: string(l.SkuID),
				Name: l.Name, Qty: int64(l.Number)})
		}
		if len(p.Lines) == 0 {
			return p, fmt.Errorf("%w: partial refund without refund_products", market.ErrMalformed)
		}
	case CmdDeliveryPush:
		p.Kind, p.Status = market.PushStatus, market.StatusUnknown
	default:
		// Shop and product messages, reminders …: acknowledged, nothing to do.
		p.Kind = market.PushCheck
	}
	return p, nil
}

func joinReason(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}

// replyBody is the body of our answer to a push.
type replyBody struct {
	Errno int    `json:"errno"`
	Error string `json:"error"`
	Data  any    `json:"data,omitempty"`
}

// replyEnvelope is our answer to a push, in Ele.me's field order.
type replyEnvelope struct {
	Body      json.RawMessage `json:"body"`
	Cmd       string          `json:"cmd"`
	Encrypt   string          `json:"encrypt"`
	Sign      string          `json:"sign"`
	Source    string          `json:"source"`
	Ticket    string          `json:"ticket"`
	Timestamp json.Number     `json:"timestamp"`
	Version   string          `json:"version"`
}

// Reply answers a push with a signed envelope: cmd "resp.<cmd>", the push's ticket and timestamp, our
// source, version 3, and body {"errno":0,"error":"success"} — with data {"source_order_id": the order id}
// for order.create. A refusal has errno -1 and status 400 (bad signature, other app, malformed, stale,
// unknown shop) or 500 (our own failure, so that Ele.me sends the push again).
func (c *Client) Reply(p market.Push, err error) market.Reply {
	rt, _ := p.Reply.(replyTo)
	// JSON carries only valid UTF-8: sign the command and ticket as the answer will carry them, or Ele.me
	// could not verify it.
	rt.cmd, rt.ticket = strings.ToValidUTF8(rt.cmd, "\uFFFD"), strings.ToValidUTF8(rt.ticket, "\uFFFD")
	if _, perr := strconv.ParseUint(rt.timestamp, 10, 63); perr != nil {
		rt.timestamp = strconv.FormatInt(c.now().Unix(), 10)
	}
	status, body := http.StatusOK, replyBody{Errno: 0, Error: "success"}
	switch {
	case err == nil && rt.cmd == CmdOrderCreate:
		body.Data = map[string]string{"source_order_id": p.OrderID}
	case err == nil:
	case errors.Is(err, market.ErrBadSignature):
		status, body = http.StatusBadRequest, replyBody{Errno: -1, Error: "sign check failed"}
	case errors.Is(err, market.ErrForeign):
		status, body = http.StatusBadRequest, replyBody{Errno: -1, Error: "source mismatch"}
	case errors.Is(err, market.ErrMalformed):
		status, body = http.StatusBadRequest, replyBody{Errno: -1, Error: "malformed push"}
	case errors.Is(err, market.ErrStale):
		status, body = http.StatusBadRequest, replyBody{Errno: -1, Error: "stale push"}
	case errors.Is(err, market.ErrUnknownShop):
		status, body = http.StatusBadRequest, replyBody{Errno: -1, Error: "shop not bound"}
	default:
		status, body = http.StatusInternalServerError, replyBody{Errno: -1, Error: "temporary failure, send again"}
	}
	bodyText, _ := jsonText(body) // plain values: cannot fail
	e := Envelope{Cmd: "resp." + rt.cmd, Body: bodyText, Source: c.source, Ticket: rt.ticket,
		Timestamp: rt.timestamp, Version: Version}
	out, _ := jsonText(replyEnvelope{Body: json.RawMessage(bodyText), Cmd: e.Cmd, Sign: Sign(c.secret, e),
		Source: e.Source, Ticket: e.Ticket, Timestamp: json.Number(e.Timestamp), Version: e.Version})
	return market.Reply{Status: status, ContentType: "application/json; charset=utf-8", Body: []byte(out)}
}
