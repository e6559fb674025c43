// Package baskettest holds what tests of the basket context share: the
// contract every basket.Store must keep (RunStore: one suite that the
// Postgres store and the in-memory fake both pass, so the fake cannot drift
// from the real thing) and that fake (MemoryStore) for the core's unit
// tests. Import it from tests only.
package baskettest

import (
	"context"
	"slices"
	"sync"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// MemoryStore is a basket.Store in memory, optimistic like the Postgres
// store: Update runs its closure on a copy without holding the store, and
// saves only when no other change of the basket committed meanwhile
// (failure.ErrConflict otherwise). The Cleared events it saves are kept in
// order (Events) in place of an outbox.
type MemoryStore struct {
	mu      sync.Mutex
	baskets map[string]*basket.Basket
	events  []basket.Cleared
}

var _ basket.Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty store.
func NewMemoryStore() *MemoryStore { return &MemoryStore{baskets: map[string]*basket.Basket{}} }

// copyOf returns a copy of owner's basket (New when there is none), so that
// nobody outside holds the stored one. Callers hold mu.
func (m *MemoryStore) copyOf(owner string) (*basket.Basket, error) {
	b, ok := m.baskets[owner]
	if !ok {
		return basket.New(owner)
	}
	return basket.Load(b.Owner(), b.Currency(), b.Lines(), b.Version(), b.UpdatedAt(), b.RecentKeys())
}

// Get returns a copy of owner's basket, or the empty basket.
func (m *MemoryStore) Get(_ context.Context, owner string) (*basket.Basket, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.copyOf(owner)
}

// Update applies update to a copy of owner's basket and saves it unless
// another change was saved since the copy was taken.
func (m *MemoryStore) Update(ctx context.Context, owner string, update func(*basket.Basket) ([]basket.Cleared, error)) (*basket.Basket, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	b, err := m.copyOf(owner)
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	before := b.Version()
	evs, err := update(b)
	if err != nil {
		return nil, err
	}
	if b.Version() == before {
		return b, nil // nothing changed, nothing to save
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	current := int64(0)
	if s, ok := m.baskets[owner]; ok {
		current = s.Version()
	}
	if current != before {
		return nil, failure.Conflict("the basket was changed concurrently; read it again and retry")
	}
	m.baskets[owner] = b
	m.events = append(m.events, evs...)
	return m.copyOf(owner)
}

// Events returns the Cleared events saved so far, in order.
func (m *MemoryStore) Events() []basket.Cleared {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.events)
}
