package handlers_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/catalog"
	"github.com/o2ohub/o2ohub/core/loyalty"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

var (
	tillS02   = catalog.StoreInput{Code: "S02", Name: "静安寺店", Address: "静安区南京西路1号", Lat: 31.2235, Lng: 121.4454, Status: "open"}
	tillBread = catalog.ProductInput{SKU: "BREAD", Name: "全麦面包", PriceFen: 1200}
)

// tillHub is a hub with milk and bread at S01 and milk at S02, a member (alice, with a phone) and store
// API tokens for a clerk of S01, a clerk of S02 and an admin.
type tillHub struct {
	*hubtest.Hub
	alice                string
	clerk1, clerk2, boss string
	aliceID              int64
}

func newTillHub(t testing.TB, db *models.DB) tillHub {
	h := hubtest.New(t, db, hubtest.WithSandbox("till-secret"), hubtest.WithCore(func(o *core.Options) { o.PasswordCost = 4 }))
	h.Stock(hubtest.S01, hubtest.Milk, 10)
	h.Stock(hubtest.S01, tillBread, 5)
	h.Stock(tillS02, hubtest.Milk, 10)
	ctx := context.Background()
	alice, m := h.SandboxLogin("alice")
	h.Call("POST", "/api/v1/me/phone/sandbox", alice, map[string]any{"phone": "13800001111"}).Expect(http.StatusOK)
	token := func(username, role, store string) string {
		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: username, Password: "correct horse battery", Role: role, Store: store}))
		return hubtest.Must(h.Service.Staff.SignIn(ctx, username, "correct horse battery", staff.SessionAPI)).Token
	}
	return tillHub{Hub: h, alice: alice, aliceID: m.ID,
		clerk1: token("clerk1", staff.RoleClerk, "S01"), clerk2: token("clerk2", staff.RoleClerk, "S02"), boss: token("boss", staff.RoleAdmin, "")}
}

// code fetches a fresh member code for alice.
func (h tillHub) code() string {
	h.T.Helper()
	var v core.MemberCodeView
	h.Call("GET", "/api/v1/me/member-code", h.alice, nil).Expect(http.StatusOK).JSON(&v)
	return v.Code
}

// stock reads a stock row straight from the database.
func (h tillHub) stock(store, sku string) models.Stock {
	h.T.Helper()
	var row models.Stock
	if err := h.DB.Conn(context.Background()).Raw(`SELECT stocks.* FROM stocks JOIN stores ON stores.id = stocks.store_id
		JOIN products ON products.id = stocks.product_id WHERE stores.code = ? AND products.sku = ?`, store, sku).Scan(&row).Error; err != nil {
		h.T.Fatal(err)
	}
	return row
}

func (h tillHub) points() loyalty.Points {
	h.T.Helper()
	var me core.MeView
	h.Call("GET", "/api/v1/me", h.alice, nil).Expect(http.StatusOK).JSON(&me)
	return me.Points
}

func expectIn(t testing.TB, r fmt.Stringer, words ...string) {
	t.Helper()
	for _, w := range words {
		if !strings.Contains(r.String(), w) {
			t.Fatalf("answer %s does not mention %q", r, w)
		}
	}
}

