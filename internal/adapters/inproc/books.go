package inproc

import (
	"context"
	"errors"
	"slices"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// BasketCatalog is the basket context's basket.Catalog over the catalog's
// use cases (and so over the catalog's book cache): titles, effective
// prices and availability of the books of a basket.
type BasketCatalog struct {
	svc *catalog.Service
}

var _ basket.Catalog = (*BasketCatalog)(nil)

// NewBasketCatalog returns the basket's catalog port over the catalog use
// cases.
func NewBasketCatalog(svc *catalog.Service) *BasketCatalog { return &BasketCatalog{svc: svc} }

// Books returns the books of ids the catalog has, deleted ones included,
// keyed by id; unknown ids (and strings that are no id) are absent.
func (c *BasketCatalog) Books(ctx context.Context, ids []string) (map[string]basket.Book, error) {
	return catalogBooks(ctx, c.svc, ids, func(b *catalog.Book) basket.Book {
		r := b.Record()
		return basket.Book{ID: r.ID, Title: r.Title, Price: r.EffectivePrice(), Deleted: b.Deleted(), InStock: b.InStock()}
	})
}

// OrderingCatalog is the ordering context's ordering.Catalog over the
// catalog's use cases: the books of an order, priced at placement.
type OrderingCatalog struct {
	svc *catalog.Service
}

var _ ordering.Catalog = (*OrderingCatalog)(nil)

// NewOrderingCatalog returns ordering's catalog port over the catalog use
// cases.
func NewOrderingCatalog(svc *catalog.Service) *OrderingCatalog { return &OrderingCatalog{svc: svc} }

// Books returns the books of ids the catalog has, deleted ones included,
// keyed by id; unknown ids (and strings that are no id) are absent.
func (c *OrderingCatalog) Books(ctx context.Context, ids []string) (map[string]ordering.Book, error) {
	return catalogBooks(ctx, c.svc, ids, func(b *catalog.Book) ordering.Book {
		r := b.Record()
		return ordering.Book{ID: r.ID, Title: r.Title, Price: r.EffectivePrice(), Deleted: b.Deleted(), InStock: b.InStock()}
	})
}

// catalogBooks reads the books of ids in batches of the catalog's limit.
// BatchGetBooks fails a whole batch for one unknown id; the ports want the
// others, so such a batch is asked again book by book (rare: a basket's
// books were known when added, and the catalog deletes softly).
func catalogBooks[B any](ctx context.Context, svc *catalog.Service, ids []string, conv func(*catalog.Book) B) (map[string]B, error) {
	want := make([]string, 0, len(ids))
	for _, id := range ids {
		if coreid.Valid(id) {
			want = append(want, coreid.Canonical(id))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	out := make(map[string]B, len(want))
	for batch := range slices.Chunk(want, catalog.MaxBatchGet) {
		books, err := svc.BatchGetBooks(ctx, batch)
		if errors.Is(err, failure.ErrNotFound) {
			books, err = oneByOne(ctx, svc, batch)
		}
		if err != nil {
			return nil, err
		}
		for _, b := range books {
			out[b.ID()] = conv(b)
		}
	}
	return out, nil
}

func oneByOne(ctx context.Context, svc *catalog.Service, ids []string) ([]*catalog.Book, error) {
	var out []*catalog.Book
	for _, id := range ids {
		b, err := svc.GetBook(ctx, id)
		switch {
		case errors.Is(err, failure.ErrNotFound):
			continue
		case err != nil:
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// OrderingBaskets is the ordering context's ordering.Baskets over the
// basket context's use cases: the lines a buyer's order is placed from.
//
// There is no remote sibling on purpose. Baskets are private to their
// customer: BasketService answers only the caller's own basket, found from
// the caller's token, and has no RPC that names a user. A remote port
// would either relay the buyer's token from the ordering process (tying a
// port to the RPC that happens to call it, and lending a server the
// customer's full rights) or need a service-to-service RPC reading any
// user's basket, a new and powerful entry point. Until one of those is
// designed, ordering is served in the process that serves the basket.
type OrderingBaskets struct {
	svc *basket.Service
}

var _ ordering.Baskets = (*OrderingBaskets)(nil)

// NewOrderingBaskets returns ordering's basket port over the basket use
// cases.
func NewOrderingBaskets(svc *basket.Service) *OrderingBaskets { return &OrderingBaskets{svc: svc} }

// Lines returns the lines of userID's basket, oldest first; none when the
// customer has no basket.
func (b *OrderingBaskets) Lines(ctx context.Context, userID string) ([]ordering.BasketLine, error) {
	bk, err := b.svc.BasketOf(ctx, userID)
	if err != nil {
		return nil, err
	}
	lines := bk.Lines()
	out := make([]ordering.BasketLine, len(lines))
	for i, l := range lines {
		out[i] = ordering.BasketLine{BookID: l.BookID(), Quantity: l.Quantity()}
	}
	return out, nil
}
