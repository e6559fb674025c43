package assistantstore

import (
	"os"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, Migrations)) }
