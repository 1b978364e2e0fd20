package config

import "testing"

// TestSandboxListensOnLoopback checks the listen address: loopback by default while the sandbox is on
// (where anyone who reaches the hub can take over any member), every interface by default with it off,
// and an explicit address kept but reported as exposing the sandbox.
func TestSandboxListensOnLoopback(t *testing.T) {
	cases := []struct {
		name    string
		env     map[string]string
		addr    string
		exposed bool
	}{
		{"sandbox default", nil, "127.0.0.1:8080", false},
		{"production default", map[string]string{"O2OHUB_SANDBOX": "false"}, ":8080", false},
		{"sandbox on every interface", map[string]string{"O2OHUB_ADDR": ":9000"}, ":9000", true},
		{"sandbox on a LAN address", map[string]string{"O2OHUB_ADDR": "192.168.1.20:9000"}, "192.168.1.20:9000", true},
		{"sandbox on a host name", map[string]string{"O2OHUB_ADDR": "hub.lan:9000"}, "hub.lan:9000", true},
		{"sandbox on IPv6 loopback", map[string]string{"O2OHUB_ADDR": "[::1]:9000"}, "[::1]:9000", false},
		{"sandbox on localhost", map[string]string{"O2OHUB_ADDR": "localhost:9000"}, "localhost:9000", false},
		{"production on every interface", map[string]string{"O2OHUB_SANDBOX": "false", "O2OHUB_ADDR": ":9000"}, ":9000", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := Load("", env(c.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Addr != c.addr || cfg.SandboxExposed() != c.exposed {
				t.Fatalf("addr %q, exposed %v; want %q, %v", cfg.Addr, cfg.SandboxExposed(), c.addr, c.exposed)
			}
		})
	}
}
