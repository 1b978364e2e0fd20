package egress

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHostileAddresses walks the address forms an attacker tries, with private addresses refused and
// with them allowed, through Check and Post; no refused address is ever dialled (the fake resolver
// answers every name, and guard records every connection).
func TestHostileAddresses(t *testing.T) {
	for _, allowPrivate := range []bool{false, true} {
		s, res, dialled := guard(t, Options{AllowHTTP: true, AllowPrivate: allowPrivate})
		// What a resolver that reads IPv4 the way inet_aton does (getaddrinfo) answers for the odd forms.
		for _, h := range []string{"2130706433", "0x7f.1", "0177.0.0.1", "127.1", "localhost", "localhost.", "LOCALHOST"} {
			res.set(h, "127.0.0.1")
		}
		res.set("mixed.example", "93.184.216.34", "169.254.169.254")
		res.set("ecs.example", "169.254.170.2")
		refusedAlways := []string{
			"http://[fd00:ec2::254%25eth0]/",                    // a zone id must not hide the metadata address
			"http://[::ffff:169.254.169.254]/",                  // IPv4-mapped metadata
			"http://[fd00:ec2::254]/", "http://[fd00:ec2::23]/", // AWS IMDS and EKS pod identity over IPv6
			"http://169.254.170.2/v2/credentials/x", "https://ecs.example/", // the ECS task credentials endpoint
			"http://169.254.1.1/", "http://[::ffff:a9fe:aa02]/", // link-local IPv4: where cloud agents live
			"http://100.100.100.200/", "http://192.0.0.192/", // Alibaba and Oracle metadata
			"http://0.0.0.0/", "http://0.1.2.3/", "http://[::]/", // "this network"
			"http://[::127.0.0.1]/", "http://[::a9fe:a9fe]/", // IPv4-compatible IPv6 (deprecated)
			"http://[2002:a9fe:a9fe::1]/",                                    // 6to4 of metadata
			"http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a9fe:a9fe]/", // NAT64 to metadata
			"http://mixed.example/", "http://255.255.255.255/", "http://224.0.0.1/", "http://240.0.0.1/",
		}
		refusedUnlessPrivate := []string{
			"http://2130706433/", "http://0x7f.1/", "http://0177.0.0.1/", "http://127.1/", "http://localhost/",
			"http://localhost./", "http://LOCALHOST/", "HTTP://127.0.0.1/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
			"http://[fe80::1%25eth0]/", "http://10.0.0.1/", "http://[2002:7f00:1::1]/", "http://[fd12:3456::1]/", "http://100.64.0.1/",
		}
		for _, u := range refusedAlways {
			if err := s.Check(context.Background(), u); !errors.Is(err, ErrRefused) {
				t.Errorf("private %v: Check(%s) = %v, want refused", allowPrivate, u, err)
			}
		}
		for _, u := range refusedUnlessPrivate {
			if err := s.Check(context.Background(), u); allowPrivate == errors.Is(err, ErrRefused) {
				t.Errorf("private %v: Check(%s) = %v", allowPrivate, u, err)
			}
		}
		posted := refusedAlways
		if !allowPrivate {
			posted = append(posted, refusedUnlessPrivate...)
		}
		for _, u := range posted {
			if !errors.Is(s.Check(context.Background(), u), ErrRefused) {
				continue // reported above; never post to an address that might be reached
			}
			if r := s.Post(context.Background(), u, nil, []byte("{}")); !errors.Is(r.Err, ErrRefused) {
				t.Errorf("private %v: Post(%s) = %+v, want refused", allowPrivate, u, r)
			}
		}
		if len(*dialled) != 0 {
			t.Fatalf("dialled %v", *dialled)
		}
	}
}

// TestMalformedURLs: URLs that cannot name a reachable endpoint are refused at Check with a reason, not
// accepted to fail at every delivery.
func TestMalformedURLs(t *testing.T) {
	s, res, _ := guard(t, Options{AllowHTTP: true})
	res.set("public.example", "93.184.216.34")
	for u, want := range map[string]string{
		"https://public.example@10.0.0.1/":                    "user name",
		`https://public.example\@10.0.0.1/`:                   "absolute URL",
		`https://public.example\.10.0.0.1/`:                   "absolute URL",
		"https://public.example:0/":                           "port",
		"https://public.example:65536/":                       "port",
		"https://public.example:99999999999/":                 "port",
		"https://:443/":                                       "host",
		"https://public.example/" + strings.Repeat("a", 2000): "2000 bytes",
		"javascript:alert(1)":                                 "absolute URL",
		"https:public.example":                                "absolute URL",
	} {
		err := s.Check(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%.60s) = %v, want an error about %s", u, err, want)
		}
	}
	for _, u := range []string{"HTTPS://public.example/", "https://public.example:8443/hook", "https://PUBLIC.example./x?y=1"} {
		res.set("PUBLIC.example.", "93.184.216.34")
		if err := s.Check(context.Background(), u); err != nil {
			t.Errorf("Check(%s) = %v, want accepted", u, err)
		}
	}
}

