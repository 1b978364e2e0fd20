package wechatfake

// Wire-format checks that use no SDK: requests signed by hand, answers and notifications verified and
// decrypted with the standard library, following WeChat Pay's published rules.

import (
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
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// handSign returns the Authorization value for a request, built from WeChat Pay's documented rule:
// SHA256-with-RSA over METHOD\nURL\nTIMESTAMP\nNONCE\nBODY\n.
func handSign(t *testing.T, key *rsa.PrivateKey, serial, method, target, body string, ts time.Time) string {
	t.Helper()
	nonce := "593BEC0C930BF1AFEB40B4A08C8FB242"
	msg := method + "\n" + target + "\n" + strconv.FormatInt(ts.Unix(), 10) + "\n" + nonce + "\n" + body + "\n"
	sum := sha256.Sum256([]byte(msg))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf(`WECHATPAY2-SHA256-RSA2048 mchid="%s",nonce_str="%s",signature="%s",timestamp="%d",serial_no="%s"`,
		testMchID, nonce, base64.StdEncoding.EncodeToString(sig), ts.Unix(), serial)
}

type rawReply struct {
	status int
	header http.Header
	body   []byte
}

func (r rawReply) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("answer %q: %v", r.body, err)
	}
	return m
}

func rawCall(t *testing.T, srv *httptest.Server, method, target, body, auth string) rawReply {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	req.Header.Set("Accept", "application/json")
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rawReply{resp.StatusCode, resp.Header, b}
}

// signedCall sends a request signed by hand with the merchant key.
func signedCall(t *testing.T, srv *httptest.Server, method, target, body string) rawReply {
	t.Helper()
	return rawCall(t, srv, method, target, body, handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, method, target, body, time.Now()))
}

// verifyAnswer checks an answer's signature by hand: SHA256-with-RSA over TIMESTAMP\nNONCE\nBODY\n.
func verifyAnswer(t *testing.T, r rawReply, pub *rsa.PublicKey, serial string) {
	t.Helper()
	h := r.header
	if h.Get("Wechatpay-Serial") != serial || h.Get("Request-ID") == "" || h.Get("Wechatpay-Signature-Type") != AuthScheme {
		t.Fatalf("answer headers = %v", h)
	}
	ts, err := strconv.ParseInt(h.Get("Wechatpay-Timestamp"), 10, 64)
	if err != nil || time.Since(time.Unix(ts, 0)).Abs() > time.Minute {
		t.Fatalf("Wechatpay-Timestamp %q", h.Get("Wechatpay-Timestamp"))
	}
	msg := h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(r.body) + "\n"
	sig, err := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("answer signature: %v", err)
	}
}

