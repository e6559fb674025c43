package notification

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Kind is the buyer-visible event a notice reports.
type Kind int

// The kinds of notice, one per buyer-visible ordering event.
const (
	KindUnspecified Kind = iota
	// KindPlaced: the order was received and waits for stock and payment.
	KindPlaced
	// KindConfirmed: the order is paid; the books are on their way soon.
	KindConfirmed
	// KindFailed: the checkout failed; nothing was charged.
	KindFailed
	// KindCancelled: the order was cancelled, and refunded when paid.
	KindCancelled
	// KindShipped: the order left the warehouse.
	KindShipped
	// KindCompleted: the order was delivered.
	KindCompleted
)

var kindNames = map[Kind]string{
	KindPlaced: "placed", KindConfirmed: "confirmed", KindFailed: "failed",
	KindCancelled: "cancelled", KindShipped: "shipped", KindCompleted: "completed",
}

// String is the kind's name, as stored and as the templates name it.
func (k Kind) String() string {
	if n, ok := kindNames[k]; ok {
		return n
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// NamesBuyer reports whether notices of kind k carry the buyer as the
// order has it (every ordering event but the completion does), so that
// an empty address in one means the buyer has none.
func (k Kind) NamesBuyer() bool { return k != KindCompleted && k != KindUnspecified }

// ParseKind is the inverse of String.
func ParseKind(s string) (Kind, error) {
	for k, n := range kindNames {
		if n == s {
			return k, nil
		}
	}
	return KindUnspecified, fmt.Errorf("notification: unknown kind %q", s)
}

// Kinds lists every kind, in order.
func Kinds() []Kind {
	return []Kind{KindPlaced, KindConfirmed, KindFailed, KindCancelled, KindShipped, KindCompleted}
}

// Reason says why a checkout failed.
type Reason int

// The failure reasons of a checkout, as the ordering context reports them.
const (
	ReasonUnspecified Reason = iota
	ReasonOutOfStock
	ReasonBookUnavailable
	ReasonPaymentDeclined
	ReasonInsufficientFunds
	ReasonPaymentTimeout
	ReasonPaymentActionFailed
	ReasonPaymentError
	ReasonStockTimeout
)

// reasonWords are the failure reasons as a buyer reads them.
var reasonWords = map[Reason]string{
	ReasonOutOfStock:          "Some of the books you ordered are out of stock.",
	ReasonBookUnavailable:     "Some of the books you ordered are no longer available.",
	ReasonPaymentDeclined:     "Your card was declined.",
	ReasonInsufficientFunds:   "Your card has insufficient funds.",
	ReasonPaymentTimeout:      "The payment provider did not answer in time.",
	ReasonPaymentActionFailed: "The payment was not confirmed (3-D Secure) in time.",
	ReasonPaymentError:        "The payment could not be processed.",
	ReasonStockTimeout:        "We could not reserve your books in time.",
}

// Words is the reason as a sentence a buyer understands.
func (r Reason) Words() string {
	if w, ok := reasonWords[r]; ok {
		return w
	}
	return "Your order could not be completed."
}

// Actor is who cancelled an order.
type Actor int

// The actors of a cancellation.
const (
	ActorUnspecified Actor = iota
	ActorCustomer
	ActorAdmin
	ActorSystem
)

// Buyer is who ordered: where their emails go.
type Buyer struct {
	Email string
	Name  string
}

// Line is one book of an order, as the email lists it.
type Line struct {
	Title     string
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
}

// Notice is what one buyer-visible ordering event tells the buyer. Only
// the fields of its Kind are set.
type Notice struct {
	Kind    Kind
	OrderID string
	// Version is the order's version after the change the event reports;
	// each change of an order has its own.
	Version int64
	// Buyer is empty when the event does not carry it (OrderCompleted): the
	// context then mails the buyer it remembers for the order.
	Buyer Buyer
	// Lines and Total: placed and confirmed.
	Lines []Line
	Total money.Money
	// Reason and Detail (safe to show): failed.
	Reason Reason
	Detail string
	// Refund (zero when nothing was captured), CancelReason and Actor:
	// cancelled.
	Refund       money.Money
	CancelReason string
	Actor        Actor
	// Tracking is the carrier's tracking number: shipped, may be empty.
	Tracking string
	// At is when it happened.
	At time.Time
}

// ErrInvalidNotice marks a notice no email can be made of (a producer's
// bug): retrying it changes nothing.
var ErrInvalidNotice = errors.New("notification: invalid notice")

// Validate checks what every notice needs.
func (n Notice) Validate() error {
	var problems []string
	if _, ok := kindNames[n.Kind]; !ok {
		problems = append(problems, "unknown kind")
	}
	if n.OrderID == "" {
		problems = append(problems, "no order id")
	}
	if n.Version < 1 {
		problems = append(problems, "version below 1")
	}
	for i, l := range n.Lines {
		if l.Quantity < 1 {
			problems = append(problems, fmt.Sprintf("line %d: quantity below 1", i))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalidNotice, strings.Join(problems, ", "))
	}
	return nil
}

// validAddress reports whether s is one plain email address (no display
// name, no list), the only form the buyer's token gives.
func validAddress(s string) bool {
	if s == "" || len(s) > 254 || strings.ContainsAny(s, "\r\n<>,") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}
