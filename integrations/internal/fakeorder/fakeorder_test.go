package fakeorder_test

import (
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/integrations/internal/fakeorder"
)

// TestSandboxForm places the order a form describes and refuses what is not one.
func TestSandboxForm(t *testing.T) {
	var got []fakeorder.Line
	h := fakeorder.SandboxForm(func(shop string, lines []fakeorder.Line) (string, error) {
		if shop != "S01" || len(lines) == 0 {
			return "", errors.New("no such shop or no lines")
		}
		got = lines
		return "42", nil
	})
	for _, c := range []struct {
		method, body string
		status       int
		answer       string
	}{
		{"POST", `{"shop_id":"S01","lines":[{"code":"MILK-1L","name":"牛奶","qty":2,"price_fen":1590}]}`, 200, `{"order_id":"42"}`},
		{"POST", `{"shop_id":"S02","lines":[{"code":"MILK-1L","qty":1}]}`, 400, "no such shop"},
		{"POST", `{"shop_id":`, 400, "not an order form"},
		{"GET", ``, 405, "POST only"},
	} {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(c.method, "/sandbox/orders", strings.NewReader(c.body)))
		if w.Code != c.status || !strings.Contains(w.Body.String(), c.answer) {
			t.Errorf("%s %s: %d %s, want %d with %q", c.method, c.body, w.Code, w.Body, c.status, c.answer)
		}
	}
	if len(got) != 1 || got[0] != (fakeorder.Line{Code: "MILK-1L", Name: "牛奶", Qty: 2, PriceFen: 1590}) {
		t.Fatalf("placed %+v", got)
	}
}
