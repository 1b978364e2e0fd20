package webhook

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The headers of a Standard Webhooks delivery, in the canonical lower case of the specification
// (http.Header looks them up case-insensitively).
const (
	// HeaderID is the header holding the message id: the event id, the same on every retry, so a
	// receiver can drop a delivery it has already handled.
	HeaderID = "webhook-id"
	// HeaderTimestamp is the header holding the time of the attempt in unix seconds.
	HeaderTimestamp = "webhook-timestamp"
	// HeaderSignature is the header holding the space-separated "v1,<base64>" signatures.
	HeaderSignature = "webhook-signature"
)

// SecretPrefix starts every secret NewSecret makes; the base64 key follows it.
const SecretPrefix = "whsec_"

// DefaultTolerance is how far a delivery's timestamp may be from the receiver's clock, either way, when
// Verify is given no tolerance.
const DefaultTolerance = 5 * time.Minute

// The errors Verify and Sign return wrap one of these; test for them with errors.Is. Their messages
// never include a secret.
var (
	// ErrMissingHeaders is a request without one of the webhook-id, webhook-timestamp or
	// webhook-signature headers.
	ErrMissingHeaders = errors.New("webhook: missing headers")
	// ErrTimestamp is a webhook-timestamp that is not an integer, or is further from now than the
	// tolerance (a replayed or badly delayed delivery, or a clock that is off).
	ErrTimestamp = errors.New("webhook: bad timestamp")
	// ErrSignature is a request none of whose v1 signatures matches the body under the secret: a forged
	// or altered request, or the wrong secret.
	ErrSignature = errors.New("webhook: no matching signature")
	// ErrSecret is a secret that is empty or not base64 (after its optional "whsec_" prefix): a mistake
	// in the receiver's or the hub's configuration, not in the request.
	ErrSecret = errors.New("webhook: invalid secret")
)

// NewSecret returns a new random signing secret: "whsec_" followed by the standard base64 of 32 bytes
// from crypto/rand.
func NewSecret() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("webhook: new secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b), nil
}

// Sign returns the webhook-signature header value for a delivery of body with message id id at time
// ts: one "v1,<base64 HMAC-SHA256>" entry per secret, in the order given, separated by single spaces
// (two during a secret rotation). A secret may omit the "whsec_" prefix, as in the reference libraries.
// Sign fails on an empty list, an empty id, or a secret that is empty or not base64.
func Sign(secrets []string, id string, ts time.Time, body []byte) (string, error) {
	if len(secrets) == 0 {
		return "", fmt.Errorf("%w: no secret to sign with", ErrSecret)
	}
	if id == "" {
		return "", errors.New("webhook: sign: empty message id")
	}
	sigs := make([]string, 0, len(secrets))
	for i, s := range secrets {
		key, err := decodeSecret(s)
		if err != nil {
			return "", fmt.Errorf("%w (secret %d of %d)", err, i+1, len(secrets))
		}
		sigs = append(sigs, "v1,"+base64.StdEncoding.EncodeToString(mac(key, id, ts.Unix(), body)))
	}
	return strings.Join(sigs, " "), nil
}

// Verify checks a delivery against the endpoint's secret at the current time: see VerifyAt.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, h, body, tolerance, time.Now())
}

// VerifyAt checks a delivery as Verify does, with now as the current time. body must be the raw request
// body, byte for byte as received (not re-encoded JSON). It returns nil when the three webhook headers
// are present, the timestamp is an integer within tolerance of now either way (tolerance <= 0 means
// DefaultTolerance), and any one of the space-separated "v1,<sig>" entries of webhook-signature matches,
// compared in constant time; entries of other versions are ignored. Otherwise it returns an error
// wrapping ErrMissingHeaders, ErrTimestamp, ErrSignature or, for an unusable secret, ErrSecret.
func VerifyAt(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	key, err := decodeSecret(secret)
	if err != nil {
		return err
	}
	id, tsText, sigs := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	var missing []string
	for _, f := range []struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s", ErrMissingHeaders, strings.Join(missing, ", "))
	}
	ts, err := strconv.ParseInt(strings.TrimSpace(tsText), 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s %q is not unix seconds", ErrTimestamp, HeaderTimestamp, clip(tsText))
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	// Compare in seconds: a timestamp far from now must not overflow a time.Duration.
	tol, nowSec := int64(tolerance/time.Second), now.Unix()
	switch {
	case ts < nowSec-tol:
		return fmt.Errorf("%w: %s old, tolerance %s", ErrTimestamp, seconds(nowSec, ts), tolerance)
	case ts > nowSec+tol:
		return fmt.Errorf("%w: %s in the future, tolerance %s", ErrTimestamp, seconds(ts, nowSec), tolerance)
	}
	want := []byte(base64.StdEncoding.EncodeToString(mac(key, id, ts, body)))
	ok := false
	for _, entry := range strings.Fields(sigs) {
		version, sig, found := strings.Cut(entry, ",")
		if !found || version != "v1" {
			continue
		}
		// Every v1 entry is compared, so the time taken does not tell which one matched.
		if hmac.Equal([]byte(sig), want) {
			ok = true
		}
	}
	if !ok {
		return ErrSignature
	}
	return nil
}

// decodeSecret returns the HMAC key of a secret: the standard base64 after an optional "whsec_".
func decodeSecret(secret string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(secret), SecretPrefix))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64 after %q", ErrSecret, SecretPrefix)
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrSecret)
	}
	return key, nil
}

// mac is HMAC-SHA256(key, id "." ts "." body), the Standard Webhooks signed content.
func mac(key []byte, id string, ts int64, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// seconds says how many seconds a is after b (a > b), or "ages" when the difference overflows.
func seconds(a, b int64) string {
	if d := a - b; d > 0 {
		return strconv.FormatInt(d, 10) + " s"
	}
	return "ages"
}

// clip shortens a header value quoted in an error, so a huge header does not become a huge message.
func clip(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
