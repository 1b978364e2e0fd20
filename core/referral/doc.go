// Package referral owns referral rebates (推荐返利): members' referral codes, the link binding a new
// member to the member who referred them (once, never to themselves, never in a cycle), the versioned
// referral settings (the shares of one or two tiers in basis points, and the hold), the rebates fixed on
// an order when it is placed and earned when it is paid (pending until the order is fulfilled plus the
// hold, then available, reversed in proportion by refunds), each referrer's account (balances in fen,
// a debt when a reversal finds the money already paid out) and the append-only rebate ledger, unique
// per (referrer, source, kind) so a replayed notification or a retried request never posts twice.
//
// It stands on domain, models, member and loyalty (for what an order's cash and refund basis are).
// Core calls it at each step of an order in core's own transaction; it must not import core. Every
// change to a referrer's money locks that referrer's account row first (several in member-id order);
// bindings and merges of links take one lock for the whole hub (binds are rare), so no two of them can
// close a cycle together.
package referral
