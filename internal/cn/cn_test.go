package cn_test

import (
	"math"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
)

func TestYuan(t *testing.T) {
	for _, c := range []struct {
		fen  int64
		yuan string
	}{
		{0, "0.00"}, {1, "0.01"}, {9, "0.09"}, {10, "0.10"}, {99, "0.99"}, {100, "1.00"}, {101, "1.01"},
		{1230, "12.30"}, {123456, "1234.56"}, {10000000000, "100000000.00"},
		{-1, "-0.01"}, {-50, "-0.50"}, {-150, "-1.50"}, {-123456, "-1234.56"},
		{math.MinInt64, "-92233720368547758.08"},
	} {
		if got := cn.Yuan(c.fen); got != c.yuan {
			t.Errorf("Yuan(%d) = %q, want %q", c.fen, got, c.yuan)
		}
	}
	if got := cn.YuanSign(-150); got != "-¥1.50" {
		t.Errorf("YuanSign(-150) = %q", got)
	}
	if got := cn.YuanSign(1230); got != "¥12.30" {
		t.Errorf("YuanSign(1230) = %q", got)
	}
}

func TestFen(t *testing.T) {
	for _, c := range []struct {
		yuan string
		fen  int64
	}{
		{"0.01", 1}, {"0.1", 10}, {"1", 100}, {"12.3", 1230}, {"1234.56", 123456}, {"0", 0},
		{"999999999999.99", 99999999999999}, {"-1.50", -150}, {"-0.01", -1},
	} {
		got, err := cn.Fen(c.yuan)
		if err != nil || got != c.fen {
			t.Errorf("Fen(%q) = %d, %v; want %d", c.yuan, got, err, c.fen)
		}
	}
	for _, bad := range []string{"", " ", "1.234", "+1", "1e3", "01.00", "1.", ".5", "1,000.00", "--1", "- 1", "¥1.00", "1000000000000"} {
		if got, err := cn.Fen(bad); err == nil {
			t.Errorf("Fen(%q) = %d, want an error", bad, got)
		}
	}
	for fen := int64(-10000); fen <= 10000; fen += 7 {
		if got, err := cn.Fen(cn.Yuan(fen)); err != nil || got != fen {
			t.Errorf("Fen(Yuan(%d)) = %d, %v", fen, got, err)
		}
	}
}

func TestZone(t *testing.T) {
	got := time.Date(2026, 12, 3, 16, 0, 0, 0, time.UTC).In(cn.Zone).Format("2006-01-02 15:04")
	if got != "2026-12-04 00:00" {
		t.Errorf("UTC 16:00 in China = %s", got)
	}
}
