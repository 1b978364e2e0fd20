package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/o2ohub/o2ohub/webhook"
)

const webhooksUsage = "usage: o2ohub webhooks listen [--port 9000] [--addr 127.0.0.1] [--secret whsec_…] (the secret may come from O2OHUB_WEBHOOK_SECRET instead)"

// maxListenBody caps a delivery's body at the local receiver, as a consumer's endpoint should.
const maxListenBody = 1 << 20

// webhooksCommand runs `o2ohub webhooks listen`: a local receiver, for a developer wiring a POS or ERP,
// that verifies each delivery with package webhook and prints it (the Stripe CLI habit). It listens
// until ctx ends.
func webhooksCommand(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 || args[0] != "listen" {
		return errors.New(webhooksUsage)
	}
	fs := flag.NewFlagSet("webhooks listen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	port := fs.Int("port", 9000, "port to listen on (0: any free port)")
	host := fs.String("addr", "127.0.0.1", "address to listen on (0.0.0.0 for every interface)")
	secret := fs.String("secret", "", "the endpoint's signing secret, whsec_… (default O2OHUB_WEBHOOK_SECRET)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New(webhooksUsage)
	}
	if *secret == "" {
		*secret = getenv("O2OHUB_WEBHOOK_SECRET")
	}
	if *secret == "" {
		return errors.New("webhooks listen: no secret: pass --secret whsec_… or set O2OHUB_WEBHOOK_SECRET to the secret o2ohub showed for the endpoint")
	}
	if _, err := webhook.Sign([]string{*secret}, "check", time.Now(), nil); err != nil {
		return fmt.Errorf("webhooks listen: --secret / O2OHUB_WEBHOOK_SECRET: %w", err)
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("webhooks listen: --port %d is not a port (0 to 65535)", *port)
	}
	l, err := (&net.ListenConfig{}).Listen(ctx, "tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("webhooks listen: %w", err)
	}
	srv := &http.Server{Handler: &receiver{secret: *secret, out: stdout}, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	fmt.Fprintf(stderr, "listening on http://%s: POST deliveries to any path; verified ones are answered 204, others 400 (Ctrl-C to stop)\n", l.Addr())
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			// A connection still open after the grace period (a sender that connected and has not sent
			// yet counts as busy for 5 s): stopping was asked for, so close it rather than fail.
			err = srv.Close()
		}
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

// receiver is the local receiver's handler: it verifies a delivery with the secret and prints one line
// for it, then its body.
type receiver struct {
	secret string
	out    io.Writer
	mu     sync.Mutex // one delivery's line and body are written together
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	status, verdict, body := rc.check(w, r)
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s  %s  %s  %s\n", at.Format("2006-01-02 15:04:05"), printable(r.Header.Get(webhook.HeaderID)), eventType(body), verdict)
	writeBody(&b, body)
	rc.mu.Lock()
	rc.out.Write(b.Bytes())
	rc.mu.Unlock()
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", http.MethodPost)
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	http.Error(w, verdict, status)
}

// check reads the capped body and verifies it, returning the status to answer, the verdict to print
// and the body read.
func (rc *receiver) check(w http.ResponseWriter, r *http.Request) (int, string, []byte) {
	if r.Method != http.MethodPost {
		return http.StatusMethodNotAllowed, "REJECTED: method " + printable(r.Method) + ", want POST", nil
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxListenBody))
	if err != nil {
		if tooBig := (*http.MaxBytesError)(nil); errors.As(err, &tooBig) {
			return http.StatusRequestEntityTooLarge, "REJECTED: body over 1 MiB", nil
		}
		return http.StatusBadRequest, "REJECTED: reading the body: " + err.Error(), nil
	}
	if err := webhook.Verify(rc.secret, r.Header, body, 0); err != nil {
		return http.StatusBadRequest, "REJECTED: " + err.Error(), body
	}
	return http.StatusNoContent, "verified", body
}

// eventType is the "type" of a JSON delivery body, or "-".
func eventType(body []byte) string {
	var ev struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &ev) != nil || ev.Type == "" {
		return "-"
	}
	return printable(ev.Type)
}

// writeBody writes a body indented when it is JSON, else a quoted excerpt, so a forged request cannot
// put terminal control sequences on the screen.
func writeBody(b *bytes.Buffer, body []byte) {
	if len(body) == 0 {
		return
	}
	if json.Valid(body) {
		var ind bytes.Buffer
		if json.Indent(&ind, body, "", "  ") == nil {
			// Valid JSON may hold raw C1 controls (U+009B acts as ESC [ on some terminals) and
			// bidirectional overrides: they are replaced, line by line.
			for i, line := range strings.Split(ind.String(), "\n") {
				if i > 0 {
					b.WriteByte('\n')
				}
				b.WriteString(strings.Map(func(r rune) rune {
					if !unicode.IsPrint(r) && r != ' ' {
						return '?'
					}
					return r
				}, line))
			}
			b.WriteByte('\n')
			return
		}
	}
	excerpt := body
	if len(excerpt) > 512 {
		excerpt = excerpt[:512]
	}
	fmt.Fprintf(b, "(not JSON, %d bytes) %q\n", len(body), excerpt)
}

// printable clips a value from the request to 100 characters and replaces what a terminal would
// interpret, or "-" for an empty one.
func printable(s string) string {
	if s == "" {
		return "-"
	}
	if r := []rune(s); len(r) > 100 {
		s = string(r[:100]) + "…"
	}
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
}
