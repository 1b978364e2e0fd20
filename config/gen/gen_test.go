package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/docgen"
)

// TestReferenceIsUpToDate is the drift test: docs/configuration.md must be exactly what the generator
// makes of config/config.go.
func TestReferenceIsUpToDate(t *testing.T) {
	root, err := docgen.Root()
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, source))
	if err != nil {
		t.Fatal(err)
	}
	want, err := generate(src)
	if err != nil {
		t.Fatalf("generating the reference: %v", err)
	}
	if err := docgen.Drift(reference, want, command); err != nil {
		t.Fatalf("against %s: %v", source, err)
	}
}

func TestMeaningComesFromTheComment(t *testing.T) {
	for doc, want := range map[string]string{
		"OrderTTL is how long an order waits.\n": "How long an order waits.",
		"OrderTTL lists\nthings.":                "Lists things.",
	} {
		if got, err := meaningOf("OrderTTL", doc); err != nil || got != want {
			t.Errorf("meaningOf(%q) = %q, %v; want %q", doc, got, err, want)
		}
	}
	if _, err := meaningOf("OrderTTL", "How long an order waits."); err == nil || !strings.Contains(err.Error(), "OrderTTL") {
		t.Errorf("a comment not starting with the name: err = %v", err)
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[string]string{"15m": "15m", "720h": "720h", "10s": "10s", "1h30m": "1h30m", "90s": "1m30s", "100ms": "100ms"} {
		dur, _ := time.ParseDuration(d)
		if got := shortDuration(dur); got != want {
			t.Errorf("shortDuration(%s) = %s, want %s", d, got, want)
		}
	}
}
