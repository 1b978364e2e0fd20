package hubtest

import (
	"context"

	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/member"
)

// S01 is the store most tests sell from: People's Square, Shanghai.
var S01 = catalog.StoreInput{Code: "S01", Name: "人民广场店", Address: "黄浦区南京东路1号", Lat: 31.2304, Lng: 121.4737, Status: "open"}

// Milk is the product most tests sell, at 18.50 yuan.
var Milk = catalog.ProductInput{SKU: "MILK", Name: "光明鲜牛奶 950ml", PriceFen: 1850}

// Stock puts store and product in the catalog and sets onHand units of the product at the store.
func (h *Hub) Stock(store catalog.StoreInput, product catalog.ProductInput, onHand int64) {
	h.T.Helper()
	ctx := context.Background()
	if _, err := h.Service.Catalog.PutStore(ctx, store); err != nil {
		h.T.Fatal(err)
	}
	if _, err := h.Service.Catalog.PutProduct(ctx, product); err != nil {
		h.T.Fatal(err)
	}
	if _, err := h.Service.Catalog.SetStock(ctx, store.Code, product.SKU, onHand, "test"); err != nil {
		h.T.Fatal(err)
	}
}

// SandboxLogin signs a sandbox shopper in over HTTP (the hub needs WithSandbox) and returns their bearer
// token and member.
func (h *Hub) SandboxLogin(user string) (string, member.View) {
	h.T.Helper()
	var l member.Login
	h.Call("POST", "/api/v1/auth/sandbox", "", map[string]any{"user": user}).Expect(200).JSON(&l)
	if l.Token == "" || l.Member.ID == 0 {
		h.T.Fatalf("sign-in of %s returned no token or member: %+v", user, l)
	}
	return l.Token, l.Member
}
