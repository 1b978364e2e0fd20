package handlers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/integrations/egress"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/webhook"
)

// TestWebhooksThroughTheAdminAPI: an operator registers an endpoint over the admin API, sees its secret
// once, rotates it, and a paid order reaches a real receiver signed with both secrets; the pull API
// serves the same events, and every event's data is what the catalogue says for its type; alerts are
// listed and resolved.
func TestWebhooksThroughTheAdminAPI(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{gateway: true})
		e.svc.Events.SetSender(egress.New(egress.Options{AllowHTTP: true, AllowPrivate: true}))
		var mu sync.Mutex
		var got []*http.Request
		var bodies [][]byte
		rc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			got, bodies = append(got, r), append(bodies, b)
			mu.Unlock()
			w.WriteHeader(http.StatusNoContent)
		}))
		defer rc.Close()

		hubWantError(t, e.put(t, "/api/v1/admin/webhooks/erp", "", map[string]any{"url": rc.URL, "events": []string{"*"}}), http.StatusUnauthorized, "unauthenticated")
		for _, bad := range []map[string]any{
			{"url": "ftp://example.com/x", "events": []string{"*"}},
			{"url": rc.URL, "events": []string{}},
			{"url": rc.URL, "events": []string{"order.teleported"}},
		} {
			hubWantError(t, e.put(t, "/api/v1/admin/webhooks/erp", hubAdminAuth, bad), http.StatusBadRequest, "invalid_argument")
		}
		hubWantError(t, e.put(t, "/api/v1/admin/webhooks/ERP!", hubAdminAuth, map[string]any{"url": rc.URL, "events": []string{"*"}}), http.StatusBadRequest, "invalid_argument")
		created := hubDecode[events.EndpointView](t, e.put(t, "/api/v1/admin/webhooks/erp", hubAdminAuth, map[string]any{"url": rc.URL + "/hook", "events": []string{"order.paid", "order.created"}}), http.StatusOK)
		if !strings.HasPrefix(created.Secret, "whsec_") || !created.Enabled {
			t.Fatalf("created %+v", created)
		}
		if again := hubDecode[events.EndpointView](t, e.get(t, "/api/v1/admin/webhooks/erp", hubAdminAuth), http.StatusOK); again.Secret != "" {
			t.Fatal("the secret was shown twice")
		}
		rotated := hubDecode[events.EndpointView](t, e.post(t, "/api/v1/admin/webhooks/erp/rotate", hubAdminAuth, nil), http.StatusOK)
		if rotated.Secret == "" || rotated.Secret == created.Secret || !rotated.Rotating {
			t.Fatalf("rotated %+v", rotated)
		}

		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); e.svc.Events.Run(ctx, func(error) {}) }()
		defer func() { cancel(); <-done }()

		e.putStore(t, hubStore{code: "S01", lat: 31.23, lng: 121.47, status: "open"})
		e.putProduct(t, "TEA", 350)
		e.putStock(t, "S01", "TEA", 10)
		alice, _ := e.login(t, "alice")
		ord := e.createOrder(t, alice, hubPickup("S01", "TEA", 2))
		hubDecode[core.PayView](t, e.post(t, "/api/v1/orders/"+ord.OrderNo+"/pay", alice, map[string]any{"provider": "sandbox"}), http.StatusOK)
		e.waitStatus(t, alice, ord.OrderNo, core.StatusPaid)
		hubEventually(t, 20*time.Second, "order.created and order.paid delivered", func() (bool, string) {
			mu.Lock()
			defer mu.Unlock()
			return len(got) >= 2, ""
		})
		mu.Lock()
		for i, r := range got {
			if sigs := strings.Fields(r.Header.Get(webhook.HeaderSignature)); len(sigs) != 2 {
				t.Fatalf("during a rotation a delivery carries two signatures, got %q", sigs)
			}
			for _, secret := range []string{created.Secret, rotated.Secret} {
				if err := webhook.Verify(secret, r.Header, bodies[i], 5*time.Minute); err != nil {
					t.Fatalf("delivery %d does not verify with one of the secrets: %v", i, err)
				}
			}
		}
		var first events.Message
		_ = json.Unmarshal(bodies[0], &first)
		mu.Unlock()
		if first.Type != "order.created" {
			t.Fatalf("first delivery %s, want order.created before order.paid", first.Type)
		}

		type page struct {
			Events    []events.Message `json:"events"`
			NextAfter int64            `json:"next_after"`
		}
		hubEventually(t, 20*time.Second, "the events sequenced", func() (bool, string) {
			p := hubDecode[page](t, e.get(t, "/api/v1/admin/events?after=0&limit=500", hubAdminAuth), http.StatusOK)
			return len(p.Events) >= 2, ""
		})
		p := hubDecode[page](t, e.get(t, "/api/v1/admin/events?after=0&limit=500", hubAdminAuth), http.StatusOK)
		catalogue := map[string]events.Type{}
		for _, ty := range events.Types() {
			catalogue[ty.Name] = ty
		}
		for _, m := range p.Events {
			ty, ok := catalogue[m.Type]
			if !ok {
				t.Fatalf("event type %s is not in the catalogue", m.Type)
			}
			var data map[string]any
			if err := json.Unmarshal(m.Data, &data); err != nil {
				t.Fatal(err)
			}
			for k := range data {
				if _, ok := ty.Sample[k]; !ok {
					t.Errorf("%s carries %q, which its catalogue sample does not show", m.Type, k)
				}
			}
			for k := range ty.Sample {
				if _, ok := data[k]; !ok && !slices.Contains(ty.Optional, k) {
					t.Errorf("%s lacks %q, which its catalogue sample does not mark optional", m.Type, k)
				}
			}
		}
		latest := hubDecode[page](t, e.get(t, "/api/v1/admin/events?after=latest", hubAdminAuth), http.StatusOK)
		if len(latest.Events) != 0 || latest.NextAfter < p.NextAfter {
			t.Fatalf("after=latest: %+v", latest)
		}
		hubWantError(t, e.get(t, "/api/v1/admin/events?after=x", hubAdminAuth), http.StatusBadRequest, "invalid_argument")
		types := hubDecode[struct {
			Types []events.Type `json:"types"`
		}](t, e.get(t, "/api/v1/admin/events/types", hubAdminAuth), http.StatusOK)
		if len(types.Types) != len(events.Types()) {
			t.Fatalf("%d types served", len(types.Types))
		}
		type deliveries struct {
			Deliveries []events.DeliveryView `json:"deliveries"`
		}
		var ds deliveries
		// The receiver has answered; the outcome is written just after.
		hubEventually(t, 20*time.Second, "both deliveries recorded as delivered", func() (bool, string) {
			ds = hubDecode[deliveries](t, e.get(t, "/api/v1/admin/webhooks/erp/deliveries?status=delivered", hubAdminAuth), http.StatusOK)
			return len(ds.Deliveries) >= 2, fmt.Sprintf("%+v", ds.Deliveries)
		})
		if ds.Deliveries[0].LastStatus != 204 {
			t.Fatalf("deliveries %+v", ds.Deliveries)
		}
		hubWantError(t, e.get(t, "/api/v1/admin/webhooks/erp/deliveries?status=lost", hubAdminAuth), http.StatusBadRequest, "invalid_argument")
		if r := e.post(t, "/api/v1/admin/webhooks/erp/deliveries/"+strconv.FormatInt(ds.Deliveries[0].ID, 10)+"/retry", hubAdminAuth, nil); r.status != http.StatusNoContent {
			t.Fatalf("retry: %s", r)
		}

		if err := db.Tx(context.Background(), func(ctx context.Context) error {
			return events.Alert(ctx, e.svc.Env, "payment_amount_mismatch", ord.OrderNo, "paid 1 fen")
		}); err != nil {
			t.Fatal(err)
		}
		alerts := hubDecode[struct {
			Alerts []events.AlertView `json:"alerts"`
		}](t, e.get(t, "/api/v1/admin/alerts?open=true", hubAdminAuth), http.StatusOK)
		if len(alerts.Alerts) != 1 || alerts.Alerts[0].OrderNo != ord.OrderNo {
			t.Fatalf("alerts %+v", alerts.Alerts)
		}
		id := strconv.FormatInt(alerts.Alerts[0].ID, 10)
		hubWantError(t, e.post(t, "/api/v1/admin/alerts/"+id+"/resolve", hubAdminAuth, map[string]any{"note": ""}), http.StatusBadRequest, "invalid_argument")
		res := hubDecode[events.AlertView](t, e.post(t, "/api/v1/admin/alerts/"+id+"/resolve", hubAdminAuth, map[string]any{"note": "checked with the provider"}), http.StatusOK)
		if res.ResolvedBy != "admin-token" || res.Note != "checked with the provider" {
			t.Fatalf("resolved %+v", res)
		}
		hubWantError(t, e.post(t, "/api/v1/admin/alerts/"+id+"/resolve", hubAdminAuth, map[string]any{"note": "again"}), http.StatusConflict, "conflict")

		if r := e.do(t, hubReq{method: http.MethodDelete, path: "/api/v1/admin/webhooks/erp", auth: hubAdminAuth}); r.status != http.StatusNoContent {
			t.Fatalf("delete: %s", r)
		}
		hubWantError(t, e.get(t, "/api/v1/admin/webhooks/erp", hubAdminAuth), http.StatusNotFound, "not_found")
	})
}
