package wechat

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/silenceper/wechat/v2/util"
)

// Default base URLs of WeChat's APIs.
const (
	DefaultAPIBase = "https://api.weixin.qq.com"
	DefaultPayBase = "https://api.mch.weixin.qq.com"
)

// rebase is a RoundTripper that sends requests for one host to another base URL (a proxy, or a fake).
type rebase struct {
	from string
	to   *url.URL
	next http.RoundTripper
}

func (t rebase) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Host == t.from && (t.to.Host != t.from || t.to.Scheme != r.URL.Scheme) {
		r = r.Clone(r.Context())
		r.URL.Scheme, r.URL.Host = t.to.Scheme, t.to.Host
		r.URL.Path = strings.TrimRight(t.to.Path, "/") + r.URL.Path
		r.Host = t.to.Host
	}
	return t.next.RoundTrip(r)
}

// NewClient returns an HTTP client that sends requests meant for the default base (by host) to base.
func NewClient(defaultBase, base string, timeout time.Duration) (*http.Client, error) {
	from, err := url.Parse(defaultBase)
	if err != nil {
		return nil, err
	}
	to, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (to.Scheme != "http" && to.Scheme != "https") || to.Host == "" {
		return nil, fmt.Errorf("wechat: base URL %q must be an absolute http(s) URL", base)
	}
	return &http.Client{Timeout: timeout, Transport: rebase{from: from.Host, to: to, next: http.DefaultTransport}}, nil
}

// apiBase is where silenceper/wechat's process-wide client sends requests meant for api.weixin.qq.com.
var apiBase struct {
	sync.Mutex
	base  string
	users int
	once  sync.Once
	to    atomic.Pointer[url.URL]
}

// apiTransport sends requests for api.weixin.qq.com to the current API base.
type apiTransport struct{ next http.RoundTripper }

func (t apiTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	to := apiBase.to.Load()
	if to == nil {
		return t.next.RoundTrip(r)
	}
	return rebase{from: "api.weixin.qq.com", to: to, next: t.next}.RoundTrip(r)
}

// UseAPIBase points silenceper/wechat's process-wide HTTP client at base (the mini-program API) until
// release is called. Its hooks are global, so while one base is in use a different one is an error;
// once every user has released it, another base may be used (a second hub started in the same process
// after the first stopped).
func UseAPIBase(base string) (release func(), err error) {
	base = strings.TrimRight(base, "/")
	to, err := url.Parse(base)
	if err != nil || (to.Scheme != "http" && to.Scheme != "https") || to.Host == "" {
		return nil, fmt.Errorf("wechat: base URL %q must be an absolute http(s) URL", base)
	}
	apiBase.Lock()
	defer apiBase.Unlock()
	if apiBase.users > 0 && apiBase.base != base {
		return nil, fmt.Errorf("wechat: this process already talks to %s, not %s", apiBase.base, base)
	}
	apiBase.once.Do(func() {
		// The qrcode API ignores silenceper's URI modifier, so the rewrite lives in the client's transport,
		// which every call goes through.
		util.DefaultHTTPClient = &http.Client{Timeout: 15 * time.Second, Transport: apiTransport{next: http.DefaultTransport}}
	})
	apiBase.base, apiBase.users = base, apiBase.users+1
	apiBase.to.Store(to)
	var released sync.Once
	return func() {
		released.Do(func() {
			apiBase.Lock()
			defer apiBase.Unlock()
			apiBase.users--
		})
	}, nil
}
