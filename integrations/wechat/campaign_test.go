package wechat_test

// Campaign tests: a campaign's subscribe messages go through the real SDK over HTTP to the WeChat fake,
// which keeps WeChat's one-time subscriptions (43101 without one); everyone else gets the inbox.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/integrations/wechat"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// campaignHub is a hub with the WeChat mini-program as its messenger, its clock starting at start and
// campaign messages limited to rate a second.
func campaignHub(t testing.TB, db *models.DB, start time.Time, rate float64) *hub {
	t.Helper()
	h := &hub{fake: wx}
	h.Hub = hubtest.New(t, db, hubtest.WithClock(start), hubtest.WithCore(func(o *core.Options) { o.CampaignRate = rate }),
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

// shopper is one signed-in WeChat member of a campaign test.
type shopper struct {
	token, openid string
	id            int64
}

// member signs a WeChat user in, puts them at level, and, when credited, reports one acceptance of
// tpl-promo to the hub and to WeChat (as wx.requestSubscribeMessage does both).
func (h *hub) member(level string, credited bool) shopper {
	h.T.Helper()
	token, openid := h.login("")
	var me struct {
		ID int64 `json:"id"`
	}
	h.Call("GET", "/api/v1/me", token, nil).Expect(200).JSON(&me)
	h.setLevel(me.ID, level)
	if credited {
		var cv campaign.CreditsView
		h.Call("POST", "/api/v1/me/subscriptions", token, map[string]any{"template_ids": []string{"tpl-promo", "tpl-ready"}}).Expect(200).JSON(&cv)
		if len(cv.Credits) != 1 || cv.Credits[0].Credits != 1 || len(cv.Ignored) != 1 || cv.Ignored[0] != "tpl-ready" {
			h.T.Fatalf("acceptance answered %+v, want one tpl-promo credit and tpl-ready ignored", cv)
		}
		wx.Subscribe(openid, "tpl-promo")
	}
	return shopper{token: token, openid: openid, id: me.ID}
}

func (h *hub) setLevel(memberID int64, level string) {
	h.T.Helper()
	now := h.Clock.Now()
	if err := h.DB.Conn(context.Background()).Exec(`INSERT INTO loyalty_accounts (member_id, level_code, due_at, review_at, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET level_code = excluded.level_code`, memberID, level, now.Add(time.Hour), now.Add(time.Hour), now, now).Error; err != nil {
		h.T.Fatal(err)
	}
}

func (h *hub) registerPromo() {
	h.T.Helper()
	h.Call("PUT", "/api/v1/admin/campaign-templates/tpl-promo", hubtest.AdminToken,
		map[string]any{"title": "会员活动通知", "fields": []string{"thing1", "time2"}}).Expect(200)
}

// startCampaign creates and starts a gold-members campaign with the tpl-promo subscribe message.
func (h *hub) startCampaign(name string) campaign.View {
	h.T.Helper()
	var c campaign.View
	h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{
		"name": name, "audience": map[string]any{"levels": []string{"gold"}},
		"wechat": map[string]any{"template_id": "tpl-promo", "data": map[string]string{"thing1": "金卡会员双倍积分", "time2": "2026-05-01 10:00"}, "page": "pages/promo/index"},
		"inbox":  map[string]any{"title": "金卡专享", "body": "五一期间金卡会员消费享双倍积分。", "page": "pages/promo/index"},
	}).Expect(201).JSON(&c)
	h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", c.ID), hubtest.AdminToken, nil).Expect(200).JSON(&c)
	return c
}

func (h *hub) campaign(id int64) campaign.View {
	h.T.Helper()
	var c campaign.View
	h.Call("GET", fmt.Sprintf("/api/v1/admin/campaigns/%d", id), hubtest.AdminToken, nil).Expect(200).JSON(&c)
	return c
}

func (h *hub) inbox(token string) campaign.MessagePage {
	h.T.Helper()
	var p campaign.MessagePage
	h.Call("GET", "/api/v1/me/messages", token, nil).Expect(200).JSON(&p)
	return p
}

// promos counts the tpl-promo messages WeChat accepted for each openid.
func promos() map[string]int {
	out := map[string]int{}
	for _, m := range wx.Messages() {
		if m.TemplateID == "tpl-promo" {
			out[m.ToUser]++
		}
	}
	return out
}

// deliver routes and sends until the campaign's recipients all have an outcome.
func (h *hub) deliver(ctx context.Context) {
	h.T.Helper()
	for range 10 {
		hubtest.Must(h.Service.DispatchCampaigns(ctx, 100))
		hubtest.Must(h.Service.ProcessTasks(ctx, 100))
	}
}

func TestCampaignByWeChatAndInbox(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		h := campaignHub(t, db, time.Now().UTC(), 1000)
		h.registerPromo()

		// Bad campaigns are refused naming every bad field.
		r := h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{
			"name": "bad", "audience": map[string]any{"levels": []string{"platinum"}},
			"wechat": map[string]any{"template_id": "tpl-promo", "data": map[string]string{"thing1": strings.Repeat("长", 21), "thing9": "x"}},
			"inbox":  map[string]any{"title": "t", "body": "b"},
		}).Expect(400)
		for _, want := range []string{"audience.levels[0]", "wechat.data.thing1", "wechat.data.time2 is missing", "wechat.data.thing9 is not a field"} {
			if !strings.Contains(string(r.Body), want) {
				t.Errorf("refusal %s does not name %s", r.Body, want)
			}
		}
		h.Call("POST", "/api/v1/admin/campaigns", hubtest.AdminToken, map[string]any{"name": "n", "audience": map[string]any{"all": true},
			"wechat": map[string]any{"template_id": "tpl-ready", "data": map[string]string{"thing1": "x"}}, "inbox": map[string]any{"title": "t", "body": "b"}}).Expect(400)

		credited := h.member("gold", true) // gets it by WeChat
		plain := h.member("gold", false)   // no credit: inbox
		silver := h.member("silver", true) // not in the audience
		refused := h.member("gold", false) // a credit the hub holds but WeChat does not: 43101, then inbox
		h.Call("POST", "/api/v1/me/subscriptions", refused.token, map[string]any{"template_ids": []string{"tpl-promo"}}).Expect(200)

		c := h.startCampaign("gold may day")
		if c.Status != campaign.StatusRunning || c.Progress.Recipients != 3 {
			t.Fatalf("started campaign %+v, want running with 3 recipients", c)
		}
		// The audience was fixed at start: a member who reaches gold now is not in it.
		h.setLevel(silver.id, "gold")
		h.deliver(ctx)

		c = h.campaign(c.ID)
		want := campaign.Progress{Recipients: 3, Sent: 1, Rejected: 1, Inboxed: 1}
		if c.Status != campaign.StatusDone || c.Progress != want {
			t.Fatalf("campaign %s %+v, want done with %+v", c.Status, c.Progress, want)
		}
		got := promos()
		if got[credited.openid] != 1 || got[plain.openid] != 0 || got[silver.openid] != 0 || got[refused.openid] != 0 {
			t.Fatalf("WeChat messages %v: want exactly one, to %s", got, credited.openid)
		}
		for _, m := range wx.Messages() {
			if m.ToUser == credited.openid && (m.Data["thing1"] != "金卡会员双倍积分" || m.Page != "pages/promo/index") {
				t.Fatalf("WeChat message %+v does not carry the campaign's data and page", m)
			}
		}
		for _, s := range []shopper{plain, refused} {
			p := h.inbox(s.token)
			if len(p.Messages) != 1 || p.Unread != 1 || p.Messages[0].Title != "金卡专享" || p.Messages[0].Read {
				t.Fatalf("inbox %+v, want the campaign's message unread", p)
			}
		}
		for _, s := range []shopper{credited, silver} {
			if p := h.inbox(s.token); len(p.Messages) != 0 {
				t.Fatalf("inbox %+v, want it empty", p)
			}
		}
		// Reading: one's own message only.
		p := h.inbox(plain.token)
		h.Call("POST", fmt.Sprintf("/api/v1/me/messages/%d/read", p.Messages[0].ID), refused.token, nil).Expect(404)
		h.Call("POST", fmt.Sprintf("/api/v1/me/messages/%d/read", p.Messages[0].ID), plain.token, nil).Expect(200)
		if p := h.inbox(plain.token); p.Unread != 0 || !p.Messages[0].Read || p.Messages[0].ReadAt == nil {
			t.Fatalf("inbox after reading %+v", p)
		}
		// A finished campaign cannot start again or be cancelled.
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/start", c.ID), hubtest.AdminToken, nil).Expect(409)
		h.Call("POST", fmt.Sprintf("/api/v1/admin/campaigns/%d/cancel", c.ID), hubtest.AdminToken, nil).Expect(409)
		var list []campaign.View
		h.Call("GET", "/api/v1/admin/campaigns", hubtest.AdminToken, nil).Expect(200).JSON(&list)
		if len(list) != 1 || list[0].Progress != want {
			t.Fatalf("campaign list %+v", list)
		}
	})
}

