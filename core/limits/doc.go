// Package limits owns the hub's rate limits, one mechanism for all of them: a token bucket per
// (limit, subject) in its GCRA form (one "theoretical arrival time" per bucket).
//
// Shared keeps the buckets in the database (the rate_limits table), updated by one atomic upsert per
// attempt, so that any number of replicas on one database spend from one budget; it is for the limits that
// protect secrets (sign-in, staff login, the admin token, pickup codes). Local keeps them in the process,
// in a bounded least-recently-used map that forgets the idlest subjects first and never everyone at once;
// it is for high-volume limits whose budget may be per replica (shelf scans).
//
// The package knows nothing of HTTP or of the order flow: callers name the limit and the subject
// (Network and Address turn a client address into a subject an attacker cannot vary for free).
package limits
