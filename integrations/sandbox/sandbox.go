// Package sandbox is the built-in simulated payment provider. Its gateway answers prepay requests like a
// real provider and, like a shopper who pays at once, shortly afterwards posts a notification signed with
// HMAC-SHA256 to the hub's /webhooks/sandbox, which goes through the same core path as a real provider's.
//
// Wire format: a JSON body {"id","order_no","transaction_id","amount_fen","paid_at","status":"SUCCESS"},
// headers Sandbox-Timestamp (Unix seconds) and Sandbox-Signature: "v1=" + hex HMAC-SHA256(secret,
// timestamp + "." + body). A receiver rejects a timestamp more than five minutes off.
package sandbox

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/core"
)

// Provider is the sandbox provider's name.
const Provider = "sandbox"

// Header names of a sandbox notification.
const (
	HeaderTimestamp = "Sandbox-Timestamp"
	HeaderSignature = "Sandbox-Signature"
)

// Tolerance is how far a notification's timestamp may be from the receiver's clock.
const Tolerance = 5 * time.Minute

// Notification is the body of a sandbox payment notification.
type Notification struct {
	ID            string    `json:"id"`
	OrderNo       string    `json:"order_no"`
	TransactionID string    `json:"transaction_id"`
	AmountFen     int64     `json:"amount_fen"`
	PaidAt        time.Time `json:"paid_at"`
	Status        string    `json:"status"`
}

// Errors of notification verification.
var (
	ErrNoSignature  = errors.New("sandbox notification is not signed")
	ErrBadSignature = errors.New("sandbox notification signature does not match")
	ErrStale        = errors.New("sandbox notification timestamp is outside the tolerance")
	ErrMalformed    = errors.New("sandbox notification body is malformed")
)

// Sign returns the Sandbox-Signature header value for body sent at ts.
func Sign(secret []byte, ts int64, body []byte) string {
	m := hmac.New(sha256.New, secret)
	fmt.Fprintf(m, "%d.", ts)
	m.Write(body)
	return "v1=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a notification's signature over its raw body and its timestamp against now, then parses
// it into core's normalised form. It never trusts the body before the signature matches. The body must be
// one JSON object (nothing after it) with every field of a successful payment, paid_at included.
func Verify(secret []byte, header http.Header, body []byte, now time.Time) (core.PaymentNotification, error) {
	tsRaw, sig := header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if tsRaw == "" || sig == "" {
		return core.PaymentNotification{}, ErrNoSignature
	}
	ts, err := strconv.ParseInt(tsRaw, 10, 64)
	if err != nil {
		return core.PaymentNotification{}, ErrNoSignature
	}
	if !hmac.Equal([]byte(sig), []byte(Sign(secret, ts, body))) {
		return core.PaymentNotification{}, ErrBadSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > Tolerance || d < -Tolerance {
		return core.PaymentNotification{}, ErrStale
	}
	var n Notification
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&n); err != nil || dec.Decode(&struct{}{}) != io.EOF || n.Status != "SUCCESS" || n.OrderNo == "" ||
		n.TransactionID == "" || n.AmountFen <= 0 || n.PaidAt.IsZero() {
		return core.PaymentNotification{}, ErrMalformed
	}
	return core.PaymentNotification{Provider: Provider, OrderNo: n.OrderNo, TransactionID: n.TransactionID, AmountFen: n.AmountFen, PaidAt: n.PaidAt}, nil
}

// TransactionID is the sandbox transaction of an order: one per order, so a repeated prepay or a re-sent
// notification is the same payment.
func TransactionID(orderNo string) string { return "SBX" + orderNo }

// Send posts a signed notification to url and returns the hub's reply, or an error unless it answers 2xx.
func Send(ctx context.Context, client *http.Client, url string, secret []byte, n Notification, now time.Time) (string, error) {
	body, err := json.Marshal(n)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
	req.Header.Set(HeaderSignature, Sign(secret, now.Unix(), body))
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	reply := strings.TrimSpace(string(raw))
	if resp.StatusCode/100 != 2 {
		return reply, fmt.Errorf("hub answered %s: %s", resp.Status, reply)
	}
	return reply, nil
}

// Gateway is the sandbox payment provider behind core.PaymentGateway.
type Gateway struct {
	secret []byte
	client *http.Client
	delay  time.Duration
	log    *slog.Logger

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

var (
	_ core.PaymentGateway = (*Gateway)(nil)
	_ core.Refunder       = (*Gateway)(nil)
)

// NewGateway returns a sandbox gateway that notifies delay after each prepay, retrying a few times.
func NewGateway(secret string, delay time.Duration, log *slog.Logger) *Gateway {
	ctx, cancel := context.WithCancel(context.Background())
	return &Gateway{secret: []byte(secret), client: &http.Client{Timeout: 10 * time.Second}, delay: delay, log: log, ctx: ctx, cancel: cancel}
}

// Provider returns "sandbox".
func (g *Gateway) Provider() string { return Provider }

// Prepay accepts the payment and schedules the shopper's simulated payment notification.
func (g *Gateway) Prepay(ctx context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return core.PrepayResult{}, errors.New("sandbox gateway is shut down")
	}
	txn := TransactionID(req.OrderNo)
	n := Notification{ID: newID(), OrderNo: req.OrderNo, TransactionID: txn, AmountFen: req.AmountFen, Status: "SUCCESS"}
	g.wg.Add(1)
	go g.notify(req.NotifyURL, n)
	return core.PrepayResult{PrepayID: txn, Params: map[string]any{"sandbox_transaction": txn, "amount_fen": req.AmountFen,
		"message": "the sandbox shopper pays at once; the notification follows"}}, nil
}

func (g *Gateway) notify(url string, n Notification) {
	defer g.wg.Done()
	wait := g.delay
	for attempt := 1; attempt <= 5; attempt++ {
		select {
		case <-g.ctx.Done():
			return
		case <-time.After(wait):
		}
		now := time.Now()
		n.PaidAt = now.UTC()
		_, err := Send(g.ctx, g.client, url, g.secret, n, now)
		if err == nil {
			return
		}
		g.log.Warn("sandbox notification failed", "order_no", n.OrderNo, "attempt", attempt, "err", err)
		wait = time.Duration(attempt) * time.Second
	}
}

// Refund returns the money of a sandbox payment at once, as a provider with synchronous refunds does.
func (g *Gateway) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	if req.TransactionID != TransactionID(req.OrderNo) || req.AmountFen <= 0 || req.AmountFen > req.TotalFen {
		return core.RefundResult{}, fmt.Errorf("sandbox refund %s: no such payment of %d fen", req.RefundNo, req.AmountFen)
	}
	return core.RefundResult{Outcome: core.RefundDone, ProviderRefundID: "SBX" + req.RefundNo}, nil
}

// Close stops pending notifications and waits for those in flight.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "sbx_evt_" + hex.EncodeToString(b)
}
