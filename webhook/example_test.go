package webhook_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/o2ohub/o2ohub/webhook"
)

// This example is a POS's receiving endpoint: it reads the raw body (capped), verifies it with the
// endpoint's secret, and answers 204 to a genuine delivery and 400 to anything else, so the hub retries
// only what it failed to deliver. In production the secret comes from configuration, and the handler
// drops a webhook-id it has already processed (the hub retries with the same id).
func Example() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // the secret o2ohub showed when the endpoint was made

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err := webhook.Verify(secret, r.Header, body, 5*time.Minute); err != nil {
			if errors.Is(err, webhook.ErrSignature) {
				fmt.Println("refused: forged or altered")
			} else {
				fmt.Println("refused:", err)
			}
			http.Error(w, "invalid webhook", http.StatusBadRequest)
			return
		}
		fmt.Println("verified delivery", r.Header.Get(webhook.HeaderID))
		// … decode body, apply the event once per webhook-id …
		w.WriteHeader(http.StatusNoContent)
	})

	// What the hub sends: the body, signed with the same secret.
	deliver := func(body string, tamper bool) int {
		now := time.Now()
		sig, _ := webhook.Sign([]string{secret}, "evt_123", now, []byte(body))
		if tamper {
			body = `{"id":"evt_123","type":"order.paid","data":{"total_fen":1}}`
		}
		req := httptest.NewRequest(http.MethodPost, "/o2ohub", bytes.NewBufferString(body))
		req.Header.Set(webhook.HeaderID, "evt_123")
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, sig)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		return rec.Code
	}
	body := `{"id":"evt_123","type":"order.paid","data":{"total_fen":2590}}`
	fmt.Println(deliver(body, false))
	fmt.Println(deliver(body, true))
	// Output:
	// verified delivery evt_123
	// 204
	// refused: forged or altered
	// 400
}
