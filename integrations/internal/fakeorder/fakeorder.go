package fakeorder

import (
	"encoding/json"
	"net/http"
)

// The fakes' own names for an order's state.
const (
	StatusNew       = "new"
	StatusConfirmed = "confirmed"
	StatusPrepared  = "prepared"
	StatusCancelled = "cancelled"
	StatusCompleted = "completed"
)

// Line is one line of an order a fake places or refunds.
type Line struct {
	Code     string
	Name     string
	Qty      int64
	PriceFen int64
}

// Order is a copy of an order as a fake holds it. Status is one of the Status constants; Lines are the
// units ordered.
type Order struct {
	ID, ShopID   string
	DaySeq       int
	Status       string
	Lines        []Line
	CancelReason string
	CancelCode   string
}

// SandboxForm serves POST /sandbox/orders, {"shop_id":…,"lines":[{"code","name","qty","price_fen"}]}: it
// places the order with place and answers {"order_id":…}, or 400 with {"error":…}.
func SandboxForm(place func(shopID string, lines []Line) (string, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			answer(w, http.StatusMethodNotAllowed, map[string]string{"error": "POST only"})
			return
		}
		var in struct {
			ShopID string `json:"shop_id"`
			Lines  []struct {
				Code     string `json:"code"`
				Name     string `json:"name"`
				Qty      int64  `json:"qty"`
				PriceFen int64  `json:"price_fen"`
			} `json:"lines"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16)).Decode(&in); err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": "the body is not an order form"})
			return
		}
		lines := make([]Line, len(in.Lines))
		for i, l := range in.Lines {
			lines[i] = Line(l)
		}
		id, err := place(in.ShopID, lines)
		if err != nil {
			answer(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		answer(w, http.StatusOK, map[string]string{"order_id": id})
	})
}

func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
