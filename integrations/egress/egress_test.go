package egress

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// fakeResolver answers from a table and counts lookups; it never asks a real DNS server.
type fakeResolver struct {
	mu    sync.Mutex
	hosts map[string][]string
}

func (f *fakeResolver) set(host string, ips ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hosts[host] = ips
}

func (f *fakeResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	ips, ok := f.hosts[host]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	var out []netip.Addr
	for _, ip := range ips {
		out = append(out, netip.MustParseAddr(ip))
	}
	return out, nil
}

// guard returns a Sender whose every dial is recorded: a refused address must never reach it.
func guard(t *testing.T, opts Options) (*Sender, *fakeResolver, *[]string) {
	res := &fakeResolver{hosts: map[string][]string{}}
	opts.Resolver = res
	var dialled []string
	var mu sync.Mutex
	opts.Transport = func(tr *http.Transport) {
		inner := tr.DialContext
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := inner(ctx, network, addr)
			if err == nil {
				mu.Lock()
				dialled = append(dialled, c.RemoteAddr().String())
				mu.Unlock()
			}
			return c, err
		}
	}
	return New(opts), res, &dialled
}

// TestRefusesPrivateAndMetadataAddresses: URLs that are, or resolve to, loopback, private, link-local,
// metadata or IPv6 loopback addresses are refused when set and when posted to, before any connection.
func TestRefusesPrivateAndMetadataAddresses(t *testing.T) {
	s, res, dialled := guard(t, Options{})
	res.set("loop.example", "127.0.0.1")
	res.set("intranet.example", "10.1.2.3")
	res.set("meta.example", "169.254.169.254")
	res.set("v6loop.example", "::1")
	res.set("mixed.example", "93.184.216.34", "192.168.1.10") // one bad address is enough
	res.set("public.example", "93.184.216.34")
	for _, u := range []string{
		"https://loop.example/hook", "https://intranet.example/hook", "https://meta.example/latest/meta-data",
		"https://v6loop.example/hook", "https://mixed.example/hook", "https://127.0.0.1/hook", "https://[::1]:8443/hook",
		"https://10.0.0.1/hook", "https://169.254.169.254/", "https://[::ffff:127.0.0.1]/hook", "https://100.64.0.1/",
		"https://0.0.0.0/", "https://[fe80::1]/",
	} {
		err := s.Check(context.Background(), u)
		if !errors.Is(err, ErrRefused) {
			t.Errorf("Check(%s) = %v, want refused", u, err)
		}
		if r := s.Post(context.Background(), u, nil, []byte("{}")); !errors.Is(r.Err, ErrRefused) {
			t.Errorf("Post(%s) = %+v, want refused", u, r)
		}
	}
	if len(*dialled) != 0 {
		t.Fatalf("dialled %v", *dialled)
	}
	if err := s.Check(context.Background(), "https://public.example/hook"); err != nil {
		t.Fatalf("a public address was refused: %v", err)
	}
	for _, u := range []string{"http://public.example/hook", "ftp://public.example/", "https://user:pw@public.example/", "/relative", "https://nowhere.example/"} {
		if err := s.Check(context.Background(), u); err == nil {
			t.Errorf("Check(%s) accepted", u)
		}
	}
}

// TestRebindingCaughtAtDial: a name that resolved to a public address when it was set and to a private
// one later is refused at delivery, without a connection.
func TestRebindingCaughtAtDial(t *testing.T) {
	s, res, dialled := guard(t, Options{AllowHTTP: true})
	res.set("erp.example", "93.184.216.34")
	if err := s.Check(context.Background(), "http://erp.example/hook"); err != nil {
		t.Fatal(err)
	}
	res.set("erp.example", "10.0.0.7")
	r := s.Post(context.Background(), "http://erp.example/hook", nil, []byte("{}"))
	if !errors.Is(r.Err, ErrRefused) || !strings.Contains(r.Err.Error(), "10.0.0.7") {
		t.Fatalf("%+v", r)
	}
	if len(*dialled) != 0 {
		t.Fatalf("dialled %v", *dialled)
	}
}

// TestAllowPrivateReachesLoopbackButNeverMetadata: with private addresses allowed a loopback receiver is
// reached (and its answer read, Retry-After included), metadata addresses stay refused, and a redirect
// is not followed.
func TestAllowPrivateReachesLoopbackButNeverMetadata(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
			return
		}
		if r.Header.Get("webhook-id") != "evt_1" {
			w.WriteHeader(400)
			return
		}
		w.Header().Set("Retry-After", "30")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte("slow down"))
	}))
	defer srv.Close()
	s, _, dialled := guard(t, Options{AllowHTTP: true, AllowPrivate: true})
	r := s.Post(context.Background(), srv.URL+"/hook", map[string]string{"webhook-id": "evt_1"}, []byte("{}"))
	if r.Err != nil || r.Status != 429 || r.RetryAfter.Seconds() != 30 || r.Body != "slow down" {
		t.Fatalf("%+v", r)
	}
	r = s.Post(context.Background(), srv.URL+"/redirect", nil, []byte("{}"))
	if r.Err != nil || r.Status != http.StatusFound {
		t.Fatalf("redirect: %+v", r)
	}
	if len(*dialled) != 1 {
		t.Fatalf("dialled %v, want the receiver once (kept alive)", *dialled)
	}
	if err := s.Check(context.Background(), "http://169.254.169.254/"); !errors.Is(err, ErrRefused) {
		t.Fatalf("metadata with private allowed: %v", err)
	}
}
