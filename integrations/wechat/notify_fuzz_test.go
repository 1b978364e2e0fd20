package wechat_test

import (
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// fuzzNow is the clock of the Pay under fuzzing: signed seeds carry its timestamp, so they stay fresh.
var fuzzNow = time.Date(2026, 11, 23, 10, 0, 0, 0, cn.Zone)

// signAsWeChat signs a notification body with the WeChat Pay public-key mode key, as WeChat Pay does.
func signAsWeChat(t testing.TB, ts, nonce string, body []byte) string {
	sum := sha256.Sum256([]byte(ts + "\n" + nonce + "\n" + string(body) + "\n"))
	sig, err := rsa.SignPKCS1v15(nil, keys.PlatformKey, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(sig)
}

// sealedEnvelope wraps plaintext as WeChat Pay does: AEAD_AES_256_GCM with the APIv3 key, the nonce
// the first 12 bytes of seed, padded (so the same input always makes the same body).
func sealedEnvelope(t testing.TB, event, originalType, seed string, plaintext []byte) []byte {
	block, err := aes.NewCipher([]byte(keys.APIv3Key))
	if err != nil {
		t.Fatal(err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := (seed + "000000000000")[:12] // 12 bytes, as GCM needs (not 12 runes)
	ct := base64.StdEncoding.EncodeToString(gcm.Seal(nil, []byte(nonce), plaintext, []byte(originalType)))
	body, _ := json.Marshal(map[string]any{"id": "EV-1", "create_time": fuzzNow.Format(time.RFC3339), "resource_type": "encrypt-resource",
		"event_type": event, "summary": "支付成功", "resource": map[string]any{"original_type": originalType, "algorithm": "AEAD_AES_256_GCM",
			"ciphertext": ct, "associated_data": originalType, "nonce": nonce}})
	return body
}

// fuzzPay is WeChat Pay in public-key mode on the clock fuzzNow.
func fuzzPay(t testing.TB) *wechat.Pay {
	pay, err := wechat.NewPay(context.Background(), wechat.PayConfig{AppID: testAppID, MchID: testMchID, MerchantSerial: keys.MerchantSerial,
		MerchantKey: keys.MerchantKey, PublicKeyID: keys.PublicKeyID, PublicKey: &keys.PlatformKey.PublicKey, APIv3Key: keys.APIv3Key,
		Base: wxURL}, nil, func() time.Time { return fuzzNow }, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return pay
}

// FuzzParseNotification feeds ParseNotification arbitrary notifications. mode picks how much of the input
// WeChat Pay "signs": 0 nothing (the headers are the fuzzer's; the body must not be accepted unless the
// signature verifies), 1 the body as it is (so the envelope behind the signature is explored), 2 the body
// as the decrypted resource of event, encrypted with the APIv3 key and signed (so the transaction and
// refund resources are explored). ParseNotification must never panic, fail only with its own errors, and
// report a payment only for our app and merchant with its order, transaction, positive amount and time.
func FuzzParseNotification(f *testing.F) {
	pay := fuzzPay(f)
	ts := strconv.FormatInt(fuzzNow.Unix(), 10)
	tx := func(appid, mchid string, total any, success string) []byte {
		b, _ := json.Marshal(map[string]any{"appid": appid, "mchid": mchid, "out_trade_no": "202611230000000000000001",
			"transaction_id": "4200000000000000000000000001", "trade_type": "JSAPI", "trade_state": "SUCCESS", "success_time": success,
			"payer": map[string]string{"openid": "o-payer"}, "amount": map[string]any{"total": total, "payer_total": total, "currency": "CNY"}})
		return b
	}
	okTime := fuzzNow.Format(time.RFC3339)
	refund, _ := json.Marshal(map[string]any{"mchid": testMchID, "out_trade_no": "202611230000000000000001", "out_refund_no": "R1",
		"refund_id": "50300000000000000000000001", "refund_status": "SUCCESS", "amount": map[string]any{"total": 1850, "refund": 1850}})
	for _, c := range []struct {
		event string
		plain []byte
	}{
		{"TRANSACTION.SUCCESS", tx(testAppID, testMchID, 1850, okTime)},
		{"TRANSACTION.SUCCESS", tx(testAppID, testMchID, 0, okTime)},
		{"TRANSACTION.SUCCESS", tx(testAppID, testMchID, -1, okTime)},
		{"TRANSACTION.SUCCESS", tx(testAppID, testMchID, 1850, "yesterday")},
		{"TRANSACTION.SUCCESS", tx("wx0000000000000000", testMchID, 1850, okTime)},
		{"TRANSACTION.SUCCESS", []byte(`{"appid":"` + testAppID + `","mchid":"` + testMchID + `","trade_state":"SUCCESS","amount":null}`)},
		{"REFUND.SUCCESS", refund}, {"REFUND.ABNORMAL", refund}, {"REFUND.CLOSED", []byte(`{"out_refund_no":""}`)},
		{"TRANSACTION.SUCCESS", []byte("not json")},
	} {
		f.Add(uint8(2), ts, "n0nce-for-fuzzing", "", c.event, c.plain)
	}
	// Genuine notifications from the fake, as they are (their timestamps are now, not fuzzNow) and re-signed.
	for _, plain := range [][]byte{tx(testAppID, testMchID, 1850, okTime), refund} {
		h, body, err := wx.SignNotification("TRANSACTION.SUCCESS", "transaction", plain)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(0), h.Get("Wechatpay-Timestamp"), h.Get("Wechatpay-Nonce"), h.Get("Wechatpay-Signature"), "", body)
		f.Add(uint8(1), ts, h.Get("Wechatpay-Nonce"), "", "", body)
	}
	f.Add(uint8(1), ts, "n", "", "", []byte(`{"resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM","nonce":"","ciphertext":"!!"}}`))
	f.Add(uint8(1), "1e9", "n", "", "", []byte(`{}`))
	f.Add(uint8(0), ts, "n", "c2ln", "", []byte(`{}`))
	f.Fuzz(func(t *testing.T, mode uint8, ts, nonce, sig, event string, body []byte) {
		switch mode % 3 {
		case 1:
			sig = signAsWeChat(t, ts, nonce, body)
		case 2:
			body = sealedEnvelope(t, event, "transaction", nonce, body)
			sig = signAsWeChat(t, ts, nonce, body)
		}
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", ts)
		h.Set("Wechatpay-Nonce", nonce)
		h.Set("Wechatpay-Serial", keys.PublicKeyID)
		h.Set("Wechatpay-Signature", sig)
		n, err := pay.ParseNotification(context.Background(), h, body)
		if err != nil {
			for _, e := range []error{wechat.ErrUnsigned, wechat.ErrBadSignature, wechat.ErrStale, wechat.ErrDecrypt, wechat.ErrMalformed, wechat.ErrForeign} {
				if errors.Is(err, e) {
					return
				}
			}
			t.Fatalf("ParseNotification failed with an error of its own: %v", err)
		}
		raw, derr := base64.StdEncoding.DecodeString(h.Get("Wechatpay-Signature"))
		sum := sha256.Sum256([]byte(h.Get("Wechatpay-Timestamp") + "\n" + h.Get("Wechatpay-Nonce") + "\n" + string(body) + "\n"))
		if derr != nil || rsa.VerifyPKCS1v15(&keys.PlatformKey.PublicKey, crypto.SHA256, sum[:], raw) != nil {
			t.Fatalf("ParseNotification accepted a notification WeChat Pay did not sign: %q", body)
		}
		if p := n.Payment; p != nil && (p.OrderNo == "" || p.TransactionID == "" || p.AmountFen <= 0 || p.PaidAt.IsZero()) {
			t.Fatalf("ParseNotification reported an incomplete payment %+v", *p)
		}
		if r := n.Refund; r != nil && r.RefundNo == "" {
			t.Fatalf("ParseNotification reported a refund without its number: %+v", *r)
		}
	})
}
