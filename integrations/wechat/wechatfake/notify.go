package wechatfake

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// Notification event types WeChat Pay posts.
const (
	// EventTransactionSuccess is a payment's success (resource original_type "transaction").
	EventTransactionSuccess = "TRANSACTION.SUCCESS"
	// EventRefundSuccess is a refund's success (resource original_type "refund").
	EventRefundSuccess = "REFUND.SUCCESS"
	// EventRefundAbnormal is a refund that could not reach the user's account.
	EventRefundAbnormal = "REFUND.ABNORMAL"
	// EventRefundClosed is a refund that was closed.
	EventRefundClosed = "REFUND.CLOSED"
)

// retryDelays are the waits before the second, third … attempt to deliver a notification. WeChat spreads
// its retries over a day (15 s, 15 s, 30 s, 3 min …); the fake keeps the pattern but shortens it.
var retryDelays = []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second}

// ReplyError is a notification the receiver did not accept: WeChat Pay counts only HTTP 200 and 204 as
// delivered and retries anything else.
type ReplyError struct {
	StatusCode int    // the receiver's HTTP status
	Reply      string // the receiver's body (at most 64 KiB)
}

// Error describes the refused delivery.
func (e *ReplyError) Error() string {
	return fmt.Sprintf("wechatfake: notification refused: HTTP %d: %s", e.StatusCode, e.Reply)
}

// sealAESGCM encrypts plaintext as WeChat Pay's AEAD_AES_256_GCM resources: a 12-character nonce, and
// base64(ciphertext ‖ tag).
func sealAESGCM(apiV3Key, associatedData string, plaintext []byte) (nonce, ciphertext string, err error) {
	block, err := aes.NewCipher([]byte(apiV3Key))
	if err != nil {
		return "", "", err
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return "", "", err
	}
	nonce = randomString(alnum, gcm.NonceSize())
	sealed := gcm.Seal(nil, []byte(nonce), plaintext, []byte(associatedData))
	return nonce, base64.StdEncoding.EncodeToString(sealed), nil
}

func pemCertificate(c *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
}

// envelope builds a notification body: the event wrapped around the encrypted resource.
func envelope(k Keys, now time.Time, eventType, originalType, summary string, plaintext []byte) ([]byte, error) {
	nonce, ct, err := sealAESGCM(k.APIv3Key, originalType, plaintext)
	if err != nil {
		return nil, err
	}
	return json.Marshal(map[string]any{
		"id":            "EV-" + now.In(china).Format("20060102150405") + randomDigits(7),
		"create_time":   rfc3339China(now),
		"resource_type": "encrypt-resource",
		"event_type":    eventType,
		"summary":       summary,
		"resource": map[string]any{
			"original_type":   originalType,
			"algorithm":       "AEAD_AES_256_GCM",
			"ciphertext":      ct,
			"associated_data": originalType,
			"nonce":           nonce,
		},
	})
}

// signedHeader returns the headers WeChat Pay sends with a notification: the signature over
// "timestamp\nnonce\nbody\n" and the serial of the key that made it.
func signedHeader(k Keys, mode Mode, now time.Time, body []byte) (http.Header, error) {
	key, serial := k.signer(mode)
	ts := strconv.FormatInt(now.Unix(), 10)
	nonce := randomString(alnum, 32)
	sig, err := signSHA256(key, ts+"\n"+nonce+"\n"+string(body)+"\n")
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "Mozilla/4.0")
	h.Set("Wechatpay-Timestamp", ts)
	h.Set("Wechatpay-Nonce", nonce)
	h.Set("Wechatpay-Signature", sig)
	h.Set("Wechatpay-Serial", serial)
	h.Set("Wechatpay-Signature-Type", AuthScheme)
	return h, nil
}

func summaryOf(eventType string) string {
	switch eventType {
	case EventTransactionSuccess:
		return "支付成功"
	case EventRefundSuccess:
		return "退款成功"
	case EventRefundAbnormal:
		return "退款异常"
	case EventRefundClosed:
		return "退款关闭"
	}
	return ""
}

// transactionPlaintext is the decrypted resource of TRANSACTION.SUCCESS.
func transactionPlaintext(tx Transaction) ([]byte, error) {
	return json.Marshal(map[string]any{
		"appid":            tx.AppID,
		"mchid":            tx.MchID,
		"out_trade_no":     tx.OutTradeNo,
		"transaction_id":   tx.TransactionID,
		"trade_type":       "JSAPI",
		"trade_state":      "SUCCESS",
		"trade_state_desc": "支付成功",
		"bank_type":        tx.BankType,
		"attach":           tx.Attach,
		"success_time":     rfc3339China(tx.SuccessTime),
		"payer":            map[string]any{"openid": tx.OpenID},
		"amount": map[string]any{
			"total":          tx.Total,
			"payer_total":    tx.Total,
			"currency":       "CNY",
			"payer_currency": "CNY",
		},
	})
}

