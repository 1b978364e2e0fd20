package domain

import (
	"errors"
	"fmt"
	"time"
)

// Domain errors. Every error core returns for bad input or a state conflict wraps one of these, so the
// HTTP layer can map it to a status in one place.
var (
	ErrNotFound        = errors.New("not found")
	ErrInvalidArgument = errors.New("invalid argument")
	ErrOutOfStock      = errors.New("out of stock")
	ErrConflict        = errors.New("conflict")
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrForbidden       = errors.New("forbidden")
	ErrRateLimited     = errors.New("rate limited")
	// ErrUnavailable says a provider (WeChat, Alipay …) could not be reached or failed; try again later.
	ErrUnavailable       = errors.New("provider unavailable")
	ErrInvalidTransition = fmt.Errorf("%w: invalid order state transition", ErrConflict)
)

// Error is a domain error with a message meant for the caller.
type Error struct {
	Kind error
	Msg  string
	// RetryAfter is how long a rate-limited caller must wait; 0 when it does not apply.
	RetryAfter time.Duration
}

// Error returns the message for the caller.
func (e *Error) Error() string { return e.Msg }

// Unwrap returns the kind, so errors.Is(err, ErrNotFound) works.
func (e *Error) Unwrap() error { return e.Kind }

// Errf returns an *Error of the given kind with a formatted message.
func Errf(kind error, format string, args ...any) error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
