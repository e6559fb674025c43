package basket

import (
	"context"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Service holds the Basket use cases. Every one works on the caller's own
// basket, taken from the context: nothing names a user.
type Service struct {
	store   Store
	catalog Catalog
	now     func() time.Time
}

// NewService returns the use cases over store and catalog; now may be nil
// for the wall clock.
func NewService(store Store, catalog Catalog, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, catalog: catalog, now: func() time.Time { return now().UTC() }}
}

// GetBasket returns the caller's basket, priced now.
func (s *Service) GetBasket(ctx context.Context) (Priced, error) {
	owner, err := identity.OwnerOf(ctx)
	if err != nil {
		return Priced{}, err
	}
	b, err := s.store.Get(ctx, owner)
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// AddItem adds copies of a book. The book must exist (NotFound), not be
// deleted nor out of stock, and be priced in the basket's currency
// (FailedPrecondition). requestID, a UUID, makes retries harmless.
func (s *Service) AddItem(ctx context.Context, bookID string, quantity int, requestID string) (Priced, error) {
	owner, err := identity.OwnerOf(ctx)
	if err != nil {
		return Priced{}, err
	}
	var v failure.Violations
	if !id.Valid(bookID) {
		v.Add("book_id", "must be a UUID")
	}
	if err := checkQuantity(quantity); err != nil {
		v.Merge("", err)
	}
	if !id.Valid(requestID) {
		v.Add("request_id", "must be a UUID")
	}
	if err := v.Err(); err != nil {
		return Priced{}, err
	}
	books, err := s.catalog.Books(ctx, []string{bookID})
	if err != nil {
		return Priced{}, err
	}
	book, ok := books[bookID]
	switch {
	case !ok:
		return Priced{}, failure.NotFound("book %s not found", bookID)
	case book.Deleted:
		return Priced{}, failure.FailedPrecondition("book %s is no longer sold", bookID)
	case !book.InStock:
		return Priced{}, failure.FailedPrecondition("book %s is out of stock", bookID)
	}
	now := s.now()
	b, err := s.store.Update(ctx, owner, func(b *Basket) ([]Cleared, error) {
		_, err := b.Add(bookID, quantity, book.Price.Currency(), requestID, now)
		return nil, err
	})
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// UpdateItemQuantity sets the copies of a book in the basket.
func (s *Service) UpdateItemQuantity(ctx context.Context, bookID string, quantity int) (Priced, error) {
	owner, err := identity.OwnerOf(ctx)
	if err != nil {
		return Priced{}, err
	}
	var v failure.Violations
	if !id.Valid(bookID) {
		v.Add("book_id", "must be a UUID")
	}
	if err := checkQuantity(quantity); err != nil {
		v.Merge("", err)
	}
	if err := v.Err(); err != nil {
		return Priced{}, err
	}
	now := s.now()
	b, err := s.store.Update(ctx, owner, func(b *Basket) ([]Cleared, error) {
		_, err := b.SetQuantity(bookID, quantity, now)
		return nil, err
	})
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// RemoveItem removes a book's line; a book not in the basket is no error,
// so a retry gives the same basket.
func (s *Service) RemoveItem(ctx context.Context, bookID string) (Priced, error) {
	owner, err := identity.OwnerOf(ctx)
	if err != nil {
		return Priced{}, err
	}
	if !id.Valid(bookID) {
		return Priced{}, failure.Invalid("book_id", "must be a UUID")
	}
	now := s.now()
	b, err := s.store.Update(ctx, owner, func(b *Basket) ([]Cleared, error) {
		b.Remove(bookID, now)
		return nil, nil
	})
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// ClearBasket empties the caller's basket.
func (s *Service) ClearBasket(ctx context.Context) (Priced, error) {
	owner, err := identity.OwnerOf(ctx)
	if err != nil {
		return Priced{}, err
	}
	now := s.now()
	b, err := s.store.Update(ctx, owner, func(b *Basket) ([]Cleared, error) { return b.Clear(now), nil })
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// ClearForOrder empties owner's basket because orderID was confirmed: the
// reaction to the ordering context's OrderConfirmed, applied once per order.
func (s *Service) ClearForOrder(ctx context.Context, owner, orderID string) error {
	if owner == "" || orderID == "" {
		return failure.Invalid("order_id", "owner and order id are required")
	}
	now := s.now()
	_, err := s.store.Update(ctx, owner, func(b *Basket) ([]Cleared, error) { return b.ClearForOrder(orderID, now), nil })
	return err
}

func (s *Service) price(ctx context.Context, b *Basket) (Priced, error) {
	if b.IsEmpty() {
		return Price(b, nil)
	}
	ids := make([]string, 0, len(b.lines))
	for _, l := range b.lines {
		ids = append(ids, l.bookID)
	}
	books, err := s.catalog.Books(ctx, ids)
	if err != nil {
		return Priced{}, err
	}
	return Price(b, books)
}
