package qrcode

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"
)

// tokenSeeds are signed tokens as core issues them (a six-digit pickup code) and a few near misses.
func tokenSeeds(f *testing.F) {
	key := []byte("pickup-token-key-for-fuzzing-32b")
	exp := time.Unix(1767225600, 0)
	good := SignToken(key, "123456", exp)
	for _, tok := range []string{good, strings.ToLower(good), " " + good + "\t", good[:len(good)-1], good + "A",
		TokenPrefix, TokenPrefix + "-", TokenPrefix + "--", "OP1-123456-ZZZZZZZZZZZZZZ-", "op1-", "", "-", "OP1-a-b-c-d",
		TokenPrefix + "123456-" + strings.Repeat("Z", 20) + "-AAAA"} {
		f.Add(key, tok, exp.Unix()-60)
	}
	f.Add(key, good, exp.Unix())
	f.Add([]byte{}, SignToken(nil, "000000", exp), exp.Unix()-1)
}

// FuzzOpenToken feeds arbitrary text to OpenToken, as a counter's scanner would type it. It must never
// panic, fail only with its two errors, and accept (or call expired) only a token whose signature is the
// key's HMAC of everything before it.
func FuzzOpenToken(f *testing.F) {
	tokenSeeds(f)
	f.Fuzz(func(t *testing.T, key []byte, token string, now int64) {
		payload, err := OpenToken(key, token, time.Unix(now, 0))
		if err != nil && !errors.Is(err, ErrTokenForged) && !errors.Is(err, ErrTokenExpired) {
			t.Fatalf("OpenToken(%q) failed with an unexpected error: %v", token, err)
		}
		if errors.Is(err, ErrTokenForged) {
			if payload != "" {
				t.Fatalf("OpenToken(%q) returned payload %q with a forged token", token, payload)
			}
			return
		}
		norm := strings.ToUpper(strings.TrimSpace(token))
		i := strings.LastIndexByte(norm, '-')
		m := hmac.New(sha256.New, key)
		m.Write([]byte(norm[:i]))
		if want := sigEncoding.EncodeToString(m.Sum(nil)[:15]); norm[i+1:] != want {
			t.Fatalf("OpenToken(%q) accepted a token not signed with the key", token)
		}
		if !strings.HasPrefix(norm, TokenPrefix+payload+"-") {
			t.Fatalf("OpenToken(%q) returned payload %q, not the token's", token, payload)
		}
	})
}

// FuzzSignOpenToken signs a payload of letters and digits, opens it, then changes one byte. The round trip
// must give the payload back (in upper case, as scanners may type it), say expired exactly when it is,
// and any change that is more than case or surrounding space must make the token forged.
func FuzzSignOpenToken(f *testing.F) {
	f.Add([]byte("k"), "123456", int64(1767225600), int64(1767225000), uint(5), byte('7'))
	f.Add([]byte("k"), "123456", int64(1767225600), int64(1767225600), uint(30), byte('a'))
	f.Add([]byte{}, "", int64(1), int64(0), uint(0), byte(' '))
	f.Add([]byte("key"), "abc123", int64(1767225600), int64(1767225000), uint(4), byte('A'))
	f.Fuzz(func(t *testing.T, key []byte, payload string, exp, now int64, pos uint, b byte) {
		for i := 0; i < len(payload); i++ {
			if c := payload[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
				return // SignToken takes letters and digits
			}
		}
		if exp <= 0 {
			return // expiries before 1970 are not tokens anyone issues
		}
		tok := SignToken(key, payload, time.Unix(exp, 0))
		got, err := OpenToken(key, tok, time.Unix(now, 0))
		wantErr := error(nil)
		if now >= exp {
			wantErr = ErrTokenExpired
		}
		if err != wantErr || got != strings.ToUpper(payload) {
			t.Fatalf("OpenToken(SignToken(%q, exp %d), now %d) = %q, %v; want %q, %v", payload, exp, now, got, err, strings.ToUpper(payload), wantErr)
		}
		if len(tok) == 0 {
			return
		}
		mut := []byte(tok)
		mut[pos%uint(len(mut))] = b
		if strings.ToUpper(strings.TrimSpace(string(mut))) == strings.ToUpper(tok) {
			return
		}
		if p, err := OpenToken(key, string(mut), time.Unix(now, 0)); !errors.Is(err, ErrTokenForged) {
			t.Fatalf("OpenToken(%q), %q changed, = %q, %v; want ErrTokenForged", mut, tok, p, err)
		}
	})
}

// FuzzValidCode checks the short code parser and the not-found page that echoes a code: ValidCode accepts
// exactly eight characters of the upper-case Crockford alphabet, and a code it refuses leaves no trace on
// the page.
func FuzzValidCode(f *testing.F) {
	for _, s := range []string{"7K2M9XQ4", "7k2m9xq4", "7K2M9XQ", "7K2M9XQ45", "7K2M9XQI", "7K2M9XQL", "7K2M9XQO", "7K2M9XQU",
		"", "<script>alert(1)</script>", "7K2M9XQ\x00", "７K2M9XQ4", "0000000\xff"} {
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, disabled bool) {
		want := len(s) == CodeLen
		for i := 0; want && i < len(s); i++ {
			want = strings.IndexByte(codeAlphabet, s[i]) >= 0
		}
		if got := ValidCode(s); got != want {
			t.Fatalf("ValidCode(%q) = %v, want %v", s, got, want)
		}
		var page, blank bytes.Buffer
		if err := WriteNotFound(&page, s, disabled); err != nil {
			t.Fatalf("WriteNotFound(%q): %v", s, err)
		}
		if err := WriteNotFound(&blank, "", disabled); err != nil {
			t.Fatal(err)
		}
		if !want && !bytes.Equal(page.Bytes(), blank.Bytes()) {
			t.Fatalf("WriteNotFound echoed the malformed code %q", s)
		}
		if ch := Channel(s); ch != ChannelWeChat && ch != ChannelAlipay && ch != ChannelBrowser {
			t.Fatalf("Channel(%q) = %q", s, ch)
		}
	})
}
