// Package stock is the catalog's stock reservation rule for the checkout
// saga: an order's copies are reserved for all its lines or none, a book's
// available stock never falls below zero, and every step (reserve, commit,
// release) is applied once per order however often the event that asks for
// it is delivered.
//
// It is part of the catalog context (DESIGN section 1: the catalog owns
// stock), a package of its own inside it because its names (Item, Line,
// Event) would collide with the catalog's book rules. The catalog's Postgres
// store keeps the counts in catalog.books (stock is the available count,
// the contract's stock_quantity) and the reservations beside them.
//
// Preventing oversell under concurrency is the store's half of the bargain:
// Store.Update must hold every book row of the ledger locked (SELECT ... FOR
// UPDATE, in book id order so that two orders never deadlock) from the read
// to the commit. With that, 50 concurrent buyers of the last 10 copies are
// serialised per book, and the rule here lets exactly 10 through.
package stock

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Item is the stock of one book. For every book, at every moment,
// Available + Reserved + Sold is the stock loaded into the catalog.
type Item struct {
	bookID    string
	available int64
	reserved  int64
	sold      int64
	// unavailable is true for a deleted book: it cannot be reserved.
	unavailable bool
}

// NewItem returns the stock of a book as a store loads it. Negative counts
// are refused: they would mean the invariant was already broken.
func NewItem(bookID string, available, reserved, sold int64, unavailable bool) (*Item, error) {
	if bookID == "" {
		return nil, errors.New("stock: empty book id")
	}
	if available < 0 || reserved < 0 || sold < 0 {
		return nil, fmt.Errorf("stock: negative stock for book %s (%d/%d/%d)", bookID, available, reserved, sold)
	}
	return &Item{bookID: bookID, available: available, reserved: reserved, sold: sold, unavailable: unavailable}, nil
}

// BookID returns the book's id.
func (i *Item) BookID() string { return i.bookID }

// Available returns the copies that can be reserved.
func (i *Item) Available() int64 { return i.available }

// Reserved returns the copies held for orders that are not yet paid.
func (i *Item) Reserved() int64 { return i.reserved }

// Sold returns the copies of confirmed orders.
func (i *Item) Sold() int64 { return i.sold }

// Unavailable reports whether the book is deleted and cannot be reserved.
func (i *Item) Unavailable() bool { return i.unavailable }

// Total returns Available + Reserved + Sold, the stock loaded.
func (i *Item) Total() int64 { return i.available + i.reserved + i.sold }

// Line is a quantity of one book.
type Line struct {
	BookID   string
	Quantity int64
}

// State is where an order's reservation is.
type State int

// The states of a reservation. Rejected, Released and Committed-then-Released
// are final for the rule: nothing is reserved again for the same order.
const (
	// StateNone: the order was never seen.
	StateNone State = iota
	// StateReserved: the copies are held.
	StateReserved
	// StateRejected: nothing was reserved (out of stock or unavailable).
	StateRejected
	// StateCommitted: the copies are sold.
	StateCommitted
	// StateReleased: the copies went back to the available stock.
	StateReleased
)

// String names the state for logs and errors.
func (s State) String() string {
	names := [...]string{"none", "reserved", "rejected", "committed", "released"}
	if s < 0 || int(s) >= len(names) {
		return "unknown"
	}
	return names[s]
}

// RejectReason says why a reservation was rejected.
type RejectReason int

// The reasons of a rejection.
const (
	// RejectOutOfStock: a book has fewer copies available than ordered.
	RejectOutOfStock RejectReason = iota + 1
	// RejectUnavailable: a book is deleted or unknown to the catalog. It wins
	// over RejectOutOfStock when both apply, since waiting will not help.
	RejectUnavailable
)

// Reservation is what the catalog holds for one order. It is created by the
// first Reserve and kept, so that redelivered events find it.
type Reservation struct {
	orderID      string
	state        State
	version      int64
	lines        []Line
	reason       RejectReason
	rejected     []string
	wasCommitted bool
}

// NewReservation returns the record of an order the catalog has not seen.
func NewReservation(orderID string) *Reservation {
	return &Reservation{orderID: orderID}
}

// LoadReservation rebuilds a stored reservation; stores use it.
func LoadReservation(orderID string, state State, version int64, lines []Line, reason RejectReason, rejected []string, wasCommitted bool) *Reservation {
	return &Reservation{orderID: orderID, state: state, version: version, lines: slices.Clone(lines), reason: reason, rejected: slices.Clone(rejected), wasCommitted: wasCommitted}
}

