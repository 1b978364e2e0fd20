package campaign

import (
	"sync"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/loyalty"
)

// Campaign states: a draft is edited by nobody and started once; a running campaign is being delivered;
// it is done when every recipient's message has an outcome, or cancelled by an admin.
const (
	StatusDraft     = "draft"
	StatusRunning   = "running"
	StatusDone      = "done"
	StatusCancelled = "cancelled"
)

// Recipient states. Pending: not yet routed. Queued: a subscription credit was spent and the subscribe
// message is in the task outbox. Sent: WeChat accepted it. Rejected: WeChat refused it (no subscription,
// 43101, or a bad template or data), so it went to the inbox. Failed: WeChat could not be reached after
// every retry, so it went to the inbox. Inboxed: no credit (or no WeChat account), so it went straight
// to the inbox. Cancelled: the campaign was cancelled first, or the member was merged into another
// recipient.
const (
	StatePending   = "pending"
	StateQueued    = "queued"
	StateSent      = "sent"
	StateRejected  = "rejected"
	StateFailed    = "failed"
	StateInboxed   = "inboxed"
	StateCancelled = "cancelled"
)

// Service runs campaigns, subscription credits and the inbox on one database. It is safe for concurrent
// use, and several processes may run it on the same database.
type Service struct {
	domain.Env
	loyalty *loyalty.Service
	// content caches campaigns by id for delivery: a campaign's content never changes.
	content sync.Map
}

// New returns the campaign service; levels are checked against loy's settings.
func New(env domain.Env, loy *loyalty.Service) *Service {
	return &Service{Env: env, loyalty: loy}
}
