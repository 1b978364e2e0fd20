// Package hubtest owns the test harness of o2ohub: a whole hub (a test database from models/dbtest, a
// movable clock, the core service and the gin engine of handlers.New behind an httptest.Server) built
// with options, its HTTP call/expect helpers, WaitFor, Count and Must, and the fixtures most tests start
// from (a store with a stocked product, a sandbox shopper's sign-in). Provider-specific wiring stays in
// each test and reaches the hub through WithDeps. Tests inside core and handlers cannot import it (it
// imports them); they share its clock (internal/testclock) and HTTP helpers (internal/hubtest/httpx).
// It is test support: production code must not import it.
package hubtest
