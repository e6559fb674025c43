package ordering

import (
	"context"
	"errors"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// OrderStore keeps orders. Implementations must be safe for concurrent use
// and keep the history append-only (entries are inserted, never updated nor
// deleted).
type OrderStore interface {
	// Create stores a new order and writes events to the outbox in one
	// transaction, unless the buyer already has an order with the same
	// request id: then it stores nothing and returns that order with created
	// false. Two racing Creates with one request id must end with one order
	// (a unique key on buyer and request id, kept at least 24 hours).
	Create(ctx context.Context, o *Order, events []Event) (stored *Order, created bool, err error)
	// Get returns an order or failure.ErrNotFound.
	Get(ctx context.Context, id string) (*Order, error)
	// FindByRequest returns the buyer's order placed with requestID, or
	// failure.ErrNotFound.
	FindByRequest(ctx context.Context, userID, requestID string) (*Order, error)
	// Update loads the order, calls update and, when it returns no error,
	// saves the order, appends its new history entries and writes the events
	// update returns to the outbox, in one transaction. A concurrent change
	// is failure.ErrConflict (nothing saved); a missing order
	// failure.ErrNotFound; errors from update come back as they are.
	Update(ctx context.Context, id string, update func(*Order) ([]Event, error)) (*Order, error)
	// List returns one page of orders, newest first (by creation time, then
	// id), with a keyset cursor as NextPageToken; the query is valid except
	// perhaps its token: one the store did not issue (or issued for other
	// filters) is a failure.ValidationError on "page_token".
	List(ctx context.Context, q ListQuery) (Page, error)
	// Due returns up to limit orders whose deadline is at or before now
	// (non-zero), oldest deadline first: sagas waiting too long and
	// compensations owed.
	Due(ctx context.Context, now time.Time, limit int) ([]*Order, error)
}

// ListQuery selects orders. The zero times mean no bound.
type ListQuery struct {
	// UserID is the buyer whose orders to list; empty for everybody's.
	UserID        string
	Statuses      []Status
	CreatedFrom   time.Time
	CreatedBefore time.Time
	PageSize      int
	// PageToken is the store's opaque keyset cursor.
	PageToken string
}

// Page is one page of orders.
type Page struct {
	Orders        []*Order
	NextPageToken string
}

// BasketLine is a book and its quantity in the buyer's basket.
type BasketLine struct {
	BookID   string
	Quantity int
}

// Baskets reads the buyer's basket at placement. (The basket is cleared by
// the basket context when it hears OrderConfirmed.)
type Baskets interface {
	// Lines returns the lines of userID's basket, empty when none.
	Lines(ctx context.Context, userID string) ([]BasketLine, error)
}

// Book is what ordering needs of a book to price it.
type Book struct {
	ID    string
	Title string
	// Price is the price the book sells for now: its sale price when on sale.
	Price   money.Money
	Deleted bool
	InStock bool
}

// Catalog prices the books of an order at placement.
type Catalog interface {
	// Books returns the books with the given ids that exist, deleted ones
	// included, keyed by id. Unknown ids are absent.
	Books(ctx context.Context, ids []string) (map[string]Book, error)
}

// ChargeRequest asks the gateway to authorize and capture an order's total.
type ChargeRequest struct {
	// IdempotencyKey is derived from the order (ChargeKey): however often the
	// saga asks, the gateway charges once.
	IdempotencyKey string
	OrderID        string
	Amount         money.Money
	// PaymentToken is the customer's payment method token. Adapters must
	// never log it nor put it in an error.
	PaymentToken string
}

// RefundRequest asks the gateway to refund a captured charge.
type RefundRequest struct {
	// IdempotencyKey is RefundKey(order id).
	IdempotencyKey string
	// ChargeKey is the idempotency key of the charge to refund.
	ChargeKey string
	PaymentID string
	Amount    money.Money
}

// PaymentGateway takes payments. Every method is idempotent by its key and
// safe for concurrent use.
type PaymentGateway interface {
	// Charge authorizes and captures; asked again with the same key it never
	// charges again and answers the payment's current state (so asking again
	// after a customer's 3-D Secure step tells how it went). A refusal is a
	// result, not an error. Errors wrapping ErrGatewayTemporary (timeouts,
	// 5xx, rate limits) may be retried; ErrGatewayPermanent ones not; other
	// errors count as temporary.
	Charge(ctx context.Context, r ChargeRequest) (ChargeResult, error)
	// Void gives up the payment of chargeKey whatever became of it: a
	// payment not captured is cancelled, a captured one refunded in full (a
	// charge may land after the saga stopped waiting for it). Any later
	// Charge with that key fails permanently. Voiding a key that never
	// charged, or twice, succeeds.
	Void(ctx context.Context, chargeKey string) error
	// Refund returns captured money. Refunding twice with one key refunds
	// once.
	Refund(ctx context.Context, r RefundRequest) error
}

// The gateway error classes.
var (
	// ErrGatewayTemporary marks an error a retry may cure.
	ErrGatewayTemporary = errors.New("payment gateway temporarily unavailable")
	// ErrGatewayPermanent marks an error no retry will cure.
	ErrGatewayPermanent = errors.New("payment gateway refused the request")
)

// ChargeKey is the gateway idempotency key of an order's charge.
func ChargeKey(orderID string) string { return "bookworm-order-" + orderID + "-charge" }

// RefundKey is the gateway idempotency key of an order's refund.
func RefundKey(orderID string) string { return "bookworm-order-" + orderID + "-refund" }

// ChangeFeed tells WatchOrder streams that an order changed, across
// replicas (LISTEN/NOTIFY or the broker).
type ChangeFeed interface {
	// Subscribe returns a channel that receives the order's version after
	// every committed change, until ctx ends (then it is closed). Values may
	// be dropped when the reader is slow; the reader reloads the order.
	Subscribe(ctx context.Context, orderID string) (<-chan int64, error)
}