// OrderID returns the order's id.
func (r *Reservation) OrderID() string { return r.orderID }

// State returns where the reservation is.
func (r *Reservation) State() State { return r.state }

// Version returns 0 before the first step, then grows by one with each.
func (r *Reservation) Version() int64 { return r.version }

// Lines returns the reserved lines, one per book, sorted by book id.
func (r *Reservation) Lines() []Line { return slices.Clone(r.lines) }

// RejectReason returns why the reservation was rejected, when it was.
func (r *Reservation) RejectReason() RejectReason { return r.reason }

// RejectedBookIDs returns the books at fault of a rejection, sorted.
func (r *Reservation) RejectedBookIDs() []string { return slices.Clone(r.rejected) }

// WasCommitted reports whether a released reservation had been sold.
func (r *Reservation) WasCommitted() bool { return r.wasCommitted }

// Event is one of the events the rule raises (Reserved, Rejected, Committed,
// Released), for the store to write to the outbox in the same transaction. An
// idempotent repeat raises the same event again (with the same version), so
// the saga's sweeper, which asks again when it heard nothing, gets an answer.
type Event interface{ stockEvent() }

func (Reserved) stockEvent()  {}
func (Rejected) stockEvent()  {}
func (Committed) stockEvent() {}
func (Released) stockEvent()  {}

// Reserved is raised when an order's copies are held.
type Reserved struct {
	OrderID string
	Version int64
	Lines   []Line
	At      time.Time
}

// Rejected is raised when an order's copies could not be held.
type Rejected struct {
	OrderID string
	Version int64
	Reason  RejectReason
	BookIDs []string
	At      time.Time
}

// Committed is raised when an order's copies are sold.
type Committed struct {
	OrderID string
	Version int64
	Lines   []Line
	At      time.Time
}

// Released is raised when an order's copies went back to the stock.
type Released struct {
	OrderID      string
	Version      int64
	Lines        []Line
	WasCommitted bool
	At           time.Time
}

// Ledger is the unit a Store loads and saves in one transaction: an order's
// reservation and the stock of the books it names (of the request on the
// first Reserve, of the reservation's lines after). Items missing from the
// map are books the catalog does not know.
type Ledger struct {
	Reservation *Reservation
	Items       map[string]*Item
}

