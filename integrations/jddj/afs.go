package jddj

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/o2ohub/o2ohub/core/market"
)

// The after-sale bill states [?] read as "the refund went through": 32 (退款成功) and 114 (退款完成, seen
// beside it in merchants' integrations); the others are steps of a request, a refusal or a return in
// progress, which change nothing at the store yet.
const (
	AfsRefunded     = "32"
	AfsRefundedDone = "114"
)

// AfsBill is the result of afs/getAfsService: one after-sale bill and its lines.
type AfsBill struct {
	AfsServiceOrder flex        `json:"afsServiceOrder"`
	AfsServiceState flex        `json:"afsServiceState"`
	OrderID         flex        `json:"orderId"`
	Reason          string      `json:"questionDesc"`
	Details         []AfsDetail `json:"afsDetailList"`
}

// AfsDetail is one refunded line of an after-sale bill: the merchant's SKU code and the units.
type AfsDetail struct {
	SkuIDIsv  string `json:"skuIdIsv"`
	SkuID     flex   `json:"skuId"`
	WareName  string `json:"wareName"`
	SkuCount  flex   `json:"skuCount"`
	CashMoney flex   `json:"cashMoney"`
}

// FetchRefund reads an after-sale bill with afs/getAfsService: a PushRefund with the order and the
// refunded units when the bill's state says the refund went through, else a PushStatus with
// StatusUnknown (a request still open, refused or cancelled).
func (c *Client) FetchRefund(ctx context.Context, billID string) (market.Push, error) {
	data, err := c.call(ctx, PathAfsService, map[string]any{"afsServiceOrder": billID})
	if err != nil {
		return market.Push{}, err
	}
	var r struct {
		Code   flex    `json:"code"`
		Msg    string  `json:"msg"`
		Result AfsBill `json:"result"`
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return market.Push{}, fmt.Errorf("jddj %s: unreadable result", PathAfsService)
	}
	if r.Code != "" && r.Code != CodeOK {
		return market.Push{}, &market.CallError{Kind: market.ErrRefused, Code: string(r.Code), Msg: r.Msg}
	}
	b := r.Result
	if string(b.AfsServiceOrder) != billID || b.OrderID == "" {
		return market.Push{}, &market.CallError{Kind: market.ErrRefused, Code: CodeFailed, Msg: "after-sale bill " + billID + " not found"}
	}
	p := market.Push{Platform: market.JDDJ, OrderID: string(b.OrderID), RefundID: billID, Reason: b.Reason}
	if s := string(b.AfsServiceState); s != AfsRefunded && s != AfsRefundedDone {
		p.Kind, p.Status = market.PushStatus, market.StatusUnknown
		return p, nil
	}
	p.Kind = market.PushRefund
	for _, d := range b.Details {
		qty, err := strconv.ParseInt(string(d.SkuCount), 10, 64)
		if err != nil || qty <= 0 {
			return market.Push{}, fmt.Errorf("jddj %s: bill %s: skuCount %q", PathAfsService, billID, string(d.SkuCount))
		}
		p.Lines = append(p.Lines, market.Line{Code: d.SkuIDIsv, PlatformSKU: string(d.SkuID), Name: d.WareName, Qty: qty})
	}
	if len(p.Lines) == 0 {
		return market.Push{}, fmt.Errorf("jddj %s: bill %s lists no lines", PathAfsService, billID)
	}
	return p, nil
}

var _ market.RefundFetcher = (*Client)(nil)