func TestCampaignCreditSpentOnce(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		start := time.Now().UTC()
		h := campaignHub(t, db, start, 1000)
		h2 := campaignHub(t, db, start, 1000) // a second replica
		h.registerPromo()
		var members []shopper
		for range 4 {
			m := h.member("gold", true)
			wx.Subscribe(m.openid, "tpl-promo") // WeChat would allow two: the hub holds one credit each
			members = append(members, m)
		}
		a, b := h.startCampaign("first"), h.startCampaign("second")
		// The two replicas route the two campaigns' recipients at once: each credit goes to one of them.
		var wg sync.WaitGroup
		for _, x := range []*hub{h, h2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				hubtest.Must(x.Service.DispatchCampaigns(ctx, 3))
				hubtest.Must(x.Service.DispatchCampaigns(ctx, 100))
			}()
		}
		wg.Wait()
		h.deliver(ctx)
		got := promos()
		for _, m := range members {
			if got[m.openid] != 1 {
				t.Errorf("%s got %d WeChat messages, want exactly 1 (one credit)", m.openid, got[m.openid])
			}
			if p := h.inbox(m.token); len(p.Messages) != 1 {
				t.Errorf("%s has %d inbox messages, want 1 (the other campaign)", m.openid, len(p.Messages))
			}
		}
		pa, pb := h.campaign(a.ID).Progress, h.campaign(b.ID).Progress
		if pa.Sent+pb.Sent != 4 || pa.Inboxed+pb.Inboxed != 4 || h.Count("subscription_credits", "credits <> 0") != 0 {
			t.Fatalf("progress %+v and %+v, want 4 sent and 4 inboxed between them and no credit left", pa, pb)
		}
	})
}

