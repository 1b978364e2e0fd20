package handlers

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/testclock"
	"github.com/o2ohub/o2ohub/models"
)

// limHubs starts n hubs (each its own core service and HTTP layer, as replicas are) on one database and
// one frozen clock. Their requests come through a proxy they trust (loopback), so X-Forwarded-For names
// the client.
func limHubs(t *testing.T, db *models.DB, n int, clock *testclock.Clock) []*hubEnv {
	t.Helper()
	var out []*hubEnv
	for range n {
		out = append(out, newHubEnv(t, db, hubConfig{clock: clock, depsPublicURL: true,
			core: func(o *core.Options) { o.PasswordCost, o.TraceScanLimit = 4, 3 },
			deps: func(d *Deps) { d.TrustedProxies = []string{"127.0.0.1", "::1"} }}))
	}
	return out
}

// from sends r as if from client address addr.
func from(addr string, r hubReq) hubReq {
	if r.header == nil {
		r.header = map[string]string{}
	}
	r.header["X-Forwarded-For"] = addr
	return r
}

// countStatus sends n requests round the hubs and counts the answers by status.
func countStatus(t *testing.T, hubs []*hubEnv, n int, req func(i int) hubReq) map[int]int {
	t.Helper()
	got := map[int]int{}
	for i := range n {
		r := hubs[i%len(hubs)].do(t, req(i))
		got[r.status]++
		if r.status == http.StatusTooManyRequests && r.header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
	}
	return got
}

// TestSecurityLimitsHoldAcrossReplicas runs three hubs on one database: sign-in, staff login (store API
// and console together) and admin-token failures allow one replica's budget in all, not three.
func TestSecurityLimitsHoldAcrossReplicas(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		clock := testclock.New(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
		hubs := limHubs(t, db, 3, clock)
		hubs[0].putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		hubDecode[staff.View](t, hubs[0].put(t, "/api/v1/admin/staff/clerk1", hubAdminAuth, map[string]any{"password": "correct horse battery", "role": staff.RoleClerk, "store": "S01"}), http.StatusOK)

		t.Run("shopper sign-in", func(t *testing.T) {
			got := countStatus(t, hubs, 60, func(i int) hubReq {
				return from("198.51.100.1", hubReq{method: http.MethodPost, path: "/api/v1/auth/sandbox", body: map[string]any{"user": fmt.Sprint("u", i)}})
			})
			if got[http.StatusOK] != signInRate.Burst || got[http.StatusTooManyRequests] != 60-signInRate.Burst {
				t.Fatalf("60 sign-ins round 3 hubs: %v, want %d allowed", got, signInRate.Burst)
			}
		})

		t.Run("store and console login share one budget", func(t *testing.T) {
			got := countStatus(t, hubs, 24, func(i int) hubReq {
				return from("198.51.100.2", hubReq{method: http.MethodPost, path: "/api/v1/store/login", body: map[string]any{"username": "clerk1", "password": fmt.Sprint("guess", i)}})
			})
			if got[http.StatusUnauthorized] != staffLoginRate.Burst || got[http.StatusTooManyRequests] != 24-staffLoginRate.Burst {
				t.Fatalf("24 wrong passwords round 3 hubs: %v, want %d tried", got, staffLoginRate.Burst)
			}
			// The console is the same door to the same passwords.
			r := hubs[1].do(t, from("198.51.100.2", hubReq{method: http.MethodPost, path: "/console/login", contentType: "application/x-www-form-urlencoded",
				body: "username=clerk1&password=guess", header: map[string]string{"Origin": hubs[1].srv.URL}}))
			if r.status != http.StatusTooManyRequests {
				t.Fatalf("console login after the store login budget = %d, want 429", r.status)
			}
			// One attempt comes back after its interval, on any hub.
			clock.Add(staffLoginRate.Interval())
			r = hubs[2].do(t, from("198.51.100.2", hubReq{method: http.MethodPost, path: "/api/v1/store/login", body: map[string]any{"username": "clerk1", "password": "correct horse battery"}}))
			hubDecode[staff.Login](t, r, http.StatusOK)
		})

		t.Run("admin token failures", func(t *testing.T) {
			got := countStatus(t, hubs, 300, func(i int) hubReq {
				return from("198.51.100.3", hubReq{method: http.MethodGet, path: "/api/v1/admin/qrcodes", auth: hubBearer(fmt.Sprint("guess-", i))})
			})
			if got[http.StatusUnauthorized] != adminFailRate.Burst || got[http.StatusTooManyRequests] != 300-adminFailRate.Burst {
				t.Fatalf("300 wrong admin tokens round 3 hubs: %v, want %d tried", got, adminFailRate.Burst)
			}
			// Limited, even the right token waits: a guesser learns nothing from it.
			hubWantError(t, hubs[0].do(t, from("198.51.100.3", hubReq{method: http.MethodGet, path: "/api/v1/admin/qrcodes", auth: hubAdminAuth})), http.StatusTooManyRequests, "rate_limited")
			// Another address, with the right token, is served as often as it likes; a request without a
			// token guesses nothing and does not count.
			got = countStatus(t, hubs, 30, func(i int) hubReq {
				auth := hubAdminAuth
				if i%2 == 1 {
					auth = ""
				}
				return from("198.51.100.4", hubReq{method: http.MethodGet, path: "/api/v1/admin/qrcodes", auth: auth})
			})
			if got[http.StatusOK] != 15 || got[http.StatusUnauthorized] != 15 {
				t.Fatalf("the admin's own requests: %v, want 15 ok and 15 unauthenticated", got)
			}
		})
	})
}

