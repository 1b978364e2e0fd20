package jddj

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/market"
)

// Confirm accepts a new order (ocs/orderAcceptOperate, isAgreed true).
func (c *Client) Confirm(ctx context.Context, o market.OrderRef) error {
	return c.accept(ctx, o.OrderID, true)
}

// Reject refuses a new order before accepting it (ocs/orderAcceptOperate, isAgreed false). JD's call has
// no reason field or reason code, so reason and soldOut are not sent.
func (c *Client) Reject(ctx context.Context, o market.OrderRef, reason string, soldOut bool) error {
	return c.accept(ctx, o.OrderID, false)
}

func (c *Client) accept(ctx context.Context, orderID string, agreed bool) error {
	data, err := c.call(ctx, PathAccept, map[string]any{"orderId": orderID, "isAgreed": agreed, "operator": c.cfg.Operator})
	if err != nil {
		return err
	}
	return check(data)
}

// PreparedPath is the goods-picked call for a delivery carrier (the order's deliveryCarrierNo); JD's own
// delivery when the carrier is empty or unknown.
func PreparedPath(carrier string) string {
	switch carrier {
	case CarrierDDTC:
		return PathDDTCDelivery
	case CarrierSeller:
		return PathSellerDelivery
	case CarrierSelfPickup:
		return PathSelfMention
	}
	return PathJDZBDelivery
}

// Prepared tells JD the goods are picked, with the call for the order's delivery mode.
func (c *Client) Prepared(ctx context.Context, o market.OrderRef) error {
	data, err := c.call(ctx, PreparedPath(o.DeliveryMode), map[string]any{"orderId": o.OrderID, "operator": c.cfg.Operator})
	if err != nil {
		return err
	}
	return check(data)
}

// wireOrder is one order of order/es/query's resultList.
type wireOrder struct {
	OrderID                flex          `json:"orderId"`
	OrderStatus            flex          `json:"orderStatus"`
	OrderStartTime         string        `json:"orderStartTime"`
	OrderNum               flex          `json:"orderNum"`
	DeliveryStationNo      flex          `json:"deliveryStationNo"`
	DeliveryCarrierNo      flex          `json:"deliveryCarrierNo"`
	BuyerFullName          string        `json:"buyerFullName"`
	BuyerMobile            string        `json:"buyerMobile"`
	BuyerFullAddress       string        `json:"buyerFullAddress"`
	OrderTotalMoney        flex          `json:"orderTotalMoney"`
	OrderBuyerPayableMoney flex          `json:"orderBuyerPayableMoney"`
	OrderBuyerRemark       string        `json:"orderBuyerRemark"`
	Product                []wireProduct `json:"product"`
	Discount               []struct {
		PlatPayMoney flex `json:"platPayMoney"`
	} `json:"discount"`
}

type wireProduct struct {
	SkuID      flex   `json:"skuId"`
	SkuIDIsv   string `json:"skuIdIsv"`
	SkuName    string `json:"skuName"`
	SkuCount   flex   `json:"skuCount"`
	SkuJdPrice flex   `json:"skuJdPrice"`
}

// queryResult is the data of order/es/query.
type queryResult struct {
	Code   flex   `json:"code"`
	Msg    string `json:"msg"`
	Result struct {
		PageNo     int         `json:"pageNo"`
		PageSize   int         `json:"pageSize"`
		TotalCount int         `json:"totalCount"`
		ResultList []wireOrder `json:"resultList"`
	} `json:"result"`
}

func (c *Client) query(ctx context.Context, q map[string]any) (queryResult, error) {
	var r queryResult
	data, err := c.call(ctx, PathQuery, q)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(data, &r); err != nil {
		return r, fmt.Errorf("jddj %s: unreadable result", PathQuery)
	}
	if r.Code != "" && r.Code != CodeOK {
		return r, &market.CallError{Kind: market.ErrRefused, Code: string(r.Code), Msg: r.Msg}
	}
	return r, nil
}

