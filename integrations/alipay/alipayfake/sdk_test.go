package alipayfake

import (
	"errors"
	"strings"
	"testing"

	"github.com/smartwalle/alipay/v3"
)

// TestSDK drives the fake with the real smartwalle SDK over HTTP, in both signing modes. Every response
// the SDK accepts has passed its signature verification (public key, or the certificate named by
// alipay_cert_sn).
func TestSDK(t *testing.T) {
	for _, mode := range []Mode{PublicKeyMode, CertMode} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, Options{Mode: mode})
			c := sdkClient(t, e)
			rv := newReceiver(t, c)
			ctx := ctxT(t)
			f := e.fake

			// Login: my.getAuthCode → alipay.system.oauth.token.
			code := f.IssueAuthCode("2088102150477652", "")
			tok, err := c.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: code})
			if err != nil {
				t.Fatalf("SystemOauthToken: %v", err)
			}
			if !tok.IsSuccess() || tok.UserId != "2088102150477652" || tok.ExpiresIn != 1296000 || tok.RefreshToken == "" {
				t.Fatalf("token = %+v", tok)
			}
			_, err = c.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: code})
			var aerr *alipay.Error
			if !errors.As(err, &aerr) || aerr.SubCode != "isv.code-invalid" || aerr.Code != "40002" {
				t.Fatalf("reused code: err = %v", err)
			}
			refreshed, err := c.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "refresh_token", RefreshToken: tok.RefreshToken})
			if err != nil || refreshed.UserId != tok.UserId || refreshed.AccessToken == tok.AccessToken {
				t.Fatalf("refresh: %+v, %v", refreshed, err)
			}
			openTok, err := c.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: f.IssueAuthCode("", "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")})
			if err != nil || openTok.OpenId != "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5" || openTok.UserId != "" {
				t.Fatalf("open_id login: %+v, %v", openTok, err)
			}

			// Create, idempotently, and refuse a changed amount.
			create := alipay.TradeCreate{
				Trade: alipay.Trade{
					NotifyURL: rv.URL, Subject: "门店自提 A/1 + 饮料", OutTradeNo: "O2O_1001",
					TotalAmount: "12.30", ProductCode: "JSAPI_PAY",
				},
				BuyerId: tok.UserId,
			}
			created, err := c.TradeCreate(ctx, create)
			if err != nil || !created.IsSuccess() || len(created.TradeNo) != 28 || created.OutTradeNo != "O2O_1001" {
				t.Fatalf("TradeCreate: %+v, %v", created, err)
			}
			again, err := c.TradeCreate(ctx, create)
			if err != nil || again.TradeNo != created.TradeNo {
				t.Fatalf("repeated TradeCreate: %+v, %v", again, err)
			}
			changed := create
			changed.TotalAmount = "12.31"
			tampered, err := c.TradeCreate(ctx, changed)
			if err != nil || tampered.Code != "40004" || tampered.SubCode != "ACQ.CONTEXT_INCONSISTENT" {
				t.Fatalf("changed amount: %+v, %v", tampered, err)
			}

			q, err := c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "O2O_1001"})
			if err != nil || !q.IsSuccess() || q.TradeStatus != alipay.TradeStatusWaitBuyerPay || q.TotalAmount != "12.30" || q.BuyerUserId != tok.UserId {
				t.Fatalf("TradeQuery: %+v, %v", q, err)
			}

			// The buyer pays; the notification verifies with DecodeNotification.
			if err := f.Pay(ctx, "O2O_1001"); err != nil {
				t.Fatalf("Pay: %v", err)
			}
			paid := rv.next(t)
			if paid.decodeErr != nil {
				t.Fatalf("DecodeNotification: %v (%s)", paid.decodeErr, paid.raw)
			}
			n := paid.notification
			if n.TradeStatus != alipay.TradeStatusSuccess || n.OutTradeNo != "O2O_1001" || n.TradeNo != created.TradeNo ||
				n.TotalAmount != "12.30" || n.ReceiptAmount != "12.30" || n.BuyerId != tok.UserId || n.AppId != testAppID ||
				n.NotifyType != "trade_status_sync" || n.SellerId != f.SellerID() || n.GmtPayment == "" || n.Subject != create.Subject {
				t.Fatalf("payment notification = %+v", n)
			}
			q, err = c.TradeQuery(ctx, alipay.TradeQuery{TradeNo: created.TradeNo})
			if err != nil || q.TradeStatus != alipay.TradeStatusSuccess || q.SendPayDate == "" || q.BuyerPayAmount != "12.30" {
				t.Fatalf("TradeQuery after pay: %+v, %v", q, err)
			}
			paidAgain, err := c.TradeCreate(ctx, create)
			if err != nil || paidAgain.SubCode != "ACQ.TRADE_HAS_SUCCESS" {
				t.Fatalf("create after pay: %+v, %v", paidAgain, err)
			}

			// A paid trade cannot be closed.
			cl, err := c.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "O2O_1001"})
			if err != nil || cl.Code != "40004" || cl.SubCode != "ACQ.TRADE_STATUS_ERROR" {
				t.Fatalf("close paid: %+v, %v", cl, err)
			}

			// Partial refund, its repeat, its notification, an over-refund, the refund query.
			refund := alipay.TradeRefund{OutTradeNo: "O2O_1001", RefundAmount: "2.30", OutRequestNo: "O2O_1001_R1", RefundReason: "缺货"}
			rf, err := c.TradeRefund(ctx, refund)
			if err != nil || !rf.IsSuccess() || rf.FundChange != "Y" || rf.RefundFee != "2.30" || rf.TradeNo != created.TradeNo {
				t.Fatalf("TradeRefund: %+v, %v", rf, err)
			}
			rn := rv.next(t)
			if rn.decodeErr != nil {
				t.Fatalf("refund notification: %v", rn.decodeErr)
			}
			if n := rn.notification; n.TradeStatus != alipay.TradeStatusSuccess || n.RefundFee != "2.30" ||
				n.OutBizNo != "O2O_1001_R1" || n.GmtRefund == "" || n.TotalAmount != "12.30" {
				t.Fatalf("refund notification = %+v", n)
			}
			rf2, err := c.TradeRefund(ctx, refund)
			if err != nil || !rf2.IsSuccess() || rf2.FundChange != "N" || rf2.RefundFee != "2.30" {
				t.Fatalf("repeated TradeRefund: %+v, %v", rf2, err)
			}
			rv.none(t) // a repeat moves no money and notifies nothing
			over, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "O2O_1001", RefundAmount: "10.01", OutRequestNo: "O2O_1001_R2"})
			if err != nil || over.Code != "40004" || over.SubCode != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
				t.Fatalf("over-refund: %+v, %v", over, err)
			}
			rq, err := c.TradeFastPayRefundQuery(ctx, alipay.TradeFastPayRefundQuery{OutTradeNo: "O2O_1001", OutRequestNo: "O2O_1001_R1"})
			if err != nil || !rq.IsSuccess() || rq.RefundStatus != "REFUND_SUCCESS" || rq.RefundAmount != "2.30" || rq.TotalAmount != "12.30" {
				t.Fatalf("TradeFastPayRefundQuery: %+v, %v", rq, err)
			}
			unknownRefund, err := c.TradeFastPayRefundQuery(ctx, alipay.TradeFastPayRefundQuery{OutTradeNo: "O2O_1001", OutRequestNo: "nope"})
			if err != nil || !unknownRefund.IsSuccess() || unknownRefund.RefundStatus != "" {
				t.Fatalf("unknown refund: %+v, %v", unknownRefund, err)
			}

			// Refunding the rest closes the trade.
			rest, err := c.TradeRefund(ctx, alipay.TradeRefund{TradeNo: created.TradeNo, RefundAmount: "10.00", OutRequestNo: "O2O_1001_R3"})
			if err != nil || rest.FundChange != "Y" || rest.RefundFee != "12.30" {
				t.Fatalf("final refund: %+v, %v", rest, err)
			}
			cn := rv.next(t)
			if cn.decodeErr != nil || cn.notification.TradeStatus != alipay.TradeStatusClosed || cn.notification.RefundFee != "12.30" ||
				cn.notification.OutBizNo != "O2O_1001_R3" || cn.notification.GmtClose == "" {
				t.Fatalf("full refund notification = %+v, %v", cn.notification, cn.decodeErr)
			}
			q, _ = c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "O2O_1001"})
			if q.TradeStatus != alipay.TradeStatusClosed {
				t.Fatalf("status after full refund = %s", q.TradeStatus)
			}

			// An unpaid trade closes, and Alipay says so.
			create2 := create
			create2.OutTradeNo, create2.TotalAmount, create2.BuyerId, create2.BuyerOpenId = "O2O_1002", "0.01", "", openTok.OpenId
			if r, err := c.TradeCreate(ctx, create2); err != nil || !r.IsSuccess() {
				t.Fatalf("TradeCreate 2: %+v, %v", r, err)
			}
			rfUnpaid, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "O2O_1002", RefundAmount: "0.01", OutRequestNo: "x"})
			if err != nil || rfUnpaid.SubCode != "ACQ.TRADE_STATUS_ERROR" {
				t.Fatalf("refund unpaid: %+v, %v", rfUnpaid, err)
			}
			if cl, err := c.TradeClose(ctx, alipay.TradeClose{OutTradeNo: "O2O_1002"}); err != nil || !cl.IsSuccess() || cl.OutTradeNo != "O2O_1002" {
				t.Fatalf("TradeClose: %+v, %v", cl, err)
			}
			closed := rv.next(t)
			if closed.decodeErr != nil || closed.notification.TradeStatus != alipay.TradeStatusClosed ||
				closed.form.Get("buyer_open_id") != openTok.OpenId || closed.notification.GmtPayment != "" {
				t.Fatalf("close notification = %+v, %v (%s)", closed.notification, closed.decodeErr, closed.raw)
			}

			// Finish: TRADE_FINISHED, after a partial refund.
			create3 := create
			create3.OutTradeNo = "O2O_1003"
			if r, err := c.TradeCreate(ctx, create3); err != nil || !r.IsSuccess() {
				t.Fatalf("TradeCreate 3: %+v, %v", r, err)
			}
			if err := f.PayQuietly("O2O_1003"); err != nil {
				t.Fatal(err)
			}
			rv.none(t)
			if r, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "O2O_1003", RefundAmount: "0.30", OutRequestNo: "O2O_1003_R1"}); err != nil || r.FundChange != "Y" {
				t.Fatalf("refund 3: %+v, %v", r, err)
			}
			rv.next(t)
			if err := f.Finish(ctx, "O2O_1003"); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			fin := rv.next(t)
			if fin.decodeErr != nil || fin.notification.TradeStatus != alipay.TradeStatusFinished || fin.notification.RefundFee != "0.30" || fin.notification.GmtClose == "" {
				t.Fatalf("finish notification = %+v, %v", fin.notification, fin.decodeErr)
			}
			if r, err := c.TradeRefund(ctx, alipay.TradeRefund{OutTradeNo: "O2O_1003", RefundAmount: "0.30", OutRequestNo: "O2O_1003_R2"}); err != nil || r.SubCode != "ACQ.TRADE_HAS_FINISHED" {
				t.Fatalf("refund finished: %+v, %v", r, err)
			}

			// Unknown trade.
			nq, err := c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "nope"})
			if err != nil || nq.Code != "40004" || nq.SubCode != "ACQ.TRADE_NOT_EXIST" {
				t.Fatalf("unknown trade: %+v, %v", nq, err)
			}

			// Phone number: a separate client with the content-encryption key, as the hub must use.
			pc := sdkClient(t, e)
			if err := pc.SetEncryptKey(f.Keys().AESKey); err != nil {
				t.Fatal(err)
			}
			resp, err := f.EncryptedPhoneResponse("13812345678")
			if err != nil {
				t.Fatal(err)
			}
			mobile, err := pc.DecodePhoneNumber(ctx, resp)
			if err != nil || mobile.Code != "10000" || mobile.Mobile != "13812345678" {
				t.Fatalf("DecodePhoneNumber: %+v, %v", mobile, err)
			}
			// That client encrypts every biz_content; the gateway answers such calls encrypted, signed
			// over the ciphertext.
			eq, err := pc.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "O2O_1003"})
			if err != nil || eq.TradeStatus != alipay.TradeStatusFinished {
				t.Fatalf("encrypted TradeQuery: %+v, %v", eq, err)
			}
		})
	}
}

