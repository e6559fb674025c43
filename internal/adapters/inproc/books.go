package inproc

import (
	"context"
	"errors"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// The ordering branch's minimal in-process ports of ordering (the basket
// branch builds the full ones under the same names; take those).

// OrderingCatalog is ordering's ordering.Catalog over the catalog's use
// cases: each book's effective price (the sale price when on sale), deleted
// or not, in stock or not.
type OrderingCatalog struct {
	svc *catalog.Service
}

var _ ordering.Catalog = (*OrderingCatalog)(nil)

// NewOrderingCatalog returns ordering's catalog port over the catalog use
// cases.
func NewOrderingCatalog(svc *catalog.Service) *OrderingCatalog { return &OrderingCatalog{svc: svc} }

// Books returns the books with ids that exist, deleted ones included.
func (c *OrderingCatalog) Books(ctx context.Context, ids []string) (map[string]ordering.Book, error) {
	out := map[string]ordering.Book{}
	for _, id := range ids {
		b, err := c.svc.GetBook(ctx, id)
		switch {
		case errors.Is(err, failure.ErrNotFound), errors.Is(err, failure.ErrInvalid):
			continue
		case err != nil:
			return nil, err
		}
		r := b.Record()
		price := r.Price
		if !r.SalePrice.IsZero() {
			price = r.SalePrice
		}
		out[id] = ordering.Book{ID: r.ID, Title: r.Title, Price: price, Deleted: b.Deleted(), InStock: b.InStock()}
	}
	return out, nil
}

// OrderingBaskets is ordering's ordering.Baskets over the basket's use
// cases. It reads the basket of the caller in ctx, which PlaceOrder runs
// as, so it serves only the buyer's own basket.
type OrderingBaskets struct {
	svc *basket.Service
}

var _ ordering.Baskets = (*OrderingBaskets)(nil)

// NewOrderingBaskets returns ordering's basket port over the basket use
// cases.
func NewOrderingBaskets(svc *basket.Service) *OrderingBaskets { return &OrderingBaskets{svc: svc} }

// Lines returns the lines of userID's basket.
func (b *OrderingBaskets) Lines(ctx context.Context, userID string) ([]ordering.BasketLine, error) {
	if p, ok := identity.FromContext(ctx); !ok || p.Subject != userID {
		return nil, errors.New("inproc: the basket port reads the caller's own basket only")
	}
	pr, err := b.svc.GetBasket(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]ordering.BasketLine, 0, len(pr.Lines))
	for _, l := range pr.Lines {
		out = append(out, ordering.BasketLine{BookID: l.BookID, Quantity: l.Quantity})
	}
	return out, nil
}
