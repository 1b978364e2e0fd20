package wechat_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/o2ohub/o2ohub/core/shelf"
	"github.com/o2ohub/o2ohub/internal/hubtest"
	"github.com/o2ohub/o2ohub/models"
	"gorm.io/gorm"
)

// failCacheReads makes every read of cache_entries on db fail, as a database that is down for reads
// would, until the test ends.
func failCacheReads(t testing.TB, db *models.DB) {
	t.Helper()
	callbacks := db.Conn(context.Background()).Callback().Query()
	if err := callbacks.Before("gorm:query").Register("test:fail_cache_reads", func(tx *gorm.DB) {
		if tx.Statement.Table == "cache_entries" {
			tx.AddError(errors.New("cache read failed"))
		}
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { callbacks.Remove("test:fail_cache_reads") })
}

// TestCacheReadErrorIsNotAMiss: when the shared cache cannot be read, calls that need the access token or
// a mini-program code fail, without asking WeChat for a new token (or image) on every call, as they did
// when a database error read as an empty cache.
func TestCacheReadErrorIsNotAMiss(t *testing.T) {
	each(t, func(t testing.TB, db *models.DB) {
		h := newHub(t, db, hubOptions{})
		ctx := context.Background()
		a, _ := h.login("")
		h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": wx.IssuePhoneCode("13800001111")}).Expect(http.StatusOK) // the token is cached
		code := hubtest.Must(h.Service.Shelf.CreateQRCode(ctx, shelf.QRInput{Kind: shelf.QRProduct, Store: "S01", SKU: "MILK"})).Code
		phoneCode := wx.IssuePhoneCode("13800002222")

		failCacheReads(t, db)
		before := h.fake.Requests()
		for range 3 {
			if r := h.Call("POST", "/api/v1/me/phone/wechat", a, map[string]string{"code": phoneCode}); r.Status < 500 {
				t.Errorf("phone binding with an unreadable token cache = %s, want a server error", r)
			}
			if r := wxaGet(t, h.URL, code, hubtest.AdminToken); r.Status < 500 {
				t.Errorf("mini-program code with an unreadable cache = %d (%d bytes), want a server error", r.Status, len(r.Body))
			}
		}
		if n := h.fake.Requests() - before; n != 0 {
			t.Errorf("WeChat was asked %d times while the cache could not be read, want 0 (a read error is not a miss)", n)
		}
	})
}