// TestMemberCodeAtTheTill drives a member code and till sales through the API: the code and its QR, a
// clerk seeing whose code it is, a sale earning points and taking stock (its version moves, which is
// what platform pushes follow), the same sale posted again counting once, the same number with other
// content refused, a replayed or expired code refused without recording anything, bad lines refused
// naming the field, a clerk kept to their own store, and a sale without a member.
func TestMemberCodeAtTheTill(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newTillHub(t, db)

		var mc core.MemberCodeView
		h.Call("GET", "/api/v1/me/member-code", h.alice, nil).Expect(http.StatusOK).JSON(&mc)
		if len(mc.Code) != 18 || !strings.HasPrefix(mc.Code, "88") || mc.ExpiresAt.Sub(h.Clock.Now()).Round(time.Second) != 60*time.Second || len(mc.QRPNG) == 0 {
			t.Fatalf("member code %+v", mc)
		}
		png := h.Call("GET", "/api/v1/me/member-code.png", h.alice, nil).Expect(http.StatusOK)
		if png.Header.Get("Content-Type") != "image/png" || !core.IsMemberCode(png.Header.Get("X-Member-Code")) || png.Header.Get("X-Member-Code") == mc.Code {
			t.Fatalf("member code PNG: %v", png.Header)
		}
		h.Call("GET", "/api/v1/me/member-code", "", nil).Expect(http.StatusUnauthorized)

		// The clerk sees whose code it is; looking does not use it.
		var who loyalty.MemberView
		h.Call("POST", "/api/v1/store/member-code", h.clerk1, map[string]any{"member_code": mc.Code}).Expect(http.StatusOK).JSON(&who)
		if who.MemberID != h.aliceID || who.Phone != "138****1111" || who.Level.Code == "" {
			t.Fatalf("lookup %+v", who)
		}
		h.Call("POST", "/api/v1/store/member-code", hubtest.AdminToken, map[string]any{"member_code": mc.Code}).Expect(http.StatusUnauthorized)

		milk0 := h.stock("S01", "MILK")
		sale := map[string]any{"sale_no": "T1-0001", "member_code": mc.Code,
			"items": []map[string]any{{"sku": "MILK", "qty": 2, "price_fen": 1850}, {"sku": "BREAD", "qty": 1, "price_fen": 1200}}}
		var first core.SaleView
		r := h.Call("POST", "/api/v1/store/sales", h.clerk1, sale).Expect(http.StatusCreated).JSON(&first)
		if first.TotalFen != 4900 || first.Member == nil || first.Member.Phone != "138****1111" || first.Points == nil || first.Points.Earned != 49 || len(first.Items) != 2 {
			t.Fatalf("sale %s", r)
		}
		milk1 := h.stock("S01", "MILK")
		if milk1.OnHand != milk0.OnHand-2 || milk1.Version <= milk0.Version {
			t.Fatalf("milk at S01 %+v after the sale, was %+v: the stock must leave and its version move", milk1, milk0)
		}
		if p := h.points(); p.Pending != 49 || p.Available != 0 {
			t.Fatalf("points after the sale %+v, want 49 pending", p)
		}

		// The same sale again: the first answer, nothing changes.
		again := h.Call("POST", "/api/v1/store/sales", h.clerk1, sale).Expect(http.StatusOK)
		if string(again.Body) != string(r.Body) {
			t.Fatalf("repeat answered %s, first %s", again, r)
		}
		if s := h.stock("S01", "MILK"); s.OnHand != milk1.OnHand || s.Version != milk1.Version {
			t.Fatalf("a repeated sale moved stock: %+v", s)
		}
		if p := h.points(); p.Pending != 49 {
			t.Fatalf("a repeated sale earned again: %+v", p)
		}
		// The same number with other content is refused.
		other := map[string]any{"sale_no": "T1-0001", "member_code": mc.Code, "items": []map[string]any{{"sku": "MILK", "qty": 3, "price_fen": 1850}}}
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, other).Expect(http.StatusConflict), "T1-0001", "different")

		// The code served its sale: a replayed screenshot is refused and nothing is recorded.
		replay := map[string]any{"sale_no": "T1-0002", "member_code": mc.Code, "items": []map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1850}}}
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, replay).Expect(http.StatusConflict), "member_code_used", "one sale")
		h.Call("POST", "/api/v1/store/member-code", h.clerk1, map[string]any{"member_code": mc.Code}).Expect(http.StatusConflict)
		// An expired code is refused.
		stale := h.code()
		h.Clock.Add(61 * time.Second)
		replay["member_code"] = stale
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, replay).Expect(http.StatusGone), "member_code_expired")
		// A mistyped digit fails the check digit.
		fresh := h.code()
		typo := fresh[:17] + string('0'+(fresh[17]-'0'+1)%10)
		replay["member_code"] = typo
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, replay).Expect(http.StatusNotFound), "member_code_unknown", "check digit")
		if n := h.Count("till_sales", "sale_no = ?", "T1-0002"); n != 0 {
			t.Fatalf("refused sales left %d rows", n)
		}
		if s := h.stock("S01", "MILK"); s.OnHand != milk1.OnHand {
			t.Fatalf("refused sales moved stock: %+v", s)
		}

		// Bad lines are refused naming the field.
		for _, c := range []struct {
			items any
			field string
		}{
			{[]map[string]any{{"sku": "NOPE", "qty": 1, "price_fen": 100}}, "items[0].sku"},
			{[]map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1}, {"sku": "MILK", "qty": 0, "price_fen": 1}}, "items[1].qty"},
			{[]map[string]any{{"sku": "MILK", "qty": 1, "price_fen": -5}}, "items[0].price_fen"},
			{[]map[string]any{{"sku": "MILK", "qty": 1}}, "items[0].price_fen"},
			{[]map[string]any{}, "items"},
		} {
			body := map[string]any{"sale_no": "T1-0003", "items": c.items}
			expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, body).Expect(http.StatusBadRequest), c.field)
		}
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, map[string]any{"sale_no": "a b", "items": []map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1}}}).Expect(http.StatusBadRequest), "sale_no")
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.clerk1, map[string]any{"sale_no": "x", "member_code": "12345", "items": []map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1}}}).Expect(http.StatusBadRequest), "member_code")

		// Access: a clerk records at their own store only; an admin names any store; unknown stores are named.
		cash := map[string]any{"sale_no": "T2-0001", "store": "S01", "items": []map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1850}}}
		h.Call("POST", "/api/v1/store/sales", h.clerk2, cash).Expect(http.StatusNotFound)
		h.Call("POST", "/api/v1/store/sales", hubtest.AdminToken, cash).Expect(http.StatusUnauthorized)
		cash["store"] = "S99"
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.boss, cash).Expect(http.StatusNotFound), "S99")
		delete(cash, "store")
		expectIn(t, h.Call("POST", "/api/v1/store/sales", h.boss, cash).Expect(http.StatusBadRequest), "store")
		if s := h.stock("S01", "MILK"); s.OnHand != milk1.OnHand {
			t.Fatalf("refused sales moved stock: %+v", s)
		}
		h.Call("GET", "/api/v1/store/sales/T1-0001", h.clerk2, nil).Expect(http.StatusNotFound)
		h.Call("GET", "/api/v1/store/sales/T1-0001?store=S01", h.boss, nil).Expect(http.StatusOK)

		// A sale without a member code: stock only, at the admin's chosen store.
		cash["store"] = "S02"
		var plain core.SaleView
		h.Call("POST", "/api/v1/store/sales", h.boss, cash).Expect(http.StatusCreated).JSON(&plain)
		if plain.Member != nil || plain.Points != nil || plain.Store != "S02" || h.stock("S02", "MILK").OnHand != 9 {
			t.Fatalf("cash sale %+v", plain)
		}
		if p := h.points(); p.Pending != 49 {
			t.Fatalf("a sale without a code credited alice: %+v", p)
		}
	})
}

