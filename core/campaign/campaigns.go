package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Audience says who a campaign reaches: members at any of Levels (their current level), and/or who
// bought something (any purchase loyalty records: orders paid, till sales) within the last
// PurchasedWithinDays days, and/or who bought nothing within the last NotPurchasedWithinDays days. The
// criteria given must all hold. All reaches every member and takes no other criterion.
type Audience struct {
	Levels                 []string `json:"levels,omitempty"`
	PurchasedWithinDays    int64    `json:"purchased_within_days,omitempty"`
	NotPurchasedWithinDays int64    `json:"not_purchased_within_days,omitempty"`
	All                    bool     `json:"all,omitempty"`
}

// WeChat is a campaign's subscribe message: a template registered as usable for campaigns, its data
// (exactly the template's fields) and the mini-program page it opens ("" for none).
type WeChat struct {
	TemplateID string            `json:"template_id"`
	Data       map[string]string `json:"data"`
	Page       string            `json:"page,omitempty"`
}

// Inbox is a campaign's in-app message, which every recipient without a subscription credit gets (and
// those whose subscribe message WeChat refused). It opens Page ("" for none) when tapped.
type Inbox struct {
	Title string `json:"title"`
	Body  string `json:"body"`
	Page  string `json:"page,omitempty"`
}

// Input is a new campaign. WeChat is optional: without it every recipient gets the in-app message.
type Input struct {
	Name     string   `json:"name"`
	Audience Audience `json:"audience"`
	WeChat   *WeChat  `json:"wechat,omitempty"`
	Inbox    Inbox    `json:"inbox"`
}

// Progress counts a campaign's recipients by where their message stands (see the recipient states).
// Rejected and Failed recipients got the in-app message too.
type Progress struct {
	Recipients int64 `json:"recipients"`
	Pending    int64 `json:"pending"`
	Queued     int64 `json:"queued"`
	Sent       int64 `json:"sent"`
	Rejected   int64 `json:"rejected"`
	Failed     int64 `json:"failed"`
	Inboxed    int64 `json:"inboxed"`
	Cancelled  int64 `json:"cancelled"`
}

// View is a campaign as the admin API shows it.
type View struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Status     string     `json:"status"`
	Audience   Audience   `json:"audience"`
	WeChat     *WeChat    `json:"wechat,omitempty"`
	Inbox      Inbox      `json:"inbox"`
	Progress   Progress   `json:"progress"`
	CreatedBy  string     `json:"created_by,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	StartedAt  *time.Time `json:"started_at,omitempty"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
}

var page = regexp.MustCompile(`^[A-Za-z0-9_\-]+(/[A-Za-z0-9_\-]+)*(\?[A-Za-z0-9_\-=&%.]*)?$`)

