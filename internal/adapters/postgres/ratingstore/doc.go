// Package ratingstore is the rating context's persistence on PostgreSQL:
// the review store (reviews, one per user and book, and each book's star
// counts), the consumer of the catalog's ReviewRejected events
// (ReviewRejections), and the mapping of the rating context's domain events
// to the contract's messages, which it enqueues in the transaction of each
// change.
//
// Its tables live in the schema rating (rating.reviews, rating.summaries),
// created by its own migrations (Migrations); it reads and writes no other
// schema but the outbox and inbox of events (through package outbox). It
// runs on the driver layer of package postgres.
package ratingstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema rating.
var Migrations = postgres.Migrations{Schema: "rating", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
