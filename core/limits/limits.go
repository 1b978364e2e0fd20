package limits

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/models"
)

// Rate is a limit's budget: Burst attempts at once, given back at PerSecond a second.
type Rate struct {
	PerSecond float64
	Burst     int
}

// Every returns the rate of burst attempts given back one every d.
func Every(d time.Duration, burst int) Rate {
	return Rate{PerSecond: float64(time.Second) / float64(d), Burst: burst}
}

// String describes the rate for logs and docs, e.g. "20 at once, then 1 every 1m0s".
func (r Rate) String() string {
	return fmt.Sprintf("%d at once, then 1 every %s", r.Burst, r.Interval().Round(time.Millisecond))
}

// Interval is the time one spent attempt takes to come back.
func (r Rate) Interval() time.Duration {
	if r.PerSecond <= 0 {
		return time.Duration(math.MaxInt64 / 4)
	}
	return time.Duration(float64(time.Second) / r.PerSecond)
}

// gcra holds a bucket's arithmetic: with T the interval and τ = Burst×T, an attempt at now is allowed when
// the bucket's theoretical arrival time tat is at most now + τ − T, and then moves tat to max(tat, now) + T.
type gcra struct{ t, tau int64 } // microseconds

func (r Rate) gcra() gcra {
	t := r.Interval().Microseconds()
	if t < 1 {
		t = 1
	}
	b := int64(max(r.Burst, 1))
	return gcra{t: t, tau: b * t}
}

// take applies one attempt at now (µs) to tat: the new tat, and the wait (0 when allowed).
func (g gcra) take(tat, now int64) (int64, time.Duration) {
	if tat <= now+g.tau-g.t {
		return max(tat, now) + g.t, 0
	}
	return tat, g.wait(tat, now)
}

// wait is how long until an attempt is allowed for a bucket at tat.
func (g gcra) wait(tat, now int64) time.Duration {
	w := tat - (now + g.tau - g.t)
	if w <= 0 {
		return 0
	}
	return time.Duration(w) * time.Microsecond
}

// Network returns the network of a client address that an attacker cannot leave for free: the address
// masked to v4Bits (IPv4, including IPv4-mapped IPv6) or v6Bits (IPv6), as a prefix string. An address
// that does not parse is returned as it is.
func Network(addr string, v4Bits, v6Bits int) string {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return addr
	}
	ip = ip.Unmap()
	bits := v6Bits
	if ip.Is4() {
		bits = v4Bits
	}
	p, err := ip.WithZone("").Prefix(bits)
	if err != nil {
		return addr
	}
	return p.String()
}

// Address returns the subject of a per-address limit: an IPv4 address, or the /64 of an IPv6 address
// (one subscriber's network, whose addresses its holder may use at will).
func Address(addr string) string { return Network(addr, 32, 64) }

// Shared is the limiter whose buckets live in the database: every replica on one database spends from
// the same budget. Its statements run in the caller's transaction when ctx carries one.
type Shared struct {
	db        *models.DB
	clock     domain.Clock
	lastSweep atomic.Int64 // Unix µs of this process's last sweep
}

// NewShared returns the database limiter; clock says what time it is (the system clock when nil).
func NewShared(db *models.DB, clock domain.Clock) *Shared {
	if clock == nil {
		clock = domain.SystemClock{}
	}
	return &Shared{db: db, clock: clock}
}

// sweepEvery is how often a process deletes the rows of full buckets.
const sweepEvery = time.Minute

// Limit returns the shared limit named name (its rows' bucket) with the budget r per subject.
func (s *Shared) Limit(name string, r Rate) *Limit {
	return &Limit{shared: s, name: name, rate: r, g: r.gcra()}
}

// Limit is one shared limit: a budget per subject, spent by Take and given back by Give.
type Limit struct {
	shared *Shared
	name   string
	rate   Rate
	g      gcra
}

// Rate returns the limit's budget.
func (l *Limit) Rate() Rate { return l.rate }

// takeSQL spends one attempt of a bucket in one atomic statement (the row is created full on first use):
// allowed when tat <= now + τ − T (the parameter lim), and then tat moves to max(tat, now) + T.
const takeSQL = `INSERT INTO rate_limits (bucket, subject, tat, allowed) VALUES (?, ?, ?, 1)
ON CONFLICT (bucket, subject) DO UPDATE SET
	allowed = CASE WHEN rate_limits.tat <= ? THEN 1 ELSE 0 END,
	tat = CASE WHEN rate_limits.tat <= ? THEN (CASE WHEN rate_limits.tat > ? THEN rate_limits.tat ELSE ? END) + ? ELSE rate_limits.tat END
RETURNING tat, allowed`

