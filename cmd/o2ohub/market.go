package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/o2ohub/o2ohub/config"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/integrations/eleme"
	"github.com/o2ohub/o2ohub/integrations/eleme/elemefake"
	"github.com/o2ohub/o2ohub/integrations/jddj"
	"github.com/o2ohub/o2ohub/integrations/jddj/jddjfake"
	"github.com/o2ohub/o2ohub/integrations/meituan"
	"github.com/o2ohub/o2ohub/integrations/meituan/meituanfake"
	"github.com/o2ohub/o2ohub/models"
)

// platformFake is what the hub needs of a sandbox platform: its API and sandbox order form, and the
// shops it knows.
type platformFake interface {
	http.Handler
	AddShop(shopID string)
	Close()
}

// platforms is the set of instant-retail platforms this process talks to. In the sandbox, each platform
// without credentials is played by its in-process fake on a loopback port.
type platforms struct {
	fakes map[string]platformFake
	srvs  []*http.Server
	stop  context.CancelFunc
	wg    sync.WaitGroup
}

// startPlatforms registers a connector for each configured platform; with the sandbox on, each platform
// whose settings are empty (config refuses real credentials beside the sandbox) gets its fake, which
// pushes to the hub's public URL as the platform would.
func startPlatforms(svc *core.Service, cfg config.Config, log *slog.Logger) (*platforms, error) {
	p := &platforms{fakes: map[string]platformFake{}}
	pub := strings.TrimRight(cfg.PublicURL, "/")
	if cfg.MeituanAppID == "" && cfg.Sandbox {
		id, secret := "sandbox-meituan", randomHex(16)
		base, err := p.serve(market.Meituan, meituanfake.New(meituanfake.Options{AppID: id, AppSecret: secret, PushURL: pub + "/webhooks/meituan", Log: log}))
		if err != nil {
			return nil, err
		}
		cfg.MeituanAppID, cfg.MeituanAppSecret, cfg.MeituanBase = id, secret, base+meituanfake.APIPrefix
	}
	if cfg.ElemeSource == "" && cfg.Sandbox {
		source, secret := "sandbox-eleme", randomHex(16)
		base, err := p.serve(market.Eleme, elemefake.New(elemefake.Options{Source: source, Secret: secret, PushURL: pub + "/webhooks/eleme", Log: log}))
		if err != nil {
			p.close()
			return nil, err
		}
		cfg.ElemeSource, cfg.ElemeSecret, cfg.ElemeBase = source, secret, base+"/"
	}
	if cfg.JDDJAppKey == "" && cfg.Sandbox {
		key, secret, token := "sandbox-jddj", randomHex(16), randomHex(16)
		base, err := p.serve(market.JDDJ, jddjfake.New(jddjfake.Options{AppKey: key, AppSecret: secret, Token: token, PushURL: pub + "/webhooks/jddj", Log: log}))
		if err != nil {
			p.close()
			return nil, err
		}
		cfg.JDDJAppKey, cfg.JDDJAppSecret, cfg.JDDJToken, cfg.JDDJOperator, cfg.JDDJBase = key, secret, token, "o2ohub-sandbox", base
	}
	if err := registerPlatforms(svc, cfg); err != nil {
		p.close()
		return nil, err
	}
	if len(p.fakes) > 0 {
		log.Info("sandbox platforms started", "platforms", strings.Join(p.names(), ","))
	}
	return p, nil
}

// serve starts fake on a loopback port and returns its base URL.
func (p *platforms) serve(name string, fake platformFake) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fake.Close()
		return "", err
	}
	srv := &http.Server{Handler: fake, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	p.fakes[name] = fake
	p.srvs = append(p.srvs, srv)
	return "http://" + ln.Addr().String(), nil
}

// names lists the platforms played by fakes.
func (p *platforms) names() []string {
	var out []string
	for _, name := range market.Platforms {
		if p.fakes[name] != nil {
			out = append(out, name)
		}
	}
	return out
}

// handlers returns the fakes as the HTTP layer serves their sandbox order forms.
func (p *platforms) handlers() map[string]http.Handler {
	out := map[string]http.Handler{}
	for name, f := range p.fakes {
		out[name] = f
	}
	return out
}

// syncShops tells each fake about the shops bound to it now and then every interval until ctx ends, so
// a shop an admin binds in the sandbox is known to its platform as a real one would be.
func (p *platforms) syncShops(ctx context.Context, svc *core.Service, interval time.Duration, log *slog.Logger) {
	if len(p.fakes) == 0 {
		return
	}
	sync := func() {
		shops, err := svc.Market.Shops(ctx, "")
		if err != nil {
			if ctx.Err() == nil {
				log.Error("sandbox platforms: list shops", "err", err)
			}
			return
		}
		for _, s := range shops {
			if f := p.fakes[s.Platform]; f != nil {
				f.AddShop(s.ShopID)
			}
		}
	}
	sync()
	ctx, p.stop = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				sync()
			}
		}
	}()
}

