package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
)

const loadtestUsage = `usage: o2ohub loadtest [--url URL] [--rate N/s] [--duration D] [--shoppers N] [--store CODE]
                       [--sku SKU[,SKU…]] [--scan-share F] [--admin-token TOKEN] [--concurrency N]`

// The endpoints a load test drives, as the report names them.
const (
	epPlace = "POST /api/v1/orders"
	epPay   = "POST /api/v1/orders/{no}/pay"
	epScan  = "GET /api/v1/scan/{code}"
)

// loadtestOptions are the parsed flags of `o2ohub loadtest`.
type loadtestOptions struct {
	base        string
	rate        float64
	duration    time.Duration
	shoppers    int
	store       string
	skus        []string
	scanShare   float64
	adminToken  string
	concurrency int
	timeout     time.Duration
}

// skuList is a flag taking SKUs comma-separated, repeatable.
type skuList []string

func (l *skuList) String() string { return strings.Join(*l, ",") }

func (l *skuList) Set(v string) error {
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s == "" {
			return errors.New("empty SKU")
		}
		*l = append(*l, s)
	}
	return nil
}

// parseRate reads a rate as "50", "50/s" or "3000/m".
func parseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(strings.TrimSpace(s), "/")
	per := 1.0
	switch unit {
	case "", "s":
	case "m", "min":
		per = 60
	default:
		return 0, fmt.Errorf("--rate %q: the unit after / must be s or m", s)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n <= 0 || n != n || n > 1e6 {
		return 0, fmt.Errorf("--rate %q: want a positive number of requests a second, e.g. 50/s", s)
	}
	return n / per, nil
}

func parseLoadtest(cfg config.Config, args []string, stderr io.Writer) (loadtestOptions, error) {
	fs := flag.NewFlagSet("loadtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, loadtestUsage); fs.PrintDefaults() }
	o := loadtestOptions{}
	base := fs.String("url", cfg.PublicURL, "base URL of the running hub (its sandbox on)")
	rateS := fs.String("rate", "20/s", "target request rate, started on schedule whether earlier requests finished or not")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long to send load")
	fs.IntVar(&o.shoppers, "shoppers", 10, "sandbox shoppers to sign in and order as")
	fs.StringVar(&o.store, "store", "S01", "store to order from and scan the shelf codes of")
	var skus skuList
	fs.Var(&skus, "sku", "SKUs to order, comma-separated or repeated (default: every SKU the store stocks)")
	fs.Float64Var(&o.scanShare, "scan-share", 0.3, "share of requests that are scans of shelf codes, 0 to 1")
	// The flag's default stays empty so that -h never prints the configured token.
	fs.StringVar(&o.adminToken, "admin-token", "", "admin API token (default O2OHUB_ADMIN_TOKEN): makes shelf codes for scans and refills stock")
	fs.IntVar(&o.concurrency, "concurrency", 256, "most requests in flight; a request due while that many are open is not sent and is counted")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "admin-token" })
	if !given { // --admin-token= (empty) means none
		o.adminToken = cfg.AdminToken
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("loadtest: unexpected arguments %q\n%s", fs.Args(), loadtestUsage)
	}
	var err error
	if o.rate, err = parseRate(*rateS); err != nil {
		return o, err
	}
	u, err := url.Parse(*base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, fmt.Errorf("--url %q: want the hub's base URL, e.g. http://127.0.0.1:8080", *base)
	}
	o.base = strings.TrimRight(*base, "/")
	switch {
	case o.duration <= 0:
		return o, fmt.Errorf("--duration %s: must be positive", o.duration)
	case o.shoppers < 1 || o.shoppers > 10000:
		return o, fmt.Errorf("--shoppers %d: must be 1 to 10000", o.shoppers)
	case o.store == "":
		return o, errors.New("--store: must name a store code")
	case !(o.scanShare >= 0 && o.scanShare <= 1):
		return o, fmt.Errorf("--scan-share %v: must be between 0 and 1", o.scanShare)
	case o.concurrency < 1:
		return o, fmt.Errorf("--concurrency %d: must be at least 1", o.concurrency)
	case o.timeout <= 0:
		return o, fmt.Errorf("--timeout %s: must be positive", o.timeout)
	}
	o.skus = skus
	return o, nil
}

