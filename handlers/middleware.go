package handlers

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/text"
)

// MaxJSONBody is the largest JSON request body accepted.
const MaxJSONBody = 1 << 20

type ctxKey int

const (
	requestIDKey ctxKey = iota
)

// ContextLogHandler wraps a slog handler so that every record logged with a request's context carries
// that request's id, including the lines core logs.
func ContextLogHandler(h slog.Handler) slog.Handler { return ctxHandler{h} }

type ctxHandler struct{ slog.Handler }

// Handle adds the request id carried by ctx, if any, and passes the record on.
func (h ctxHandler) Handle(ctx context.Context, r slog.Record) error {
	if id, ok := ctx.Value(requestIDKey).(string); ok {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the request-id behaviour on the derived handler.
func (h ctxHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return ctxHandler{h.Handler.WithAttrs(as)}
}

// WithGroup keeps the request-id behaviour on the derived handler.
func (h ctxHandler) WithGroup(name string) slog.Handler { return ctxHandler{h.Handler.WithGroup(name)} }

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// requestLog gives every request an id (the caller's X-Request-Id when it is sane), carried in the
// request's context so that ContextLogHandler adds it to every line logged with it, and logs the request
// when it ends.
func requestLog(base *slog.Logger) gin.HandlerFunc {
	return func(c *gin.Context) {
		id := c.GetHeader("X-Request-Id")
		if !requestIDPattern.MatchString(id) {
			b := make([]byte, 8)
			rand.Read(b)
			id = hex.EncodeToString(b)
		}
		c.Header("X-Request-Id", id)
		c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestIDKey, id))
		c.Set("log", base)
		start := time.Now()
		c.Next()
		base.InfoContext(c.Request.Context(), "request", "method", c.Request.Method, "path", c.FullPath(),
			"status", c.Writer.Status(), "duration_ms", time.Since(start).Milliseconds())
	}
}

// logger returns the request's logger; lines logged with the request's context carry its id.
func logger(c *gin.Context) *slog.Logger {
	if l, ok := c.Value("log").(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// recoverJSON turns a panic into a logged 500 without a stack trace in the response.
func recoverJSON() gin.HandlerFunc {
	return func(c *gin.Context) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				if r == errNoActor { // a route without its auth middleware: refused, never run as anyone
					logger(c).ErrorContext(c.Request.Context(), "request refused: its route sets no actor (auth middleware missing?)", "path", c.FullPath())
					c.Header("WWW-Authenticate", `Bearer realm="o2ohub-store"`)
					respondError(c, errNoActor)
					return
				}
				logger(c).ErrorContext(c.Request.Context(), "panic", "panic", fmt.Sprint(r))
				abort(c, http.StatusInternalServerError, "internal", "internal error")
			}
		}()
		c.Next()
	}
}

func bearer(c *gin.Context) string {
	h := c.GetHeader("Authorization")
	if len(h) > 7 && strings.EqualFold(h[:7], "Bearer ") {
		return strings.TrimSpace(h[7:])
	}
	return ""
}

// adminAuth admits requests that carry the admin bearer token; with no token configured the admin API
// is off. Every presented token spends an attempt of the client address's adminFail budget first (so
// guesses sent at once cannot slip past it, on any replica), and the right token gives it back: only
// wrong tokens count. A limited address waits even with the right token, so a guesser learns nothing.
// A request without a token guesses nothing and is refused without counting. The comparison is of
// SHA-256 digests, in constant time whatever the lengths.
func adminAuth(token string, fails *limits.Limit) gin.HandlerFunc {
	want := sha256.Sum256([]byte(token))
	return func(c *gin.Context) {
		if token == "" {
			respondError(c, kindError(domain.ErrForbidden, "the admin API is disabled: set O2OHUB_ADMIN_TOKEN"))
			return
		}
		got := bearer(c)
		if got == "" {
			c.Header("WWW-Authenticate", `Bearer realm="o2ohub-admin"`)
			respondError(c, kindError(domain.ErrUnauthenticated, "admin bearer token required"))
			return
		}
		ctx, addr := c.Request.Context(), clientAddress(c)
		wait, err := fails.Take(ctx, addr)
		if err != nil {
			respondError(c, err)
			return
		}
		if limited(c, wait, "too many wrong admin tokens from this address") {
			return
		}
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			c.Header("WWW-Authenticate", `Bearer realm="o2ohub-admin"`)
			respondError(c, kindError(domain.ErrUnauthenticated, "admin bearer token required"))
			return
		}
		if err := fails.Give(ctx, addr); err != nil {
			respondError(c, err)
			return
		}
		c.Set("actor", staff.AdminTokenActor)
		c.Next()
	}
}

