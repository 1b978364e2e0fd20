package handlers

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/models"
)

// TestRouteWithoutAuthIsRefused registers store API and console handlers without their auth middleware,
// as a careless new route would be: every request is refused with 401 (no handler falls back to the
// admin actor), the wiring bug is logged, and nothing changes.
func TestRouteWithoutAuthIsRefused(t *testing.T) {
	hubEach(t, func(t *testing.T, db *models.DB) {
		e := newStEnv(t, db)
		paid := e.paidOrder(t, hubPickup("S01", "TEA", 1))
		h := &api{Deps: Deps{Service: e.svc, DB: db, Log: slog.New(slog.NewTextHandler(e.log, nil)), Clock: e.clock}}
		r := gin.New()
		r.Use(recoverJSON(), requestLog(h.Log))
		r.GET("/bare/orders", h.storeOrders)
		r.GET("/bare/orders/:no", h.storeOrder)
		r.POST("/bare/orders/:no/accept", h.storeStep(e.svc.AcceptOrder))
		r.POST("/bare/orders/:no/reject", h.storeReject)
		r.POST("/bare/pickup/verify", h.pickupVerify)
		r.GET("/bare/today", h.storeToday)
		r.GET("/bare/console", h.conOrders)
		r.GET("/bare/console/orders/:no", h.conOrder)
		for _, req := range []struct{ method, path, body string }{
			{"GET", "/bare/orders?store=S01", ""},
			{"GET", "/bare/orders/" + paid.OrderNo, ""},
			{"POST", "/bare/orders/" + paid.OrderNo + "/accept", ""},
			{"POST", "/bare/orders/" + paid.OrderNo + "/reject", `{"reason":"no actor"}`},
			{"POST", "/bare/pickup/verify", `{"code":"12345678","store":"S01"}`},
			{"GET", "/bare/today?store=S01", ""},
			{"GET", "/bare/console?store=S01", ""},
			{"GET", "/bare/console/orders/" + paid.OrderNo, ""},
		} {
			t.Run(req.method+" "+req.path, func(t *testing.T) {
				w := httptest.NewRecorder()
				r.ServeHTTP(w, httptest.NewRequest(req.method, req.path, strings.NewReader(req.body)))
				hubWantError(t, hubResp{status: w.Code, header: w.Header(), body: w.Body.Bytes()}, http.StatusUnauthorized, "unauthenticated")
			})
		}
		if got := e.order(t, e.shopper, paid.OrderNo); got.Status != core.StatusPaid {
			t.Errorf("order %s is %s after requests without an actor, want paid", paid.OrderNo, got.Status)
		}
		if !strings.Contains(e.log.String(), "auth middleware missing") {
			t.Errorf("the missing auth middleware was not logged")
		}
	})
}
