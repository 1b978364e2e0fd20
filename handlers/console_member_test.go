package handlers

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
)

// TestConsoleMemberCode has a clerk scan a member code on the member page and at the pickup desk and see
// whose it is (level and points), without using it; a code that served a sale, a malformed one and a form
// without the session's CSRF token are refused.
func TestConsoleMemberCode(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newConEnv(t, db, false)
		ctx := context.Background()
		mc, err := e.svc.IssueMemberCode(ctx, e.memberID)
		if err != nil {
			t.Fatal(err)
		}
		b := e.signedIn(t, "clerk1")
		wantPage(t, b.get("/console/member"), http.StatusOK, `action="/console/member"`, "会员码")
		wantPage(t, b.post("/console/member", url.Values{"code": {mc.Code}}), http.StatusOK, "可用积分", "普通会员")
		wantPage(t, b.get("/console/pickup"), http.StatusOK)
		wantPage(t, b.post("/console/pickup/verify", url.Values{"code": {mc.Code}}), http.StatusOK, "可用积分")
		wantPage(t, b.post("/console/member", url.Values{"code": {"12345"}}), http.StatusBadRequest, "88 开头")
		r := b.post("/console/member", url.Values{"code": {mc.Code}, "csrf": {"forged"}})
		wantPage(t, r, http.StatusForbidden, "页面已过期")

		// Looking did not use the code; a sale does, and then the page says so.
		l, err := e.svc.Staff.SignIn(ctx, "clerk1", conPassword, staff.SessionAPI)
		if err != nil {
			t.Fatal(err)
		}
		clerk, err := e.svc.Staff.Authenticate(ctx, l.Token, staff.SessionAPI)
		if err != nil {
			t.Fatal(err)
		}
		price := int64(1250)
		if _, _, err := e.svc.RecordSale(ctx, clerk, core.SaleInput{SaleNo: "C1", MemberCode: mc.Code, Items: []core.SaleLineInput{{SKU: "TEA", Qty: 1, PriceFen: &price}}}); err != nil {
			t.Fatalf("sale with a code looked up: %v", err)
		}
		wantPage(t, b.post("/console/member", url.Values{"code": {mc.Code}}), http.StatusConflict, "已使用")
	})
}
