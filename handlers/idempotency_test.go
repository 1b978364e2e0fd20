package handlers_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestIdempotencyKeyAcrossReplicas: two services on one database. An order placed with a key is placed
// once however often, and wherever, it is retried: a retry gets the first answer; the same key with
// another body is 422; twenty concurrent copies on both services make one order; a key belongs to its
// caller; a cancel retried with its key answers as the first did instead of a conflict; an expired key
// runs again.
func TestIdempotencyKeyAcrossReplicas(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		a := hubtest.New(t, db, hubtest.WithSandbox("idem-secret"))
		b := hubtest.New(t, db, hubtest.WithSandbox("idem-secret"))
		a.Stock(hubtest.S01, hubtest.Milk, 100)
		alice, _ := a.SandboxLogin("alice")
		bob, _ := a.SandboxLogin("bob")
		order := map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": hubtest.Milk.SKU, "qty": 1}}}
		send := func(h *hubtest.Hub, auth, path, key string, body any) httpx.Response {
			return h.Send(httpx.Request{Method: "POST", Path: path, Auth: auth, Body: body, Header: http.Header{"Idempotency-Key": {key}}})
		}
		orders := func() int64 { return a.Count("orders", "1 = 1") }

		first := send(a, alice, "/api/v1/orders", "order-1", order).Expect(http.StatusCreated)
		again := send(b, alice, "/api/v1/orders", "order-1", order).Expect(http.StatusCreated)
		if string(again.Body) != string(first.Body) || again.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry answered %s, want the first answer %s replayed", again, first)
		}
		if n := orders(); n != 1 {
			t.Fatalf("%d orders after a retried order, want 1", n)
		}
		other := map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": hubtest.Milk.SKU, "qty": 2}}}
		if r := send(b, alice, "/api/v1/orders", "order-1", other); r.Status != http.StatusUnprocessableEntity {
			t.Fatalf("the key with another body: %s, want 422", r)
		}
		// The same key is bob's own: it places his order.
		send(b, bob, "/api/v1/orders", "order-1", order).Expect(http.StatusCreated)
		if n := orders(); n != 2 {
			t.Fatalf("%d orders, want 2 (alice's and bob's)", n)
		}

		// Twenty copies at once on both services: one order; each copy gets it, or 409 while it runs.
		var wg sync.WaitGroup
		answers := make(chan httpx.Response, 20)
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers <- send([]*hubtest.Hub{a, b}[i%2], alice, "/api/v1/orders", "order-2", order)
			}()
		}
		wg.Wait()
		close(answers)
		var created string
		for r := range answers {
			switch r.Status {
			case http.StatusCreated:
				if created != "" && string(r.Body) != created {
					t.Fatalf("two different answers to one key: %s and %s", created, r.Body)
				}
				created = string(r.Body)
			case http.StatusConflict:
				if r.Header.Get("Retry-After") == "" {
					t.Fatalf("409 without Retry-After: %s", r)
				}
			default:
				t.Fatalf("concurrent copy answered %s", r)
			}
		}
		if n := orders(); n != 3 {
			t.Fatalf("%d orders after twenty concurrent copies, want 3", n)
		}
		if r := send(a, alice, "/api/v1/orders", "order-2", order).Expect(http.StatusCreated); created != "" && string(r.Body) != created {
			t.Fatalf("later retry answered %s, want %s", r.Body, created)
		}

		// A cancel retried with its key answers as the first did; without a key the retry is a conflict.
		var placed core.OrderView
		first.JSON(&placed)
		path := "/api/v1/orders/" + placed.OrderNo + "/cancel"
		c1 := send(a, alice, path, "cancel-1", nil).Expect(http.StatusOK)
		c2 := send(b, alice, path, "cancel-1", nil).Expect(http.StatusOK)
		if string(c1.Body) != string(c2.Body) {
			t.Fatalf("retried cancel answered %s, want %s", c2.Body, c1.Body)
		}
		b.Call("POST", path, alice, nil).Expect(http.StatusConflict)

		// A malformed key is refused before anything runs.
		if r := send(a, alice, "/api/v1/orders", "has space", order); r.Status != http.StatusBadRequest {
			t.Fatalf("malformed key: %s, want 400", r)
		}

		// After 24 hours the key is forgotten: the same key places a new order.
		if err := db.Conn(context.Background()).Exec("UPDATE idempotency_keys SET expires_at = ?", a.Clock.Now().Add(-time.Second)).Error; err != nil {
			t.Fatal(err)
		}
		send(a, alice, "/api/v1/orders", "order-1", order).Expect(http.StatusCreated)
		if n := orders(); n != 4 {
			t.Fatalf("%d orders after the key expired, want 4", n)
		}
		if n, err := a.Service.Idem.Sweep(context.Background(), 100); err != nil || n != 3 {
			t.Fatalf("sweep removed %d (%v), want the 3 expired keys (not the renewed one)", n, err)
		}
		a.Clock.Add(25 * time.Hour)
		if n, err := a.Service.Idem.Sweep(context.Background(), 100); err != nil || n != 1 {
			t.Fatalf("sweep a day later removed %d (%v), want the renewed key", n, err)
		}

	})
}
