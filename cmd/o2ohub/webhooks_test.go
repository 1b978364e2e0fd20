package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/webhook"
)

// TestWebhooksListenVerifiesAndPrints runs `o2ohub webhooks listen` on a free port and posts to it what
// the hub would send, a forgery, a request without the webhook headers, an oversized body and a GET:
// only the genuine delivery is answered 204, each gets its line with the reason, and the secret is
// never printed.
func TestWebhooksListenVerifiesAndPrints(t *testing.T) {
	secret, err := webhook.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	forger, _ := webhook.NewSecret()
	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			args, env := []string{"webhooks", "listen", "--port", "0"}, map[string]string{}
			if how == "flag" {
				args = append(args, "--secret", secret)
			} else {
				env["O2OHUB_WEBHOOK_SECRET"] = secret
			}
			var stdout, stderr syncBuffer
			base, stop := startListener(t, args, env, &stdout, &stderr)

			body := `{"id":"evt_41","type":"order.paid","created_at":"2026-12-05T10:00:00+08:00","sequence":7,"data":{"order_no":"O1","total_fen":2590}}`
			if got := post(t, base, secret, "evt_41", body, nil); got != http.StatusNoContent {
				t.Fatalf("a genuine delivery was answered %d, want 204", got)
			}
			if got := post(t, base, forger, "evt_42", strings.Replace(body, "evt_41", "evt_42", 1), nil); got != http.StatusBadRequest {
				t.Fatalf("a forged delivery was answered %d, want 400", got)
			}
			if got := post(t, base, "", "", `{"type":"order.refunded"}`, nil); got != http.StatusBadRequest {
				t.Fatalf("a delivery without headers was answered %d, want 400", got)
			}
			old := time.Now().Add(-time.Hour)
			if got := post(t, base, secret, "evt_43", `{"type":"stock.changed"}`, &old); got != http.StatusBadRequest {
				t.Fatalf("an hour-old delivery was answered %d, want 400", got)
			}
			if got := post(t, base, secret, "evt_44", `"`+strings.Repeat("x", maxListenBody)+`"`, nil); got != http.StatusRequestEntityTooLarge {
				t.Fatalf("a body over 1 MiB was answered %d, want 413", got)
			}
			resp, err := http.Get(base + "/hook")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed {
				t.Fatalf("GET was answered %d, want 405", resp.StatusCode)
			}

			out := stdout.String()
			for _, want := range []*regexp.Regexp{
				regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  evt_41  order\.paid  verified\n\{\n  "id": "evt_41",\n  "type": "order\.paid",`),
				regexp.MustCompile(`(?m)^.*  evt_42  order\.paid  REJECTED: webhook: no matching signature$`),
				regexp.MustCompile(`(?m)^.*  -  order\.refunded  REJECTED: webhook: missing headers: webhook-id, webhook-timestamp, webhook-signature$`),
				regexp.MustCompile(`(?m)^.*  evt_43  stock\.changed  REJECTED: webhook: bad timestamp: 36\d\d s old, tolerance 5m0s$`),
				regexp.MustCompile(`(?m)^.*  evt_44  -  REJECTED: body over 1 MiB$`),
				regexp.MustCompile(`(?m)^.*  -  -  REJECTED: method GET, want POST$`),
				regexp.MustCompile(`"total_fen": 2590`),
			} {
				if !want.MatchString(out) {
					t.Errorf("output lacks %s:\n%s", want, out)
				}
			}
			for _, leak := range []string{secret, strings.TrimPrefix(secret, "whsec_")} {
				if strings.Contains(out+stderr.String(), leak) {
					t.Fatalf("the secret was printed:\n%s\n%s", out, stderr.String())
				}
			}
			stop()
		})
	}
}

func TestWebhooksListenRefusesBadArguments(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"webhooks"}, "usage: o2ohub webhooks listen"},
		{[]string{"webhooks", "serve"}, "usage: o2ohub webhooks listen"},
		{[]string{"webhooks", "listen", "--port", "0"}, "O2OHUB_WEBHOOK_SECRET"},
		{[]string{"webhooks", "listen", "--port", "0", "--secret", "whsec_n0t-base64!"}, "invalid secret"},
		{[]string{"webhooks", "listen", "--port", "70000", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "--port 70000"},
		{[]string{"webhooks", "listen", "extra", "--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "usage"},
	} {
		err := run(context.Background(), c.args, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("o2ohub %v: %v, want an error saying %q", c.args, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "n0t-base64") {
			t.Errorf("o2ohub %v: the error %q includes the secret", c.args, err)
		}
	}
}

// startListener runs o2ohub with args until the returned stop is called (or the test ends), and returns
// the base URL it printed as listening on.
func startListener(t *testing.T, args []string, env map[string]string, stdout, stderr *syncBuffer) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, stdout, stderr, func(k string) string { return env[k] }) }()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("webhooks listen stopped with %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("webhooks listen did not stop when cancelled")
		}
	}
	t.Cleanup(stop)
	re := regexp.MustCompile(`listening on (http://\S+):`)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			return m[1], stop
		}
		select {
		case err := <-done:
			done <- err
			t.Fatalf("webhooks listen exited before listening: %v (%s)", err, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatalf("webhooks listen never said where it listens: %q", stderr.String())
	return "", nil
}

// post sends body as the hub would, signed with secret (no webhook headers when secret is empty) at
// the time at (default now), and returns the answer's status.
func post(t *testing.T, base, secret, id, body string, at *time.Time) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+"/o2ohub", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		ts := time.Now()
		if at != nil {
			ts = *at
		}
		sig, err := webhook.Sign([]string{secret}, id, ts, []byte(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set(webhook.HeaderID, id)
		req.Header.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		req.Header.Set(webhook.HeaderSignature, sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}