// ltResult is one answered (or failed) request.
type ltResult struct {
	status int    // 0: no HTTP answer (connection refused, timeout)
	code   string // the API error code of a non-2xx answer
	body   []byte
}

// ltEndpoint collects one endpoint's latencies and failures.
type ltEndpoint struct {
	lat    []time.Duration
	errors map[string]int // "409 out_of_stock" → count
}

// loadtest is one run's state.
type loadtest struct {
	o      loadtestOptions
	client *http.Client
	stderr io.Writer

	mu        sync.Mutex
	eps       map[string]*ltEndpoint
	all       []time.Duration // every latency, for the progress line's p99
	errs      int
	done      int
	pending   []pendingOrder // placed, not yet paid
	paid      []pendingOrder // pay answered 2xx
	soldOut   map[string]bool
	refills   map[string]int
	refilling map[string]bool
	// refilledAt is when each SKU's last refill was answered.
	refilledAt map[string]time.Time

	started  atomic.Int64
	skipped  atomic.Int64 // due while --concurrency requests were open
	idle     atomic.Int64 // due with nothing left to order
	inflight atomic.Int64

	skus   []string
	codes  []string
	tokens []string
}

type pendingOrder struct {
	no    string
	token string
}

// do sends one request and reads its answer.
func (lt *loadtest) do(ctx context.Context, method, path, token string, body any, idem bool) ltResult {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, lt.o.base+path, rd)
	if err != nil {
		return ltResult{code: err.Error()}
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if idem {
		req.Header.Set("Idempotency-Key", randomHex(16))
	}
	req.Header.Set("User-Agent", "o2ohub-loadtest")
	resp, err := lt.client.Do(req)
	if err != nil {
		return ltResult{code: "transport"}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	r := ltResult{status: resp.StatusCode, body: b}
	if err != nil {
		r.status, r.code = 0, "transport"
		return r
	}
	if r.status/100 != 2 {
		var e struct {
			Error struct{ Code string } `json:"error"`
		}
		if json.Unmarshal(b, &e) == nil {
			r.code = e.Error.Code
		}
	}
	return r
}

// timed sends a request of the load and records it under its endpoint.
func (lt *loadtest) timed(ctx context.Context, ep, method, path, token string, body any, idem bool) ltResult {
	t0 := time.Now()
	r := lt.do(ctx, method, path, token, body, idem)
	d := time.Since(t0)
	lt.mu.Lock()
	defer lt.mu.Unlock()
	e := lt.eps[ep]
	e.lat = append(e.lat, d)
	lt.all = append(lt.all, d)
	lt.done++
	if r.status/100 != 2 {
		lt.errs++
		key := fmt.Sprintf("%d %s", r.status, r.code)
		if r.status == 0 {
			key = "no answer (" + r.code + ")"
		}
		e.errors[key]++
	}
	return r
}

// loadtestCommand runs `o2ohub loadtest`: it signs sandbox shoppers in to a running hub, sends orders,
// sandbox payments and scans at the target rate for the duration with a progress line on stderr, reads
// back that the paid orders are paid, and prints the report to stdout.
func loadtestCommand(ctx context.Context, cfg config.Config, args []string, stdout, stderr io.Writer) error {
	o, err := parseLoadtest(cfg, args, stderr)
	if err != nil {
		return err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = o.concurrency, o.concurrency
	lt := &loadtest{o: o, stderr: stderr, client: &http.Client{Timeout: o.timeout, Transport: tr},
		eps:     map[string]*ltEndpoint{epPlace: {errors: map[string]int{}}, epPay: {errors: map[string]int{}}, epScan: {errors: map[string]int{}}},
		soldOut: map[string]bool{}, refills: map[string]int{}, refilling: map[string]bool{}, refilledAt: map[string]time.Time{}}
	defer tr.CloseIdleConnections()
	var notes []string
	if err := lt.prepareSKUs(ctx, &notes); err != nil {
		return err
	}
	if o.scanShare > 0 {
		if o.adminToken == "" {
			notes = append(notes, "scans skipped: no admin token (--admin-token or O2OHUB_ADMIN_TOKEN) to make shelf codes with")
		} else if err := lt.prepareCodes(ctx); err != nil {
			return err
		}
	}
	if err := lt.signIn(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stderr, "signed in %d shoppers; sending %.4g requests/s to %s for %s\n", len(lt.tokens), o.rate, o.base, o.duration)

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stopProgress := lt.progress(start)
	var wg sync.WaitGroup
	interval := time.Duration(float64(time.Second) / o.rate)
	timer := time.NewTimer(0)
	defer timer.Stop()
	// Open loop: request i is due at start + i·interval, sent then whether or not earlier ones have been
	// answered (up to --concurrency in flight); a late scheduler catches up instead of slowing the load.
schedule:
	for i := 0; ; i++ {
		due := start.Add(time.Duration(i) * interval)
		if due.Sub(start) >= o.duration {
			break
		}
		if wait := time.Until(due); wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				break schedule
			case <-timer.C:
			}
		}
		if lt.inflight.Load() >= int64(o.concurrency) {
			lt.skipped.Add(1)
			continue
		}
		lt.inflight.Add(1)
		lt.started.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer lt.inflight.Add(-1)
			lt.step(runCtx)
		}()
	}
	sendEnd := time.Since(start)
	wg.Wait()
	stopProgress()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		notes = append(notes, "interrupted: the report covers the requests sent before the stop")
	}
	confirmed, notPaid := lt.readBack(context.WithoutCancel(ctx))
	lt.report(stdout, sendEnd, elapsed, confirmed, notPaid, notes)
	return nil
}

