// Package loyalty owns members' points and levels: the settings (versioned in the database, an order
// keeps the version it was placed under), the append-only points ledger (each entry unique per member,
// source and kind, so a replayed notification or a retried job never posts twice), the lots earned
// points form (pending until the purchase is fulfilled plus the hold, then available until they
// expire, spent oldest first), the allocations of spends to lots, debts left by clawbacks the balance
// could not cover, the purchases that earn points and count towards a level, and each member's account
// (balances and level code, one row per member in loyalty_accounts).
//
// It stands on domain, models and member. Core calls it at each step of an order (placed, paid,
// fulfilled, refunded, expired or cancelled) in core's own transaction; it must not import core. Every
// change to a member's points locks that member's account row first, so concurrent spends take turns and
// the balance never goes below zero.
package loyalty
