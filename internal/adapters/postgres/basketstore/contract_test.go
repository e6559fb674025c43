package basketstore

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/basket/baskettest"
)

// TestBasketStoreContract runs the port's contract on the Postgres store,
// as a role granted only the schemas basket and events: passing it also
// shows that the store touches no other context's tables.
func TestBasketStoreContract(t *testing.T) {
	baskettest.RunStore(t, func(t *testing.T) basket.Store {
		return NewBaskets(pgtest.RolePool(t, pgtest.NewDatabase(t), "basket", "events"))
	})
}
