package handlers

import (
	"net/http"
	"testing"

	"github.com/o2ohub/o2ohub/models"
)

// TestSignOut ends shopper sessions: DELETE /api/v1/auth/session ends the one it is called with, at
// once and nowhere else; ?all=true ends every session of the member and no one else's.
func TestSignOut(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newHubEnv(t, db, hubConfig{})
		signOut := func(t *testing.T, auth, query string) hubResp {
			t.Helper()
			return e.do(t, hubReq{method: http.MethodDelete, path: "/api/v1/auth/session" + query, auth: auth})
		}
		wantMe := func(t *testing.T, auth string, status int) {
			t.Helper()
			if r := e.get(t, "/api/v1/me", auth); r.status != status {
				t.Errorf("GET /me = %s, want %d", r, status)
			}
		}
		phone, _ := e.login(t, "alice")
		laptop, _ := e.login(t, "alice")
		bob, _ := e.login(t, "bob")

		hubStep(t, "signing out ends this session at once, and only it", func(t *testing.T) {
			if r := signOut(t, phone, ""); r.status != http.StatusNoContent {
				t.Fatalf("DELETE session = %s, want 204", r)
			}
			wantMe(t, phone, http.StatusUnauthorized)
			hubWantError(t, e.get(t, "/api/v1/orders", phone), http.StatusUnauthorized, "unauthenticated")
			wantMe(t, laptop, http.StatusOK)
			wantMe(t, bob, http.StatusOK)
			// The ended token cannot sign out again.
			hubWantError(t, signOut(t, phone, ""), http.StatusUnauthorized, "unauthenticated")
		})

		t.Run("bad requests end nothing", func(t *testing.T) {
			hubWantError(t, signOut(t, "", ""), http.StatusUnauthorized, "unauthenticated")
			hubWantError(t, signOut(t, hubBearer("not-a-token"), "?all=true"), http.StatusUnauthorized, "unauthenticated")
			if msg := hubWantError(t, signOut(t, laptop, "?all=maybe"), http.StatusBadRequest, "invalid_argument"); msg == "" {
				t.Error("no message")
			}
			wantMe(t, laptop, http.StatusOK)
		})

		hubStep(t, "all=true ends every session of the member", func(t *testing.T) {
			tablet, _ := e.login(t, "alice")
			if r := signOut(t, laptop, "?all=true"); r.status != http.StatusNoContent {
				t.Fatalf("DELETE session?all=true = %s, want 204", r)
			}
			wantMe(t, laptop, http.StatusUnauthorized)
			wantMe(t, tablet, http.StatusUnauthorized)
			wantMe(t, bob, http.StatusOK)
			var n int64
			if err := db.Conn(t.Context()).Table("sessions").Count(&n).Error; err != nil || n != 1 {
				t.Errorf("%d sessions left (%v), want bob's 1", n, err)
			}
		})

		hubStep(t, "signing in again works", func(t *testing.T) {
			again, _ := e.login(t, "alice")
			wantMe(t, again, http.StatusOK)
		})
	})
}
