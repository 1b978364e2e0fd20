package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/config"
)

const eventsUsage = "usage: o2ohub events tail [--url URL] [--types order.paid,stock.changed] [--from-start] [--interval 1s] [--token TOKEN] (token default O2OHUB_ADMIN_TOKEN)"

// eventsPage is how many events tail asks for at once; a full page is followed at once by the next.
const eventsPage = 100

// eventsCommand runs `o2ohub events tail`: it follows the running hub's event log through the admin
// pull API (GET /api/v1/admin/events) and prints each event as one JSON line on stdout until ctx ends.
// Problems it retries (the hub unreachable, a 5xx) go to stderr; a refusal that retrying cannot cure (a
// wrong token, a hub without the pull API) ends it with an error.
func eventsCommand(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "tail" {
		return errors.New(eventsUsage)
	}
	fs := flag.NewFlagSet("events tail", flag.ContinueOnError)
	fs.SetOutput(stderr)
	base := fs.String("url", cfg.PublicURL, "base URL of the running hub")
	types := fs.String("types", "", "comma-separated event types to print (default: all)")
	fromStart := fs.Bool("from-start", false, "print the events the hub still keeps from the oldest, then follow (default: only new ones)")
	interval := fs.Duration("interval", time.Second, "how long to wait after a page that was not full, and after an error")
	token := fs.String("token", "", "admin API token (default O2OHUB_ADMIN_TOKEN)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(eventsUsage)
	}
	if *token == "" {
		*token = cfg.AdminToken
	}
	if *token == "" {
		return errors.New("events tail: no admin token: set O2OHUB_ADMIN_TOKEN (or pass --token) to the hub's admin token")
	}
	if *interval <= 0 {
		return fmt.Errorf("events tail: --interval %s must be positive", *interval)
	}
	u, err := url.Parse(strings.TrimRight(*base, "/") + "/api/v1/admin/events")
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("events tail: --url %q is not an http(s) URL of the hub", *base)
	}
	var kinds []string
	for _, t := range strings.Split(*types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			kinds = append(kinds, t)
		}
	}
	t := &tailer{endpoint: u, token: *token, types: strings.Join(kinds, ","), client: &http.Client{Timeout: 30 * time.Second}, out: stdout}
	after := "latest"
	if *fromStart {
		after = "0"
	}
	for {
		next, full, wait, err := t.page(ctx, after)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			if errors.As(err, new(permanentError)) {
				return fmt.Errorf("events tail: %w", err)
			}
			fmt.Fprintf(stderr, "events tail: %v (retrying in %s)\n", err, max(wait, *interval))
			wait = max(wait, *interval)
		} else {
			after = next
			if full {
				continue
			}
			wait = *interval
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// tailer reads the pull API page by page.
type tailer struct {
	endpoint *url.URL
	token    string
	types    string
	client   *http.Client
	out      io.Writer
}

// permanentError is a failure that trying again will not cure: a refusal from the hub (a wrong token,
// no pull API) or standard output gone.
type permanentError struct{ error }

// answerError describes a non-200 answer of the hub.
func answerError(status int, msg string) error {
	return fmt.Errorf("the hub answered %d %s: %s", status, http.StatusText(status), msg)
}

// page fetches the events after the cursor after and prints them. It returns the next cursor, whether
// the page was full (more may be waiting), and, after a 429 or 503, the Retry-After the hub asked for.
func (t *tailer) page(ctx context.Context, after string) (next string, full bool, retryAfter time.Duration, err error) {
	q := url.Values{"after": {after}, "limit": {strconv.Itoa(eventsPage)}}
	if t.types != "" {
		q.Set("types", t.types)
	}
	u := *t.endpoint
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", false, 0, err
	}
	req.Header.Set("Authorization", "Bearer "+t.token)
	req.Header.Set("Accept", "application/json")
	resp, err := t.client.Do(req)
	if err != nil {
		return "", false, 0, err // a *url.Error names the method and URL; the token is in a header, not there
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return "", false, 0, fmt.Errorf("reading the hub's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		msg := errorMessage(body)
		switch {
		case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
			msg += " (check O2OHUB_ADMIN_TOKEN or --token: it must be the hub's admin token)"
			return "", false, 0, permanentError{answerError(resp.StatusCode, msg)}
		case resp.StatusCode == http.StatusNotFound:
			msg += " (is --url the hub, and does this hub serve GET /api/v1/admin/events?)"
			return "", false, 0, permanentError{answerError(resp.StatusCode, msg)}
		case resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			var wait time.Duration
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
				wait = time.Duration(min(s, 3600)) * time.Second
			}
			return "", false, wait, answerError(resp.StatusCode, msg)
		default:
			return "", false, 0, permanentError{answerError(resp.StatusCode, msg)}
		}
	}
	var p struct {
		Events    []json.RawMessage `json:"events"`
		NextAfter *int64            `json:"next_after"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return "", false, 0, fmt.Errorf("the hub's answer is not an events page: %w", err)
	}
	if p.NextAfter == nil {
		return "", false, 0, errors.New("the hub's answer has no next_after")
	}
	var lines bytes.Buffer
	for _, ev := range p.Events {
		if err := json.Compact(&lines, ev); err != nil {
			return "", false, 0, fmt.Errorf("the hub's answer holds an event that is not JSON: %w", err)
		}
		lines.WriteByte('\n')
	}
	if _, err := t.out.Write(lines.Bytes()); err != nil {
		return "", false, 0, permanentError{fmt.Errorf("writing the events: %w", err)}
	}
	next = strconv.FormatInt(*p.NextAfter, 10)
	// A full page is followed at once only when the cursor moved, so a hub that repeats itself is not
	// asked in a tight loop.
	return next, len(p.Events) >= eventsPage && next != after, 0, nil
}

// errorMessage is the message of the hub's JSON error body ({"error":{"code","message"}}, see
// handlers/errors.go), or an excerpt of whatever else it answered.
func errorMessage(body []byte) string {
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		if e.Error.Code != "" {
			return printable(e.Error.Code) + ": " + printable(e.Error.Message)
		}
		return printable(e.Error.Message)
	}
	s := strings.TrimSpace(string(body))
	if s == "" {
		return "(no body)"
	}
	return printable(s)
}
