package qrcode

import (
	"crypto/rand"
	"fmt"
	"strings"
)

// CodeLen is the length of a code made by NewCode.
const CodeLen = 8

// codeAlphabet is Crockford's base32 alphabet: digits and upper-case letters without I, L, O and U,
// so a code read aloud or retyped from a label cannot be confused.
const codeAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewCode returns a fresh random code: 8 characters of Crockford base32 (0-9 and A-Z without I, L, O
// and U) carrying 40 bits from crypto/rand. Codes are unguessable, not unique: the caller stores them
// under a unique index and draws again on the rare collision.
func NewCode() (string, error) {
	var b [5]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("qrcode: read random: %w", err)
	}
	v := uint64(b[0])<<32 | uint64(b[1])<<24 | uint64(b[2])<<16 | uint64(b[3])<<8 | uint64(b[4])
	var out [CodeLen]byte
	for i := CodeLen - 1; i >= 0; i-- {
		out[i] = codeAlphabet[v&31]
		v >>= 5
	}
	return string(out[:]), nil
}

// ValidCode reports whether s has exactly the form NewCode produces: 8 characters from the upper-case
// Crockford alphabet. It is deliberately strict (no lower case, no hyphens, no I/L/O/U look-alikes); a
// caller that looks a code up passes what it was given through NormalizeCode first.
func ValidCode(s string) bool {
	if len(s) != CodeLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if strings.IndexByte(codeAlphabet, s[i]) < 0 {
			return false
		}
	}
	return true
}

// maxTypedCode is the longest input NormalizeCode rewrites: a code with a separator between every
// character and spaces around it; anything longer is not a code and is returned as it is.
const maxTypedCode = 4 * CodeLen

// NormalizeCode turns a short code as it was typed, read aloud or mangled by a scanner app into the form
// NewCode makes, as Crockford's base32 decodes: lower case becomes upper case, I and L become 1, O
// becomes 0, and spaces and hyphens (separators for reading) are dropped. It only rewrites; whether
// the result is a code is ValidCode's to say. It is for short codes only: signed tokens are
// case-sensitive and must not pass through it.
func NormalizeCode(s string) string {
	if len(s) > maxTypedCode {
		return s
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		switch r {
		case 'I', 'L':
			return '1'
		case 'O':
			return '0'
		}
		return r
	}, s)
}
