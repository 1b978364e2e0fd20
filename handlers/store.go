package handlers

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/domain"
	"github.com/o2ohub/o2ohub/core/staff"
)

// storeRoutes serves the store API: staff sign-in, and the order and pickup endpoints a store system
// (a POS) calls with the bearer token it got from signing in.
func (h *api) storeRoutes(v1 *gin.RouterGroup) {
	v1.POST("/store/login", sharedLimit(h.lim.staffLogin), h.storeLogin)
	st := v1.Group("/store", staffAuth(h.Service))
	st.POST("/logout", h.storeLogout)
	st.GET("/orders", h.storeOrders)
	st.GET("/orders/:no", h.storeOrder)
	st.POST("/orders/:no/accept", h.storeStep(h.Service.AcceptOrder))
	st.POST("/orders/:no/reject", h.storeReject)
	st.POST("/orders/:no/ready", h.storeStep(h.Service.MarkReady))
	st.POST("/orders/:no/dispatch", h.storeDispatch)
	st.POST("/orders/:no/deliver", h.storeStep(h.Service.Deliver))
	st.POST("/orders/:no/return", h.idempotent, h.storeReturn)
	st.POST("/pickup/verify", h.pickupVerify)
	st.POST("/pickup/confirm", h.pickupConfirm)
	st.GET("/today", h.storeToday)
}

// errNoActor is what actor panics with when a request carries no actor: its route was registered without
// staffAuth or adminAuth, a wiring bug. recoverJSON logs it and refuses the request through the error
// table (401), so such a route refuses everyone instead of running as someone.
var errNoActor = &domain.Error{Kind: domain.ErrUnauthenticated, Msg: "this endpoint requires a store API token or the admin token"}

// actor returns the staff member a request acts as: the signed-in staff member (set by staffAuth) or the
// admin token's actor (set by adminAuth). It fails closed: without an actor in the context it panics
// with errNoActor, which stops the handler before it calls core.
func actor(c *gin.Context) staff.Actor {
	if a, ok := c.Value("actor").(staff.Actor); ok {
		return a
	}
	panic(errNoActor)
}

func (h *api) storeLogin(c *gin.Context) {
	var in struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.Staff.SignIn(c.Request.Context(), in.Username, in.Password, staff.SessionAPI)
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeLogout(c *gin.Context) {
	if err := h.Service.Staff.SignOut(c.Request.Context(), bearer(c)); err != nil {
		respondError(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

func (h *api) storeOrders(c *gin.Context) {
	out, err := h.Service.StoreOrders(c.Request.Context(), actor(c), c.Query("store"), c.Query("status"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeOrder(c *gin.Context) {
	out, err := h.Service.StoreOrder(c.Request.Context(), actor(c), c.Param("no"))
	respond(c, http.StatusOK, out, err)
}

// storeStep serves one fulfilment step of an order, for the store API and the admin API alike.
func (h *api) storeStep(step func(context.Context, staff.Actor, string) (core.OrderView, error)) gin.HandlerFunc {
	return func(c *gin.Context) {
		out, err := step(c.Request.Context(), actor(c), c.Param("no"))
		respond(c, http.StatusOK, out, err)
	}
}

func (h *api) storeReject(c *gin.Context) {
	var in struct {
		Reason string `json:"reason"`
	}
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.RejectOrder(c.Request.Context(), actor(c), c.Param("no"), in.Reason)
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeDispatch(c *gin.Context) {
	var in struct {
		Courier    string `json:"courier"`
		Name       string `json:"name"`
		Phone      string `json:"phone"`
		TrackingNo string `json:"tracking_no"`
	}
	if !bindJSON(c, &in) {
		return
	}
	if in.Courier == "" {
		in.Courier = in.Name
	}
	out, err := h.Service.Dispatch(c.Request.Context(), actor(c), c.Param("no"), core.Courier{Name: in.Courier, Phone: in.Phone, TrackingNo: in.TrackingNo})
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeReturn(c *gin.Context) {
	var in core.ReturnInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.ReturnItems(c.Request.Context(), actor(c), c.Param("no"), in)
	respond(c, http.StatusOK, out, err)
}

// pickupInput is a code typed at the counter or a token scanned from the shopper's phone; an admin
// names the store whose counter it is.
type pickupInput struct {
	Code  string `json:"code"`
	Store string `json:"store"`
}

func (h *api) pickupVerify(c *gin.Context) {
	var in pickupInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.VerifyPickup(c.Request.Context(), actor(c), in.Store, in.Code)
	respond(c, http.StatusOK, out, err)
}

func (h *api) pickupConfirm(c *gin.Context) {
	var in pickupInput
	if !bindJSON(c, &in) {
		return
	}
	out, err := h.Service.ConfirmPickup(c.Request.Context(), actor(c), in.Store, in.Code)
	respond(c, http.StatusOK, out, err)
}

func (h *api) storeToday(c *gin.Context) {
	out, err := h.Service.StoreToday(c.Request.Context(), actor(c), c.Query("store"))
	respond(c, http.StatusOK, out, err)
}

func (h *api) putStaff(c *gin.Context) {
	var in staff.Input
	if !bindJSON(c, &in) {
		return
	}
	in.Username = c.Param("username")
	out, err := h.Service.Staff.Put(c.Request.Context(), in)
	respond(c, http.StatusOK, out, err)
}

func (h *api) pickup(c *gin.Context) {
	out, err := h.Service.Pickup(c.Request.Context(), memberID(c), c.Param("no"))
	respond(c, http.StatusOK, out, err)
}
