package campaign

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// Outgoing is one recipient's subscribe message, as core's task worker sends it.
type Outgoing struct {
	RecipientID int64
	CampaignID  int64
	// State is the recipient's state now: only a queued message is sent.
	State string
	// MemberID is the member to send to: the recipient, or whom they were merged into since.
	MemberID   int64
	TemplateID string
	Data       map[string]string
	Page       string
}

// campaign returns a campaign row; its content never changes once it is started.
func (s *Service) campaign(ctx context.Context, id int64) (models.Campaign, error) {
	if c, ok := s.content.Load(id); ok {
		return c.(models.Campaign), nil
	}
	var c models.Campaign
	if err := s.DB.Conn(ctx).Take(&c, id).Error; err != nil {
		return c, err
	}
	s.content.Store(id, c) // only its content is read from here: the status may change
	return c, nil
}

// Template returns the subscribe-message template a recipient's campaign uses ("" for none): core routes
// the recipient with it (see Queue and Inbox).
func (s *Service) Template(ctx context.Context, r models.CampaignRecipient) (string, error) {
	c, err := s.campaign(ctx, r.CampaignID)
	return c.TemplateID, err
}

// Queue spends one of the recipient's subscription credits for the campaign's template, in the caller's
// transaction, and marks the recipient queued on channel. It reports false (and changes nothing) when
// the member holds no credit: the spend is one conditional statement, so of two campaigns racing for
// one credit one gets it and the other inboxes.
func (s *Service) Queue(ctx context.Context, r models.CampaignRecipient, templateID, channel string) (bool, error) {
	now := s.Now()
	res := s.DB.Conn(ctx).Exec("UPDATE subscription_credits SET credits = credits - 1, updated_at = ? WHERE member_id = ? AND template_id = ? AND credits > 0",
		now, r.MemberID, templateID)
	if res.Error != nil || res.RowsAffected == 0 {
		return false, res.Error
	}
	return true, s.setState(ctx, r.ID, StatePending, StateQueued, channel, "")
}

// Inbox puts the campaign's in-app message in the recipient's inbox, in the caller's transaction, and
// records why (state inboxed, rejected or failed, from state from). A recipient whose message is
// already in the inbox is left as it is.
func (s *Service) Inbox(ctx context.Context, r models.CampaignRecipient, from, state, detail string) error {
	c, err := s.campaign(ctx, r.CampaignID)
	if err != nil {
		return err
	}
	to, err := s.survivor(ctx, r.MemberID) // a recipient merged away after the campaign started
	if err != nil {
		return err
	}
	inboxPage, _ := decodePages(c.Page)
	rid, cid := r.ID, c.ID
	msg := models.MemberMessage{MemberID: to, CampaignID: &cid, RecipientID: &rid, Title: c.Title, Body: c.Body, Page: inboxPage, CreatedAt: s.Now()}
	if err := s.DB.Conn(ctx).Create(&msg).Error; err != nil {
		return err
	}
	return s.setState(ctx, r.ID, from, state, "", detail)
}

// setState moves a recipient from one state to another; a recipient no longer in from is a conflict
// (another worker handled it), which rolls the caller's transaction back.
func (s *Service) setState(ctx context.Context, id int64, from, to, channel, detail string) error {
	set := map[string]any{"state": to, "detail": truncate(detail, 200), "updated_at": s.Now()}
	if channel != "" {
		set["channel"] = channel
	}
	res := s.DB.Conn(ctx).Model(&models.CampaignRecipient{}).Where("id = ? AND state = ?", id, from).Updates(set)
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return domain.Errf(domain.ErrConflict, "campaign recipient %d is no longer %s", id, from)
	}
	return nil
}

