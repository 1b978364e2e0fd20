package market

import (
	"encoding/json"
	"testing"
)

// TestShown checks the stock a platform is told, exactly in integers: never negative, safety stock held
// back, the ratio applied as a percentage and rounded down.
func TestShown(t *testing.T) {
	for _, c := range []struct{ onHand, reserved, safety, pct, want int64 }{
		{10, 0, 0, 100, 10}, {10, 3, 0, 100, 7}, {10, 3, 2, 100, 5}, {10, 3, 2, 90, 4}, // 5 × 0.9 = 4.5 → 4
		{10, 10, 0, 100, 0}, {10, 3, 8, 100, 0}, {3, 0, 0, 33, 0}, {100, 0, 0, 33, 33}, {7, 0, 0, 0, 0},
	} {
		if got := Shown(c.onHand, c.reserved, c.safety, c.pct); got != c.want {
			t.Errorf("Shown(%d, %d, %d, %d%%) = %d, want %d", c.onHand, c.reserved, c.safety, c.pct, got, c.want)
		}
	}
	for in, want := range map[string]int64{"1": 100, "1.0": 100, "0.85": 85, "0.9": 90, "0": 0, "": 100} {
		if got, err := ratioPct(jsonNumber(in)); err != nil || got != want {
			t.Errorf("ratio %q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"1.01", "-0.1", "0.333", "2", "1e0"} {
		if _, err := ratioPct(jsonNumber(bad)); err == nil {
			t.Errorf("ratio %q accepted", bad)
		}
	}
}

func jsonNumber(s string) json.Number { return json.Number(s) }
