// Command o2ohub runs the O2O integration hub. Subcommands: serve (default), demo, migrate, config,
// import, qr, staff, simulate, loadtest, webhooks, events. Run `o2ohub help` for their flags.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/egress"
	"github.com/o2ohub/o2ohub/integrations/sandbox"
	"github.com/o2ohub/o2ohub/internal/metrics"
	"github.com/o2ohub/o2ohub/models"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "o2ohub:", err)
		os.Exit(1)
	}
}

const usage = `usage: o2ohub [-config FILE] [command] [flags]

commands:
  serve                   run the hub (default)
  demo                    seed a demo chain (3 Shanghai stores, 20 products, stock), then serve
  migrate                 apply database migrations and exit
  config                  print the effective configuration, secrets masked
  import FILE             import products and stock from CSV or .xlsx (columns sku,name,price_fen,store,on_hand)
  qr labels --store CODE [--out FILE]
                          write a store's printable shelf-label sheet (HTML, A4), making the shelf
                          codes it lacks
  staff set USERNAME --role admin|clerk [--store CODE] [--disable]
                          create or update a console / store API account; the password comes
                          from O2OHUB_STAFF_PASSWORD, else a new one is printed once
  simulate sandbox|wechatpay|alipay --order NO [--amount FEN] [--url URL]
                          send a signed payment notification (sandbox provider, or WeChat Pay /
                          Alipay signed with the sandbox's keys) to a running hub
  simulate meituan|eleme|jddj --store CODE --sku SKU [--qty N] [--url URL]
                          have the running hub's sandbox platform place an order at the store's
                          shop; the platform pushes it to the hub as it would in production
  loadtest [--url URL] [--rate N/s] [--duration D] [--shoppers N] [--store CODE] [--sku SKU,…]
           [--scan-share F] [--admin-token TOKEN] [--concurrency N]
                          drive a running hub (sandbox on) with orders, sandbox payments and shelf
                          scans at a target rate; prints latency per endpoint and errors by code
  webhooks listen [--port 9000] [--addr 127.0.0.1] [--secret whsec_…]
                          receive webhooks locally: verify each delivery (secret from --secret or
                          O2OHUB_WEBHOOK_SECRET), print it, answer 204 or 400
  events tail [--url URL] [--types order.paid,…] [--from-start] [--interval 1s] [--token TOKEN]
                          print the running hub's events as JSON lines as they are written (admin
                          token from O2OHUB_ADMIN_TOKEN)
`

