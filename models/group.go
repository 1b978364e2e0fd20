package models

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/o2ohub/o2ohub/internal/metrics"
	"gorm.io/gorm"
)

const (
	// maxGroup is the most calls one group commit runs: a bound on how long the last of them waits.
	maxGroup = 64
	// groupSavepoint names the savepoint each call of a shared transaction runs under. One is released
	// before the next is taken, so the name never nests (a call's own savepoints nest inside it).
	groupSavepoint = "group_call"
	// groupStatements is how many prepared statements the group connection keeps.
	groupStatements = 256
)

// Group runs fn in a transaction carried by the context it is given, like Tx, and returns once that
// transaction has committed (or with fn's error). On SQLite, whose write transactions run one at a
// time, the calls of Group queue in the process instead of in SQLite's busy handler (which sleeps a
// millisecond or more each time it finds the database locked), run on one connection of their own,
// and share transactions ("group commit"): the calls that queue while one transaction runs go into the
// next one, each under a savepoint of its own, and pay for one commit and one sync of the write-ahead
// log between them. Each call keeps its own outcome: fn's error rolls back fn's work alone and is
// returned to its caller only, and the others commit; when a shared transaction cannot commit, every
// call whose fn succeeded runs again in a transaction of its own, so that one call never fails another.
// No call returns before its work is on disk or has failed.
//
// fn may run more than once, as under Tx, and must do nothing outside the database that it cannot
// repeat. It may run in the goroutine of another caller, the one that commits the group, with its own
// caller's context (carrying the shared transaction); it must not wait for another call of Group, which
// would queue behind it. A nested call (ctx carries a transaction already) runs fn in that transaction.
// On PostgreSQL, where concurrent transactions commit in parallel, Group is Tx.
func (d *DB) Group(ctx context.Context, fn func(ctx context.Context) error) error {
	if d.group == nil || d.InTx(ctx) {
		return d.Tx(ctx, fn)
	}
	c := &groupCall{ctx: ctx, fn: fn, wake: make(chan struct{}, 1)}
	g := d.group
	g.mu.Lock()
	g.queue = append(g.queue, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if !lead {
		<-c.wake // sent by the leader of the group that ran c, or by the one that hands c the lead
		lead = !c.done
	}
	if lead {
		d.lead()
	}
	if c.panicked != nil {
		panic(c.panicked)
	}
	return c.err
}

// groupCommitter queues the calls of Group. While one caller, the leader, runs a group of calls, the
// others wait in the queue; when the group has committed, the leader hands the lead to the first call
// still queued.
type groupCommitter struct {
	mu      sync.Mutex
	queue   []*groupCall
	running bool // a leader is running a group, or the lead is on its way to queue[0]

	// connMu guards the group connection: held by the leader while it runs a group, and by Close.
	connMu sync.Mutex
	conn   *sql.Conn // the connection groups run on, taken from the pool when first needed
	stmts  *gorm.PreparedStmtDB
	closed bool

	// groups counts the transactions groups ran, calls the calls in them.
	groups, calls atomic.Int64
}

// groupCall is one call of Group.
type groupCall struct {
	ctx      context.Context
	fn       func(ctx context.Context) error
	err      error
	panicked any  // what fn panicked with, panicked again in its caller's goroutine
	ran      bool // fn returned nil in the shared transaction
	done     bool // err is final; set before wake is sent
	wake     chan struct{}
}

// lead runs one group, the leader's own call first, then hands the lead on and wakes the calls it ran.
func (d *DB) lead() {
	g := d.group
	g.mu.Lock()
	n := min(len(g.queue), maxGroup)
	batch := g.queue[:n:n]
	g.queue = g.queue[n:]
	g.mu.Unlock()

	d.runGroup(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		g.queue[0].wake <- struct{}{} // buffered and empty: the call wakes as the next leader
	} else {
		g.running = false
	}
	g.mu.Unlock()
	for _, c := range batch[1:] {
		c.done = true
		c.wake <- struct{}{}
	}
}

// runGroup runs a group's calls in one transaction and commits it. The calls whose work did not commit
// through no fault of their own (the transaction could not start, broke or did not commit; fn met a
// transient conflict) run again, each in a transaction of its own.
func (d *DB) runGroup(batch []*groupCall) {
	g := d.group
	g.connMu.Lock()
	err := d.groupTx(batch)
	g.connMu.Unlock()
	if err != nil {
		for _, c := range batch {
			c.ran = false // nothing committed: each call whose fn succeeded runs again below
		}
	}
	for _, c := range batch {
		switch {
		case c.ran:
			c.err = nil
		case c.panicked != nil, c.err != nil && !transient(c.err):
			// fn's own outcome; its work was rolled back
		default:
			c.err, c.panicked = d.guardedTx(c.ctx, c.fn)
		}
	}
}

// groupTx runs the calls of batch in one transaction on the group connection, each under a savepoint
// when there are several, and commits. It sets each call's ran, err and panicked; when it returns an
// error, nothing of the group committed.
func (d *DB) groupTx(batch []*groupCall) error {
	g := d.group
	// The transaction must not stop halfway when one caller goes away: it runs under a context that is
	// never cancelled, and each fn gets its own caller's context.
	ctx := context.Background()
	tx, err := d.groupBegin(ctx)
	if err != nil {
		return err
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// A transaction SQLite already rolled back fails to roll back again; in doubt, the group takes a
		// new connection next time.
		if _, err := g.conn.ExecContext(ctx, "ROLLBACK"); err != nil {
			g.reset(true)
		}
	}()
	g.groups.Add(1)
	g.calls.Add(int64(len(batch)))
	shared := len(batch) > 1
	for _, c := range batch {
		if c.ctx.Err() != nil { // its caller is gone: nothing to do for it
			c.err = c.ctx.Err()
			continue
		}
		if shared {
			if _, err := g.conn.ExecContext(ctx, "SAVEPOINT "+groupSavepoint); err != nil {
				return err
			}
		}
		c.err, c.panicked = guard(context.WithValue(c.ctx, txKey{}, tx), c.fn)
		c.ran = c.err == nil && c.panicked == nil
		if !shared {
			if !c.ran {
				return errors.New("group commit: the only call failed") // rolled back, c keeps its outcome
			}
			break
		}
		if !c.ran {
			if _, err := g.conn.ExecContext(ctx, "ROLLBACK TO "+groupSavepoint); err != nil {
				return fmt.Errorf("group commit: rolling back one call: %w", err) // the transaction broke
			}
		}
		// Releasing a savepoint fails when the transaction broke (SQLite rolled it back on an error):
		// the next call's statements would run outside of any transaction.
		if _, err := g.conn.ExecContext(ctx, "RELEASE "+groupSavepoint); err != nil {
			return fmt.Errorf("group commit: releasing one call: %w", err)
		}
	}
	if _, err := g.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return err
	}
	committed = true
	return nil
}