// FetchOrder reads one order with order/es/query by orderId.
func (c *Client) FetchOrder(ctx context.Context, shopID, orderID string) (market.Order, error) {
	r, err := c.query(ctx, map[string]any{"orderId": orderID})
	if err != nil {
		return market.Order{}, err
	}
	for _, w := range r.Result.ResultList {
		if string(w.OrderID) == orderID {
			return w.normalise()
		}
	}
	return market.Order{}, &market.CallError{Kind: market.ErrRefused, Code: CodeFailed, Msg: "order " + orderID + " not found"}
}

// fen reads an amount JD writes in integer fen (as a number or a string).
func fen(f flex, field string) (int64, error) {
	if f == "" {
		return 0, nil
	}
	v, err := strconv.ParseInt(string(f), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("jddj: %s %q is not an amount in fen", field, string(f))
	}
	return v, nil
}

func (w wireOrder) normalise() (market.Order, error) {
	o := market.Order{
		Platform: market.JDDJ, OrderID: string(w.OrderID), ShopID: string(w.DeliveryStationNo),
		Status: MapStatus(string(w.OrderStatus)), Recipient: w.BuyerFullName, RecipientPhone: w.BuyerMobile,
		Address: w.BuyerFullAddress, Remark: w.OrderBuyerRemark, DeliveryMode: string(w.DeliveryCarrierNo),
	}
	if o.OrderID == "" {
		return o, fmt.Errorf("jddj: order without orderId")
	}
	if n, err := strconv.Atoi(string(w.OrderNum)); err == nil {
		o.DaySeq = n
	}
	if w.OrderStartTime != "" {
		if t, err := ParseTime(w.OrderStartTime); err == nil {
			o.PlacedAt = t
		}
	}
	var err error
	if o.TotalFen, err = fen(w.OrderTotalMoney, "orderTotalMoney"); err != nil {
		return o, err
	}
	if o.PaidFen, err = fen(w.OrderBuyerPayableMoney, "orderBuyerPayableMoney"); err != nil {
		return o, err
	}
	for _, d := range w.Discount {
		v, err := fen(d.PlatPayMoney, "platPayMoney")
		if err != nil {
			return o, err
		}
		o.SubsidyFen += v
	}
	for _, p := range w.Product {
		qty, err := strconv.ParseInt(string(p.SkuCount), 10, 64)
		if err != nil {
			return o, fmt.Errorf("jddj: skuCount %q is not a whole number", string(p.SkuCount))
		}
		price, err := fen(p.SkuJdPrice, "skuJdPrice")
		if err != nil {
			return o, err
		}
		o.Lines = append(o.Lines, market.Line{Code: p.SkuIDIsv, PlatformSKU: string(p.SkuID), Name: p.SkuName, Qty: qty, PriceFen: price})
	}
	return o, nil
}

// MapStatus maps JD's orderStatus to market.Status.
func MapStatus(s string) market.Status {
	switch s {
	case "41000", "31020": // 待处理 (waiting for the merchant), 已付款
		return market.StatusNew
	case "32000": // 等待出库: accepted (by the merchant or automatically), waiting for the rider
		return market.StatusConfirmed
	case "33040": // 配送中
		return market.StatusDelivering
	case "33060", "34000", "90000": // 已妥投, 京东已收款, 订单完成
		return market.StatusCompleted
	case "20020", "20040", "20060": // 订单取消, 超时未支付系统取消, 系统撤销订单
		return market.StatusCancelled
	}
	// 20030 (the buyer asked to cancel), 20010 (locked), 20050 (paused), 31000 (awaiting payment) leave the
	// order as it is.
	return market.StatusUnknown
}

// pullPage is the page size PullOrders asks for (JD's maximum), pullPages how many pages one call reads.
const (
	pullPage  = 100
	pullPages = 10
	// pullLag is how far behind the present a window with no orders moves the cursor, for orders JD
	// indexes late.
	pullLag = 5 * time.Minute
)

