// Package pushloop delivers a platform fake's pushes the way the instant-retail platforms do: each in the
// background, posted again at an interval until the hub answers with the platform's exact
// acknowledgement, at most MaxAttempts times. It can lose pushes on purpose (to test the hub's pull) and
// counts the acknowledged ones. It knows no platform's format: the fake signs the body and says what its
// acknowledgement is.
package pushloop

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
)

// MaxAttempts is how often one push is sent before it is given up.
const MaxAttempts = 20

// Acked reports whether an answer (its status and body) is the platform's exact acknowledgement.
type Acked func(status int, body []byte) bool

// Loop sends pushes until they are acknowledged. It is safe for concurrent use.
type Loop struct {
	client *http.Client
	retry  time.Duration
	log    *slog.Logger
	ctx    context.Context
	stop   context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	drop   bool
	acked  int
	closed bool
}

// New returns a Loop posting with client (nil: a client with a 5 s timeout), retry apart (0: 1 s).
func New(client *http.Client, retry time.Duration, log *slog.Logger) *Loop {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	if retry <= 0 {
		retry = time.Second
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, stop := context.WithCancel(context.Background())
	return &Loop{client: client, retry: retry, log: log, ctx: ctx, stop: stop}
}

// SetDrop makes new pushes lost (never sent) while drop is true.
func (l *Loop) SetDrop(drop bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop = drop
}

// Acknowledged returns how many pushes the hub acknowledged.
func (l *Loop) Acknowledged() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.acked
}

// Send posts body, of type contentType, to target in the background until acked holds for the answer.
// body is called for each attempt, so that a push can be signed anew. attrs name the push in the log.
func (l *Loop) Send(target, contentType string, body func() string, acked Acked, attrs ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.drop || l.closed {
		l.log.Info("push not sent", append(attrs, "dropped", l.drop)...)
		return
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		for attempt := 1; attempt <= MaxAttempts; attempt++ {
			if l.post(target, contentType, body(), acked) {
				l.mu.Lock()
				l.acked++
				l.mu.Unlock()
				return
			}
			l.log.Info("push not acknowledged", append(attrs, "attempt", attempt)...)
			select {
			case <-l.ctx.Done():
				return
			case <-time.After(l.retry):
			}
		}
		l.log.Warn("push given up", append(attrs, "attempts", MaxAttempts)...)
	}()
}

// post makes one delivery and reports whether it was acknowledged.
func (l *Loop) post(target, contentType, body string, acked Acked) bool {
	req, err := http.NewRequestWithContext(l.ctx, http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := l.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return acked(resp.StatusCode, answer)
}

// Close stops re-sending and waits for the deliveries under way; later pushes are not sent.
func (l *Loop) Close() {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.stop()
	l.wg.Wait()
}