// step sends the request one slot of the schedule is for: a scan (--scan-share of them, when there are
// codes), else the payment of an order placed earlier, else a new order.
func (lt *loadtest) step(ctx context.Context) {
	if len(lt.codes) > 0 && mrand.Float64() < lt.o.scanShare {
		code := lt.codes[mrand.IntN(len(lt.codes))]
		lt.timed(ctx, epScan, http.MethodGet, "/api/v1/scan/"+url.PathEscape(code), "", nil, false)
		return
	}
	lt.mu.Lock()
	var p pendingOrder
	if n := len(lt.pending); n > 0 {
		p, lt.pending = lt.pending[0], lt.pending[1:]
	}
	var skus []string
	for _, s := range lt.skus {
		if !lt.soldOut[s] {
			skus = append(skus, s)
		}
	}
	lt.mu.Unlock()
	if p.no != "" {
		r := lt.timed(ctx, epPay, http.MethodPost, "/api/v1/orders/"+url.PathEscape(p.no)+"/pay", p.token, map[string]any{"provider": "sandbox"}, true)
		if r.status/100 == 2 {
			lt.mu.Lock()
			lt.paid = append(lt.paid, p)
			lt.mu.Unlock()
		}
		return
	}
	if len(skus) == 0 {
		lt.idle.Add(1)
		return
	}
	sku := skus[mrand.IntN(len(skus))]
	token := lt.tokens[mrand.IntN(len(lt.tokens))]
	body := map[string]any{"store": lt.o.store, "fulfillment": "pickup", "items": []map[string]any{{"sku": sku, "qty": 1}}}
	sent := time.Now()
	r := lt.timed(ctx, epPlace, http.MethodPost, "/api/v1/orders", token, body, true)
	switch {
	case r.status/100 == 2:
		var ord struct {
			OrderNo string `json:"order_no"`
		}
		if json.Unmarshal(r.body, &ord) == nil && ord.OrderNo != "" {
			lt.mu.Lock()
			lt.pending = append(lt.pending, pendingOrder{no: ord.OrderNo, token: token})
			lt.mu.Unlock()
		}
	case r.code == "out_of_stock":
		lt.outOfStock(ctx, sku, sent)
	}
}

// refillLevel is the on-hand count a refill sets.
const refillLevel = 10000