// TestTillReturns returns a member's till sale in parts: each return puts its goods back on the shelf and
// reverses exactly its share of the points (rounded so the parts add up to what the sale earned), no
// line returns more than was sold, a return number applies once, and a clerk of another store cannot
// return the sale. A sale beyond the stock on record is kept, with its shortfall.
func TestTillReturns(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newTillHub(t, db)
		sale := map[string]any{"sale_no": "R-1", "member_code": h.code(), "items": []map[string]any{{"sku": "MILK", "qty": 3, "price_fen": 1850}}}
		var s core.SaleView
		h.Call("POST", "/api/v1/store/sales", h.clerk1, sale).Expect(http.StatusCreated).JSON(&s)
		if s.Points.Earned != 55 { // 55.50 yuan at 1 point a yuan
			t.Fatalf("sale earned %+v, want 55", s.Points)
		}
		before := h.stock("S01", "MILK")

		ret := "/api/v1/store/sales/R-1/return"
		h.Call("POST", ret, h.clerk2, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusNotFound)
		var r1 core.SaleReturnView
		h.Call("POST", ret, h.clerk1, map[string]any{"return_no": "A", "items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusCreated).JSON(&r1)
		if r1.RefundFen != 1850 || r1.Sale.ReturnedFen != 1850 || r1.Sale.Points.Clawed != 18 { // 55 × 1850/5550 = 18.33
			t.Fatalf("first return %+v", r1)
		}
		if s := h.stock("S01", "MILK"); s.OnHand != before.OnHand+1 || s.Version <= before.Version {
			t.Fatalf("milk after a return %+v, was %+v", s, before)
		}
		if p := h.points(); p.Pending != 55-18 {
			t.Fatalf("points after the first return %+v", p)
		}
		// The same return again applies once; its number with other lines is refused.
		h.Call("POST", ret, h.clerk1, map[string]any{"return_no": "A", "items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusOK)
		h.Call("POST", ret, h.clerk1, map[string]any{"return_no": "A", "items": []map[string]any{{"sku": "MILK", "qty": 2}}}).Expect(http.StatusConflict)
		// Never more than was sold.
		expectIn(t, h.Call("POST", ret, h.clerk1, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": 3}}}).Expect(http.StatusConflict), "items[0].qty", "only 2")
		expectIn(t, h.Call("POST", ret, h.clerk1, map[string]any{"items": []map[string]any{{"sku": "BREAD", "qty": 1}}}).Expect(http.StatusConflict), "items[0].sku")
		expectIn(t, h.Call("POST", ret, h.clerk1, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": -1}}}).Expect(http.StatusBadRequest), "items[0].qty")
		h.Call("POST", "/api/v1/store/sales/NOPE/return", h.clerk1, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusNotFound)
		if p := h.points(); p.Pending != 55-18 || h.stock("S01", "MILK").OnHand != before.OnHand+1 {
			t.Fatalf("refused returns changed something: %+v", p)
		}
		var r2 core.SaleReturnView
		h.Call("POST", ret, h.clerk1, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": 2}}}).Expect(http.StatusCreated).JSON(&r2)
		if r2.ReturnNo != "R2" || r2.Sale.ReturnedFen != 5550 || r2.Sale.Points.Clawed != 55 || r2.Sale.Items[0].ReturnedQty != 3 {
			t.Fatalf("second return %+v", r2)
		}
		if p := h.points(); p.Pending != 0 || p.Available != 0 || p.Debt != 0 {
			t.Fatalf("points after returning everything %+v, want none", p)
		}
		if s := h.stock("S01", "MILK"); s.OnHand != before.OnHand+3 {
			t.Fatalf("milk after returning everything %+v", s)
		}
		expectIn(t, h.Call("POST", ret, h.clerk1, map[string]any{"items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(http.StatusConflict), "only 0")

		// More than the stock shows: recorded, the shelf down to 0, the shortfall on the line.
		var short core.SaleView
		h.Call("POST", "/api/v1/store/sales", h.clerk1, map[string]any{"sale_no": "R-2", "items": []map[string]any{{"sku": "BREAD", "qty": 8, "price_fen": 1200}}}).
			Expect(http.StatusCreated).JSON(&short)
		if short.Items[0].ShortQty != 3 || h.stock("S01", "BREAD").OnHand != 0 {
			t.Fatalf("sale beyond stock %+v, bread %+v", short, h.stock("S01", "BREAD"))
		}
	})
}

// TestMemberCodeRace has several tills use one member code at once, each for a sale of its own: exactly
// one records its sale and earns the points, the others are told the code was used and record nothing.
// Then several posts of one sale at once record it once.
func TestMemberCodeRace(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		h := newTillHub(t, db)
		ctx := context.Background()
		clerk := hubtest.Must(h.Service.Staff.Authenticate(ctx, h.clerk1, staff.SessionAPI))
		code := h.code()
		const tills = 6
		var wg sync.WaitGroup
		errs := make([]error, tills)
		for i := range tills {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, _, errs[i] = h.Service.RecordSale(ctx, clerk, core.SaleInput{SaleNo: fmt.Sprintf("RACE-%d", i), MemberCode: code,
					Items: []core.SaleLineInput{{SKU: "MILK", Qty: 1, PriceFen: ptr(int64(1000))}}})
			}()
		}
		wg.Wait()
		won := 0
		for i, err := range errs {
			switch {
			case err == nil:
				won++
			case errors.Is(err, core.ErrMemberCodeUsed):
			default:
				t.Fatalf("till %d: %v", i, err)
			}
		}
		if won != 1 || h.Count("till_sales", "1 = 1") != 1 || h.stock("S01", "MILK").OnHand != 9 {
			t.Fatalf("%d tills won the one code; %d sales recorded, milk %+v", won, h.Count("till_sales", "1 = 1"), h.stock("S01", "MILK"))
		}
		if p := h.points(); p.Pending != 10 {
			t.Fatalf("points %+v, want the one sale's 10", p)
		}

		// One sale posted by several tills (a retry racing the original): recorded once.
		code = h.code()
		created := make([]bool, tills)
		for i := range tills {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, created[i], errs[i] = h.Service.RecordSale(ctx, clerk, core.SaleInput{SaleNo: "SAME", MemberCode: code,
					Items: []core.SaleLineInput{{SKU: "MILK", Qty: 2, PriceFen: ptr(int64(1000))}}})
			}()
		}
		wg.Wait()
		n := 0
		for i := range tills {
			if errs[i] != nil {
				t.Fatalf("post %d of one sale: %v", i, errs[i])
			}
			if created[i] {
				n++
			}
		}
		if n != 1 || h.stock("S01", "MILK").OnHand != 7 {
			t.Fatalf("one sale posted %d times was created %d times; milk %+v", tills, n, h.stock("S01", "MILK"))
		}
		if p := h.points(); p.Pending != 30 {
			t.Fatalf("points %+v, want 10 + 20", p)
		}
	})
}

func ptr[T any](v T) *T { return &v }
