package wechatfake

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/auth/verifiers"
	"github.com/wechatpay-apiv3/wechatpay-go/core/downloader"
	"github.com/wechatpay-apiv3/wechatpay-go/core/notify"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
)

func prepayReq(no string, total int64, notifyURL string) jsapi.PrepayRequest {
	return jsapi.PrepayRequest{
		Appid: core.String(testAppID), Mchid: core.String(testMchID), Description: core.String("便利店-提货订单"),
		OutTradeNo: core.String(no), NotifyUrl: core.String(notifyURL), Attach: core.String("store=7"),
		Amount: &jsapi.Amount{Total: core.Int64(total), Currency: core.String("CNY")},
		Payer:  &jsapi.Payer{Openid: core.String("oPayer")},
	}
}

func apiError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var ae *core.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want a WeChat Pay API error %d %s", err, status, code)
	}
	if ae.StatusCode != status || ae.Code != code || ae.Message == "" {
		t.Fatalf("error = HTTP %d %s %q, want HTTP %d %s", ae.StatusCode, ae.Code, ae.Message, status, code)
	}
}

func pubKeyNotifyHandler(t *testing.T) *notify.Handler {
	t.Helper()
	h, err := notify.NewRSANotifyHandler(testKeys.APIv3Key,
		verifiers.NewSHA256WithRSAPubkeyVerifier(testKeys.PublicKeyID, testKeys.PlatformKey.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestPrepayQueryCloseWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	ctx := context.Background()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	const notifyURL = "https://hub.example.com/webhooks/wechatpay"

	pay, _, err := svc.PrepayWithRequestPayment(ctx, prepayReq("O20240512000001", 1250, notifyURL))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(*pay.PrepayId, "wx") || *pay.Package != "prepay_id="+*pay.PrepayId {
		t.Fatalf("prepay = %v", pay)
	}
	// paySign is the merchant's signature; check it the way WeChat's client would.
	msg := fmt.Sprintf("%s\n%s\n%s\n%s\n", *pay.Appid, *pay.TimeStamp, *pay.NonceStr, *pay.Package)
	if err := verifySHA256(&testKeys.MerchantKey.PublicKey, msg, *pay.PaySign); err != nil {
		t.Fatalf("paySign: %v", err)
	}
	// The same order again: the same prepay_id. Changed parameters: a duplicate out_trade_no.
	again, _, err := svc.Prepay(ctx, prepayReq("O20240512000001", 1250, notifyURL))
	if err != nil || *again.PrepayId != *pay.PrepayId {
		t.Fatalf("repeated prepay: %v %v", err, again)
	}
	_, _, err = svc.Prepay(ctx, prepayReq("O20240512000001", 1300, notifyURL))
	apiError(t, err, 400, "INVALID_REQUEST")

	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000001"), Mchid: core.String(testMchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "NOTPAY" || tx.TransactionId != nil || tx.SuccessTime != nil || *tx.Amount.Total != 1250 || *tx.Appid != testAppID {
		t.Fatalf("unpaid order = %v", tx)
	}
	if _, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("O20240512000001"), Mchid: core.String(testMchID)}); err != nil {
		t.Fatal(err)
	}
	tx, _, err = svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000001"), Mchid: core.String(testMchID)})
	if err != nil || *tx.TradeState != "CLOSED" {
		t.Fatalf("closed order: %v %v", err, tx)
	}
	_, _, err = svc.Prepay(ctx, prepayReq("O20240512000001", 1250, notifyURL))
	apiError(t, err, 400, "ORDER_CLOSED")
	if err := f.PayQuietly("O20240512000001"); err == nil {
		t.Fatal("a closed order was paid")
	}

	// A paid order.
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000002", 800, notifyURL)); err != nil {
		t.Fatal(err)
	}
	if err := f.PayQuietly("O20240512000002"); err != nil {
		t.Fatal(err)
	}
	tx, _, err = svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000002"), Mchid: core.String(testMchID)})
	if err != nil {
		t.Fatal(err)
	}
	if *tx.TradeState != "SUCCESS" || *tx.TradeType != "JSAPI" || *tx.Payer.Openid != "oPayer" || *tx.Amount.PayerTotal != 800 ||
		*tx.Attach != "store=7" || len(*tx.TransactionId) != 28 {
		t.Fatalf("paid order = %v", tx)
	}
	if _, err := time.Parse(time.RFC3339, *tx.SuccessTime); err != nil || !strings.HasSuffix(*tx.SuccessTime, "+08:00") {
		t.Fatalf("success_time %q", *tx.SuccessTime)
	}
	byID, _, err := svc.QueryOrderById(ctx, jsapi.QueryOrderByIdRequest{TransactionId: tx.TransactionId, Mchid: core.String(testMchID)})
	if err != nil || *byID.OutTradeNo != "O20240512000002" {
		t.Fatalf("query by id: %v %v", err, byID)
	}
	_, err = svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("O20240512000002"), Mchid: core.String(testMchID)})
	apiError(t, err, 400, "ORDERPAID")
	_, _, err = svc.Prepay(ctx, prepayReq("O20240512000002", 800, notifyURL))
	apiError(t, err, 400, "ORDERPAID")
	_, _, err = svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O404404"), Mchid: core.String(testMchID)})
	apiError(t, err, 404, "ORDER_NOT_EXIST")
	_, err = svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("O404404"), Mchid: core.String(testMchID)})
	apiError(t, err, 404, "ORDER_NOT_EXIST")

	got, ok := f.Transaction("O20240512000002")
	if !ok || got.State != "SUCCESS" || got.TransactionID != *tx.TransactionId || got.OpenID != "oPayer" || got.PrepayID == "" {
		t.Fatalf("Transaction() = %+v", got)
	}
	if n := f.Requests(); n < 12 {
		t.Fatalf("Requests() = %d", n)
	}
}

