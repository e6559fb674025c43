// Package basket is the Basket context's domain: one basket per customer,
// its rules (1..99 copies a line, at most 100 lines, one currency), the use
// cases that change it and the ports they need. A basket stores what the
// customer chose (books and quantities); titles and prices are read from the
// catalog whenever the basket is shown, so a price change shows at once.
package basket

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Limits of a basket.
const (
	MaxQuantity = 99
	MaxLines    = 100
	// maxRecentKeys bounds the request and order ids a basket remembers to
	// make AddItem and the clearing after an order idempotent. A retry comes
	// within seconds, long before 100 newer additions push its id out.
	maxRecentKeys = 100
)

// The reasons of AddItem's refusals (failure.FailedPreconditionWith), for
// clients to react to without reading the message.
const (
	ReasonBookDeleted      = "BOOK_DELETED"
	ReasonOutOfStock       = "BOOK_OUT_OF_STOCK"
	ReasonCurrencyMismatch = "CURRENCY_MISMATCH"
)

// Line is one book in a basket.
type Line struct {
	bookID   string
	quantity int
	addedAt  time.Time
}

// NewLine returns a line as a store loads it.
func NewLine(bookID string, quantity int, addedAt time.Time) Line {
	return Line{bookID: bookID, quantity: quantity, addedAt: addedAt.UTC()}
}

// BookID returns the book's id.
func (l Line) BookID() string { return l.bookID }

// Quantity returns the number of copies, 1 to 99.
func (l Line) Quantity() int { return l.quantity }

// AddedAt returns when the line was added.
func (l Line) AddedAt() time.Time { return l.addedAt }

// Basket is a customer's basket. Its fields are unexported so that every
// change goes through the methods that keep the limits.
type Basket struct {
	owner      string
	currency   string
	lines      []Line
	version    int64
	updatedAt  time.Time
	recentKeys []string
}

// New returns the empty basket of owner, which every customer has before
// they add a book.
func New(owner string) (*Basket, error) {
	if owner == "" {
		return nil, failure.Invalid("user_id", "must not be empty")
	}
	return &Basket{owner: owner}, nil
}

// Load rebuilds a stored basket; stores use it. The stored state was valid
// when saved, so only the limits that keep the methods safe are checked.
func Load(owner, currency string, lines []Line, version int64, updatedAt time.Time, recentKeys []string) (*Basket, error) {
	b, err := New(owner)
	if err != nil {
		return nil, err
	}
	if len(lines) > MaxLines {
		return nil, failure.FailedPrecondition("stored basket has %d lines", len(lines))
	}
	b.currency, b.lines, b.version, b.updatedAt = currency, slices.Clone(lines), version, updatedAt.UTC()
	b.recentKeys = slices.Clone(recentKeys)
	return b, nil
}

// Owner returns the id of the basket's customer.
func (b *Basket) Owner() string { return b.owner }

// Currency returns the currency of the basket's books, or "" when empty.
func (b *Basket) Currency() string { return b.currency }

// Lines returns the lines, oldest first.
func (b *Basket) Lines() []Line { return slices.Clone(b.lines) }

// Version returns 0 for a basket never changed; it grows by one per change.
func (b *Basket) Version() int64 { return b.version }

// UpdatedAt returns when the basket last changed.
func (b *Basket) UpdatedAt() time.Time { return b.updatedAt }

// RecentKeys returns the request and order ids the basket remembers, oldest
// first, for the store to save.
func (b *Basket) RecentKeys() []string { return slices.Clone(b.recentKeys) }

// IsEmpty reports whether the basket has no lines.
func (b *Basket) IsEmpty() bool { return len(b.lines) == 0 }

// ItemCount returns the number of copies over all lines.
func (b *Basket) ItemCount() int {
	n := 0
	for _, l := range b.lines {
		n += l.quantity
	}
	return n
}

// Quantity returns the copies of bookID in the basket, 0 when none.
func (b *Basket) Quantity(bookID string) int {
	if i := b.find(bookID); i >= 0 {
		return b.lines[i].quantity
	}
	return 0
}

func (b *Basket) find(bookID string) int {
	return slices.IndexFunc(b.lines, func(l Line) bool { return l.bookID == bookID })
}

func (b *Basket) seen(key string) bool { return key != "" && slices.Contains(b.recentKeys, key) }

// addKey is what the basket remembers of an addition: its request id and
// what it asked, so that a request id sent again with another book or
// quantity is told apart from a retry.
func addKey(requestID, bookID string, quantity int) string {
	return requestID + " " + bookID + " " + strconv.Itoa(quantity)
}

