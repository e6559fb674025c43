package ordering

// Status is where an order is in its life.
type Status int

// The statuses. The checkout saga moves an order from Pending to Confirmed
// or Failed; admins move it on to Shipped and Completed.
const (
	StatusUnspecified Status = iota
	StatusPending
	StatusStockReserved
	StatusAwaitingPayment
	StatusConfirmed
	StatusShipped
	StatusCompleted
	StatusFailed
	StatusCancelled
)

// Statuses lists every status, in the order of the constants.
var Statuses = []Status{StatusPending, StatusStockReserved, StatusAwaitingPayment, StatusConfirmed, StatusShipped, StatusCompleted, StatusFailed, StatusCancelled}

// String names the status in the words of the contract.
func (s Status) String() string {
	switch s {
	case StatusPending:
		return "PENDING"
	case StatusStockReserved:
		return "STOCK_RESERVED"
	case StatusAwaitingPayment:
		return "AWAITING_PAYMENT"
	case StatusConfirmed:
		return "CONFIRMED"
	case StatusShipped:
		return "SHIPPED"
	case StatusCompleted:
		return "COMPLETED"
	case StatusFailed:
		return "FAILED"
	case StatusCancelled:
		return "CANCELLED"
	}
	return "UNSPECIFIED"
}

// Valid reports whether s is one of Statuses.
func (s Status) Valid() bool { return s >= StatusPending && s <= StatusCancelled }

// Terminal reports whether nothing can happen to an order in s any more
// (WatchOrder ends there). A cancelled or failed order may still owe a
// compensation to the gateway; that is no transition.
func (s Status) Terminal() bool {
	return s == StatusCompleted || s == StatusFailed || s == StatusCancelled
}

// InSaga reports whether the checkout saga still has a step to take.
func (s Status) InSaga() bool {
	return s == StatusPending || s == StatusStockReserved || s == StatusAwaitingPayment
}

// transitions is the state machine: the statuses each status may move to.
var transitions = map[Status][]Status{
	StatusUnspecified:     {StatusPending},
	StatusPending:         {StatusStockReserved, StatusFailed, StatusCancelled},
	StatusStockReserved:   {StatusAwaitingPayment, StatusConfirmed, StatusFailed, StatusCancelled},
	StatusAwaitingPayment: {StatusConfirmed, StatusFailed, StatusCancelled},
	StatusConfirmed:       {StatusShipped, StatusCancelled},
	StatusShipped:         {StatusCompleted},
}

// CanTransition reports whether the state machine allows from → to.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// Reason says, for machines, why a checkout failed.
type Reason int

// The failure reasons, as in the contract's FailureReason.
const (
	ReasonNone Reason = iota
	ReasonOutOfStock
	ReasonBookUnavailable
	ReasonPaymentDeclined
	ReasonInsufficientFunds
	ReasonPaymentTimeout
	ReasonPaymentActionFailed
	ReasonPaymentError
	ReasonStockTimeout
)

// String names the reason for logs.
func (r Reason) String() string {
	names := [...]string{"none", "out_of_stock", "book_unavailable", "payment_declined", "insufficient_funds", "payment_timeout", "payment_action_failed", "payment_error", "stock_timeout"}
	if r < 0 || int(r) >= len(names) {
		return "unknown"
	}
	return names[r]
}

// stockHeld reports whether the catalog may hold stock for an order that
// failed for r: every reason but a rejected reservation.
func (r Reason) stockHeld() bool { return r != ReasonOutOfStock && r != ReasonBookUnavailable }

// Failure explains a failed order.
type Failure struct {
	Reason Reason
	// Detail is safe to show to the customer; it never holds a payment token.
	Detail string
	// BookIDs are the books at fault of OutOfStock and BookUnavailable.
	BookIDs []string
}

// ActorKind says who made a transition.
type ActorKind int

// The kinds of actors.
const (
	ActorUnspecified ActorKind = iota
	ActorCustomer
	ActorAdmin
	ActorSystem
)

// Actor is who made a transition.
type Actor struct {
	Kind ActorKind
	// ID is the user id of a customer or admin; empty for the system.
	ID string
}

// System is the saga and the sweeper.
var System = Actor{Kind: ActorSystem}

// Compensation is what the order still owes or owed the payment gateway
// after it failed or was cancelled.
type Compensation int

// The compensation states. The *Due states are picked up by the sweeper until
// the gateway confirmed them.
const (
	CompensationNone Compensation = iota
	CompensationVoidDue
	CompensationRefundDue
	CompensationVoided
	CompensationRefunded
)

// Due reports whether a gateway call is still owed.
func (c Compensation) Due() bool { return c == CompensationVoidDue || c == CompensationRefundDue }
