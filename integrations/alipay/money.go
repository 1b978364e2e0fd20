package alipay

import (
	"fmt"
	"regexp"
	"strconv"
)

// Yuan writes an amount in fen as Alipay's yuan string: 1 → "0.01", 123456 → "1234.56".
func Yuan(fen int64) string { return fmt.Sprintf("%d.%02d", fen/100, fen%100) }

var yuanPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,11})(\.([0-9]{1,2}))?$`)

// Fen reads one of Alipay's yuan strings exactly, without floating point: "12.3" → 1230.
func Fen(yuan string) (int64, error) {
	m := yuanPattern.FindStringSubmatch(yuan)
	if m == nil {
		return 0, fmt.Errorf("alipay: %q is not an amount in yuan", yuan)
	}
	whole, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	frac := m[3]
	for len(frac) < 2 {
		frac += "0"
	}
	cents, _ := strconv.ParseInt(frac, 10, 64)
	return whole*100 + cents, nil
}
