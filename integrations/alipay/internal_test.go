package alipay

import (
	"errors"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/internal/cn"
	sdk "github.com/smartwalle/alipay/v3"
)

// TestTradeStateOfQuery reads trade.query answers: a paid trade's send_pay_date is its payment time, and
// one that is missing or unreadable is an error, never a payment in year 1.
func TestTradeStateOfQuery(t *testing.T) {
	paid := func(status sdk.TradeStatus, date string) *sdk.TradeQueryRsp {
		return &sdk.TradeQueryRsp{TradeNo: "2026120522001", OutTradeNo: "O1", TradeStatus: status, TotalAmount: "18.50", SendPayDate: date}
	}
	when := time.Date(2026, 12, 5, 8, 30, 0, 0, cn.Zone)
	for _, tc := range []struct {
		name         string
		res          *sdk.TradeQueryRsp
		paid, closed bool
		malformed    bool
	}{
		{"success", paid(sdk.TradeStatusSuccess, "2026-12-05 08:30:00"), true, false, false},
		{"finished", paid(sdk.TradeStatusFinished, "2026-12-05 08:30:00"), true, false, false},
		{"closed after a full refund", paid(sdk.TradeStatusClosed, "2026-12-05 08:30:00"), true, true, false},
		{"closed unpaid", paid(sdk.TradeStatusClosed, ""), false, true, false},
		{"waiting", paid(sdk.TradeStatusWaitBuyerPay, ""), false, false, false},
		{"success with a pay date that is not a time", paid(sdk.TradeStatusSuccess, "yesterday"), false, false, true},
		{"success without a pay date", paid(sdk.TradeStatusSuccess, ""), false, false, true},
		{"closed with a pay date that is not a time", paid(sdk.TradeStatusClosed, "2026-13-45 25:00:00"), false, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := tradeState(tc.res)
			if tc.malformed {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("tradeState = %+v, %v; want an ErrMalformed naming send_pay_date", st, err)
				}
				return
			}
			if err != nil || st.Paid != tc.paid || st.Closed != tc.closed {
				t.Fatalf("tradeState = %+v, %v; want paid %v, closed %v", st, err, tc.paid, tc.closed)
			}
			if tc.paid && (!st.Payment.PaidAt.Equal(when) || st.Payment.AmountFen != 1850 || st.Payment.TransactionID != "2026120522001") {
				t.Errorf("payment = %+v, want 1850 fen paid at %v", st.Payment, when)
			}
		})
	}
}
