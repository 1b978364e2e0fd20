package handlers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/idem"
	"github.com/o2ohub/o2ohub/core/staff"
)

// IdempotencyKeyHeader names the header a client sends to make a POST safe to retry.
const IdempotencyKeyHeader = "Idempotency-Key"

// idempotent makes a POST that creates or moves money or stock safe to retry. A request with an
// Idempotency-Key runs once per key, caller (member, staff account or admin token) and route, on any
// replica: a retry gets the first answer (marked Idempotent-Replayed: true), a retry while the first
// still runs gets 409 with Retry-After, and the key sent with another body gets 422. Server errors are not
// remembered, so their retries run again. It goes after the route's authentication.
func (h *api) idempotent(c *gin.Context) {
	key := c.GetHeader(IdempotencyKeyHeader)
	if key == "" {
		c.Next()
		return
	}
	if !validIdempotencyKey(key) {
		respondError(c, kindError(domain.ErrInvalidArgument, "Idempotency-Key must be 1 to 255 printable ASCII characters"))
		return
	}
	scope := idempotencyScope(c)
	body, err := readBody(c, MaxJSONBody)
	if err != nil {
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(append([]byte(c.Request.URL.RawQuery+"\n"), body...))
	hash, route := hex.EncodeToString(sum[:]), c.Request.Method+" "+c.Request.URL.Path
	ctx := c.Request.Context()
	first, err := h.Service.Idem.Begin(ctx, scope, route, key, hash)
	if err != nil {
		respondError(c, err)
		return
	}
	if first != nil {
		c.Header("Idempotent-Replayed", "true")
		c.Data(first.Status, first.ContentType, first.Body)
		c.Abort()
		return
	}
	rec := &recordingWriter{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	// The answer is recorded even when the client has gone: its retry must find it.
	done := context.WithoutCancel(ctx)
	status := rec.Status()
	if status >= 500 {
		err = h.Service.Idem.Forget(done, scope, route, key)
	} else {
		err = h.Service.Idem.Finish(done, scope, route, key, idem.Outcome{Status: status, ContentType: rec.Header().Get("Content-Type"), Body: rec.body.Bytes()})
	}
	if err != nil {
		logger(c).ErrorContext(ctx, "idempotency key not recorded", "route", route, "err", err)
	}
}

// idempotencyScope names the caller a key belongs to; the route's authentication has run, so a request
// with no caller cannot reach here (actor fails closed).
func idempotencyScope(c *gin.Context) string {
	if id := memberID(c); id != 0 {
		return "member:" + strconv.FormatInt(id, 10)
	}
	a := actor(c)
	if a == staff.AdminTokenActor {
		return "admin-token"
	}
	return "staff:" + strconv.FormatInt(a.StaffID, 10)
}

// validIdempotencyKey accepts 1 to 255 printable ASCII characters.
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x21 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// recordingWriter keeps a copy of the body it writes.
type recordingWriter struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) WriteString(s string) (int, error) {
	w.body.WriteString(s)
	return w.ResponseWriter.WriteString(s)
}
