package wechat_test

// More campaign tests: the audience by last purchase at the moment a campaign starts, cancelling a
// running campaign, and two members merging (same phone) while a campaign runs or after it.

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/core/member"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/integrations/wechat/wechatfake"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// payHub is a hub with WeChat Pay and the mini-program on the package's WeChat fake. (The fake tells wall
// time, as the SDK signs with it: the tests move the hub's clock after the payments.)
func payHub(t testing.TB, db *models.DB, start time.Time) (*hub, *wechatfake.Fake) {
	t.Helper()
	var h *hub
	fake, url := wx, wxURL
	h = &hub{fake: fake}
	h.Hub = hubtest.New(t, db, hubtest.WithClock(start), hubtest.WithCore(func(o *core.Options) { o.PasswordCost = 4 }), hubtest.WithDeps(func(hh *hubtest.Hub, d *handlers.Deps) {
		mp, err := wechat.NewMiniProgram(wechat.MiniProgramConfig{AppID: testAppID, Secret: testSecret, Base: url}, wechat.NewCache(hh.DB, hh.Clock.Now), hh.Log)
		if err != nil {
			t.Fatal(err)
		}
		pay, err := wechat.NewPay(context.Background(), wechat.PayConfig{AppID: testAppID, MchID: testMchID, MerchantSerial: keys.MerchantSerial,
			MerchantKey: keys.MerchantKey, PublicKeyID: keys.PublicKeyID, PublicKey: &keys.PlatformKey.PublicKey, APIv3Key: keys.APIv3Key, Base: url},
			mp, hh.Clock.Now, hh.Log)
		if err != nil {
			t.Fatal(err)
		}
		h.mp, h.pay = mp, pay
		hh.Service.RegisterGateway(pay)
		hh.Service.RegisterMessenger(mp)
		d.WeChat, d.WeChatPay = mp, pay
	}))
	h.Stock(hubtest.S01, hubtest.Milk, 100)
	return h, fake
}

// buyer signs a new user in on h's own fake and returns their openid and member id.
func (h *hub) buyer() (string, int64) {
	h.T.Helper()
	openid := fmt.Sprintf("o%d", time.Now().UnixNano())
	_, id := h.signIn(openid)
	return openid, id
}

func (h *hub) signIn(openid string) (string, int64) {
	h.T.Helper()
	var out member.Login
	h.Call("POST", "/api/v1/auth/wechat", "", map[string]string{"code": h.fake.IssueLoginCode(openid, "")}).Expect(200).JSON(&out)
	return out.Token, out.Member.ID
}

// buy signs the member with openid in and places and pays an order now (by the hub's clock).
func (h *hub) buy(openid string) {
	h.T.Helper()
	token, _ := h.signIn(openid)
	var o core.OrderView
	h.Call("POST", "/api/v1/orders", token, map[string]any{"store": "S01", "fulfillment": "pickup", "items": []map[string]any{{"sku": "MILK", "qty": 1}}}).Expect(201).JSON(&o)
	h.Call("POST", "/api/v1/orders/"+o.OrderNo+"/pay", token, map[string]string{"provider": "wechatpay"}).Expect(200)
	if err := h.fake.Pay(context.Background(), o.OrderNo); err != nil {
		h.T.Fatal(err)
	}
	if st := h.OrderStatus(o.OrderNo); st != core.StatusPaid {
		h.T.Fatalf("order %s is %s after the payment", o.OrderNo, st)
	}
}

// tillSale records a sale of one MILK at S01's till to the member with openid, by their member code,
// now (by the hub's clock).
func (h *hub) tillSale(openid, saleNo string) {
	h.T.Helper()
	token, _ := h.signIn(openid)
	var code core.MemberCodeView
	h.Call("GET", "/api/v1/me/member-code", token, nil).Expect(200).JSON(&code)
	clerk := hubtest.Must(h.Service.Staff.SignIn(context.Background(), "clerk", "correct horse battery", staff.SessionAPI)).Token
	h.Call("POST", "/api/v1/store/sales", clerk, map[string]any{"member_code": code.Code, "sale_no": saleNo,
		"items": []map[string]any{{"sku": "MILK", "qty": 1, "price_fen": 1500}}}).Expect(201)
}