// replayed reports whether the addition was made before (a retry), or
// fails when its request id was used for a different addition.
func (b *Basket) replayed(bookID string, quantity int, requestID string) (bool, error) {
	if requestID == "" {
		return false, nil
	}
	key := addKey(requestID, bookID, quantity)
	for _, k := range b.recentKeys {
		if k == key {
			return true, nil
		}
		if strings.HasPrefix(k, requestID+" ") {
			return false, failure.Invalid("request_id", "was sent before with another book or quantity; use a new request id for a new addition")
		}
	}
	return false, nil
}

func (b *Basket) remember(key string) {
	if key == "" {
		return
	}
	b.recentKeys = append(b.recentKeys, key)
	if n := len(b.recentKeys); n > maxRecentKeys {
		b.recentKeys = slices.Clone(b.recentKeys[n-maxRecentKeys:])
	}
}

func (b *Basket) touch(now time.Time) {
	b.version++
	b.updatedAt = now.UTC()
}

func checkQuantity(q int) error {
	if q < 1 || q > MaxQuantity {
		return failure.Invalid("quantity", "must be between 1 and 99")
	}
	return nil
}

// Add adds quantity copies of a book priced in currency. requestID makes it
// idempotent: the same addition again (same request id, book and quantity)
// adds nothing and reports false; the request id with another book or
// quantity is failure.ErrInvalid. The currency must be the basket's (any,
// when the basket is empty).
func (b *Basket) Add(bookID string, quantity int, currency, requestID string, now time.Time) (bool, error) {
	if again, err := b.replayed(bookID, quantity, requestID); again || err != nil {
		return false, err
	}
	if err := checkQuantity(quantity); err != nil {
		return false, err
	}
	if !b.IsEmpty() && currency != b.currency {
		return false, failure.FailedPreconditionWith(ReasonCurrencyMismatch,
			map[string]string{"book_id": bookID, "book_currency": currency, "basket_currency": b.currency},
			"book %s is priced in %s but the basket is in %s; one basket holds one currency", bookID, currency, b.currency)
	}
	if i := b.find(bookID); i >= 0 {
		if b.lines[i].quantity+quantity > MaxQuantity {
			return false, failure.Invalid("quantity", "a line holds at most 99 copies")
		}
		b.lines[i].quantity += quantity
	} else {
		if len(b.lines) >= MaxLines {
			return false, failure.Invalid("book_id", "a basket holds at most 100 different books")
		}
		b.lines = append(b.lines, Line{bookID: bookID, quantity: quantity, addedAt: now.UTC()})
		b.currency = currency
	}
	if requestID != "" {
		b.remember(addKey(requestID, bookID, quantity))
	}
	b.touch(now)
	return true, nil
}

// SetQuantity sets the copies of a book already in the basket; setting the
// quantity it has changes nothing and reports false.
func (b *Basket) SetQuantity(bookID string, quantity int, now time.Time) (bool, error) {
	if err := checkQuantity(quantity); err != nil {
		return false, err
	}
	i := b.find(bookID)
	if i < 0 {
		return false, failure.NotFound("book %s is not in the basket", bookID)
	}
	if b.lines[i].quantity == quantity {
		return false, nil
	}
	b.lines[i].quantity = quantity
	b.touch(now)
	return true, nil
}

// Remove removes a book's line and reports whether there was one.
func (b *Basket) Remove(bookID string, now time.Time) bool {
	i := b.find(bookID)
	if i < 0 {
		return false
	}
	b.lines = slices.Delete(b.lines, i, i+1)
	if b.IsEmpty() {
		b.currency = ""
	}
	b.touch(now)
	return true
}

// Cleared is the event raised when a basket is emptied. OrderID is set when
// the basket was emptied because the order was confirmed.
type Cleared struct {
	Owner   string
	Version int64
	OrderID string
	At      time.Time
}

// Clear empties the basket. It raises Cleared only when there was something
// to clear, so a retried ClearBasket raises nothing.
func (b *Basket) Clear(now time.Time) []Cleared {
	if b.IsEmpty() {
		return nil
	}
	b.lines, b.currency = nil, ""
	b.touch(now)
	return []Cleared{{Owner: b.owner, Version: b.version, At: now.UTC()}}
}

// ClearForOrder empties the basket once an order placed from it is
// confirmed. It is applied once per order: a redelivered confirmation must
// not empty a basket the customer filled again since.
func (b *Basket) ClearForOrder(orderID string, now time.Time) []Cleared {
	key := "order:" + orderID
	if b.seen(key) {
		return nil
	}
	b.remember(key)
	if b.IsEmpty() {
		b.touch(now)
		return nil
	}
	b.lines, b.currency = nil, ""
	b.touch(now)
	return []Cleared{{Owner: b.owner, Version: b.version, OrderID: orderID, At: now.UTC()}}
}