// normalizeLines merges the lines of one book and sorts them by book id, so
// that the reservation and the store's lock order are canonical.
func normalizeLines(lines []Line) ([]Line, error) {
	var v failure.Violations
	if len(lines) == 0 {
		v.Add("lines", "must name at least one book")
	}
	sum := map[string]int64{}
	for i, l := range lines {
		if l.BookID == "" {
			v.Add(fmt.Sprintf("lines[%d].book_id", i), "must not be empty")
		}
		if l.Quantity <= 0 {
			v.Add(fmt.Sprintf("lines[%d].quantity", i), "must be at least 1")
		}
		sum[l.BookID] += l.Quantity
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	out := make([]Line, 0, len(sum))
	for id, q := range sum {
		out = append(out, Line{BookID: id, Quantity: q})
	}
	slices.SortFunc(out, func(a, b Line) int { return compare(a.BookID, b.BookID) })
	return out, nil
}

func compare(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// BookIDs returns the distinct book ids of lines, sorted: the order in which a
// store locks their rows.
func BookIDs(lines []Line) []string {
	ids := make([]string, 0, len(lines))
	for _, l := range lines {
		ids = append(ids, l.BookID)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Reserve holds the copies of every line, or none: when any book is unknown,
// deleted or short, nothing changes and the reservation is Rejected with the
// books at fault. An order already reserved or rejected gets its first answer
// again; a released or committed one is refused with
// failure.ErrFailedPrecondition, since its copies were settled.
func (l *Ledger) Reserve(lines []Line, now time.Time) (Event, error) {
	r := l.Reservation
	switch r.state {
	case StateReserved:
		return Reserved{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), At: now}, nil
	case StateRejected:
		return Rejected{OrderID: r.orderID, Version: r.version, Reason: r.reason, BookIDs: r.RejectedBookIDs(), At: now}, nil
	case StateCommitted, StateReleased:
		return nil, failure.FailedPrecondition("the stock of order %s is already %s", r.orderID, r.state)
	}
	norm, err := normalizeLines(lines)
	if err != nil {
		return nil, err
	}
	var unavailable, short []string
	for _, ln := range norm {
		it, ok := l.Items[ln.BookID]
		switch {
		case !ok || it.unavailable:
			unavailable = append(unavailable, ln.BookID)
		case it.available < ln.Quantity:
			short = append(short, ln.BookID)
		}
	}
	r.version++
	if len(unavailable) > 0 || len(short) > 0 {
		r.state, r.reason, r.rejected = StateRejected, RejectOutOfStock, short
		if len(unavailable) > 0 {
			r.reason, r.rejected = RejectUnavailable, unavailable
		}
		return Rejected{OrderID: r.orderID, Version: r.version, Reason: r.reason, BookIDs: r.RejectedBookIDs(), At: now}, nil
	}
	for _, ln := range norm {
		it := l.Items[ln.BookID]
		it.available -= ln.Quantity
		it.reserved += ln.Quantity
	}
	r.state, r.lines = StateReserved, norm
	return Reserved{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), At: now}, nil
}

// Commit turns an order's reserved copies into sold ones. Committing again
// repeats the answer; an order never reserved, rejected or released is
// failure.ErrFailedPrecondition (the saga only confirms an order after its
// stock was reserved, and releases only failed or cancelled orders, so this
// means a bug, not a race).
func (l *Ledger) Commit(now time.Time) (Event, error) {
	r := l.Reservation
	switch r.state {
	case StateCommitted:
		return Committed{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), At: now}, nil
	case StateReserved:
	default:
		return nil, failure.FailedPrecondition("cannot commit the stock of order %s: it is %s", r.orderID, r.state)
	}
	if err := l.move(func(it *Item, q int64) (*int64, *int64) { return &it.reserved, &it.sold }); err != nil {
		return nil, err
	}
	r.version++
	r.state = StateCommitted
	return Committed{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), At: now}, nil
}

// Release puts an order's copies back: reserved ones of a failed order, sold
// ones of a cancelled order. Releasing an order that holds nothing (never
// seen, rejected) records it as released, so a late Reserve cannot hold
// copies for a dead order; releasing again repeats the answer.
func (l *Ledger) Release(now time.Time) (Event, error) {
	r := l.Reservation
	switch r.state {
	case StateReleased:
		return Released{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), WasCommitted: r.wasCommitted, At: now}, nil
	case StateNone, StateRejected:
		r.version++
		r.state, r.lines = StateReleased, nil
		return Released{OrderID: r.orderID, Version: r.version, At: now}, nil
	case StateReserved:
		if err := l.move(func(it *Item, q int64) (*int64, *int64) { return &it.reserved, &it.available }); err != nil {
			return nil, err
		}
	case StateCommitted:
		if err := l.move(func(it *Item, q int64) (*int64, *int64) { return &it.sold, &it.available }); err != nil {
			return nil, err
		}
		r.wasCommitted = true
	}
	r.version++
	r.state = StateReleased
	return Released{OrderID: r.orderID, Version: r.version, Lines: r.Lines(), WasCommitted: r.wasCommitted, At: now}, nil
}

// ErrCorrupt means the stored counts cannot hold the move the rule asks for;
// it is never a client's fault.
var ErrCorrupt = errors.New("stock: stored counts are inconsistent")

// move shifts every line's quantity from one count to another, checking all
// lines first so that a corrupt ledger is left as it was.
func (l *Ledger) move(pick func(*Item, int64) (from, to *int64)) error {
	for _, ln := range l.Reservation.lines {
		it, ok := l.Items[ln.BookID]
		if !ok {
			return fmt.Errorf("%w: book %s of order %s is missing", ErrCorrupt, ln.BookID, l.Reservation.orderID)
		}
		if from, _ := pick(it, ln.Quantity); *from < ln.Quantity {
			return fmt.Errorf("%w: book %s holds %d, order %s needs %d", ErrCorrupt, ln.BookID, *from, l.Reservation.orderID, ln.Quantity)
		}
	}
	for _, ln := range l.Reservation.lines {
		from, to := pick(l.Items[ln.BookID], ln.Quantity)
		*from -= ln.Quantity
		*to += ln.Quantity
	}
	return nil
}
