// Package staff owns the people who work the stores: staff accounts (an admin works every store, a clerk
// one), their passwords (bcrypt), their sessions (a console cookie or a store API token, kept as a hash
// with its kind), and the Actor every store-side step of the order flow is checked against. It stands on
// catalog for stores and knows nothing of orders.
package staff
