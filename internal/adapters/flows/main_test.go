// Package flows holds tests only: the flows that cross contexts and
// technologies, run for real (the outbox relay publishing to RabbitMQ, the
// catalog counting the rating context's reviews, a review of a deleted book
// compensated, a database of the single-schema era upgraded). Being
// imported by nothing, it is the one adapter package allowed to import any
// other (internal/adapters/arch_test.go).
package flows

import (
	"os"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, catalogstore.Migrations, ratingstore.Migrations, notificationstore.Migrations, outbox.Migrations))
}