// outOfStock refills a SKU that ran out through the admin API, or without a token stops ordering it. An
// order sent before the SKU's last refill does not refill it again.
func (lt *loadtest) outOfStock(ctx context.Context, sku string, sent time.Time) {
	lt.mu.Lock()
	if lt.o.adminToken == "" {
		lt.soldOut[sku] = true
		lt.mu.Unlock()
		return
	}
	if lt.refilling[sku] || sent.Before(lt.refilledAt[sku]) {
		lt.mu.Unlock()
		return
	}
	lt.refilling[sku] = true
	lt.mu.Unlock()
	r := lt.do(ctx, http.MethodPut, "/api/v1/admin/stores/"+url.PathEscape(lt.o.store)+"/stock/"+url.PathEscape(sku), lt.o.adminToken,
		map[string]any{"on_hand": refillLevel}, false)
	lt.mu.Lock()
	defer lt.mu.Unlock()
	lt.refilling[sku] = false
	if r.status/100 == 2 {
		lt.refills[sku]++
		lt.refilledAt[sku] = time.Now()
	} else {
		lt.soldOut[sku] = true // a refill refused (the token wrong, say): stop ordering it
	}
}

// prepareSKUs picks the SKUs to order: those asked for, each stocked at the store, or every SKU the
// store stocks. A SKU with nothing available is refilled with the admin token, else left out.
func (lt *loadtest) prepareSKUs(ctx context.Context, notes *[]string) error {
	r := lt.do(ctx, http.MethodGet, "/api/v1/stores/"+url.PathEscape(lt.o.store)+"/products", "", nil, false)
	if r.status != http.StatusOK {
		return fmt.Errorf("read store %s's products at %s: %s", lt.o.store, lt.o.base, describe(r))
	}
	var avail []struct {
		SKU       string `json:"sku"`
		Available int64  `json:"available"`
	}
	if err := json.Unmarshal(r.body, &avail); err != nil {
		return fmt.Errorf("read store %s's products: %w", lt.o.store, err)
	}
	stocked := map[string]int64{}
	for _, a := range avail {
		stocked[a.SKU] = a.Available
	}
	want := lt.o.skus
	if len(want) == 0 {
		for _, a := range avail {
			want = append(want, a.SKU)
		}
	}
	for _, s := range want {
		n, ok := stocked[s]
		if !ok {
			return fmt.Errorf("--sku %s: store %s does not stock it", s, lt.o.store)
		}
		if n <= 0 {
			if lt.o.adminToken == "" {
				*notes = append(*notes, fmt.Sprintf("%s left out: none available at %s and no admin token to refill it", s, lt.o.store))
				continue
			}
			lt.outOfStock(ctx, s, time.Now())
			if lt.soldOut[s] {
				return fmt.Errorf("refill %s at %s refused: check the admin token", s, lt.o.store)
			}
		}
		if !slices.Contains(lt.skus, s) {
			lt.skus = append(lt.skus, s)
		}
	}
	if len(lt.skus) == 0 {
		*notes = append(*notes, "no orders: nothing available to order at "+lt.o.store)
	}
	return nil
}

// prepareCodes makes (or finds) the store's shelf codes through the admin API, keeping those of the
// SKUs ordered.
func (lt *loadtest) prepareCodes(ctx context.Context) error {
	r := lt.do(ctx, http.MethodPost, "/api/v1/admin/stores/"+url.PathEscape(lt.o.store)+"/qrcodes", lt.o.adminToken, nil, false)
	if r.status/100 != 2 {
		return fmt.Errorf("make shelf codes of %s: %s", lt.o.store, describe(r))
	}
	var qrs []struct {
		Code string `json:"code"`
		SKU  string `json:"sku"`
	}
	if err := json.Unmarshal(r.body, &qrs); err != nil {
		return fmt.Errorf("make shelf codes of %s: %w", lt.o.store, err)
	}
	var all []string
	for _, q := range qrs {
		all = append(all, q.Code)
		if slices.Contains(lt.skus, q.SKU) {
			lt.codes = append(lt.codes, q.Code)
		}
	}
	if len(lt.codes) == 0 {
		lt.codes = all
	}
	return nil
}

