// Package jsonx reads the loosely typed JSON the instant-retail platforms write: fields that are a
// string in one answer and a number in the next. It is for the platform connectors and their fakes.
package jsonx

import (
	"bytes"
	"encoding/json"
)

// Text is a JSON string or number read as its text ("" for null): `"12"`, `12` and `1.50` read as
// "12", "12" and "1.50", the number's digits kept exactly as written.
type Text string

// UnmarshalJSON takes a string, a number or null.
func (t *Text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*t = ""
	case len(b) > 0 && b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*t = Text(n.String())
	}
	return nil
}
