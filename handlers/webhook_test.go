package handlers

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core/domain"
)

// stubVerifier answers every notification with its notice or error.
type stubVerifier struct {
	n   notice
	err error
}

func (v stubVerifier) verifyNotification(context.Context, http.Header, []byte) (notice, error) {
	return v.n, v.err
}

// TestWebhookDoor checks the door's classification (from the error table) and that each provider is
// answered in its own format, with what we failed at logged as an error.
func TestWebhookDoor(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	replies := []struct {
		name  string
		reply webhookReplier
		// failBody is what the provider must be answered with status (msg is the reason, where shown).
		okStatus int
		okBody   string
		failBody func(status int, msg string) string
	}{
		{"wechatpay", wechatPayReply{}, 204, "", func(_ int, msg string) string { return `{"code":"FAIL","message":"` + msg + `"}` }},
		{"alipay", alipayReply{}, 200, "success", func(int, string) string { return "fail" }},
		{"sandbox", sandboxReply{}, 200, `{"result":"ignored"}`, func(status int, msg string) string {
			code := map[int]string{400: "invalid_argument", 401: "unauthenticated", 404: "not_found", 413: "invalid_argument", 500: "internal"}[status]
			return `{"error":{"code":"` + code + `","message":"` + msg + `"}}`
		}},
	}
	cases := []struct {
		name     string
		verifier notificationVerifier
		body     string
		status   int
		msg      string // the reason a provider that shows one gets
		sandbox  string // the sandbox's reason, where it differs
		level    string // the log line's level
	}{
		{"genuine", stubVerifier{n: notice{Attrs: []any{"id", "EV1"}}}, "{}", 0, "", "", "INFO"},
		{"forged", stubVerifier{err: notificationError(domain.ErrUnauthenticated, errors.New("signature does not verify"))}, "{}", 401, "signature does not verify", "", "WARN"},
		{"verified but malformed", stubVerifier{err: notificationError(domain.ErrInvalidArgument, errors.New("timestamp is not a number"))}, "{}", 400, "timestamp is not a number", "", "ERROR"},
		{"verified but our key cannot open it", stubVerifier{err: errors.New("does not decrypt with our key")}, "{}", 500, "temporarily unable to process the notification", "internal error", "ERROR"},
		{"over the cap", stubVerifier{}, strings.Repeat(" ", MaxWebhookBody+1), 413, "notification body too large", "", ""},
		{"not configured", nil, "{}", 404, "not configured here", "", ""},
	}
	for _, rp := range replies {
		for _, tc := range cases {
			t.Run(rp.name+"/"+tc.name, func(t *testing.T) {
				var logs bytes.Buffer
				h := &api{Deps: Deps{Log: slog.New(slog.NewTextHandler(&logs, nil))}}
				r := gin.New()
				r.Use(recoverJSON(), requestLog(h.Log))
				r.POST("/hook", h.webhook(webhookDoor{name: rp.name, verifier: tc.verifier, off: "not configured here", reply: rp.reply}))
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest("POST", "/hook", strings.NewReader(tc.body)))
				status, body := tc.status, ""
				if status == 0 {
					status, body = rp.okStatus, rp.okBody
				} else {
					msg := tc.msg
					if rp.name == "sandbox" && tc.sandbox != "" {
						msg = tc.sandbox
					}
					body = rp.failBody(status, msg)
				}
				if w.Code != status || strings.TrimSpace(w.Body.String()) != body {
					t.Errorf("answer = %d %s, want %d %s", w.Code, w.Body, status, body)
				}
				if tc.level != "" && !strings.Contains(logs.String(), "level="+tc.level+" msg=\""+rp.name+" notification") {
					t.Errorf("no %s line for the notification in the log:\n%s", tc.level, logs.String())
				}
			})
		}
	}
}
