// Package basketstore is the basket context's persistence on PostgreSQL:
// the basket store (Baskets: one basket per customer, its lines and the
// request ids it remembers, written with an optimistic version check), the
// consumer of the ordering context's OrderConfirmed events
// (OrderConfirmations, which empties the buyer's basket once per order), and
// the mapping of the basket context's domain events to the contract's
// messages, which it enqueues in the transaction of each change.
//
// Its tables live in the schema basket (basket.baskets, basket.lines),
// created by its own migrations (Migrations); it reads and writes no other
// schema but the outbox and inbox of events (through package outbox). It
// runs on the driver layer of package postgres.
package basketstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema basket.
var Migrations = postgres.Migrations{Schema: "basket", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