// memberAuth admits requests that carry a valid shopper session token.
func memberAuth(svc *core.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		id, err := svc.Members.Authenticate(c.Request.Context(), bearer(c))
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="o2ohub"`)
			respondError(c, err)
			return
		}
		c.Set("member", id)
		c.Next()
	}
}

func memberID(c *gin.Context) int64 { return c.GetInt64("member") }

// staffAuth admits requests that carry a store API token from /api/v1/store/login; the staff member
// (a staff.Actor) goes into the context under "actor". A console session cookie is not a store API token,
// and a store API token does not open the console: core checks the session kind.
func staffAuth(svc *core.Service) gin.HandlerFunc {
	return func(c *gin.Context) {
		a, err := svc.Staff.Authenticate(c.Request.Context(), bearer(c), staff.SessionAPI)
		if err != nil {
			c.Header("WWW-Authenticate", `Bearer realm="o2ohub-store"`)
			respondError(c, err)
			return
		}
		c.Set("actor", a)
		c.Next()
	}
}

// readBody reads a request body of at most limit bytes.
func readBody(c *gin.Context, limit int64) ([]byte, error) {
	b, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		respondError(c, kindError(errTooLarge, fmt.Sprintf("request body is larger than %d bytes", limit)))
		return nil, err
	}
	if err != nil {
		respondError(c, kindError(domain.ErrInvalidArgument, "could not read the request body"))
	}
	return b, err
}

// configured refuses, with 404, requests for a channel this hub does not have.
func configured(channel string, ok bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !ok {
			respondError(c, kindError(domain.ErrNotFound, channel+" is not configured on this hub"))
		}
	}
}

// bindJSON decodes a JSON request body into v, answering the client itself when it cannot: when the
// body is not JSON, or any of its strings is text the hub does not take (see text.go), with 400 naming
// the field.
func bindJSON(c *gin.Context, v any) bool {
	b, err := readBody(c, MaxJSONBody)
	if err != nil {
		return false
	}
	// encoding/json silently turns bytes that are not UTF-8 into U+FFFD: the raw body is checked first.
	if err := text.CheckJSON(b, textKind); err != nil {
		respondError(c, kindError(domain.ErrInvalidArgument, err.Error()))
		return false
	}
	if err := json.Unmarshal(b, v); err != nil {
		msg := "request body is not valid JSON"
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			msg = fmt.Sprintf("field %q must not be a JSON %s", te.Field, te.Value)
		}
		respondError(c, kindError(domain.ErrInvalidArgument, msg))
		return false
	}
	return true
}

// The limits of the HTTP layer. The ones that protect secrets are shared through the database
// (core/limits.Shared), so N replicas allow what one does; see docs/operations.md#limits.
var (
	// signInRate limits shopper sign-in (/api/v1/auth/*) per client address.
	signInRate = limits.Rate{PerSecond: 5, Burst: 20}
	// staffLoginRate limits staff password attempts per client address, store API and console together
	// (two doors to the same passwords).
	staffLoginRate = limits.Every(5*time.Second, 10)
	// adminFailRate limits wrong admin tokens per client address.
	adminFailRate = limits.Every(6*time.Second, 10)
)

// apiLimits are the shared limits of the HTTP layer.
type apiLimits struct {
	signIn, staffLogin, adminFail *limits.Limit
}

func newAPILimits(d Deps) apiLimits {
	s := limits.NewShared(d.DB, d.Clock)
	return apiLimits{
		signIn:     s.Limit("sign_in", signInRate),
		staffLogin: s.Limit("staff_login", staffLoginRate),
		adminFail:  s.Limit("admin_token", adminFailRate),
	}
}

// clientAddress is the subject of a per-address limit: the client's IPv4 address or IPv6 /64.
func clientAddress(c *gin.Context) string { return limits.Address(c.ClientIP()) }

// limited answers 429 with Retry-After when wait is positive, and reports whether it did.
func limited(c *gin.Context, wait time.Duration, msg string) bool {
	if wait <= 0 {
		return false
	}
	c.Header("Retry-After", retryAfter(wait))
	respondError(c, &domain.Error{Kind: domain.ErrRateLimited, Msg: msg, RetryAfter: wait})
	return true
}

// sharedLimit spends one attempt of the client address's budget in l for every request.
func sharedLimit(l *limits.Limit) gin.HandlerFunc {
	return func(c *gin.Context) {
		wait, err := l.Take(c.Request.Context(), clientAddress(c))
		if err != nil {
			respondError(c, err)
			return
		}
		if limited(c, wait, "too many requests; slow down") {
			return
		}
		c.Next()
	}
}

// retryAfter is a wait in whole seconds, rounded up, for a Retry-After header.
func retryAfter(d time.Duration) string { return strconv.Itoa(int(math.Ceil(d.Seconds()))) }

// localLimitSize is how many client addresses a per-process limit remembers (about 100 bytes each);
// past it the idlest is forgotten.
const localLimitSize = 100000

// rateLimit allows each client address perSecond requests a second with bursts of burst, counted in
// this process only (see scanLimit for why that is enough where it is used).
func rateLimit(perSecond float64, burst int) gin.HandlerFunc {
	l := limits.NewLocal(limits.Rate{PerSecond: perSecond, Burst: burst}, localLimitSize)
	return func(c *gin.Context) {
		if wait := l.Take(clientAddress(c), time.Now()); wait > 0 {
			c.Header("Retry-After", retryAfter(wait))
			respondError(c, kindError(domain.ErrRateLimited, "too many requests; slow down"))
			return
		}
		c.Next()
	}
}
