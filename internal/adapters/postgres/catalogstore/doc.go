// Package catalogstore is the catalog context's persistence on PostgreSQL:
// its stores (Books, Entities, the BookCache kept fresh by LISTEN/NOTIFY
// with the SearchIndex that ranks lexical searches in memory beside it,
// keyset pagination and the full-text, typo-tolerant and semantic search),
// the demo
// catalog (Seed), the consumer of the rating context's review events
// (CatalogRatings) and the mapping of the catalog's domain events to the
// contract's messages, which it enqueues in the transaction of each change.
//
// Its tables live in the schema catalog (catalog.books, catalog.authors,
// ...), created by its own migrations (Migrations); it reads and writes no
// other schema but the outbox and inbox of events (through package outbox).
// It runs on the driver layer of package postgres.
package catalogstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema catalog.
var Migrations = postgres.Migrations{Schema: "catalog", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
