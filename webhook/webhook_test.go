package webhook_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/webhook"
)

// The Standard Webhooks test vector, as published in the specification's reference Go library
// (github.com/standard-webhooks/standard-webhooks, libraries/go/webhook_test.go, TestWebhookSign) and
// repeated by the Svix libraries (svix-webhooks PHP tests, testSignFunctionWorks). A signer or
// verifier that reproduces it interoperates with every Standard Webhooks library.
const (
	vecSecret    = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vecID        = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vecTimestamp = 1614265330
	vecBody      = `{"test": 2432232314}`
	vecSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

var vecTime = time.Unix(vecTimestamp, 0)

func TestSignReproducesTheStandardWebhooksVector(t *testing.T) {
	// The reference libraries accept the secret with or without its whsec_ prefix.
	for _, secret := range []string{vecSecret, strings.TrimPrefix(vecSecret, "whsec_")} {
		got, err := webhook.Sign([]string{secret}, vecID, vecTime, []byte(vecBody))
		if err != nil {
			t.Fatal(err)
		}
		if got != vecSignature {
			t.Fatalf("Sign with %.10s… = %s, want %s", secret, got, vecSignature)
		}
	}
	// The sub-second part of the time is not signed: the header carries whole seconds.
	if got, _ := webhook.Sign([]string{vecSecret}, vecID, vecTime.Add(999*time.Millisecond), []byte(vecBody)); got != vecSignature {
		t.Fatalf("Sign with fractional seconds = %s, want %s", got, vecSignature)
	}
}

func TestVerifyAcceptsTheStandardWebhooksVector(t *testing.T) {
	h := headers(vecID, strconv.Itoa(vecTimestamp), vecSignature)
	if err := webhook.VerifyAt(vecSecret, h, []byte(vecBody), 0, vecTime.Add(time.Minute)); err != nil {
		t.Fatalf("VerifyAt(vector) = %v", err)
	}
	// Verify uses the real clock: the vector is from 2021, far outside any tolerance.
	if err := webhook.Verify(vecSecret, h, []byte(vecBody), time.Hour); !errors.Is(err, webhook.ErrTimestamp) {
		t.Fatalf("Verify(2021 vector) now = %v, want ErrTimestamp", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	const other = "whsec_" + "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" // a valid secret, not the vector's
	ts := strconv.Itoa(vecTimestamp)
	body := []byte(vecBody)
	at := func(d time.Duration) time.Time { return vecTime.Add(d) }
	cases := []struct {
		name      string
		secret    string
		h         http.Header
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error // nil: accepted
		mention   string
	}{
		{"the vector", vecSecret, headers(vecID, ts, vecSignature), body, 0, at(0), nil, ""},
		{"tampered body", vecSecret, headers(vecID, ts, vecSignature), []byte(`{"test": 2432232315}`), 0, at(0), webhook.ErrSignature, ""},
		{"body re-encoded", vecSecret, headers(vecID, ts, vecSignature), []byte(`{"test":2432232314}`), 0, at(0), webhook.ErrSignature, ""},
		{"other id", vecSecret, headers("msg_other", ts, vecSignature), body, 0, at(0), webhook.ErrSignature, ""},
		{"other timestamp", vecSecret, headers(vecID, strconv.Itoa(vecTimestamp+1), vecSignature), body, 0, at(0), webhook.ErrSignature, ""},
		{"wrong secret", other, headers(vecID, ts, vecSignature), body, 0, at(0), webhook.ErrSignature, ""},
		{"5 min old, default tolerance", vecSecret, headers(vecID, ts, vecSignature), body, 0, at(5 * time.Minute), nil, ""},
		{"5 min 1 s old", vecSecret, headers(vecID, ts, vecSignature), body, 0, at(5*time.Minute + time.Second), webhook.ErrTimestamp, "301 s old"},
		{"negative tolerance is the default", vecSecret, headers(vecID, ts, vecSignature), body, -time.Second, at(5*time.Minute + time.Second), webhook.ErrTimestamp, ""},
		{"5 min ahead", vecSecret, headers(vecID, ts, vecSignature), body, 0, at(-5 * time.Minute), nil, ""},
		{"5 min 1 s ahead", vecSecret, headers(vecID, ts, vecSignature), body, 0, at(-5*time.Minute - time.Second), webhook.ErrTimestamp, "in the future"},
		{"old with a short tolerance", vecSecret, headers(vecID, ts, vecSignature), body, 10 * time.Second, at(11 * time.Second), webhook.ErrTimestamp, ""},
		{"within a long tolerance", vecSecret, headers(vecID, ts, vecSignature), body, time.Hour, at(59 * time.Minute), nil, ""},
		{"timestamp far in the past", vecSecret, headers(vecID, "-9223372036854775808", vecSignature), body, 0, at(0), webhook.ErrTimestamp, ""},
		{"timestamp far in the future", vecSecret, headers(vecID, "9223372036854775807", vecSignature), body, 0, at(0), webhook.ErrTimestamp, ""},
		{"timestamp not an integer", vecSecret, headers(vecID, "1614265330.5", vecSignature), body, 0, at(0), webhook.ErrTimestamp, "not unix seconds"},
		{"timestamp as a date", vecSecret, headers(vecID, "2021-02-25T15:02:10Z", vecSignature), body, 0, at(0), webhook.ErrTimestamp, ""},
		{"no id", vecSecret, headers("", ts, vecSignature), body, 0, at(0), webhook.ErrMissingHeaders, "webhook-id"},
		{"no timestamp", vecSecret, headers(vecID, "", vecSignature), body, 0, at(0), webhook.ErrMissingHeaders, "webhook-timestamp"},
		{"no signature", vecSecret, headers(vecID, ts, ""), body, 0, at(0), webhook.ErrMissingHeaders, "webhook-signature"},
		{"no headers", vecSecret, http.Header{}, body, 0, at(0), webhook.ErrMissingHeaders, "webhook-id, webhook-timestamp, webhook-signature"},
		{"several signatures, one valid", vecSecret, headers(vecID, ts,
			"v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= "+vecSignature+" v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="),
			body, 0, at(0), nil, ""},
		{"several signatures, none valid", vecSecret, headers(vecID, ts, "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v1,bm9wZQ=="), body, 0, at(0), webhook.ErrSignature, ""},
		{"the right signature under another version", vecSecret, headers(vecID, ts, "v1a,"+strings.TrimPrefix(vecSignature, "v1,")), body, 0, at(0), webhook.ErrSignature, ""},
		{"asymmetric version only", vecSecret, headers(vecID, ts, "v1a,"+strings.Repeat("A", 88)), body, 0, at(0), webhook.ErrSignature, ""},
		{"the bare signature without version", vecSecret, headers(vecID, ts, strings.TrimPrefix(vecSignature, "v1,")), body, 0, at(0), webhook.ErrSignature, ""},
		{"an empty v1 entry", vecSecret, headers(vecID, ts, "v1,"), body, 0, at(0), webhook.ErrSignature, ""},
		{"extra spaces between entries", vecSecret, headers(vecID, ts, "  v1,bm9wZQ==   "+vecSignature+"  "), body, 0, at(0), nil, ""},
		{"a secret that is not base64", "whsec_not base64!", headers(vecID, ts, vecSignature), body, 0, at(0), webhook.ErrSecret, ""},
		{"an empty secret", "whsec_", headers(vecID, ts, vecSignature), body, 0, at(0), webhook.ErrSecret, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := webhook.VerifyAt(c.secret, c.h, c.body, c.tolerance, c.now)
			if c.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, c.mention) {
				t.Fatalf("err %q does not mention %q", msg, c.mention)
			}
			if msg != strings.ToLower(msg[:1])+msg[1:] || strings.HasPrefix(msg, "Webhook") {
				t.Fatalf("err %q starts with a capital", msg)
			}
			for _, leak := range []string{vecSecret, strings.TrimPrefix(vecSecret, "whsec_"), strings.TrimPrefix(other, "whsec_"), "not base64!"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("err %q includes the secret", msg)
				}
			}
		})
	}
}

