package basket

import (
	"context"

	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Store keeps baskets, one per customer. Implementations must be safe for
// concurrent use.
type Store interface {
	// Get returns owner's basket, or the empty basket New(owner) when the
	// customer never had one.
	Get(ctx context.Context, owner string) (*Basket, error)
	// Update loads owner's basket (New(owner) when there is none), calls
	// update on it and, when update returns no error, saves the basket and
	// writes the events update returns to the outbox in one transaction.
	// When another change committed in between it returns
	// failure.ErrConflict and saves nothing. Errors from update are returned
	// as they are and nothing is saved.
	Update(ctx context.Context, owner string, update func(*Basket) ([]Cleared, error)) (*Basket, error)
}

// Book is what the basket needs to know of a book, read from the catalog.
type Book struct {
	ID    string
	Title string
	// Price is the price the book sells for now: its sale price when on sale.
	Price money.Money
	// Deleted is true for a book removed from the catalog.
	Deleted bool
	// InStock is false when no copy is available.
	InStock bool
}

// Catalog reads books for baskets. In one process it is the catalog's own
// store; when contexts run apart, a gRPC client of CatalogService.
type Catalog interface {
	// Books returns the books with the given ids that exist, deleted ones
	// included, keyed by id. Unknown ids are absent from the map.
	Books(ctx context.Context, ids []string) (map[string]Book, error)
}