// Outgoing returns a queued recipient's subscribe message.
func (s *Service) Outgoing(ctx context.Context, recipientID int64) (Outgoing, error) {
	var r models.CampaignRecipient
	if err := s.DB.Conn(ctx).Take(&r, recipientID).Error; err != nil {
		return Outgoing{}, err
	}
	c, err := s.campaign(ctx, r.CampaignID)
	if err != nil {
		return Outgoing{}, err
	}
	to, err := s.survivor(ctx, r.MemberID) // a recipient merged away after it was queued
	if err != nil {
		return Outgoing{}, err
	}
	out := Outgoing{RecipientID: r.ID, CampaignID: c.ID, State: r.State, MemberID: to, TemplateID: c.TemplateID}
	_, out.Page = decodePages(c.Page)
	if err := json.Unmarshal([]byte(c.Data), &out.Data); err != nil {
		return Outgoing{}, fmt.Errorf("campaign %d data: %w", c.ID, err)
	}
	return out, nil
}

// Sent records that WeChat accepted a queued recipient's subscribe message, in the caller's transaction.
func (s *Service) Sent(ctx context.Context, recipientID int64) error {
	return s.DB.Conn(ctx).Model(&models.CampaignRecipient{}).Where("id = ? AND state = ?", recipientID, StateQueued).
		Updates(map[string]any{"state": StateSent, "detail": "", "updated_at": s.Now()}).Error
}

// Refused records that a queued recipient's subscribe message did not go out (state rejected: WeChat
// refused it; failed: WeChat could not be reached after every retry) and puts the in-app message in
// their inbox instead, in the caller's transaction. The credit stays spent: a refusal says WeChat holds
// none.
func (s *Service) Refused(ctx context.Context, recipientID int64, state, detail string) error {
	var r models.CampaignRecipient
	if err := s.DB.Conn(ctx).Take(&r, recipientID).Error; err != nil {
		return err
	}
	if r.State != StateQueued {
		return nil // already settled
	}
	return s.Inbox(ctx, r, StateQueued, state, detail)
}

// Finish marks done every running campaign whose recipients all have an outcome.
func (s *Service) Finish(ctx context.Context) (int64, error) {
	now := s.Now()
	res := s.DB.Conn(ctx).Exec(`UPDATE campaigns SET status = ?, finished_at = ?, updated_at = ? WHERE status = ? AND NOT EXISTS
	(SELECT 1 FROM campaign_recipients r WHERE r.campaign_id = campaigns.id AND r.state IN (?, ?))`,
		StatusDone, now, now, StatusRunning, StatePending, StateQueued)
	return res.RowsAffected, res.Error
}

// Credit is a member's subscription credits for one template.
type Credit struct {
	TemplateID string `json:"template_id"`
	Credits    int64  `json:"credits"`
}

// CreditsView answers a reported acceptance: the member's credits of the templates registered for
// campaigns, and the accepted template ids that are not registered (recorded nowhere: no campaign can
// use them).
type CreditsView struct {
	Credits []Credit `json:"credits"`
	Ignored []string `json:"ignored"`
}

// AddCredits records that a member accepted each of templateIDs once in the mini-program
// (wx.requestSubscribeMessage answered "accept"): each allows one more subscribe message of its
// template. Ids listed twice count once, as WeChat reports each template once.
func (s *Service) AddCredits(ctx context.Context, memberID int64, templateIDs []string) (CreditsView, error) {
	if len(templateIDs) == 0 || len(templateIDs) > 20 {
		return CreditsView{}, domain.Errf(domain.ErrInvalidArgument, "template_ids must list 1-20 accepted template ids")
	}
	for i, id := range templateIDs {
		if !templateID.MatchString(id) {
			return CreditsView{}, domain.Errf(domain.ErrInvalidArgument, "template_ids[%d] must be 1-64 letters, digits, _ or -", i)
		}
	}
	out := CreditsView{Credits: []Credit{}, Ignored: []string{}}
	err := s.DB.Tx(ctx, func(ctx context.Context) error {
		out = CreditsView{Credits: []Credit{}, Ignored: []string{}}
		var known []string
		if err := s.DB.Conn(ctx).Model(&models.CampaignTemplate{}).Where("template_id IN ?", templateIDs).Pluck("template_id", &known).Error; err != nil {
			return err
		}
		now := s.Now()
		done := map[string]bool{}
		for _, id := range templateIDs {
			if done[id] {
				continue
			}
			done[id] = true
			if !slices.Contains(known, id) {
				out.Ignored = append(out.Ignored, id)
				continue
			}
			if err := s.DB.Conn(ctx).Exec(`INSERT INTO subscription_credits (member_id, template_id, credits, updated_at) VALUES (?, ?, 1, ?)
ON CONFLICT (member_id, template_id) DO UPDATE SET credits = subscription_credits.credits + 1, updated_at = excluded.updated_at`,
				memberID, id, now).Error; err != nil {
				return err
			}
		}
		return s.DB.Conn(ctx).Model(&models.SubscriptionCredit{}).Select("template_id, credits").
			Where("member_id = ? AND template_id IN ?", memberID, known).Order("template_id").Scan(&out.Credits).Error
	})
	return out, err
}