// launch creates and starts an inbox-only campaign for audience.
func (h *hub) launch(name string, audience map[string]any) campaign.View {
	h.T.Helper()
	var c campaign.View
	h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{"name": name, "audience": audience,
		"inbox": map[string]any{"title": name, "body": "本周会员日。"}}).Expect(201).JSON(&c)
	h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", c.ID), hubtest.AdminToken, nil).Expect(200).JSON(&c)
	return c
}

// recipients returns the members a campaign reaches, sorted.
func (h *hub) recipients(id int64) []int64 {
	h.T.Helper()
	var ids []int64
	hubtest.Must(0, h.DB.Conn(context.Background()).Model(&models.CampaignRecipient{}).Where("campaign_id = ?", id).Order("member_id").Pluck("member_id", &ids).Error)
	return ids
}

func sorted(ids ...int64) []int64 { slices.Sort(ids); return ids }

// TestCampaignAudienceByLastPurchase: "bought within N days" and "not bought within N days", alone and
// with levels, select exactly the members they should at the moment the campaign starts, by purchases
// from paid orders (paid_at, WeChat's success time) and till sales (the hub's clock); a member who never bought counts as not bought
// within N days; the day boundary is inclusive; a draft takes the clock of its start.
func TestCampaignAudienceByLastPurchase(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		h, _ := payHub(t, db, time.Now().UTC())
		goldOpenid, gold := h.buyer()
		silverOpenid, silver := h.buyer()
		_, neverGold := h.buyer()
		_, nothing := h.buyer() // never bought, no level set
		h.setLevel(gold, "gold")
		h.setLevel(neverGold, "gold")
		h.buy(goldOpenid)
		h.buy(silverOpenid)
		h.setLevel(silver, "silver")
		var paid []time.Time
		hubtest.Must(h.Service.RecordLoyaltyDue(ctx, 100)) // the loyalty worker records the payments' purchases
		hubtest.Must(0, h.DB.Conn(ctx).Model(&models.LoyaltyPurchase{}).Where("member_id IN ?", []int64{gold, silver}).Order("paid_at").Pluck("paid_at", &paid).Error)
		if len(paid) != 2 {
			t.Fatalf("purchases recorded at %v, want 2", paid)
		}
		// A till sale two days later (paid_at is the hub's clock), then the campaigns exactly five days
		// after the later order (three after the till sale).
		tillOpenid, till := h.buyer()
		hubtest.Must(h.Service.Staff.Put(ctx, staff.Input{Username: "clerk", Password: "correct horse battery", Role: staff.RoleClerk, Store: "S01"}))
		h.Clock.Set(paid[1].Add(2 * 24 * time.Hour))
		h.tillSale(tillOpenid, "T-0001")
		h.Clock.Set(paid[1].Add(5 * 24 * time.Hour))

		atBoundary := sorted(silver) // bought exactly 5 days ago (gold too when paid in the same second)
		if paid[0].Equal(paid[1]) {
			atBoundary = sorted(gold, silver)
		}
		for _, tc := range []struct {
			name     string
			audience map[string]any
			want     []int64
		}{
			{"bought 5 (boundary)", map[string]any{"purchased_within_days": 5}, sorted(append(atBoundary, till)...)},
			{"bought 6", map[string]any{"purchased_within_days": 6}, sorted(gold, silver, till)},
			{"bought 4", map[string]any{"purchased_within_days": 4}, sorted(till)},
			{"bought 3 (till boundary)", map[string]any{"purchased_within_days": 3}, sorted(till)},
			{"bought 2", map[string]any{"purchased_within_days": 2}, nil},
			{"not bought 6", map[string]any{"not_purchased_within_days": 6}, sorted(neverGold, nothing)},
			{"not bought 4", map[string]any{"not_purchased_within_days": 4}, sorted(gold, silver, neverGold, nothing)},
			{"not bought 2", map[string]any{"not_purchased_within_days": 2}, sorted(gold, silver, neverGold, nothing, till)},
			{"gold bought 6", map[string]any{"levels": []string{"gold"}, "purchased_within_days": 6}, sorted(gold)},
			{"gold not bought 6", map[string]any{"levels": []string{"gold"}, "not_purchased_within_days": 6}, sorted(neverGold)},
			{"gold+silver bought 6", map[string]any{"levels": []string{"gold", "silver"}, "purchased_within_days": 6}, sorted(gold, silver)},
			{"lapsed: bought 10, not 4", map[string]any{"purchased_within_days": 10, "not_purchased_within_days": 4}, sorted(gold, silver)},
		} {
			c := h.launch(tc.name, tc.audience)
			got := h.recipients(c.ID)
			if !slices.Equal(got, tc.want) || c.Progress.Recipients != int64(len(tc.want)) {
				t.Errorf("%s: recipients %v (progress %d), want %v", tc.name, got, c.Progress.Recipients, tc.want)
			}
		}
		// A draft's audience is fixed when it starts, by the clock then, not when it was created; a
		// started campaign keeps its audience as time passes.
		var draft campaign.View
		h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{"name": "later", "audience": map[string]any{"purchased_within_days": 6},
			"inbox": map[string]any{"title": "t", "body": "b"}}).Expect(201).JSON(&draft)
		running := h.launch("fixed", map[string]any{"purchased_within_days": 6})
		h.Clock.Add(24*time.Hour + time.Second)
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", draft.ID), hubtest.AdminToken, nil).Expect(200)
		if got, want := h.recipients(draft.ID), sorted(till); !slices.Equal(got, want) {
			t.Errorf("draft started a day later: recipients %v, want %v", got, want)
		}
		if got, want := h.recipients(running.ID), sorted(gold, silver, till); !slices.Equal(got, want) {
			t.Errorf("started campaign's recipients moved to %v, want %v", got, want)
		}
	})
}