// refundPlaintext is the decrypted resource of REFUND.SUCCESS.
func refundPlaintext(mchid string, rf RefundRecord) ([]byte, error) {
	m := map[string]any{
		"mchid":                 mchid,
		"out_trade_no":          rf.OutTradeNo,
		"transaction_id":        rf.TransactionID,
		"out_refund_no":         rf.OutRefundNo,
		"refund_id":             rf.RefundID,
		"refund_status":         rf.Status,
		"user_received_account": "支付用户零钱",
		"amount": map[string]any{
			"total":        rf.Total,
			"refund":       rf.Refund,
			"payer_total":  rf.Total,
			"payer_refund": rf.Refund,
		},
	}
	if !rf.SuccessTime.IsZero() {
		m["success_time"] = rfc3339China(rf.SuccessTime)
	}
	return json.Marshal(m)
}

// postNotification posts one notification and returns the receiver's reply; anything but HTTP 200 or
// 204 is a *ReplyError.
func postNotification(ctx context.Context, client *http.Client, url string, h http.Header, body []byte) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	for k, v := range h {
		req.Header[k] = append([]string(nil), v...)
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return string(b), &ReplyError{StatusCode: resp.StatusCode, Reply: string(b)}
	}
	return string(b), nil
}

// NotifyTransaction builds the TRANSACTION.SUCCESS notification for tx from the keys alone (for a
// process that has no Fake, such as a "simulate" command), posts it to url and returns the receiver's
// reply. Zero fields of tx get defaults: State SUCCESS, a fresh TransactionID, SuccessTime now,
// BankType OTHERS. The error is a *ReplyError unless the receiver answered 200 or 204.
func NotifyTransaction(ctx context.Context, client *http.Client, url string, k Keys, mode Mode, tx Transaction) (string, error) {
	if client == nil {
		client = &http.Client{Timeout: 10 * time.Second}
	}
	now := time.Now()
	fillPaid(&tx, now)
	plain, err := transactionPlaintext(tx)
	if err != nil {
		return "", err
	}
	body, err := envelope(k, now, EventTransactionSuccess, "transaction", summaryOf(EventTransactionSuccess), plain)
	if err != nil {
		return "", err
	}
	h, err := signedHeader(k, mode, now, body)
	if err != nil {
		return "", err
	}
	return postNotification(ctx, client, url, h, body)
}

func fillPaid(tx *Transaction, now time.Time) {
	if tx.State == "" || tx.State == "NOTPAY" {
		tx.State = "SUCCESS"
	}
	if tx.TransactionID == "" {
		tx.TransactionID = newTransactionID(now)
	}
	if tx.SuccessTime.IsZero() {
		tx.SuccessTime = now
	}
	if tx.BankType == "" {
		tx.BankType = "OTHERS"
	}
}

// newTransactionID returns a 28-digit WeChat Pay order number ("4200…").
func newTransactionID(now time.Time) string {
	return "42000" + randomDigits(5) + now.In(china).Format("20060102") + randomDigits(10)
}

// SignNotification builds an arbitrary signed, encrypted notification with the fake's keys and Mode:
// eventType is e.g. "TRANSACTION.SUCCESS", resourceType the resource's original_type (and associated
// data), e.g. "transaction" or "refund", and plaintext the JSON to encrypt.
func (f *Fake) SignNotification(eventType, resourceType string, plaintext []byte) (http.Header, []byte, error) {
	now := f.now()
	body, err := envelope(f.o.Keys, now, eventType, resourceType, summaryOf(eventType), plaintext)
	if err != nil {
		return nil, nil, err
	}
	h, err := signedHeader(f.o.Keys, f.o.Mode, now, body)
	if err != nil {
		return nil, nil, err
	}
	return h, body, nil
}

// TransactionNotification returns the signed TRANSACTION.SUCCESS notification Pay would send for a paid
// order, for tests that replay or tamper with it.
func (f *Fake) TransactionNotification(outTradeNo string) (http.Header, []byte, error) {
	tx, ok := f.Transaction(outTradeNo)
	if !ok {
		return nil, nil, fmt.Errorf("wechatfake: no order %q", outTradeNo)
	}
	if tx.TransactionID == "" {
		return nil, nil, fmt.Errorf("wechatfake: order %q is not paid (%s)", outTradeNo, tx.State)
	}
	plain, err := transactionPlaintext(tx)
	if err != nil {
		return nil, nil, err
	}
	return f.SignNotification(EventTransactionSuccess, "transaction", plain)
}

