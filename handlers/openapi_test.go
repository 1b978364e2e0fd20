package handlers

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
)

// openapiMethods are the operation keys of an OpenAPI 3 path item.
var openapiMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// openapiPath turns a gin route path into OpenAPI form: /stores/:code -> /stores/{code}.
func openapiPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if len(s) > 1 && (s[0] == ':' || s[0] == '*') {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// TestOpenAPICoversEveryRoute keeps openapi.json and the router in step: every registered route must be
// documented, and every documented operation must be a registered route. The clerk console's HTML pages
// and forms under /console/ are not an API and need not be documented (those that are must still exist).
func TestOpenAPICoversEveryRoute(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openapiJSON, &doc); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.0.") {
		t.Fatalf("openapi.json declares openapi %q, want 3.0.x", doc.OpenAPI)
	}
	if len(doc.Paths) == 0 {
		t.Fatal("openapi.json has no paths")
	}

	documented := map[string]bool{}
	for path, item := range doc.Paths {
		for key := range item {
			if openapiMethods[key] {
				documented[strings.ToUpper(key)+" "+path] = true
			}
		}
	}

	engine := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	routed := map[string]bool{}
	for _, r := range engine.Routes() {
		routed[r.Method+" "+openapiPath(r.Path)] = true
	}
	if len(routed) == 0 {
		t.Fatal("the engine registered no routes")
	}

	var missing, stale []string
	for k := range routed {
		if !documented[k] && !strings.Contains(k, " /console/") {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !routed[k] {
			stale = append(stale, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(stale)
	for _, k := range missing {
		t.Errorf("route %s is not documented in openapi.json paths", k)
	}
	for _, k := range stale {
		t.Errorf("openapi.json documents %s, but no such route is registered", k)
	}
}

// TestOpenAPIServed checks the document is served as JSON at /api/openapi.json.
func TestOpenAPIServed(t *testing.T) {
	engine := New(Deps{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	rec := httptest.NewRecorder()
	engine.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/openapi.json = %d, want 200", rec.Code)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	if !json.Valid(rec.Body.Bytes()) {
		t.Error("served document is not valid JSON")
	}
}
