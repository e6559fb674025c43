package ordering

import (
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Event is one of the domain events an order's transitions raise. The store
// writes them to the outbox in the transaction that saves the order; the
// event adapter maps them to the messages of ordering/v1/events.proto. None
// carries the payment token.
type Event interface{ orderingEvent() }

// Meta is what every event carries.
type Meta struct {
	OrderID string
	// Version is the order's version after the change.
	Version int64
	At      time.Time
}

// Buyer is who ordered, from their token at placement, for the emails.
type Buyer struct {
	UserID string
	Email  string
	Name   string
}

// OrderPlaced is raised when an order is stored Pending, and again when the
// sweeper asks the catalog a second time (same version).
type OrderPlaced struct {
	Meta
	Buyer   Buyer
	Lines   []Line
	Total   money.Money
	Address Address
}

// PaymentSucceeded is raised when the payment was captured.
type PaymentSucceeded struct {
	Meta
	Amount    money.Money
	PaymentID string
}

// PaymentActionRequired is raised when the payment waits for the customer.
type PaymentActionRequired struct {
	Meta
	PaymentID string
	ExpiresAt time.Time
}

// PaymentFailed is raised when the payment failed.
type PaymentFailed struct {
	Meta
	Reason Reason
	Detail string
}

// OrderConfirmed is raised when an order was paid: the catalog commits its
// stock, the basket is cleared.
type OrderConfirmed struct {
	Meta
	Buyer Buyer
	Lines []Line
	Total money.Money
}

// OrderFailed is raised when the checkout failed.
type OrderFailed struct {
	Meta
	Buyer   Buyer
	Failure Failure
	// ReleaseStock is true when the catalog may hold stock for the order.
	ReleaseStock bool
}

// OrderCancelled is raised when an order was cancelled.
type OrderCancelled struct {
	Meta
	Buyer          Buyer
	PreviousStatus Status
	Actor          Actor
	Reason         string
	// Refund is the amount to refund, the zero Money when nothing was
	// captured.
	Refund       money.Money
	ReleaseStock bool
}

// OrderShipped is raised when an order was shipped.
type OrderShipped struct {
	Meta
	Buyer          Buyer
	TrackingNumber string
}

// OrderCompleted is raised when an order was delivered.
type OrderCompleted struct {
	Meta
	UserID string
}

func (OrderPlaced) orderingEvent()           {}
func (PaymentSucceeded) orderingEvent()      {}
func (PaymentActionRequired) orderingEvent() {}
func (PaymentFailed) orderingEvent()         {}
func (OrderConfirmed) orderingEvent()        {}
func (OrderFailed) orderingEvent()           {}
func (OrderCancelled) orderingEvent()        {}
func (OrderShipped) orderingEvent()          {}
func (OrderCompleted) orderingEvent()        {}
