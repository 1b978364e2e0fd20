package eleme

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// Commands the connector calls.
const (
	CmdOrderGet     = "order.get"
	CmdOrderList    = "order.list"
	CmdOrderConfirm = "order.confirm"
	CmdOrderCancel  = "order.cancel"
	CmdPickComplete = "order.pickcomplete"
	CmdStockBatch   = "sku.stock.update.batch"
)

// order.cancel type values [?]: Ele.me's list of cancellation reasons (1 不在配送范围, 2 餐厅已打烊,
// 3 美食已售完, 4 菜品价格发生变化, 5 用户要求取消, 6 用户信息错误, 7 重复订单, 8 商户原因) and -1, a reason
// of the merchant's own words, which then must be given.
const (
	CancelSoldOut = "3"
	CancelCustom  = "-1"
)

// Stock limits of sku.stock.update.batch [seen].
const (
	MaxStockBatch = 100
	MaxStock      = 99999
)

// Ele.me order states [seen].
const (
	StatusNew        = 1  // 待确认
	StatusConfirmed  = 5  // 已确认
	StatusRiderTook  = 7  // 骑士已接单
	StatusRiderGot   = 8  // 骑士已取餐
	StatusCompleted  = 9  // 已完成
	StatusCancelled  = 10 // 已取消
	StatusRefunded   = 15 // 订单退款
	pullWindow       = 24 * time.Hour
	pullOverlap      = 2 * time.Minute
	pullPagesPerCall = 10
)

// mapStatus normalises an Ele.me order state. 15 (refund) is a cancellation unless the order says only
// part of it was refunded, which leaves the order as it is.
func mapStatus(s int64, partRefund bool) market.Status {
	switch s {
	case StatusNew:
		return market.StatusNew
	case StatusConfirmed, StatusRiderTook:
		return market.StatusConfirmed
	case StatusRiderGot:
		return market.StatusDelivering
	case StatusCompleted:
		return market.StatusCompleted
	case StatusCancelled:
		return market.StatusCancelled
	case StatusRefunded:
		if partRefund {
			return market.StatusUnknown
		}
		return market.StatusCancelled
	}
	return market.StatusUnknown
}

// Confirm accepts a new order (order.confirm).
func (c *Client) Confirm(ctx context.Context, o market.OrderRef) error {
	return c.call(ctx, CmdOrderConfirm, map[string]string{"order_id": o.OrderID}, nil)
}

// Reject cancels a new order (order.cancel): type 3 (美食已售完) when soldOut, else -1 with the reason.
func (c *Client) Reject(ctx context.Context, o market.OrderRef, reason string, soldOut bool) error {
	typ := CancelCustom
	if soldOut {
		typ = CancelSoldOut
		if reason == "" {
			reason = "商品已售完"
		}
	}
	if reason == "" {
		reason = "商家无法接单"
	}
	return c.call(ctx, CmdOrderCancel, map[string]string{"order_id": o.OrderID, "type": typ, "reason": reason}, nil)
}

// Prepared tells Ele.me the goods are packed (order.pickcomplete).
func (c *Client) Prepared(ctx context.Context, o market.OrderRef) error {
	return c.call(ctx, CmdPickComplete, map[string]string{"order_id": o.OrderID}, nil)
}

// wireProduct is one line of order.get.
type wireProduct struct {
	BaiduProductID str    `json:"baidu_product_id"`
	SkuID          str    `json:"sku_id"`
	CustomSkuID    str    `json:"custom_sku_id"`
	ProductName    string `json:"product_name"`
	ProductPrice   num    `json:"product_price"`
	ProductAmount  num    `json:"product_amount"`
}

// wireOrder is the data of order.get [seen]. Amounts are integer fen.
type wireOrder struct {
	Shop struct {
		ID str `json:"id"`
	} `json:"shop"`
	Order struct {
		OrderID    str             `json:"order_id"`
		OrderIndex num             `json:"order_index"`
		Status     num             `json:"status"`
		TotalFee   num             `json:"total_fee"`
		UserFee    num             `json:"user_fee"`
		Commission num             `json:"commission"`
		CreateTime num             `json:"create_time"`
		Remark     str             `json:"remark"`
		Ext        json.RawMessage `json:"ext"`
	} `json:"order"`
	User struct {
		Name    str `json:"name"`
		Phone   str `json:"phone"`
		Address str `json:"address"`
	} `json:"user"`
	Products json.RawMessage `json:"products"`
	Discount json.RawMessage `json:"discount"`
}

