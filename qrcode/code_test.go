package qrcode

import (
	"strings"
	"testing"
)

func TestNewCode(t *testing.T) {
	const draws = 10000 // 40 bits: a collision in 10k draws has odds of about 5e-5
	seen := make(map[string]bool, draws)
	for range draws {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != CodeLen {
			t.Fatalf("NewCode() = %q: length %d, want %d", c, len(c), CodeLen)
		}
		for _, r := range c {
			if !strings.ContainsRune(codeAlphabet, r) {
				t.Fatalf("NewCode() = %q: %q is not in the Crockford alphabet", c, r)
			}
		}
		if !ValidCode(c) {
			t.Fatalf("ValidCode(NewCode()=%q) = false", c)
		}
		if seen[c] {
			t.Fatalf("NewCode() repeated %q", c)
		}
		seen[c] = true
	}
}

func TestNewCodeUsesEveryCharacter(t *testing.T) {
	// Each position carries 5 full bits: over 10k codes every character appears in every position.
	var count [CodeLen][32]int
	for range 10000 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		for i := range CodeLen {
			count[i][strings.IndexByte(codeAlphabet, c[i])]++
		}
	}
	for i := range CodeLen {
		for j, n := range count[i] {
			if n == 0 {
				t.Errorf("position %d never drew %q", i, codeAlphabet[j])
			}
		}
	}
}

func TestValidCode(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"7K2M9XQ4", true},
		{"00000000", true},
		{"ZZZZZZZZ", true},
		{"ABCDEFGH", true},
		{"", false},
		{"7K2M9XQ", false},   // too short
		{"7K2M9XQ4A", false}, // too long
		{"7k2m9xq4", false},  // lower case is not what NewCode makes
		{"7K2M9XQI", false},  // I
		{"7K2M9XQL", false},  // L
		{"7K2M9XQO", false},  // O
		{"7K2M9XQU", false},  // U
		{"7K2M-XQ4", false},
		{"7K2M XQ4", false},
		{"7K2M9XQ\x00", false},
		{"７K2M9XQ", false}, // full-width digit (multi-byte)
		{"<script>", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ValidCode(tt.in); got != tt.want {
				t.Errorf("ValidCode(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeCode(t *testing.T) {
	tests := []struct{ in, want string }{
		{"7K2M9XQ4", "7K2M9XQ4"},
		{"7k2m9xq4", "7K2M9XQ4"},
		{"7K2M-9XQ4", "7K2M9XQ4"},
		{" 7k2m 9xq4 ", "7K2M9XQ4"},
		{"7K2M\t9XQ4", "7K2M9XQ4"},
		{"IL0O1ilo", "11001110"},
		{"7K2M9XQU", "7K2M9XQU"}, // U is no digit in Crockford's base32: it stays and is refused
		{"", ""},
		{"<script>", "<SCR1PT>"},
		{strings.Repeat("a", 4*CodeLen+1), strings.Repeat("a", 4*CodeLen+1)}, // too long to be typed: untouched
	}
	for _, tt := range tests {
		if got := NormalizeCode(tt.in); got != tt.want {
			t.Errorf("NormalizeCode(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzNormalizeCode checks that normalising is idempotent and never turns a valid code into another.
func FuzzNormalizeCode(f *testing.F) {
	for _, s := range []string{"7K2M9XQ4", "7k2m-9xq4", "IL0O1ilo", " 7K2M 9XQ4 ", "７K2M9XQ", "\x00", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizeCode(s)
		if NormalizeCode(n) != n {
			t.Errorf("NormalizeCode(%q) = %q, not a fixed point", s, n)
		}
		if ValidCode(s) && n != s {
			t.Errorf("NormalizeCode changed the valid code %q to %q", s, n)
		}
		if ValidCode(n) && len(n) != CodeLen {
			t.Errorf("NormalizeCode(%q) = %q, valid but of length %d", s, n, len(n))
		}
	})
}
