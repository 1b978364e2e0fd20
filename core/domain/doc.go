// Package domain is the vocabulary every room of core shares: the domain errors the HTTP layer maps in
// one table, the clock, the environment a room runs on (database, clock, logger), session tokens, and the
// one claim helper every background sweep takes its work with. It holds no business rule of its own and
// imports nothing of core.
package domain
