// Package testclock owns the movable clock of the tests: a domain.Clock that stands still until a test
// moves it. It imports nothing of o2ohub's, so tests inside core and handlers can use it as well as
// internal/hubtest. It is test support: production code must not import it.
package testclock
