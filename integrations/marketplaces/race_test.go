package marketplaces_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/market"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// soldOutCode is the reason code each platform's fake keeps for our sold-out refusal: Meituan 2009
// (商品已售完), Ele.me type 3 (美食已售完); JD's refusal carries none.
var soldOutCode = map[string]string{market.Meituan: "2009", market.Eleme: "3", market.JDDJ: ""}

// onPlatform returns a platform order's state and cancel code on its platform.
func (h *hub) onPlatform(name, id string) (status, code string) {
	switch name {
	case market.Meituan:
		o, _ := h.mt.Order(id)
		return o.Status, o.CancelCode
	case market.Eleme:
		o, _ := h.el.Order(id)
		return o.Status, o.CancelCode
	default:
		o, _ := h.jd.Order(id)
		return o.Status, o.CancelCode
	}
}

// TestLastUnitRace: with one unit left at S01, a mini-program order and orders on two platforms for it
// come in at the same moment, ten rounds over (each round with a SKU of its own, the platform pair
// rotating). Exactly one wins each round; a losing mini-program order is out of stock; a losing platform
// order is held cancelled with the reason, alerted, and refused on its platform with the platform's
// sold-out reason; the stock is never negative and matches the winner. The platforms' pushes are lost
// on purpose and the orders taken through the same intake their webhooks use, so that the three arrive
// together rather than one HTTP round trip apart.
func TestLastUnitRace(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db)
		for _, p := range h.platforms {
			p.fake.SetDropPushes(true)
		}
		login, err := h.svc.Members.SignIn(h.ctx, "sandbox", "race", "race")
		if err != nil {
			t.Fatal(err)
		}
		wins := map[string]int{}
		for round := range 10 {
			sku := fmt.Sprintf("LAST-%02d", round)
			if _, err := h.svc.Catalog.PutProduct(h.ctx, catalog.ProductInput{SKU: sku, Name: "最后一件", PriceFen: 990}); err != nil {
				t.Fatal(err)
			}
			h.setStock(t, sku, 1)
			two := []platform{h.platforms[round%3], h.platforms[(round+1)%3]}
			orders := make([]market.Order, len(two))
			for i, p := range two {
				id, err := p.place(shop, sku, 1)
				if err != nil {
					t.Fatal(err)
				}
				orders[i] = market.Order{Platform: p.name, OrderID: id, ShopID: shop, Lines: []market.Line{{Code: sku, Name: "最后一件", Qty: 1, PriceFen: 990}}}
			}

			start := make(chan struct{})
			var wg sync.WaitGroup
			var miniErr error
			takeErrs := make([]error, len(orders))
			wg.Add(1 + len(orders))
			go func() {
				defer wg.Done()
				<-start
				_, miniErr = h.svc.CreateOrder(h.ctx, login.Member.ID, core.OrderInput{Store: "S01", Fulfillment: "pickup", Items: []core.ItemInput{{SKU: sku, Qty: 1}}})
			}()
			for i, o := range orders {
				go func() {
					defer wg.Done()
					<-start
					takeErrs[i] = h.svc.TakePlatformOrder(h.ctx, o)
				}()
			}
			close(start)
			wg.Wait()

			winners := []string{}
			switch {
			case miniErr == nil:
				winners = append(winners, "miniprogram")
			case !errors.Is(miniErr, domain.ErrOutOfStock):
				t.Fatalf("round %d: mini-program order: %v", round, miniErr)
			}
			for i, o := range orders {
				if takeErrs[i] != nil {
					t.Fatalf("round %d: taking the %s order: %v", round, o.Platform, takeErrs[i])
				}
				ord := h.order(t, o.Platform, o.OrderID)
				switch ord.Status {
				case "paid":
					winners = append(winners, o.Platform)
					continue
				case "cancelled":
				default:
					t.Fatalf("round %d: %s order is %s", round, o.Platform, ord.Status)
				}
				if !strings.Contains(ord.Attention, "sold out") {
					t.Errorf("round %d: refused %s order says %q", round, o.Platform, ord.Attention)
				}
				var alerts int64
				db.Conn(h.ctx).Model(&models.Alert{}).Where("kind = ? AND order_no = ?", "platform_sold_out", ord.OrderNo).Count(&alerts)
				if alerts != 1 {
					t.Errorf("round %d: %d sold-out alerts for the refused %s order, want 1", round, alerts, o.Platform)
				}
			}
			if len(winners) != 1 {
				t.Fatalf("round %d: winners %v, want exactly one", round, winners)
			}
			wins[winners[0]]++

			// The refusals reach the platforms: cancelled there with their sold-out reason.
			h.calls(t)
			for _, o := range orders {
				status, code := h.onPlatform(o.Platform, o.OrderID)
				if o.Platform == winners[0] {
					if status != "new" {
						t.Fatalf("round %d: the winning %s order is %q on its platform", round, o.Platform, status)
					}
					continue
				}
				if status != "cancelled" || code != soldOutCode[o.Platform] {
					t.Fatalf("round %d: the refused %s order is %q (code %q) on its platform, want cancelled (code %q)", round, o.Platform, status, code, soldOutCode[o.Platform])
				}
			}

			st, err := h.svc.Catalog.Stock(h.ctx, "S01", sku)
			if err != nil {
				t.Fatal(err)
			}
			want := catalog.StockView{Store: "S01", SKU: sku} // a platform order took the unit
			if winners[0] == "miniprogram" {
				want.OnHand, want.Reserved = 1, 1 // reserved for the unpaid order
			}
			if st != want {
				t.Fatalf("round %d (%s won): stock %+v, want %+v", round, winners[0], st, want)
			}
		}
		t.Logf("winners over 10 rounds: %v", wins)
	})
}
