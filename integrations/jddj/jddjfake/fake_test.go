package jddjfake_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
)

const secret = "0123456789abcdef0123456789ABCDEF"

// ask sends a signed call by GET, as some clients do, and returns JD's envelope.
func ask(t *testing.T, base, path, sec, biz string, at time.Time) map[string]any {
	t.Helper()
	q := jddj.SignedParams("ak", sec, "tk", biz, at)
	resp, err := http.Get(base + "/djapi/" + path + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var env map[string]any
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%s answered %d %s", path, resp.StatusCode, raw)
	}
	return env
}

func TestGatewayRefusals(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	f := jddjfake.New(jddjfake.Options{AppKey: "ak", AppSecret: secret, Token: "tk", Clock: func() time.Time { return now }})
	defer f.Close()
	srv := httptest.NewServer(f)
	defer srv.Close()
	for _, c := range []struct {
		name, path, sec string
		at              time.Time
		code            string
	}{
		{"good", jddj.PathQuery, secret, now, "0"},
		{"bad sign", jddj.PathQuery, "wrong", now, "10014"},
		{"stale", jddj.PathQuery, secret, now.Add(-7 * time.Minute), "10015"},
		{"within skew", jddj.PathQuery, secret, now.Add(5 * time.Minute), "0"},
		{"unknown method", "order/nothing", secret, now, "10018"},
	} {
		env := ask(t, srv.URL, c.path, c.sec, `{"orderId":"1"}`, c.at)
		if env["code"] != c.code {
			t.Errorf("%s: code %v, want %s", c.name, env["code"], c.code)
		}
	}
	if n := f.Calls(jddj.PathQuery); n != 4 {
		t.Errorf("query calls = %d, want 4 (refused ones count)", n)
	}
}

func TestStateMachine(t *testing.T) {
	f := jddjfake.New(jddjfake.Options{AppKey: "ak", AppSecret: secret, Token: "tk"})
	defer f.Close()
	if _, err := f.PlaceOrder("nowhere", []jddjfake.OrderLine{{Code: "A", Qty: 1, PriceFen: 1}}); err == nil {
		t.Fatal("an order at an unknown station was placed")
	}
	f.AddShop("s1")
	id, err := f.PlaceOrder("s1", []jddjfake.OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.FinishOrder(id); err == nil {
		t.Fatal("a new order was delivered")
	}
	if err := f.CancelOrder(id, "changed my mind"); err != nil {
		t.Fatal(err)
	}
	if err := f.CancelOrder(id, "again"); err == nil {
		t.Fatal("a cancelled order was cancelled again")
	}
	o, ok := f.Order(id)
	if !ok || o.Status != jddjfake.StatusCancelled || o.DaySeq != 1 || o.ShopID != "s1" || o.Lines[0].PriceFen != 100 {
		t.Fatalf("order = %+v", o)
	}
	if f.Pushes() != 0 {
		t.Fatal("pushes acknowledged without a push URL")
	}
}
