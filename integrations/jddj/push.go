package jddj

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/o2ohub/o2ohub/core/market"
)

// The push messages (the path segment after "<registered base>/djsw/").
const (
	MsgNewOrder           = "newOrder"
	MsgOrderWaitOutStore  = "orderWaitOutStore"
	MsgUserCancelOrder    = "userCancelOrder"
	MsgApplyCancelOrder   = "applyCancelOrder"
	MsgDeliveryOrder      = "deliveryOrder"
	MsgFinishOrder        = "finishOrder"
	MsgPushDeliveryStatus = "pushDeliveryStatus"
	MsgNewAfterSaleBill   = "newAfterSaleBill"
)

// PushPath is the path JD appends to the registered base for msg.
func PushPath(msg string) string { return "/djsw/" + msg }

// Ack is the exact body JD requires to acknowledge a push.
const Ack = `{"code":"0","msg":"success","data":""}`

// PushBody is the business JSON of a push: jd_param_json, or encrypt_jd_param_json once decrypted.
type PushBody struct {
	BillID    string `json:"billId"`
	StatusID  string `json:"statusId"`
	Timestamp string `json:"timestamp"`
}

// pushKind maps the messages the connector reads to the kind of push.
func pushKind(msg string) (market.PushKind, bool) {
	switch msg {
	case MsgNewOrder:
		return market.PushOrder, true
	case MsgUserCancelOrder:
		return market.PushCancelled, true
	case MsgFinishOrder:
		return market.PushFinished, true
	case MsgNewAfterSaleBill:
		return market.PushRefund, true
	case MsgOrderWaitOutStore, MsgApplyCancelOrder, MsgDeliveryOrder, MsgPushDeliveryStatus:
		return market.PushStatus, true
	}
	return "", false
}

// ReadPush verifies a push to <base>/djsw/<msg> (in.Event = msg) and normalises it. The signature is
// checked over every parameter as sent (encrypt_jd_param_json when present); an encrypted push signed
// over its decrypted jd_param_json, as some integrations verify, is accepted too.
func (c *Client) ReadPush(in market.Inbound) (market.Push, error) {
	kind, ok := pushKind(in.Event)
	if !ok {
		return market.Push{}, fmt.Errorf("jddj push %q: unknown message: %w", in.Event, market.ErrMalformed)
	}
	form := url.Values{}
	for k, v := range in.Query {
		form[k] = v
	}
	if len(in.Body) > 0 {
		body, err := url.ParseQuery(string(in.Body))
		if err != nil {
			return market.Push{}, fmt.Errorf("jddj push: body is not a form: %w", market.ErrMalformed)
		}
		for k, v := range body {
			form[k] = v
		}
	}
	params := map[string]string{}
	for k := range form {
		params[k] = form.Get(k)
	}
	if params["sign"] == "" || params["timestamp"] == "" {
		return market.Push{}, fmt.Errorf("jddj push: sign or timestamp missing: %w", market.ErrMalformed)
	}
	if params["app_key"] != c.cfg.AppKey {
		return market.Push{}, fmt.Errorf("jddj push: app_key %q is not ours: %w", params["app_key"], market.ErrForeign)
	}
	plain, encrypted := params["jd_param_json"], params["encrypt_jd_param_json"]
	if encrypted != "" {
		var err error
		if plain, err = Decrypt(c.cfg.AppSecret, encrypted); err != nil {
			if !sameSign(Sign(c.cfg.AppSecret, params), params["sign"]) {
				return market.Push{}, fmt.Errorf("jddj push: %w", market.ErrBadSignature)
			}
			return market.Push{}, fmt.Errorf("jddj push: encrypt_jd_param_json: %v: %w", err, market.ErrMalformed)
		}
	}
	if !sameSign(Sign(c.cfg.AppSecret, params), params["sign"]) {
		if encrypted == "" {
			return market.Push{}, fmt.Errorf("jddj push: %w", market.ErrBadSignature)
		}
		alt := map[string]string{}
		for k, v := range params {
			alt[k] = v
		}
		delete(alt, "encrypt_jd_param_json")
		alt["jd_param_json"] = plain
		if !sameSign(Sign(c.cfg.AppSecret, alt), params["sign"]) {
			return market.Push{}, fmt.Errorf("jddj push: %w", market.ErrBadSignature)
		}
	}
	var raw struct {
		BillID    flex `json:"billId"`
		StatusID  flex `json:"statusId"`
		Timestamp flex `json:"timestamp"`
	}
	if err := json.Unmarshal([]byte(plain), &raw); err != nil || raw.BillID == "" {
		return market.Push{}, fmt.Errorf("jddj push: jd_param_json without billId: %w", market.ErrMalformed)
	}
	p := market.Push{
		Platform: market.JDDJ, Kind: kind, OrderID: string(raw.BillID), Status: MapStatus(string(raw.StatusID)),
		ID: in.Event + ":" + string(raw.BillID) + ":" + string(raw.StatusID) + ":" + string(raw.Timestamp),
	}
	if t, err := ParseTime(params["timestamp"]); err == nil {
		p.SignedAt = t
	} else {
		return market.Push{}, fmt.Errorf("jddj push: timestamp %q: %w", params["timestamp"], market.ErrMalformed)
	}
	switch in.Event {
	case MsgApplyCancelOrder:
		p.Reason = "the buyer asked to cancel"
	case MsgNewAfterSaleBill:
		// billId is the after-sale bill (afsServiceOrder), not an order: the push names the refund only,
		// and the hub reads its order and lines with FetchRefund.
		p.OrderID, p.RefundID, p.Status = "", string(raw.BillID), market.StatusUnknown
		p.Reason = "after-sale bill " + string(raw.BillID)
	case MsgPushDeliveryStatus:
		// statusId is the rider's delivery state, not an orderStatus.
		p.Status = market.StatusUnknown
	}
	return p, nil
}

func sameSign(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(strings.ToUpper(b))) == 1
}

// Reply answers a push: JD's exact acknowledgement, or JD's error body with a 4xx for a push we refuse
// and "-10000" (业务重试) with a 500 otherwise, so JD sends it again.
func (c *Client) Reply(p market.Push, err error) market.Reply {
	if err == nil {
		return jsonReply(http.StatusOK, []byte(Ack))
	}
	code, msg, status := CodeRetry, "业务重试", http.StatusInternalServerError
	switch {
	case errors.Is(err, market.ErrBadSignature):
		code, msg, status = CodeBadSign, "无效Sign签名", http.StatusBadRequest
	case errors.Is(err, market.ErrForeign):
		code, msg, status = CodeBadToken, "无效Token令牌", http.StatusBadRequest
	case errors.Is(err, market.ErrMalformed), errors.Is(err, market.ErrStale):
		code, msg, status = CodeBadParam, "API参数异常", http.StatusBadRequest
	case errors.Is(err, market.ErrUnknownShop):
		code, msg, status = CodeFailed, "门店未绑定", http.StatusNotFound
	}
	body, _ := json.Marshal(map[string]string{"code": code, "msg": msg, "data": ""})
	return jsonReply(status, body)
}

func jsonReply(status int, body []byte) market.Reply {
	return market.Reply{Status: status, ContentType: "application/json;charset=utf-8", Body: body}
}
