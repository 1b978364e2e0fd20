package alipayfake

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"
)

// The helpers below implement Alipay's rules from the documentation, independently of the package under
// test and of the SDK.

// handContent builds a sign string: parameters sorted by key, k=v joined by "&", skipping the listed keys
// (and, for requests, empty values).
func handContent(v url.Values, skipEmpty bool, skip ...string) string {
	var pairs []string
	for k := range v {
		if contains(skip, k) || (skipEmpty && v.Get(k) == "") {
			continue
		}
		pairs = append(pairs, k+"="+v.Get(k))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func handSign(t *testing.T, key *rsa.PrivateKey, content string) string {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

func handVerify(pub *rsa.PublicKey, content []byte, sign string) error {
	sig, err := base64.StdEncoding.DecodeString(sign)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(content)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

func publicKeyPEM(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", err
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})), nil
}

// commonParams are a hand-built request's common parameters.
func commonParams(e *env, method, biz string) url.Values {
	v := url.Values{}
	v.Set("app_id", e.fake.AppID())
	v.Set("method", method)
	v.Set("format", "JSON")
	v.Set("charset", "utf-8")
	v.Set("sign_type", "RSA2")
	v.Set("timestamp", time.Now().In(cst).Format("2006-01-02 15:04:05"))
	v.Set("version", "1.0")
	if biz != "" {
		v.Set("biz_content", biz)
	}
	if e.mode == CertMode {
		k := e.fake.Keys()
		v.Set("app_cert_sn", CertSN(k.AppCert))
		v.Set("alipay_root_cert_sn", CertSN(k.RootCert))
	}
	return v
}

// rawResponse is a gateway answer parsed only as far as its envelope.
type rawResponse struct {
	body        []byte
	contentType string
	top         map[string]json.RawMessage
}

func (r rawResponse) field(t *testing.T, key string) map[string]any {
	t.Helper()
	raw, ok := r.top[key]
	if !ok {
		t.Fatalf("no %s in %s", key, r.body)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return m
}

func (r rawResponse) sign() string {
	var s string
	_ = json.Unmarshal(r.top["sign"], &s)
	return s
}

// verify checks the response's sign over the exact bytes of top[key].
func (r rawResponse) verify(t *testing.T, e *env, key string) {
	t.Helper()
	if err := handVerify(&e.fake.Keys().AlipayKey.PublicKey, r.top[key], r.sign()); err != nil {
		t.Fatalf("response signature over %s does not verify: %v\n%s", key, err, r.body)
	}
}

// signAndPost signs v with the app key (after before, if set), lets after tamper with the signed form and
// posts it.
func signAndPost(t *testing.T, e *env, v url.Values, after func(url.Values)) rawResponse {
	t.Helper()
	v.Set("sign", handSign(t, e.fake.Keys().AppKey, handContent(v, true, "sign")))
	if after != nil {
		after(v)
	}
	resp, err := e.srv.Client().PostForm(e.gateway, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d: %s", resp.StatusCode, body)
	}
	r := rawResponse{body: body, contentType: resp.Header.Get("Content-Type")}
	if err := json.Unmarshal(body, &r.top); err != nil {
		t.Fatalf("response is not JSON: %v: %s", err, body)
	}
	return r
}

func call(t *testing.T, e *env, method, biz string) rawResponse {
	t.Helper()
	return signAndPost(t, e, commonParams(e, method, biz), nil)
}

func createTrade(t *testing.T, e *env, outTradeNo, amount, notifyURL string) {
	t.Helper()
	v := commonParams(e, "alipay.trade.create",
		`{"out_trade_no":"`+outTradeNo+`","total_amount":"`+amount+`","subject":"s","product_code":"JSAPI_PAY","buyer_id":"2088000000000001"}`)
	if notifyURL != "" {
		v.Set("notify_url", notifyURL)
	}
	r := signAndPost(t, e, v, nil)
	if m := r.field(t, "alipay_trade_create_response"); m["code"] != "10000" {
		t.Fatalf("create %s: %s", outTradeNo, r.body)
	}
}

// TestResponseSignatureByHand verifies response signatures over the raw bytes, without the SDK, in both
// modes, including a value the gateway escapes ("/" as "\/").
func TestResponseSignatureByHand(t *testing.T) {
	for _, mode := range []Mode{PublicKeyMode, CertMode} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, Options{Mode: mode})
			r := signAndPost(t, e, commonParams(e, "alipay.trade.create",
				`{"out_trade_no":"H_1","total_amount":12.3,"subject":"A/B 取货","buyer_open_id":"074abc"}`), nil)
			r.verify(t, e, "alipay_trade_create_response")
			created := r.field(t, "alipay_trade_create_response")
			if created["code"] != "10000" || created["msg"] != "Success" || created["out_trade_no"] != "H_1" {
				t.Fatalf("create: %s", r.body)
			}
			if !strings.HasPrefix(r.contentType, "text/html") {
				t.Fatalf("Content-Type = %q, want the gateway's text/html", r.contentType)
			}
			q := call(t, e, "alipay.trade.query", `{"out_trade_no":"H_1"}`)
			q.verify(t, e, "alipay_trade_query_response")
			if !bytes.Contains(q.top["alipay_trade_query_response"], []byte(`"subject":"A\/B 取货"`)) {
				t.Fatalf("subject not written as Alipay writes it: %s", q.body)
			}
			m := q.field(t, "alipay_trade_query_response")
			if m["subject"] != "A/B 取货" || m["total_amount"] != "12.30" || m["trade_status"] != "WAIT_BUYER_PAY" || m["buyer_open_id"] != "074abc" {
				t.Fatalf("query: %s", q.body)
			}
			var certSN string
			_ = json.Unmarshal(q.top["alipay_cert_sn"], &certSN)
			if want := map[Mode]string{CertMode: CertSN(e.fake.Keys().AlipayCert)}[mode]; certSN != want {
				t.Fatalf("alipay_cert_sn = %q, want %q", certSN, want)
			}
			// Keys come back in Alipay's order: code, msg, then the rest sorted.
			if !bytes.HasPrefix(q.top["alipay_trade_query_response"], []byte(`{"code":"10000","msg":"Success","buyer_logon_id"`)) {
				t.Fatalf("field order: %s", q.top["alipay_trade_query_response"])
			}

			missing := call(t, e, "alipay.trade.query", `{"out_trade_no":"nope"}`)
			missing.verify(t, e, "alipay_trade_query_response")
			if m := missing.field(t, "alipay_trade_query_response"); m["code"] != "40004" || m["msg"] != "Business Failed" || m["sub_code"] != "ACQ.TRADE_NOT_EXIST" {
				t.Fatalf("unknown trade: %s", missing.body)
			}
		})
	}
}