// sandboxCampaignHub is campaignHub with the sandbox on, for its phone route (a merge by phone).
func sandboxCampaignHub(t testing.TB, db *models.DB, start time.Time, rate float64) *hub {
	t.Helper()
	h := &hub{fake: wx}
	h.Hub = hubtest.New(t, db, hubtest.WithClock(start), hubtest.WithSandbox("sandbox-secret"),
		hubtest.WithCore(func(o *core.Options) { o.CampaignRate = rate }),
		hubtest.WithDeps(func(hh *hubtest.Hub, d *handlers.Deps) {
			mp, err := wechat.NewMiniProgram(wechat.MiniProgramConfig{AppID: testAppID, Secret: testSecret, Base: wxURL},
				wechat.NewCache(hh.DB, hh.Clock.Now), hh.Log)
			if err != nil {
				t.Fatal(err)
			}
			h.mp = mp
			hh.Service.RegisterMessenger(mp)
			d.WeChat = mp
		}))
	return h
}

// states returns each recipient's state of a campaign by member.
func (h *hub) states(id int64) map[int64]string {
	h.T.Helper()
	var rows []models.CampaignRecipient
	hubtest.Must(0, h.DB.Conn(context.Background()).Where("campaign_id = ?", id).Find(&rows).Error)
	out := map[int64]string{}
	for _, r := range rows {
		out[r.MemberID] = r.State
	}
	return out
}

func sum(p campaign.Progress) int64 {
	return p.Pending + p.Queued + p.Sent + p.Rejected + p.Failed + p.Inboxed + p.Cancelled
}

