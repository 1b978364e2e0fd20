package meituan

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// fields is an order as flat text fields: a push's parameters, or getOrderDetail's data with strings
// unquoted and numbers, objects and arrays as their JSON text.
type fields map[string]string

// jsonFields flattens a JSON object (or the first element of a JSON array) into fields.
func jsonFields(raw json.RawMessage) (fields, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '[' {
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil || len(list) == 0 {
			return nil, errors.New("data is an empty or unreadable list")
		}
		raw = list[0]
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("data is not an object: %w", err)
	}
	f := fields{}
	for k, v := range m {
		v = bytes.TrimSpace(v)
		if len(v) > 0 && v[0] == '"' {
			var s string
			if err := json.Unmarshal(v, &s); err != nil {
				return nil, err
			}
			f[k] = s
		} else if string(v) != "null" {
			f[k] = string(v)
		}
	}
	return f, nil
}

// unquoteJSON returns the JSON inside a JSON string, or raw itself when it is not a string.
func unquoteJSON(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return json.RawMessage(s)
		}
	}
	return raw
}

// decodeNumbers unmarshals JSON text keeping numbers as json.Number.
func decodeNumbers(text string, v any) error {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	return dec.Decode(v)
}

// detailLine is one element of an order's detail.
type detailLine struct {
	AppFoodCode string      `json:"app_food_code"`
	AppSpuCode  string      `json:"app_spu_code"`
	SkuID       string      `json:"sku_id"`
	ItemID      json.Number `json:"item_id"`
	FoodName    string      `json:"food_name"`
	Quantity    json.Number `json:"quantity"`
	Quanity     json.Number `json:"quanity"`
	Count       json.Number `json:"count"`
	Price       json.Number `json:"price"`
	RefundPrice json.Number `json:"refund_price"`
}

// line normalises a detail line; price is the field holding the unit price.
func (d detailLine) line(price json.Number) (market.Line, error) {
	l := market.Line{Code: d.SkuID, PlatformSKU: d.ItemID.String(), Name: d.FoodName}
	if l.Code == "" {
		l.Code = d.AppSpuCode
	}
	if l.Code == "" {
		l.Code = d.AppFoodCode
	}
	qty := d.Quantity
	for _, q := range []json.Number{d.Quanity, d.Count} {
		if qty == "" {
			qty = q
		}
	}
	n, err := strconv.ParseInt(qty.String(), 10, 64)
	if err != nil || n < 0 {
		return l, fmt.Errorf("line %q: quantity %q", l.Code, qty)
	}
	l.Qty = n
	if price != "" {
		if l.PriceFen, err = fen(price.String()); err != nil {
			return l, fmt.Errorf("line %q: %w", l.Code, err)
		}
	}
	return l, nil
}

// parseLines reads detail (JSON text) into lines, pricing each with pick.
func parseLines(text string, pick func(detailLine) json.Number) ([]market.Line, error) {
	var ds []detailLine
	if err := decodeNumbers(string(unquoteJSON(json.RawMessage(text))), &ds); err != nil {
		return nil, fmt.Errorf("detail: %w", err)
	}
	lines := make([]market.Line, 0, len(ds))
	for _, d := range ds {
		l, err := d.line(pick(d))
		if err != nil {
			return nil, err
		}
		lines = append(lines, l)
	}
	return lines, nil
}

// fen reads a yuan amount written as a decimal number ("25.5", "25.50", "3") exactly.
func fen(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	return cn.Fen(s)
}

// parseOrder normalises an order from its fields (a paid push or getOrderDetail's data).
func parseOrder(f fields) (market.Order, error) {
	o := market.Order{
		Platform: market.Meituan, OrderID: f["order_id"], ShopID: f["app_poi_code"],
		Status: MapStatus(f["status"]), Recipient: f["recipient_name"], RecipientPhone: f["recipient_phone"],
		Address: f["recipient_address"], Remark: f["caution"],
	}
	if o.OrderID == "" {
		return o, errors.New("no order_id")
	}
	var err error
	if s := f["day_seq"]; s != "" {
		if o.DaySeq, err = strconv.Atoi(s); err != nil {
			return o, fmt.Errorf("day_seq %q", s)
		}
	}
	if s := f["ctime"]; s != "" {
		sec, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return o, fmt.Errorf("ctime %q", s)
		}
		o.PlacedAt = time.Unix(sec, 0).In(cn.Zone)
	}
	if o.Lines, err = parseLines(f["detail"], func(d detailLine) json.Number { return d.Price }); err != nil {
		return o, err
	}
	if o.PaidFen, err = fen(f["total"]); err != nil {
		return o, fmt.Errorf("total: %w", err)
	}
	if o.TotalFen, err = fen(f["original_price"]); err != nil {
		return o, fmt.Errorf("original_price: %w", err)
	}
	if s := f["poi_receive_detail"]; s != "" {
		var prd struct {
			ActOrderChargeByMt []struct {
				MoneyCent json.Number `json:"moneyCent"`
			} `json:"actOrderChargeByMt"`
			FoodShareFeeChargeByPoi json.Number `json:"foodShareFeeChargeByPoi"`
		}
		if err := decodeNumbers(string(unquoteJSON(json.RawMessage(s))), &prd); err != nil {
			return o, fmt.Errorf("poi_receive_detail: %w", err)
		}
		for _, a := range prd.ActOrderChargeByMt {
			n, err := cents(a.MoneyCent)
			if err != nil {
				return o, fmt.Errorf("actOrderChargeByMt: %w", err)
			}
			o.SubsidyFen += n
		}
		if o.CommissionFen, err = cents(prd.FoodShareFeeChargeByPoi); err != nil {
			return o, fmt.Errorf("foodShareFeeChargeByPoi: %w", err)
		}
	}
	return o, nil
}