// TestSDKVerifiesSignatures checks that the SDK really verifies the fake's signatures: a client holding
// the wrong Alipay key refuses the fake's answers and notifications.
func TestSDKVerifiesSignatures(t *testing.T) {
	e := newEnv(t, Options{})
	ctx := ctxT(t)
	k := e.fake.Keys()
	wrong, err := alipay.New(e.fake.AppID(), k.AppPrivateKeyPEM(), true,
		alipay.WithProductionGateway(e.gateway), alipay.WithHTTPClient(e.srv.Client()), alipay.WithTimeLocation(cst))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := publicKeyPEM(&k.AppKey.PublicKey) // not Alipay's key
	if err != nil {
		t.Fatal(err)
	}
	if err := wrong.LoadAliPayPublicKey(pub); err != nil {
		t.Fatal(err)
	}
	_, err = wrong.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "whatever"})
	if err == nil || !strings.Contains(err.Error(), "verification error") {
		t.Fatalf("TradeQuery with the wrong Alipay key: err = %v", err)
	}
	phone, _ := e.fake.EncryptedPhoneResponse("13800000000")
	if err := wrong.SetEncryptKey(k.AESKey); err != nil {
		t.Fatal(err)
	}
	if _, err := wrong.DecodePhoneNumber(ctx, phone); err == nil {
		t.Fatal("DecodePhoneNumber accepted a response it cannot verify")
	}

	right := sdkClient(t, e)
	rv := newReceiver(t, wrong)
	if _, err := right.TradeCreate(ctx, alipay.TradeCreate{Trade: alipay.Trade{NotifyURL: rv.URL, Subject: "s", OutTradeNo: "V1", TotalAmount: "1"}, BuyerId: "2088000000000001"}); err != nil {
		t.Fatal(err)
	}
	_ = e.fake.Pay(ctx, "V1")
	if got := rv.next(t); got.decodeErr == nil {
		t.Fatal("DecodeNotification with the wrong key accepted the notification")
	}
}