// markPaid records the shopper's payment of a NOTPAY order; an order already paid is returned as it is.
func (f *Fake) markPaid(outTradeNo string) (tx Transaction, newlyPaid bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := f.txs[outTradeNo]
	switch {
	case t == nil:
		return Transaction{}, false, fmt.Errorf("wechatfake: no order %q", outTradeNo)
	case t.State == "CLOSED":
		return Transaction{}, false, fmt.Errorf("wechatfake: order %q is closed", outTradeNo)
	case t.State != "NOTPAY":
		return *t, false, nil
	}
	now := f.now()
	t.State = "SUCCESS"
	t.TransactionID = newTransactionID(now)
	for f.txByID[t.TransactionID] != nil {
		t.TransactionID = newTransactionID(now)
	}
	t.SuccessTime = now
	t.BankType = "OTHERS"
	f.txByID[t.TransactionID] = t
	return *t, true, nil
}

// Pay has the shopper pay the order: it becomes SUCCESS and its TRANSACTION.SUCCESS notification is
// posted once to the order's notify_url. An order already paid is notified again. The error is the
// POST's, or a *ReplyError when the receiver did not answer 200 or 204.
func (f *Fake) Pay(ctx context.Context, outTradeNo string) error {
	if _, _, err := f.markPaid(outTradeNo); err != nil {
		return err
	}
	h, body, err := f.TransactionNotification(outTradeNo)
	if err != nil {
		return err
	}
	tx, _ := f.Transaction(outTradeNo)
	_, err = postNotification(ctx, f.client, tx.NotifyURL, h, body)
	return err
}

// PayQuietly has the shopper pay the order but "loses" the notification, so only a query finds out.
func (f *Fake) PayQuietly(outTradeNo string) error {
	_, _, err := f.markPaid(outTradeNo)
	return err
}

// autoPay is AutoPay's simulated shopper: it pays an order still NOTPAY and delivers the notification.
func (f *Fake) autoPay(outTradeNo string) {
	tx, newly, err := f.markPaid(outTradeNo)
	if err != nil || !newly {
		return
	}
	plain, err := transactionPlaintext(tx)
	if err != nil {
		return
	}
	body, err := envelope(f.o.Keys, f.now(), EventTransactionSuccess, "transaction", summaryOf(EventTransactionSuccess), plain)
	if err != nil {
		return
	}
	f.deliver("TRANSACTION.SUCCESS "+outTradeNo, tx.NotifyURL, body, false)
}

// deliverRefund posts REFUND.SUCCESS for a completed refund to its notify_url, if it has one.
func (f *Fake) deliverRefund(outRefundNo string, firstInline bool) {
	rf, ok := f.Refund(outRefundNo)
	if !ok || rf.NotifyURL == "" || rf.Status != "SUCCESS" {
		return
	}
	plain, err := refundPlaintext(f.o.MchID, rf)
	if err != nil {
		return
	}
	body, err := envelope(f.o.Keys, f.now(), EventRefundSuccess, "refund", summaryOf(EventRefundSuccess), plain)
	if err != nil {
		return
	}
	f.deliver("REFUND.SUCCESS "+outRefundNo, rf.NotifyURL, body, firstInline)
}

// deliver posts body (re-signed for every attempt, same notification id) until the receiver answers 200
// or 204, waiting retryDelays between attempts, then gives up and logs. With firstInline the first
// attempt runs on the caller's goroutine and the retries on a timer.
func (f *Fake) deliver(what, url string, body []byte, firstInline bool) {
	attempt := func(i int) bool {
		h, err := signedHeader(f.o.Keys, f.o.Mode, f.now(), body)
		if err == nil {
			_, err = postNotification(context.Background(), f.client, url, h, body)
		}
		if err == nil {
			return true
		}
		f.log.Info("wechatfake: notification not delivered", "what", what, "attempt", i+1, "err", err)
		return false
	}
	rest := func(from int) {
		for i := from; i <= len(retryDelays); i++ {
			if !f.sleep(retryDelays[i-1]) {
				return
			}
			if attempt(i) {
				return
			}
		}
		f.log.Warn("wechatfake: gave up delivering notification", "what", what, "url", url, "attempts", len(retryDelays)+1)
	}
	if attempt(0) {
		return
	}
	if firstInline {
		f.after(0, func() { rest(1) })
		return
	}
	rest(1)
}