func TestPayWireByHand(t *testing.T) {
	f, srv := newFake(t, nil)
	body := `{"appid":"` + testAppID + `","mchid":"` + testMchID + `","description":"手工签名","out_trade_no":"H20240512000001",` +
		`"notify_url":"https://hub.example.com/n","amount":{"total":100,"currency":"CNY"},"payer":{"openid":"oHand"}}`
	r := signedCall(t, srv, http.MethodPost, "/v3/pay/transactions/jsapi", body)
	if r.status != http.StatusOK {
		t.Fatalf("prepay: %d %s", r.status, r.body)
	}
	verifyAnswer(t, r, &testKeys.PlatformKey.PublicKey, testKeys.PublicKeyID)
	if id, _ := r.json(t)["prepay_id"].(string); !strings.HasPrefix(id, "wx") {
		t.Fatalf("prepay answer %s", r.body)
	}

	// The query string is part of what is signed.
	r = signedCall(t, srv, http.MethodGet, "/v3/pay/transactions/out-trade-no/H20240512000001?mchid="+testMchID, "")
	if r.status != http.StatusOK {
		t.Fatalf("query: %d %s", r.status, r.body)
	}
	verifyAnswer(t, r, &testKeys.PlatformKey.PublicKey, testKeys.PublicKeyID)
	m := r.json(t)
	if m["trade_state"] != "NOTPAY" || m["trade_state_desc"] == "" || m["transaction_id"] != nil || m["success_time"] != nil {
		t.Fatalf("query answer %s", r.body)
	}

	// Closing answers 204 with no body, still signed (over an empty body).
	r = signedCall(t, srv, http.MethodPost, "/v3/pay/transactions/out-trade-no/H20240512000001/close", `{"mchid":"`+testMchID+`"}`)
	if r.status != http.StatusNoContent || len(r.body) != 0 {
		t.Fatalf("close: %d %s", r.status, r.body)
	}
	verifyAnswer(t, r, &testKeys.PlatformKey.PublicKey, testKeys.PublicKeyID)

	// A business error to an authenticated request is signed too.
	r = signedCall(t, srv, http.MethodGet, "/v3/pay/transactions/out-trade-no/H404404?mchid="+testMchID, "")
	if r.status != http.StatusNotFound || r.json(t)["code"] != "ORDER_NOT_EXIST" {
		t.Fatalf("missing order: %d %s", r.status, r.body)
	}
	verifyAnswer(t, r, &testKeys.PlatformKey.PublicKey, testKeys.PublicKeyID)

	// Asking for the certificate's signature gets it (Wechatpay-Serial in the request).
	target := "/v3/pay/transactions/out-trade-no/H20240512000001?mchid=" + testMchID
	req, _ := http.NewRequest(http.MethodGet, srv.URL+target, nil)
	req.Header.Set("Authorization", handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodGet, target, "", time.Now()))
	req.Header.Set("Wechatpay-Serial", testKeys.CertSerial())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	verifyAnswer(t, rawReply{resp.StatusCode, resp.Header, b}, &testKeys.CertKey.PublicKey, testKeys.CertSerial())
	if f.Requests() != 5 {
		t.Fatalf("Requests() = %d, want 5", f.Requests())
	}
}

func TestPayAuthenticationFailures(t *testing.T) {
	f, srv := newFake(t, nil)
	target := "/v3/pay/transactions/out-trade-no/H1?mchid=" + testMchID
	other := testKeys.PlatformKey // a real key, but not the merchant's
	good := func(ts time.Time) string {
		return handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodGet, target, "", ts)
	}
	cases := map[string]string{
		"no header":            "",
		"other scheme":         strings.Replace(good(time.Now()), "WECHATPAY2-SHA256-RSA2048", "WECHATPAY2-SM2-WITH-SM3", 1),
		"stale timestamp":      good(time.Now().Add(-6 * time.Minute)),
		"future timestamp":     good(time.Now().Add(6 * time.Minute)),
		"wrong key":            handSign(t, other, testKeys.MerchantSerial, http.MethodGet, target, "", time.Now()),
		"wrong serial":         handSign(t, testKeys.MerchantKey, "0123456789ABCDEF0123456789ABCDEF01234567", http.MethodGet, target, "", time.Now()),
		"other mchid":          strings.Replace(good(time.Now()), `mchid="`+testMchID+`"`, `mchid="1900000000"`, 1),
		"signed other path":    handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodGet, "/v3/pay/transactions/out-trade-no/H1", "", time.Now()),
		"signed other method":  handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodPost, target, "", time.Now()),
		"no signature":         strings.Split(good(time.Now()), ",signature=")[0] + `,timestamp="1",serial_no="x"`,
		"garbage signature":    strings.Replace(good(time.Now()), `signature="`, `signature="AAAA`, 1),
		"unquoted and mangled": "WECHATPAY2-SHA256-RSA2048 mchid",
	}
	for name, auth := range cases {
		t.Run(name, func(t *testing.T) {
			r := rawCall(t, srv, http.MethodGet, target, "", auth)
			if r.status != http.StatusUnauthorized || r.json(t)["code"] != "SIGN_ERROR" || r.json(t)["message"] == "" {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if r.header.Get("Wechatpay-Signature") != "" {
				t.Fatal("an unauthenticated request got a signed answer")
			}
		})
	}
	// A body changed after signing.
	body := `{"mchid":"` + testMchID + `"}`
	closeTarget := "/v3/pay/transactions/out-trade-no/H1/close"
	auth := handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodPost, closeTarget, body, time.Now())
	if r := rawCall(t, srv, http.MethodPost, closeTarget, strings.Replace(body, testMchID, "1", 1), auth); r.status != http.StatusUnauthorized {
		t.Fatalf("tampered body: %d %s", r.status, r.body)
	}
	if f.Requests() != 0 {
		t.Fatalf("Requests() = %d, want 0", f.Requests())
	}
}

