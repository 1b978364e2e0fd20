package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"

	"github.com/o2ohub/o2ohub/integrations/wechat"
)

// TestParseNotificationRefusesNonPositiveAmount is a finding of FuzzParseNotification: a signed
// TRANSACTION.SUCCESS of 0 or -1 fen was reported as a payment of that amount.
func TestParseNotificationRefusesNonPositiveAmount(t *testing.T) {
	pay := fuzzPay(t)
	for _, total := range []int64{0, -1} {
		body := sealedEnvelope(t, "TRANSACTION.SUCCESS", "transaction", "nonce-123456",
			txPlain(testAppID, testMchID, "202611230000000000000001", "4200000000000000000000000001", total))
		ts := strconv.FormatInt(fuzzNow.Unix(), 10)
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", ts)
		h.Set("Wechatpay-Nonce", "nonce-123456")
		h.Set("Wechatpay-Serial", keys.PublicKeyID)
		h.Set("Wechatpay-Signature", signAsWeChat(t, ts, "nonce-123456", body))
		if n, err := pay.ParseNotification(context.Background(), h, body); !errors.Is(err, wechat.ErrMalformed) {
			t.Fatalf("total %d: ParseNotification = %+v, %v; want ErrMalformed", total, n, err)
		}
	}
}

// TestParseNotificationBadNonce is a finding of FuzzParseNotification: a signed notification whose
// resource nonce was not 12 bytes long made the WeChat Pay SDK panic while decrypting it.
func TestParseNotificationBadNonce(t *testing.T) {
	pay := fuzzPay(t)
	for _, nonce := range []string{"", "short", "thirteen-char"} {
		body := []byte(`{"id":"EV-1","resource_type":"encrypt-resource","event_type":"TRANSACTION.SUCCESS","resource":{"algorithm":"AEAD_AES_256_GCM",` +
			`"original_type":"transaction","associated_data":"transaction","nonce":"` + nonce + `","ciphertext":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}}`)
		ts := strconv.FormatInt(fuzzNow.Unix(), 10)
		h := http.Header{}
		h.Set("Wechatpay-Timestamp", ts)
		h.Set("Wechatpay-Nonce", "n")
		h.Set("Wechatpay-Serial", keys.PublicKeyID)
		h.Set("Wechatpay-Signature", signAsWeChat(t, ts, "n", body))
		if n, err := pay.ParseNotification(context.Background(), h, body); !errors.Is(err, wechat.ErrDecrypt) {
			t.Fatalf("nonce %q: ParseNotification = %+v, %v; want ErrDecrypt", nonce, n, err)
		}
	}
}
