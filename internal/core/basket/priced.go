package basket

import (
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// PricedLine is a line as the customer sees it, with the book's current
// title and price.
type PricedLine struct {
	BookID    string
	Title     string
	Quantity  int
	UnitPrice money.Money
	LineTotal money.Money
	AddedAt   time.Time
	// Available is false for a book deleted, out of stock, unknown or priced
	// in another currency than the basket since it was added. Such a line
	// counts in no total; PlaceOrder refuses it.
	Available bool
}

// Priced is a basket priced at one moment.
type Priced struct {
	Owner string
	Lines []PricedLine
	// Total is the sum of the available lines, in the basket's currency
	// (zero there when no line is available); the zero Money for an empty
	// basket.
	Total     money.Money
	ItemCount int
	Version   int64
	UpdatedAt time.Time
}

// Price shows b with the books of the catalog. A total beyond the range of
// exact amounts is failure.ErrFailedPrecondition (it cannot happen with 100
// lines of 99 copies of books priced below 9·10^11 minor units each).
func Price(b *Basket, books map[string]Book) (Priced, error) {
	p := Priced{Owner: b.owner, Version: b.version, UpdatedAt: b.updatedAt, ItemCount: b.ItemCount()}
	if b.currency != "" {
		zero, err := money.New(b.currency, 0)
		if err != nil {
			return Priced{}, err
		}
		p.Total = zero
	}
	for _, l := range b.lines {
		pl := PricedLine{BookID: l.bookID, Quantity: l.quantity, AddedAt: l.addedAt}
		book, ok := books[l.bookID]
		if ok {
			pl.Title, pl.UnitPrice = book.Title, book.Price
			pl.Available = !book.Deleted && book.InStock && book.Price.Currency() == b.currency
			total, err := book.Price.Times(int64(l.quantity))
			if err != nil {
				return Priced{}, failure.FailedPrecondition("the total of book %s is too large", l.bookID)
			}
			pl.LineTotal = total
		}
		if pl.Available {
			sum, err := p.Total.Add(pl.LineTotal)
			if err != nil {
				return Priced{}, failure.FailedPrecondition("the basket's total is too large")
			}
			p.Total = sum
		}
		p.Lines = append(p.Lines, pl)
	}
	return p, nil
}
