package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/integrations/egress"
	"github.com/o2ohub/o2ohub/models"
)

// publicResolver answers every name with one documentation address; nothing in these tests is dialled
// (the delivery worker is not run).
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("203.0.113.10")}, nil
}

// TestWebhookAdminAPIHostile: what an admin client (or a stolen admin token, or a buggy script) may send
// the webhook admin API: type lists with duplicates, "*" beside names and 10,000 entries; names that
// try paths; private and metadata URLs; replays of every time there is; delivery ids of another
// endpoint; an alert resolved by many at once. Each is answered with a clear status, nothing is lost
// or done to the wrong endpoint, and no endpoint secret reaches the logs or an error answer.
func TestWebhookAdminAPIHostile(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		var logs syncLog
		e := newHubEnv(t, db, hubConfig{log: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		e.svc.Events.SetSender(egress.New(egress.Options{Resolver: publicResolver{}}))
		var secrets []string
		put := func(name string, body map[string]any) hubResp {
			r := e.put(t, "/api/v1/admin/webhooks/"+name, hubAdminAuth, body)
			var v struct {
				Secret string `json:"secret"`
			}
			if json.Unmarshal(r.body, &v) == nil && v.Secret != "" {
				secrets = append(secrets, v.Secret)
			}
			return r
		}

		many := make([]string, 0, 10001)
		for i := range 10000 {
			many = append(many, []string{"order.paid", "*", "order.paid", "alert.raised"}[i%4])
		}
		a := hubDecode[events.EndpointView](t, put("erp-a", map[string]any{"url": "https://erp-a.example/hook", "events": many}), http.StatusOK)
		if strings.Join(a.Events, ",") != "*,alert.raised,order.paid" {
			t.Fatalf("10,000 entries stored as %q", a.Events)
		}
		hubDecode[events.EndpointView](t, put("erp-b", map[string]any{"url": "https://erp-b.example/hook", "events": []string{"*"}}), http.StatusOK)
		for _, bad := range []map[string]any{
			{"url": "https://erp-a.example/hook", "events": append(many, "order.teleported")},
			{"url": "https://erp-a.example/hook", "events": []string{"*", ""}},
			{"url": "https://erp-a.example/hook", "events": []string{"order.*"}},
			{"url": "https://erp-a.example/hook", "events": []string{"../order.paid"}},
			{"url": "https://10.0.0.1/hook", "events": []string{"*"}},
			{"url": "https://[fd00:ec2::254%25eth0]/", "events": []string{"*"}},
			{"url": "https://169.254.170.2/v2/credentials", "events": []string{"*"}},
			{"url": "https://erp-a.example:0/", "events": []string{"*"}},
			{"url": "https://x@erp-a.example/", "events": []string{"*"}},
		} {
			hubWantError(t, put("erp-a", bad), http.StatusBadRequest, "invalid_argument")
		}
		if got := hubDecode[events.EndpointView](t, e.get(t, "/api/v1/admin/webhooks/erp-a", hubAdminAuth), http.StatusOK); got.URL != "https://erp-a.example/hook" {
			t.Fatalf("a refused change changed the endpoint: %+v", got)
		}
		for _, name := range []string{"..", "a..b%2f..%2fstores", "ERP", strings.Repeat("a", 64), "-x", "a%00b", "a%20b"} {
			r := put(name, map[string]any{"url": "https://erp-a.example/hook", "events": []string{"*"}})
			if r.status != http.StatusBadRequest && r.status != http.StatusNotFound {
				t.Errorf("PUT webhooks/%s: %s", name, r)
			}
		}
		if all := hubDecode[struct {
			Webhooks []events.EndpointView `json:"webhooks"`
		}](t, e.get(t, "/api/v1/admin/webhooks", hubAdminAuth), http.StatusOK); len(all.Webhooks) != 2 {
			t.Fatalf("endpoints %+v", all.Webhooks)
		}

		// A delivery of erp-a is neither retried nor deleted through erp-b.
		if err := db.Tx(context.Background(), func(ctx context.Context) error {
			return events.Enqueue(ctx, e.svc.Env, "order.created", "O1", map[string]any{"order_no": "O1", "store": "S01", "total_fen": 100})
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.Events.Sequence(context.Background(), 10); err != nil {
			t.Fatal(err)
		}
		type list struct {
			Deliveries []events.DeliveryView `json:"deliveries"`
		}
		da := hubDecode[list](t, e.get(t, "/api/v1/admin/webhooks/erp-a/deliveries", hubAdminAuth), http.StatusOK).Deliveries
		if len(da) != 1 {
			t.Fatalf("erp-a deliveries %+v", da)
		}
		id := strconv.FormatInt(da[0].ID, 10)
		if err := db.Conn(context.Background()).Model(&models.WebhookDelivery{}).Where("id = ?", da[0].ID).Update("status", events.DeliveryDead).Error; err != nil {
			t.Fatal(err)
		}
		hubWantError(t, e.post(t, "/api/v1/admin/webhooks/erp-b/deliveries/"+id+"/retry", hubAdminAuth, nil), http.StatusNotFound, "not_found")
		hubWantError(t, e.do(t, hubReq{method: http.MethodDelete, path: "/api/v1/admin/webhooks/erp-b/deliveries/" + id, auth: hubAdminAuth}), http.StatusNotFound, "not_found")
		for _, bad := range []string{"0", "-1", "x", "99999999999999999999"} { // not an id: 400 naming it
			r := e.post(t, "/api/v1/admin/webhooks/erp-a/deliveries/"+bad+"/retry", hubAdminAuth, nil)
			hubWantError(t, r, http.StatusBadRequest, "invalid_argument")
		}
		hubWantError(t, e.post(t, "/api/v1/admin/webhooks/erp-a/deliveries/"+id+"0/retry", hubAdminAuth, nil), http.StatusNotFound, "not_found")
		if da = hubDecode[list](t, e.get(t, "/api/v1/admin/webhooks/erp-a/deliveries", hubAdminAuth), http.StatusOK).Deliveries; len(da) != 1 || da[0].Status != events.DeliveryDead || da[0].Attempts != 0 {
			t.Fatalf("erp-a's delivery was touched through erp-b: %+v", da)
		}
		if r := e.do(t, hubReq{method: http.MethodDelete, path: "/api/v1/admin/webhooks/erp-a/deliveries/" + id, auth: hubAdminAuth}); r.status != http.StatusNoContent {
			t.Fatalf("delete through its own endpoint: %s", r)
		}
		if db := hubDecode[list](t, e.get(t, "/api/v1/admin/webhooks/erp-b/deliveries", hubAdminAuth), http.StatusOK).Deliveries; len(db) != 1 || db[0].Status != events.DeliveryPending {
			t.Fatalf("erp-b's delivery: %+v", db)
		}

		// Replays: every time there is, backwards, with a type that is not one, for an unknown endpoint.
		q := hubDecode[map[string]int](t, e.post(t, "/api/v1/admin/webhooks/erp-a/replay", hubAdminAuth,
			map[string]any{"from": "1970-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}), http.StatusAccepted)
		if q["queued"] != 1 {
			t.Fatalf("replay of all time queued %v", q)
		}
		for _, bad := range []map[string]any{
			{"from": "9999-12-31T23:59:59Z", "to": "0001-01-01T00:00:00Z"},
			{"from": "2026-01-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
			{"from": "2026-01-01T00:00:00Z"},
			{"from": "yesterday", "to": "2026-01-01T00:00:00Z"},
			{"from": "1970-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "types": []string{"*"}},
			{"from": "1970-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z", "types": []string{"order.paid", "../x"}},
		} {
			hubWantError(t, e.post(t, "/api/v1/admin/webhooks/erp-a/replay", hubAdminAuth, bad), http.StatusBadRequest, "invalid_argument")
		}
		hubWantError(t, e.post(t, "/api/v1/admin/webhooks/nobody/replay", hubAdminAuth,
			map[string]any{"from": "1970-01-01T00:00:00Z", "to": "9999-12-31T23:59:59Z"}), http.StatusNotFound, "not_found")

		// One alert resolved by eight admins at once: one wins, the others are told it is resolved.
		if err := db.Tx(context.Background(), func(ctx context.Context) error {
			return events.Alert(ctx, e.svc.Env, "payment_amount_mismatch", "O1", "paid 1 fen")
		}); err != nil {
			t.Fatal(err)
		}
		alerts := hubDecode[struct {
			Alerts []events.AlertView `json:"alerts"`
		}](t, e.get(t, "/api/v1/admin/alerts?open=true", hubAdminAuth), http.StatusOK).Alerts
		if len(alerts) != 1 {
			t.Fatalf("alerts %+v", alerts)
		}
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i] = e.post(t, "/api/v1/admin/alerts/"+strconv.FormatInt(alerts[0].ID, 10)+"/resolve", hubAdminAuth, map[string]any{"note": "fixed " + strconv.Itoa(i)}).status
			}()
		}
		wg.Wait()
		won := 0
		for _, s := range statuses {
			switch s {
			case http.StatusOK:
				won++
			case http.StatusConflict:
			default:
				t.Errorf("a concurrent resolve answered %d", s)
			}
		}
		if won != 1 {
			t.Fatalf("%d resolves won: %v", won, statuses)
		}

		if len(secrets) != 2 {
			t.Fatalf("%d secrets issued, want 2", len(secrets))
		}
		rotated := hubDecode[events.EndpointView](t, e.post(t, "/api/v1/admin/webhooks/erp-b/rotate", hubAdminAuth, nil), http.StatusOK)
		secrets = append(secrets, rotated.Secret)
		for _, s := range secrets {
			for _, leak := range []string{s, strings.TrimPrefix(s, "whsec_")} {
				if strings.Contains(logs.String(), leak) {
					t.Fatalf("an endpoint secret is in the logs")
				}
			}
		}
	})
}

// syncLog is a buffer the hub logs to from several goroutines.
type syncLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