func TestPrepayParamErrors(t *testing.T) {
	_, srv := newFake(t, nil)
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	cases := []struct {
		name string
		edit func(r *jsapi.PrepayRequest)
		code string
	}{
		{"short out_trade_no", func(r *jsapi.PrepayRequest) { r.OutTradeNo = core.String("A1") }, "PARAM_ERROR"},
		{"out_trade_no with a dot", func(r *jsapi.PrepayRequest) { r.OutTradeNo = core.String("O2024.0512") }, "PARAM_ERROR"},
		{"no openid", func(r *jsapi.PrepayRequest) { r.Payer = &jsapi.Payer{} }, "PARAM_ERROR"},
		{"zero total", func(r *jsapi.PrepayRequest) { r.Amount.Total = core.Int64(0) }, "PARAM_ERROR"},
		{"dollars", func(r *jsapi.PrepayRequest) { r.Amount.Currency = core.String("USD") }, "PARAM_ERROR"},
		{"description over 127 bytes", func(r *jsapi.PrepayRequest) { r.Description = core.String(strings.Repeat("货", 43)) }, "PARAM_ERROR"},
		{"relative notify_url", func(r *jsapi.PrepayRequest) { r.NotifyUrl = core.String("/webhooks/wechatpay") }, "PARAM_ERROR"},
		{"notify_url with a query", func(r *jsapi.PrepayRequest) { r.NotifyUrl = core.String("https://hub.example.com/n?x=1") }, "PARAM_ERROR"},
		{"time_expire in the past is adjusted, not refused", func(r *jsapi.PrepayRequest) { r.TimeExpire = core.Time(time.Time{}); r.Attach = nil }, ""},
		{"other appid", func(r *jsapi.PrepayRequest) { r.Appid = core.String("wx0000000000000000") }, "APPID_MCHID_NOT_MATCH"},
		{"other mchid", func(r *jsapi.PrepayRequest) { r.Mchid = core.String("1900000000") }, "INVALID_REQUEST"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := prepayReq(fmt.Sprintf("O2024051200%04d", i), 100, "https://hub.example.com/n")
			c.edit(&r)
			_, _, err := svc.Prepay(context.Background(), r)
			if c.code == "" {
				if err != nil {
					t.Fatalf("accepted input refused: %v", err)
				}
				return
			}
			apiError(t, err, 400, c.code)
		})
	}
}

