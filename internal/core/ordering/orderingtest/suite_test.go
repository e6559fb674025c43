package orderingtest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/bookworm-store/bookworm/internal/core/ordering/orderingtest"
)

// TestMemoryOrderStore keeps the fake honest: it passes the contract the
// Postgres store passes.
func TestMemoryOrderStore(t *testing.T) {
	orderingtest.RunOrderStore(t, func(*testing.T) ordering.OrderStore { return orderingtest.NewMemoryOrderStore() })
}