// groupBegin begins a write transaction on the group connection, taking the connection from the pool
// first when it has none, and returns the gorm handle the calls' statements go through. A transient
// conflict (another connection writing) is retried like Tx retries it.
func (d *DB) groupBegin(ctx context.Context) (*gorm.DB, error) {
	g := d.group
	if g.closed {
		return nil, errors.New("group commit: database closed")
	}
	if g.conn == nil {
		pool, err := d.gorm.DB()
		if err != nil {
			return nil, err
		}
		conn, err := pool.Conn(ctx)
		if err != nil {
			return nil, err
		}
		g.conn, g.stmts = conn, gorm.NewPreparedStmtDB(conn, groupStatements, 0)
	}
	var err error
	for attempt := 0; attempt < 5; attempt++ {
		if _, err = g.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err == nil || !transient(err) {
			break
		}
		metrics.TxRetries.WithLabelValues(conflictReason(err)).Inc()
		time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
	}
	if err != nil {
		g.reset(true)
		return nil, err
	}
	tx := d.gorm.Session(&gorm.Session{NewDB: true, Context: ctx})
	tx.Statement.ConnPool = groupConn{g.stmts}
	return tx, nil
}

// reset closes the group connection and its statements; the next group takes a new one. A connection
// in doubt (its transaction may still be open) is discarded rather than given back to the pool. The
// caller holds connMu.
func (g *groupCommitter) reset(discard bool) {
	if g.conn == nil {
		return
	}
	g.stmts.Close()
	if discard {
		g.conn.Raw(func(any) error { return driver.ErrBadConn }) // database/sql closes it
	}
	g.conn.Close()
	g.conn, g.stmts = nil, nil
}

// close gives the group connection back for good, waiting for a group that is running.
func (g *groupCommitter) close() {
	g.connMu.Lock()
	defer g.connMu.Unlock()
	g.closed = true
	g.reset(false)
}

// groupConn is the connection pool gorm sees inside a group's transaction: the group connection behind
// gorm's statement cache. It has no BeginTx, so gorm starts no transaction of its own on it, and it is a
// gorm.TxCommitter, so gorm treats it as a transaction (a nested Transaction takes a savepoint); only
// Group commits or rolls it back.
type groupConn struct{ stmts *gorm.PreparedStmtDB }

var errGroupManaged = errors.New("a transaction of Group is committed by Group, not by its calls")

func (c groupConn) PrepareContext(ctx context.Context, query string) (*sql.Stmt, error) {
	return c.stmts.PrepareContext(ctx, query)
}

func (c groupConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return c.stmts.ExecContext(ctx, query, args...)
}

func (c groupConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return c.stmts.QueryContext(ctx, query, args...)
}

func (c groupConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	return c.stmts.QueryRowContext(ctx, query, args...)
}

func (groupConn) Commit() error   { return errGroupManaged }
func (groupConn) Rollback() error { return errGroupManaged }

// guardedTx is Tx with fn's panic caught (after the transaction rolled back) and returned.
func (d *DB) guardedTx(ctx context.Context, fn func(ctx context.Context) error) (err error, panicked any) {
	var p any
	err = d.Tx(ctx, func(ctx context.Context) error {
		var e error
		e, p = guard(ctx, fn)
		if p != nil {
			return fmt.Errorf("panic: %v", p)
		}
		return e
	})
	return err, p
}

// guard runs fn, catching its panic.
func guard(ctx context.Context, fn func(ctx context.Context) error) (err error, panicked any) {
	defer func() {
		if p := recover(); p != nil {
			panicked = p
		}
	}()
	return fn(ctx), nil
}