// TestCertModeSN checks the certificate serial numbers the SDK sends are the ones the fake expects, and
// that a request from another certificate is refused.
func TestCertModeSN(t *testing.T) {
	e := newEnv(t, Options{Mode: CertMode})
	ctx := ctxT(t)
	k := e.fake.Keys()
	if CertSN(k.RootCert) != rootCertSN(k.RootCertPEM()) {
		t.Fatal("root SN of a one-certificate bundle differs from the certificate's SN")
	}
	want := "CN=o2ohub Fake Alipay Root CA,OU=Certification Authority,O=o2ohub sandbox,C=CN"
	if got := k.AppCert.Issuer.String(); got != want {
		t.Fatalf("issuer DN = %q, want %q", got, want)
	}
	c := sdkClient(t, e)
	// Load Alipay's certificate as if it were the app's: app_cert_sn no longer matches.
	if err := c.LoadAppCertPublicKey(k.AlipayCertPEM()); err != nil {
		t.Fatal(err)
	}
	q, err := c.TradeQuery(ctx, alipay.TradeQuery{OutTradeNo: "x"})
	if err != nil || q.Code != "40002" || q.SubCode != "isv.invalid-signature" {
		t.Fatalf("wrong app_cert_sn: %+v, %v", q, err)
	}
}
