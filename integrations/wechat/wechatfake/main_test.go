package wechatfake

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/silenceper/wechat/v2/miniprogram"
	mpconfig "github.com/silenceper/wechat/v2/miniprogram/config"
	"github.com/silenceper/wechat/v2/util"
	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/core/option"
)

const (
	testAppID  = "wx6fa3b2c1d0e9f871"
	testSecret = "0123456789abcdef0123456789abcdef"
	testMchID  = "1900009191"
)

// testKeys are generated once per test binary: RSA-2048 generation is slow.
var testKeys Keys

// mpTarget is where silenceper/wechat's process-global hooks send api.weixin.qq.com calls.
var mpTarget atomic.Pointer[string]

func TestMain(m *testing.M) {
	var err error
	if testKeys, err = GenerateKeys(); err != nil {
		fmt.Fprintln(os.Stderr, "generate keys:", err)
		os.Exit(1)
	}
	// silenceper/wechat builds its URLs from constants: rewrite them, once, for the whole binary. The
	// qrcode call ignores the URI modifier, so the default client rewrites hosts too.
	util.SetURIModifier(func(u string) string {
		if t := mpTarget.Load(); t != nil {
			return strings.Replace(u, "https://api.weixin.qq.com", *t, 1)
		}
		return u
	})
	util.DefaultHTTPClient = &http.Client{Timeout: 10 * time.Second, Transport: &rewriteTransport{target: func() string {
		if t := mpTarget.Load(); t != nil {
			return *t
		}
		return ""
	}}}
	os.Exit(m.Run())
}

// rewriteTransport sends every request to target, keeping the path and query: the SDKs' base URLs are
// fixed, so this is how they reach the fake.
type rewriteTransport struct{ target func() string }

func (rt *rewriteTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t, err := url.Parse(rt.target())
	if err != nil || t.Host == "" {
		return nil, fmt.Errorf("no fake to send %s to", r.URL)
	}
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.Scheme, t.Host, ""
	return http.DefaultTransport.RoundTrip(r)
}

func clientTo(srv *httptest.Server) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &rewriteTransport{target: func() string { return srv.URL }}}
}

// newFake serves a fake with the test identities; opt may adjust the options.
func newFake(t *testing.T, opt func(*Options)) (*Fake, *httptest.Server) {
	t.Helper()
	o := Options{AppID: testAppID, AppSecret: testSecret, MchID: testMchID, Keys: testKeys}
	if opt != nil {
		opt(&o)
	}
	f := New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		f.Close()
		srv.Close()
	})
	return f, srv
}

// memCache is a mutex-guarded silenceper cache (its own memory cache races in Get).
type memCache struct {
	mu sync.Mutex
	m  map[string]memEntry
}

type memEntry struct {
	v   any
	exp time.Time
}

func (c *memCache) Get(key string) any {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok || time.Now().After(e.exp) {
		return nil
	}
	return e.v
}

func (c *memCache) Set(key string, v any, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]memEntry{}
	}
	c.m[key] = memEntry{v, time.Now().Add(d)}
	return nil
}

func (c *memCache) IsExist(key string) bool { return c.Get(key) != nil }

func (c *memCache) Delete(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, key)
	return nil
}

// newMiniProgram points silenceper/wechat at srv (tests using it must not run in parallel) and returns a
// client using the stable access token, with its cache.
func newMiniProgram(t *testing.T, srv *httptest.Server, secret string) (*miniprogram.MiniProgram, *memCache) {
	t.Helper()
	u := srv.URL
	mpTarget.Store(&u)
	t.Cleanup(func() { mpTarget.Store(nil) })
	c := &memCache{}
	return miniprogram.NewMiniProgram(&mpconfig.Config{AppID: testAppID, AppSecret: secret, Cache: c, UseStableAK: true}), c
}

// payClient is a wechatpay-go client in public-key mode whose requests reach srv.
func payClient(t *testing.T, srv *httptest.Server) *core.Client {
	t.Helper()
	c, err := core.NewClient(context.Background(),
		option.WithWechatPayPublicKeyAuthCipher(testMchID, testKeys.MerchantSerial, testKeys.MerchantKey,
			testKeys.PublicKeyID, &testKeys.PlatformKey.PublicKey),
		option.WithHTTPClient(clientTo(srv)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// notifyReceiver is a hub stand-in: each POST is handed to handle, whose status it answers.
type notifyReceiver struct {
	srv *httptest.Server
	got chan received
}

type received struct {
	header http.Header
	body   []byte
}

func newReceiver(t *testing.T, status func(n int) int) *notifyReceiver {
	t.Helper()
	nr := &notifyReceiver{got: make(chan received, 32)}
	var n atomic.Int64
	nr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		nr.got <- received{r.Header.Clone(), b}
		code := status(int(n.Add(1)))
		if code != http.StatusOK && code != http.StatusNoContent {
			w.WriteHeader(code)
			_, _ = io.WriteString(w, `{"code":"FAIL","message":"try later"}`)
			return
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(nr.srv.Close)
	return nr
}

func (nr *notifyReceiver) next(t *testing.T) received {
	t.Helper()
	select {
	case r := <-nr.got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("no notification arrived")
		return received{}
	}
}

// request rebuilds a received notification as the *http.Request a hub handler would see.
func (r received) request() *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/notify", strings.NewReader(string(r.body)))
	req.Header = r.header.Clone()
	return req
}

func always(code int) func(int) int { return func(int) int { return code } }
