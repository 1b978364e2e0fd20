package main

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/o2ohub/o2ohub/core/events"
	"github.com/o2ohub/o2ohub/internal/cn"
)

// page is the catalogue's template: the prose, then one section per event type.
//
//go:embed events.md.tmpl
var page string

// section is one event type as the page shows it.
type section struct {
	events.Type
	// JSON is the sample data, pretty-printed with sorted keys.
	JSON string
}

// generate renders docs/events.md from the compiled catalogue, in its order.
func generate() ([]byte, error) {
	types := events.Types()
	if len(types) == 0 {
		return nil, fmt.Errorf("the catalogue is empty")
	}
	var secs []section
	var explicit []string
	for _, t := range types {
		if t.Name == "" || strings.TrimSpace(t.Description) == "" || len(t.Sample) == 0 {
			return nil, fmt.Errorf("event type %q needs a name, a description and a sample", t.Name)
		}
		for _, k := range t.Optional {
			if _, ok := t.Sample[k]; !ok {
				return nil, fmt.Errorf("event type %s: optional key %q is not in its sample", t.Name, k)
			}
		}
		js, err := pretty(t.Sample)
		if err != nil {
			return nil, fmt.Errorf("event type %s: %w", t.Name, err)
		}
		secs = append(secs, section{Type: t, JSON: js})
		if t.Explicit {
			explicit = append(explicit, t.Name)
		}
	}
	// The body of the first type's sample as a webhook carries it, from the consumer's own type.
	first := types[0]
	data, err := json.Marshal(first.Sample)
	if err != nil {
		return nil, err
	}
	body, err := pretty(events.Message{ID: events.MessageID(1042), Type: first.Name,
		CreatedAt: time.Date(2026, 12, 5, 10, 0, 0, 0, cn.Zone), Sequence: 1042, Data: data})
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New("events.md.tmpl").Funcs(template.FuncMap{"code": code}).Parse(page)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	err = tmpl.Execute(&out, map[string]any{"Types": secs, "Explicit": explicit, "Body": body})
	return out.Bytes(), err
}

// pretty writes v as indented JSON (maps with sorted keys), leaving <, > and & as they are.
func pretty(v any) (string, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// code writes names as inline code, separated by commas.
func code(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = "`" + n + "`"
	}
	return strings.Join(out, ", ")
}
