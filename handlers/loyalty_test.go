package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestLoyaltyOverHTTP drives points through the API: the member's level and points on /me, settings
// changed by the admin token and validated field by field, member lookup and adjustments by a signed-in
// admin staff account only, orders paying with points (one entirely), and the ledger a page at a time.
func TestLoyaltyOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := hubtest.New(t, db, hubtest.WithSandbox("loyalty-secret"), hubtest.WithCore(func(o *core.Options) { o.PasswordCost = 4 }))
		h.Stock(hubtest.S01, hubtest.Milk, 100)
		ctx := context.Background()
		alice, _ := h.SandboxLogin("alice")
		h.Call("POST", "/api/v1/me/phone/sandbox", alice, map[string]any{"phone": "13800001111"}).Expect(http.StatusOK)

		var me core.MeView
		h.Call("GET", "/api/v1/me", alice, nil).Expect(http.StatusOK).JSON(&me)
		if me.Level.Code != "standard" || me.Points.Available != 0 || me.Points.Expiring == nil || me.Phone != "138****1111" {
			t.Fatalf("/me = %+v, want the standard level and no points", me)
		}

		var st loyalty.SettingsView
		h.Call("GET", "/api/v1/admin/loyalty/settings", hubtest.AdminToken, nil).Expect(http.StatusOK).JSON(&st)
		if st.Version == 0 || st.EarnPointsPerYuan != 1 || st.ExpiryDays != 365 || st.HoldDays != 7 || len(st.Levels) != 3 {
			t.Fatalf("default settings %+v", st)
		}
		h.Call("GET", "/api/v1/admin/loyalty/settings", alice, nil).Expect(http.StatusUnauthorized)
		bad := st.Settings
		bad.PointValueFen, bad.Levels = 0, append(bad.Levels, loyalty.Level{Code: "Gold!", Name: "x", ThresholdFen: 1})
		r := h.Call("PUT", "/api/v1/admin/loyalty/settings", hubtest.AdminToken, bad).Expect(http.StatusBadRequest)
		for _, field := range []string{"point_value_fen", "levels[3].code"} {
			if !strings.Contains(string(r.Body), field) {
				t.Fatalf("bad settings answered %s, want it to name %s", r, field)
			}
		}
		good := st.Settings
		good.MaxSharePct = 100
		var changed loyalty.SettingsView
		h.Call("PUT", "/api/v1/admin/loyalty/settings", hubtest.AdminToken, good).Expect(http.StatusOK).JSON(&changed)
		if changed.Version <= st.Version || changed.MaxSharePct != 100 || changed.ChangedBy != staff.AdminTokenActor.Username {
			t.Fatalf("changed settings %+v", changed)
		}

		// Staff: a signed-in admin looks members up and adjusts points; a clerk and the admin token cannot.
		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: "boss", Password: "correct horse battery", Role: staff.RoleAdmin}))
		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: "clerk1", Password: "correct horse battery", Role: staff.RoleClerk, Store: "S01"}))
		boss := hubtest.Must(h.Service.Staff.SignIn(ctx, "boss", "correct horse battery", staff.SessionAPI)).Token
		clerk := hubtest.Must(h.Service.Staff.SignIn(ctx, "clerk1", "correct horse battery", staff.SessionAPI)).Token
		var found loyalty.MemberView
		h.Call("GET", "/api/v1/store/loyalty/members?phone=13800001111", boss, nil).Expect(http.StatusOK).JSON(&found)
		if found.Phone != "138****1111" || found.MemberID == 0 || found.Level.Code != "standard" {
			t.Fatalf("lookup %+v", found)
		}
		h.Call("GET", "/api/v1/store/loyalty/members?phone=13800001111", clerk, nil).Expect(http.StatusForbidden)
		h.Call("GET", "/api/v1/store/loyalty/members?phone=13800001111", hubtest.AdminToken, nil).Expect(http.StatusUnauthorized)
		h.Call("GET", "/api/v1/store/loyalty/members?phone=123", boss, nil).Expect(http.StatusBadRequest)
		h.Call("GET", "/api/v1/store/loyalty/members?phone=13900009999", boss, nil).Expect(http.StatusNotFound)
		adjust := fmt.Sprintf("/api/v1/store/loyalty/members/%d/adjust", found.MemberID)
		if r := h.Call("POST", adjust, boss, map[string]any{"points": 10}).Expect(http.StatusBadRequest); !strings.Contains(string(r.Body), "reason") {
			t.Fatalf("adjustment without a reason: %s", r)
		}
		h.Call("POST", adjust, clerk, map[string]any{"points": 10, "reason": "x"}).Expect(http.StatusForbidden)
		var entry loyalty.Entry
		h.Call("POST", adjust, boss, map[string]any{"points": 2000, "reason": "goodwill", "key": "k1"}).Expect(http.StatusOK).JSON(&entry)
		h.Call("POST", adjust, boss, map[string]any{"points": 2000, "reason": "goodwill", "key": "k1"}).Expect(http.StatusOK) // once
		if entry.Points != 2000 || entry.Actor != "boss" || entry.Kind != loyalty.KindAdjust || entry.Note != "goodwill" {
			t.Fatalf("adjustment %+v", entry)
		}

		// Orders: one paid entirely with points, one partly.
		var o1, o2 core.OrderView
		h.Call("POST", "/api/v1/orders", alice, map[string]any{"store": "S01", "fulfillment": "pickup", "points": 99999,
			"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusCreated).JSON(&o1)
		if o1.Status != core.StatusPaid || o1.PointsUsed != 1850 || o1.PointsValueFen != 1850 || o1.CashFen != 0 {
			t.Fatalf("order paid by points %+v", o1)
		}
		h.Call("POST", "/api/v1/orders", alice, map[string]any{"store": "S01", "fulfillment": "pickup", "points": -1,
			"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusBadRequest)
		h.Call("POST", "/api/v1/orders", alice, map[string]any{"store": "S01", "fulfillment": "pickup", "points": 100,
			"items": []map[string]any{{"sku": "MILK", "qty": 2}}}).Expect(http.StatusCreated).JSON(&o2)
		if o2.Status != core.StatusPendingPayment || o2.PointsUsed != 100 || o2.CashFen != 3600 || o2.TotalFen != 3700 {
			t.Fatalf("order partly paid by points %+v", o2)
		}
		h.Call("GET", "/api/v1/me", alice, nil).Expect(http.StatusOK).JSON(&me)
		if me.Points.Available != 50 || len(me.Points.Expiring) != 1 || me.Points.Expiring[0].Points != 50 {
			t.Fatalf("/me points %+v, want 50 left", me.Points)
		}

		var page loyalty.LedgerPage
		h.Call("GET", "/api/v1/me/points?limit=2", alice, nil).Expect(http.StatusOK).JSON(&page)
		if len(page.Entries) != 2 || page.Next == 0 || page.Entries[0].Points != -100 || page.Entries[1].Points != -1850 {
			t.Fatalf("first page %+v", page)
		}
		var rest loyalty.LedgerPage
		h.Call("GET", fmt.Sprintf("/api/v1/me/points?limit=2&before=%d", page.Next), alice, nil).Expect(http.StatusOK).JSON(&rest)
		if len(rest.Entries) != 1 || rest.Next != 0 || rest.Entries[0].Points != 2000 || rest.Entries[0].Actor != "boss" {
			t.Fatalf("second page %+v (first %+v)", rest, page)
		}
		h.Call("GET", "/api/v1/me/points?limit=x", alice, nil).Expect(http.StatusBadRequest)
		h.Call("GET", "/api/v1/me/points?limit=1000", alice, nil).Expect(http.StatusBadRequest)
	})
}
