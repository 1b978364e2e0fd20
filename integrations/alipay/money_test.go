package alipay_test

import (
	"testing"

	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/internal/cn"
)

func TestYuan(t *testing.T) {
	for _, c := range []struct {
		fen  int64
		yuan string
	}{
		{0, "0.00"},
		{1, "0.01"},
		{9, "0.09"},
		{10, "0.10"},
		{99, "0.99"},
		{100, "1.00"},
		{101, "1.01"},
		{1230, "12.30"},
		{1850, "18.50"},
		{123456, "1234.56"},
		{99999999, "999999.99"},
		{100000000, "1000000.00"},
		{10000000000, "100000000.00"}, // Alipay's largest total_amount
	} {
		if got := cn.Yuan(c.fen); got != c.yuan {
			t.Errorf("Yuan(%d) = %q, want %q", c.fen, got, c.yuan)
		}
	}
}

// TestFen pins down which yuan strings Fen reads. It reads exactly what Alipay writes (digits, an
// optional point and one or two decimals) and nothing looser: no sign, exponent, spaces, grouping, or
// leading zeros ("01.00" is refused: the pattern allows "0" or a number starting 1-9 before the point),
// at most twelve digits before the point, and never a third decimal (which would be a fraction of a fen).
// "0" and "0.00" read as 0 fen; callers refuse amounts that are not positive.
func TestFen(t *testing.T) {
	for _, c := range []struct {
		yuan string
		fen  int64
	}{
		{"0.01", 1},
		{"0.1", 10},
		{"0.10", 10},
		{"0.99", 99},
		{"1", 100},
		{"1.0", 100},
		{"1.00", 100},
		{"12.3", 1230},
		{"12.30", 1230},
		{"18.50", 1850},
		{"1234.56", 123456},
		{"999999.99", 99999999},
		{"1000000.00", 100000000},
		{"100000000.00", 10000000000},
		{"999999999999.99", 99999999999999}, // twelve digits, the most the pattern takes
		{"0", 0},
		{"0.00", 0},
	} {
		got, err := alipay.Fen(c.yuan)
		if err != nil || got != c.fen {
			t.Errorf("Fen(%q) = %d, %v; want %d", c.yuan, got, err, c.fen)
		}
	}
	for _, bad := range []string{
		"", " ", "1.234", "0.001", "12.345", "-1", "-0.01", "+1", "1e3", "1E3", "0x10", " 1", "1 ", "1.00 ", "\t1", "1\n",
		"01.00", "00.01", "00", "01", "1.", ".5", ".", "1..0", "1.2.3", "1,00", "1,000.00", "1_000", "１.00", "1.０",
		"NaN", "Inf", "yuan", "¥1.00", "1.00元", "1000000000000", "1000000000000.00", "9999999999999.99",
	} {
		if got, err := alipay.Fen(bad); err == nil {
			t.Errorf("Fen(%q) = %d, want an error", bad, got)
		}
	}
}

// TestYuanFenRoundTrip: every amount the hub writes reads back as the same fen.
func TestYuanFenRoundTrip(t *testing.T) {
	amounts := []int64{1, 2, 9, 10, 11, 99, 100, 101, 199, 1000, 1850, 3700, 99999, 100000, 99999998, 99999999, 100000000, 10000000000}
	for fen := int64(1); fen <= 10000; fen += 7 {
		amounts = append(amounts, fen)
	}
	for _, fen := range amounts {
		y := cn.Yuan(fen)
		got, err := alipay.Fen(y)
		if err != nil || got != fen {
			t.Errorf("Fen(Yuan(%d)) = Fen(%q) = %d, %v", fen, y, got, err)
		}
	}
}