func TestPayParamErrorsByHand(t *testing.T) {
	_, srv := newFake(t, nil)
	full := map[string]any{
		"appid": testAppID, "mchid": testMchID, "description": "x", "out_trade_no": "H20240512000100",
		"notify_url": "https://hub.example.com/n", "amount": map[string]any{"total": 1}, "payer": map[string]any{"openid": "o"},
	}
	for _, field := range []string{"appid", "mchid", "description", "out_trade_no", "notify_url", "amount", "payer"} {
		t.Run("without "+field, func(t *testing.T) {
			m := map[string]any{}
			for k, v := range full {
				if k != field {
					m[k] = v
				}
			}
			b, _ := json.Marshal(m)
			r := signedCall(t, srv, http.MethodPost, "/v3/pay/transactions/jsapi", string(b))
			a := r.json(t)
			if r.status != http.StatusBadRequest || a["code"] != "PARAM_ERROR" || !strings.Contains(a["message"].(string), "/body/"+field) {
				t.Fatalf("%d %s", r.status, r.body)
			}
		})
	}
	r := signedCall(t, srv, http.MethodPost, "/v3/pay/transactions/jsapi", `{"amount":{"total":"100"}}`)
	if r.status != http.StatusBadRequest || r.json(t)["code"] != "PARAM_ERROR" {
		t.Fatalf("total as a string: %d %s", r.status, r.body)
	}
	r = signedCall(t, srv, http.MethodPost, "/v3/pay/transactions/jsapi", `{not json`)
	if r.status != http.StatusBadRequest || r.json(t)["code"] != "PARAM_ERROR" {
		t.Fatalf("malformed JSON: %d %s", r.status, r.body)
	}
	r = signedCall(t, srv, http.MethodGet, "/v3/pay/transactions/out-trade-no/H1", "")
	if r.status != http.StatusBadRequest || r.json(t)["code"] != "PARAM_ERROR" {
		t.Fatalf("query without mchid: %d %s", r.status, r.body)
	}
	r = signedCall(t, srv, http.MethodPost, "/v3/refund/domestic/refunds", `{"out_trade_no":"H1","out_refund_no":"R1","amount":{"refund":1,"total":1}}`)
	if r.status != http.StatusBadRequest || r.json(t)["code"] != "PARAM_ERROR" || !strings.Contains(r.json(t)["message"].(string), "currency") {
		t.Fatalf("refund without currency: %d %s", r.status, r.body)
	}
	r = signedCall(t, srv, http.MethodGet, "/v3/no/such/api", "")
	if r.status != http.StatusNotFound {
		t.Fatalf("unknown path: %d %s", r.status, r.body)
	}
	// Content-Type must be JSON for a body.
	target := "/v3/pay/transactions/jsapi"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+target, strings.NewReader("{}"))
	req.Header.Set("Authorization", handSign(t, testKeys.MerchantKey, testKeys.MerchantSerial, http.MethodPost, target, "{}", time.Now()))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("text/plain body: %d", resp.StatusCode)
	}
}