func TestCampaignResumesAfterRestart(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		start := time.Now().UTC()
		// The first process may send one message a second, on a clock that does not move: it sends one
		// and is stopped with the rest queued.
		a := campaignHub(t, db, start, 1)
		a.registerPromo()
		var credited, plain []shopper
		for range 4 {
			credited = append(credited, a.member("gold", true))
			plain = append(plain, a.member("gold", false))
		}
		c := a.startCampaign("restart")
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); a.Service.RunWorkers(ctx, 5*time.Millisecond) }()
		a.WaitFor("the first message and every recipient routed", func() bool {
			p := a.campaign(c.ID).Progress
			return p.Sent >= 1 && p.Pending == 0
		})
		stop()
		<-done
		if p := a.campaign(c.ID).Progress; p.Sent != 1 || p.Queued != 3 || p.Inboxed != 4 {
			t.Fatalf("progress at the stop %+v, want 1 sent, 3 queued, 4 inboxed", p)
		}

		// A new process on the same database, ten minutes later (every lease of the first has run out), finishes the campaign.
		b := campaignHub(t, db, start.Add(10*time.Minute), 1000)
		ctx, stop = context.WithCancel(context.Background())
		done = make(chan struct{})
		go func() { defer close(done); b.Service.RunWorkers(ctx, 5*time.Millisecond) }()
		b.WaitFor("the campaign to finish", func() bool { return b.campaign(c.ID).Status == campaign.StatusDone })
		stop()
		<-done
		got := promos()
		for _, m := range credited {
			if got[m.openid] != 1 || len(b.inbox(m.token).Messages) != 0 {
				t.Errorf("credited %s: %d WeChat messages and %d in the inbox, want 1 and 0", m.openid, got[m.openid], len(b.inbox(m.token).Messages))
			}
		}
		for _, m := range plain {
			if got[m.openid] != 0 || len(b.inbox(m.token).Messages) != 1 {
				t.Errorf("plain %s: %d WeChat messages and %d in the inbox, want 0 and 1", m.openid, got[m.openid], len(b.inbox(m.token).Messages))
			}
		}
		if p := b.campaign(c.ID).Progress; p != (campaign.Progress{Recipients: 8, Sent: 4, Inboxed: 4}) {
			t.Fatalf("final progress %+v", p)
		}
	})
}

func TestCampaignRateLimitShared(t *testing.T) {
	dbtest.Each(t, func(t testing.TB, db *models.DB) {
		ctx := context.Background()
		start := time.Now().UTC()
		// Two replicas, 2 messages a second between them (bursts of 2), on clocks that move only when told.
		a, b := campaignHub(t, db, start, 2), campaignHub(t, db, start, 2)
		a.registerPromo()
		var openids []string
		for range 6 {
			openids = append(openids, a.member("gold", true).openid)
		}
		a.startCampaign("rate")
		sent := func() int {
			n := 0
			for _, id := range openids {
				n += promos()[id]
			}
			return n
		}
		work := func() {
			for range 3 {
				for _, x := range []*hub{a, b} {
					hubtest.Must(x.Service.DispatchCampaigns(ctx, 100))
					hubtest.Must(x.Service.ProcessTasks(ctx, 100))
				}
			}
		}
		advance := func(d time.Duration) { a.Clock.Add(d); b.Clock.Add(d) }
		work()
		if n := sent(); n != 2 {
			t.Fatalf("%d messages sent in the first instant, want the burst of 2", n)
		}
		advance(500 * time.Millisecond) // one message's interval
		work()
		if n := sent(); n != 3 {
			t.Fatalf("%d messages sent after half a second, want 3", n)
		}
		advance(time.Second)
		work()
		if n := sent(); n != 5 {
			t.Fatalf("%d messages sent after 1.5 s, want 5", n)
		}
		advance(time.Hour)
		work()
		if n := sent(); n != 6 {
			t.Fatalf("%d messages sent in the end, want 6", n)
		}
		if h := a.Count("tasks", "kind = 'campaign' AND status = 'done' AND attempts = 1"); h != 6 {
			t.Fatalf("%d campaign tasks done on their first attempt, want 6: waiting for the rate limit is not an attempt", h)
		}
	})
}
