package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/integrations/alipay"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/integrations/wechat"
)

// MaxWebhookBody is the largest provider notification accepted; real ones are a few kilobytes.
const MaxWebhookBody = 64 << 10

// notificationVerifier verifies one provider's notification over the raw bytes it arrived as (signature,
// timestamp window, that it is for us) and normalises it into core's terms. Its errors carry a kind of
// the error table: ErrUnauthenticated when the provider did not send it (bad or missing signature, stale
// timestamp: 401), ErrInvalidArgument when it did but the notification is malformed or for another
// merchant (400), and no kind when we failed with a genuine notification (our key cannot open it: 500,
// so the provider retries). Nothing in the body may be trusted before the signature verifies.
type notificationVerifier interface {
	verifyNotification(ctx context.Context, header http.Header, body []byte) (notice, error)
}

// notice is a verified notification in core's terms: a payment, a refund's outcome, or an event the hub
// does not act on (both nil).
type notice struct {
	Payment *core.PaymentNotification
	Refund  *core.RefundNotice
	// Attrs name the notification in our log (the provider's id, event …), as key-value pairs.
	Attrs []any
}

// webhookReplier answers one provider in its own exact format.
type webhookReplier interface {
	// ok acknowledges a notification core applied, or chose to ignore, with core's result.
	ok(c *gin.Context, result any)
	// fail refuses a notification with status; err says why (a provider that shows reasons gets err's
	// message, and none for a 500, whose error stays in our log).
	fail(c *gin.Context, status int, err error)
}

// webhookDoor is one provider's side of the webhook door.
type webhookDoor struct {
	// name is the provider's name in the log: "wechatpay", "alipay", "sandbox".
	name string
	// verifier is nil when the provider is not configured on this hub; off says so.
	verifier notificationVerifier
	off      string
	reply    webhookReplier
}

// webhookBody reads a notification's raw body, capped at MaxWebhookBody; on failure it gives the status
// and the error (a kind of the error table) to answer with.
func webhookBody(c *gin.Context) ([]byte, int, error) {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, MaxWebhookBody))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, http.StatusRequestEntityTooLarge, kindError(errTooLarge, "notification body too large")
	case err != nil:
		return nil, http.StatusBadRequest, kindError(domain.ErrInvalidArgument, "could not read the notification body")
	}
	return body, http.StatusOK, nil
}

// webhook is the one door every provider's notification comes in by: the raw body is read first
// (capped), verified and normalised by the provider's verifier, then handed to core, which applies each
// payment or refund once. A refused notification changes nothing; its status comes from the error
// table. When we fail, the answer is 500 so that the provider retries.
func (h *api) webhook(d webhookDoor) gin.HandlerFunc {
	return func(c *gin.Context) {
		ctx := c.Request.Context()
		if d.verifier == nil {
			d.reply.fail(c, http.StatusNotFound, kindError(domain.ErrNotFound, d.off))
			return
		}
		body, status, err := webhookBody(c)
		if err != nil {
			d.reply.fail(c, status, err)
			return
		}
		n, err := d.verifier.verifyNotification(ctx, c.Request.Header, body)
		if err != nil {
			k, known := kindOf(err)
			switch {
			case !known:
				logger(c).ErrorContext(ctx, d.name+" notification verified but not readable by us", "err", err)
			case k.status == http.StatusUnauthorized:
				logger(c).WarnContext(ctx, d.name+" notification rejected", "err", err)
			default:
				logger(c).ErrorContext(ctx, d.name+" notification refused", "err", err)
			}
			countNotification(d.name, "refused")
			d.reply.fail(c, k.status, err)
			return
		}
		var result any = "ignored"
		switch {
		case n.Payment != nil:
			result, err = h.Service.ApplyPayment(ctx, *n.Payment)
		case n.Refund != nil:
			result, err = h.Service.CompleteRefund(ctx, *n.Refund)
		}
		if err != nil {
			logger(c).ErrorContext(ctx, d.name+" notification not applied", append(n.Attrs, "err", err)...)
			countNotification(d.name, "failed")
			d.reply.fail(c, http.StatusInternalServerError, err)
			return
		}
		logger(c).InfoContext(ctx, d.name+" notification", append(n.Attrs, "result", result)...)
		countNotification(d.name, fmt.Sprint(result))
		d.reply.ok(c, result)
	}
}

// notificationError gives a provider's verification error its kind in the error table, keeping its text.
func notificationError(kind, err error) error { return &domain.Error{Kind: kind, Msg: err.Error()} }

// ---------------------------------------------------------------------------------------------------
// WeChat Pay
// ---------------------------------------------------------------------------------------------------

// wechatPayDoor receives WeChat Pay's notifications; pay is nil when WeChat Pay is not configured.
func wechatPayDoor(pay *wechat.Pay) webhookDoor {
	d := webhookDoor{name: "wechatpay", off: "WeChat Pay is not configured on this hub", reply: wechatPayReply{}}
	if pay != nil {
		d.verifier = wechatPayVerifier{pay}
	}
	return d
}

// wechatPayVerifier verifies and decrypts WeChat Pay's notifications.
type wechatPayVerifier struct{ pay *wechat.Pay }