// TestCampaignCancel: cancelling a running campaign stops it for the recipients not yet routed (nothing
// by WeChat or in the inbox, ever), the subscribe messages already queued still go as docs/loyalty.md
// says, the progress counts add up to the recipients at every step, and a cancelled or done campaign
// cannot be cancelled (409) or started again.
func TestCampaignCancel(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		// One message a second on a clock that does not move: routed credited members stay queued.
		h := campaignHub(t, db, time.Now().UTC(), 1)
		h.registerPromo()
		var all []shopper
		for i := range 8 {
			all = append(all, h.member("gold", i%2 == 0))
		}
		c := h.startCampaign("cancel me")
		hubtest.Must(h.Service.DispatchCampaigns(ctx, 4))
		hubtest.Must(h.Service.ProcessTasks(ctx, 100))
		before := h.states(c.ID)
		p := h.campaign(c.ID).Progress
		if p.Pending != 4 || p.Queued == 0 || p.Sent+p.Queued+p.Inboxed != 4 || sum(p) != 8 || p.Recipients != 8 {
			t.Fatalf("progress before the cancel %+v, want 4 routed (some queued) and 4 pending of 8", p)
		}

		var cv campaign.View
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/cancel", c.ID), hubtest.AdminToken, nil).Expect(200).JSON(&cv)
		if cv.Status != campaign.StatusCancelled || cv.FinishedAt == nil || cv.Progress.Cancelled != 4 || cv.Progress.Pending != 0 || sum(cv.Progress) != 8 {
			t.Fatalf("cancel answered %s %+v, want cancelled with the 4 pending cancelled", cv.Status, cv.Progress)
		}
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/cancel", c.ID), hubtest.AdminToken, nil).Expect(409)
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", c.ID), hubtest.AdminToken, nil).Expect(409)

		// The workers go on, the clock moving a few seconds at a time (one message a second).
		for range 10 {
			h.Clock.Add(2 * time.Second)
			h.deliver(ctx)
		}
		got := promos()
		for _, m := range all {
			inbox := len(h.inbox(m.token).Messages)
			switch before[m.id] {
			case campaign.StatePending: // not routed at the cancel: nothing at all
				if got[m.openid] != 0 || inbox != 0 {
					t.Errorf("member %d pending at the cancel got %d WeChat and %d inbox messages, want none", m.id, got[m.openid], inbox)
				}
			case campaign.StateQueued, campaign.StateSent: // its credit spent: the subscribe message goes
				if got[m.openid] != 1 || inbox != 0 {
					t.Errorf("member %d %s at the cancel got %d WeChat and %d inbox messages, want 1 and 0", m.id, before[m.id], got[m.openid], inbox)
				}
			case campaign.StateInboxed:
				if got[m.openid] != 0 || inbox != 1 {
					t.Errorf("member %d inboxed at the cancel got %d WeChat and %d inbox messages, want 0 and 1", m.id, got[m.openid], inbox)
				}
			}
		}
		final := h.campaign(c.ID)
		if final.Status != campaign.StatusCancelled || final.Progress.Queued != 0 || final.Progress.Pending != 0 || final.Progress.Cancelled != 4 ||
			sum(final.Progress) != 8 || final.Progress.Sent+final.Progress.Inboxed != 4 {
			t.Fatalf("after the workers: %s %+v, want still cancelled, 4 cancelled and the 4 routed settled", final.Status, final.Progress)
		}

		// A draft can be cancelled (it then has no recipients) and never started; a done campaign is 409.
		var d campaign.View
		h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{"name": "draft", "audience": map[string]any{"all": true},
			"inbox": map[string]any{"title": "t", "body": "b"}}).Expect(201).JSON(&d)
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/cancel", d.ID), hubtest.AdminToken, nil).Expect(200).JSON(&d)
		if d.Status != campaign.StatusCancelled || d.Progress.Recipients != 0 {
			t.Fatalf("cancelled draft %+v", d)
		}
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", d.ID), hubtest.AdminToken, nil).Expect(409)
		done := h.launch("done", map[string]any{"levels": []string{"gold"}})
		for range 10 {
			h.Clock.Add(2 * time.Second)
			h.deliver(ctx)
		}
		if v := h.campaign(done.ID); v.Status != campaign.StatusDone {
			t.Fatalf("campaign %+v, want done", v)
		}
		r := h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/cancel", done.ID), hubtest.AdminToken, nil).Expect(409)
		if v := h.campaign(done.ID); v.Status != campaign.StatusDone || v.Progress.Cancelled != 0 || sum(v.Progress) != 8 {
			t.Fatalf("refused cancel (%s) changed the campaign: %+v", r.Body, v)
		}
		h.Call("POST", "/api/v1/admin/campaigns/999999/cancel", hubtest.AdminToken, nil).Expect(404)
	})
}