// TestRotationSignsWithBothSecrets signs with an old and a new secret, as the hub does for a day after
// a rotation: a receiver holding either one accepts, a receiver with a third refuses.
func TestRotationSignsWithBothSecrets(t *testing.T) {
	old, next, third := newSecret(t), newSecret(t), newSecret(t)
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	body := []byte(`{"id":"evt_1","type":"order.paid","created_at":"2026-12-05T18:00:00+08:00","sequence":1,"data":{}}`)
	sig, err := webhook.Sign([]string{old, next}, "evt_1", now, body)
	if err != nil {
		t.Fatal(err)
	}
	entries := strings.Split(sig, " ")
	if len(entries) != 2 || !strings.HasPrefix(entries[0], "v1,") || !strings.HasPrefix(entries[1], "v1,") || entries[0] == entries[1] {
		t.Fatalf("rotation signature = %q, want two different v1 entries separated by one space", sig)
	}
	for i, s := range []string{old, next} {
		one, _ := webhook.Sign([]string{s}, "evt_1", now, body)
		if one != entries[i] {
			t.Fatalf("entry %d = %s, want the signature of secret %d alone %s", i, entries[i], i, one)
		}
	}
	h := headers("evt_1", strconv.FormatInt(now.Unix(), 10), sig)
	for _, s := range []string{old, next} {
		if err := webhook.VerifyAt(s, h, body, 0, now); err != nil {
			t.Fatalf("a receiver with one of the rotated secrets refused: %v", err)
		}
	}
	if err := webhook.VerifyAt(third, h, body, 0, now); !errors.Is(err, webhook.ErrSignature) {
		t.Fatalf("a receiver with another secret: %v, want ErrSignature", err)
	}
}

