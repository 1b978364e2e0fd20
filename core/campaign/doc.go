// Package campaign owns messages to members by level (会员沟通): the registry of WeChat subscribe-message
// templates the operator has marked usable for campaigns (with their data keys), campaigns (an audience
// by level and last purchase, a subscribe message and an in-app message), each started campaign's
// recipients (the audience fixed when it starts, in one transaction) and where each one's message
// stands, members' subscription credits (one per acceptance the mini-program reports, spent atomically,
// one per message), and members' in-app inbox.
//
// It stands on domain, models and loyalty (the levels in force). It must not import core: core sends the
// subscribe messages through its task outbox and messengers, and calls this room to decide, for each
// recipient, between a credited subscribe message and the inbox (Route), and to record the outcome
// (Sent, Refused).
package campaign
