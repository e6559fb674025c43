package stock

import (
	"context"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// Store keeps stock items and reservations. Implementations must be safe for
// concurrent use.
type Store interface {
	// Update loads the ledger of orderID in one transaction: its reservation
	// (NewReservation when there is none) and the items of bookIDs and of the
	// reservation's lines, every item row locked until the commit, in book id
	// order. It calls fn, then saves the ledger and writes the event fn
	// returns (when not nil) to the outbox in the same transaction. Errors
	// from fn roll everything back and are returned as they are.
	Update(ctx context.Context, orderID string, bookIDs []string, fn func(*Ledger) (Event, error)) error
}

// Service holds the stock use cases the checkout saga drives.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns the use cases over store; now may be nil for the wall
// clock.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: func() time.Time { return now().UTC() }}
}

// Reserve holds an order's copies, all or none (the answer to OrderPlaced).
func (s *Service) Reserve(ctx context.Context, orderID string, lines []Line) (Event, error) {
	if orderID == "" {
		return nil, failure.Invalid("order_id", "must not be empty")
	}
	norm, err := normalizeLines(lines)
	if err != nil {
		return nil, err
	}
	return s.update(ctx, orderID, BookIDs(norm), func(l *Ledger) (Event, error) { return l.Reserve(norm, s.now()) })
}

// Commit sells an order's reserved copies (the answer to OrderConfirmed).
func (s *Service) Commit(ctx context.Context, orderID string) (Event, error) {
	return s.update(ctx, orderID, nil, func(l *Ledger) (Event, error) { return l.Commit(s.now()) })
}

// Release puts an order's copies back (the answer to OrderFailed and
// OrderCancelled).
func (s *Service) Release(ctx context.Context, orderID string) (Event, error) {
	return s.update(ctx, orderID, nil, func(l *Ledger) (Event, error) { return l.Release(s.now()) })
}

func (s *Service) update(ctx context.Context, orderID string, bookIDs []string, fn func(*Ledger) (Event, error)) (Event, error) {
	if orderID == "" {
		return nil, failure.Invalid("order_id", "must not be empty")
	}
	var ev Event
	err := s.store.Update(ctx, orderID, bookIDs, func(l *Ledger) (Event, error) {
		e, err := fn(l)
		ev = e
		return e, err
	})
	if err != nil {
		return nil, err
	}
	return ev, nil
}
