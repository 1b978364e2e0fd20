package core

// Status is the state of an order. This file is the one place that says which states exist and which
// transitions between them are allowed; every change of state goes through Service.transition, a
// conditional update checked by rows affected.
type Status string

// The order states.
const (
	StatusPendingPayment Status = "pending_payment"
	StatusPaid           Status = "paid"
	StatusAccepted       Status = "accepted"
	StatusReady          Status = "ready"
	StatusCompleted      Status = "completed"
	StatusDelivering     Status = "delivering"
	StatusDelivered      Status = "delivered"
	StatusCancelled      Status = "cancelled"
	StatusExpired        Status = "expired"
	StatusRefunding      Status = "refunding"
	StatusRefunded       Status = "refunded"
)

var transitions = map[Status][]Status{
	StatusPendingPayment: {StatusPaid, StatusCancelled, StatusExpired},
	// A payment that arrives after expiry is honoured when the stock is still there, refunded otherwise.
	StatusExpired:   {StatusPaid, StatusRefunding},
	StatusCancelled: {StatusRefunding},
	// A platform order is cancelled on its platform (which refunds the buyer) at any point before it is
	// complete, and completed when the platform says its rider delivered it.
	StatusPaid:       {StatusAccepted, StatusRefunding, StatusCancelled},
	StatusAccepted:   {StatusReady, StatusDelivering, StatusRefunding, StatusCancelled, StatusCompleted},
	StatusReady:      {StatusCompleted, StatusRefunding, StatusCancelled},
	StatusCompleted:  {StatusRefunding},
	StatusDelivering: {StatusDelivered},
	StatusDelivered:  {StatusRefunding},
	StatusRefunding:  {StatusRefunded},
}

// CanTransition reports whether an order may move from one state to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}
