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
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
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

// Trade states (sandbox_trades.status).
const (
	tradeOpen   = "open"   // paid once its PaidAt has come
	tradePaid   = "paid"   // paid, its notification sent at least once
	tradeClosed = "closed" // closed before the shopper paid
)

// MaxNotifyAttempts is how often the sandbox sends a notification the hub does not acknowledge before it
// gives up; the hub's payment reconciler still finds the payment by QueryPayment.
const MaxNotifyAttempts = 15

// maxNotifyDelay caps the growing delay between two attempts of one notification.
const maxNotifyDelay = 10 * time.Minute

// PollInterval is how often an idle gateway looks for due notifications, including those another
// process left behind. A prepay in this process wakes it at once.
const PollInterval = time.Second

// notifyBatch is how many due notifications one sweep claims.
const notifyBatch = 20

// ErrPaid is returned by ClosePayment for a trade the shopper already paid.
var ErrPaid = errors.New("sandbox trade is paid and cannot be closed")

// Gateway is the sandbox payment provider behind core.PaymentGateway. Its trades live in the database,
// and its sweep (started by NewGateway, stopped by Close) sends the notifications they owe.
type Gateway struct {
	env    domain.Env
	secret []byte
	client *http.Client
	delay  time.Duration
	kick   chan struct{}

	mu     sync.Mutex
	closed bool
	wg     sync.WaitGroup
	ctx    context.Context
	cancel context.CancelFunc
}

var (
	_ core.PaymentGateway = (*Gateway)(nil)
	_ core.PaymentChecker = (*Gateway)(nil)
	_ core.Refunder       = (*Gateway)(nil)
)

// NewGateway returns a sandbox gateway keeping its trades in db, whose simulated shopper pays delay after
// each prepay, and starts its notification sweep, which runs until Close.
func NewGateway(db *models.DB, secret string, delay time.Duration, log *slog.Logger) *Gateway {
	g := newGateway(db, secret, delay, log)
	g.wg.Add(1)
	go g.run()
	return g
}

// newGateway returns a gateway without its sweep: tests run DeliverDue themselves.
func newGateway(db *models.DB, secret string, delay time.Duration, log *slog.Logger) *Gateway {
	ctx, cancel := context.WithCancel(context.Background())
	return &Gateway{env: domain.NewEnv(db, nil, log), secret: []byte(secret), client: &http.Client{Timeout: 10 * time.Second},
		delay: delay, kick: make(chan struct{}, 1), ctx: ctx, cancel: cancel}
}

// Provider returns "sandbox".
func (g *Gateway) Provider() string { return Provider }

// Prepay opens the order's trade (or returns the open one again), paid by the simulated shopper after
// the gateway's delay, and owes the hub its notification from then on.
func (g *Gateway) Prepay(ctx context.Context, req core.PrepayRequest) (core.PrepayResult, error) {
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	if closed {
		return core.PrepayResult{}, errors.New("sandbox gateway is shut down")
	}
	if req.OrderNo == "" || req.AmountFen <= 0 || req.NotifyURL == "" {
		return core.PrepayResult{}, fmt.Errorf("sandbox prepay: order_no, a positive amount_fen and notify_url are required")
	}
	ctx, done := detach(ctx)
	defer done()
	now := g.env.Now()
	paidAt := now.Add(g.delay)
	t := models.SandboxTrade{OrderNo: req.OrderNo, TransactionID: TransactionID(req.OrderNo), AmountFen: req.AmountFen, Status: tradeOpen,
		PaidAt: paidAt, NotifyURL: req.NotifyURL, NotifyDueAt: &paidAt, CreatedAt: now, UpdatedAt: now}
	err := g.env.DB.Conn(ctx).Create(&t).Error
	if models.IsDuplicate(err) { // a prepay again: the same trade, as long as it can still be paid
		if err = g.env.DB.Conn(ctx).Where("order_no = ?", req.OrderNo).Take(&t).Error; err == nil {
			switch {
			case t.Status == tradeClosed:
				err = fmt.Errorf("sandbox prepay: the trade of order %s is closed", req.OrderNo)
			case t.AmountFen != req.AmountFen:
				err = fmt.Errorf("sandbox prepay: order %s was prepaid for %d fen, not %d", req.OrderNo, t.AmountFen, req.AmountFen)
			}
		}
	}
	if err != nil {
		return core.PrepayResult{}, err
	}
	g.wake()
	return core.PrepayResult{PrepayID: t.TransactionID, Params: map[string]any{"sandbox_transaction": t.TransactionID, "amount_fen": t.AmountFen,
		"message": "the sandbox shopper pays at once; the notification follows"}}, nil
}