// Message is one message of a member's inbox.
type Message struct {
	ID         int64   `json:"id"`
	CampaignID *int64  `json:"campaign_id,omitempty"`
	Title      string  `json:"title"`
	Body       string  `json:"body"`
	Page       string  `json:"page,omitempty"`
	Read       bool    `json:"read"`
	ReadAt     *string `json:"read_at,omitempty"`
	CreatedAt  string  `json:"created_at"`
}

// MessagePage is a page of a member's inbox, newest first; Next is the before of the following page (0
// at the end), Unread counts the member's unread messages.
type MessagePage struct {
	Messages []Message `json:"messages"`
	Next     int64     `json:"next,omitempty"`
	Unread   int64     `json:"unread"`
}

// Messages returns a page of a member's inbox, newest first: up to limit messages (MaxPage at most, 20
// when 0) older than message before (from the newest when 0).
func (s *Service) Messages(ctx context.Context, memberID, before int64, limit int) (MessagePage, error) {
	rows, next, err := domain.NewestFirst(s.DB.Conn(ctx).Where("member_id = ?", memberID), before, limit, MaxPage,
		func(m *models.MemberMessage) int64 { return m.ID })
	if err != nil {
		return MessagePage{}, err
	}
	out := MessagePage{Messages: []Message{}, Next: next}
	for _, r := range rows {
		m := Message{ID: r.ID, CampaignID: r.CampaignID, Title: r.Title, Body: r.Body, Page: r.Page, Read: r.ReadAt != nil,
			CreatedAt: r.CreatedAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00")}
		if r.ReadAt != nil {
			at := r.ReadAt.UTC().Format("2006-01-02T15:04:05.999999Z07:00")
			m.ReadAt = &at
		}
		out.Messages = append(out.Messages, m)
	}
	err = s.DB.Conn(ctx).Model(&models.MemberMessage{}).Where("member_id = ? AND read_at IS NULL", memberID).Count(&out.Unread).Error
	return out, err
}

// MarkRead marks one of a member's messages read (again is fine); another member's message is not
// found.
func (s *Service) MarkRead(ctx context.Context, memberID, id int64) error {
	var m models.MemberMessage
	err := s.DB.Conn(ctx).Where("id = ? AND member_id = ?", id, memberID).Take(&m).Error
	if models.IsNotFound(err) {
		return domain.Errf(domain.ErrNotFound, "message %d not found", id)
	}
	if err != nil {
		return err
	}
	return s.DB.Conn(ctx).Model(&models.MemberMessage{}).Where("id = ? AND read_at IS NULL", id).Update("read_at", s.Now()).Error
}

// Merge moves a member merged away into another: their inbox (a message of a campaign the survivor
// already has a message of is dropped, so the survivor reads each campaign once), their subscription
// credits (added to the survivor's), and their place in campaigns the survivor is not in. Where both are
// recipients of one campaign the survivor gets one message: the one merged away is cancelled if not yet
// routed; otherwise the survivor is cancelled if not yet routed (its credit kept), and a message of the
// one merged away that is still queued while the survivor's is queued or settled is cancelled and its
// credit returned. Messages still to come for the one merged away (their subscribe message, or the inbox
// when WeChat refuses it) reach the survivor (see Outgoing and Inbox). It runs in the merge's
// transaction.
func (s *Service) Merge(ctx context.Context, from, into int64) error {
	tx := s.DB.Conn(ctx)
	now := s.Now()
	if err := tx.Where("member_id = ? AND campaign_id IN (?)", from,
		tx.Model(&models.MemberMessage{}).Select("campaign_id").Where("member_id = ? AND campaign_id IS NOT NULL", into)).
		Delete(&models.MemberMessage{}).Error; err != nil {
		return err
	}
	if err := tx.Model(&models.MemberMessage{}).Where("member_id = ?", from).Update("member_id", into).Error; err != nil {
		return err
	}
	if err := tx.Exec(`INSERT INTO subscription_credits (member_id, template_id, credits, updated_at)
SELECT ?, template_id, credits, ? FROM subscription_credits WHERE member_id = ? AND credits > 0
ON CONFLICT (member_id, template_id) DO UPDATE SET credits = subscription_credits.credits + excluded.credits, updated_at = excluded.updated_at`,
		into, now, from).Error; err != nil {
		return err
	}
	if err := tx.Where("member_id = ?", from).Delete(&models.SubscriptionCredit{}).Error; err != nil {
		return err
	}
	recipients := func(member int64, states ...string) *gorm.DB {
		return tx.Model(&models.CampaignRecipient{}).Select("campaign_id").Where("member_id = ? AND state IN ?", member, states)
	}
	cancel := func(member int64, state string, in *gorm.DB, detail string) (int64, error) {
		res := tx.Model(&models.CampaignRecipient{}).Where("member_id = ? AND state = ? AND campaign_id IN (?)", member, state, in).
			Updates(map[string]any{"state": StateCancelled, "detail": detail, "updated_at": now})
		return res.RowsAffected, res.Error
	}
	both := tx.Model(&models.CampaignRecipient{}).Select("campaign_id").Where("member_id = ?", into)
	if _, err := cancel(from, StatePending, both, fmt.Sprintf("merged into member %d", into)); err != nil {
		return err
	}
	routed := []string{StateQueued, StateSent, StateRejected, StateFailed, StateInboxed}
	if _, err := cancel(into, StatePending, recipients(from, routed...), fmt.Sprintf("member %d merged in had it already", from)); err != nil {
		return err
	}
	// Both queued or settled: the one merged away's queued message is not sent, and its credit returns.
	var queued []models.CampaignRecipient
	if err := tx.Where("member_id = ? AND state = ? AND campaign_id IN (?)", from, StateQueued, recipients(into, routed...)).Find(&queued).Error; err != nil {
		return err
	}
	for _, r := range queued {
		c, err := s.campaign(ctx, r.CampaignID)
		if err != nil {
			return err
		}
		if err := s.setState(ctx, r.ID, StateQueued, StateCancelled, "", fmt.Sprintf("merged into member %d", into)); err != nil {
			return err
		}
		if err := tx.Exec(`INSERT INTO subscription_credits (member_id, template_id, credits, updated_at) VALUES (?, ?, 1, ?)
ON CONFLICT (member_id, template_id) DO UPDATE SET credits = subscription_credits.credits + 1, updated_at = excluded.updated_at`,
			into, c.TemplateID, now).Error; err != nil {
			return err
		}
	}
	return tx.Model(&models.CampaignRecipient{}).Where("member_id = ? AND campaign_id NOT IN (?)", from, both).Update("member_id", into).Error
}

// survivor returns the member that holds memberID's records now: memberID, or whom it was merged into.
func (s *Service) survivor(ctx context.Context, memberID int64) (int64, error) {
	for range 8 { // a merge chain is short
		var m models.Member
		if err := s.DB.Conn(ctx).Select("id", "merged_into").Take(&m, memberID).Error; err != nil {
			return 0, err
		}
		if m.MergedInto == nil {
			return memberID, nil
		}
		memberID = *m.MergedInto
	}
	return memberID, nil
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}
