package callopts

import (
	"net/http"
	"testing"
	"time"
)

func TestBase(t *testing.T) {
	if got, err := Base("x", "", "https://api.example.com/v1"); err != nil || got != "https://api.example.com/v1" {
		t.Fatalf("default: %q, %v", got, err)
	}
	for _, bad := range []string{"api.example.com", "ftp://api.example.com", "https://", "https://h/p?q=1", "://"} {
		if _, err := Base("meituan", bad, "https://d"); err == nil {
			t.Errorf("base %q accepted", bad)
		}
	}
	if Client(nil, time.Second).Timeout != time.Second || Client(http.DefaultClient, time.Second) != http.DefaultClient {
		t.Fatal("Client")
	}
	if Clock(nil) == nil || TrimSlash("https://h/p//") != "https://h/p" {
		t.Fatal("Clock or TrimSlash")
	}
}
