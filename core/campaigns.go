package core

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/o2ohub/o2ohub/core/campaign"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/limits"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// This file joins the campaign room to the order flow's task outbox and messengers. A started campaign's
// recipients are routed by DispatchCampaigns, one short transaction each: a member who holds a
// subscription credit for the campaign's template and has an account on a registered messenger's
// channel spends the credit and gets a channel task (kind "campaign"); everyone else gets the in-app
// message. ProcessTasks sends the channel tasks like any other (lease, retries), within the shared
// campaign rate limit, and records each one's outcome in the task's own transaction: sent, or refused
// by WeChat or given up (then the in-app message instead). All of it is in the database, so a replica
// that dies mid-campaign leaves nothing that another cannot finish, and nobody gets a message twice.

const taskCampaign = "campaign"

type campaignTask struct {
	RecipientID int64 `json:"recipient_id"`
}

// deferred is a channel task that must wait its turn under the campaign rate limit: not a failure and
// not an attempt.
type deferred struct{ wait time.Duration }

func (d *deferred) Error() string { return fmt.Sprintf("campaign rate limit: wait %s", d.wait) }

// campaignBatch is what one ProcessTasks run knows of the campaign rate limit: the channels it found
// limited, and how many tasks it has deferred on each, so that they come back one interval apart
// rather than all at once.
type campaignBatch struct {
	limited map[string]time.Duration
	waiting map[string]int
}

// campaignRate turns the configured messages per second into the shared limit's budget: bursts of one
// second's worth.
func campaignRate(perSecond float64) limits.Rate {
	return limits.Rate{PerSecond: perSecond, Burst: max(1, int(perSecond))}
}

// wireCampaigns moves a member's campaign records with a merge.
func (s *Service) wireCampaigns() {
	s.Members.OnMerge(s.Campaigns.Merge)
}

// StartCampaign starts a draft campaign (campaign.Service.Start) once every paid order's purchase is
// recorded, so that an audience by level or last purchase counts payments made just before the start.
// An order whose purchase cannot be recorded (alerted by RecordLoyaltyDue) does not keep the campaign
// from starting.
func (s *Service) StartCampaign(ctx context.Context, id int64) (campaign.View, error) {
	for {
		n, err := s.RecordLoyaltyDue(ctx, workerBatch)
		if err != nil {
			s.Log.ErrorContext(ctx, "recording payments before a campaign starts failed", "campaign", id, "err", err)
		}
		if err != nil || n < workerBatch {
			return s.Campaigns.Start(ctx, id)
		}
	}
}

// DispatchCampaigns routes up to limit recipients of running campaigns, each in its own transaction
// that locks only its row (SKIP LOCKED, so replicas share the work): a subscribe message through the
// task outbox for a member with a subscription credit, the in-app message for everyone else. It then
// marks done the campaigns whose recipients all have an outcome.
func (s *Service) DispatchCampaigns(ctx context.Context, limit int) (int, error) {
	n, err := domain.SweepDue(ctx, s.Env, func(q *gorm.DB) *gorm.DB { return q.Where("state = ?", campaign.StatePending) },
		"updated_at", limit, s.routeRecipient)
	if _, ferr := s.Campaigns.Finish(ctx); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return n, err
}

func (s *Service) routeRecipient(ctx context.Context, r *models.CampaignRecipient) (bool, error) {
	tpl, err := s.Campaigns.Template(ctx, *r)
	if err != nil {
		return false, err
	}
	reason := "the campaign has no subscribe message"
	if tpl != "" {
		reason = "no account on a messaging channel"
		ids, err := s.identities(ctx, &r.MemberID)
		if err != nil {
			return false, err
		}
		for _, ch := range slices.Sorted(maps.Keys(s.messengers)) {
			if ids[ch] == "" {
				continue
			}
			ok, err := s.Campaigns.Queue(ctx, *r, tpl, ch)
			if err != nil {
				return false, err
			}
			if ok {
				return true, s.addTask(ctx, taskCampaign, ch, fmt.Sprintf("campaign:%d", r.CampaignID), campaignTask{RecipientID: r.ID})
			}
			reason = "no subscription credit"
			break
		}
	}
	return true, s.Campaigns.Inbox(ctx, *r, campaign.StatePending, campaign.StateInboxed, reason)
}

// runCampaignTask sends one recipient's subscribe message, within the campaign rate limit.
func (s *Service) runCampaignTask(ctx context.Context, t models.Task, b *campaignBatch) error {
	m, ok := s.messengers[t.Target]
	if !ok {
		return fmt.Errorf("%w: channel %q is not enabled", ErrPermanent, t.Target)
	}
	var p campaignTask
	if err := json.Unmarshal([]byte(t.Payload), &p); err != nil {
		return fmt.Errorf("%w: %v", ErrPermanent, err)
	}
	out, err := s.Campaigns.Outgoing(ctx, p.RecipientID)
	if err != nil {
		return err
	}
	if out.State != campaign.StateQueued {
		return nil // settled already (a worker that died after recording it)
	}
	ids, err := s.identities(ctx, &out.MemberID)
	if err != nil {
		return err
	}
	to := ids[t.Target]
	if to == "" {
		return fmt.Errorf("%w: member %d has no account on %s", ErrPermanent, out.MemberID, t.Target)
	}
	if err := b.take(ctx, s.campaignLimit, t.Target); err != nil {
		return err
	}
	return m.SendMessage(ctx, ShopperMessage{Kind: MessageCampaign, To: to, Template: out.TemplateID, Data: out.Data, Page: out.Page, At: s.Now()})
}

// take spends one message of channel's budget, or returns a *deferred saying when this task's turn
// comes: once a channel is limited in this batch, its later tasks queue behind one interval apart
// without asking the database again.
func (b *campaignBatch) take(ctx context.Context, l *limits.Limit, channel string) error {
	if b.limited == nil {
		b.limited, b.waiting = map[string]time.Duration{}, map[string]int{}
	}
	wait, limited := b.limited[channel]
	if !limited {
		var err error
		if wait, err = l.Take(ctx, channel); err != nil {
			return err
		}
		if wait == 0 {
			return nil
		}
		b.limited[channel] = wait
	}
	d := &deferred{wait: wait + time.Duration(b.waiting[channel])*l.Rate().Interval()}
	b.waiting[channel]++
	return d
}

// campaignOutcome records a campaign task's outcome on its recipient, in the transaction that updates
// the task: sent when it was done; the in-app message instead when WeChat refused it (rejected) or it
// was given up (failed).
func (s *Service) campaignOutcome(ctx context.Context, t models.Task, status string, err error) error {
	var p campaignTask
	if jerr := json.Unmarshal([]byte(t.Payload), &p); jerr != nil {
		return nil // nothing to record it on
	}
	switch status {
	case taskDone:
		return s.Campaigns.Sent(ctx, p.RecipientID)
	case taskRejected:
		return s.Campaigns.Refused(ctx, p.RecipientID, campaign.StateRejected, err.Error())
	case taskFailed:
		return s.Campaigns.Refused(ctx, p.RecipientID, campaign.StateFailed, err.Error())
	}
	return nil
}
