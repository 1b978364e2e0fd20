package webhook_test

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/webhook"
)

// FuzzVerify feeds VerifyAt arbitrary headers and bodies. As they come, they must be refused unless the
// signature header holds the true v1 signature of exactly this id, timestamp and body; signed first (as
// the hub would sign them), they must be accepted, and any other body refused. Every refusal wraps one
// of the package's errors.
func FuzzVerify(f *testing.F) {
	f.Add(vecID, strconv.Itoa(vecTimestamp), vecSignature, []byte(vecBody), false)
	f.Add(vecID, strconv.Itoa(vecTimestamp), vecSignature, []byte(vecBody), true)
	f.Add(vecID, "1614265330", "v1,bm9wZQ== "+vecSignature, []byte(`{"test": 2432232315}`), false)
	f.Add("", "x", "v2,abc", []byte{}, false)
	f.Add("evt_1", "-1", "v1,", []byte("\x00\xff"), true)
	now := time.Unix(vecTimestamp, 0)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte, sign bool) {
		if sign {
			if id == "" {
				id = "evt"
			}
			s, err := webhook.Sign([]string{vecSecret}, id, now, body)
			if err != nil {
				t.Fatal(err)
			}
			sig, ts = s, strconv.FormatInt(now.Unix(), 10)
		}
		h := headers(id, ts, sig)
		err := webhook.VerifyAt(vecSecret, h, body, 0, now)
		if err != nil {
			if !errors.Is(err, webhook.ErrMissingHeaders) && !errors.Is(err, webhook.ErrTimestamp) && !errors.Is(err, webhook.ErrSignature) {
				t.Fatalf("refusal %v wraps none of the package's errors", err)
			}
			if sign {
				t.Fatalf("a signed delivery was refused: %v", err)
			}
			return
		}
		// Accepted: the header must hold the true signature of what was verified.
		n, _ := strconv.ParseInt(strings.TrimSpace(ts), 10, 64)
		want, _ := webhook.Sign([]string{vecSecret}, h.Get(webhook.HeaderID), time.Unix(n, 0), body)
		if !containsField(h.Get(webhook.HeaderSignature), want) {
			t.Fatalf("accepted %q for id %q ts %q without its signature %s", h.Get(webhook.HeaderSignature), id, ts, want)
		}
		if other := append(bytes.Clone(body), 'x'); webhook.VerifyAt(vecSecret, h, other, 0, now) == nil {
			t.Fatal("a changed body was accepted")
		}
	})
}

func containsField(list, s string) bool {
	for _, f := range strings.Fields(list) {
		if f == s {
			return true
		}
	}
	return false
}
