// Package integrations holds the payment and channel providers behind core's interfaces, each in a
// package of its own with a protocol-faithful fake beside it. Integrations verify and normalise; they
// never decide what an order does.
package integrations
