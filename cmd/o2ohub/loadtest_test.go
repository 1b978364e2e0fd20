package main

import (
	"bytes"
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

const loadtestAdminToken = "loadtest-admin-token-0123456789abcdef"

// runLoadtest runs `o2ohub loadtest` with args against the hub at addr and returns its report and its
// standard error.
func runLoadtest(t *testing.T, env map[string]string, addr string, args ...string) (report, progress string) {
	t.Helper()
	var out, errw bytes.Buffer
	args = append([]string{"loadtest", "--url", "http://" + addr}, args...)
	if err := run(context.Background(), args, &out, &errw, func(k string) string { return env[k] }); err != nil {
		t.Fatalf("o2ohub %v: %v\n%s", args, err, errw.String())
	}
	t.Logf("o2ohub %v:\n%s", args, out.String())
	return out.String(), errw.String()
}

// reportInt reads the integer the pattern's first group matches in the report.
func reportInt(t *testing.T, report, pattern string) int {
	t.Helper()
	m := regexp.MustCompile(pattern).FindStringSubmatch(report)
	if m == nil {
		t.Fatalf("no %q in the report:\n%s", pattern, report)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestLoadtestAgainstDemo drives the demo hub: orders are placed and paid, every paid order reads back
// paid, nothing answers 5xx, and the report lists each endpoint with its latencies. A SKU that runs out
// is no longer ordered without an admin token, and refilled with one.
func TestLoadtestAgainstDemo(t *testing.T) {
	env := map[string]string{"O2OHUB_ADMIN_TOKEN": loadtestAdminToken, "O2OHUB_SCAN_RATE": "0"}
	addr := startDemoHub(t, env)

	// MILK-1L starts with 3 at S01 (the demo's stock); these run first, before the mix orders it.
	t.Run("a SKU that runs out without an admin token", func(t *testing.T) {
		report, _ := runLoadtest(t, env, addr, "--admin-token=", "--sku", "MILK-1L", "--rate", "20", "--duration", "2s", "--shoppers", "2", "--scan-share", "0")
		if !strings.Contains(report, "MILK-1L sold out (no longer ordered)") || !strings.Contains(report, "409 out_of_stock") {
			t.Errorf("the sold-out SKU is not reported")
		}
		if placed := reportInt(t, report, `orders: (\d+) placed`); placed > 3 {
			t.Errorf("%d orders placed of a SKU with at most 3 in stock", placed)
		}
		if n := reportInt(t, report, `(\d+) due with nothing to order`); n == 0 {
			t.Errorf("ordering went on after the SKU ran out")
		}
	})
	t.Run("the admin token refills it", func(t *testing.T) {
		report, _ := runLoadtest(t, env, addr, "--sku", "MILK-1L", "--rate", "20", "--duration", "1s", "--shoppers", "2", "--scan-share", "0")
		if !regexp.MustCompile(`stock: MILK-1L refilled [1-9]`).MatchString(report) || reportInt(t, report, `orders: (\d+) placed`) == 0 {
			t.Errorf("MILK-1L not refilled and ordered")
		}
	})
	t.Run("the mix at 50/s", func(t *testing.T) {
		report, progress := runLoadtest(t, env, addr, "--rate", "50", "--duration", "3s", "--shoppers", "5")
		if !strings.Contains(progress, "signed in 5 shoppers") {
			t.Errorf("stderr %q does not say the shoppers signed in", progress)
		}
		if placed := reportInt(t, report, `orders: (\d+) placed`); placed == 0 {
			t.Errorf("no orders placed")
		}
		confirmed := reportInt(t, report, `payments confirmed: (\d+) of`)
		started := reportInt(t, report, `payments confirmed: \d+ of (\d+) read back paid`)
		if started == 0 || confirmed != started || strings.Contains(report, "not paid:") {
			t.Errorf("%d of %d paid orders read back paid", confirmed, started)
		}
		if regexp.MustCompile(`(?m)^  \S+ \S+\s+5\d\d `).MatchString(report) || strings.Contains(report, "no answer") {
			t.Errorf("5xx or unanswered requests in the report")
		}
		for _, ep := range []string{epPlace, epPay, epScan} {
			if n := reportInt(t, report, `(?m)^`+regexp.QuoteMeta(ep)+`\s+(\d+)\s+[\d.]+\s+[\d.]+m?s\s`); n == 0 {
				t.Errorf("endpoint %s: no requests", ep)
			}
		}
		if strings.Contains(report, "scans skipped") {
			t.Errorf("scans skipped although the admin token is set")
		}
	})

	t.Run("a SKU the store does not stock", func(t *testing.T) {
		err := run(context.Background(), []string{"loadtest", "--url", "http://" + addr, "--sku", "NOPE"}, io.Discard, io.Discard, func(k string) string { return env[k] })
		if err == nil || !strings.Contains(err.Error(), "--sku NOPE") {
			t.Errorf("err = %v, want a refusal naming --sku NOPE", err)
		}
	})
}

// TestLoadtestRefusesBadFlags checks each bad flag is refused, naming it, before anything is sent.
func TestLoadtestRefusesBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--rate", "0"}, "--rate"},
		{[]string{"--rate", "fast"}, "--rate"},
		{[]string{"--rate", "5/h"}, "--rate"},
		{[]string{"--rate", "NaN"}, "--rate"},
		{[]string{"--duration", "-1s"}, "--duration"},
		{[]string{"--duration", "soon"}, "duration"},
		{[]string{"--shoppers", "0"}, "--shoppers"},
		{[]string{"--scan-share", "1.5"}, "--scan-share"},
		{[]string{"--scan-share", "NaN"}, "--scan-share"},
		{[]string{"--concurrency", "0"}, "--concurrency"},
		{[]string{"--url", "ftp://hub"}, "--url"},
		{[]string{"--store", ""}, "--store"},
		{[]string{"--sku", ","}, "sku"},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		args := append([]string{"loadtest", "--url", "http://127.0.0.1:1"}, c.args...)
		err := run(context.Background(), args, io.Discard, io.Discard, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("loadtest %v: err = %v, want one naming %s", c.args, err, c.want)
		}
	}
}

// TestLoadtestHelpHidesTheAdminToken: the help text never shows the configured admin token (it did, as
// the --admin-token flag's default).
func TestLoadtestHelpHidesTheAdminToken(t *testing.T) {
	var out, errOut strings.Builder
	env := map[string]string{"O2OHUB_ADMIN_TOKEN": "zzz-admin-secret"}
	_ = run(context.Background(), []string{"loadtest", "-h"}, &out, &errOut, func(k string) string { return env[k] })
	if all := out.String() + errOut.String(); strings.Contains(all, "zzz-admin-secret") || !strings.Contains(all, "admin-token") {
		t.Fatalf("help output shows the token or no flags:\n%s", all)
	}
}