// TestCopiedLabelCountsNetworks scans a fresh unit code from one address with 21 different User-Agents:
// that is one scanner, so no warning. Scanners are told apart by their network (/24, /48) or, signed in,
// by their member.
func TestCopiedLabelCountsNetworks(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		clock := testclock.New(time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC))
		e := limHubs(t, db, 1, clock)[0]
		e.putStore(t, hubStore{code: "S01", lat: hubLat, lng: hubLng, status: "open"})
		e.putProduct(t, "TEA", 1590)
		e.put(t, "/api/v1/admin/trace/batches/B1", hubAdminAuth, map[string]any{"sku": "TEA", "steps": qrJourney})
		units := hubDecode[[]shelf.QRView](t, e.post(t, "/api/v1/admin/trace/batches/B1/codes", hubAdminAuth, map[string]any{"count": 3, "store": "S01"}), http.StatusCreated)
		scan := func(code, addr, ua, auth string) shelf.ScanView {
			t.Helper()
			return hubDecode[shelf.ScanView](t, e.do(t, from(addr, hubReq{method: http.MethodGet, path: "/api/v1/scan/" + code, auth: auth, header: map[string]string{"User-Agent": ua}})), http.StatusOK)
		}
		unitScanners := func(code string) int64 {
			var n int64
			db.Conn(t.Context()).Model(&models.QRCode{}).Where("code = ?", code).Pluck("scan_count", &n)
			return n
		}

		t.Run("one address, many User-Agents", func(t *testing.T) {
			u := units[0].Code
			for i := range 21 {
				if v := scan(u, "203.0.113.5", fmt.Sprintf("phone-%d", i), ""); v.Warning != "" {
					t.Fatalf("scan %d from one address warns: %q", i+1, v.Warning)
				}
				clock.Add(time.Second) // under the scan rate limit
			}
			// Nor do the other addresses of its /24 or IPv6 /48 count again.
			scan(u, "203.0.113.200", "x", "")
			scan(u, "2001:db8:5:1::1", "x", "")
			scan(u, "2001:db8:5:ffff::9", "x", "")
			if n := unitScanners(u); n != 2 {
				t.Fatalf("unit counted %d scanners, want 2 (one IPv4 /24, one IPv6 /48)", n)
			}
		})

		t.Run("different networks warn past the limit", func(t *testing.T) {
			u := units[1].Code
			for i := range 3 {
				if v := scan(u, fmt.Sprintf("198.51.%d.10", i), "phone", ""); v.Warning != "" {
					t.Fatalf("network %d warns: %q", i+1, v.Warning)
				}
			}
			if v := scan(u, "2001:db8:77::1", "phone", ""); !strings.Contains(v.Warning, "4 台不同设备") {
				t.Fatalf("the fourth network: warning %q, want one naming 4 scanners", v.Warning)
			}
		})

		t.Run("signed-in members count one each, wherever they are", func(t *testing.T) {
			u := units[2].Code
			alice, _ := e.login(t, "alice")
			bob, _ := e.login(t, "bob")
			scan(u, "203.0.113.5", "phone", alice)
			scan(u, "192.0.2.1", "phone", alice) // alice again, elsewhere
			scan(u, "203.0.113.5", "phone", bob) // bob on alice's network
			scan(u, "203.0.113.5", "phone", "Bearer not-a-session")
			if n := unitScanners(u); n != 3 {
				t.Fatalf("unit counted %d scanners, want 3 (alice, bob, the network of the unsigned scan)", n)
			}
		})
	})
}

// TestScanLimitUnderAddressChurn floods the scan limit with 200,000 addresses while one address keeps
// scanning: that address stays limited (the limiter once forgot everyone past 100,000 addresses).
func TestScanLimitUnderAddressChurn(t *testing.T) {
	t.Parallel()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/q/:code", scanLimit(0.01), func(c *gin.Context) { c.Status(http.StatusOK) })
	hot := 0
	for i := range 200000 {
		req := httptest.NewRequest(http.MethodGet, "/q/X", nil)
		req.RemoteAddr = fmt.Sprintf("10.%d.%d.%d:1234", i>>16, (i>>8)&255, i&255)
		r.ServeHTTP(httptest.NewRecorder(), req)
		if i%1000 == 0 {
			req := httptest.NewRequest(http.MethodGet, "/q/X", nil)
			req.RemoteAddr = "198.51.100.1:1234"
			w := httptest.NewRecorder()
			r.ServeHTTP(w, req)
			if w.Code == http.StatusOK {
				hot++
			}
		}
	}
	// A burst of 1 and one scan back every 100 s: the first gets through, none after it.
	if hot != 1 {
		t.Fatalf("the hot address got %d of 200 scans through, want 1", hot)
	}
}