// TestGatewayErrors covers the common-parameter checks and their documented codes.
func TestGatewayErrors(t *testing.T) {
	e := newEnv(t, Options{})
	other, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name            string
		method          string
		before, after   func(url.Values)
		key             string
		code, subCode   string
		signed          bool
		withoutUsualKey bool
	}{
		{name: "forged sign", after: func(v url.Values) {
			v.Set("sign", handSign(t, other, handContent(v, true, "sign")))
		}, code: "40002", subCode: "isv.invalid-signature", signed: true},
		{name: "tampered after signing", after: func(v url.Values) { v.Set("biz_content", `{"out_trade_no":"other"}`) },
			code: "40002", subCode: "isv.invalid-signature", signed: true},
		{name: "sign not base64", after: func(v url.Values) { v.Set("sign", "%%%") },
			code: "40002", subCode: "isv.invalid-signature", signed: true},
		{name: "wrong app_id", before: func(v url.Values) { v.Set("app_id", "2021009999999999") },
			code: "40002", subCode: "isv.invalid-app-id"},
		{name: "missing app_id", before: func(v url.Values) { v.Del("app_id") },
			code: "40001", subCode: "isv.missing-app-id"},
		{name: "missing sign", after: func(v url.Values) { v.Del("sign") },
			code: "40001", subCode: "isv.missing-signature", signed: true},
		{name: "RSA (SHA-1) sign_type", before: func(v url.Values) { v.Set("sign_type", "RSA") },
			code: "40002", subCode: "isv.invalid-signature-type", signed: true},
		{name: "missing sign_type", before: func(v url.Values) { v.Del("sign_type") },
			code: "40001", subCode: "isv.missing-signature-type", signed: true},
		{name: "UTC instead of China time", before: func(v url.Values) {
			v.Set("timestamp", time.Now().UTC().Add(-8*time.Hour).Format("2006-01-02 15:04:05"))
		}, code: "40002", subCode: "isv.invalid-timestamp", signed: true},
		{name: "timestamp format", before: func(v url.Values) { v.Set("timestamp", time.Now().Format(time.RFC3339)) },
			code: "40002", subCode: "isv.invalid-timestamp", signed: true},
		{name: "missing timestamp", before: func(v url.Values) { v.Del("timestamp") },
			code: "40001", subCode: "isv.missing-timestamp", signed: true},
		{name: "version", before: func(v url.Values) { v.Set("version", "2.0") },
			code: "40002", subCode: "isv.invalid-parameter", signed: true},
		{name: "missing version", before: func(v url.Values) { v.Del("version") },
			code: "40001", subCode: "isv.missing-version", signed: true},
		{name: "charset", before: func(v url.Values) { v.Set("charset", "GBK") },
			code: "40002", subCode: "isv.invalid-charset", signed: true},
		{name: "format", before: func(v url.Values) { v.Set("format", "XML") },
			code: "40002", subCode: "isv.invalid-format", signed: true},
		{name: "biz_content not JSON", before: func(v url.Values) { v.Set("biz_content", `{"out_trade_no":`) },
			code: "40002", subCode: "isv.invalid-parameter", signed: true},
		{name: "app_auth_token", before: func(v url.Values) { v.Set("app_auth_token", "202501BB") },
			code: "20001", subCode: "aop.invalid-app-auth-token", signed: true},
		{name: "unknown method", method: "alipay.trade.nonexistent", key: "error_response",
			code: "40002", subCode: "isv.invalid-method", signed: true},
		{name: "missing method", before: func(v url.Values) { v.Del("method") }, key: "error_response",
			code: "40001", subCode: "isv.missing-method", signed: true},
		{name: "missing method, unknown app", before: func(v url.Values) { v.Del("method"); v.Set("app_id", "1") }, key: "error_response",
			code: "40001", subCode: "isv.missing-method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = "alipay.trade.query"
			}
			v := commonParams(e, method, `{"out_trade_no":"x"}`)
			if tt.before != nil {
				tt.before(v)
			}
			r := signAndPost(t, e, v, tt.after)
			key := tt.key
			if key == "" {
				key = "alipay_trade_query_response"
			}
			m := r.field(t, key)
			if m["code"] != tt.code || m["sub_code"] != tt.subCode || m["msg"] == "" || m["sub_msg"] == "" {
				t.Fatalf("got %s, want %s/%s under %s", r.body, tt.code, tt.subCode, key)
			}
			if _, has := r.top["sign"]; has != tt.signed {
				t.Fatalf("signed = %v, want %v: %s", has, tt.signed, r.body)
			}
			if tt.signed {
				r.verify(t, e, key)
			}
		})
	}

	t.Run("verification string in sub_msg", func(t *testing.T) {
		v := commonParams(e, "alipay.trade.query", `{"out_trade_no":"x"}`)
		r := signAndPost(t, e, v, func(v url.Values) { v.Set("sign", handSign(t, other, "x")) })
		msg, _ := r.field(t, "alipay_trade_query_response")["sub_msg"].(string)
		if !strings.Contains(msg, "app_id="+e.fake.AppID()+"&amp;biz_content=") {
			t.Fatalf("sub_msg = %q", msg)
		}
	})
}

