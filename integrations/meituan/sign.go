package meituan

import (
	"crypto/md5"
	"encoding/hex"
	"net/url"
	"sort"
	"strings"
)

// Sign returns Meituan's sig for a request to (or a push from Meituan to) rawURL, the full URL without its
// query, carrying params: lower-case hex MD5 of rawURL + "?" + "k1=v1&k2=v2…" + secret, keys sorted in byte
// order, every parameter but sig (empty values included), values raw (not URL-encoded; for pushes, the
// doubly encoded fields decoded twice). Only the first value of a key counts.
func Sign(rawURL string, params url.Values, secret string) string {
	keys := make([]string, 0, len(params))
	for k := range params {
		if k != "sig" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(rawURL)
	b.WriteByte('?')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(params.Get(k))
	}
	b.WriteString(secret)
	sum := md5.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}
