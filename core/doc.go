// Package core owns o2ohub's business rules: catalog and stock, members and sessions, the order flow and
// its state machine, payment notifications, expiry and the outgoing event queue. It declares the small
// interfaces it needs (PaymentGateway, Clock) and never imports handlers, gin or a provider SDK.
package core
