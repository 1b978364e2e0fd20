// Package egress sends the hub's outgoing webhooks over HTTP, guarded: it refuses URLs that are not https
// (unless plain http is allowed, in the sandbox) and never connects to a cloud-metadata address (IPv4
// link-local as a whole), a multicast, reserved or unspecified one, nor, unless private addresses are
// allowed, to a loopback, private, shared or IPv6 link-local one. The address is checked
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
		why := s.refused(ip)
		if why == "" {
			continue
		}
		if !s.opts.AllowPrivate && (&Sender{opts: Options{AllowPrivate: true}}).refused(ip) == "" {
			why += "; set O2OHUB_WEBHOOK_ALLOW_PRIVATE=true to allow loopback and private endpoints"
		}
		if ip.String() == host {
			return nil, fmt.Errorf("%w: %s is %s", ErrRefused, host, why)
		}
		return nil, fmt.Errorf("%w: %s resolves to %s, %s", ErrRefused, host, ip, why)
	}
	return ips, nil
}

// metadata are the cloud providers' instance addresses (metadata, credentials, agents), refused even
// when private addresses are allowed: IPv4 link-local as a whole (AWS 169.254.169.254 and the ECS
// credentials at 169.254.170.2, GCP, Azure), AWS's IPv6 services, Alibaba's and Oracle's.
var metadata = []netip.Prefix{netip.MustParsePrefix("169.254.0.0/16"), netip.MustParsePrefix("fd00:ec2::/32"),
	netip.MustParsePrefix("100.100.100.200/32"), netip.MustParsePrefix("192.0.0.192/32")}

var (
	shared    = netip.MustParsePrefix("100.64.0.0/10") // carrier-grade NAT
	nat64     = []netip.Prefix{netip.MustParsePrefix("64:ff9b::/96"), netip.MustParsePrefix("64:ff9b:1::/48")}
	reserved  = netip.MustParsePrefix("240.0.0.0/4")
	thisNet   = netip.MustParsePrefix("0.0.0.0/8")    // "this network": 0.x.y.z may reach the host itself
	ietf      = netip.MustParsePrefix("192.0.0.0/24") // IETF protocol assignments
	v4compat  = netip.MustParsePrefix("::/96")        // IPv4-compatible IPv6, deprecated; :: and ::1 are in it too
	sixToFour = netip.MustParsePrefix("2002::/16")    // 6to4: the IPv4 address follows the prefix
)

// refused says why ip may not be reached, or "".
func (s *Sender) refused(ip netip.Addr) string {
	ip = ip.Unmap().WithZone("") // a zone names an interface, not another address
	if sixToFour.Contains(ip) {
		b := ip.As16()
		if why := s.refused(netip.AddrFrom4([4]byte(b[2:6]))); why != "" {
			return "a 6to4 address of " + why
		}
	}
	for _, m := range metadata {
		if m.Contains(ip) {
			return "a cloud metadata or link-local address"
		}
	}
	switch {
	case !ip.IsValid() || ip.IsUnspecified() || thisNet.Contains(ip):
		return "an unspecified address"
	case ip.IsMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsLinkLocalMulticast():
		return "a multicast address"
	case ip.Is4() && (reserved.Contains(ip) || ietf.Contains(ip) || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255})):
		return "a reserved address"
	case nat64[0].Contains(ip) || nat64[1].Contains(ip):
		return "a NAT64 address"
	case v4compat.Contains(ip) && !ip.IsLoopback():
		return "an IPv4-compatible address"
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
	if u.Hostname() == "" {
		return errors.New("must name a host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errors.New("port must be 1 to 65535")
		}
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

// maxRetryAfter is the longest Retry-After read; the events service caps it further.
const maxRetryAfter = 365 * 24 * time.Hour

// retryAfter reads a Retry-After header: seconds, or an HTTP date; a wait past maxRetryAfter is
// maxRetryAfter (it must not overflow into a short one).
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseUint(v, 10, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		if err != nil || n > uint64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), maxRetryAfter)
	}
	return 0
}
