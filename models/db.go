package models

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/o2ohub/o2ohub/internal/metrics"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"
)

// DB is an open database with the dialect it speaks.
type DB struct {
	gorm     *gorm.DB
	postgres bool
	group    *groupCommitter // Group's queue, on SQLite
}

// Open connects to dsn (sqlite:PATH or a postgres:// URL), creating the SQLite file when it does not
// exist. SQLite runs in WAL mode with a busy timeout and immediate transactions, so writers queue instead
// of failing.
func Open(dsn string) (*DB, error) { return open(dsn, true) }

// OpenExisting is Open for a database that must exist already: a SQLite file that is missing is an error
// naming it, not a new empty database. (Opening a PostgreSQL database never creates one.)
func OpenExisting(dsn string) (*DB, error) { return open(dsn, false) }

func open(dsn string, create bool) (*DB, error) {
	cfg := &gorm.Config{Logger: logger.Discard, TranslateError: true, NowFunc: func() time.Time { return time.Now().UTC() }}
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			return nil, errors.New("sqlite DSN has no path")
		}
		if !create {
			file, _, _ := strings.Cut(path, "?")
			if info, err := os.Stat(file); !strings.HasPrefix(file, "file:") && file != ":memory:" {
				switch {
				case errors.Is(err, fs.ErrNotExist), err == nil && info.Size() == 0:
					return nil, fmt.Errorf("sqlite database %s does not exist or is empty (only o2ohub serve, demo and migrate create one)", file)
				case err != nil:
					return nil, fmt.Errorf("open sqlite %s: %w", file, err)
				}
			}
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		full := path + sep + "_pragma=busy_timeout(20000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(FULL)&_txlock=immediate"
		g, err := gorm.Open(sqlite.Open(full), cfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(4)
		sqlDB.SetMaxIdleConns(4)
		if err := sqlDB.Ping(); err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
		return &DB{gorm: g, group: &groupCommitter{}}, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		g, err := gorm.Open(postgres.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		if err := registerLater(g); err != nil {
			return nil, err
		}
		sqlDB, err := g.DB()
		if err != nil {
			return nil, err
		}
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
		return &DB{gorm: g, postgres: true}, nil
	}
	return nil, errors.New("database DSN must be sqlite:PATH or a postgres:// URL")
}

// HasSchema reports whether the database holds the hub's schema (at any version), as opposed to being
// empty.
func (d *DB) HasSchema(ctx context.Context) (bool, error) {
	if !d.gorm.WithContext(ctx).Migrator().HasTable("schema_migrations") {
		return false, d.Ping(ctx)
	}
	v, err := d.AppliedVersion(ctx)
	return v > 0, err
}

// Pool returns the connection pool beneath, for its statistics.
func (d *DB) Pool() (*sql.DB, error) { return d.gorm.DB() }

// Close closes the connection pool.
func (d *DB) Close() error {
	if d.group != nil {
		d.group.close()
	}
	sqlDB, err := d.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Postgres reports whether the database is PostgreSQL.
func (d *DB) Postgres() bool { return d.postgres }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	sqlDB, err := d.gorm.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

type txKey struct{}

// Conn returns the transaction carried by ctx, or the pool when there is none, bound to ctx.
func (d *DB) Conn(ctx context.Context) *gorm.DB {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return d.gorm.WithContext(ctx)
}

// TxToken returns a value that tells the transaction ctx carries from every other running one (nil
// outside a transaction): the calls of one Group share it.
func (d *DB) TxToken(ctx context.Context) any {
	if tx, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return tx
	}
	return nil
}

// InTx reports whether ctx carries a transaction of Tx.
func (d *DB) InTx(ctx context.Context) bool {
	_, ok := ctx.Value(txKey{}).(*gorm.DB)
	return ok
}

// Tx runs fn in a transaction carried by the context it is given. A nested call reuses the outer
// transaction. Transient lock conflicts (SQLite busy, PostgreSQL deadlock or serialization failure) are
// retried a few times before the error is returned.
func (d *DB) Tx(ctx context.Context, fn func(ctx context.Context) error) error {
	if _, ok := ctx.Value(txKey{}).(*gorm.DB); ok {
		return fn(ctx)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		err = d.gorm.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
			if !d.postgres {
				return fn(context.WithValue(ctx, txKey{}, tx))
			}
			lctx, tx := withLater(ctx, tx) // inserts held back (InsertLater) are sent before the commit
			if err := fn(context.WithValue(lctx, txKey{}, tx)); err != nil {
				return err
			}
			return sendLater(tx)
		})
		if err == nil || !transient(err) || ctx.Err() != nil {
			return err
		}
		metrics.TxRetries.WithLabelValues(conflictReason(err)).Inc()
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt+1) * 5 * time.Millisecond):
		}
	}
	return err
}

// conflictReason names a transient conflict for the retry metric.
func conflictReason(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "40P01"):
		return "deadlock"
	case strings.Contains(s, "40001"):
		return "serialization"
	}
	return "busy"
}

func transient(err error) bool {
	s := err.Error()
	return strings.Contains(s, "SQLITE_BUSY") || strings.Contains(s, "database is locked") ||
		strings.Contains(s, "40P01") || strings.Contains(s, "40001")
}

// ForUpdateSkipLocked returns the locking clause that lets several workers take disjoint rows on
// PostgreSQL; on SQLite, where a write transaction already excludes the others, it is a no-op.
func ForUpdateSkipLocked() clause.Locking {
	return clause.Locking{Strength: "UPDATE", Options: "SKIP LOCKED"}
}

// ForUpdate returns the row-locking clause (a no-op on SQLite).
func ForUpdate() clause.Locking { return clause.Locking{Strength: "UPDATE"} }

// ForNoKeyUpdate returns the row-locking clause that serialises the writers of a row without blocking the
// inserts of rows that reference it (a no-op on SQLite).
func ForNoKeyUpdate() clause.Locking { return clause.Locking{Strength: "NO KEY UPDATE"} }

// IsDuplicate reports whether err is a unique-constraint violation.
func IsDuplicate(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, gorm.ErrDuplicatedKey) {
		return true
	}
	s := err.Error()
	return strings.Contains(s, "UNIQUE constraint failed") || strings.Contains(s, "23505")
}

// IsNotFound reports whether err says a row does not exist.
func IsNotFound(err error) bool { return errors.Is(err, gorm.ErrRecordNotFound) }

// Setting returns the stored value of key, storing create() first when the key has none. Concurrent
// first calls agree on one value.
func (d *DB) Setting(ctx context.Context, key string, create func() (string, error)) (string, error) {
	var v string
	err := d.Conn(ctx).Raw("SELECT value FROM settings WHERE key = ?", key).Scan(&v).Error
	if err != nil || v != "" {
		return v, err
	}
	nv, err := create()
	if err != nil {
		return "", err
	}
	if err := d.Conn(ctx).Exec("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", key, nv).Error; err != nil {
		return "", err
	}
	err = d.Conn(ctx).Raw("SELECT value FROM settings WHERE key = ?", key).Scan(&v).Error
	return v, err
}
