package qrcode

import (
	"testing"
	"time"
)

// TestSignTokenLowerCasePayload is a finding of FuzzSignOpenToken: OpenToken reads a token in upper case
// (scanners type either case), so a payload signed with lower-case letters never opened again.
func TestSignTokenLowerCasePayload(t *testing.T) {
	key, exp := []byte("key"), time.Unix(1767225600, 0)
	for _, payload := range []string{"abc123", "Ab", "123456"} {
		tok := SignToken(key, payload, exp)
		got, err := OpenToken(key, tok, exp.Add(-time.Minute))
		if err != nil {
			t.Fatalf("OpenToken(SignToken(%q)) = %v", payload, err)
		}
		if want := map[string]string{"abc123": "ABC123", "Ab": "AB", "123456": "123456"}[payload]; got != want {
			t.Fatalf("OpenToken(SignToken(%q)) = %q, want %q", payload, got, want)
		}
	}
}
