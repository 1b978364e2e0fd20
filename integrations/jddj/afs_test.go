package jddj_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/jddj"
)

// TestFetchRefundReadsJDAnswers reads afs/getAfsService answers written as JD writes them (data as JSON
// text; numbers as numbers or strings), independently of the fake: a refunded bill is its order's units,
// a bill still under review changes nothing, and a bill JD does not know is refused.
func TestFetchRefundReadsJDAnswers(t *testing.T) {
	answers := map[string]string{
		"2601": `{"code":"0","msg":"操作成功","success":true,"data":"{\"code\":0,\"msg\":\"操作成功\",\"result\":{\"afsServiceOrder\":2601,\"afsServiceState\":32,\"orderId\":\"2600000000123\",\"questionDesc\":\"缺货\",\"afsDetailList\":[{\"skuIdIsv\":\"MILK-1L\",\"skuId\":2001,\"wareName\":\"牛奶\",\"skuCount\":2,\"cashMoney\":3180},{\"skuIdIsv\":\"EGG-10\",\"skuId\":\"2002\",\"wareName\":\"鸡蛋\",\"skuCount\":\"1\",\"cashMoney\":\"1980\"}]}}"}`,
		"2602": `{"code":"0","msg":"操作成功","success":true,"data":"{\"code\":\"0\",\"msg\":\"\",\"result\":{\"afsServiceOrder\":\"2602\",\"afsServiceState\":\"10\",\"orderId\":2600000000123,\"afsDetailList\":[{\"skuIdIsv\":\"MILK-1L\",\"skuCount\":1}]}}"}`,
		"2603": `{"code":"0","msg":"操作成功","success":true,"data":"{\"code\":\"-1\",\"msg\":\"售后单不存在\",\"result\":null}"}`,
	}
	var bill string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/djapi/"+jddj.PathAfsService || r.ParseForm() != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.Write([]byte(answers[bill]))
	}))
	defer srv.Close()
	c, err := jddj.New(jddj.Config{AppKey: appKey, AppSecret: secret, Token: token, Operator: "op-pin", Base: srv.URL + "/djapi"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	bill = "2601"
	p, err := c.FetchRefund(ctx, bill)
	if err != nil || p.Kind != market.PushRefund || p.OrderID != "2600000000123" || p.RefundID != "2601" || p.Reason != "缺货" || len(p.Lines) != 2 ||
		p.Lines[0] != (market.Line{Code: "MILK-1L", PlatformSKU: "2001", Name: "牛奶", Qty: 2}) || p.Lines[1].Code != "EGG-10" || p.Lines[1].Qty != 1 {
		t.Fatalf("refunded bill = %+v, %v", p, err)
	}
	bill = "2602"
	if p, err := c.FetchRefund(ctx, bill); err != nil || p.Kind != market.PushStatus || p.Status != market.StatusUnknown || len(p.Lines) != 0 {
		t.Fatalf("bill under review = %+v, %v", p, err)
	}
	bill = "2603"
	if _, err := c.FetchRefund(ctx, bill); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("unknown bill: %v", err)
	}
}
