package core_test

import (
	"testing"

	"github.com/o2ohub/o2ohub/core"
)

func TestValidCourierPhone(t *testing.T) {
	for _, tc := range []struct {
		phone string
		ok    bool
	}{
		{"13800000000", true},
		{"+8613800000000", true},
		{"+86 138 0000 0000", true},
		{"138-0000-0000", true},
		{"13800000000,1234", true},
		{"13800000000转1234", true},
		{"021-12345678", true},
		{"0571 8888888", true},
		{"01012345678", true},
		{"010-12345678-123", true},
		{"400-800-8888", true},
		{"not-a-phone", false},
		{"", false},
		{"12345", false},
		{"12800000000", false},
		{"1380000000", false},
		{"138000000000", false},
		{"+1 415 555 0100", false},
		{"021-123", false},
		{"13800000000 ext", false},
		{"13800000000\x00", false},
	} {
		if got := core.ValidCourierPhone(tc.phone); got != tc.ok {
			t.Errorf("ValidCourierPhone(%q) = %v, want %v", tc.phone, got, tc.ok)
		}
	}
}
