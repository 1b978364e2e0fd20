// Package callopts settles what every platform connector's New shares: the API base URL (its default, and
// that it is an absolute http(s) URL), the HTTP client (one with a timeout unless given) and the clock.
// It is for the connectors under integrations only.
package callopts

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Base returns base, or def when base is empty, without a trailing slash kept or added (as given), after
// checking it is an absolute http(s) URL without a query; the error names the platform.
func Base(platform, base, def string) (string, error) {
	if base == "" {
		base = def
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
		return "", fmt.Errorf("%s: base %q is not an absolute http(s) URL without a query", platform, base)
	}
	return base, nil
}

// TrimSlash returns s without trailing slashes.
func TrimSlash(s string) string { return strings.TrimRight(s, "/") }

// Client returns hc, or a client that gives up on a call after timeout.
func Client(hc *http.Client, timeout time.Duration) *http.Client {
	if hc != nil {
		return hc
	}
	return &http.Client{Timeout: timeout}
}

// Clock returns now, or time.Now.
func Clock(now func() time.Time) func() time.Time {
	if now != nil {
		return now
	}
	return time.Now
}
