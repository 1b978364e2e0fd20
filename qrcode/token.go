package qrcode

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"strconv"
	"strings"
	"time"
)

// TokenPrefix starts every signed pickup token, so a counter can tell a scanned token from a typed code.
const TokenPrefix = "OP1-"

// Errors of OpenToken.
var (
	ErrTokenForged  = errors.New("the token's signature is not ours")
	ErrTokenExpired = errors.New("the token has expired")
)

var sigEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// SignToken returns a token carrying payload until exp, signed with key (HMAC-SHA256, 120 bits kept):
// "OP1-<payload>-<exp in base 36>-<signature in base 32>". It holds only letters, digits and '-', so a USB
// scanner types it faithfully whatever the keyboard layout. The payload must not contain '-'. Because a
// scanner may type the token in either case, OpenToken reads it in upper case: the payload is signed (and
// given back) in upper case too, so a payload with lower-case letters still opens.
func SignToken(key []byte, payload string, exp time.Time) string {
	body := strings.ToUpper(TokenPrefix + payload + "-" + strconv.FormatInt(exp.Unix(), 36))
	return body + "-" + sign(key, body)
}

// OpenToken checks a token made by SignToken with key and returns its payload; a token whose signature
// does not match is ErrTokenForged and one past its expiry at now is ErrTokenExpired (with its payload).
func OpenToken(key []byte, token string, now time.Time) (string, error) {
	token = strings.ToUpper(strings.TrimSpace(token))
	i := strings.LastIndexByte(token, '-')
	if !strings.HasPrefix(token, TokenPrefix) || i < len(TokenPrefix) {
		return "", ErrTokenForged
	}
	body, sig := token[:i], token[i+1:]
	if !hmac.Equal([]byte(sig), []byte(sign(key, body))) {
		return "", ErrTokenForged
	}
	rest := body[len(TokenPrefix):]
	j := strings.LastIndexByte(rest, '-')
	if j < 0 {
		return "", ErrTokenForged
	}
	exp, err := strconv.ParseInt(strings.ToLower(rest[j+1:]), 36, 64)
	if err != nil {
		return "", ErrTokenForged
	}
	if !now.Before(time.Unix(exp, 0)) {
		return rest[:j], ErrTokenExpired
	}
	return rest[:j], nil
}

func sign(key []byte, body string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(body))
	return sigEncoding.EncodeToString(m.Sum(nil)[:15])
}
