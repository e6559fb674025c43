package baskettest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/basket/baskettest"
)

func TestMemoryStore(t *testing.T) {
	baskettest.RunStore(t, func(*testing.T) basket.Store { return baskettest.NewMemoryStore() })
}