// openResource decrypts an AEAD_AES_256_GCM resource by hand.
func openResource(t *testing.T, nonce, ad, ciphertext string) []byte {
	t.Helper()
	block, err := aes.NewCipher([]byte(testKeys.APIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := base64.StdEncoding.DecodeString(ciphertext)
	if err != nil {
		t.Fatal(err)
	}
	plain, err := gcm.Open(nil, []byte(nonce), ct, []byte(ad))
	if err != nil {
		t.Fatalf("decrypt: %v", err)
	}
	return plain
}

func TestNotificationByHand(t *testing.T) {
	f, _ := newFake(t, nil)
	plain := []byte(`{"out_refund_no":"R1","refund_status":"SUCCESS"}`)
	h, body, err := f.SignNotification("REFUND.SUCCESS", "refund", plain)
	if err != nil {
		t.Fatal(err)
	}
	msg := h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"
	sig, _ := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
	sum := sha256.Sum256([]byte(msg))
	if err := rsa.VerifyPKCS1v15(&testKeys.PlatformKey.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if h.Get("Wechatpay-Serial") != testKeys.PublicKeyID || h.Get("Wechatpay-Signature-Type") != AuthScheme || h.Get("Content-Type") != "application/json" {
		t.Fatalf("headers %v", h)
	}
	var n struct {
		ID           string `json:"id"`
		CreateTime   string `json:"create_time"`
		ResourceType string `json:"resource_type"`
		EventType    string `json:"event_type"`
		Summary      string `json:"summary"`
		Resource     struct {
			OriginalType   string `json:"original_type"`
			Algorithm      string `json:"algorithm"`
			Ciphertext     string `json:"ciphertext"`
			AssociatedData string `json:"associated_data"`
			Nonce          string `json:"nonce"`
		} `json:"resource"`
	}
	if err := json.Unmarshal(body, &n); err != nil {
		t.Fatal(err)
	}
	if n.ID == "" || n.ResourceType != "encrypt-resource" || n.EventType != "REFUND.SUCCESS" || n.Summary != "退款成功" ||
		n.Resource.Algorithm != "AEAD_AES_256_GCM" || n.Resource.OriginalType != "refund" || n.Resource.AssociatedData != "refund" ||
		len(n.Resource.Nonce) != 12 {
		t.Fatalf("envelope %s", body)
	}
	if ct, err := time.Parse(time.RFC3339, n.CreateTime); err != nil || !strings.HasSuffix(n.CreateTime, "+08:00") || time.Since(ct) > time.Minute {
		t.Fatalf("create_time %q", n.CreateTime)
	}
	if got := openResource(t, n.Resource.Nonce, n.Resource.AssociatedData, n.Resource.Ciphertext); string(got) != string(plain) {
		t.Fatalf("plaintext %s", got)
	}
}

func TestCertificatesByHand(t *testing.T) {
	_, srv := newFake(t, nil) // public-key mode: the certificate list is still signed by the certificate
	r := signedCall(t, srv, http.MethodGet, "/v3/certificates", "")
	if r.status != http.StatusOK {
		t.Fatalf("%d %s", r.status, r.body)
	}
	verifyAnswer(t, r, &testKeys.CertKey.PublicKey, testKeys.CertSerial())
	var list struct {
		Data []struct {
			SerialNo      string `json:"serial_no"`
			EffectiveTime string `json:"effective_time"`
			ExpireTime    string `json:"expire_time"`
			Encrypt       struct {
				Algorithm      string `json:"algorithm"`
				Nonce          string `json:"nonce"`
				AssociatedData string `json:"associated_data"`
				Ciphertext     string `json:"ciphertext"`
			} `json:"encrypt_certificate"`
		} `json:"data"`
	}
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Data) != 1 {
		t.Fatalf("list %s", r.body)
	}
	d := list.Data[0]
	if d.SerialNo != testKeys.CertSerial() || d.Encrypt.Algorithm != "AEAD_AES_256_GCM" || d.Encrypt.AssociatedData != "certificate" {
		t.Fatalf("entry %+v", d)
	}
	for _, s := range []string{d.EffectiveTime, d.ExpireTime} {
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			t.Fatalf("time %q: %v", s, err)
		}
	}
	blk, _ := pem.Decode(openResource(t, d.Encrypt.Nonce, d.Encrypt.AssociatedData, d.Encrypt.Ciphertext))
	if blk == nil {
		t.Fatal("the decrypted certificate is not PEM")
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil || !c.Equal(testKeys.Cert) {
		t.Fatalf("certificate: %v", err)
	}
}
