package ordering

import (
	"errors"
	"slices"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Limits of an order.
const (
	MaxQuantity = 99
	MaxLines    = 100
)

// Line is one book of an order, priced when it was placed.
type Line struct {
	BookID    string
	Title     string
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
}

// NewLine prices quantity copies of a book at unitPrice, checking the
// quantity and the product against overflow.
func NewLine(bookID, title string, quantity int, unitPrice money.Money) (Line, error) {
	switch {
	case bookID == "":
		return Line{}, failure.Invalid("book_id", "must not be empty")
	case quantity < 1 || quantity > MaxQuantity:
		return Line{}, failure.Invalid("quantity", "must be between 1 and 99")
	case unitPrice.IsZero() || unitPrice.Minor() <= 0:
		return Line{}, failure.FailedPrecondition("book %s has no price", bookID)
	}
	total, err := unitPrice.Times(int64(quantity))
	if err != nil {
		return Line{}, failure.FailedPrecondition("the total of book %s is too large", bookID)
	}
	return Line{BookID: bookID, Title: title, Quantity: quantity, UnitPrice: unitPrice, LineTotal: total}, nil
}

// HistoryEntry is one transition of an order, for the append-only audit
// trail.
type HistoryEntry struct {
	At      time.Time
	Actor   Actor
	From    Status
	To      Status
	Reason  string
	Version int64
}

// PaymentAction is what the customer must do to finish a payment.
type PaymentAction struct {
	ClientSecret string
	ExpiresAt    time.Time
}

// Order is the ordering context's aggregate. Every change goes through a
// transition method that checks the source status, appends to the history
// and returns the events it raises. Applying a transition that already
// happened changes nothing and raises nothing, so every saga step can be
// redelivered.
type Order struct {
	id           string
	buyer        Buyer
	requestID    string
	fingerprint  string
	status       Status
	lines        []Line
	total        money.Money
	address      Address
	paymentToken string
	paymentID    string
	action       PaymentAction
	captured     bool
	fail         Failure
	compensation Compensation
	// deadline is when the sweeper must look at the order next: the end of
	// the wait for the catalog, for the gateway, for the customer, or the
	// next try of a compensation. Zero when nothing waits.
	deadline  time.Time
	attempts  int
	createdAt time.Time
	updatedAt time.Time
	version   int64
	history   []HistoryEntry
}

// PlaceInput is what an order is made of.
type PlaceInput struct {
	ID          string
	Buyer       Buyer
	RequestID   string
	Fingerprint string
	Lines       []Line
	Address     Address
	// PaymentToken is the gateway's token of the payment method. It is kept
	// on the order for the payment step and goes nowhere else.
	PaymentToken string
	Now          time.Time
	// StockDeadline is when the sweeper asks the catalog again.
	StockDeadline time.Time
}

// Place makes a Pending order and raises OrderPlaced.
func Place(in PlaceInput) (*Order, []Event, error) {
	switch {
	case in.ID == "" || in.Buyer.UserID == "" || in.RequestID == "":
		return nil, nil, errors.New("ordering: order id, buyer and request id are required")
	case in.Address.IsZero():
		return nil, nil, failure.Invalid("shipping_address", "is required")
	case in.PaymentToken == "":
		return nil, nil, failure.Invalid("payment_method_token", "must not be empty")
	case len(in.Lines) == 0:
		return nil, nil, failure.FailedPrecondition("the basket is empty")
	case len(in.Lines) > MaxLines:
		return nil, nil, failure.Invalid("lines", "an order has at most 100 lines")
	}
	var total money.Money
	seen := map[string]bool{}
	for _, l := range in.Lines {
		if seen[l.BookID] {
			return nil, nil, failure.Invalid("lines", "book "+l.BookID+" appears twice")
		}
		seen[l.BookID] = true
		want, err := NewLine(l.BookID, l.Title, l.Quantity, l.UnitPrice)
		if err != nil {
			return nil, nil, err
		}
		if want.LineTotal != l.LineTotal {
			return nil, nil, errors.New("ordering: line total is not unit price times quantity")
		}
		if total, err = total.Add(l.LineTotal); err != nil {
			if errors.Is(err, money.ErrCurrencyMismatch) {
				return nil, nil, failure.FailedPrecondition("the books of an order must share one currency")
			}
			return nil, nil, failure.FailedPrecondition("the order's total is too large")
		}
	}
	now := in.Now.UTC()
	o := &Order{
		id: in.ID, buyer: in.Buyer, requestID: in.RequestID, fingerprint: in.Fingerprint,
		lines: slices.Clone(in.Lines), total: total, address: in.Address, paymentToken: in.PaymentToken,
		createdAt: now, deadline: in.StockDeadline.UTC(),
	}
	o.move(StatusPending, Actor{Kind: ActorCustomer, ID: in.Buyer.UserID}, "placed", now)
	return o, []Event{o.placedEvent(now)}, nil
}

func (o *Order) placedEvent(now time.Time) OrderPlaced {
	return OrderPlaced{Meta: Meta{OrderID: o.id, Version: 1, At: now}, Buyer: o.buyer, Lines: o.Lines(), Total: o.total, Address: o.address}
}

// move applies a transition the caller has checked.
func (o *Order) move(to Status, actor Actor, reason string, now time.Time) {
	o.version++
	o.history = append(o.history, HistoryEntry{At: now.UTC(), Actor: actor, From: o.status, To: to, Reason: reason, Version: o.version})
	o.status = to
	o.updatedAt = now.UTC()
	o.attempts = 0
}

func (o *Order) meta(now time.Time) Meta {
	return Meta{OrderID: o.id, Version: o.version, At: now.UTC()}
}

func (o *Order) refuse(to Status) error {
	return failure.FailedPrecondition("order %s is %s and cannot become %s", o.id, o.status, to)
}

// Accessors.

// ID returns the order's id.
func (o *Order) ID() string { return o.id }

// Buyer returns who placed the order.
func (o *Order) Buyer() Buyer { return o.buyer }

// UserID returns the buyer's user id, the order's owner.
func (o *Order) UserID() string { return o.buyer.UserID }

// Status returns the status.
func (o *Order) Status() Status { return o.status }

// Lines returns the lines.
func (o *Order) Lines() []Line { return slices.Clone(o.lines) }

// Total returns the sum of the line totals.
func (o *Order) Total() money.Money { return o.total }

// Failure returns why the order failed, when it did.
func (o *Order) Failure() Failure { return o.fail }

// PaymentAction returns what the customer must do while AwaitingPayment.
func (o *Order) PaymentAction() PaymentAction { return o.action }

// Compensation returns what the order owes or owed the gateway.
func (o *Order) Compensation() Compensation { return o.compensation }

// Deadline returns when the sweeper must look at the order next; zero when
// nothing waits.
func (o *Order) Deadline() time.Time { return o.deadline }

// Attempts returns how often the current step was retried.
func (o *Order) Attempts() int { return o.attempts }

// Version returns 1 when placed, one more per transition.
func (o *Order) Version() int64 { return o.version }

// History returns the audit trail, oldest first.
func (o *Order) History() []HistoryEntry { return slices.Clone(o.history) }

// CreatedAt returns when the order was placed.
func (o *Order) CreatedAt() time.Time { return o.createdAt }

// Fingerprint returns the fingerprint of the PlaceOrder request.
func (o *Order) Fingerprint() string { return o.fingerprint }

// RequestID returns the request id of the PlaceOrder call.
func (o *Order) RequestID() string { return o.requestID }

// Snapshot is every field of an order, for stores (and only stores: it holds
// the payment token).
type Snapshot struct {
	ID           string
	Buyer        Buyer
	RequestID    string
	Fingerprint  string
	Status       Status
	Lines        []Line
	Total        money.Money
	Address      Address
	PaymentToken string
	PaymentID    string
	Action       PaymentAction
	Captured     bool
	Failure      Failure
	Compensation Compensation
	Deadline     time.Time
	Attempts     int
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Version      int64
	History      []HistoryEntry
}

// Snapshot returns the order's fields for a store.
func (o *Order) Snapshot() Snapshot {
	return Snapshot{
		ID: o.id, Buyer: o.buyer, RequestID: o.requestID, Fingerprint: o.fingerprint, Status: o.status,
		Lines: o.Lines(), Total: o.total, Address: o.address, PaymentToken: o.paymentToken, PaymentID: o.paymentID,
		Action: o.action, Captured: o.captured, Failure: o.fail, Compensation: o.compensation, Deadline: o.deadline,
		Attempts: o.attempts, CreatedAt: o.createdAt, UpdatedAt: o.updatedAt, Version: o.version, History: o.History(),
	}
}

// Restore rebuilds an order a store saved.
func Restore(s Snapshot) (*Order, error) {
	if s.ID == "" || !s.Status.Valid() || s.Version < 1 || len(s.History) == 0 {
		return nil, errors.New("ordering: stored order is incomplete")
	}
	return &Order{
		id: s.ID, buyer: s.Buyer, requestID: s.RequestID, fingerprint: s.Fingerprint, status: s.Status,
		lines: slices.Clone(s.Lines), total: s.Total, address: s.Address, paymentToken: s.PaymentToken,
		paymentID: s.PaymentID, action: s.Action, captured: s.Captured, fail: s.Failure, compensation: s.Compensation,
		deadline: s.Deadline, attempts: s.Attempts, createdAt: s.CreatedAt, updatedAt: s.UpdatedAt, version: s.Version,
		history: slices.Clone(s.History),
	}, nil
}

// View is an order as a caller may see it: never the payment token, and the
// client secret only for the buyer.
type View struct {
	ID        string
	UserID    string
	Status    Status
	Lines     []Line
	Total     money.Money
	Address   Address
	Failure   Failure
	Action    PaymentAction
	CreatedAt time.Time
	UpdatedAt time.Time
	Version   int64
}

// ViewFor returns the order as subject sees it.
func (o *Order) ViewFor(subject string) View {
	v := View{ID: o.id, UserID: o.buyer.UserID, Status: o.status, Lines: o.Lines(), Total: o.total, Address: o.address,
		Failure: o.fail, CreatedAt: o.createdAt, UpdatedAt: o.updatedAt, Version: o.version}
	if o.status == StatusAwaitingPayment && subject == o.buyer.UserID {
		v.Action = o.action
	}
	return v
}

// AsPlaced returns the view PlaceOrder answered when the order was placed,
// so that a retried PlaceOrder gets the original response however far the
// order has moved since.
func (o *Order) AsPlaced() View {
	return View{ID: o.id, UserID: o.buyer.UserID, Status: StatusPending, Lines: o.Lines(), Total: o.total, Address: o.address,
		CreatedAt: o.createdAt, UpdatedAt: o.createdAt, Version: 1}
}