// PullOrders lists the shop's orders placed since the cursor with order/es/query by orderStartTime window
// and deliveryStationNo, all pages up to pullPages. The cursor is "v1:<unix seconds>": the start of the
// next window (the newest order time seen, so orders of that second are seen again).
func (c *Client) PullOrders(ctx context.Context, shopID, cursor string, since time.Time) ([]string, string, error) {
	begin := since
	if cursor != "" {
		sec, ok := strings.CutPrefix(cursor, "v1:")
		n, err := strconv.ParseInt(sec, 10, 64)
		if !ok || err != nil {
			return nil, "", fmt.Errorf("jddj: cursor %q is not one of ours", cursor)
		}
		begin = time.Unix(n, 0)
	}
	end := c.now()
	var ids []string
	newest := time.Time{}
	seen := map[string]bool{}
	for page := 1; page <= pullPages; page++ {
		r, err := c.query(ctx, map[string]any{
			"deliveryStationNo": shopID, "orderStartTime_begin": Timestamp(begin), "orderStartTime_end": Timestamp(end),
			"pageNo": page, "pageSize": pullPage,
		})
		if err != nil {
			return nil, "", err
		}
		for _, w := range r.Result.ResultList {
			id := string(w.OrderID)
			if id == "" || seen[id] {
				continue
			}
			seen[id] = true
			ids = append(ids, id)
			if t, err := ParseTime(w.OrderStartTime); err == nil && t.After(newest) {
				newest = t
			}
		}
		if len(r.Result.ResultList) < pullPage || page*pullPage >= r.Result.TotalCount {
			next := begin
			if newest.After(next) {
				next = newest
			}
			if idle := end.Add(-pullLag); idle.After(next) && newest.IsZero() {
				next = idle
			}
			return ids, "v1:" + strconv.FormatInt(next.Unix(), 10), nil
		}
	}
	// more pages than one call reads: continue from the newest order seen
	next := begin
	if newest.After(next) {
		next = newest
	}
	return ids, "v1:" + strconv.FormatInt(next.Unix(), 10), nil
}

// stockAnswer is the data of stock/batchUpdateCurrentQtys.
type stockAnswer struct {
	RetCode flex   `json:"retCode"`
	RetMsg  string `json:"retMsg"`
	Data    []struct {
		OutSkuID string `json:"outSkuId"`
		Code     flex   `json:"code"`
		Msg      string `json:"msg"`
	} `json:"data"`
}

// PushStock sets the absolute stock of at most StockBatchSize SKUs at one station
// (stock/batchUpdateCurrentQtys with stationNo = shopID and userPin = the operator).
func (c *Client) PushStock(ctx context.Context, shopID string, levels []market.StockLevel) error {
	if len(levels) == 0 {
		return nil
	}
	if len(levels) > StockBatchSize {
		return fmt.Errorf("jddj: %d stock levels in one call, at most %d", len(levels), StockBatchSize)
	}
	type sku struct {
		OutSkuID string `json:"outSkuId"`
		StockQty int64  `json:"stockQty"`
	}
	list := make([]sku, len(levels))
	for i, l := range levels {
		list[i] = sku{OutSkuID: l.Code, StockQty: max(l.Qty, 0)}
	}
	data, err := c.call(ctx, PathStock, map[string]any{"stationNo": shopID, "userPin": c.cfg.Operator, "skuStockList": list})
	if err != nil {
		return err
	}
	var a stockAnswer
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("jddj %s: unreadable answer data", PathStock)
	}
	failed := map[string]string{}
	for _, d := range a.Data {
		if d.Code != "" && d.Code != CodeOK {
			failed[d.OutSkuID] = d.Msg
		}
	}
	if len(failed) > 0 {
		return &market.CallError{Kind: market.ErrRefused, Code: string(a.RetCode), Msg: a.RetMsg, Failed: failed}
	}
	if a.RetCode != "" && a.RetCode != CodeOK {
		return &market.CallError{Kind: market.ErrRefused, Code: string(a.RetCode), Msg: a.RetMsg}
	}
	return nil
}
