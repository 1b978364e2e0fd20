package cn_test

import (
	"math"
	"math/big"
	"regexp"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/internal/cn"
)

// FuzzFen reads arbitrary text as yuan. Fen must never panic; what it accepts must be exactly what its
// pattern promises, read without floating point (checked against math/big), and written back by Yuan in
// canonical form; and every amount Yuan writes must read back as itself.
func FuzzFen(f *testing.F) {
	for _, s := range []string{"0.01", "0.1", "1", "12.3", "1234.56", "0", "999999999999.99", "-1.50", "-0.01",
		"", " ", "1.234", "+1", "1e3", "01.00", "1.", ".5", "1,000.00", "--1", "- 1", "¥1.00", "1000000000000",
		"-0", "-0.00", "0.07", "1.005", "NaN", "Inf", "１２.３", "12.3\n", "0x10"} {
		f.Add(s, int64(len(s)))
	}
	f.Add("100000000.00", int64(10000000000))
	f.Add("", int64(math.MinInt64))
	f.Add("", int64(math.MaxInt64))
	strict := regexp.MustCompile(`^-?(0|[1-9][0-9]{0,11})(\.[0-9]{1,2})?$`)
	f.Fuzz(func(t *testing.T, s string, fen int64) {
		got, err := cn.Fen(s)
		if err != nil {
			if strict.MatchString(s) {
				t.Fatalf("Fen(%q) refused a well-formed amount: %v", s, err)
			}
		} else {
			if !strict.MatchString(s) {
				t.Fatalf("Fen(%q) = %d, want an error", s, got)
			}
			// The exact value, by rational arithmetic: yuan × 100 must be an integer equal to got.
			r, ok := new(big.Rat).SetString(s)
			if !ok {
				t.Fatalf("Fen(%q) accepted what big.Rat cannot read", s)
			}
			r.Mul(r, big.NewRat(100, 1))
			if !r.IsInt() || r.Num().Cmp(big.NewInt(got)) != 0 {
				t.Fatalf("Fen(%q) = %d, want %s", s, got, r.RatString())
			}
			// Yuan writes it back canonically (two decimals; "-0" is 0).
			back := cn.Yuan(got)
			if again, err := cn.Fen(back); err != nil || again != got {
				t.Fatalf("Fen(Yuan(Fen(%q))) = %d, %v; want %d", s, again, err, got)
			}
			if got != 0 && strings.HasPrefix(back, "-") != strings.HasPrefix(s, "-") {
				t.Fatalf("Yuan(%d) = %q changed the sign of %q", got, back, s)
			}
		}
		// Every amount Yuan writes with at most twelve digits of yuan reads back as itself.
		if fen > -1e14 && fen < 1e14 {
			if again, err := cn.Fen(cn.Yuan(fen)); err != nil || again != fen {
				t.Fatalf("Fen(Yuan(%d)) = %d, %v", fen, again, err)
			}
		}
		y := cn.YuanSign(fen)
		if strings.Count(y, "¥") != 1 || strings.Replace(y, "¥", "", 1) != cn.Yuan(fen) {
			t.Fatalf("YuanSign(%d) = %q disagrees with Yuan %q", fen, y, cn.Yuan(fen))
		}
	})
}
