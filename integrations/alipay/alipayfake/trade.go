package alipayfake

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// Trade statuses (trade_status), as Alipay names them.
const (
	// StatusWaitBuyerPay is a trade created and not yet paid.
	StatusWaitBuyerPay = "WAIT_BUYER_PAY"
	// StatusSuccess is a paid trade that can still be refunded.
	StatusSuccess = "TRADE_SUCCESS"
	// StatusFinished is a paid trade past its refund period.
	StatusFinished = "TRADE_FINISHED"
	// StatusClosed is a trade closed unpaid, or paid and fully refunded.
	StatusClosed = "TRADE_CLOSED"
)

// Errors returned by the controls.
var (
	// ErrTradeNotFound means no trade has the given out_trade_no.
	ErrTradeNotFound = errors.New("alipayfake: trade not found")
	// ErrTradeState means the trade's status does not allow the control (paying a paid trade, say).
	ErrTradeState = errors.New("alipayfake: trade is not in a state that allows this")
	// ErrNoNotifyURL means the trade was created without notify_url, so nothing could be posted.
	ErrNoNotifyURL = errors.New("alipayfake: trade has no notify_url, nothing was notified")
	// ErrNotAcknowledged means the merchant never answered a notification with exactly "success".
	ErrNotAcknowledged = errors.New(`alipayfake: notification not acknowledged with "success"`)
)

// Trade is the fake's record of one trade (a copy; changing it changes nothing).
type Trade struct {
	TradeNo        string // Alipay's trade number (28 digits)
	OutTradeNo     string // the merchant's order number
	Status         string // StatusWaitBuyerPay, StatusSuccess, StatusFinished or StatusClosed
	TotalAmount    string // yuan, two decimals, as on the wire
	TotalFen       int64
	RefundedFen    int64 // cumulative (refund_fee)
	Subject, Body  string
	BuyerID        string // buyer_id (2088…), or
	BuyerOpenID    string // buyer_open_id
	SellerID       string
	ProductCode    string
	NotifyURL      string
	PassbackParams string
	Created        time.Time
	Paid           time.Time // zero until paid
	Closed         time.Time // zero until closed, finished or fully refunded
	Refunds        []Refund
	Deliveries     []Delivery // every notification attempt, oldest first
}

// Refund is one successful refund of a trade.
type Refund struct {
	OutRequestNo string // the merchant's refund request number (the out_trade_no when none was given)
	Amount       string // yuan
	AmountFen    int64
	Reason       string
	At           time.Time
}

// Delivery is one attempt to post a notification.
type Delivery struct {
	NotifyID    string
	TradeStatus string
	At          time.Time
	Status      int    // HTTP status, 0 if the request failed
	Reply       string // the body the merchant answered (capped)
	Err         string // transport error, if any
	Acked       bool   // 2xx and exactly "success"
}

func (t *Trade) clone() Trade {
	c := *t
	c.Refunds = append([]Refund(nil), t.Refunds...)
	c.Deliveries = append([]Delivery(nil), t.Deliveries...)
	return c
}

// Trade returns the trade with the merchant order number outTradeNo.
func (f *Fake) Trade(outTradeNo string) (Trade, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.trades[outTradeNo]
	if !ok {
		return Trade{}, false
	}
	return t.clone(), true
}

// lookup finds a trade by trade_no (which wins, as Alipay documents) or out_trade_no. f.mu must be held.
func (f *Fake) lookup(tradeNo, outTradeNo string) *Trade {
	if tradeNo != "" {
		if o, ok := f.tradeNos[tradeNo]; ok {
			return f.trades[o]
		}
		return nil
	}
	return f.trades[outTradeNo]
}

// newTradeNo returns a trade number shaped like Alipay's: date, "22001", 15 digits. f.mu must be held.
func (f *Fake) newTradeNo(now time.Time) string {
	f.seq++
	return fmt.Sprintf("%s22001%06d%09d", now.Format("20060102"), randomDigits(1_000_000), f.seq%1_000_000_000)
}

// newNotifyID returns a notify_id shaped like Alipay's (34 digits). f.mu must be held.
func (f *Fake) newNotifyID(now time.Time) string {
	f.seq++
	return fmt.Sprintf("%s01222%012d%09d", now.Format("20060102"), randomDigits(1_000_000_000_000), f.seq%1_000_000_000)
}

