package handlers

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
)

// errBody is the JSON error format of every API response that is not a success.
type errBody struct {
	Error errDetail `json:"error"`
}

type errDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

var errorKinds = []struct {
	kind   error
	code   string
	status int
}{
	// The pickup-code errors come first: each also wraps a general kind below.
	{core.ErrCodeUnknown, "code_unknown", http.StatusNotFound},
	{core.ErrCodeExpired, "code_expired", http.StatusGone},
	{core.ErrCodeUsed, "code_used", http.StatusConflict},
	{domain.ErrNotFound, "not_found", http.StatusNotFound},
	{domain.ErrInvalidArgument, "invalid_argument", http.StatusBadRequest},
	{domain.ErrOutOfStock, "out_of_stock", http.StatusConflict},
	{domain.ErrConflict, "conflict", http.StatusConflict},
	{domain.ErrUnauthenticated, "unauthenticated", http.StatusUnauthorized},
	{domain.ErrForbidden, "forbidden", http.StatusForbidden},
	{domain.ErrRateLimited, "rate_limited", http.StatusTooManyRequests},
	{domain.ErrUnavailable, "provider_unavailable", http.StatusBadGateway},
}

// respond answers with out as JSON and status, or, when err is set, with the error.
func respond(c *gin.Context, status int, out any, err error) {
	if err != nil {
		respondError(c, err)
		return
	}
	c.JSON(status, out)
}

// respondError maps err to its HTTP status and error code. Errors that are not domain errors are logged
// and answered with a bare 500: no internals reach the client.
func respondError(c *gin.Context, err error) {
	for _, k := range errorKinds {
		if errors.Is(err, k.kind) {
			var de *domain.Error
			msg := k.kind.Error()
			if errors.As(err, &de) {
				msg = de.Msg
				if de.RetryAfter > 0 {
					c.Header("Retry-After", retryAfter(de.RetryAfter))
				}
			}
			abort(c, k.status, k.code, msg)
			return
		}
	}
	logger(c).ErrorContext(c.Request.Context(), "request failed", "err", err)
	abort(c, http.StatusInternalServerError, "internal", "internal error")
}

func abort(c *gin.Context, status int, code, msg string) {
	c.AbortWithStatusJSON(status, errBody{Error: errDetail{Code: code, Message: msg}})
}
