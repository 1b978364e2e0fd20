package cn

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// Zone is China Standard Time. China has no daylight saving time, so a fixed zone is exact and does not
// depend on the host's tzdata.
var Zone = time.FixedZone("CST", 8*60*60)

// Yuan writes an amount in fen as a yuan string with two decimals: 1 → "0.01", 123456 → "1234.56",
// -150 → "-1.50". It is the form every provider that speaks yuan (Alipay, the bills) reads.
func Yuan(fen int64) string {
	sign := ""
	u := uint64(fen)
	if fen < 0 {
		sign, u = "-", uint64(-(fen+1))+1 // safe for math.MinInt64
	}
	return fmt.Sprintf("%s%d.%02d", sign, u/100, u%100)
}

// YuanSign writes an amount in fen for people: "¥12.30", "-¥1.50".
func YuanSign(fen int64) string {
	s := Yuan(fen)
	if s[0] == '-' {
		return "-¥" + s[1:]
	}
	return "¥" + s
}

var yuanPattern = regexp.MustCompile(`^(-)?(0|[1-9][0-9]{0,11})(\.([0-9]{1,2}))?$`)

// Fen reads a yuan string exactly, without floating point: "12.3" → 1230, "-0.5" → -50. It takes digits,
// an optional point and one or two decimals, with an optional leading minus; nothing looser (no plus,
// exponent, spaces, grouping, leading zeros or third decimal, which would be a fraction of a fen).
// Callers that take only positive amounts check the sign themselves.
func Fen(yuan string) (int64, error) {
	m := yuanPattern.FindStringSubmatch(yuan)
	if m == nil {
		return 0, fmt.Errorf("%q is not an amount in yuan", yuan)
	}
	whole, err := strconv.ParseInt(m[2], 10, 64)
	if err != nil {
		return 0, err
	}
	frac := m[4]
	for len(frac) < 2 {
		frac += "0"
	}
	cents, _ := strconv.ParseInt(frac, 10, 64)
	v := whole*100 + cents
	if m[1] == "-" {
		v = -v
	}
	return v, nil
}