// close stops the fakes and their servers.
func (p *platforms) close() {
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	for _, s := range p.srvs {
		s.Close()
	}
	for _, f := range p.fakes {
		f.Close()
	}
}

// bindDemoShops binds each demo store to a shop of the same code on every sandbox platform that has none
// yet, so the demo's platform orders and stock flow without a step.
func bindDemoShops(ctx context.Context, svc *core.Service, names []string) error {
	for _, name := range names {
		for _, st := range demoStores {
			_, err := svc.Market.Shop(ctx, name, st.Code)
			if err == nil {
				continue
			}
			if !errors.Is(err, domain.ErrNotFound) {
				return err
			}
			if _, err := svc.Market.PutShop(ctx, market.ShopInput{Platform: name, ShopID: st.Code, Store: st.Code, Ratio: "1"}); err != nil {
				return fmt.Errorf("bind %s shop %s: %w", name, st.Code, err)
			}
		}
	}
	return nil
}

// registerPlatforms enables each platform whose credentials are configured (config has checked that
// each is configured whole); a platform left empty stays off and its webhooks answer 404.
func registerPlatforms(svc *core.Service, cfg config.Config) error {
	if cfg.MeituanAppID != "" {
		c, err := meituan.New(meituan.Config{AppID: cfg.MeituanAppID, AppSecret: cfg.MeituanAppSecret, Base: cfg.MeituanBase})
		if err != nil {
			return fmt.Errorf("meituan: %w", err)
		}
		svc.Market.Register(c)
	}
	if cfg.ElemeSource != "" {
		c, err := eleme.New(eleme.Config{Source: cfg.ElemeSource, Secret: cfg.ElemeSecret, Base: cfg.ElemeBase})
		if err != nil {
			return fmt.Errorf("eleme: %w", err)
		}
		svc.Market.Register(c)
	}
	if cfg.JDDJAppKey != "" {
		c, err := jddj.New(jddj.Config{AppKey: cfg.JDDJAppKey, AppSecret: cfg.JDDJAppSecret, Token: cfg.JDDJToken, Operator: cfg.JDDJOperator, Base: cfg.JDDJBase})
		if err != nil {
			return fmt.Errorf("jddj: %w", err)
		}
		svc.Market.Register(c)
	}
	return nil
}

// randomHex returns n random bytes in hex: the sandbox platforms' credentials, new at each start.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

const simMarketUsage = "usage: o2ohub simulate meituan|eleme|jddj --store CODE --sku SKU [--qty N] [--url URL]"

// simulateMarket asks the running hub's sandbox platform to place an order at the shop bound to a store;
// the platform then pushes it to the hub as it would in production.
func simulateMarket(ctx context.Context, cfg config.Config, log *slog.Logger, name string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("simulate "+name, flag.ContinueOnError)
	store := fs.String("store", "", "store code (its shop on the platform receives the order)")
	sku := fs.String("sku", "", "our SKU ordered")
	qty := fs.Int64("qty", 1, "units ordered")
	url := fs.String("url", strings.TrimRight(cfg.PublicURL, "/")+"/sandbox/"+name+"/orders", "the running hub's sandbox platform order form")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *store == "" || *sku == "" || *qty < 1 || fs.NArg() > 0 {
		return errors.New(simMarketUsage)
	}
	db, err := openDB(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := newService(db, cfg, log)
	shops, err := svc.Market.Shops(ctx, *store)
	if err != nil {
		return fmt.Errorf("store %s: %w", *store, err)
	}
	shopID := ""
	for _, s := range shops {
		if s.Platform == name {
			shopID = s.ShopID
		}
	}
	if shopID == "" {
		return fmt.Errorf("store %s has no %s shop bound (PUT /api/v1/admin/marketplaces/%s/shops/{shop_id})", *store, name, name)
	}
	prod, err := svc.Catalog.ProductBySKU(ctx, *sku)
	if err != nil {
		return fmt.Errorf("sku %s: %w", *sku, err)
	}
	code := prod.SKU
	var mapped models.MarketSKU
	if err := db.Conn(ctx).Where("platform = ? AND product_id = ?", name, prod.ID).Order("id").Limit(1).Find(&mapped).Error; err != nil {
		return err
	} else if mapped.ID != 0 {
		code = mapped.Code
	}
	body, _ := json.Marshal(map[string]any{"shop_id": shopID, "lines": []map[string]any{{"code": code, "name": prod.Name, "qty": *qty, "price_fen": prod.PriceFen}}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, *url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %s: %s", *url, resp.Status, strings.TrimSpace(string(reply)))
	}
	var out struct {
		OrderID string `json:"order_id"`
	}
	if err := json.Unmarshal(reply, &out); err != nil || out.OrderID == "" {
		return fmt.Errorf("%s answered %q", *url, reply)
	}
	fmt.Fprintf(stdout, "%s order %s placed at shop %s (store %s): %d × %s; the platform pushes it to the hub\n", name, out.OrderID, shopID, *store, *qty, *sku)
	return nil
}
