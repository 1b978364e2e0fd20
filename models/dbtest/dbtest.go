// Package dbtest gives tests a fresh, migrated database: a SQLite file always, and a PostgreSQL schema of
// its own when O2OHUB_TEST_POSTGRES holds a DSN.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/o2ohub/o2ohub/models"
)

// Each runs fn as a subtest once per available database, each with a fresh migrated schema.
func Each(t testing.TB, fn func(t testing.TB, db *models.DB)) {
	t.Helper()
	run := func(name string, open func(testing.TB) *models.DB) {
		switch tt := t.(type) {
		case *testing.T:
			tt.Run(name, func(t *testing.T) { fn(t, open(t)) })
		case *testing.B:
			tt.Run(name, func(b *testing.B) { fn(b, open(b)) })
		}
	}
	run("sqlite", SQLite)
	if os.Getenv("O2OHUB_TEST_POSTGRES") != "" {
		run("postgres", Postgres)
	}
}

// SQLite opens a migrated SQLite database in a temporary directory.
func SQLite(t testing.TB) *models.DB {
	t.Helper()
	db, err := models.Open("sqlite:" + filepath.Join(t.TempDir(), "test.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}

// Postgres opens a migrated PostgreSQL database in a schema of its own, dropped when the test ends.
// It skips the test when O2OHUB_TEST_POSTGRES is not set.
func Postgres(t testing.TB) *models.DB {
	t.Helper()
	dsn := os.Getenv("O2OHUB_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("O2OHUB_TEST_POSTGRES is not set")
	}
	b := make([]byte, 6)
	rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	admin, err := models.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx := context.Background()
	if err := admin.Conn(ctx).Exec("CREATE SCHEMA " + schema).Error; err != nil {
		t.Fatal(err)
	}
	// Cleanups run last-registered first: the schema is dropped after db closes, before admin closes.
	t.Cleanup(func() { admin.Conn(ctx).Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	db, err := models.Open(u.String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return db
}
