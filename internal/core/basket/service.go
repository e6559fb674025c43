package basket

import (
	"context"
	"errors"
	"math/rand/v2"
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
	// Stores keep microseconds; cutting here keeps what a change returns
	// equal to what a later read returns.
	return &Service{store: store, catalog: catalog, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }}
}

// updateAttempts bounds how often a change is applied again after losing a
// race (failure.ErrConflict) with another change of the same basket: two
// tabs adding books at once both succeed, and a basket hammered by one
// customer still answers instead of looping.
const updateAttempts = 10

// Between attempts the change waits a random time below a bound that
// doubles from minRetryWait to maxRetryWait, so racing changes spread out
// instead of colliding again in step.
const (
	minRetryWait = 2 * time.Millisecond
	maxRetryWait = 100 * time.Millisecond
)

// update runs store.Update, applying fn again to the fresh basket when a
// concurrent change won (fn only reads the basket it is given, so running
// it again is safe).
func update(ctx context.Context, store Store, owner string, fn func(*Basket) ([]Cleared, error)) (*Basket, error) {
	bound := minRetryWait
	for attempt := 1; ; attempt++ {
		b, err := store.Update(ctx, owner, fn)
		if err == nil || !errors.Is(err, failure.ErrConflict) || attempt == updateAttempts {
			return b, err
		}
		t := time.NewTimer(rand.N(bound) + 1)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		bound = min(2*bound, maxRetryWait)
	}
}

// BasketOf returns owner's basket, unpriced: what another context of this
// process needs (ordering reads the lines at placement). It is no RPC: a
// customer reads only their own basket, through GetBasket.
func (s *Service) BasketOf(ctx context.Context, owner string) (*Basket, error) {
	if owner == "" {
		return nil, failure.Invalid("user_id", "must not be empty")
	}
	return s.store.Get(ctx, owner)
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
// (FailedPrecondition). requestID, a UUID, makes retries harmless: a retry
// returns the basket, also when the book stopped being sold meanwhile.
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
	bookID, requestID = id.Canonical(bookID), id.Canonical(requestID)
	books, err := s.catalog.Books(ctx, []string{bookID})
	if err != nil {
		return Priced{}, err
	}
	// The book's state decides a new addition only: a retry of one made
	// before finds its request id in the basket and changes nothing.
	book, ok := books[bookID]
	var refusal error
	switch {
	case !ok:
		refusal = failure.NotFound("book %s not found", bookID)
	case book.Deleted:
		refusal = failure.FailedPreconditionWith(ReasonBookDeleted, map[string]string{"book_id": bookID},
			"book %s is no longer sold", bookID)
	case !book.InStock:
		refusal = failure.FailedPreconditionWith(ReasonOutOfStock, map[string]string{"book_id": bookID},
			"book %s is out of stock", bookID)
	}
	now := s.now()
	b, err := update(ctx, s.store, owner, func(b *Basket) ([]Cleared, error) {
		if again, err := b.replayed(bookID, quantity, requestID); again || err != nil {
			return nil, err
		}
		if refusal != nil {
			return nil, refusal
		}
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
	bookID = id.Canonical(bookID)
	now := s.now()
	b, err := update(ctx, s.store, owner, func(b *Basket) ([]Cleared, error) {
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
	bookID = id.Canonical(bookID)
	now := s.now()
	b, err := update(ctx, s.store, owner, func(b *Basket) ([]Cleared, error) {
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
	b, err := update(ctx, s.store, owner, func(b *Basket) ([]Cleared, error) { return b.Clear(now), nil })
	if err != nil {
		return Priced{}, err
	}
	return s.price(ctx, b)
}

// ClearForOrder empties owner's basket because orderID was confirmed: the
// reaction to the ordering context's OrderConfirmed, applied once per order.
func (s *Service) ClearForOrder(ctx context.Context, owner, orderID string) error {
	return ClearForOrder(ctx, s.store, owner, orderID, s.now())
}

// ClearForOrder is the use case behind Service.ClearForOrder over any
// store: the event consumer runs it over a store bound to its inbox
// transaction, so the clearing, its BasketCleared and the inbox row commit
// together.
func ClearForOrder(ctx context.Context, store Store, owner, orderID string, now time.Time) error {
	var v failure.Violations
	if owner == "" {
		v.Add("user_id", "must not be empty")
	}
	if orderID == "" {
		v.Add("order_id", "must not be empty")
	}
	if err := v.Err(); err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Microsecond)
	_, err := update(ctx, store, owner, func(b *Basket) ([]Cleared, error) { return b.ClearForOrder(orderID, now), nil })
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
