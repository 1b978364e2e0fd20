// Package market owns o2ohub's side of the instant-retail platforms (美团闪购, 饿了么零售, 京东到家): the
// binding of platform shops to our stores and of platform SKU codes to our SKUs, the outbox of calls back to the platforms, the stock pool
// each platform is told, and the pull that finds orders whose push was lost (handing them to an intake the
// order flow provides: taking a platform order in is order flow and lives in core, platform.go).
//
// ports.go declares what it needs from a platform connector; the connectors live in
// integrations/meituan, integrations/eleme and integrations/jddj and never see this package's rules. The
// package must not import handlers, gin or a connector, and never sees a platform's wire format.
package market
