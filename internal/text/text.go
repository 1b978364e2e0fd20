package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Kind is how strictly Check treats a piece of text.
type Kind int

const (
	// Printed is one line of text people read or that is printed: a name, an address, a code, a reason
	// shown on a ticket. It holds no control character at all (no tab or line break either) and no
	// bidirectional embedding, override or isolate, which would reorder what is shown around it.
	Printed Kind = iota
	// Free is text the hub only keeps or passes on, such as a password or a signed payload: tabs and line
	// breaks are allowed; NUL, other control characters and bytes that are not UTF-8 are not.
	Free
)

// Problem is what is wrong with a piece of text.
type Problem int

// The problems Check finds.
const (
	// NUL is a U+0000 character, which PostgreSQL cannot store in text.
	NUL Problem = iota + 1
	// InvalidUTF8 is a byte sequence that is not UTF-8 (or, in JSON, an escape of a lone UTF-16
	// surrogate).
	InvalidUTF8
	// Control is a C0 or C1 control character other than NUL (or a line or paragraph separator).
	Control
	// Bidi is a bidirectional embedding, override or isolate (U+202A–U+202E, U+2066–U+2069).
	Bidi
)

// Error is text refused by Check: the problem and, for a character, which one.
type Error struct {
	Problem Problem
	// Rune is the offending character (of a Control or Bidi problem).
	Rune rune
}

// Error says what is wrong, to follow the name of what holds the text ("field \"name\" contains …").
func (e *Error) Error() string {
	switch e.Problem {
	case NUL:
		return "contains a NUL character (U+0000)"
	case InvalidUTF8:
		return "is not valid UTF-8"
	case Control:
		return fmt.Sprintf("contains the control character %U", e.Rune)
	case Bidi:
		return fmt.Sprintf("contains the bidirectional control character %U", e.Rune)
	}
	return "is not acceptable text"
}

// IsBidiControl reports whether r is a bidirectional embedding, override or isolate character.
func IsBidiControl(r rune) bool {
	return (r >= '\u202A' && r <= '\u202E') || (r >= '\u2066' && r <= '\u2069')
}

// Check returns nil when s is acceptable text of kind k, and an *Error saying what is wrong otherwise
// (the first problem in s).
func Check(s string, k Kind) error {
	if !utf8.ValidString(s) {
		return &Error{Problem: InvalidUTF8}
	}
	for _, r := range s {
		switch {
		case r == 0:
			return &Error{Problem: NUL}
		case k == Free && (r == '\t' || r == '\n' || r == '\r'):
		case unicode.IsControl(r) || (k == Printed && (r == '\u2028' || r == '\u2029')):
			return &Error{Problem: Control, Rune: r}
		case k == Printed && IsBidiControl(r):
			return &Error{Problem: Bidi, Rune: r}
		}
	}
	return nil
}

// Clean makes text the hub must keep whatever it holds (a verified notification's or platform push's)
// safe to store, show and print: bytes that are not UTF-8 are dropped, and every control and format
// character (NUL, line breaks, bidirectional controls, zero-width characters) becomes a space. Clean text
// passes Check as Printed text.
func Clean(s string) string {
	s = strings.ToValidUTF8(s, "")
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' {
			return ' '
		}
		return r
	}, s)
}
