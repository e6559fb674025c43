// Package inproc connects BookWorm's contexts when they run in one process:
// each adapter implements a port one context declares by calling another
// context's use cases directly, where a split deployment would call its RPC
// service instead.
package inproc

import (
	"context"
	"errors"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// CatalogBooks is the rating context's rating.BookChecker over the catalog's
// use cases (and so over the catalog's book cache).
type CatalogBooks struct {
	svc *catalog.Service
}

var _ rating.BookChecker = (*CatalogBooks)(nil)

// NewCatalogBooks returns the book checker over the catalog use cases.
func NewCatalogBooks(svc *catalog.Service) *CatalogBooks { return &CatalogBooks{svc: svc} }

// BookExists reports whether the catalog has the book and it is not
// deleted.
func (c *CatalogBooks) BookExists(ctx context.Context, bookID string) (bool, error) {
	b, err := c.svc.GetBook(ctx, bookID)
	switch {
	case errors.Is(err, failure.ErrNotFound), errors.Is(err, failure.ErrInvalid):
		return false, nil
	case err != nil:
		return false, err
	}
	return !b.Deleted(), nil
}
