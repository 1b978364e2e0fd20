package idem

import (
	"context"
	"errors"
	"time"

	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm/clause"
)

// TTL is how long a key is remembered: a retry after that runs as a new request.
const TTL = 24 * time.Hour

// RunningLease is how long a first request may run before its key is thought abandoned (its process died
// before it answered) and a retry may run in its place.
const RunningLease = time.Minute

// Errors of Begin.
var (
	// ErrKeyReused is a key sent again with another request body.
	ErrKeyReused = errors.New("idempotency key reused with another request")
	// ErrInProgress is a key whose first request is still running.
	ErrInProgress = errors.New("request with this idempotency key in progress")
)

// Outcome is the answer a request gave: replayed as it is for its retries.
type Outcome struct {
	Status      int
	ContentType string
	Body        []byte
}

// Service remembers the outcomes of keyed requests in the database shared by every replica.
type Service struct {
	domain.Env
}

// New returns the service.
func New(env domain.Env) *Service { return &Service{Env: env} }

// Begin claims key for a request of scope on route whose body hashes to hash. It returns nil, nil when the
// caller now runs the request and must then call Finish (or Forget, when the answer must not be
// replayed); the first request's Outcome when it has finished; an error wrapping ErrInProgress (a
// domain conflict with a RetryAfter) while it runs; one wrapping ErrKeyReused (invalid argument) when
// the key came with another body.
func (s *Service) Begin(ctx context.Context, scope, route, key, hash string) (*Outcome, error) {
	for range 3 {
		now := s.Now()
		row := models.IdempotencyKey{Scope: scope, Route: route, Key: key, RequestHash: hash, State: stateRunning,
			CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(TTL)}
		res := s.DB.Conn(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(&row)
		if res.Error != nil {
			return nil, res.Error
		}
		if res.RowsAffected == 1 {
			return nil, nil
		}
		var cur models.IdempotencyKey
		err := s.DB.Conn(ctx).Where("scope = ? AND route = ? AND key = ?", scope, route, key).Take(&cur).Error
		if models.IsNotFound(err) {
			continue // forgotten meanwhile: claim it again
		}
		if err != nil {
			return nil, err
		}
		switch {
		case !cur.ExpiresAt.After(now), cur.State == stateRunning && now.Sub(cur.UpdatedAt) > RunningLease:
			// Expired, or abandoned by a process that died: drop it (one retry wins the delete) and claim
			// it again.
			if err := s.DB.Conn(ctx).Where("id = ? AND (expires_at <= ? OR (state = ? AND updated_at < ?))",
				cur.ID, now, stateRunning, now.Add(-RunningLease)).Delete(&models.IdempotencyKey{}).Error; err != nil {
				return nil, err
			}
			continue
		case cur.RequestHash != hash:
			return nil, &domain.Error{Kind: ErrKeyReused, Msg: "Idempotency-Key " + key + " was used with another request body; send a new key for a new request"}
		case cur.State == stateRunning:
			return nil, &domain.Error{Kind: ErrInProgress, Msg: "a request with Idempotency-Key " + key + " is still running; retry shortly", RetryAfter: time.Second}
		}
		return &Outcome{Status: cur.Status, ContentType: cur.ContentType, Body: []byte(cur.Body)}, nil
	}
	return nil, &domain.Error{Kind: ErrInProgress, Msg: "Idempotency-Key " + key + " is busy; retry shortly", RetryAfter: time.Second}
}

// Finish records the answer of the request that claimed key, for its retries.
func (s *Service) Finish(ctx context.Context, scope, route, key string, o Outcome) error {
	return s.DB.Conn(ctx).Model(&models.IdempotencyKey{}).Where("scope = ? AND route = ? AND key = ?", scope, route, key).
		Updates(map[string]any{"state": stateDone, "status": o.Status, "content_type": o.ContentType, "body": string(o.Body), "updated_at": s.Now()}).Error
}

// Forget drops key, so a retry runs as a new request: for answers that said nothing was done for good
// (a server error).
func (s *Service) Forget(ctx context.Context, scope, route, key string) error {
	return s.DB.Conn(ctx).Where("scope = ? AND route = ? AND key = ? AND state = ?", scope, route, key, stateRunning).
		Delete(&models.IdempotencyKey{}).Error
}

// Sweep deletes up to limit expired keys.
func (s *Service) Sweep(ctx context.Context, limit int) (int, error) {
	var ids []int64
	if err := s.DB.Conn(ctx).Model(&models.IdempotencyKey{}).Where("expires_at <= ?", s.Now()).Order("expires_at").Limit(limit).Pluck("id", &ids).Error; err != nil || len(ids) == 0 {
		return 0, err
	}
	res := s.DB.Conn(ctx).Where("id IN ? AND expires_at <= ?", ids, s.Now()).Delete(&models.IdempotencyKey{})
	return int(res.RowsAffected), res.Error
}

const (
	stateRunning = "running"
	stateDone    = "done"
)