func (v wechatPayVerifier) verifyNotification(ctx context.Context, header http.Header, body []byte) (notice, error) {
	n, err := v.pay.ParseNotification(ctx, header, body)
	switch {
	case errors.Is(err, wechat.ErrDecrypt):
		// The signature verified, so WeChat Pay sent it: our APIv3 key is wrong, and we failed.
		return notice{}, fmt.Errorf("wechatpay notification signed by WeChat Pay does not decrypt with our APIv3 key: %w", err)
	case errors.Is(err, wechat.ErrMalformed), errors.Is(err, wechat.ErrForeign):
		return notice{}, notificationError(domain.ErrInvalidArgument, err)
	case err != nil:
		return notice{}, notificationError(domain.ErrUnauthenticated, err)
	}
	return notice{Payment: n.Payment, Refund: n.Refund, Attrs: []any{"id", n.ID, "event", n.EventType}}, nil
}

// wechatPayReply answers WeChat Pay: 204 to acknowledge, and its error format {"code":"FAIL","message"}
// with the status otherwise; WeChat retries after any non-2xx answer.
type wechatPayReply struct{}

func (wechatPayReply) ok(c *gin.Context, _ any) { c.Status(http.StatusNoContent) }

func (wechatPayReply) fail(c *gin.Context, status int, err error) {
	msg := err.Error()
	if status >= http.StatusInternalServerError {
		msg = "temporarily unable to process the notification"
	}
	c.AbortWithStatusJSON(status, gin.H{"code": "FAIL", "message": msg})
}

// ---------------------------------------------------------------------------------------------------
// Alipay
// ---------------------------------------------------------------------------------------------------

// alipayDoor receives Alipay's trade_status_sync notifications; client is nil when Alipay is not
// configured.
func alipayDoor(client *alipay.Client) webhookDoor {
	d := webhookDoor{name: "alipay", off: "Alipay is not configured on this hub", reply: alipayReply{}}
	if client != nil {
		d.verifier = alipayVerifier{client}
	}
	return d
}

// alipayVerifier verifies Alipay's notifications. The form is read from the body alone: a parameter
// added to the URL is not covered by Alipay's signature.
type alipayVerifier struct{ client *alipay.Client }

func (v alipayVerifier) verifyNotification(_ context.Context, _ http.Header, body []byte) (notice, error) {
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return notice{}, notificationError(domain.ErrInvalidArgument, fmt.Errorf("alipay notification is not a form: %w", err))
	}
	n, err := v.client.ParseNotification(form)
	switch {
	case errors.Is(err, alipay.ErrMalformed), errors.Is(err, alipay.ErrForeign):
		return notice{}, notificationError(domain.ErrInvalidArgument, err)
	case err != nil:
		return notice{}, notificationError(domain.ErrUnauthenticated, err)
	}
	return notice{Payment: n.Payment, Refund: n.Refund, Attrs: []any{"notify_id", n.ID, "order_no", n.OrderNo, "trade_status", n.TradeStatus}}, nil
}

// alipayReply answers Alipay: exactly "success" stops its retries, anything else makes it try again. The
// reason of a "fail" is for our log, not for Alipay.
type alipayReply struct{}

func (alipayReply) ok(c *gin.Context, _ any) { alipayText(c, http.StatusOK, "success") }

func (alipayReply) fail(c *gin.Context, status int, _ error) { alipayText(c, status, "fail") }

func alipayText(c *gin.Context, status int, body string) {
	c.Data(status, "text/plain; charset=utf-8", []byte(body))
	c.Abort()
}

// ---------------------------------------------------------------------------------------------------
// Sandbox
// ---------------------------------------------------------------------------------------------------

// sandboxDoor receives the sandbox provider's payment notifications, signed with secret.
func sandboxDoor(secret string, clock domain.Clock) webhookDoor {
	return webhookDoor{name: "sandbox", verifier: sandboxVerifier{secret: []byte(secret), now: clock.Now}, reply: sandboxReply{}}
}

// sandboxVerifier checks a sandbox notification's signature and timestamp over its raw body.
type sandboxVerifier struct {
	secret []byte
	now    func() time.Time
}

func (v sandboxVerifier) verifyNotification(_ context.Context, header http.Header, body []byte) (notice, error) {
	n, err := sandbox.Verify(v.secret, header, body, v.now())
	switch {
	case errors.Is(err, sandbox.ErrMalformed):
		return notice{}, notificationError(domain.ErrInvalidArgument, err)
	case err != nil:
		return notice{}, notificationError(domain.ErrUnauthenticated, err)
	}
	return notice{Payment: &n, Attrs: []any{"order_no", n.OrderNo, "transaction_id", n.TransactionID}}, nil
}

// sandboxReply answers the sandbox provider like the JSON API: {"result": …} to acknowledge, its error
// body otherwise.
type sandboxReply struct{}

func (sandboxReply) ok(c *gin.Context, result any) { c.JSON(http.StatusOK, gin.H{"result": result}) }

func (sandboxReply) fail(c *gin.Context, status int, err error) {
	if status >= http.StatusInternalServerError { // logged by the door; no internals reach the client
		abort(c, status, internalError.code, "internal error")
		return
	}
	respondError(c, err)
}