// validate checks a campaign field by field against the levels and templates in force; the error names
// every bad field.
func (s *Service) validate(ctx context.Context, in *Input) error {
	var bad []string
	in.Name = strings.TrimSpace(in.Name)
	if n := utf8.RuneCountInString(in.Name); n == 0 || n > 64 {
		bad = append(bad, "name must be 1-64 characters")
	}
	a := &in.Audience
	switch {
	case a.All && (len(a.Levels) > 0 || a.PurchasedWithinDays != 0 || a.NotPurchasedWithinDays != 0):
		bad = append(bad, "audience.all takes no other criterion")
	case !a.All && len(a.Levels) == 0 && a.PurchasedWithinDays == 0 && a.NotPurchasedWithinDays == 0:
		bad = append(bad, "audience must give levels, purchased_within_days or not_purchased_within_days (or all: true)")
	}
	if len(a.Levels) > 0 {
		st, err := s.loyalty.Settings(ctx)
		if err != nil {
			return err
		}
		known := map[string]bool{}
		for _, l := range st.Levels {
			known[l.Code] = true
		}
		seen := map[string]bool{}
		for i, code := range a.Levels {
			switch {
			case !known[code]:
				bad = append(bad, fmt.Sprintf("audience.levels[%d]: no level %q in the loyalty settings", i, code))
			case seen[code]:
				bad = append(bad, fmt.Sprintf("audience.levels[%d]: %q is listed twice", i, code))
			}
			seen[code] = true
		}
	}
	for name, v := range map[string]int64{"purchased_within_days": a.PurchasedWithinDays, "not_purchased_within_days": a.NotPurchasedWithinDays} {
		if v < 0 || v > 3650 {
			bad = append(bad, "audience."+name+" must be between 1 and 3650")
		}
	}
	if a.PurchasedWithinDays > 0 && a.NotPurchasedWithinDays >= a.PurchasedWithinDays {
		bad = append(bad, "audience.not_purchased_within_days must be less than purchased_within_days, or nobody matches")
	}
	in.Inbox.Title, in.Inbox.Body = strings.TrimSpace(in.Inbox.Title), strings.TrimSpace(in.Inbox.Body)
	if n := utf8.RuneCountInString(in.Inbox.Title); n == 0 || n > 40 {
		bad = append(bad, "inbox.title must be 1-40 characters")
	}
	if n := utf8.RuneCountInString(in.Inbox.Body); n == 0 || n > 500 {
		bad = append(bad, "inbox.body must be 1-500 characters")
	}
	if in.Inbox.Page != "" && (len(in.Inbox.Page) > 256 || !page.MatchString(in.Inbox.Page)) {
		bad = append(bad, "inbox.page must be a mini-program page path such as pages/promo/index")
	}
	if w := in.WeChat; w != nil {
		tpl, ok, err := s.template(ctx, w.TemplateID)
		if err != nil {
			return err
		}
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("wechat.template_id: %q is not registered for campaigns (PUT /api/v1/admin/campaign-templates/{template_id})", w.TemplateID))
		case !tpl.Usable:
			bad = append(bad, fmt.Sprintf("wechat.template_id: %q is marked unusable for campaigns", w.TemplateID))
		default:
			for _, f := range tpl.Fields {
				v, ok := w.Data[f]
				if !ok {
					bad = append(bad, fmt.Sprintf("wechat.data.%s is missing (template %s has fields %s)", f, tpl.TemplateID, strings.Join(tpl.Fields, ", ")))
				} else if msg := checkValue(f, v); msg != "" {
					bad = append(bad, "wechat.data."+f+" "+msg)
				}
			}
			for _, k := range slices.Sorted(maps.Keys(w.Data)) {
				if !slices.Contains(tpl.Fields, k) {
					bad = append(bad, fmt.Sprintf("wechat.data.%s is not a field of template %s (%s)", k, tpl.TemplateID, strings.Join(tpl.Fields, ", ")))
				}
			}
		}
		if w.Page != "" && (len(w.Page) > 256 || !page.MatchString(w.Page)) {
			bad = append(bad, "wechat.page must be a mini-program page path such as pages/promo/index")
		}
	}
	if len(bad) > 0 {
		return domain.Errf(domain.ErrInvalidArgument, "%s", strings.Join(bad, "; "))
	}
	return nil
}

// Create validates and stores a draft campaign; by is who created it. Nothing is sent until Start.
func (s *Service) Create(ctx context.Context, in Input, by string) (View, error) {
	if err := s.validate(ctx, &in); err != nil {
		return View{}, err
	}
	aud, _ := json.Marshal(in.Audience)
	now := s.Now()
	row := models.Campaign{Name: in.Name, Audience: string(aud), Data: "{}", Page: in.Inbox.Page, Title: in.Inbox.Title, Body: in.Inbox.Body,
		Status: StatusDraft, CreatedBy: by, CreatedAt: now, UpdatedAt: now}
	if in.WeChat != nil {
		data, _ := json.Marshal(in.WeChat.Data)
		row.TemplateID, row.Data = in.WeChat.TemplateID, string(data)
	}
	row.Page = encodePages(in.Inbox.Page, in.WeChat)
	if err := s.DB.Conn(ctx).Create(&row).Error; err != nil {
		return View{}, err
	}
	return s.Get(ctx, row.ID)
}

