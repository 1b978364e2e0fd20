package main

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
)

// walkthrough is what the "Trying it locally" section of docs/webhooks.md tells a new user to do.
type walkthrough struct {
	demoEnv      map[string]string // the environment the demo is started with
	putPath      string            // the admin API path the endpoint is registered at
	putToken     string            // the bearer token of that call
	putBody      string            // its body
	listenArgs   []string          // o2ohub's arguments that start the receiver
	simulateArgs []string          // o2ohub's arguments that place the order
}

// readWalkthrough reads the commands of the local walk-through from docs/webhooks.md.
func readWalkthrough(t *testing.T) walkthrough {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "webhooks.md"))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start, end := strings.Index(doc, "### Trying it locally"), strings.Index(doc, "### Watching events")
	if start < 0 || end < start {
		t.Fatal("docs/webhooks.md has no section \"Trying it locally\" before \"Watching events\"")
	}
	var blocks []string
	for _, m := range regexp.MustCompile("(?s)```sh\n(.*?)```").FindAllStringSubmatch(doc[start:end], -1) {
		var lines []string
		for _, l := range strings.Split(strings.ReplaceAll(m[1], "\\\n", " "), "\n") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
		blocks = append(blocks, strings.TrimSpace(strings.Join(lines, "\n")))
	}
	if len(blocks) != 4 {
		t.Fatalf("the walk-through has %d shell blocks, want 4 (demo, register, listen, simulate): %q", len(blocks), blocks)
	}
	var w walkthrough
	demo, ok := strings.CutSuffix(blocks[0], "go run ./cmd/o2ohub demo")
	if !ok {
		t.Fatalf("step 1 does not start the demo: %q", blocks[0])
	}
	w.demoEnv = map[string]string{}
	for _, kv := range strings.Fields(demo) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("step 1: %q is not VAR=value", kv)
		}
		w.demoEnv[k] = v
	}
	m := regexp.MustCompile(`^curl -X PUT http://127\.0\.0\.1:8080(\S+) -H "Authorization: Bearer ([^"]+)" -d '([^']+)'$`).FindStringSubmatch(blocks[1])
	if m == nil {
		t.Fatalf("step 2 is not the curl PUT it was: %q", blocks[1])
	}
	w.putPath, w.putToken, w.putBody = m[1], m[2], m[3]
	listen, ok := strings.CutPrefix(blocks[2], "O2OHUB_WEBHOOK_SECRET=whsec_… go run ./cmd/o2ohub ")
	if !ok {
		t.Fatalf("step 3 does not start the receiver with the secret in the environment: %q", blocks[2])
	}
	w.listenArgs = strings.Fields(listen)
	simulate, ok := strings.CutPrefix(blocks[3], "go run ./cmd/o2ohub ")
	if !ok {
		t.Fatalf("step 4 is not an o2ohub command: %q", blocks[3])
	}
	w.simulateArgs = strings.Fields(simulate)
	return w
}

// TestWebhooksWalkthrough follows docs/webhooks.md as a new user would, with the commands the doc
// shows: the demo hub, an endpoint registered at `o2ohub webhooks listen`'s address, the receiver
// started with the endpoint's secret, a sandbox Meituan order; the receiver prints the order's events,
// verified, and nothing is rejected. Only the ports differ (free ones instead of 8080 and 9000), and
// the database is the test's.
func TestWebhooksWalkthrough(t *testing.T) {
	w := readWalkthrough(t)
	if w.demoEnv["O2OHUB_ADMIN_TOKEN"] != w.putToken {
		t.Fatalf("step 2 uses the token %q, but step 1 starts the hub with %q", w.putToken, w.demoEnv["O2OHUB_ADMIN_TOKEN"])
	}
	env := map[string]string{"O2OHUB_DB": "sqlite:" + filepath.Join(t.TempDir(), "o2ohub.db"), "O2OHUB_PASSWORD_COST": "4", "O2OHUB_ADDR": freeAddr(t)}
	for k, v := range w.demoEnv {
		env[k] = v
	}
	var hubLogs syncBuffer
	addr := startDemoHubTo(t, env, &hubLogs, io.Discard)
	getenv := func(k string) string { return env[k] }

	_, port, _ := strings.Cut(freeAddr(t), ":")
	body := strings.ReplaceAll(w.putBody, ":9000/", ":"+port+"/")
	// As curl -d sends it: a form content type, the JSON as it is.
	r := (&httpx.Client{Base: "http://" + addr}).Send(t, httpx.Request{Method: "PUT", Path: w.putPath, Auth: w.putToken, Body: body,
		ContentType: "application/x-www-form-urlencoded"})
	if r.Status != 200 {
		t.Fatalf("step 2 (register the endpoint) answered %s", r)
	}
	var ep events.EndpointView
	if err := json.Unmarshal(r.Body, &ep); err != nil || !strings.HasPrefix(ep.Secret, "whsec_") {
		t.Fatalf("step 2 shows no secret: %s", r.Body)
	}

	args := append([]string(nil), w.listenArgs...)
	for i, a := range args {
		if a == "9000" {
			args[i] = port
		}
	}
	var out, errs syncBuffer
	startListener(t, args, map[string]string{"O2OHUB_WEBHOOK_SECRET": ep.Secret}, &out, &errs)

	var simOut syncBuffer
	if err := run(context.Background(), w.simulateArgs, &simOut, io.Discard, getenv); err != nil {
		t.Fatalf("step 4 (%v): %v", w.simulateArgs, err)
	}
	paid := regexp.MustCompile(`(?m)^\S+ \S+  evt_\d+  order\.paid  verified\n\{\n  "id": "evt_\d+",\n  "type": "order\.paid",(?s:.*?)"source": "meituan"`)
	stock := regexp.MustCompile(`(?m)^\S+ \S+  evt_\d+  stock\.changed  verified\n(?s:.*?)"sku": "MILK-1L"`)
	for deadline := time.Now().Add(time.Minute); !(paid.MatchString(out.String()) && stock.MatchString(out.String())); {
		if time.Now().After(deadline) {
			t.Fatalf("the receiver did not print the order's verified order.paid and stock.changed within a minute:\n%s\nhub logs:\n%s", out.String(), hubLogs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if strings.Contains(out.String(), "REJECTED") {
		t.Fatalf("the receiver rejected a delivery:\n%s", out.String())
	}
	for _, leak := range []string{ep.Secret, strings.TrimPrefix(ep.Secret, "whsec_")} {
		if strings.Contains(out.String()+errs.String()+hubLogs.String()+simOut.String(), leak) {
			t.Fatal("the endpoint's secret was printed or logged")
		}
	}
}
