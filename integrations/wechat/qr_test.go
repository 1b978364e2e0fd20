package wechat_test

// Mini-program codes of shelf QR codes: fetched from WeChat (the fake) through the admin API, kept in
// the shared cache, and WeChat's JSON refusal turned into a 400 that names its errcode.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/models"
)

// wxaResp is an answer of the wxacode endpoint, with its content type.
type wxaResp struct {
	status int
	ctype  string
	body   []byte
}

// wxaGet asks the hub at base for the mini-program code of code; auth is the admin token or "".
func wxaGet(t testing.TB, base, code, auth string) wxaResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+"/api/v1/admin/qrcodes/"+code+"/wxacode", nil)
	if err != nil {
		t.Fatal(err)
	}
	if auth != "" {
		req.Header.Set("Authorization", "Bearer "+auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return wxaResp{res.StatusCode, res.Header.Get("Content-Type"), b}
}

// wxaError checks an error answer and returns its code and message.
func wxaError(t testing.TB, r wxaResp, status int) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if r.status != status || !strings.HasPrefix(r.ctype, "application/json") || json.Unmarshal(r.body, &e) != nil || e.Error.Code == "" {
		t.Fatalf("got %d %s %s, want a JSON error with status %d", r.status, r.ctype, r.body, status)
	}
	return e.Error.Code, e.Error.Message
}

// wxaCached returns the cached mini-program codes: key → value.
func wxaCached(t testing.TB, db *models.DB) map[string]string {
	t.Helper()
	var rows []models.CacheEntry
	if err := db.Conn(context.Background()).Where("key LIKE ?", "wxacode:%").Find(&rows).Error; err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, r := range rows {
		out[r.Key] = r.Value
	}
	return out
}

func TestWXACodeIsFetchedOnceAndCached(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		code := must(h.svc.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRProduct, Store: "S01", SKU: "MILK"})).Code
		key := "wxacode:" + testAppID + ":pages/scan/index:" + code

		first := wxaGet(t, h.url, code, adminToken)
		if first.status != http.StatusOK || first.ctype != "image/jpeg" {
			t.Fatalf("wxacode = %d %s %.200s, want 200 image/jpeg", first.status, first.ctype, first.body)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(first.body))
		if err != nil || cfg.Width != 430 || cfg.Height != 430 {
			t.Fatalf("the mini-program code is not a 430×430 JPEG: %v %+v", err, cfg)
		}
		cached := wxaCached(t, db)
		if len(cached) != 1 || cached[key] != base64.StdEncoding.EncodeToString(first.body) {
			t.Fatalf("cache holds %d mini-program codes (keys %v), want exactly the image under %s", len(cached), wxaKeys(cached), key)
		}

		// Asked again: the same image, and it comes from the cache, not from WeChat: a value planted in
		// the cache entry is what the hub serves.
		if again := wxaGet(t, h.url, code, adminToken); again.status != http.StatusOK || !bytes.Equal(again.body, first.body) {
			t.Fatalf("second wxacode = %d (%d bytes), want the same image", again.status, len(again.body))
		}
		planted := []byte("\xff\xd8\xff\xe0 planted in the cache")
		if err := db.Conn(ctx).Model(&models.CacheEntry{}).Where("key = ?", key).Update("value", base64.StdEncoding.EncodeToString(planted)).Error; err != nil {
			t.Fatal(err)
		}
		if fromCache := wxaGet(t, h.url, code, adminToken); fromCache.status != http.StatusOK || !bytes.Equal(fromCache.body, planted) {
			t.Fatalf("third wxacode = %d, %d bytes starting % x, want the planted cache value: the image was fetched from WeChat again", fromCache.status, len(fromCache.body), fromCache.body[:min(8, len(fromCache.body))])
		}
		if n := len(wxaCached(t, db)); n != 1 {
			t.Fatalf("%d cached mini-program codes after repeated requests, want 1", n)
		}

		// Another code is another scene: another image, cached under its own key.
		other := must(h.svc.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRStore, Store: "S01"})).Code
		o := wxaGet(t, h.url, other, adminToken)
		if o.status != http.StatusOK || bytes.Equal(o.body, first.body) {
			t.Fatalf("wxacode of %s = %d, want 200 with an image of its own", other, o.status)
		}
		if _, ok := wxaCached(t, db)["wxacode:"+testAppID+":pages/scan/index:"+other]; !ok {
			t.Fatalf("the second code's image is not cached")
		}

		// Unknown codes and missing credentials never reach WeChat.
		for _, c := range []string{"ZZZZZZZZ", "abc"} {
			if got, _ := wxaError(t, wxaGet(t, h.url, c, adminToken), http.StatusNotFound); got != "not_found" {
				t.Errorf("unknown code %s: error code %q, want not_found", c, got)
			}
		}
		if got, _ := wxaError(t, wxaGet(t, h.url, code, ""), http.StatusUnauthorized); got != "unauthenticated" {
			t.Errorf("no token: error code %q, want unauthenticated", got)
		}
		if n := len(wxaCached(t, db)); n != 2 {
			t.Errorf("%d cached mini-program codes, want 2", n)
		}
	})
}

func TestWXACodeRefusedByWeChat(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		code := must(h.svc.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRProduct, Store: "S01", SKU: "MILK"})).Code
		// The hub's scene is the 8-character code, which WeChat always takes; a page WeChat does not know
		// is what makes it answer with a JSON errcode instead of an image.
		for _, page := range []string{"no/such/page", "/pages/scan/index", "pages/scan/index?code=1"} {
			srv := httptest.NewServer(handlers.New(handlers.Deps{Service: h.svc, DB: db, Log: slog.New(slog.DiscardHandler), Clock: h.clock,
				AdminToken: adminToken, WeChat: h.mp, ScanPage: page}))
			for try := 1; try <= 2; try++ { // a refusal is not cached: asking again asks WeChat again
				r := wxaGet(t, srv.URL, code, adminToken)
				kind, msg := wxaError(t, r, http.StatusBadRequest)
				if kind != "invalid_argument" || !strings.Contains(msg, "41030") {
					t.Errorf("page %q, try %d: %s %q, want invalid_argument naming errcode 41030", page, try, kind, msg)
				}
				for _, leak := range []string{"access_token", testSecret, "rid:"} {
					if strings.Contains(string(r.body), leak) {
						t.Errorf("page %q: the answer leaks %q: %s", page, leak, r.body)
					}
				}
			}
			srv.Close()
		}
		if cached := wxaCached(t, db); len(cached) != 0 {
			t.Fatalf("refused mini-program codes were cached: %v", wxaKeys(cached))
		}
		// The same code on the well-configured hub still works, and only that is cached.
		if r := wxaGet(t, h.url, code, adminToken); r.status != http.StatusOK || r.ctype != "image/jpeg" {
			t.Fatalf("wxacode on the good hub = %d %s %s", r.status, r.ctype, r.body)
		}
		if cached := wxaCached(t, db); len(cached) != 1 {
			t.Fatalf("cache holds %v, want the one good image", wxaKeys(cached))
		}
	})
}

func wxaKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
