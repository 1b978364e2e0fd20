package wechat

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
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

var apiBase struct {
	sync.Mutex
	base string
}

// UseAPIBase points silenceper/wechat's process-wide HTTP client at base (the mini-program API). Its
// hooks are global, so the first base wins: a second, different base is an error.
func UseAPIBase(base string) error {
	base = strings.TrimRight(base, "/")
	apiBase.Lock()
	defer apiBase.Unlock()
	if apiBase.base != "" {
		if apiBase.base != base {
			return fmt.Errorf("wechat: this process already talks to %s, not %s", apiBase.base, base)
		}
		return nil
	}
	client, err := NewClient(DefaultAPIBase, base, 15*time.Second)
	if err != nil {
		return err
	}
	// The qrcode API ignores the URI modifier, so the rewrite lives in the client's transport, which
	// every call goes through.
	util.DefaultHTTPClient = client
	apiBase.base = base
	return nil
}