// bindPhone binds phone to the signed-in member through the sandbox phone route and returns the member
// holding it afterwards (the phone's owner, when another member had it: a merge).
func (h *hub) bindPhone(token, phone string) int64 {
	h.T.Helper()
	var v member.View
	h.Call("POST", "/api/v1/me/phone/sandbox", token, map[string]any{"phone": phone}).Expect(200).JSON(&v)
	return v.ID
}

// campaignMessages counts a member's inbox messages of one campaign.
func (h *hub) campaignMessages(token string, id int64) int {
	n := 0
	for _, m := range h.inbox(token).Messages {
		if m.CampaignID != nil && *m.CampaignID == id {
			n++
		}
	}
	return n
}

// credits returns a member's tpl-promo subscription credits.
func (h *hub) credits(memberID int64) int64 {
	h.T.Helper()
	var n []int64
	hubtest.Must(0, h.DB.Conn(context.Background()).Model(&models.SubscriptionCredit{}).Where("member_id = ? AND template_id = ?", memberID, "tpl-promo").Pluck("credits", &n).Error)
	if len(n) == 0 {
		return 0
	}
	return n[0]
}

// routeOne routes one recipient of a just-started two-member campaign and returns the routed one and
// the one still pending.
func (h *hub) routeOne(c campaign.View, a, b shopper) (routed, pending shopper) {
	h.T.Helper()
	hubtest.Must(h.Service.DispatchCampaigns(context.Background(), 1))
	st := h.states(c.ID)
	switch {
	case st[a.id] != campaign.StatePending && st[b.id] == campaign.StatePending:
		return a, b
	case st[b.id] != campaign.StatePending && st[a.id] == campaign.StatePending:
		return b, a
	}
	h.T.Fatalf("states %v: want one routed and one pending", st)
	return
}

