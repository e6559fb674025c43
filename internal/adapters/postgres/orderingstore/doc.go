// Package orderingstore is the ordering context's persistence on
// PostgreSQL: the order store (Orders: orders, the append-only history of
// their transitions, the domain events of each change written to the outbox
// in its transaction and a NOTIFY for watchers), the change feed that tells
// WatchOrder streams on every replica about those changes (Feed), the
// consumers of the catalog's stock events that drive the checkout saga
// (SagaConsumer), and the mapping of the ordering events to the contract's
// messages.
//
// Its tables live in the schema ordering (ordering.orders,
// ordering.history), created by its own migrations (Migrations); it reads
// and writes no other schema but the outbox and inbox of events.
package orderingstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema ordering.
var Migrations = postgres.Migrations{Schema: "ordering", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
