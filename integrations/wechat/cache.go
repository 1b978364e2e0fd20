package wechat

import (
	"context"
	"fmt"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/silenceper/wechat/v2/cache"
	"github.com/silenceper/wechat/v2/credential"
	"gorm.io/gorm/clause"
)

// Cache is the silenceper/wechat cache kept in the hub's database, so that every replica uses the same
// access token. It stores strings, which is all the SDK keeps in it.
type Cache struct {
	db  *models.DB
	now func() time.Time
}

var _ cache.ContextCache = (*Cache)(nil)

// NewCache returns a cache in db's cache_entries table.
func NewCache(db *models.DB, now func() time.Time) *Cache {
	if now == nil {
		now = time.Now
	}
	return &Cache{db: db, now: now}
}

// Lookup returns the live value of key and whether there is one. A database that cannot be read is an
// error, not a miss: the hub's own reads (the access token, mini-program codes) use Lookup, so that a
// broken cache fails the call instead of fetching a new token from WeChat on every call.
func (c *Cache) Lookup(ctx context.Context, key string) (string, bool, error) {
	var e models.CacheEntry
	err := c.db.Conn(ctx).Where("key = ? AND expires_at > ?", key, c.now().UTC()).Take(&e).Error
	switch {
	case models.IsNotFound(err):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("wechat cache: read %s: %w", key, err)
	}
	return e.Value, true, nil
}

// GetContext returns the live value of key, or nil. The SDK's interface has no room for an error, so a
// database error reads as nil here; the access token never reaches the SDK's read through it unchecked
// (see tokenHandle).
func (c *Cache) GetContext(ctx context.Context, key string) any {
	v, ok, err := c.Lookup(ctx, key)
	if err != nil || !ok {
		return nil
	}
	return v
}

// SetContext stores val (a string) under key for timeout.
func (c *Cache) SetContext(ctx context.Context, key string, val any, timeout time.Duration) error {
	s, _ := val.(string)
	e := models.CacheEntry{Key: key, Value: s, ExpiresAt: c.now().UTC().Add(timeout)}
	return c.db.Conn(ctx).Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "key"}}, DoUpdates: clause.AssignmentColumns([]string{"value", "expires_at"})}).Create(&e).Error
}

// IsExistContext reports whether key has a live value.
func (c *Cache) IsExistContext(ctx context.Context, key string) bool {
	return c.GetContext(ctx, key) != nil
}

// DeleteContext removes key.
func (c *Cache) DeleteContext(ctx context.Context, key string) error {
	return c.db.Conn(ctx).Where("key = ?", key).Delete(&models.CacheEntry{}).Error
}

// Get returns the live value of key, or nil.
func (c *Cache) Get(key string) any { return c.GetContext(context.Background(), key) }

// Set stores val (a string) under key for timeout.
func (c *Cache) Set(key string, val any, timeout time.Duration) error {
	return c.SetContext(context.Background(), key, val, timeout)
}

// IsExist reports whether key has a live value.
func (c *Cache) IsExist(key string) bool { return c.IsExistContext(context.Background(), key) }

// Delete removes key.
func (c *Cache) Delete(key string) error { return c.DeleteContext(context.Background(), key) }

// tokenHandle is a mini-program's access token: the stable token in the shared cache, and, only when the
// cache has none, the SDK's stable token handle, which fetches one from WeChat and caches it. A cache
// that cannot be read fails the call: treating it as empty would fetch a new token on every call.
type tokenHandle struct {
	cache *Cache
	key   string
	fetch credential.AccessTokenContextHandle
}

var _ credential.AccessTokenContextHandle = tokenHandle{}

// GetAccessToken returns the access token.
func (h tokenHandle) GetAccessToken() (string, error) {
	return h.GetAccessTokenContext(context.Background())
}

// GetAccessTokenContext returns the access token.
func (h tokenHandle) GetAccessTokenContext(ctx context.Context) (string, error) {
	v, ok, err := h.cache.Lookup(ctx, h.key)
	if err != nil {
		return "", fmt.Errorf("wechat access token: %w", err)
	}
	if ok && v != "" {
		return v, nil
	}
	return h.fetch.GetAccessTokenContext(ctx)
}
