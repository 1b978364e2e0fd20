// Package alipayfake fakes the Alipay open-platform gateway (openapi.alipay.com/gateway.do) for a
// mini-program merchant: an in-process, in-memory working implementation that speaks Alipay's documented
// wire format with real RSA2 signatures, so that an unmodified Alipay client (the smartwalle SDK, or any
// independent implementation) can be pointed at it. It backs the hub's tests and its offline sandbox mode.
// It must never talk to real Alipay, and its keys are sandbox keys: never load real credentials into it.
//
// What it owns:
//
//   - The gateway, served by [Fake] at "/gateway.do": form-encoded (POST body or query) requests carrying
//     the common parameters app_id, method, format, charset, sign_type (RSA2 only), timestamp
//     ("yyyy-MM-dd HH:mm:ss", China time), version 1.0, biz_content and sign, where sign is RSA-SHA256 by the
//     app's key over the parameters other than sign, non-empty values only, sorted by key and joined as
//     k=v with "&" (values raw, not URL-encoded). In certificate mode app_cert_sn and alipay_root_cert_sn
//     must match. Optional content encryption (encrypt_type=AES) is honoured.
//   - Responses shaped {"<method with . as _>_response":{...},"alipay_cert_sn":…,"sign":…}, where sign is
//     RSA-SHA256 by Alipay's key over the exact bytes of the *_response value as written. Gateway errors
//     use codes 40001/40002 with isv.* sub-codes, business errors code 40004 with ACQ.* sub-codes, HTTP 200.
//     A request with an unknown or missing method, and a failed alipay.system.oauth.token, are answered
//     under "error_response", as Alipay does.
//   - Methods alipay.system.oauth.token, alipay.trade.create, alipay.trade.query, alipay.trade.close,
//     alipay.trade.refund and alipay.trade.fastpay.refund.query, with Alipay's state machine
//     (WAIT_BUYER_PAY → TRADE_SUCCESS → TRADE_FINISHED, TRADE_CLOSED on close or full refund).
//   - Asynchronous notifications (notify_type=trade_status_sync): a form POST to the trade's notify_url,
//     signed by Alipay's key over every parameter except sign and sign_type, sorted, k=v joined by "&" with
//     decoded values. Only a 2xx reply whose body is exactly "success" acknowledges one; anything else is
//     retried a few times on a compressed schedule (Alipay retries 8 times over about 25 hours).
//   - The mini-program side of login and phone number: single-use auth codes (my.getAuthCode) and the
//     encrypted, signed string my.getPhoneNumber hands the mini-program.
//
// Pointing a client at it: serve the Fake (httptest.NewServer(f), or mount it) and give the client
// server URL + "/gateway.do" as its gateway. With github.com/smartwalle/alipay/v3 that is
// alipay.New(appID, keys.AppPrivateKeyPEM(), true, alipay.WithProductionGateway(url),
// alipay.WithTimeLocation(<UTC+8>)): the gateway option only takes effect when isProduction matches it,
// and the SDK stamps requests in time.Local unless told otherwise, which the gateway refuses
// (isv.invalid-timestamp) on a machine not set to China time. Then LoadAliPayPublicKey(
// keys.AlipayPublicKeyPEM()), or in cert mode LoadAppCertPublicKey(keys.AppCertPEM()),
// LoadAliPayRootCert(keys.RootCertPEM()) and LoadAlipayCertPublicKey(keys.AlipayCertPEM()).
//
// The controls on [Fake] play the buyer and the platform: [Fake.Pay], [Fake.PayQuietly], [Fake.Finish],
// [Fake.Notification], [Fake.SignForm]. [Notify] lets another process holding only the persisted [Keys]
// fire a correctly signed notification at a running hub.
package alipayfake
