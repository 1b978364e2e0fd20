// Package egress sends the hub's outgoing webhooks over HTTP, guarded: it refuses URLs that are not https
// (unless plain http is allowed, in the sandbox) and never connects to a loopback, private, link-local,
// shared, multicast or cloud-metadata address unless private addresses are allowed. The address is checked
// when each connection is made, after the name is resolved, so a name that is rebound to a private
// address after it was accepted is not dialled either. It implements events.Sender and imports nothing of
// core but the interface types.
package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/o2ohub/o2ohub/core/events"
)

var _ events.Sender = (*Sender)(nil)

// Timeout is how long one delivery may take, connection and answer included.
const Timeout = 10 * time.Second

// Resolver looks up the addresses of a host; net.DefaultResolver is one. Tests give their own, so that
// no private address is ever dialled.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options say what the Sender may reach.
type Options struct {
	// AllowHTTP accepts http:// URLs (the sandbox); otherwise only https.
	AllowHTTP bool
	// AllowPrivate lets webhooks reach loopback, private and link-local addresses (an ERP on the
	// company network). Metadata addresses stay refused.
	AllowPrivate bool
	// Resolver resolves host names; nil is net.DefaultResolver.
	Resolver Resolver
	// Timeout bounds one delivery; 0 is Timeout.
	Timeout time.Duration
	// Transport, when set, adjusts the HTTP transport (tests trust their own TLS certificate with it).
	Transport func(*http.Transport)
}

// Sender posts webhooks. It is safe for concurrent use.
type Sender struct {
	opts   Options
	client *http.Client
}

// ErrRefused is why a URL or an address may not receive webhooks.
var ErrRefused = errors.New("address refused")

// New returns a Sender.
func New(opts Options) *Sender {
	if opts.Resolver == nil {
		opts.Resolver = net.DefaultResolver
	}
	if opts.Timeout <= 0 {
		opts.Timeout = Timeout
	}
	s := &Sender{opts: opts}
	dialer := &net.Dialer{Timeout: opts.Timeout}
	tr := &http.Transport{
		Proxy: nil, // a proxy would connect where we cannot check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, port, err := net.SplitHostPort(addr)
			if err != nil {
				return nil, err
			}
			ips, err := s.resolve(ctx, host)
			if err != nil {
				return nil, err
			}
			var errs []error
			for _, ip := range ips { // every address was checked: dial them in turn
				c, err := dialer.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
				if err == nil {
					return c, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
	}
	if opts.Transport != nil {
		opts.Transport(tr)
	}
	s.client = &http.Client{Transport: tr, Timeout: opts.Timeout,
		// A redirect is an answer, not an instruction: it could point anywhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return s
}

// resolve returns the addresses of host, all of them allowed, or why not.
func (s *Sender) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	var ips []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		ips = []netip.Addr{ip}
	} else {
		ips, err = s.opts.Resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, fmt.Errorf("resolving %s: %w", host, err)
		}
		if len(ips) == 0 {
			return nil, fmt.Errorf("%s has no address", host)
		}
	}
	for _, ip := range ips {
		if why := s.refused(ip.Unmap()); why != "" {
			return nil, fmt.Errorf("%w: %s resolves to %s, %s", ErrRefused, host, ip, why)
		}
	}
	return ips, nil
}

// metadata are the cloud metadata addresses, refused even when private addresses are allowed.
var metadata = []netip.Addr{netip.MustParseAddr("169.254.169.254"), netip.MustParseAddr("fd00:ec2::254"), netip.MustParseAddr("100.100.100.200")}

var (
	shared   = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	nat64    = netip.MustParsePrefix("64:ff9b::/96")
	reserved = netip.MustParsePrefix("240.0.0.0/4")
)

// refused says why ip may not be reached, or "".
func (s *Sender) refused(ip netip.Addr) string {
	for _, m := range metadata {
		if ip == m {
			return "a cloud metadata address"
		}
	}
	switch {
	case !ip.IsValid() || ip.IsUnspecified():
		return "an unspecified address"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast():
		return "a multicast address"
	case ip.Is4() && (reserved.Contains(ip) || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return "a reserved address"
	case nat64.Contains(ip):
		return "a NAT64 address"
	case s.opts.AllowPrivate:
		return ""
	case ip.IsLoopback():
		return "a loopback address"
	case ip.IsPrivate() || shared.Contains(ip):
		return "a private address"
	case ip.IsLinkLocalUnicast():
		return "a link-local address"
	}
	return ""
}

// Check says why rawURL may not receive webhooks, or returns nil.
func (s *Sender) Check(ctx context.Context, rawURL string) error {
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || u.Opaque != "" {
		return errors.New("must be an absolute URL")
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && s.opts.AllowHTTP:
	case u.Scheme == "http":
		return errors.New("must be https (plain http only with the sandbox on)")
	default:
		return errors.New("must be an https URL")
	}
	if u.User != nil {
		return errors.New("must not carry a user name or password")
	}
	if len(rawURL) > 2000 {
		return errors.New("must be at most 2000 bytes")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err = s.resolve(ctx, u.Hostname())
	return err
}

// Post sends one webhook and reads what the endpoint answered.
func (s *Sender) Post(ctx context.Context, rawURL string, headers map[string]string, body []byte) events.Response {
	if err := s.Check(ctx, rawURL); err != nil { // the URL was checked when it was set; the rules may have changed since
		return events.Response{Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, strings.NewReader(string(body)))
	if err != nil {
		return events.Response{Err: err}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the endpoint's, already known
		}
		return events.Response{Err: err}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // so the connection can be reused
	return events.Response{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Body: string(b)}
}

// retryAfter reads a Retry-After header: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