func TestPayNotificationWithSDK(t *testing.T) {
	f, srv := newFake(t, nil)
	recv := newReceiver(t, always(http.StatusOK))
	ctx := context.Background()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000100", 1250, recv.srv.URL+"/webhooks/wechatpay")); err != nil {
		t.Fatal(err)
	}
	if err := f.Pay(ctx, "O20240512000100"); err != nil {
		t.Fatal(err)
	}
	got := recv.next(t)
	var tx payments.Transaction
	n, err := pubKeyNotifyHandler(t).ParseNotifyRequest(ctx, got.request(), &tx)
	if err != nil {
		t.Fatal(err)
	}
	if n.EventType != "TRANSACTION.SUCCESS" || n.ResourceType != "encrypt-resource" || n.Summary != "支付成功" ||
		n.Resource.OriginalType != "transaction" || n.Resource.AssociatedData != "transaction" || !strings.HasPrefix(n.ID, "EV-") {
		t.Fatalf("envelope = %+v", n)
	}
	want, _ := f.Transaction("O20240512000100")
	if *tx.OutTradeNo != "O20240512000100" || *tx.TransactionId != want.TransactionID || *tx.TradeState != "SUCCESS" ||
		*tx.TradeType != "JSAPI" || *tx.Amount.Total != 1250 || *tx.Amount.PayerTotal != 1250 || *tx.Amount.Currency != "CNY" ||
		*tx.Payer.Openid != "oPayer" || *tx.Appid != testAppID || *tx.Mchid != testMchID || *tx.Attach != "store=7" ||
		*tx.BankType == "" || *tx.TradeStateDesc == "" {
		t.Fatalf("transaction = %v", tx)
	}
	if st, err := time.Parse(time.RFC3339, *tx.SuccessTime); err != nil || !strings.HasSuffix(*tx.SuccessTime, "+08:00") || !st.Equal(want.SuccessTime.Truncate(time.Second)) {
		t.Fatalf("success_time %q (%v)", *tx.SuccessTime, err)
	}
	if got.header.Get("Wechatpay-Serial") != testKeys.PublicKeyID || got.header.Get("Wechatpay-Signature-Type") != AuthScheme {
		t.Fatalf("headers = %v", got.header)
	}

	// A receiver that refuses: Pay reports its reply.
	bad := newReceiver(t, always(http.StatusInternalServerError))
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000101", 1, bad.srv.URL)); err != nil {
		t.Fatal(err)
	}
	err = f.Pay(ctx, "O20240512000101")
	var re *ReplyError
	if !errors.As(err, &re) || re.StatusCode != 500 || !strings.Contains(re.Reply, "FAIL") {
		t.Fatalf("Pay to a failing receiver: %v", err)
	}
	if tx, _ := f.Transaction("O20240512000101"); tx.State != "SUCCESS" {
		t.Fatal("the order is paid even though the notification was refused")
	}
	bad.next(t)
}

