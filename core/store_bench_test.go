package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/o2ohub/o2ohub/core"
	"github.com/o2ohub/o2ohub/core/staff"
	"github.com/o2ohub/o2ohub/models"
	"github.com/o2ohub/o2ohub/models/dbtest"
)

// BenchmarkPickupHandOver hands over b.N ready pickup orders at one store: "complete" is the admin step
// without a code (the order transition and its event alone), "confirm_code" the counter path a clerk
// takes (the store's counter lock, the failure-limit queries, the code lookup, the code used up, the
// audit row, then the same transition). Their ratio is what the counter's protections cost.
func BenchmarkPickupHandOver(b *testing.B) {
	for _, withCode := range []bool{false, true} {
		name := map[bool]string{false: "complete", true: "confirm_code"}[withCode]
		b.Run(name, func(b *testing.B) {
			dbtest.Each(b, func(tb testing.TB, db *models.DB) {
				b := asB(tb)
				e := newBenchEnv(b, db)
				orders := benchPreCreateOrders(b, e, b.N)
				codes := make([]string, b.N)
				for i, o := range orders {
					if _, err := e.svc.ApplyPayment(e.ctx, core.PaymentNotification{Provider: "sandbox", OrderNo: o.OrderNo,
						TransactionID: fmt.Sprintf("bench-txn-%d", i), AmountFen: o.TotalFen, PaidAt: time.Now().UTC()}); err != nil {
						b.Fatal(err)
					}
					if _, err := e.svc.AcceptOrder(e.ctx, staff.AdminTokenActor, o.OrderNo); err != nil {
						b.Fatal(err)
					}
					if _, err := e.svc.MarkReady(e.ctx, staff.AdminTokenActor, o.OrderNo); err != nil {
						b.Fatal(err)
					}
					err := db.Conn(e.ctx).Raw("SELECT pickup_codes.code FROM pickup_codes JOIN orders ON orders.id = pickup_codes.order_id WHERE orders.order_no = ?",
						o.OrderNo).Scan(&codes[i]).Error
					if err != nil {
						b.Fatal(err)
					}
				}
				b.ResetTimer()
				benchRunParallel(b, func(g int, i int64) error {
					if !withCode {
						_, err := e.svc.CompletePickup(e.ctx, staff.AdminTokenActor, orders[i].OrderNo)
						return err
					}
					clerk := staff.Actor{Username: fmt.Sprintf("clerk%d", g), Role: staff.RoleClerk, Store: benchStore}
					_, err := e.svc.ConfirmPickup(e.ctx, clerk, "", codes[i])
					return err
				})
				benchReport(b)
				if n := e.count(b, "orders", "status = ?", string(core.StatusCompleted)); n != int64(b.N) {
					b.Errorf("%d orders completed after %d hand-overs", n, b.N)
				}
				if n := e.count(b, "pickup_codes", "state = ?", "used"); n != int64(b.N) {
					b.Errorf("%d codes used after %d hand-overs", n, b.N)
				}
			})
		})
	}
}
