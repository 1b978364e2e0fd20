// Command gen writes docs/configuration.md, the configuration reference, from the comments, tags and
// defaults of config.Config. Run it from anywhere in the repository:
//
//	go run ./config/gen
//
// TestReferenceIsUpToDate fails when the committed file differs from what it writes.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/o2ohub/o2ohub/internal/docgen"
)

const (
	source    = "config/config.go"
	reference = "docs/configuration.md"
	command   = "go run ./config/gen"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run() error {
	root, err := docgen.Root()
	if err != nil {
		return err
	}
	src, err := os.ReadFile(filepath.Join(root, source))
	if err != nil {
		return err
	}
	out, err := generate(src)
	if err != nil {
		return err
	}
	return docgen.Write(reference, out)
}
