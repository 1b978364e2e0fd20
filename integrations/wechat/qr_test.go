package wechat_test

// Mini-program codes of shelf QR codes: fetched from WeChat (the fake) through the admin API, kept in
// the shared cache, and WeChat's JSON refusal turned into a 400 that names its errcode.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"image/jpeg"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/handlers"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/internal/hubtest/httpx"
	"github.com/o2ohub/o2ohub/models"
)

// wxaGet asks the hub at base for the mini-program code of code; auth is the admin token or "".
func wxaGet(t testing.TB, base, code, auth string) httpx.Response {
	t.Helper()
	return (&httpx.Client{Base: base}).Call(t, http.MethodGet, "/api/v1/admin/qrcodes/"+code+"/wxacode", auth, nil)
}

// wxaError checks an error answer and returns its code and message.
func wxaError(t testing.TB, r httpx.Response, status int) (string, string) {
	t.Helper()
	var e struct {
		Error struct{ Code, Message string }
	}
	if ctype := r.Header.Get("Content-Type"); r.Status != status || !strings.HasPrefix(ctype, "application/json") || json.Unmarshal(r.Body, &e) != nil || e.Error.Code == "" {
		t.Fatalf("got %d %s %s, want a JSON error with status %d", r.Status, ctype, r.Body, status)
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
		code := hubtest.Must(h.Service.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRProduct, Store: "S01", SKU: "MILK"})).Code
		key := "wxacode:" + testAppID + ":pages/scan/index:" + code

		first := wxaGet(t, h.URL, code, hubtest.AdminToken)
		if first.Status != http.StatusOK || first.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("wxacode = %d %s %.200s, want 200 image/jpeg", first.Status, first.Header.Get("Content-Type"), first.Body)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(first.Body))
		if err != nil || cfg.Width != 430 || cfg.Height != 430 {
			t.Fatalf("the mini-program code is not a 430×430 JPEG: %v %+v", err, cfg)
		}
		cached := wxaCached(t, db)
		if len(cached) != 1 || cached[key] != base64.StdEncoding.EncodeToString(first.Body) {
			t.Fatalf("cache holds %d mini-program codes (keys %v), want exactly the image under %s", len(cached), wxaKeys(cached), key)
		}

		// Asked again: the same image, and it comes from the cache, not from WeChat: a value planted in
		// the cache entry is what the hub serves.
		if again := wxaGet(t, h.URL, code, hubtest.AdminToken); again.Status != http.StatusOK || !bytes.Equal(again.Body, first.Body) {
			t.Fatalf("second wxacode = %d (%d bytes), want the same image", again.Status, len(again.Body))
		}
		planted := []byte("\xff\xd8\xff\xe0 planted in the cache")
		if err := db.Conn(ctx).Model(&models.CacheEntry{}).Where("key = ?", key).Update("value", base64.StdEncoding.EncodeToString(planted)).Error; err != nil {
			t.Fatal(err)
		}
		if fromCache := wxaGet(t, h.URL, code, hubtest.AdminToken); fromCache.Status != http.StatusOK || !bytes.Equal(fromCache.Body, planted) {
			t.Fatalf("third wxacode = %d, %d bytes starting % x, want the planted cache value: the image was fetched from WeChat again", fromCache.Status, len(fromCache.Body), fromCache.Body[:min(8, len(fromCache.Body))])
		}
		if n := len(wxaCached(t, db)); n != 1 {
			t.Fatalf("%d cached mini-program codes after repeated requests, want 1", n)
		}

		// Another code is another scene: another image, cached under its own key.
		other := hubtest.Must(h.Service.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRStore, Store: "S01"})).Code
		o := wxaGet(t, h.URL, other, hubtest.AdminToken)
		if o.Status != http.StatusOK || bytes.Equal(o.Body, first.Body) {
			t.Fatalf("wxacode of %s = %d, want 200 with an image of its own", other, o.Status)
		}
		if _, ok := wxaCached(t, db)["wxacode:"+testAppID+":pages/scan/index:"+other]; !ok {
			t.Fatalf("the second code's image is not cached")
		}

		// Unknown codes and missing credentials never reach WeChat.
		for _, c := range []string{"ZZZZZZZZ", "abc"} {
			if got, _ := wxaError(t, wxaGet(t, h.URL, c, hubtest.AdminToken), http.StatusNotFound); got != "not_found" {
				t.Errorf("unknown code %s: error code %q, want not_found", c, got)
			}
		}
		if got, _ := wxaError(t, wxaGet(t, h.URL, code, ""), http.StatusUnauthorized); got != "unauthenticated" {
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
		code := hubtest.Must(h.Service.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRProduct, Store: "S01", SKU: "MILK"})).Code
		// The hub's scene is the 8-character code, which WeChat always takes; a page WeChat does not know
		// is what makes it answer with a JSON errcode instead of an image.
		for _, page := range []string{"no/such/page", "/pages/scan/index", "pages/scan/index?code=1"} {
			srv := httptest.NewServer(handlers.New(handlers.Deps{Service: h.Service, DB: db, Log: slog.New(slog.DiscardHandler), Clock: h.Clock,
				AdminToken: hubtest.AdminToken, WeChat: h.mp, ScanPage: page}))
			for try := 1; try <= 2; try++ { // a refusal is not cached: asking again asks WeChat again
				r := wxaGet(t, srv.URL, code, hubtest.AdminToken)
				kind, msg := wxaError(t, r, http.StatusBadRequest)
				if kind != "invalid_argument" || !strings.Contains(msg, "41030") {
					t.Errorf("page %q, try %d: %s %q, want invalid_argument naming errcode 41030", page, try, kind, msg)
				}
				for _, leak := range []string{"access_token", testSecret, "rid:"} {
					if strings.Contains(string(r.Body), leak) {
						t.Errorf("page %q: the answer leaks %q: %s", page, leak, r.Body)
					}
				}
			}
			srv.Close()
		}
		if cached := wxaCached(t, db); len(cached) != 0 {
			t.Fatalf("refused mini-program codes were cached: %v", wxaKeys(cached))
		}
		// The same code on the well-configured hub still works, and only that is cached.
		if r := wxaGet(t, h.URL, code, hubtest.AdminToken); r.Status != http.StatusOK || r.Header.Get("Content-Type") != "image/jpeg" {
			t.Fatalf("wxacode on the good hub = %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
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
