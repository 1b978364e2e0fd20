package elemefake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/internal/pushloop"
)

// call posts a command signed with secret and returns the answer's body.
func call(t *testing.T, srv *httptest.Server, secret, cmd, body string) (errno int, msg string) {
	t.Helper()
	e := eleme.Envelope{Cmd: cmd, Body: body, Source: "1", Ticket: eleme.NewTicket(), Timestamp: "1700000000", Version: "3"}
	e.Sign = eleme.Sign(secret, e)
	resp, err := http.PostForm(srv.URL+"/", e.Form())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a struct {
		Body struct {
			Errno int    `json:"errno"`
			Error string `json:"error"`
		} `json:"body"`
		Cmd    string `json:"cmd"`
		Ticket string `json:"ticket"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil || a.Cmd != "resp."+cmd || a.Ticket != e.Ticket {
		t.Fatalf("answer %+v %v", a, err)
	}
	return a.Body.Errno, a.Body.Error
}

func TestRequestChecksAndStateMachine(t *testing.T) {
	f := New(Options{Source: "1", Secret: "k"})
	defer f.Close()
	f.AddShop("s")
	srv := httptest.NewServer(f)
	defer srv.Close()
	if n, _ := call(t, srv, "forged", "order.get", `{"order_id":"1"}`); n != eleme.ErrnoAuth {
		t.Fatalf("forged sign: errno %d", n)
	}
	id, err := f.PlaceOrder("s", []OrderLine{{Code: "A", Qty: 1, PriceFen: 100}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		cmd, body string
		errno     int
	}{
		{"order.pickcomplete", `{"order_id":"` + id + `"}`, eleme.ErrnoRefused},
		{"order.cancel", `{"order_id":"` + id + `","type":"9","reason":"x"}`, eleme.ErrnoRefused},
		{"order.cancel", `{"order_id":"` + id + `","type":"-1","reason":" "}`, eleme.ErrnoRefused},
		{"order.confirm", `{"order_id":"` + id + `"}`, 0},
		{"order.pickcomplete", `{"order_id":"` + id + `"}`, 0},
		{"order.cancel", `{"order_id":"` + id + `","type":"5","reason":"用户要求"}`, 0},
		{"order.confirm", `{"order_id":"` + id + `"}`, eleme.ErrnoRefused},
		{"order.list", `{"shop_id":"other","start_time":0,"end_time":1}`, eleme.ErrnoRefused},
		{"sku.stock.update.batch", `{"shop_id":"s","custom_sku_id":"A:100000"}`, eleme.ErrnoRefused},
		{"sku.stock.update.batch", `{"shop_id":"s","upc_stocks":"6901:1"}`, eleme.ErrnoRefused},
		{"shop.get", `{}`, eleme.ErrnoRefused},
	} {
		if n, msg := call(t, srv, "k", c.cmd, c.body); n != c.errno {
			t.Errorf("%s %s: errno %d %q, want %d", c.cmd, c.body, n, msg, c.errno)
		}
	}
	if o, _ := f.Order(id); o.Status != "cancelled" || o.CancelCode != "5" || o.CancelReason != "用户要求" {
		t.Fatalf("%+v", o)
	}
	if f.Calls("order.confirm") != 2 || f.Calls("order.cancel") != 3 {
		t.Fatalf("calls %d %d", f.Calls("order.confirm"), f.Calls("order.cancel"))
	}
	if err := f.FinishOrder(id); err == nil {
		t.Fatal("finished a cancelled order")
	}
}

func TestGivesUpAndCloseStops(t *testing.T) {
	var hits atomic.Int32
	hub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"body":{"errno":0,"error":"success"}}`)) // not the signed envelope
	}))
	defer hub.Close()
	f := New(Options{Source: "1", Secret: "k", PushURL: hub.URL, RetryInterval: time.Millisecond})
	f.AddShop("s")
	if _, err := f.PlaceOrder("s", []OrderLine{{Code: "A", Qty: 1}}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for hits.Load() < pushloop.MaxAttempts && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	f.Close()
	if n := hits.Load(); n != pushloop.MaxAttempts || f.Pushes() != 0 {
		t.Fatalf("deliveries %d, acknowledged %d", n, f.Pushes())
	}
	if _, err := f.PlaceOrder("nope", []OrderLine{{Code: "A", Qty: 1}}); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("unknown shop: %v", err)
	}
}
