package sandbox

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// FuzzVerify feeds Verify arbitrary headers and bodies. With resign set, the body is signed with the
// shared secret at the fuzzed timestamp first, so the fuzzer explores the parsing behind the signature.
// Verify must never panic, fail only with its own errors, accept only what carries the secret's
// signature, and accept only one complete, well-formed successful payment.
func FuzzVerify(f *testing.F) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	good, _ := json.Marshal(Notification{ID: "e1", OrderNo: "O1", TransactionID: "T1", AmountFen: 1590, PaidAt: now, Status: "SUCCESS"})
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(ts, Sign(secret, now.Unix(), good), good, false)
	f.Add(ts, "", good, true)
	f.Add(ts, "v1=00", good, false)
	f.Add("soon", "v1=00", good, false)
	f.Add(strconv.FormatInt(now.Unix()-600, 10), "", good, true)
	for _, body := range []string{`{"order_no":"O1","transaction_id":"T1","amount_fen":1,"status":"SUCCESS"}`,
		`{"order_no":"O1","transaction_id":"T1","amount_fen":0,"status":"SUCCESS","paid_at":"2026-11-23T02:00:00Z"}`,
		`{"order_no":"O1","transaction_id":"T1","amount_fen":1,"status":"SUCCESS","paid_at":"2026-11-23T02:00:00Z","extra":1}`,
		`{"order_no":"O1","transaction_id":"T1","amount_fen":1,"status":"SUCCESS","paid_at":"2026-11-23T02:00:00Z"} {}`,
		`{"order_no":"O1","transaction_id":"T1","amount_fen":1e3,"status":"SUCCESS","paid_at":"2026-11-23T02:00:00Z"}`,
		`null`, `[]`, ``, `{"paid_at":"0000-01-01T00:00:00Z"}`} {
		f.Add(ts, "", []byte(body), true)
	}
	f.Fuzz(func(t *testing.T, ts, sig string, body []byte, resign bool) {
		if resign {
			sec, err := strconv.ParseInt(ts, 10, 64)
			if err != nil {
				return
			}
			sig = Sign(secret, sec, body)
		}
		h := http.Header{}
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		n, err := Verify(secret, h, body, now)
		if err != nil {
			if !errors.Is(err, ErrNoSignature) && !errors.Is(err, ErrBadSignature) && !errors.Is(err, ErrStale) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("Verify failed with an error of its own: %v", err)
			}
			return
		}
		sec, perr := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
		if perr != nil || h.Get(HeaderSignature) != Sign(secret, sec, body) {
			t.Fatalf("Verify accepted a notification not signed with the secret: %q %q", ts, sig)
		}
		if n.Provider != Provider || n.OrderNo == "" || n.TransactionID == "" || n.AmountFen <= 0 || n.PaidAt.IsZero() {
			t.Fatalf("Verify accepted an incomplete payment %+v from %q", n, body)
		}
		if !json.Valid(body) {
			t.Fatalf("Verify accepted a body that is not one JSON value: %q", body)
		}
	})
}
