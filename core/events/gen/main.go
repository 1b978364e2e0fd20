// Command gen writes docs/events.md, the catalogue of the events the hub sends, from events.Types().
// Run it from anywhere in the repository:
//
//	go run ./core/events/gen
//
// TestCatalogueIsUpToDate fails when the committed file differs from what it writes.
package main

import (
	"fmt"
	"os"

	"github.com/o2ohub/o2ohub/internal/docgen"
)

const (
	reference = "docs/events.md"
	command   = "go run ./core/events/gen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	out, err := generate()
	if err != nil {
		return err
	}
	return docgen.Write(reference, out)
}
