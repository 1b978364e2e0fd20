package events

import (
	"context"
	"encoding/json"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Enqueue writes an outgoing event in the caller's transaction: topic names what happened
// ("order.paid"), key the thing it happened to (an order number), payload is sent as JSON.
func Enqueue(ctx context.Context, env domain.Env, topic, key string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	return env.DB.Conn(ctx).Create(&models.Event{Topic: topic, Key: key, Payload: string(b), CreatedAt: env.Now()}).Error
}

// Alert records something an operator must look at, in the caller's transaction, and logs it.
func Alert(ctx context.Context, env domain.Env, kind, orderNo, detail string) error {
	env.Log.WarnContext(ctx, "alert", "kind", kind, "order_no", orderNo, "detail", detail)
	return env.DB.Conn(ctx).Create(&models.Alert{Kind: kind, OrderNo: orderNo, Detail: detail, CreatedAt: env.Now()}).Error
}
