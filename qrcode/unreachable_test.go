package qrcode

import (
	"strings"
	"testing"
)

func TestLocalURL(t *testing.T) {
	for raw, want := range map[string]bool{
		"http://127.0.0.1:8080/q/X": true, "http://localhost/q/X": true, "http://192.168.1.5/q/X": true,
		"http://10.0.0.2/q/X": true, "http://[::1]:8080/q/X": true, "http://0.0.0.0/q/X": true, "/q/X": true,
		"https://hub.example.com/q/X": false, "http://203.0.113.7/q/X": false,
	} {
		if got := LocalURL(raw); got != want {
			t.Errorf("LocalURL(%q) = %v, want %v", raw, got, want)
		}
	}
}

// TestSheetWarnsOfUnreachableCodes checks that a sheet whose codes lead to a loopback or private address
// says so on screen and on every printed page, and a sheet of public URLs does not.
func TestSheetWarnsOfUnreachableCodes(t *testing.T) {
	render := func(base string) string {
		var b strings.Builder
		err := WriteSheet(&b, Sheet{StoreName: "人民广场店", StoreCode: "S01",
			Labels: []Label{{Name: "牛奶", SKU: "MILK-1L", PriceFen: 1590, URL: base + "/q/7K2M9XQ4", Code: "7K2M9XQ4"}}})
		if err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	local := render("http://127.0.0.1:8080")
	if !strings.Contains(local, `class="unreachable"`) || !strings.Contains(local, "@top-center") || !strings.Contains(local, "http://127.0.0.1:8080") {
		t.Fatalf("a sheet of loopback codes carries no warning:\n%s", local)
	}
	if public := render("https://hub.example.com"); strings.Contains(public, `class="unreachable"`) || strings.Contains(public, "@top-center") {
		t.Fatal("a sheet of public codes warns")
	}
}
