package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/referral"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// TestReferralOverHTTP drives referral rebates through the API: a member's code and share path, a
// binding (refused for the member's own code and a second time), settings changed by the admin token
// and validated field by field, a rebate earned and made available by an order, and payouts recorded
// by a signed-in admin staff account only: the shared admin token and a clerk are refused, and so is a
// payout above what is available.
func TestReferralOverHTTP(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := hubtest.New(t, db, hubtest.WithSandbox("referral-secret"), hubtest.WithCore(func(o *core.Options) { o.PasswordCost = 4 }))
		h.Stock(hubtest.S01, hubtest.Milk, 100)
		ctx := context.Background()
		alice, av := h.SandboxLogin("alice")
		bob, _ := h.SandboxLogin("bob")

		var st referral.SettingsView
		h.Call("GET", "/api/v1/admin/referral/settings", hubtest.AdminToken, nil).Expect(http.StatusOK).JSON(&st)
		if st.Version != 0 || st.Tier1Bps != 0 || st.HoldDays != 7 {
			t.Fatalf("default settings %+v, want rebates off and a 7-day hold", st)
		}
		r := h.Call("PUT", "/api/v1/admin/referral/settings", hubtest.AdminToken, map[string]any{"tier1_bps": 6000, "tier2_bps": -1, "hold_days": 0}).Expect(http.StatusBadRequest)
		for _, field := range []string{"tier1_bps", "tier2_bps"} {
			if !strings.Contains(string(r.Body), field) {
				t.Fatalf("bad settings answered %s, want it to name %s", r, field)
			}
		}
		h.Call("PUT", "/api/v1/admin/referral/settings", alice, map[string]any{"tier1_bps": 1000}).Expect(http.StatusUnauthorized)
		h.Call("PUT", "/api/v1/admin/referral/settings", hubtest.AdminToken, map[string]any{"tier1_bps": 1000, "hold_days": 0}).Expect(http.StatusOK).JSON(&st)
		if st.Version == 0 || st.Tier1Bps != 1000 || st.ChangedBy != staff.AdminTokenActor.Username {
			t.Fatalf("changed settings %+v", st)
		}

		var mine referral.View
		h.Call("GET", "/api/v1/me/referral", alice, nil).Expect(http.StatusOK).JSON(&mine)
		if len(mine.Code) != referral.CodeLen || mine.SharePath != "pages/index/index?ref="+mine.Code || mine.Referrer != nil || mine.Entries == nil {
			t.Fatalf("/me/referral %+v", mine)
		}
		var again referral.View
		h.Call("GET", "/api/v1/me/referral", alice, nil).Expect(http.StatusOK).JSON(&again)
		if again.Code != mine.Code {
			t.Fatalf("the code changed: %s, then %s", mine.Code, again.Code)
		}
		var me core.MeView
		h.Call("GET", "/api/v1/me", alice, nil).Expect(http.StatusOK).JSON(&me)
		if me.Referral.Code != mine.Code || me.Referral.SharePath != mine.SharePath {
			t.Fatalf("/me shows referral %+v, /me/referral %s", me.Referral, mine.Code)
		}
		h.Call("POST", "/api/v1/me/referrer", alice, map[string]any{"code": mine.Code}).Expect(http.StatusConflict)
		h.Call("POST", "/api/v1/me/referrer", bob, map[string]any{"code": "short"}).Expect(http.StatusBadRequest)
		h.Call("POST", "/api/v1/me/referrer", bob, map[string]any{"code": "ZZZZZZZZ"}).Expect(http.StatusNotFound)
		h.Call("POST", "/api/v1/me/referrer", bob, map[string]any{"code": strings.ToLower(mine.Code)}).Expect(http.StatusOK)

		var o core.OrderView
		h.Call("POST", "/api/v1/orders", bob, map[string]any{"store": "S01", "fulfillment": "pickup",
			"items": []map[string]any{{"sku": "MILK", "qty": 2}}}).Expect(http.StatusCreated).JSON(&o)
		hubtest.Must(h.Service.ApplyPayment(ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo, TransactionID: "T-" + o.OrderNo, AmountFen: o.CashFen, PaidAt: h.Clock.Now()}))
		for _, step := range []string{"accept", "ready", "complete"} {
			h.Call("POST", "/api/v1/admin/orders/"+o.OrderNo+"/"+step, hubtest.AdminToken, nil).Expect(http.StatusOK)
		}
		h.Call("GET", "/api/v1/me/referral", alice, nil).Expect(http.StatusOK).JSON(&mine)
		want := o.CashFen / 10
		if mine.Rebates.AvailableFen != want || mine.Referred != 1 || len(mine.Entries) != 1 || mine.Entries[0].Kind != referral.KindEarn {
			t.Fatalf("alice's referral side %+v, want %d available", mine, want)
		}

		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: "boss", Password: "correct horse battery", Role: staff.RoleAdmin}))
		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: "clerk1", Password: "correct horse battery", Role: staff.RoleClerk, Store: "S01"}))
		boss := hubtest.Must(h.Service.Staff.SignIn(ctx, "boss", "correct horse battery", staff.SessionAPI)).Token
		clerk := hubtest.Must(h.Service.Staff.SignIn(ctx, "clerk1", "correct horse battery", staff.SessionAPI)).Token
		pay := map[string]any{"member_id": av.ID, "amount_fen": want, "reason": "WeChat transfer 42"}
		h.Call("POST", "/api/v1/store/referral/payouts", hubtest.AdminToken, pay).Expect(http.StatusUnauthorized)
		h.Call("POST", "/api/v1/store/referral/payouts", clerk, pay).Expect(http.StatusForbidden)
		h.Call("GET", fmt.Sprintf("/api/v1/store/referral/members/%d", av.ID), clerk, nil).Expect(http.StatusForbidden)
		if r := h.Call("POST", "/api/v1/store/referral/payouts", boss, map[string]any{"member_id": av.ID, "amount_fen": want}).Expect(http.StatusBadRequest); !strings.Contains(string(r.Body), "reason") {
			t.Fatalf("payout without a reason: %s", r)
		}
		h.Call("POST", "/api/v1/store/referral/payouts", boss, map[string]any{"member_id": av.ID, "amount_fen": want + 1, "reason": "x"}).Expect(http.StatusConflict)
		var entry referral.Entry
		h.Call("POST", "/api/v1/store/referral/payouts", boss, pay).Expect(http.StatusOK).JSON(&entry)
		if entry.AmountFen != -want || entry.Actor != "boss" || entry.Note != "WeChat transfer 42" {
			t.Fatalf("payout entry %+v", entry)
		}
		var seen referral.View
		h.Call("GET", fmt.Sprintf("/api/v1/store/referral/members/%d", av.ID), boss, nil).Expect(http.StatusOK).JSON(&seen)
		if seen.Rebates.AvailableFen != 0 || seen.Rebates.PaidOutFen != want || seen.Code != mine.Code {
			t.Fatalf("the member's referral side %+v", seen)
		}
		h.Call("GET", "/api/v1/store/referral/members/999999", boss, nil).Expect(http.StatusNotFound)
	})
}
