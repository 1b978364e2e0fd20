package eleme

import (
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"sort"
	"strings"
)

// Version is the protocol version every envelope carries.
const Version = "3"

// Envelope is Ele.me's signed message, the same for our requests, its answers and its pushes. Every field
// holds the raw text that is sent or was received: the signature is computed over exactly these values.
type Envelope struct {
	Cmd       string
	Body      string // the JSON text of the business parameters, as sent
	Encrypt   string // "" (no body encryption)
	Source    string // the app id
	Ticket    string // an uppercase UUID naming this message
	Timestamp string // unix seconds
	Version   string // "3"
	// AccessToken is set only by ISV apps; when set it is signed and sent.
	AccessToken string
	Sign        string
}

// Sign computes Ele.me's signature of e with secret: the uppercase hex MD5 of "k=v" pairs joined by "&",
// for the keys body, cmd, encrypt, secret, source, ticket, timestamp and version (and access_token when
// e carries one), sorted by key, with raw (not URL-encoded) values. The secret is signed, never sent.
// e.Sign is ignored.
func Sign(secret string, e Envelope) string {
	kv := map[string]string{
		"body": e.Body, "cmd": e.Cmd, "encrypt": e.Encrypt, "secret": secret,
		"source": e.Source, "ticket": e.Ticket, "timestamp": e.Timestamp, "version": e.Version,
	}
	if e.AccessToken != "" {
		kv["access_token"] = e.AccessToken
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(kv[k])
	}
	sum := md5.Sum([]byte(b.String()))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// Verify reports whether e.Sign is the signature of e with secret (compared without regard to case).
func Verify(secret string, e Envelope) bool {
	return e.Sign != "" && strings.EqualFold(Sign(secret, e), e.Sign)
}

// Form is the envelope as the form fields Ele.me posts: the signature included, the secret never.
func (e Envelope) Form() url.Values {
	v := url.Values{}
	v.Set("cmd", e.Cmd)
	v.Set("body", e.Body)
	v.Set("encrypt", e.Encrypt)
	v.Set("source", e.Source)
	v.Set("ticket", e.Ticket)
	v.Set("timestamp", e.Timestamp)
	v.Set("version", e.Version)
	v.Set("sign", e.Sign)
	if e.AccessToken != "" {
		v.Set("access_token", e.AccessToken)
	}
	return v
}

// EnvelopeFrom reads an envelope from posted form fields, raw values as received.
func EnvelopeFrom(v url.Values) Envelope {
	return Envelope{
		Cmd: v.Get("cmd"), Body: v.Get("body"), Encrypt: v.Get("encrypt"), Source: v.Get("source"),
		Ticket: v.Get("ticket"), Timestamp: v.Get("timestamp"), Version: v.Get("version"),
		AccessToken: v.Get("access_token"), Sign: v.Get("sign"),
	}
}

// NewTicket returns a fresh ticket: a random (version 4) UUID in uppercase.
func NewTicket() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("eleme: random ticket: %v", err)) // crypto/rand does not fail on supported systems
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := strings.ToUpper(hex.EncodeToString(b[:]))
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}