func TestTamperedNotificationsFailVerification(t *testing.T) {
	f, srv := newFake(t, nil)
	ctx := context.Background()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000200", 1250, "https://hub.example.com/n")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.TransactionNotification("O20240512000200"); err == nil {
		t.Fatal("an unpaid order has a payment notification")
	}
	if err := f.PayQuietly("O20240512000200"); err != nil {
		t.Fatal(err)
	}
	h, body, err := f.TransactionNotification("O20240512000200")
	if err != nil {
		t.Fatal(err)
	}
	handler := pubKeyNotifyHandler(t)
	parse := func(h http.Header, body string) error {
		req := httptest.NewRequest(http.MethodPost, "/n", strings.NewReader(body))
		req.Header = h
		_, err := handler.ParseNotifyRequest(ctx, req, &payments.Transaction{})
		return err
	}
	if err := parse(h.Clone(), string(body)); err != nil {
		t.Fatalf("untouched notification: %v", err)
	}
	if err := parse(h.Clone(), strings.Replace(string(body), "支付成功", "支付失败", 1)); err == nil {
		t.Fatal("a tampered body verified")
	}
	stale := h.Clone()
	stale.Set("Wechatpay-Timestamp", fmt.Sprint(time.Now().Add(-10*time.Minute).Unix()))
	if err := parse(stale, string(body)); err == nil {
		t.Fatal("a re-stamped notification verified")
	}
	// A notification signed in certificate mode does not verify with the public key.
	cf := New(Options{AppID: testAppID, AppSecret: testSecret, MchID: testMchID, Keys: testKeys, Mode: CertificateMode})
	defer cf.Close()
	ch, cbody, err := cf.SignNotification("TRANSACTION.SUCCESS", "transaction", []byte(`{"out_trade_no":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ch.Get("Wechatpay-Serial") != testKeys.CertSerial() {
		t.Fatalf("certificate-mode serial %q", ch.Get("Wechatpay-Serial"))
	}
	if err := parse(ch, string(cbody)); err == nil {
		t.Fatal("a certificate-mode notification verified with the public key")
	}
}

func TestAutoPayRetries(t *testing.T) {
	var calls atomic.Int64
	recv := newReceiver(t, func(n int) int {
		calls.Store(int64(n))
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	f, srv := newFake(t, func(o *Options) { o.AutoPay = 20 * time.Millisecond })
	ctx := context.Background()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000300", 990, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	first, second := recv.next(t), recv.next(t)
	h := pubKeyNotifyHandler(t)
	n1, err := h.ParseNotifyRequest(ctx, first.request(), &payments.Transaction{})
	if err != nil {
		t.Fatal(err)
	}
	var tx payments.Transaction
	n2, err := h.ParseNotifyRequest(ctx, second.request(), &tx)
	if err != nil {
		t.Fatal(err)
	}
	if n1.ID != n2.ID || *tx.OutTradeNo != "O20240512000300" {
		t.Fatalf("retry is not the same notification: %s vs %s", n1.ID, n2.ID)
	}
	if got, _ := f.Transaction("O20240512000300"); got.State != "SUCCESS" {
		t.Fatalf("state %s", got.State)
	}
	time.Sleep(700 * time.Millisecond)
	if calls.Load() != 2 {
		t.Fatalf("%d deliveries, want 2 (stop after 204)", calls.Load())
	}
	f.Close()
	select {
	case <-recv.got:
		t.Fatal("a notification after Close")
	default:
	}
}

func TestAutoPaySkipsQuietlyPaidAndClosedOrders(t *testing.T) {
	recv := newReceiver(t, always(http.StatusOK))
	f, srv := newFake(t, func(o *Options) { o.AutoPay = 400 * time.Millisecond })
	ctx := context.Background()
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	for _, no := range []string{"O20240512000310", "O20240512000311"} {
		if _, _, err := svc.Prepay(ctx, prepayReq(no, 990, recv.srv.URL)); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.PayQuietly("O20240512000310"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String("O20240512000311"), Mchid: core.String(testMchID)}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(800 * time.Millisecond)
	select {
	case r := <-recv.got:
		t.Fatalf("AutoPay notified %s", r.body)
	default:
	}
	if tx, _ := f.Transaction("O20240512000311"); tx.State != "CLOSED" {
		t.Fatalf("closed order became %s", tx.State)
	}
}

func TestCloseStopsPendingAutoPay(t *testing.T) {
	recv := newReceiver(t, always(http.StatusOK))
	f, srv := newFake(t, func(o *Options) { o.AutoPay = time.Hour })
	svc := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, _, err := svc.Prepay(context.Background(), prepayReq("O20240512000320", 1, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { f.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited for an AutoPay timer")
	}
}

type refundNotice struct {
	MchID               string `json:"mchid"`
	OutTradeNo          string `json:"out_trade_no"`
	TransactionID       string `json:"transaction_id"`
	OutRefundNo         string `json:"out_refund_no"`
	RefundID            string `json:"refund_id"`
	RefundStatus        string `json:"refund_status"`
	SuccessTime         string `json:"success_time"`
	UserReceivedAccount string `json:"user_received_account"`
	Amount              struct {
		Total       int64 `json:"total"`
		Refund      int64 `json:"refund"`
		PayerTotal  int64 `json:"payer_total"`
		PayerRefund int64 `json:"payer_refund"`
	} `json:"amount"`
}

func refundReq(outTradeNo, outRefundNo string, refund, total int64, notifyURL string) refunddomestic.CreateRequest {
	r := refunddomestic.CreateRequest{
		OutTradeNo: core.String(outTradeNo), OutRefundNo: core.String(outRefundNo), Reason: core.String("缺货"),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(refund), Total: core.Int64(total), Currency: core.String("CNY")},
	}
	if notifyURL != "" {
		r.NotifyUrl = core.String(notifyURL)
	}
	return r
}

func TestRefundWithSDK(t *testing.T) {
	recv := newReceiver(t, always(http.StatusOK))
	f, srv := newFake(t, nil)
	ctx := context.Background()
	client := payClient(t, srv)
	svc := jsapi.JsapiApiService{Client: client}
	rs := refunddomestic.RefundsApiService{Client: client}
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000400", 1000, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}

	_, _, err := rs.Create(ctx, refundReq("O20240512000400", "R1", 300, 1000, recv.srv.URL))
	apiError(t, err, 404, "RESOURCE_NOT_EXISTS") // not paid yet
	if err := f.PayQuietly("O20240512000400"); err != nil {
		t.Fatal(err)
	}
	paid, _ := f.Transaction("O20240512000400")

	r1, _, err := rs.Create(ctx, refundReq("O20240512000400", "R1", 300, 1000, recv.srv.URL+"/refunds"))
	if err != nil {
		t.Fatal(err)
	}
	if *r1.Status != refunddomestic.STATUS_PROCESSING || *r1.OutRefundNo != "R1" || *r1.TransactionId != paid.TransactionID ||
		*r1.Channel != refunddomestic.CHANNEL_ORIGINAL || *r1.Amount.Refund != 300 || *r1.Amount.Total != 1000 ||
		*r1.Amount.PayerRefund != 300 || *r1.UserReceivedAccount == "" || r1.CreateTime == nil {
		t.Fatalf("refund = %v", r1)
	}
	got := recv.next(t)
	var rn refundNotice
	n, err := pubKeyNotifyHandler(t).ParseNotifyRequest(ctx, got.request(), &rn)
	if err != nil {
		t.Fatal(err)
	}
	if n.EventType != "REFUND.SUCCESS" || n.Resource.OriginalType != "refund" || rn.RefundStatus != "SUCCESS" ||
		rn.RefundID != *r1.RefundId || rn.OutRefundNo != "R1" || rn.OutTradeNo != "O20240512000400" || rn.MchID != testMchID ||
		rn.TransactionID != paid.TransactionID || rn.Amount.Refund != 300 || rn.Amount.Total != 1000 || rn.Amount.PayerRefund != 300 ||
		rn.SuccessTime == "" || rn.UserReceivedAccount == "" {
		t.Fatalf("refund notification = %+v %+v", n, rn)
	}
	q, _, err := rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("R1")})
	if err != nil || *q.Status != refunddomestic.STATUS_SUCCESS || q.SuccessTime == nil {
		t.Fatalf("query refund: %v %v", err, q)
	}
	// The same out_refund_no again is the same refund; changed amounts are refused.
	again, _, err := rs.Create(ctx, refundReq("O20240512000400", "R1", 300, 1000, recv.srv.URL+"/refunds"))
	if err != nil || *again.RefundId != *r1.RefundId || *again.Status != refunddomestic.STATUS_SUCCESS {
		t.Fatalf("repeated refund: %v %v", err, again)
	}
	_, _, err = rs.Create(ctx, refundReq("O20240512000400", "R1", 301, 1000, ""))
	apiError(t, err, 400, "INVALID_REQUEST")
	_, _, err = rs.Create(ctx, refundReq("O20240512000400", "R2", 100, 999, ""))
	apiError(t, err, 400, "INVALID_REQUEST") // total is not the order's
	_, _, err = rs.Create(ctx, refundReq("O20240512000400", "R2", 701, 1000, ""))
	apiError(t, err, 400, "INVALID_REQUEST") // more than is left
	_, _, err = rs.Create(ctx, refundReq("O404404", "R3", 1, 1000, ""))
	apiError(t, err, 404, "RESOURCE_NOT_EXISTS")
	_, _, err = rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("R404")})
	apiError(t, err, 404, "RESOURCE_NOT_EXISTS")
	_, _, err = rs.Create(ctx, refundReq("O20240512000400", "R4", 0, 1000, ""))
	apiError(t, err, 400, "PARAM_ERROR") // nothing to refund

	// The rest, by transaction id and without notify_url: no notification.
	r2, _, err := rs.Create(ctx, refunddomestic.CreateRequest{TransactionId: core.String(paid.TransactionID), OutRefundNo: core.String("R2"),
		Amount: &refunddomestic.AmountReq{Refund: core.Int64(700), Total: core.Int64(1000), Currency: core.String("CNY")}})
	if err != nil {
		t.Fatal(err)
	}
	tx, _, err := svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000400"), Mchid: core.String(testMchID)})
	if err != nil || *tx.TradeState != "REFUND" {
		t.Fatalf("refunded order: %v %v", err, tx)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rec, _ := f.Refund(*r2.OutRefundNo)
		if rec.Status == "SUCCESS" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("refund stuck: %+v", rec)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_, _, err = rs.Create(ctx, refundReq("O20240512000400", "R5", 1, 1000, ""))
	apiError(t, err, 400, "INVALID_REQUEST") // nothing left
	select {
	case r := <-recv.got:
		t.Fatalf("a notification for a refund without notify_url: %s", r.body)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestRefundNotifyBeforeReply(t *testing.T) {
	var notified atomic.Bool
	recv := newReceiver(t, func(int) int { notified.Store(true); return http.StatusOK })
	f, srv := newFake(t, nil)
	ctx := context.Background()
	client := payClient(t, srv)
	if _, _, err := (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, prepayReq("O20240512000500", 500, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := f.PayQuietly("O20240512000500"); err != nil {
		t.Fatal(err)
	}
	f.SetRefundNotifyBeforeReply(true)
	rs := refunddomestic.RefundsApiService{Client: client}
	r, _, err := rs.Create(ctx, refundReq("O20240512000500", "RB1", 500, 500, recv.srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	if !notified.Load() {
		t.Fatal("the refund was answered before its notification was delivered")
	}
	if *r.Status != refunddomestic.STATUS_PROCESSING {
		t.Fatalf("answer status %s, want PROCESSING", *r.Status)
	}
	if rec, _ := f.Refund("RB1"); rec.Status != "SUCCESS" {
		t.Fatalf("refund status %s", rec.Status)
	}
	recv.next(t)
}

func TestRefundDelay(t *testing.T) {
	recv := newReceiver(t, always(http.StatusOK))
	f, srv := newFake(t, func(o *Options) { o.RefundDelay = 500 * time.Millisecond })
	ctx := context.Background()
	client := payClient(t, srv)
	if _, _, err := (&jsapi.JsapiApiService{Client: client}).Prepay(ctx, prepayReq("O20240512000600", 500, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := f.PayQuietly("O20240512000600"); err != nil {
		t.Fatal(err)
	}
	rs := refunddomestic.RefundsApiService{Client: client}
	if _, _, err := rs.Create(ctx, refundReq("O20240512000600", "RD1", 200, 500, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	q, _, err := rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RD1")})
	if err != nil || *q.Status != refunddomestic.STATUS_PROCESSING {
		t.Fatalf("right away: %v %v", err, q)
	}
	recv.next(t)
	q, _, err = rs.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("RD1")})
	if err != nil || *q.Status != refunddomestic.STATUS_SUCCESS {
		t.Fatalf("after the delay: %v %v", err, q)
	}
}

func TestCertificateModeWithDownloader(t *testing.T) {
	recv := newReceiver(t, always(http.StatusOK))
	f, srv := newFake(t, func(o *Options) { o.Mode = CertificateMode })
	ctx := context.Background()
	hc := clientTo(srv)
	base, err := core.NewClient(ctx, option.WithMerchantCredential(testMchID, testKeys.MerchantSerial, testKeys.MerchantKey),
		option.WithoutValidator(), option.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	dl, err := downloader.NewCertificateDownloaderWithClient(ctx, base, testKeys.APIv3Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, ok := dl.Get(ctx, testKeys.CertSerial())
	if !ok || !cert.Equal(testKeys.Cert) {
		t.Fatal("the downloaded certificate is not the platform certificate")
	}
	client, err := core.NewClient(ctx, option.WithMerchantCredential(testMchID, testKeys.MerchantSerial, testKeys.MerchantKey),
		option.WithVerifier(verifiers.NewSHA256WithRSAVerifier(dl)), option.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	svc := jsapi.JsapiApiService{Client: client}
	if _, _, err := svc.Prepay(ctx, prepayReq("O20240512000700", 300, recv.srv.URL)); err != nil {
		t.Fatal(err)
	}
	if err := f.Pay(ctx, "O20240512000700"); err != nil {
		t.Fatal(err)
	}
	tx, res, err := svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000700"), Mchid: core.String(testMchID)})
	if err != nil || *tx.TradeState != "SUCCESS" {
		t.Fatalf("query: %v %v", err, tx)
	}
	if s := res.Response.Header.Get("Wechatpay-Serial"); s != testKeys.CertSerial() {
		t.Fatalf("answer signed by %q", s)
	}
	h, err := notify.NewRSANotifyHandler(testKeys.APIv3Key, verifiers.NewSHA256WithRSAVerifier(dl))
	if err != nil {
		t.Fatal(err)
	}
	var ptx payments.Transaction
	if _, err := h.ParseNotifyRequest(ctx, recv.next(t).request(), &ptx); err != nil {
		t.Fatal(err)
	}
	if *ptx.OutTradeNo != "O20240512000700" {
		t.Fatalf("notification for %s", *ptx.OutTradeNo)
	}

	// A public-key client of this certificate-mode deployment names the public key in Wechatpay-Serial
	// and gets answers signed with it, as during WeChat's migration.
	pk := jsapi.JsapiApiService{Client: payClient(t, srv)}
	if _, res, err := pk.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{OutTradeNo: core.String("O20240512000700"), Mchid: core.String(testMchID)}); err != nil ||
		res.Response.Header.Get("Wechatpay-Serial") != testKeys.PublicKeyID {
		t.Fatalf("public-key client: %v", err)
	}
}

func TestNotifyTransactionFromKeys(t *testing.T) {
	text, err := testKeys.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	keys, err := ParseKeys(text) // as a separate "simulate" process would
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var seen atomic.Pointer[payments.Transaction]
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var tx payments.Transaction
		if _, err := pubKeyNotifyHandler(t).ParseNotifyRequest(r.Context(), r, &tx); err != nil {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = fmt.Fprintf(w, `{"code":"FAIL","message":%q}`, err.Error())
			return
		}
		if seen.Swap(&tx) != nil {
			_, _ = w.Write([]byte(`duplicate`))
			return
		}
		_, _ = w.Write([]byte(`ok`))
	}))
	defer hub.Close()
	tx := Transaction{AppID: testAppID, MchID: testMchID, OutTradeNo: "O20240512000800", Total: 4200, OpenID: "oSim"}
	reply, err := NotifyTransaction(ctx, nil, hub.URL, keys, PublicKeyMode, tx)
	if err != nil || reply != "ok" {
		t.Fatalf("reply %q, err %v", reply, err)
	}
	got := seen.Load()
	if *got.OutTradeNo != "O20240512000800" || *got.Amount.Total != 4200 || *got.Payer.Openid != "oSim" || len(*got.TransactionId) != 28 || *got.TradeState != "SUCCESS" {
		t.Fatalf("hub saw %v", got)
	}
	if reply, err := NotifyTransaction(ctx, nil, hub.URL, keys, PublicKeyMode, tx); err != nil || reply != "duplicate" {
		t.Fatalf("second reply %q, err %v", reply, err)
	}
	_, err = NotifyTransaction(ctx, nil, hub.URL, keys, CertificateMode, tx)
	var re *ReplyError
	if !errors.As(err, &re) || re.StatusCode != http.StatusUnauthorized {
		t.Fatalf("certificate-mode notification to a public-key hub: %v", err)
	}
}