// encodePages keeps the inbox page and the subscribe message's page in one column: "inbox\nwechat".
func encodePages(inbox string, w *WeChat) string {
	if w == nil || w.Page == "" {
		return inbox
	}
	return inbox + "\n" + w.Page
}

func decodePages(p string) (inbox, wechat string) {
	inbox, wechat, _ = strings.Cut(p, "\n")
	return inbox, wechat
}

// Get returns one campaign with its progress.
func (s *Service) Get(ctx context.Context, id int64) (View, error) {
	var row models.Campaign
	err := s.DB.Conn(ctx).Take(&row, id).Error
	if models.IsNotFound(err) {
		return View{}, domain.Errf(domain.ErrNotFound, "campaign %d not found", id)
	}
	if err != nil {
		return View{}, err
	}
	out, err := s.views(ctx, []models.Campaign{row})
	if err != nil {
		return View{}, err
	}
	return out[0], nil
}

// MaxPage is the largest page of campaigns or messages.
const MaxPage = 100

// List returns up to limit campaigns (MaxPage at most, 20 when 0), newest first, older than campaign
// before (from the newest when 0), each with its progress.
func (s *Service) List(ctx context.Context, before int64, limit int) ([]View, error) {
	if limit <= 0 {
		limit = 20
	}
	q := s.DB.Conn(ctx).Order("id DESC").Limit(min(limit, MaxPage))
	if before > 0 {
		q = q.Where("id < ?", before)
	}
	var rows []models.Campaign
	if err := q.Find(&rows).Error; err != nil {
		return nil, err
	}
	return s.views(ctx, rows)
}

func (s *Service) views(ctx context.Context, rows []models.Campaign) ([]View, error) {
	out := make([]View, 0, len(rows))
	if len(rows) == 0 {
		return out, nil
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[i] = r.ID
	}
	var counts []struct {
		CampaignID int64
		State      string
		N          int64
	}
	if err := s.DB.Conn(ctx).Model(&models.CampaignRecipient{}).Select("campaign_id, state, COUNT(*) AS n").
		Where("campaign_id IN ?", ids).Group("campaign_id, state").Scan(&counts).Error; err != nil {
		return nil, err
	}
	progress := map[int64]*Progress{}
	for _, id := range ids {
		progress[id] = &Progress{}
	}
	for _, c := range counts {
		p := progress[c.CampaignID]
		p.Recipients += c.N
		switch c.State {
		case StatePending:
			p.Pending = c.N
		case StateQueued:
			p.Queued = c.N
		case StateSent:
			p.Sent = c.N
		case StateRejected:
			p.Rejected = c.N
		case StateFailed:
			p.Failed = c.N
		case StateInboxed:
			p.Inboxed = c.N
		case StateCancelled:
			p.Cancelled = c.N
		}
	}
	for _, r := range rows {
		v := View{ID: r.ID, Name: r.Name, Status: r.Status, Inbox: Inbox{Title: r.Title, Body: r.Body}, Progress: *progress[r.ID],
			CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt.UTC(), StartedAt: utc(r.StartedAt), FinishedAt: utc(r.FinishedAt)}
		_ = json.Unmarshal([]byte(r.Audience), &v.Audience)
		var wpage string
		v.Inbox.Page, wpage = decodePages(r.Page)
		if r.TemplateID != "" {
			v.WeChat = &WeChat{TemplateID: r.TemplateID, Page: wpage}
			_ = json.Unmarshal([]byte(r.Data), &v.WeChat.Data)
		}
		out = append(out, v)
	}
	return out, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Start fixes a draft campaign's audience and sets it running: in one transaction the members who match
// the audience now become its recipients (a member who reaches the level later does not get it), and
// core's campaign worker delivers to them from then on. Starting a campaign that is not a draft is a
// conflict.
func (s *Service) Start(ctx context.Context, id int64) (View, error) {
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		var c models.Campaign
		err := s.DB.Conn(ctx).Clauses(models.ForUpdate()).Take(&c, id).Error
		if models.IsNotFound(err) {
			return domain.Errf(domain.ErrNotFound, "campaign %d not found", id)
		}
		if err != nil {
			return err
		}
		now := s.Now()
		res := s.DB.Conn(ctx).Model(&models.Campaign{}).Where("id = ? AND status = ?", id, StatusDraft).
			Updates(map[string]any{"status": StatusRunning, "started_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return domain.Errf(domain.ErrConflict, "campaign %d is %s: only a draft can be started", id, c.Status)
		}
		var a Audience
		if err := json.Unmarshal([]byte(c.Audience), &a); err != nil {
			return err
		}
		sql, args := audienceSQL(a, now)
		ins := s.DB.Conn(ctx).Exec(`INSERT INTO campaign_recipients (campaign_id, member_id, state, channel, detail, updated_at)
SELECT ?, m.id, ?, '', '', ? FROM members m LEFT JOIN loyalty_accounts a ON a.member_id = m.id
WHERE m.merged_into IS NULL`+sql, append([]any{id, StatePending, now}, args...)...)
		if ins.Error != nil {
			return ins.Error
		}
		s.Log.InfoContext(ctx, "campaign started", "campaign", id, "recipients", ins.RowsAffected)
		return s.DB.Conn(ctx).Model(&models.Campaign{}).Where("id = ?", id).Update("recipients", ins.RowsAffected).Error
	})
	if err != nil {
		return View{}, err
	}
	return s.Get(ctx, id)
}