// QueryPayment answers from the order's trade: paid (with its amount and time) once the simulated
// shopper paid, closed if it was closed first, neither before or when the sandbox has no such trade.
func (g *Gateway) QueryPayment(ctx context.Context, orderNo string) (core.PaymentState, error) {
	ctx, done := detach(ctx)
	defer done()
	var t models.SandboxTrade
	err := g.env.DB.Conn(ctx).Where("order_no = ?", orderNo).Take(&t).Error
	switch {
	case models.IsNotFound(err):
		return core.PaymentState{}, nil
	case err != nil:
		return core.PaymentState{}, fmt.Errorf("sandbox query %s: %w", orderNo, err)
	case t.Status == tradeClosed:
		return core.PaymentState{Closed: true}, nil
	case t.Status == tradePaid || !g.env.Now().Before(t.PaidAt):
		return core.PaymentState{Paid: true, Payment: paymentOf(t)}, nil
	}
	return core.PaymentState{}, nil
}

// ClosePayment closes the order's trade before the shopper pays, which stops its notification. Closing a
// closed or unknown trade does nothing; a paid trade cannot be closed (ErrPaid).
func (g *Gateway) ClosePayment(ctx context.Context, orderNo string) error {
	ctx, done := detach(ctx)
	defer done()
	now := g.env.Now()
	res := g.env.DB.Conn(ctx).Model(&models.SandboxTrade{}).Where("order_no = ? AND status = ? AND paid_at > ?", orderNo, tradeOpen, now).
		Updates(map[string]any{"status": tradeClosed, "notify_due_at": nil, "updated_at": now})
	if res.Error != nil || res.RowsAffected == 1 {
		return res.Error
	}
	var t models.SandboxTrade
	err := g.env.DB.Conn(ctx).Where("order_no = ?", orderNo).Take(&t).Error
	switch {
	case models.IsNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("sandbox close %s: %w", orderNo, err)
	case t.Status == tradeClosed:
		return nil
	}
	return fmt.Errorf("order %s: %w", orderNo, ErrPaid)
}

// DeliverDue sends up to limit due notifications, each claimed with a lease so that replicas send it
// once: a notification the hub acknowledges is done; another is tried again later, with a growing delay,
// until MaxNotifyAttempts. It returns how many it claimed.
func (g *Gateway) DeliverDue(ctx context.Context, limit int) (int, error) {
	due, lease, err := domain.ClaimDue(ctx, g.env, func(q *gorm.DB) *gorm.DB { return q.Where("status IN ?", []string{tradeOpen, tradePaid}) },
		"notify_due_at", "notify_attempts", limit, func(t *models.SandboxTrade) int64 { t.NotifyAttempts++; return t.ID })
	if err != nil {
		return 0, err
	}
	defer lease.Release()
	var errs []error
	for _, t := range due {
		errs = append(errs, g.deliver(ctx, t))
	}
	return len(due), errors.Join(errs...)
}

func (g *Gateway) deliver(ctx context.Context, t models.SandboxTrade) error {
	n := Notification{ID: newID(), OrderNo: t.OrderNo, TransactionID: t.TransactionID, AmountFen: t.AmountFen, PaidAt: t.PaidAt.UTC(), Status: "SUCCESS"}
	_, err := Send(ctx, g.client, t.NotifyURL, g.secret, n, time.Now())
	if ctx.Err() != nil {
		return nil // stopping: the lease runs out and the next sweep, here or elsewhere, sends it
	}
	now := g.env.Now()
	set := map[string]any{"status": tradePaid, "updated_at": now}
	switch {
	case err == nil:
		set["notify_due_at"], set["notified_at"], set["last_error"] = nil, now, ""
	case t.NotifyAttempts >= MaxNotifyAttempts:
		set["notify_due_at"], set["last_error"] = nil, err.Error()
		g.env.Log.WarnContext(ctx, "sandbox notification given up; the hub's reconciler finds the payment by query", "order_no", t.OrderNo,
			"attempts", t.NotifyAttempts, "err", err)
	default:
		wait := min(time.Second<<min(t.NotifyAttempts-1, 10), maxNotifyDelay)
		set["notify_due_at"], set["last_error"] = now.Add(wait), err.Error()
		g.env.Log.WarnContext(ctx, "sandbox notification failed; will retry", "order_no", t.OrderNo, "attempt", t.NotifyAttempts, "retry_in", wait, "err", err)
	}
	return g.env.DB.Conn(ctx).Model(&models.SandboxTrade{}).Where("id = ? AND status <> ?", t.ID, tradeClosed).Updates(set).Error
}