// run runs the command of args. The logs (JSON) and a command's results go to stdout; what a person at
// the terminal must read apart from the logs (the demo's staff passwords, warnings about what a command
// made) goes to stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("o2ohub", flag.ContinueOnError)
	cfgPath := fs.String("config", getenv("O2OHUB_CONFIG"), "JSON configuration file (optional)")
	fs.Usage = func() { fmt.Fprint(fs.Output(), usage) }
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*cfgPath, getenv)
	if err != nil {
		return err
	}
	cmd, rest := "serve", fs.Args()
	if len(rest) > 0 {
		cmd, rest = rest[0], rest[1:]
	}
	log := newLogger(stdout, cfg.LogLevel)
	switch cmd {
	case "serve", "demo", "config", "migrate":
		if len(rest) > 0 {
			return fmt.Errorf("unexpected arguments %q after %s (global flags such as -config go before the command)", rest, cmd)
		}
	}
	switch cmd {
	case "serve":
		return inDB(cfg, serve(ctx, cfg, log, nil))
	case "demo":
		return inDB(cfg, serve(ctx, cfg, log, stderr))
	case "config":
		for _, l := range cfg.Redacted() {
			fmt.Fprintln(stdout, l)
		}
		return nil
	case "migrate":
		db, err := openDB(ctx, cfg, true)
		if err != nil {
			return inDB(cfg, err)
		}
		defer db.Close()
		fmt.Fprintf(stdout, "%s: schema at version %d\n", dbName(cfg), models.SchemaVersion())
		return nil
	case "import":
		return inDB(cfg, importFile(ctx, cfg, log, rest, stdout))
	case "simulate":
		return inDB(cfg, simulate(ctx, cfg, log, rest, stdout, stderr))
	case "qr":
		return inDB(cfg, qrCommand(ctx, cfg, log, rest, stdout, stderr))
	case "loadtest":
		return loadtestCommand(ctx, cfg, rest, stdout, stderr)
	case "staff":
		return inDB(cfg, staffCommand(ctx, cfg, log, rest, stdout, getenv))
	case "webhooks":
		return webhooksCommand(ctx, rest, stdout, stderr, getenv)
	case "events":
		return eventsCommand(ctx, cfg, rest, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

// openDB opens the configured database and brings its schema up to date. Only serve, demo and migrate
// create a database (create true); every other command refuses a database that does not exist yet (a
// missing SQLite file, or a database without the hub's schema) instead of making an empty one where it
// happens to run.
func openDB(ctx context.Context, cfg config.Config, create bool) (*models.DB, error) {
	open := models.Open
	if !create {
		open = models.OpenExisting
	}
	db, err := open(cfg.DB)
	if err != nil {
		return nil, err
	}
	if !create {
		ok, err := db.HasSchema(ctx)
		if err != nil {
			db.Close()
			return nil, err
		}
		if !ok {
			db.Close()
			return nil, errors.New("it has no o2ohub schema: start the hub on it (o2ohub serve or demo) or run o2ohub migrate first, or set O2OHUB_DB to the hub's database")
		}
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// dbName names the configured database for messages: a SQLite file by its absolute path, a PostgreSQL
// URL with its password masked.
func dbName(cfg config.Config) string {
	if path, ok := strings.CutPrefix(cfg.DB, "sqlite:"); ok {
		file, query, _ := strings.Cut(path, "?")
		if abs, err := filepath.Abs(file); err == nil && file != "" && !strings.HasPrefix(file, "file:") && file != ":memory:" {
			file = abs
		}
		if query != "" {
			file += "?" + query
		}
		return "sqlite:" + file
	}
	return config.MaskDSN(cfg.DB)
}

// inDB adds the database a command used to its error, so "order … not found" says where it looked.
func inDB(cfg config.Config, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w (database %s)", err, dbName(cfg))
}

func newService(db *models.DB, cfg config.Config, log *slog.Logger) *core.Service {
	svc := core.New(domain.NewEnv(db, domain.SystemClock{}, log), core.Options{OrderTTL: cfg.OrderTTL, SessionTTL: cfg.SessionTTL, DeliveryRadiusM: float64(cfg.DeliveryRadiusM), PublicURL: cfg.PublicURL,
		TraceScanLimit: int64(cfg.TraceScanLimit), AcceptTimeout: cfg.AcceptTimeout, RerouteRadiusM: float64(cfg.RerouteRadiusM), PickupTTL: cfg.PickupTTL,
		PickupFailLimit: cfg.PickupFailLimit, StaffSessionTTL: cfg.StaffSessionTTL, PasswordCost: cfg.PasswordCost,
		MarketPushWindow: cfg.MarketPushWindow, Market: market.Options{PushInterval: cfg.MarketPushInterval, FullSync: cfg.MarketFullSync, PullInterval: cfg.MarketPull},
		Events:  events.Options{Retention: cfg.EventRetention},
		Loyalty: loyalty.Defaults{TTL: cfg.PointsTTL, Hold: cfg.PointsHold}, Referral: referral.Options{Hold: cfg.PointsHold, Page: cfg.WechatReferralPage},
		CampaignRate: cfg.CampaignRate})
	svc.Events.SetSender(egress.New(egress.Options{AllowHTTP: cfg.Sandbox, AllowPrivate: cfg.WebhookAllowPrivate}))
	return svc
}

// serve runs the hub until ctx ends. With demo set it first seeds the demo chain, printing the demo
// staff accounts it creates to demo.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, demo io.Writer) error {
	db, err := openDB(ctx, cfg, true)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newService(db, cfg, log)
	plat, err := startPlatforms(svc, cfg, log)
	if err != nil {
		return err
	}
	defer plat.close()
	if demo != nil {
		if err := seedDemo(ctx, svc, demo); err != nil {
			return fmt.Errorf("seed demo data: %w", err)
		}
		if err := bindDemoShops(ctx, svc, plat.names()); err != nil {
			return err
		}
		log.Info("demo chain seeded", "stores", len(demoStores), "products", len(demoProducts), "sandbox_platforms", strings.Join(plat.names(), ","))
	}
	plat.syncShops(ctx, svc, 5*time.Second, log)
	var gw *sandbox.Gateway
	secret := ""
	if cfg.Sandbox {
		if secret, err = sandboxSecret(ctx, db, cfg); err != nil {
			return err
		}
		gw = sandbox.NewGateway(db, secret, 300*time.Millisecond, log) // its trades and owed notifications live in db; Close stops its sweep
		svc.RegisterGateway(gw)
		log.Warn("the sandbox is enabled: anyone can sign in, bind any phone and pay without money; set O2OHUB_SANDBOX=false in production")
		if cfg.SandboxExposed() {
			log.Warn("DANGER: the sandbox listens beyond loopback: anyone on the network can bind any phone number and take over that member's orders and pickup codes; listen on 127.0.0.1 (unset O2OHUB_ADDR) or set O2OHUB_SANDBOX=false",
				"addr", cfg.Addr)
		}
	}
	wc, err := startWechat(ctx, cfg, db, log)
	if err != nil {
		if gw != nil {
			gw.Close()
		}
		return fmt.Errorf("wechat: %w", err)
	}
	defer wc.close()
	wc.register(svc)
	ac, err := startAlipay(ctx, cfg, db, log)
	if err != nil {
		if gw != nil {
			gw.Close()
		}
		return fmt.Errorf("alipay: %w", err)
	}
	defer ac.close()
	ac.register(svc)
	engine := handlers.New(handlers.Deps{Service: svc, DB: db, Log: log, AdminToken: cfg.AdminToken, Sandbox: cfg.Sandbox, SandboxSecret: secret,
		TrustedProxies: cfg.ProxyList(), WeChat: wc.mp, WeChatPay: wc.pay, Alipay: ac.client,
		ScanPage: cfg.WechatScanPage, WechatLink: cfg.WechatLink, AlipayLink: cfg.AlipayLink, ScanRate: cfg.ScanRate, PublicURL: cfg.PublicURL, SandboxPlatforms: plat.handlers()})
	srv := &http.Server{Addr: cfg.Addr, Handler: engine, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second}

	if pool, err := db.Pool(); err == nil {
		if err := metrics.RegisterDB(pool); err != nil {
			log.Warn("pool metrics not registered", "err", err)
		}
	}
	metrics.SetBacklog(svc.Backlog)
	workers, stopWorkers := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); svc.RunWorkers(workers, cfg.ExpiryInterval) }()
	go func() {
		defer wg.Done()
		if wc.pay != nil {
			wc.pay.RefreshCertificates(workers, 12*time.Hour)
		}
	}()

	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("o2ohub listening", "addr", cfg.Addr, "public_url", cfg.PublicURL, "sandbox", cfg.Sandbox, "admin_api", cfg.AdminToken != "",
		"wechat", wc.mp != nil, "wechatpay", wc.pay != nil, "alipay", ac.client != nil)

	select {
	case err = <-errc:
	case <-ctx.Done():
		log.Info("shutting down: draining requests")
		// Answers from now on close their connection, so a proxy does not reuse one as it is closed.
		srv.SetKeepAlivesEnabled(false)
		sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		err = srv.Shutdown(sctx)
		cancel()
	}
	if gw != nil {
		gw.Close()
	}
	stopWorkers()
	wg.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	log.Info("stopped")
	return err
}

func importFile(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: o2ohub import FILE.csv|FILE.xlsx")
	}
	data, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	format := catalog.FormatAuto // a CSV, or a workbook whatever its name, told by its content
	if strings.EqualFold(filepath.Ext(args[0]), ".xlsx") {
		format = catalog.FormatXLSX
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	rep, err := newService(db, cfg, log).Catalog.Import(ctx, data, format)
	if err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	how := rep.Format
	if rep.Encoding != "" {
		how += " in " + rep.Encoding
	}
	fmt.Fprintf(stdout, "read %s as %s: applied %d rows, %d failed\n", args[0], how, rep.Applied, rep.Failed)
	for _, e := range rep.Errors {
		fmt.Fprintf(stdout, "row %d: %s\n", e.Row, e.Error)
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d rows failed", rep.Failed)
	}
	return nil
}

func simulate(ctx context.Context, cfg config.Config, log *slog.Logger, args []string, stdout, stderr io.Writer) error {
	const simUsage = "usage: o2ohub simulate sandbox|wechatpay|alipay --order NO [--amount FEN] [--url URL]\n   or: " + simMarketUsage
	if len(args) > 0 && slices.Contains(market.Platforms, args[0]) {
		return simulateMarket(ctx, cfg, log, args[0], args[1:], stdout)
	}
	if len(args) == 0 || (args[0] != "sandbox" && args[0] != "wechatpay" && args[0] != "alipay") {
		return errors.New(simUsage)
	}
	provider := args[0]
	fs := flag.NewFlagSet("simulate "+provider, flag.ContinueOnError)
	orderNo := fs.String("order", "", "order number")
	amount := fs.Int64("amount", 0, "amount in fen (default: the order total)")
	url := fs.String("url", strings.TrimRight(cfg.PublicURL, "/")+"/webhooks/"+provider, "webhook URL of the running hub")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *orderNo == "" || fs.NArg() > 0 {
		return errors.New(simUsage)
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newService(db, cfg, log)
	if *amount == 0 {
		if *amount, err = svc.OrderTotal(ctx, *orderNo); err != nil {
			return err
		}
	}
	var reply string
	switch provider {
	case "wechatpay":
		reply, err = simulateWechatPay(ctx, cfg, db, svc, *orderNo, *amount, *url)
	case "alipay":
		reply, err = simulateAlipay(ctx, cfg, db, *orderNo, *amount, *url)
	default:
		reply, err = simulateSandbox(ctx, cfg, db, *orderNo, *amount, *url)
	}
	if err != nil {
		return err
	}
	if reply == "" {
		reply = "accepted"
	}
	fmt.Fprintf(stdout, "sent %s notification for %s (%d fen) to %s: %s\n", provider, *orderNo, *amount, *url, reply)
	if provider != "sandbox" {
		// The notification is signed with the sandbox's keys, but the running sandbox WeChat Pay / Alipay
		// never saw this payment: it refuses a refund of it (see docs/api.md).
		fmt.Fprintf(stderr, "note: the running hub's sandbox %s does not know this payment: a refund of order %s (a cancel, an admin refund, "+
			"a payment that cannot be kept) is refused by it, retried 8 times over about 2 hours, then marked unconfirmed and alerted\n", provider, *orderNo)
	}
	return nil
}

func simulateSandbox(ctx context.Context, cfg config.Config, db *models.DB, orderNo string, amount int64, url string) (string, error) {
	secret, err := sandboxSecret(ctx, db, cfg)
	if err != nil {
		return "", err
	}
	now := time.Now()
	n := sandbox.Notification{ID: fmt.Sprintf("sbx_sim_%d", now.UnixNano()), OrderNo: orderNo, TransactionID: sandbox.TransactionID(orderNo),
		AmountFen: amount, PaidAt: now.UTC(), Status: "SUCCESS"}
	return sandbox.Send(ctx, &http.Client{Timeout: 10 * time.Second}, url, []byte(secret), n, now)
}

// sandboxSecret returns the configured sandbox signing key, or the random one this database keeps, so no
// two installations share a key that would let strangers sign sandbox payments.
func sandboxSecret(ctx context.Context, db *models.DB, cfg config.Config) (string, error) {
	if cfg.SandboxSecret != "" {
		return cfg.SandboxSecret, nil
	}
	return db.Setting(ctx, "sandbox_secret", func() (string, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return hex.EncodeToString(b), err
	})
}
