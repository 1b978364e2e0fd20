package meituan

import (
	"errors"
	"testing"

	"github.com/o2ohub/o2ohub/core/market"
)

// TestDecodeAnswerErrorWithoutCode is a finding of FuzzDecodeAnswer: {"error":{}} became a CallError of
// kind ErrRefused with an empty code, so the outbox gave the call up at once instead of retrying it.
func TestDecodeAnswerErrorWithoutCode(t *testing.T) {
	for _, body := range []string{`{"error":{}}`, `{"data":"ng","error":{"msg":"x"}}`} {
		_, err := decodeAnswer("order/confirm", []byte(body))
		var ce *market.CallError
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("decodeAnswer(%s) = %v, want an unreadable answer (retried), not a refusal", body, err)
		}
	}
	if _, err := decodeAnswer("order/confirm", []byte(`{"data":"ng","error":{"code":808,"msg":"x"}}`)); !errors.Is(err, market.ErrRefused) {
		t.Fatalf("a coded refusal = %v", err)
	}
}