// cents reads an integer amount in fen; "" is 0.
func cents(n json.Number) (int64, error) {
	if n == "" {
		return 0, nil
	}
	return strconv.ParseInt(n.String(), 10, 64)
}

// MapStatus maps Meituan's order status code to market.Status.
func MapStatus(code string) market.Status {
	switch code {
	case "1", "2":
		return market.StatusNew
	case "4":
		return market.StatusConfirmed
	case "8":
		return market.StatusCompleted
	case "9":
		return market.StatusCancelled
	}
	return market.StatusUnknown
}

// cursor is PullOrders' position: a day in China time and the last day_seq seen that day.
type cursor struct {
	day  time.Time
	last int
}

func (c cursor) String() string { return c.day.Format("20060102") + ":" + strconv.Itoa(c.last) }

func parseCursor(s string) (cursor, error) {
	d, seq, ok := strings.Cut(s, ":")
	if !ok {
		return cursor{}, fmt.Errorf("meituan: cursor %q", s)
	}
	day, err := time.ParseInLocation("20060102", d, cn.Zone)
	if err != nil {
		return cursor{}, fmt.Errorf("meituan: cursor %q", s)
	}
	n, err := strconv.Atoi(seq)
	if err != nil || n < 0 {
		return cursor{}, fmt.Errorf("meituan: cursor %q", s)
	}
	return cursor{day, n}, nil
}

// PullOrders lists the shop's orders by day sequence since cursor ("" starts at since's day in China time,
// or today when since is zero): today up to order/getOrderDaySeq's latest, a past day until Meituan has no
// order for the next sequence. At most 50 ids per call; the next cursor is "yyyyMMdd:lastSeq".
func (c *Client) PullOrders(ctx context.Context, shopID, cur string, since time.Time) ([]string, string, error) {
	today := startOfDay(c.now())
	pos := cursor{day: today}
	if cur != "" {
		var err error
		if pos, err = parseCursor(cur); err != nil {
			return nil, cur, err
		}
	} else if !since.IsZero() {
		pos.day = startOfDay(since)
	}
	if oldest := today.AddDate(0, 0, -7); pos.day.Before(oldest) {
		pos = cursor{day: oldest}
	}
	if pos.day.After(today) {
		pos = cursor{day: today}
	}
	var ids []string
	for len(ids) < pullMax {
		latest := -1 // unknown: probe until refused
		if pos.day.Equal(today) {
			var err error
			if latest, err = c.latestDaySeq(ctx, shopID); err != nil {
				return ids, pos.String(), err
			}
		}
		done := false
		for len(ids) < pullMax && (latest < 0 || pos.last < latest) {
			id, err := c.orderIDByDaySeq(ctx, shopID, pos.day, pos.last+1)
			if latest < 0 && errors.Is(err, market.ErrRefused) {
				done = true
				break
			}
			if err != nil {
				return ids, pos.String(), err
			}
			ids = append(ids, id)
			pos.last++
		}
		if pos.day.Equal(today) {
			break
		}
		if done {
			pos = cursor{day: pos.day.AddDate(0, 0, 1)}
		}
	}
	return ids, pos.String(), nil
}

// startOfDay is t's day in China time.
func startOfDay(t time.Time) time.Time {
	y, m, d := t.In(cn.Zone).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, cn.Zone)
}

// latestDaySeq asks order/getOrderDaySeq for the shop's latest day_seq today.
func (c *Client) latestDaySeq(ctx context.Context, shopID string) (int, error) {
	data, err := c.call(ctx, http.MethodGet, PathDaySeq, url.Values{"app_poi_code": {shopID}})
	if err != nil {
		return 0, err
	}
	f, err := jsonFields(data)
	if err != nil {
		return 0, fmt.Errorf("meituan: %s: %w", PathDaySeq, err)
	}
	n, err := strconv.Atoi(f["day_seq"])
	if err != nil {
		return 0, fmt.Errorf("meituan: %s: day_seq %q", PathDaySeq, f["day_seq"])
	}
	return n, nil
}

// orderIDByDaySeq asks order/getOrderIdByDaySeq for the order with day_seq seq on day.
func (c *Client) orderIDByDaySeq(ctx context.Context, shopID string, day time.Time, seq int) (string, error) {
	data, err := c.call(ctx, http.MethodGet, PathOrderIDByDaySeq, url.Values{
		"app_poi_code": {shopID}, "date_time": {day.Format("20060102")}, "day_seq": {strconv.Itoa(seq)},
	})
	if err != nil {
		return "", err
	}
	f, err := jsonFields(data)
	if err != nil || f["order_id"] == "" {
		return "", fmt.Errorf("meituan: %s: no order_id in the answer", PathOrderIDByDaySeq)
	}
	return f["order_id"], nil
}
