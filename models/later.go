package models

import (
	"context"
	"regexp"
	"strconv"
	"strings"

	"gorm.io/gorm"
)

// Inserts held back on PostgreSQL. A transaction's last writes are often inserts whose answer nobody
// reads (an event, an order's offer): each would cost a round trip to the server of its own. InsertLater
// holds such an insert back, and the transaction's held-back inserts are sent as one statement (data-
// modifying WITH clauses) just before its next statement or its commit. Nothing in the transaction can
// tell: every statement it runs sees the rows, as it would have.

// laterKey carries a transaction's held-back inserts in its context.
type laterKey struct{}

// laterQueue is a transaction's held-back inserts, in the order they were asked for, at most one per
// table (a second insert into a table sends the first: rows of one table keep their order of ids).
type laterQueue struct {
	stmts  []laterStmt
	tables map[string]bool
	// err is what sending failed with: every later statement and the commit report it, although gorm
	// drops the error of a savepoint's statement that sent them.
	err error
}

type laterStmt struct {
	sql  string
	vars []any
}

// InsertLater inserts row (a model or a slice of them, as Create would) in the transaction ctx carries. On PostgreSQL, in a
// transaction of Tx, the insert is held back and sent with the transaction's other held-back inserts in
// one statement, just before its next statement or its commit; row's id is then not set, and an
// error the insert meets (a broken constraint) is the error of that next statement or of the commit.
// Anywhere else it is Create.
func (d *DB) InsertLater(ctx context.Context, row any) error {
	tx := d.Conn(ctx)
	q, _ := tx.Statement.Context.Value(laterKey{}).(*laterQueue)
	if q == nil {
		return tx.Create(row).Error
	}
	stmt := tx.Session(&gorm.Session{DryRun: true}).Create(row).Statement
	if stmt.Error != nil {
		return stmt.Error
	}
	if q.tables[stmt.Table] {
		if err := sendLater(tx); err != nil {
			return err
		}
	}
	q.stmts = append(q.stmts, laterStmt{sql: stmt.SQL.String(), vars: stmt.Vars})
	q.tables[stmt.Table] = true
	return nil
}

// withLater gives a PostgreSQL transaction a queue of held-back inserts.
func withLater(ctx context.Context, tx *gorm.DB) (context.Context, *gorm.DB) {
	ctx = context.WithValue(ctx, laterKey{}, &laterQueue{tables: map[string]bool{}})
	return ctx, tx.WithContext(ctx)
}

var placeholder = regexp.MustCompile(`\$(\d+)`)

// sendLater sends the held-back inserts of db's transaction, if any, as one statement: every insert but
// the last in a WITH clause of the last, their placeholders renumbered.
func sendLater(db *gorm.DB) error {
	q, _ := db.Statement.Context.Value(laterKey{}).(*laterQueue)
	if q == nil || q.err != nil || len(q.stmts) == 0 {
		if q == nil {
			return nil
		}
		return q.err
	}
	stmts := q.stmts
	q.stmts, q.tables = nil, map[string]bool{}
	var b strings.Builder
	var vars []any
	for i, s := range stmts {
		offset := len(vars)
		sql := placeholder.ReplaceAllStringFunc(s.sql, func(p string) string {
			n, _ := strconv.Atoi(p[1:])
			return "$" + strconv.Itoa(n+offset)
		})
		vars = append(vars, s.vars...)
		switch {
		case i == len(stmts)-1: // the main statement
			if i > 0 {
				b.WriteString(" ")
			}
			b.WriteString(sql)
		case i == 0:
			b.WriteString("WITH later0 AS (" + sql + ")")
		default:
			b.WriteString(", later" + strconv.Itoa(i) + " AS (" + sql + ")")
		}
	}
	q.err = db.Session(&gorm.Session{NewDB: true}).Exec(b.String(), vars...).Error
	return q.err
}

// sendLaterFirst is the callback that sends held-back inserts before any other statement of their
// transaction runs (a dry run sends nothing).
func sendLaterFirst(db *gorm.DB) {
	if db.DryRun || db.Error != nil {
		return
	}
	if err := sendLater(db); err != nil {
		_ = db.AddError(err)
	}
}

// registerLater installs sendLaterFirst before every kind of statement gorm runs.
func registerLater(g *gorm.DB) error {
	cb := g.Callback()
	for _, err := range []error{
		cb.Create().Before("*").Register("o2ohub:later", sendLaterFirst),
		cb.Query().Before("*").Register("o2ohub:later", sendLaterFirst),
		cb.Update().Before("*").Register("o2ohub:later", sendLaterFirst),
		cb.Delete().Before("*").Register("o2ohub:later", sendLaterFirst),
		cb.Row().Before("*").Register("o2ohub:later", sendLaterFirst),
		cb.Raw().Before("*").Register("o2ohub:later", sendLaterFirst),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}