func randomDigits(limit int64) int64 {
	n, err := rand.Int(rand.Reader, big.NewInt(limit))
	if err != nil {
		panic(err)
	}
	return n.Int64()
}

// markPaid moves a WAIT_BUYER_PAY trade to TRADE_SUCCESS. f.mu must be held.
func (f *Fake) markPaid(outTradeNo string) (*Trade, error) {
	t, ok := f.trades[outTradeNo]
	if !ok {
		return nil, ErrTradeNotFound
	}
	if t.Status != StatusWaitBuyerPay {
		return nil, fmt.Errorf("%w: %s is %s", ErrTradeState, outTradeNo, t.Status)
	}
	t.Status = StatusSuccess
	t.Paid = f.clock()
	return t, nil
}

// Pay plays the buyer paying in the mini-program (my.tradePay): the trade becomes TRADE_SUCCESS and the
// trade_status_sync notification is posted to its notify_url, retried a few times until the merchant
// answers "success". The payment stands even if the notification is never acknowledged; Pay then
// returns an error wrapping ErrNotAcknowledged (or ErrNoNotifyURL).
func (f *Fake) Pay(ctx context.Context, outTradeNo string) error {
	f.mu.Lock()
	t, err := f.markPaid(outTradeNo)
	if err != nil {
		f.mu.Unlock()
		return err
	}
	n, err := f.notification(t, nil, nil)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.deliver(ctx, n)
}

// PayQuietly plays a payment whose notification is lost: TRADE_SUCCESS, nothing posted. The merchant
// finds out only by querying.
func (f *Fake) PayQuietly(outTradeNo string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, err := f.markPaid(outTradeNo)
	return err
}

// Finish plays the end of the refund period: a TRADE_SUCCESS trade (refunded in part or not at all)
// becomes TRADE_FINISHED and a notification with gmt_close is posted, as Pay posts one.
func (f *Fake) Finish(ctx context.Context, outTradeNo string) error {
	f.mu.Lock()
	t, ok := f.trades[outTradeNo]
	if !ok {
		f.mu.Unlock()
		return ErrTradeNotFound
	}
	if t.Status != StatusSuccess {
		f.mu.Unlock()
		return fmt.Errorf("%w: %s is %s", ErrTradeState, outTradeNo, t.Status)
	}
	t.Status = StatusFinished
	t.Closed = f.clock()
	n, err := f.notification(t, nil, nil)
	f.mu.Unlock()
	if err != nil {
		return err
	}
	return f.deliver(ctx, n)
}

// Notification returns the signed form the gateway would post for the trade as it stands now (with the
// last refund's fields if it was refunded), with extra merged in before signing: a non-empty value sets
// a parameter, an empty one removes it. Use it to replay or tamper with notifications.
func (f *Fake) Notification(outTradeNo string, extra map[string]string) (url.Values, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t, ok := f.trades[outTradeNo]
	if !ok {
		return nil, ErrTradeNotFound
	}
	var last *Refund
	if len(t.Refunds) > 0 {
		last = &t.Refunds[len(t.Refunds)-1]
	}
	n, err := f.notification(t, last, extra)
	if err != nil {
		return nil, err
	}
	return n.form, nil
}

// SignForm signs arbitrary notification parameters as Alipay does: it returns a copy of v (one value per
// key) with sign_type=RSA2 unless v sets one, and sign = RSA2 by Alipay's key over every parameter but
// sign and sign_type, sorted, joined as k=v with "&".
func (f *Fake) SignForm(v url.Values) (url.Values, error) {
	return signForm(f.keys.AlipayKey, v)
}

func signForm(key *rsa.PrivateKey, v url.Values) (url.Values, error) {
	if key == nil {
		return nil, errors.New("alipayfake: no Alipay key to sign with")
	}
	out := url.Values{}
	for k, vals := range v {
		if len(vals) > 0 && k != "sign" {
			out.Set(k, vals[0])
		}
	}
	if out.Get("sign_type") == "" {
		out.Set("sign_type", "RSA2")
	}
	sign, err := rsa2Sign(key, []byte(notifySignContent(out)))
	if err != nil {
		return nil, err
	}
	out.Set("sign", sign)
	return out, nil
}
