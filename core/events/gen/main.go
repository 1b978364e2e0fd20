// Command gen writes docs/events.md, the catalogue of the events the hub sends, from events.Types().
// Run it from anywhere in the repository:
//
//	go run ./core/events/gen
//
// TestCatalogueIsUpToDate fails when the committed file differs from what it writes.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	root, err := repoRoot()
	if err != nil {
		return err
	}
	out, err := generate()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, reference), out, 0o644)
}

// repoRoot is the nearest directory at or above the working directory holding go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory: run it inside the repository")
		}
		dir = parent
	}
}