// FetchOrder reads one order (order.get).
func (c *Client) FetchOrder(ctx context.Context, shopID, orderID string) (market.Order, error) {
	var w wireOrder
	if err := c.call(ctx, CmdOrderGet, map[string]string{"order_id": orderID}, &w); err != nil {
		return market.Order{}, err
	}
	o, err := w.normalise()
	if err != nil {
		return market.Order{}, fmt.Errorf("eleme order.get %s: %w", orderID, err)
	}
	return o, nil
}

// normalise turns order.get's data into a market.Order.
func (w wireOrder) normalise() (market.Order, error) {
	if w.Order.OrderID == "" {
		return market.Order{}, errors.New("no order_id")
	}
	products, err := decodeProducts(w.Products)
	if err != nil {
		return market.Order{}, err
	}
	var subsidy int64
	if len(w.Discount) > 0 && w.Discount[0] == '[' {
		var ds []struct {
			BaiduRate num `json:"baidu_rate"`
		}
		if err := json.Unmarshal(w.Discount, &ds); err != nil {
			return market.Order{}, fmt.Errorf("discount: %w", err)
		}
		for _, d := range ds {
			subsidy += int64(d.BaiduRate)
		}
	}
	var ext struct {
		PartRefund num `json:"part_refund"`
	}
	if len(w.Order.Ext) > 0 && w.Order.Ext[0] == '{' {
		_ = json.Unmarshal(w.Order.Ext, &ext) // ext is informative; a shape we do not know changes nothing
	}
	o := market.Order{
		Platform: market.Eleme, OrderID: string(w.Order.OrderID), ShopID: string(w.Shop.ID),
		DaySeq: int(w.Order.OrderIndex), Status: mapStatus(int64(w.Order.Status), ext.PartRefund != 0),
		TotalFen: int64(w.Order.TotalFee), PaidFen: int64(w.Order.UserFee), SubsidyFen: subsidy,
		CommissionFen: int64(w.Order.Commission), Recipient: string(w.User.Name),
		RecipientPhone: string(w.User.Phone), Address: string(w.User.Address), Remark: string(w.Order.Remark),
	}
	if w.Order.CreateTime > 0 {
		o.PlacedAt = time.Unix(int64(w.Order.CreateTime), 0).In(cn.Zone)
	}
	for _, p := range products {
		sku := string(p.BaiduProductID)
		if sku == "" {
			sku = string(p.SkuID)
		}
		o.Lines = append(o.Lines, market.Line{Code: string(p.CustomSkuID), PlatformSKU: sku, Name: p.ProductName,
			Qty: int64(p.ProductAmount), PriceFen: int64(p.ProductPrice)})
	}
	return o, nil
}

// decodeProducts reads order.get's products: a list of bags (lists of lines) [seen], or a flat list.
func decodeProducts(raw json.RawMessage) ([]wireProduct, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var bags [][]wireProduct
	if err := json.Unmarshal(raw, &bags); err == nil {
		var all []wireProduct
		for _, b := range bags {
			all = append(all, b...)
		}
		return all, nil
	}
	var flat []wireProduct
	if err := json.Unmarshal(raw, &flat); err != nil {
		return nil, fmt.Errorf("products: %w", err)
	}
	return flat, nil
}

// cursor is PullOrders' position: a window of create times [Start, End] (unix seconds; End 0 = not fixed
// yet) and the next page of it. Written "v1:start:end:page".
type cursor struct{ Start, End, Page int64 }

func (k cursor) String() string { return fmt.Sprintf("v1:%d:%d:%d", k.Start, k.End, k.Page) }

func parseCursor(s string) (cursor, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 4 || parts[0] != "v1" {
		return cursor{}, fmt.Errorf("eleme: cursor %q is not ours", s)
	}
	var k cursor
	var err error
	for i, p := range []*int64{&k.Start, &k.End, &k.Page} {
		if *p, err = strconv.ParseInt(parts[i+1], 10, 64); err != nil || *p < 0 {
			return cursor{}, fmt.Errorf("eleme: cursor %q is not ours", s)
		}
	}
	if k.Page < 1 {
		k.Page = 1
	}
	return k, nil
}