// TestCampaignMerge: two members merging by phone while a campaign runs or after it. The survivor gets
// one message of a campaign both were in, never two; the inbox and the subscription credits of the member
// merged away move to the survivor; nothing is lost (no message left in the inbox of a member who no
// longer exists, no credit spent for nothing); and the progress still adds up.
func TestCampaignMerge(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		h := sandboxCampaignHub(t, db, time.Now().UTC(), 1000)
		h.registerPromo()
		settle := func() {
			for range 5 {
				h.Clock.Add(time.Second)
				h.deliver(ctx)
			}
		}

		// During a campaign, the member merged away already has the inbox message; the survivor is
		// still pending: it must not get a second one.
		a1, a2 := h.member("gold", false), h.member("gold", false)
		ca := h.startCampaign("merge while running, inboxed")
		routed, pending := h.routeOne(ca, a1, a2)
		if h.bindPhone(pending.token, "13800000001") != pending.id || h.bindPhone(routed.token, "13800000001") != pending.id {
			t.Fatal("the second bind did not merge into the phone's owner")
		}
		settle()
		if n := h.campaignMessages(pending.token, ca.ID); n != 1 {
			t.Errorf("survivor has %d inbox messages of the campaign, want 1", n)
		}
		if n := h.Count("member_messages", "member_id = ?", routed.id); n != 0 {
			t.Errorf("%d messages left with the member merged away", n)
		}
		if v := h.campaign(ca.ID); v.Status != campaign.StatusDone || sum(v.Progress) != 2 || v.Progress.Inboxed != 1 || v.Progress.Cancelled != 1 {
			t.Errorf("campaign %s %+v, want done with 1 inboxed and 1 cancelled", v.Status, v.Progress)
		}
		h.setLevel(pending.id, "silver")

		// During a campaign, the member merged away has their subscribe message queued (credit spent);
		// the survivor is pending with a credit of their own: one WeChat message, and the survivor's
		// credit is kept.
		d1, d2 := h.member("gold", true), h.member("gold", true)
		cd := h.startCampaign("merge while running, queued")
		routed, pending = h.routeOne(cd, d1, d2)
		if st := h.states(cd.ID)[routed.id]; st != campaign.StateQueued {
			t.Fatalf("routed recipient is %s, want queued", st)
		}
		h.bindPhone(pending.token, "13800000002")
		h.bindPhone(routed.token, "13800000002")
		settle()
		got := promos()
		if n := got[d1.openid] + got[d2.openid]; n != 1 {
			t.Errorf("survivor got %d WeChat messages, want 1", n)
		}
		if n := h.campaignMessages(pending.token, cd.ID); n != 0 {
			t.Errorf("survivor has %d inbox messages of a campaign sent by WeChat, want 0", n)
		}
		if n := h.Count("member_messages", "member_id = ?", routed.id); n != 0 {
			t.Errorf("%d messages left with the member merged away", n)
		}
		if c := h.credits(pending.id); c != 1 {
			t.Errorf("survivor holds %d credits, want 1 (two accepted, one message sent)", c)
		}
		if v := h.campaign(cd.ID); v.Status != campaign.StatusDone || sum(v.Progress) != 2 || v.Progress.Sent != 1 || v.Progress.Cancelled != 1 {
			t.Errorf("campaign %s %+v, want done with 1 sent and 1 cancelled", v.Status, v.Progress)
		}
		h.setLevel(pending.id, "silver")

		// During a campaign, both have their subscribe message queued: the survivor's goes, the other's
		// is not sent and its credit returns to the survivor.
		e1, e2 := h.member("gold", true), h.member("gold", true)
		ce := h.startCampaign("merge while running, both queued")
		hubtest.Must(h.Service.DispatchCampaigns(ctx, 100))
		if st := h.states(ce.ID); st[e1.id] != campaign.StateQueued || st[e2.id] != campaign.StateQueued {
			t.Fatalf("states %v, want both queued", st)
		}
		h.bindPhone(e1.token, "13800000004")
		h.bindPhone(e2.token, "13800000004")
		settle()
		got = promos()
		if n := got[e1.openid] + got[e2.openid]; n != 1 {
			t.Errorf("survivor got %d WeChat messages, want 1", n)
		}
		if n := h.Count("member_messages", "member_id IN ?", []int64{e1.id, e2.id}); n != 0 {
			t.Errorf("%d inbox messages for a campaign sent by WeChat, want 0", n)
		}
		if c := h.credits(e1.id); c != 1 {
			t.Errorf("survivor holds %d credits, want 1 (the unsent message's credit returned)", c)
		}
		if v := h.campaign(ce.ID); v.Status != campaign.StatusDone || sum(v.Progress) != 2 || v.Progress.Sent != 1 || v.Progress.Cancelled != 1 {
			t.Errorf("campaign %s %+v, want done with 1 sent and 1 cancelled", v.Status, v.Progress)
		}
		h.setLevel(e1.id, "silver")

		// After campaigns: one only the member merged away was in, one both were in. The survivor's inbox
		// has each campaign's message once, and their credits add up.
		b1, b2 := h.member("silver", false), h.member("gold", false)
		only := h.startCampaign("b2 only")
		settle()
		h.setLevel(b1.id, "gold")
		both := h.startCampaign("both")
		settle()
		for range 2 {
			h.Call("POST", "/api/v1/me/subscriptions", b2.token, map[string]any{"template_ids": []string{"tpl-promo"}}).Expect(200)
		}
		h.Call("POST", "/api/v1/me/subscriptions", b1.token, map[string]any{"template_ids": []string{"tpl-promo"}}).Expect(200)
		h.bindPhone(b1.token, "13800000003")
		h.bindPhone(b2.token, "13800000003")
		if n := h.campaignMessages(b1.token, only.ID); n != 1 {
			t.Errorf("survivor has %d messages of the campaign of the member merged away, want 1", n)
		}
		if n := h.campaignMessages(b1.token, both.ID); n != 1 {
			t.Errorf("survivor has %d messages of the campaign both were in, want 1", n)
		}
		if c, gone := h.credits(b1.id), h.credits(b2.id); c != 3 || gone != 0 {
			t.Errorf("credits: survivor %d, merged away %d; want 3 and 0", c, gone)
		}
		if n := h.Count("member_messages", "member_id = ?", b2.id); n != 0 {
			t.Errorf("%d messages left with the member merged away", n)
		}
	})
}
