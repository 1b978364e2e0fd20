// Package docgen is what the generators of documentation pages share: finding the repository, writing a
// generated page, and the drift check that fails when a committed page differs from what its generator
// writes. It imports only the standard library.
package docgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Root is the nearest directory at or above the working directory holding go.mod.
func Root() (string, error) {
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

// Write writes a generated page, page being its path from the repository root.
func Write(page string, out []byte) error {
	root, err := Root()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(root, page), out, 0o644)
}

// Drift says how the committed page differs from want, the generator's output, naming command, the
// command that writes it; nil when they are the same.
func Drift(page string, want []byte, command string) error {
	root, err := Root()
	if err != nil {
		return err
	}
	got, err := os.ReadFile(filepath.Join(root, page))
	if err != nil {
		return fmt.Errorf("%w: run `%s` to write it", err, command)
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%s is out of date: run `%s` (from the repository root) and commit the result", page, command)
	}
	return nil
}
