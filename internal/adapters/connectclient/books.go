package connectclient

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// maxBatchGet is how many ids one BatchGetBooks takes (the contract's
// max_items).
const maxBatchGet = 100

// oneByOneParallel bounds the GetBook calls in flight when a batch is asked
// again book by book.
const oneByOneParallel = 8

// BasketCatalog is the basket context's basket.Catalog over the remote
// catalog's CatalogService.BatchGetBooks: titles, effective prices and
// availability of the books of a basket.
type BasketCatalog struct {
	*catalogClient
}

var _ basket.Catalog = (*BasketCatalog)(nil)

// NewBasketCatalog returns the basket's catalog port calling the catalog
// at cfg.BaseURL. It does not dial.
func NewBasketCatalog(cfg Config) (*BasketCatalog, error) {
	c, err := newCatalogClient(cfg)
	if err != nil {
		return nil, err
	}
	return &BasketCatalog{c}, nil
}

// Books returns the books of ids the catalog has, deleted ones included,
// keyed by id; unknown ids (and strings that are no id) are absent.
func (c *BasketCatalog) Books(ctx context.Context, ids []string) (map[string]basket.Book, error) {
	return remoteBooks(ctx, c.catalogClient, ids, func(b *catalogv1.Book, price money.Money) basket.Book {
		return basket.Book{ID: b.GetId(), Title: b.GetTitle(), Price: price, Deleted: b.GetDeleted(), InStock: inStock(b)}
	})
}

// OrderingCatalog is the ordering context's ordering.Catalog over the
// remote catalog's CatalogService.BatchGetBooks: the books of an order,
// priced at placement.
type OrderingCatalog struct {
	*catalogClient
}

var _ ordering.Catalog = (*OrderingCatalog)(nil)

// NewOrderingCatalog returns ordering's catalog port calling the catalog at
// cfg.BaseURL. It does not dial.
func NewOrderingCatalog(cfg Config) (*OrderingCatalog, error) {
	c, err := newCatalogClient(cfg)
	if err != nil {
		return nil, err
	}
	return &OrderingCatalog{c}, nil
}

// Books returns the books of ids the catalog has, deleted ones included,
// keyed by id; unknown ids (and strings that are no id) are absent.
func (c *OrderingCatalog) Books(ctx context.Context, ids []string) (map[string]ordering.Book, error) {
	return remoteBooks(ctx, c.catalogClient, ids, func(b *catalogv1.Book, price money.Money) ordering.Book {
		return ordering.Book{ID: b.GetId(), Title: b.GetTitle(), Price: price, Deleted: b.GetDeleted(), InStock: inStock(b)}
	})
}

// inStock reads the book's availability (derived by the catalog from its
// stock), falling back on the quantity for a catalog that does not set it.
func inStock(b *catalogv1.Book) bool {
	switch b.GetAvailability() {
	case catalogv1.Availability_AVAILABILITY_IN_STOCK:
		return true
	case catalogv1.Availability_AVAILABILITY_OUT_OF_STOCK:
		return false
	}
	return b.GetStockQuantity() > 0
}

// effectivePrice is what the book sells for: the catalog's effective price,
// or, from a catalog that does not send it, the sale price when set.
func effectivePrice(b *catalogv1.Book) (money.Money, error) {
	m := b.GetEffectivePrice()
	if m == nil {
		m = b.GetSalePrice()
	}
	if m == nil {
		m = b.GetPrice()
	}
	return money.FromUnitsNanos(m.GetCurrencyCode(), m.GetUnits(), m.GetNanos())
}

// remoteBooks reads the books of ids in batches of the contract's limit,
// each an idempotent read retried as the client's config says.
// BatchGetBooks fails a whole batch for one unknown id; the ports want the
// others, so such a batch is asked again book by book (rare: a basket's
// books were known when added, and the catalog deletes softly).
func remoteBooks[B any](ctx context.Context, c *catalogClient, ids []string, conv func(*catalogv1.Book, money.Money) B) (map[string]B, error) {
	want := make([]string, 0, len(ids))
	for _, id := range ids {
		if coreid.Valid(id) {
			want = append(want, coreid.Canonical(id))
		}
	}
	slices.Sort(want)
	want = slices.Compact(want)
	out := make(map[string]B, len(want))
	for batch := range slices.Chunk(want, maxBatchGet) {
		var books []*catalogv1.Book
		err := c.retry(ctx, "BatchGetBooks", func(ctx context.Context) error {
			res, err := c.client.BatchGetBooks(ctx, connect.NewRequest(&catalogv1.BatchGetBooksRequest{Ids: batch}))
			if err == nil {
				books = res.Msg.GetBooks()
			}
			return err
		})
		if errors.Is(err, failure.ErrNotFound) {
			books, err = c.oneByOne(ctx, batch)
		}
		if err != nil {
			return nil, err
		}
		for _, b := range books {
			price, err := effectivePrice(b)
			if err != nil {
				return nil, fmt.Errorf("catalog BatchGetBooks: book %s has no usable price: %w", b.GetId(), err)
			}
			out[b.GetId()] = conv(b, price)
		}
	}
	return out, nil
}

// oneByOne gets each book of ids with GetBook, a few at a time; an unknown
// book is left out.
func (c *catalogClient) oneByOne(ctx context.Context, ids []string) ([]*catalogv1.Book, error) {
	books := make([]*catalogv1.Book, len(ids))
	errs := make([]error, len(ids))
	sem := make(chan struct{}, oneByOneParallel)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			errs[i] = c.retry(ctx, "GetBook", func(ctx context.Context) error {
				res, err := c.client.GetBook(ctx, connect.NewRequest(&catalogv1.GetBookRequest{Id: id}))
				if err == nil {
					books[i] = res.Msg.GetBook()
				}
				return err
			})
			if errors.Is(errs[i], failure.ErrNotFound) {
				errs[i] = nil
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return slices.DeleteFunc(books, func(b *catalogv1.Book) bool { return b == nil }), nil
}