// PullOrders lists the shop's orders created since the cursor (order.list, page by page over windows of
// at most a day). A window ends at the time of the call; the next window starts a little before it, so an
// order that became visible late is still found (ids may repeat; the hub's intake is idempotent).
func (c *Client) PullOrders(ctx context.Context, shopID, cur string, since time.Time) ([]string, string, error) {
	now := c.now().Unix()
	var k cursor
	if cur == "" {
		if since.IsZero() {
			since = c.now().Add(-pullWindow)
		}
		k = cursor{Start: since.Unix(), Page: 1}
	} else {
		var err error
		if k, err = parseCursor(cur); err != nil {
			return nil, "", err
		}
	}
	if k.Start >= now {
		return nil, k.String(), nil // nothing can have been placed yet
	}
	type item struct {
		id string
		at int64
	}
	var ids []string
	for n := 0; n < pullPagesPerCall; n++ {
		if k.End == 0 {
			k.End = min(k.Start+int64(pullWindow/time.Second), now)
		}
		var page struct {
			Pages num `json:"pages"`
			List  []struct {
				OrderID    str `json:"order_id"`
				CreateTime num `json:"create_time"`
			} `json:"list"`
		}
		params := map[string]any{"shop_id": shopID, "start_time": k.Start, "end_time": k.End, "page": k.Page}
		if err := c.call(ctx, CmdOrderList, params, &page); err != nil {
			return ids, k.String(), err
		}
		items := make([]item, 0, len(page.List))
		for _, o := range page.List {
			if o.OrderID != "" {
				items = append(items, item{string(o.OrderID), int64(o.CreateTime)})
			}
		}
		sort.SliceStable(items, func(i, j int) bool { return items[i].at < items[j].at })
		for _, it := range items {
			ids = append(ids, it.id)
		}
		if k.Page < int64(page.Pages) {
			k.Page++
			continue
		}
		// The window is read: move on. A window that ended at the time of the call is read again from a
		// little before its end next time.
		next := cursor{Start: k.End, Page: 1}
		if k.End >= now {
			next.Start = max(k.Start, k.End-int64(pullOverlap/time.Second))
			return ids, next.String(), nil
		}
		k = next
	}
	return ids, k.String(), nil
}

// StockBatch is sku.stock.update.batch's limit: 100 SKUs per call.
func (c *Client) StockBatch() int { return MaxStockBatch }

// PushStock sets the absolute stock of up to 100 SKUs of one shop by our codes (custom_sku_id
// "code:qty;code:qty"). Quantities are clamped to 0–99999, the platform's range. A code that cannot be
// written in that list (empty, or holding ':' or ';') is refused here and named in the error's Failed;
// the others are still sent.
func (c *Client) PushStock(ctx context.Context, shopID string, levels []market.StockLevel) error {
	if len(levels) > MaxStockBatch {
		return &market.CallError{Kind: market.ErrRefused, Code: "batch",
			Msg: fmt.Sprintf("%d levels, at most %d per call", len(levels), MaxStockBatch)}
	}
	failed := map[string]string{}
	pairs := make([]string, 0, len(levels))
	for _, l := range levels {
		if l.Code == "" || strings.ContainsAny(l.Code, ":;") {
			failed[l.Code] = "code cannot be written in custom_sku_id"
			continue
		}
		pairs = append(pairs, l.Code+":"+strconv.FormatInt(min(max(l.Qty, 0), MaxStock), 10))
	}
	var err error
	if len(pairs) > 0 {
		err = c.call(ctx, CmdStockBatch, map[string]string{"shop_id": shopID, "custom_sku_id": strings.Join(pairs, ";")}, nil)
	}
	if len(failed) == 0 {
		return err
	}
	var ce *market.CallError
	switch {
	case err == nil:
		return &market.CallError{Kind: market.ErrRefused, Code: "code", Msg: "some codes cannot be sent", Failed: failed}
	case errors.As(err, &ce) && ce.Failed != nil:
		for k, v := range failed {
			ce.Failed[k] = v
		}
	}
	return err
}