// TestIDNAHostIsCheckedAsDialled: a Unicode host that a lenient resolver accepted at Check is dialled by
// its IDNA form, and that form (fullwidth digits map to 127.0.0.1) is checked again at the dial. Were it
// not, the dial would reach the test's own loopback receiver, nothing else.
func TestIDNAHostIsCheckedAsDialled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	_, port, _ := strings.Cut(strings.TrimPrefix(srv.URL, "http://"), ":")
	u := "http://１２７.０.０.１:" + port + "/"
	s, res, dialled := guard(t, Options{AllowHTTP: true})
	res.set("１２７.０.０.１", "93.184.216.34")
	if err := s.Check(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if r := s.Post(context.Background(), u, nil, []byte("{}")); !errors.Is(r.Err, ErrRefused) {
		t.Fatalf("%+v", r)
	}
	if len(*dialled) != 0 {
		t.Fatalf("dialled %v", *dialled)
	}
}

// TestRetryAfterAbuse: Retry-After values an endpoint may send; none turns a long wait into a short
// one, and none is negative.
func TestRetryAfterAbuse(t *testing.T) {
	now := time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)
	year := 365 * 24 * time.Hour
	for v, want := range map[string]time.Duration{
		"": 0, "30": 30 * time.Second, " 30 ": 30 * time.Second, "-5": 0, "0": 0, "abc": 0, "1.5": 0,
		"18446744074":           year, // overflowed to 290 ms
		"9223372037":            year, // overflowed to a negative wait
		"99999999999999":        year,
		"999999999999999999999": year, // beyond int64: still a very long wait
		now.Add(-time.Hour).Format(http.TimeFormat):    0,
		now.Add(time.Hour).Format(http.TimeFormat):     time.Hour,
		now.AddDate(100, 0, 0).Format(http.TimeFormat): year,
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("Retry-After %q = %s, want %s", v, got, want)
		}
	}
}

// TestSlowAndHugeAnswersAreBounded: an endpoint that sends its headers slowly, or a body that never
// ends, holds a delivery no longer than the timeout, and only the start of a huge body is kept.
func TestSlowAndHugeAnswersAreBounded(t *testing.T) {
	stop := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/huge":
			w.WriteHeader(200)
			chunk := []byte(strings.Repeat("x", 64<<10))
			for i := 0; i < 1<<10; i++ { // 64 MiB
				if _, err := w.Write(chunk); err != nil {
					return
				}
			}
		case "/trickle":
			w.WriteHeader(200)
			for {
				if _, err := w.Write([]byte("x")); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-stop:
					return
				case <-time.After(10 * time.Millisecond):
				}
			}
		case "/slowloris":
			<-stop // no headers at all
		}
	}))
	defer srv.Close()
	defer close(stop)
	s, _, _ := guard(t, Options{AllowHTTP: true, AllowPrivate: true, Timeout: 300 * time.Millisecond})
	r := s.Post(context.Background(), srv.URL+"/huge", nil, []byte("{}"))
	if r.Err != nil || r.Status != 200 || len(r.Body) != 4096 {
		t.Fatalf("huge: status %d, %d bytes kept, err %v", r.Status, len(r.Body), r.Err)
	}
	// A body that never ends: the answer's status counts, what came of the body within the timeout is kept.
	if r := s.Post(context.Background(), srv.URL+"/trickle", nil, []byte("{}")); r.Status != 200 || len(r.Body) >= 4096 {
		t.Errorf("trickle: %+v", r)
	}
	if r := s.Post(context.Background(), srv.URL+"/slowloris", nil, []byte("{}")); r.Status != 0 || r.Err == nil {
		t.Errorf("slowloris: %+v, want the timeout", r)
	}
}

// TestRefusalSaysHowToAllowPrivate: a loopback or private URL refused says which setting allows it (a
// developer pointing the hub at `o2ohub webhooks listen` needs it); a metadata address says no such thing.
func TestRefusalSaysHowToAllowPrivate(t *testing.T) {
	s, res, _ := guard(t, Options{AllowHTTP: true})
	res.set("localhost", "127.0.0.1")
	for u, want := range map[string]string{
		"http://127.0.0.1:9000/":    "address refused: 127.0.0.1 is a loopback address; set O2OHUB_WEBHOOK_ALLOW_PRIVATE=true",
		"http://localhost:9000/":    "address refused: localhost resolves to 127.0.0.1, a loopback address; set O2OHUB_WEBHOOK_ALLOW_PRIVATE=true",
		"http://192.168.1.20/":      "192.168.1.20 is a private address; set O2OHUB_WEBHOOK_ALLOW_PRIVATE=true",
		"http://[::ffff:10.0.0.1]/": "::ffff:10.0.0.1 is a private address; set",
		"http://169.254.169.254/":   "169.254.169.254 is a cloud metadata or link-local address",
	} {
		err := s.Check(context.Background(), u)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check(%s) = %v, want %q", u, err, want)
		}
		if strings.Contains(u, "169.254") && strings.Contains(err.Error(), "ALLOW_PRIVATE") {
			t.Errorf("Check(%s) = %v: allowing private addresses would not allow it", u, err)
		}
	}
}
