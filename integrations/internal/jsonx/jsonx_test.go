package jsonx_test

import (
	"encoding/json"
	"testing"

	"github.com/o2ohub/o2ohub/integrations/internal/jsonx"
)

func TestText(t *testing.T) {
	for in, want := range map[string]string{`"12"`: "12", `12`: "12", `1.50`: "1.50", `null`: "", `"牛奶"`: "牛奶", ` 7 `: "7"} {
		var got jsonx.Text
		if err := json.Unmarshal([]byte(in), &got); err != nil || string(got) != want {
			t.Errorf("%s → %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{`true`, `{}`, `[1]`, `"x`} {
		var got jsonx.Text
		if err := json.Unmarshal([]byte(bad), &got); err == nil {
			t.Errorf("%s was read as %q", bad, got)
		}
	}
}
