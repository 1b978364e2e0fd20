package alipayfake

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/smartwalle/alipay/v3"
)

// sharedKeys generates the RSA keys once per test binary.
var sharedKeys = sync.OnceValues(GenerateKeys)

func testKeys(t *testing.T) Keys {
	t.Helper()
	k, err := sharedKeys()
	if err != nil {
		t.Fatalf("GenerateKeys: %v", err)
	}
	return k
}

const testAppID = "2021000000000042"

var cst = cn.Zone

// env is a fake gateway served over real HTTP on loopback.
type env struct {
	fake    *Fake
	srv     *httptest.Server
	gateway string
	mode    Mode
}

func newEnv(t *testing.T, o Options) *env {
	t.Helper()
	if o.Keys.AppKey == nil {
		o.Keys = testKeys(t)
	}
	if o.AppID == "" {
		o.AppID = testAppID
	}
	f := New(o)
	srv := httptest.NewServer(f)
	t.Cleanup(func() {
		f.Close()
		srv.Close()
	})
	return &env{fake: f, srv: srv, gateway: srv.URL + GatewayPath, mode: o.Mode}
}

// sdkClient is the real smartwalle SDK pointed at the fake, configured as the hub must configure it.
func sdkClient(t *testing.T, e *env) *alipay.Client {
	t.Helper()
	k := e.fake.Keys()
	c, err := alipay.New(e.fake.AppID(), k.AppPrivateKeyPEM(), true,
		alipay.WithProductionGateway(e.gateway),
		alipay.WithHTTPClient(e.srv.Client()),
		alipay.WithTimeLocation(cst))
	if err != nil {
		t.Fatalf("alipay.New: %v", err)
	}
	switch e.mode {
	case PublicKeyMode:
		if err := c.LoadAliPayPublicKey(k.AlipayPublicKeyPEM()); err != nil {
			t.Fatalf("LoadAliPayPublicKey: %v", err)
		}
	case CertMode:
		if err := c.LoadAppCertPublicKey(k.AppCertPEM()); err != nil {
			t.Fatalf("LoadAppCertPublicKey: %v", err)
		}
		if err := c.LoadAliPayRootCert(k.RootCertPEM()); err != nil {
			t.Fatalf("LoadAliPayRootCert: %v", err)
		}
		if err := c.LoadAlipayCertPublicKey(k.AlipayCertPEM()); err != nil {
			t.Fatalf("LoadAlipayCertPublicKey: %v", err)
		}
	}
	return c
}

// received is one notification as the merchant saw it.
type received struct {
	raw          []byte
	contentType  string
	form         url.Values
	notification *alipay.Notification // decoded (and so verified) by the SDK; nil if decode failed
	decodeErr    error
}

// receiver is the merchant's notify_url. It verifies with the SDK's DecodeNotification and answers with
// reply(n) for the n-th notification (1-based), "success" by default.
type receiver struct {
	URL   string
	got   chan received
	mu    sync.Mutex
	n     int
	reply func(n int) (status int, body string)
}

func newReceiver(t *testing.T, c *alipay.Client) *receiver {
	t.Helper()
	rv := &receiver{got: make(chan received, 64)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, err := url.ParseQuery(string(raw))
		if err != nil {
			t.Errorf("notification body is not a form: %v", err)
		}
		got := received{raw: raw, contentType: r.Header.Get("Content-Type"), form: form}
		if c != nil {
			got.notification, got.decodeErr = c.DecodeNotification(form)
		}
		rv.mu.Lock()
		rv.n++
		n, reply := rv.n, rv.reply
		rv.mu.Unlock()
		status, body := http.StatusOK, "success"
		if reply != nil {
			status, body = reply(n)
		}
		rv.got <- got
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	rv.URL = srv.URL + "/notify/alipay"
	return rv
}

func (rv *receiver) setReply(fn func(n int) (int, string)) {
	rv.mu.Lock()
	rv.reply = fn
	rv.mu.Unlock()
}

// next waits for the next notification.
func (rv *receiver) next(t *testing.T) received {
	t.Helper()
	select {
	case got := <-rv.got:
		return got
	case <-time.After(5 * time.Second):
		t.Fatal("no notification arrived")
		return received{}
	}
}

// none checks that no notification arrives for a little while.
func (rv *receiver) none(t *testing.T) {
	t.Helper()
	select {
	case got := <-rv.got:
		t.Fatalf("unexpected notification: %s", got.raw)
	case <-time.After(100 * time.Millisecond):
	}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}