// Sign-ins are paced under the hub's per-address limit (bursts of 20, then 5 a second): 15 at once,
// then 4 a second; a 429 is waited out (its Retry-After) and tried again.
const (
	signInBurst = 15
	signInEvery = 250 * time.Millisecond
)

func (lt *loadtest) signIn(ctx context.Context) error {
	run := randomHex(4)
	start := time.Now()
	for i := range lt.o.shoppers {
		if i >= signInBurst {
			if err := sleepCtx(ctx, time.Until(start.Add(time.Duration(i-signInBurst+1)*signInEvery))); err != nil {
				return err
			}
		}
		for attempt := 0; ; attempt++ {
			r := lt.do(ctx, http.MethodPost, "/api/v1/auth/sandbox", "", map[string]any{"user": fmt.Sprintf("loadtest-%s-%d", run, i)}, false)
			if r.status == http.StatusTooManyRequests && attempt < 10 {
				if err := sleepCtx(ctx, time.Second); err != nil {
					return err
				}
				continue
			}
			if r.status != http.StatusOK {
				return fmt.Errorf("sign in sandbox shopper %d at %s: %s (is the hub's sandbox on?)", i+1, lt.o.base, describe(r))
			}
			var login struct {
				Token string `json:"token"`
			}
			if err := json.Unmarshal(r.body, &login); err != nil || login.Token == "" {
				return fmt.Errorf("sign in sandbox shopper %d: no token in %q", i+1, r.body)
			}
			lt.tokens = append(lt.tokens, login.Token)
			break
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func describe(r ltResult) string {
	if r.status == 0 {
		return "no answer (" + r.code + ")"
	}
	s := strings.TrimSpace(string(r.body))
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return fmt.Sprintf("%d %s", r.status, s)
}

// progress writes a progress line to stderr every second until the returned stop is called: over a
// terminal one line rewritten in place, else a line a second.
func (lt *loadtest) progress(start time.Time) (stop func()) {
	lead, tail := "", "\n"
	if f, ok := lt.stderr.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			lead, tail = "\r\033[K", ""
		}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		lastDone, last := 0, start
		for {
			select {
			case <-done:
				if tail == "" {
					fmt.Fprintln(lt.stderr)
				}
				return
			case now := <-tick.C:
				lt.mu.Lock()
				n, errs := lt.done, lt.errs
				p99 := percentile(slices.Clone(lt.all), 0.99)
				lt.mu.Unlock()
				rps := float64(n-lastDone) / now.Sub(last).Seconds()
				lastDone, last = n, now
				fmt.Fprintf(lt.stderr, "%s%6.1fs  %7.1f req/s  %d answered  %d errors  %d in flight  p99 %s%s",
					lead, now.Sub(start).Seconds(), rps, n, errs, lt.inflight.Load(), fmtDur(p99), tail)
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// readBack polls every order whose payment was started until it reads paid (the sandbox pays after a
// moment) or 15 seconds pass; it returns how many read paid and the statuses of those that did not.
func (lt *loadtest) readBack(ctx context.Context) (confirmed int, notPaid map[string]int) {
	notPaid = map[string]int{}
	deadline := time.Now().Add(15 * time.Second)
	work := make(chan pendingOrder)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range work {
				status := ""
				for {
					r := lt.do(ctx, http.MethodGet, "/api/v1/orders/"+url.PathEscape(p.no), p.token, nil, false)
					var ord struct {
						Status string `json:"status"`
					}
					if r.status == http.StatusOK && json.Unmarshal(r.body, &ord) == nil {
						status = ord.Status
					} else {
						status = "unreadable: " + describe(r)
					}
					if status != string(core.StatusPendingPayment) && !strings.HasPrefix(status, "unreadable") || time.Now().After(deadline) {
						break
					}
					if sleepCtx(ctx, 100*time.Millisecond) != nil {
						break
					}
				}
				mu.Lock()
				if paidStates[core.Status(status)] {
					confirmed++
				} else {
					notPaid[status]++
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range lt.paid {
		work <- p
	}
	close(work)
	wg.Wait()
	return confirmed, notPaid
}

// paidStates are the order states that mean the payment was applied (the store may have moved on since).
var paidStates = map[core.Status]bool{core.StatusPaid: true, core.StatusAccepted: true, core.StatusReady: true, core.StatusCompleted: true,
	core.StatusDelivering: true, core.StatusDelivered: true}

// percentile returns the q-quantile (nearest rank) of d, sorting it.
func percentile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	i := int(float64(len(d))*q+0.999999) - 1
	return d[max(0, min(i, len(d)-1))]
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.0fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	}
}

// report prints the final report.
func (lt *loadtest) report(w io.Writer, sendFor, elapsed time.Duration, confirmed int, notPaid map[string]int, notes []string) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	o := lt.o
	fmt.Fprintf(w, "o2ohub loadtest: %s, store %s, %d shoppers, target %.4g req/s for %s, scan share %.2f\n",
		o.base, o.store, len(lt.tokens), o.rate, o.duration, o.scanShare)
	due := lt.started.Load() + lt.skipped.Load()
	sent := lt.started.Load() - lt.idle.Load()
	fmt.Fprintf(w, "requests: %d due, %d sent in %s (%.1f/s), %d answered by %s (%.1f/s); %d not sent because --concurrency %d were in flight; %d due with nothing to order\n",
		due, sent, fmtDur(sendFor), float64(sent)/sendFor.Seconds(), lt.done, fmtDur(elapsed), float64(lt.done)/elapsed.Seconds(),
		lt.skipped.Load(), o.concurrency, lt.idle.Load())
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%-30s %7s %8s %8s %8s %8s %8s %7s\n", "endpoint", "count", "rate/s", "p50", "p90", "p99", "max", "errors")
	for _, name := range []string{epPlace, epPay, epScan} {
		e := lt.eps[name]
		n := 0
		for _, c := range e.errors {
			n += c
		}
		lat := e.lat
		fmt.Fprintf(w, "%-30s %7d %8.1f %8s %8s %8s %8s %7d\n", name, len(lat), float64(len(lat))/sendFor.Seconds(),
			fmtDur(percentile(lat, 0.50)), fmtDur(percentile(lat, 0.90)), fmtDur(percentile(lat, 0.99)), fmtDur(percentile(lat, 1)), n)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "errors by endpoint, HTTP status and API error code:")
	listed := false
	for _, name := range []string{epPlace, epPay, epScan} {
		keys := make([]string, 0, len(lt.eps[name].errors))
		for k := range lt.eps[name].errors {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			fmt.Fprintf(w, "  %-30s %-32s %d\n", name, k, lt.eps[name].errors[k])
			listed = true
		}
	}
	if !listed {
		fmt.Fprintln(w, "  none")
	}
	fmt.Fprintln(w)
	placed := len(lt.eps[epPlace].lat)
	for _, c := range lt.eps[epPlace].errors {
		placed -= c
	}
	fmt.Fprintf(w, "orders: %d placed, %d payments started, %d left unpaid at the end (they expire)\n", placed, len(lt.paid), len(lt.pending))
	fmt.Fprintf(w, "payments confirmed: %d of %d read back paid", confirmed, len(lt.paid))
	if len(notPaid) > 0 {
		keys := make([]string, 0, len(notPaid))
		for k := range notPaid {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s %d", k, notPaid[k]))
		}
		fmt.Fprintf(w, "; not paid: %s", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	var stock []string
	for _, s := range lt.skus {
		switch {
		case lt.refills[s] > 0:
			stock = append(stock, fmt.Sprintf("%s refilled %d×", s, lt.refills[s]))
		case lt.soldOut[s]:
			stock = append(stock, s+" sold out (no longer ordered)")
		}
	}
	if len(stock) > 0 {
		fmt.Fprintf(w, "stock: %s\n", strings.Join(stock, ", "))
	}
	if lt.eps[epScan].errors["429 rate_limited"] > 0 {
		notes = append(notes, "scans are limited per client address (O2OHUB_SCAN_RATE, default 10/s, bursts of 5 times that) and this test comes from one address: "+
			"start the hub under test with O2OHUB_SCAN_RATE=0 to measure scans beyond that limit")
	}
	for _, n := range notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}