// run sweeps due notifications until Close: at once after a prepay here, when the next one known falls
// due, and at least every PollInterval for those other processes left.
func (g *Gateway) run() {
	defer g.wg.Done()
	for {
		n, err := g.DeliverDue(g.ctx, notifyBatch)
		if err != nil && g.ctx.Err() == nil {
			g.env.Log.Warn("sandbox notification sweep failed", "err", err)
		}
		if g.ctx.Err() != nil {
			return
		}
		if n == notifyBatch && err == nil {
			continue
		}
		wait := PollInterval
		var next models.SandboxTrade
		if err == nil && g.env.DB.Conn(g.ctx).Select("id", "notify_due_at").Where("status IN ? AND notify_due_at IS NOT NULL", []string{tradeOpen, tradePaid}).
			Order("notify_due_at").Limit(1).Find(&next).Error == nil && next.NotifyDueAt != nil {
			wait = min(max(next.NotifyDueAt.Sub(g.env.Now()), 10*time.Millisecond), PollInterval)
		}
		timer := time.NewTimer(wait)
		select {
		case <-g.ctx.Done():
			timer.Stop()
			return
		case <-g.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// wake makes the sweep look at once.
func (g *Gateway) wake() {
	select {
	case g.kick <- struct{}{}:
	default:
	}
}

// Refund returns the money of a sandbox payment at once, as a provider with synchronous refunds does, and
// records it once per refund number: a refund submitted again is the same refund. The refunds of a trade
// may not exceed its amount. A payment the sandbox has no trade for (one sent by `o2ohub simulate`) is
// refunded within the amount the hub gives.
func (g *Gateway) Refund(ctx context.Context, req core.RefundRequest) (core.RefundResult, error) {
	if req.TransactionID != TransactionID(req.OrderNo) || req.AmountFen <= 0 || req.AmountFen > req.TotalFen {
		return core.RefundResult{}, fmt.Errorf("sandbox refund %s: no such payment of %d fen", req.RefundNo, req.AmountFen)
	}
	ctx, done := detach(ctx)
	defer done()
	done2 := core.RefundResult{Outcome: core.RefundDone, ProviderRefundID: "SBX" + req.RefundNo}
	err := g.env.DB.Tx(ctx, func(ctx context.Context) error {
		conn := g.env.DB.Conn(ctx)
		var t models.SandboxTrade
		err := conn.Clauses(models.ForUpdate()).Where("order_no = ?", req.OrderNo).Take(&t).Error
		if err != nil && !models.IsNotFound(err) {
			return err
		}
		known := err == nil
		var prev models.SandboxRefund
		switch err := conn.Where("refund_no = ?", req.RefundNo).Take(&prev).Error; {
		case err == nil:
			if prev.OrderNo != req.OrderNo || prev.AmountFen != req.AmountFen {
				return fmt.Errorf("sandbox refund %s was made for %d fen of order %s", req.RefundNo, prev.AmountFen, prev.OrderNo)
			}
			return nil // made already
		case !models.IsNotFound(err):
			return err
		}
		if known && t.RefundedFen+req.AmountFen > t.AmountFen {
			return fmt.Errorf("sandbox refund %s: %d fen would exceed the %d fen paid (%d refunded)", req.RefundNo, req.AmountFen, t.AmountFen, t.RefundedFen)
		}
		now := g.env.Now()
		if err := conn.Create(&models.SandboxRefund{RefundNo: req.RefundNo, OrderNo: req.OrderNo, AmountFen: req.AmountFen, CreatedAt: now}).Error; err != nil {
			return err
		}
		if !known {
			return nil
		}
		return conn.Model(&models.SandboxTrade{}).Where("id = ?", t.ID).
			Updates(map[string]any{"refunded_fen": gorm.Expr("refunded_fen + ?", req.AmountFen), "updated_at": now}).Error
	})
	if err != nil {
		return core.RefundResult{}, fmt.Errorf("sandbox refund %s: %w", req.RefundNo, err)
	}
	return done2, nil
}

// Close stops the notification sweep and waits for it; the notifications still owed stay in the
// database for the next process. A closed gateway takes no prepay.
func (g *Gateway) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.cancel()
	g.wg.Wait()
}

// paymentOf is a paid trade's payment as its notification carries it.
func paymentOf(t models.SandboxTrade) core.PaymentNotification {
	return core.PaymentNotification{Provider: Provider, OrderNo: t.OrderNo, TransactionID: t.TransactionID, AmountFen: t.AmountFen, PaidAt: t.PaidAt.UTC()}
}

// detach returns a context that ends with ctx but carries none of its values: the sandbox is another
// party, whose writes never join a transaction of the hub that ctx may carry.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	c, cancel := context.WithCancel(context.Background())
	stop := context.AfterFunc(ctx, cancel)
	return c, func() { stop(); cancel() }
}

func newID() string {
	b := make([]byte, 12)
	rand.Read(b)
	return "sbx_evt_" + hex.EncodeToString(b)
}
