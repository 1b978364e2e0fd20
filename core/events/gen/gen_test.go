package main

import (
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/docgen"
)

// TestCatalogueIsUpToDate is the drift test: docs/events.md must be exactly what the generator makes of
// events.Types().
func TestCatalogueIsUpToDate(t *testing.T) {
	want, err := generate()
	if err != nil {
		t.Fatalf("generating the catalogue: %v", err)
	}
	if err := docgen.Drift(reference, want, command); err != nil {
		t.Fatalf("against events.Types(): %v", err)
	}
}

// TestEveryTypeHasASection checks the page holds each type, in catalogue order, with its sample data.
func TestEveryTypeHasASection(t *testing.T) {
	out, err := generate()
	if err != nil {
		t.Fatal(err)
	}
	doc, at := string(out), 0
	for _, ty := range events.Types() {
		i := strings.Index(doc[at:], "\n## `"+ty.Name+"`\n")
		if i < 0 {
			t.Fatalf("no section for %s after byte %d (or out of catalogue order)", ty.Name, at)
		}
		at += i + 1
		js, err := pretty(ty.Sample)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(doc[at:], "```json\n"+js+"\n```") {
			t.Errorf("the section of %s lacks its sample data", ty.Name)
		}
	}
	if !strings.Contains(doc, `"sequence": 1042`) || !strings.Contains(doc, "`alert.raised`") {
		t.Errorf("the intro lacks the body's shape or the explicit types:\n%.1500s", doc)
	}
}

func TestPrettySortsKeysAndKeepsText(t *testing.T) {
	got, err := pretty(map[string]any{"b": 1, "a": map[string]any{"z": "<顺丰>", "y": 2}})
	if err != nil {
		t.Fatal(err)
	}
	want := "{\n  \"a\": {\n    \"y\": 2,\n    \"z\": \"<顺丰>\"\n  },\n  \"b\": 1\n}"
	if got != want {
		t.Errorf("pretty = %s, want %s", got, want)
	}
}
