package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

var secret = []byte("s3cret")

func signed(t *testing.T, n Notification, ts time.Time, key []byte) (http.Header, []byte) {
	t.Helper()
	body, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(key, ts.Unix(), body))
	return h, body
}

func TestVerify(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	good := Notification{ID: "e1", OrderNo: "O1", TransactionID: "T1", AmountFen: 1590, PaidAt: now, Status: "SUCCESS"}
	cases := []struct {
		name   string
		mutate func(h http.Header, body []byte) (http.Header, []byte)
		ts     time.Time
		key    []byte
		want   error
	}{
		{"valid", nil, now, secret, nil},
		{"wrong key", nil, now, []byte("guess"), ErrBadSignature},
		{"amount changed after signing", func(h http.Header, b []byte) (http.Header, []byte) {
			var n Notification
			json.Unmarshal(b, &n)
			n.AmountFen = 1
			b, _ = json.Marshal(n)
			return h, b
		}, now, secret, ErrBadSignature},
		{"no signature", func(h http.Header, b []byte) (http.Header, []byte) { h.Del(HeaderSignature); return h, b }, now, secret, ErrNoSignature},
		{"timestamp not a number", func(h http.Header, b []byte) (http.Header, []byte) { h.Set(HeaderTimestamp, "soon"); return h, b }, now, secret, ErrNoSignature},
		{"timestamp changed after signing", func(h http.Header, b []byte) (http.Header, []byte) {
			h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10))
			return h, b
		}, now, secret, ErrBadSignature},
		{"replayed ten minutes later", nil, now.Add(-10 * time.Minute), secret, ErrStale},
		{"from the future", nil, now.Add(10 * time.Minute), secret, ErrStale},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h, body := signed(t, good, tc.ts, tc.key)
			if tc.mutate != nil {
				h, body = tc.mutate(h, body)
			}
			n, err := Verify(secret, h, body, now)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && (n != core.PaymentNotification{Provider: Provider, OrderNo: "O1", TransactionID: "T1", AmountFen: 1590, PaidAt: now}) {
				t.Fatalf("notification = %+v", n)
			}
		})
	}
	for name, n := range map[string]Notification{
		"not a success": {OrderNo: "O1", TransactionID: "T1", AmountFen: 1, Status: "FAILED"},
		"zero amount":   {OrderNo: "O1", TransactionID: "T1", AmountFen: 0, Status: "SUCCESS"},
		"no order":      {TransactionID: "T1", AmountFen: 1, Status: "SUCCESS"},
		"no paid_at":    {OrderNo: "O1", TransactionID: "T1", AmountFen: 1, Status: "SUCCESS"}, // found by FuzzVerify
	} {
		t.Run(name, func(t *testing.T) {
			h, body := signed(t, n, now, secret)
			if _, err := Verify(secret, h, body, now); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

// TestVerifyRefusesTrailingData is a finding of FuzzVerify: a signed body with a second JSON value after
// the notification was accepted, the rest ignored.
func TestVerifyRefusesTrailingData(t *testing.T) {
	now := time.Date(2026, 11, 23, 2, 0, 0, 0, time.UTC)
	_, body := signed(t, Notification{OrderNo: "O1", TransactionID: "T1", AmountFen: 1, PaidAt: now, Status: "SUCCESS"}, now, secret)
	body = append(body, []byte(` {"amount_fen":2}`)...)
	h := http.Header{}
	h.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(HeaderSignature, Sign(secret, now.Unix(), body))
	if n, err := Verify(secret, h, body, now); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Verify = %+v, %v; want ErrMalformed", n, err)
	}
}

// TestGatewayNotifiesAndStops checks the simulated shopper: one signed notification per prepay,
// verifiable with the shared secret, and none after Close.
func TestGatewayNotifiesAndStops(t *testing.T) {
	got := make(chan core.PaymentNotification, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		n, err := Verify(secret, r.Header, body, time.Now())
		if err != nil {
			http.Error(w, err.Error(), http.StatusUnauthorized)
			return
		}
		got <- n
		w.Write([]byte(`{"result":"applied"}`))
	}))
	defer srv.Close()
	g := NewGateway(dbtest.SQLite(t), string(secret), time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
	res, err := g.Prepay(context.Background(), core.PrepayRequest{OrderNo: "O1", AmountFen: 990, NotifyURL: srv.URL})
	if err != nil || res.PrepayID != TransactionID("O1") {
		t.Fatalf("prepay = %+v, %v", res, err)
	}
	select {
	case n := <-got:
		if n.OrderNo != "O1" || n.AmountFen != 990 || n.TransactionID != "SBXO1" {
			t.Fatalf("notification = %+v", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
	}
	g.Close()
	if _, err := g.Prepay(context.Background(), core.PrepayRequest{OrderNo: "O2", AmountFen: 1, NotifyURL: srv.URL}); err == nil {
		t.Fatal("prepay after Close succeeded")
	}
}
