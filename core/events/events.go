package events

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/internal/cn"
	"github.com/o2ohub/o2ohub/models"
)

// Enqueue writes an outgoing event in the caller's transaction: topic is a type of the catalogue
// ("order.paid"), key the thing it happened to (an order number: deliveries of one key reach each
// endpoint in order), payload its data, sent as JSON. On PostgreSQL the insert is held back and sent with
// the transaction's next statement or commit (models.DB.InsertLater).
// Data that does not match the type's catalogue entry (a key the sample does not show, or a required
// key missing) is logged as an error, and is refused in test binaries, so that every path the tests walk
// keeps the documented catalogue true.
func Enqueue(ctx context.Context, env domain.Env, topic, key string, payload any) error {
	t, ok := lookup(topic)
	if !ok {
		return fmt.Errorf("event type %q is not in the catalogue", topic)
	}
	if data, ok := payload.(map[string]any); ok {
		if err := t.conforms(data); err != nil {
			if testing.Testing() {
				return err
			}
			env.Log.ErrorContext(ctx, "event data differs from its catalogue entry", "err", err)
		}
	}
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return env.DB.InsertLater(ctx, &models.Event{Topic: topic, Key: key, Payload: string(b), CreatedAt: env.Now()})
}

// Alert records something an operator must look at, in the caller's transaction, and logs it. An alert
// of the same kind for the same order (or, without an order, with the same detail) that is still open is
// raised once: raising it again counts it. A new alert is also an alert.raised event.
func Alert(ctx context.Context, env domain.Env, kind, orderNo, detail string) error {
	subject := orderNo
	if subject == "" {
		subject = detail
	}
	return raise(ctx, env, kind, orderNo, subject, detail)
}

// raise records an alert whose open copies are told apart by kind and subject.
func raise(ctx context.Context, env domain.Env, kind, orderNo, subject, detail string) error {
	env.Log.WarnContext(ctx, "alert", "kind", kind, "order_no", orderNo, "detail", detail)
	now := env.Now()
	key := kind + "\x1f" + subject
	var row struct {
		ID    int64
		Count int
	}
	err := env.DB.Conn(ctx).Raw(`INSERT INTO alerts (kind, order_no, detail, dedup_key, count, last_at, created_at)
		VALUES (?, ?, ?, ?, 1, ?, ?)
		ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET count = alerts.count + 1, last_at = excluded.last_at, detail = excluded.detail
		RETURNING id, count`, kind, orderNo, detail, key, now, now).Scan(&row).Error
	if err != nil || row.Count != 1 {
		return err
	}
	return Enqueue(ctx, env, TypeAlertRaised, "alert/"+kind,
		map[string]any{"alert_id": row.ID, "kind": kind, "order_no": orderNo, "detail": detail})
}

// Message is an event as consumers receive it, in a webhook body and from the pull API.
type Message struct {
	// ID is the event's id, the same on every delivery of it ("evt_" and its position).
	ID string `json:"id"`
	// Type is the event's type.
	Type string `json:"type"`
	// CreatedAt is when the change happened, in China time.
	CreatedAt time.Time `json:"created_at"`
	// Sequence is the event's position in the stream: it increases along every order's (and every store
	// and SKU's) events, so a consumer may drop an update older than one it has.
	Sequence int64 `json:"sequence"`
	// Data is the event's data, as the catalogue describes it for its type.
	Data json.RawMessage `json:"data"`
}

// message is the consumer's view of a sequenced event.
func message(e models.Event) Message {
	var pos int64
	if e.Position != nil {
		pos = *e.Position
	}
	return Message{ID: MessageID(pos), Type: e.Topic, CreatedAt: e.CreatedAt.In(cn.Zone), Sequence: pos, Data: json.RawMessage(e.Payload)}
}

// MessageID is the public id of the event at position pos.
func MessageID(pos int64) string { return "evt_" + strconv.FormatInt(pos, 10) }

// ParseCursor reads a position given as a number or as an event id ("evt_12").
func ParseCursor(s string) (int64, error) {
	n, err := strconv.ParseInt(strings.TrimPrefix(s, "evt_"), 10, 64)
	if err != nil || n < 0 {
		return 0, domain.Errf(domain.ErrInvalidArgument, "after must be an event id or a position (a number ≥ 0), or latest")
	}
	return n, nil
}