// Take spends one attempt of subject's budget. It returns 0 when the attempt is allowed, otherwise how
// long until one is (nothing is spent then).
func (l *Limit) Take(ctx context.Context, subject string) (time.Duration, error) {
	now := l.shared.clock.Now().UnixMicro()
	l.shared.maybeSweep(ctx, now)
	lim := now + l.g.tau - l.g.t
	var row struct {
		TAT     int64 `gorm:"column:tat"`
		Allowed int
	}
	err := l.shared.db.Conn(ctx).Raw(takeSQL, l.name, subject, now+l.g.t, lim, lim, now, now, l.g.t).Scan(&row).Error
	if err != nil {
		return 0, fmt.Errorf("rate limit %s: %w", l.name, err)
	}
	if row.Allowed == 1 {
		return 0, nil
	}
	return max(l.g.wait(row.TAT, now), time.Microsecond), nil
}

// Wait says how long subject must wait before an attempt is allowed (0: now), without spending one.
func (l *Limit) Wait(ctx context.Context, subject string) (time.Duration, error) {
	now := l.shared.clock.Now().UnixMicro()
	var tats []int64
	err := l.shared.db.Conn(ctx).Model(&models.RateLimit{}).Where("bucket = ? AND subject = ?", l.name, subject).Limit(1).Pluck("tat", &tats).Error
	if err != nil || len(tats) == 0 {
		return 0, err
	}
	return l.g.wait(tats[0], now), nil
}

// Give returns one attempt that Take spent (an attempt that turned out not to count, such as a correct
// admin token).
func (l *Limit) Give(ctx context.Context, subject string) error {
	return l.shared.db.Conn(ctx).Exec("UPDATE rate_limits SET tat = tat - ? WHERE bucket = ? AND subject = ?", l.g.t, l.name, subject).Error
}

// maybeSweep deletes, at most once a sweepEvery per process and never inside a transaction, the rows of
// buckets that are full again (tat in the past): they mean the same as no row. On PostgreSQL it takes
// its rows with SKIP LOCKED, in batches, so sweeping replicas never wait for each other or for a bucket in
// use.
func (s *Shared) maybeSweep(ctx context.Context, now int64) {
	last := s.lastSweep.Load()
	if now-last < sweepEvery.Microseconds() || s.db.InTx(ctx) || !s.lastSweep.CompareAndSwap(last, now) {
		return
	}
	_, _ = s.Sweep(ctx)
}

// Sweep deletes the rows of full buckets and counts them.
func (s *Shared) Sweep(ctx context.Context) (int64, error) {
	now := s.clock.Now().UnixMicro()
	if !s.db.Postgres() {
		res := s.db.Conn(ctx).Exec("DELETE FROM rate_limits WHERE tat < ?", now)
		return res.RowsAffected, res.Error
	}
	var n int64
	for {
		res := s.db.Conn(ctx).Exec(`DELETE FROM rate_limits WHERE (bucket, subject) IN
			(SELECT bucket, subject FROM rate_limits WHERE tat < ? LIMIT 5000 FOR UPDATE SKIP LOCKED)`, now)
		if res.Error != nil {
			return n, res.Error
		}
		n += res.RowsAffected
		if res.RowsAffected < 5000 {
			return n, nil
		}
	}
}

// Local is a per-process limiter: a bucket per subject in a least-recently-used map of at most size
// subjects. Under a flood of new subjects it forgets the idlest ones, one at a time, so a subject that
// keeps coming keeps its bucket (a forgotten subject was idle, and starts again with a full bucket).
type Local struct {
	g   gcra
	mu  sync.Mutex
	lru *simplelru.LRU[string, int64]
}

// NewLocal returns a per-process limiter of budget r per subject remembering at most size subjects.
func NewLocal(r Rate, size int) *Local {
	l, err := simplelru.NewLRU[string, int64](size, nil)
	if err != nil {
		panic(err) // only for size <= 0, a programming error
	}
	return &Local{g: r.gcra(), lru: l}
}

// Take spends one attempt of subject's budget at now; 0 when allowed, otherwise the wait.
func (l *Local) Take(subject string, now time.Time) time.Duration {
	n := now.UnixMicro()
	l.mu.Lock()
	defer l.mu.Unlock()
	tat, _ := l.lru.Get(subject)
	tat, wait := l.g.take(tat, n)
	if wait > 0 {
		return wait
	}
	l.lru.Add(subject, tat)
	return 0
}

// Len returns how many subjects the limiter remembers.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}
