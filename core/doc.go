// Package core owns o2ohub's order flow: placing orders (prices from the catalog, stock reserved with a
// conditional update), payments and their notifications (applied once per provider transaction), expiry,
// refunds, routing paid orders to stores with re-routing, the fulfilment steps, pickup codes at the
// counter, channel tasks (shopper messages, shipping uploads) and the background workers, around one
// state machine (orderstate.go) and in one transaction per step.
//
// It stands on its rooms, one package each under core/: domain (errors, clock, claims), events (the
// outgoing queue and alerts), catalog (stores, products, stock), member (shoppers and sessions), staff
// (accounts and actors), shelf (QR codes and scans) and market (platform shops and SKUs, the outbox
// of platform calls, the stock pool pushed to the platforms); taking a platform order in is order flow
// and lives here. ports.go declares every interface core needs from outside. Core never imports handlers, gin or a
// provider SDK, and never sees a provider format.
package core
