package catalogtest_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/catalog/catalogtest"
)

func TestMemoryCatalog(t *testing.T) {
	catalogtest.RunBookStore(t, func(*testing.T) catalogtest.Stores {
		m := catalogtest.NewMemoryCatalog()
		return catalogtest.Stores{Books: m, Entities: m}
	})
}