// TestGatewayTransports accepts the parameters in the query string (GET), and split between the query
// and the body as Alipay's Java SDK sends them.
func TestGatewayTransports(t *testing.T) {
	e := newEnv(t, Options{})
	v := commonParams(e, "alipay.trade.query", `{"out_trade_no":"nope"}`)
	v.Set("sign", handSign(t, e.fake.Keys().AppKey, handContent(v, true, "sign")))

	resp, err := e.srv.Client().Get(e.gateway + "?" + v.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`"sub_code":"ACQ.TRADE_NOT_EXIST"`)) {
		t.Fatalf("GET: %s", body)
	}

	query := url.Values{}
	for k := range v {
		if k != "biz_content" {
			query.Set(k, v.Get(k))
		}
	}
	form := url.Values{"biz_content": {v.Get("biz_content")}}
	resp, err = e.srv.Client().Post(e.gateway+"?"+query.Encode(), "application/x-www-form-urlencoded;charset=utf-8", strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(body, []byte(`"sub_code":"ACQ.TRADE_NOT_EXIST"`)) {
		t.Fatalf("query + body: %s", body)
	}

	resp, err = e.srv.Client().Post(e.srv.URL+"/other", "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("other path: HTTP %d", resp.StatusCode)
	}
}

// TestTradeRules checks amounts, order numbers, buyers and refunds against Alipay's documented rules.
func TestTradeRules(t *testing.T) {
	e := newEnv(t, Options{})
	tests := []struct {
		name, biz, subCode string
	}{
		{"three decimals", `{"out_trade_no":"R1","total_amount":"12.345","subject":"s","buyer_id":"2088000000000001"}`, "ACQ.INVALID_PARAMETER"},
		{"negative", `{"out_trade_no":"R1","total_amount":"-1","subject":"s","buyer_id":"2088000000000001"}`, "ACQ.INVALID_PARAMETER"},
		{"zero", `{"out_trade_no":"R1","total_amount":"0.00","subject":"s","buyer_id":"2088000000000001"}`, "ACQ.TOTAL_FEE_EXCEED"},
		{"too much", `{"out_trade_no":"R1","total_amount":"100000000.01","subject":"s","buyer_id":"2088000000000001"}`, "ACQ.TOTAL_FEE_EXCEED"},
		{"order number charset", `{"out_trade_no":"R-1","total_amount":"1","subject":"s","buyer_id":"2088000000000001"}`, "ACQ.INVALID_PARAMETER"},
		{"no subject", `{"out_trade_no":"R1","total_amount":"1","buyer_id":"2088000000000001"}`, "ACQ.INVALID_PARAMETER"},
		{"no buyer", `{"out_trade_no":"R1","total_amount":"1","subject":"s"}`, "ACQ.INVALID_PARAMETER"},
		{"buyer is seller", `{"out_trade_no":"R1","total_amount":"1","subject":"s","buyer_id":"` + e.fake.SellerID() + `"}`, "ACQ.BUYER_SELLER_EQUAL"},
		{"other product", `{"out_trade_no":"R1","total_amount":"1","subject":"s","buyer_id":"2088000000000001","product_code":"FAST_INSTANT_TRADE_PAY"}`, "ACQ.ACCESS_FORBIDDEN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, e, "alipay.trade.create", tt.biz)
			if m := r.field(t, "alipay_trade_create_response"); m["code"] != "40004" || m["sub_code"] != tt.subCode {
				t.Fatalf("got %s, want %s", r.body, tt.subCode)
			}
		})
	}

	createTrade(t, e, "RF_1", "100", "")
	if err := e.fake.PayQuietly("RF_1"); err != nil {
		t.Fatal(err)
	}
	refund := func(biz string) map[string]any {
		return call(t, e, "alipay.trade.refund", biz).field(t, "alipay_trade_refund_response")
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"10"}`); m["sub_code"] != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Fatalf("partial refund without out_request_no: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"100.01","out_request_no":"a"}`); m["sub_code"] != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Fatalf("over-refund: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"60","out_request_no":"a"}`); m["fund_change"] != "Y" || m["refund_fee"] != "60.00" {
		t.Fatalf("refund a: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"50","out_request_no":"a"}`); m["sub_code"] != "ACQ.DISCORDANT_REPEAT_REQUEST" {
		t.Fatalf("same out_request_no, other amount: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"40.01","out_request_no":"b"}`); m["sub_code"] != "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" {
		t.Fatalf("cumulative over-refund: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"40","out_request_no":"b"}`); m["fund_change"] != "Y" || m["refund_fee"] != "100.00" {
		t.Fatalf("refund b: %v", m)
	}
	if m := refund(`{"out_trade_no":"RF_1","refund_amount":"1","out_request_no":"c"}`); m["sub_code"] != "ACQ.TRADE_HAS_CLOSE" {
		t.Fatalf("refund after full refund: %v", m)
	}
	if m := refund(`{"out_trade_no":"nope","refund_amount":"1","out_request_no":"c"}`); m["sub_code"] != "ACQ.TRADE_NOT_EXIST" {
		t.Fatalf("refund unknown trade: %v", m)
	}
	tr, _ := e.fake.Trade("RF_1")
	if tr.Status != StatusClosed || tr.RefundedFen != 10000 || len(tr.Refunds) != 2 {
		t.Fatalf("trade = %+v", tr)
	}
}

// TestNotificationByHand checks a notification on the wire: a form POST whose signature verifies with
// Alipay's public key over the decoded parameters, sign and sign_type excluded, and whose "+" characters
// (in the base64 signature and in values) survive form encoding.
func TestNotificationByHand(t *testing.T) {
	for _, mode := range []Mode{PublicKeyMode, CertMode} {
		t.Run(mode.String(), func(t *testing.T) {
			e := newEnv(t, Options{Mode: mode})
			rv := newReceiver(t, nil)
			v := commonParams(e, "alipay.trade.create",
				`{"out_trade_no":"N_1","total_amount":"8.8","subject":"1+1 套餐 & 饮料","buyer_id":"2088000000000001"}`)
			v.Set("notify_url", rv.URL)
			signAndPost(t, e, v, nil)
			if err := e.fake.Pay(ctxT(t), "N_1"); err != nil {
				t.Fatal(err)
			}
			got := rv.next(t)
			if !strings.HasPrefix(got.contentType, "application/x-www-form-urlencoded") {
				t.Fatalf("Content-Type = %q", got.contentType)
			}
			form := got.form
			pub := &e.fake.Keys().AlipayKey.PublicKey
			if err := handVerify(pub, []byte(handContent(form, false, "sign", "sign_type")), form.Get("sign")); err != nil {
				t.Fatalf("notification does not verify by hand: %v\n%s", err, got.raw)
			}
			if form.Get("sign_type") != "RSA2" || form.Get("subject") != "1+1 套餐 & 饮料" || form.Get("total_amount") != "8.80" {
				t.Fatalf("form = %v", form)
			}
			if !bytes.Contains(got.raw, []byte("subject=1%2B1+")) {
				t.Fatalf("subject not form-encoded: %s", got.raw)
			}
			if form.Get("alipay_cert_sn") != "" {
				t.Fatalf("trade_status_sync carries no alipay_cert_sn: %s", got.raw)
			}
			for _, k := range []string{"notify_time", "notify_type", "notify_id", "app_id", "charset", "version", "trade_no",
				"out_trade_no", "buyer_id", "seller_id", "trade_status", "total_amount", "receipt_amount", "buyer_pay_amount",
				"invoice_amount", "gmt_create", "gmt_payment", "fund_bill_list"} {
				if form.Get(k) == "" {
					t.Errorf("notification lacks %s", k)
				}
			}

			// A "+" in the signature must arrive as "+", i.e. be sent as %2B.
			var withPlus url.Values
			for i := 0; i < 50 && withPlus == nil; i++ {
				n, err := e.fake.Notification("N_1", map[string]string{"notify_id": strings.Repeat("9", 30-i%10)})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(n.Get("sign"), "+") {
					withPlus = n
				}
			}
			if withPlus == nil {
				t.Fatal("no signature with a '+' in 50 tries")
			}
			rv2 := newReceiver(t, nil)
			if _, err := Notify(ctxT(t), nil, rv2.URL, e.fake.Keys(), mode, withPlus); err != nil {
				t.Fatal(err)
			}
			sent := rv2.next(t)
			if !bytes.Contains(sent.raw, []byte("%2B")) || sent.form.Get("sign") != withPlus.Get("sign") {
				t.Fatalf("the '+' in the signature did not survive: %s", sent.raw)
			}
			if err := handVerify(pub, []byte(handContent(sent.form, false, "sign", "sign_type")), sent.form.Get("sign")); err != nil {
				t.Fatalf("replayed notification does not verify: %v", err)
			}

			// Tampering breaks the signature, for the SDK as by hand.
			c := sdkClient(t, e)
			tampered, _ := e.fake.Notification("N_1", nil)
			if _, err := c.DecodeNotification(tampered); err != nil {
				t.Fatalf("untampered: %v", err)
			}
			tampered.Set("total_amount", "0.01")
			if _, err := c.DecodeNotification(tampered); err == nil {
				t.Fatal("SDK accepted a tampered notification")
			}
			if err := handVerify(pub, []byte(handContent(tampered, false, "sign", "sign_type")), tampered.Get("sign")); err == nil {
				t.Fatal("tampered notification verifies")
			}
		})
	}
}

// TestNotificationControls covers Notification's extras, SignForm and Notify's acknowledgement rule.
func TestNotificationControls(t *testing.T) {
	e := newEnv(t, Options{})
	c := sdkClient(t, e)
	createTrade(t, e, "C_1", "3", "")
	if _, err := e.fake.Notification("nope", nil); !errors.Is(err, ErrTradeNotFound) {
		t.Fatalf("unknown trade: %v", err)
	}
	n, err := e.fake.Notification("C_1", map[string]string{"trade_status": "TRADE_SUCCESS", "gmt_create": "", "passback_params": "a=b"})
	if err != nil {
		t.Fatal(err)
	}
	if n.Get("trade_status") != "TRADE_SUCCESS" || n.Has("gmt_create") || n.Get("passback_params") != "a=b" {
		t.Fatalf("extras not applied: %v", n)
	}
	dec, err := c.DecodeNotification(n)
	if err != nil || dec.PassbackParams != "a=b" {
		t.Fatalf("DecodeNotification: %+v, %v", dec, err)
	}

	signed, err := e.fake.SignForm(url.Values{"out_trade_no": {"X"}, "trade_status": {"TRADE_SUCCESS"}, "sign": {"stale"}})
	if err != nil || signed.Get("sign") == "stale" || signed.Get("sign_type") != "RSA2" {
		t.Fatalf("SignForm: %v, %v", signed, err)
	}
	if _, err := c.DecodeNotification(signed); err != nil {
		t.Fatalf("SDK rejects SignForm output: %v", err)
	}

	rv := newReceiver(t, c)
	for _, tt := range []struct {
		status int
		body   string
		ok     bool
	}{
		{200, "success", true},
		{200, "fail", false},
		{200, "success\n", false},
		{200, "SUCCESS", false},
		{500, "success", false},
	} {
		rv.setReply(func(int) (int, string) { return tt.status, tt.body })
		reply, err := Notify(ctxT(t), nil, rv.URL, e.fake.Keys(), PublicKeyMode, url.Values{"out_trade_no": {"C_1"}, "trade_status": {"TRADE_SUCCESS"}})
		got := rv.next(t)
		if got.decodeErr != nil {
			t.Fatalf("SDK rejects Notify's form: %v", got.decodeErr)
		}
		if reply != tt.body || (err == nil) != tt.ok || (!tt.ok && !errors.Is(err, ErrNotAcknowledged)) {
			t.Fatalf("reply %d %q: got %q, %v", tt.status, tt.body, reply, err)
		}
	}
}

// TestDeliveryRetries: a reply other than "success" is retried; Pay reports a notification that never
// gets through, and the payment stands.
func TestDeliveryRetries(t *testing.T) {
	e := newEnv(t, Options{})
	c := sdkClient(t, e)
	rv := newReceiver(t, c)
	ctx := ctxT(t)

	createTrade(t, e, "D_1", "1", rv.URL)
	rv.setReply(func(n int) (int, string) {
		if n < 3 {
			return http.StatusInternalServerError, "fail"
		}
		return http.StatusOK, "success"
	})
	if err := e.fake.Pay(ctx, "D_1"); err != nil {
		t.Fatalf("Pay: %v", err)
	}
	first, second, third := rv.next(t), rv.next(t), rv.next(t)
	if first.form.Get("notify_id") != third.form.Get("notify_id") || second.decodeErr != nil {
		t.Fatal("a retry is the same notification")
	}
	tr, _ := e.fake.Trade("D_1")
	if len(tr.Deliveries) != 3 || tr.Deliveries[0].Acked || tr.Deliveries[0].Status != 500 || !tr.Deliveries[2].Acked {
		t.Fatalf("deliveries = %+v", tr.Deliveries)
	}
	if err := e.fake.Pay(ctx, "D_1"); !errors.Is(err, ErrTradeState) {
		t.Fatalf("paying twice: %v", err)
	}
	if err := e.fake.Pay(ctx, "nope"); !errors.Is(err, ErrTradeNotFound) {
		t.Fatalf("unknown trade: %v", err)
	}

	createTrade(t, e, "D_2", "1", rv.URL)
	rv.setReply(func(int) (int, string) { return http.StatusOK, "ok" })
	if err := e.fake.Pay(ctx, "D_2"); !errors.Is(err, ErrNotAcknowledged) {
		t.Fatalf("never acknowledged: %v", err)
	}
	for range retrySchedule {
		rv.next(t)
	}
	if tr, _ := e.fake.Trade("D_2"); tr.Status != StatusSuccess || len(tr.Deliveries) != len(retrySchedule) {
		t.Fatalf("trade = %+v", tr)
	}

	createTrade(t, e, "D_3", "1", "")
	if err := e.fake.Pay(ctx, "D_3"); !errors.Is(err, ErrNoNotifyURL) {
		t.Fatalf("no notify_url: %v", err)
	}
}

// TestPhoneResponseByHand verifies and decrypts my.getPhoneNumber's string as Alipay's guide describes.
func TestPhoneResponseByHand(t *testing.T) {
	e := newEnv(t, Options{})
	s, err := e.fake.EncryptedPhoneResponse("13900001111")
	if err != nil {
		t.Fatal(err)
	}
	var msg struct{ Response, Sign string }
	if err := json.Unmarshal([]byte(s), &msg); err != nil {
		t.Fatalf("%v: %s", err, s)
	}
	if strings.HasPrefix(msg.Response, "{") {
		t.Fatal("response is not encrypted")
	}
	// "如果是加密的报文则需要在密文的前后添加双引号"
	if err := handVerify(&e.fake.Keys().AlipayKey.PublicKey, []byte(`"`+msg.Response+`"`), msg.Sign); err != nil {
		t.Fatalf("sign does not verify: %v", err)
	}
	key, _ := base64.StdEncoding.DecodeString(e.fake.Keys().AESKey)
	ct, err := base64.StdEncoding.DecodeString(msg.Response)
	if err != nil {
		t.Fatal(err)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	cipher.NewCBCDecrypter(block, make([]byte, 16)).CryptBlocks(ct, ct)
	plain := ct[:len(ct)-int(ct[len(ct)-1])]
	var phone map[string]string
	if err := json.Unmarshal(plain, &phone); err != nil {
		t.Fatalf("%v: %q", err, plain)
	}
	if phone["code"] != "10000" || phone["msg"] != "Success" || phone["mobile"] != "13900001111" {
		t.Fatalf("plaintext = %s", plain)
	}
}

// TestSandboxLogin: in lenient mode "sandbox:<name>" is a reusable code for a stable user.
func TestSandboxLogin(t *testing.T) {
	for _, lenient := range []bool{true, false} {
		e := newEnv(t, Options{Lenient: lenient})
		c := sdkClient(t, e)
		ctx := ctxT(t)
		var ids []string
		for range 2 {
			tok, err := c.SystemOauthToken(ctx, alipay.SystemOauthToken{GrantType: "authorization_code", Code: "sandbox:alice"})
			if !lenient {
				var aerr *alipay.Error
				if !errors.As(err, &aerr) || aerr.SubCode != "isv.code-invalid" {
					t.Fatalf("strict mode accepted a sandbox code: %+v, %v", tok, err)
				}
				continue
			}
			if err != nil || !buyerIDPattern.MatchString(tok.UserId) || tok.OpenId == "" {
				t.Fatalf("sandbox login: %+v, %v", tok, err)
			}
			ids = append(ids, tok.UserId+tok.OpenId)
		}
		if lenient && ids[0] != ids[1] {
			t.Fatalf("sandbox ids differ: %v", ids)
		}
	}
	e := newEnv(t, Options{})
	r := signAndPost(t, e, func() url.Values {
		v := commonParams(e, "alipay.system.oauth.token", "")
		v.Set("grant_type", "password")
		return v
	}(), nil)
	r.verify(t, e, "error_response")
	if m := r.field(t, "error_response"); m["sub_code"] != "isv.grant-type-invalid" {
		t.Fatalf("grant_type: %s", r.body)
	}
}

// TestAutoPay: a simulated buyer pays every new trade and Alipay notifies.
func TestAutoPay(t *testing.T) {
	e := newEnv(t, Options{AutoPay: 10 * time.Millisecond, Lenient: true})
	c := sdkClient(t, e)
	rv := newReceiver(t, c)
	createTrade(t, e, "A_1", "5", rv.URL)
	got := rv.next(t)
	if got.decodeErr != nil || got.notification.TradeStatus != alipay.TradeStatusSuccess || got.notification.OutTradeNo != "A_1" {
		t.Fatalf("auto-pay notification: %+v, %v", got.notification, got.decodeErr)
	}
	// A trade closed before the buyer gets to it stays closed.
	e2 := newEnv(t, Options{AutoPay: time.Hour})
	createTrade(t, e2, "A_2", "5", "")
	if m := call(t, e2, "alipay.trade.close", `{"out_trade_no":"A_2"}`).field(t, "alipay_trade_close_response"); m["code"] != "10000" {
		t.Fatalf("close: %v", m)
	}
	e2.fake.Close() // stops the pending buyer without waiting an hour
}

func TestKeysRoundTrip(t *testing.T) {
	k := testKeys(t)
	text, err := k.MarshalText()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseKeys(text)
	if err != nil {
		t.Fatal(err)
	}
	if !back.AppKey.Equal(k.AppKey) || !back.AlipayKey.Equal(k.AlipayKey) || !back.RootKey.Equal(k.RootKey) ||
		!back.RootCert.Equal(k.RootCert) || !back.AppCert.Equal(k.AppCert) || !back.AlipayCert.Equal(k.AlipayCert) ||
		back.AESKey != k.AESKey {
		t.Fatal("keys changed in the round trip")
	}
	var viaText Keys
	if err := viaText.UnmarshalText(text); err != nil || !viaText.AppKey.Equal(k.AppKey) {
		t.Fatalf("UnmarshalText: %v", err)
	}
	if again, _ := back.MarshalText(); !bytes.Equal(again, text) {
		t.Fatal("MarshalText is not stable")
	}

	for name, s := range map[string]string{
		"AppPrivateKeyPEM": k.AppPrivateKeyPEM(), "AlipayPublicKeyPEM": k.AlipayPublicKeyPEM(),
		"AppCertPEM": k.AppCertPEM(), "RootCertPEM": k.RootCertPEM(), "AlipayCertPEM": k.AlipayCertPEM(),
	} {
		if b, _ := pem.Decode([]byte(s)); b == nil {
			t.Errorf("%s is not PEM", name)
		}
	}
	if err := k.AppCert.CheckSignatureFrom(k.RootCert); err != nil {
		t.Fatal(err)
	}

	if _, err := ParseKeys([]byte("not keys")); err == nil {
		t.Fatal("ParseKeys accepted garbage")
	}
	swapped := k
	swapped.AppCert = k.AlipayCert
	bad, _ := swapped.MarshalText()
	if _, err := ParseKeys(bad); err == nil {
		t.Fatal("ParseKeys accepted a certificate for the wrong key")
	}
	pubOnly := Keys{AppKey: k.AppKey, AlipayKey: k.AlipayKey}
	text, _ = pubOnly.MarshalText()
	if got, err := ParseKeys(text); err != nil || got.RootCert != nil || got.AESKey != "" {
		t.Fatalf("public-key-only keys: %v", err)
	}
}

func TestYuan(t *testing.T) {
	for _, tt := range []struct {
		in  string
		fen int64
		ok  bool
	}{
		{"0.01", 1, true}, {"12", 1200, true}, {"12.3", 1230, true}, {"12.30", 1230, true},
		{"100000000", 10000000000, true}, {"12.345", 0, false}, {"01", 0, false}, {"1e2", 0, false},
		{"+1", 0, false}, {" 1", 0, false}, {"1.", 0, false}, {".5", 0, false}, {"", 0, false},
	} {
		fen, ok := parseYuan(tt.in)
		if fen != tt.fen || ok != tt.ok {
			t.Errorf("parseYuan(%q) = %d, %v", tt.in, fen, ok)
		}
	}
	if yuan(1230) != "12.30" || yuan(1) != "0.01" || yuan(10000000000) != "100000000.00" {
		t.Fatal("yuan")
	}
}

func TestClose(t *testing.T) {
	f := New(Options{Keys: testKeys(t)})
	f.Close()
	f.Close()
	if _, ok := f.Trade("x"); ok {
		t.Fatal("trade out of nowhere")
	}
}