// audienceSQL turns an audience into the conditions on members m and their loyalty account a.
func audienceSQL(a Audience, now time.Time) (string, []any) {
	var sql strings.Builder
	var args []any
	if len(a.Levels) > 0 {
		sql.WriteString(" AND a.level_code IN ?")
		args = append(args, a.Levels)
	}
	const bought = "SELECT 1 FROM loyalty_purchases p WHERE p.member_id = m.id AND p.paid_at >= ?"
	if a.PurchasedWithinDays > 0 {
		sql.WriteString(" AND EXISTS (" + bought + ")")
		args = append(args, now.Add(-time.Duration(a.PurchasedWithinDays)*24*time.Hour))
	}
	if a.NotPurchasedWithinDays > 0 {
		sql.WriteString(" AND NOT EXISTS (" + bought + ")")
		args = append(args, now.Add(-time.Duration(a.NotPurchasedWithinDays)*24*time.Hour))
	}
	return sql.String(), args
}

// Cancel stops a draft or running campaign: recipients not yet routed get nothing. Subscribe messages
// already in the task outbox (their credit spent) are still sent.
func (s *Service) Cancel(ctx context.Context, id int64) (View, error) {
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		now := s.Now()
		res := s.DB.Conn(ctx).Model(&models.Campaign{}).Where("id = ? AND status IN ?", id, []string{StatusDraft, StatusRunning}).
			Updates(map[string]any{"status": StatusCancelled, "finished_at": now, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			if _, err := s.Get(ctx, id); err != nil {
				return err
			}
			return domain.Errf(domain.ErrConflict, "campaign %d is finished: only a draft or running campaign can be cancelled", id)
		}
		return s.DB.Conn(ctx).Model(&models.CampaignRecipient{}).Where("campaign_id = ? AND state = ?", id, StatePending).
			Updates(map[string]any{"state": StateCancelled, "detail": "campaign cancelled", "updated_at": now}).Error
	})
	if err != nil {
		return View{}, err
	}
	return s.Get(ctx, id)
}
