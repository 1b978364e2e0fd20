package wechat

import (
	"context"
	"time"

	"github.com/o2ohub/o2ohub/models"
	"github.com/silenceper/wechat/v2/cache"
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

// GetContext returns the live value of key, or nil.
func (c *Cache) GetContext(ctx context.Context, key string) any {
	var e models.CacheEntry
	if err := c.db.Conn(ctx).Where("key = ? AND expires_at > ?", key, c.now().UTC()).Take(&e).Error; err != nil {
		return nil
	}
	return e.Value
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