func TestSignRefuses(t *testing.T) {
	for _, c := range []struct {
		name    string
		secrets []string
		id      string
	}{
		{"no secrets", nil, vecID},
		{"empty list", []string{}, vecID},
		{"undecodable secret", []string{"whsec_%%%"}, vecID},
		{"one good, one undecodable", []string{vecSecret, "whsec_%%%"}, vecID},
		{"empty secret", []string{""}, vecID},
		{"empty id", []string{vecSecret}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			sig, err := webhook.Sign(c.secrets, c.id, vecTime, []byte(vecBody))
			if err == nil || sig != "" {
				t.Fatalf("Sign = %q, %v; want an error", sig, err)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(vecSecret, "whsec_")) {
				t.Fatalf("err %q includes the secret", err)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, b := newSecret(t), newSecret(t)
	if a == b {
		t.Fatal("two secrets are equal")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(a, "whsec_"))
	if !strings.HasPrefix(a, "whsec_") || err != nil || len(key) != 32 {
		t.Fatalf("secret %q: want whsec_ + base64 of 32 bytes (%v, %d bytes)", a, err, len(key))
	}
	now := time.Now()
	sig, err := webhook.Sign([]string{a}, "evt_x", now, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := webhook.Verify(a, headers("evt_x", strconv.FormatInt(now.Unix(), 10), sig), []byte("{}"), 0); err != nil {
		t.Fatalf("a fresh secret does not verify its own signature: %v", err)
	}
}

func newSecret(t *testing.T) string {
	t.Helper()
	s, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// headers builds the webhook headers, leaving out the empty ones.
func headers(id, ts, sig string) http.Header {
	h := http.Header{}
	for k, v := range map[string]string{webhook.HeaderID: id, webhook.HeaderTimestamp: ts, webhook.HeaderSignature: sig} {
		if v != "" {
			h.Set(k, v)
		}
	}
	return h
}
