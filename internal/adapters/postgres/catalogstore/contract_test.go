package catalogstore

import (
	"context"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog/catalogtest"
)

// TestBookStoreContract runs the port's contract on the Postgres stores, as
// a role granted only the schemas catalog and events (passing it also shows
// that the stores touch no other context's tables), directly and through
// the book cache.
func TestBookStoreContract(t *testing.T) {
	t.Run("store", func(t *testing.T) {
		catalogtest.RunBookStore(t, func(t *testing.T) catalogtest.Stores {
			pool := pgtest.RolePool(t, pgtest.NewDatabase(t), "catalog", "events")
			return catalogtest.Stores{Books: NewBooks(pool), Entities: NewEntities(pool)}
		})
	})
	t.Run("cache", func(t *testing.T) {
		catalogtest.RunBookStore(t, func(t *testing.T) catalogtest.Stores {
			pool := pgtest.RolePool(t, pgtest.NewDatabase(t), "catalog", "events")
			cache := NewBookCache(NewBooks(pool), pool, 100, pgtest.DiscardLog())
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = cache.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			pgtest.Eventually(t, "the cache listens", cache.Listening)
			return catalogtest.Stores{Books: cache, Entities: NewEntities(pool)}
		})
	})
}
