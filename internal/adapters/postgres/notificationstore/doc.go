// Package notificationstore is the notification context's persistence on
// PostgreSQL: the email outbox and what the context remembers of orders
// (Store, both of the core's ports notification.Queue and
// notification.Outbox), and the consumer of the ordering context's
// buyer-visible events (OrderEvents), which queues each event's email in
// the transaction of its inbox row, so that a redelivered event never
// makes a second email.
//
// Its tables live in the schema notification (notification.orders,
// notification.emails), created by its own migrations (Migrations); it
// reads and writes no other schema but the inbox of events (through
// package outbox). It runs on the driver layer of package postgres.
package notificationstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema notification.
var Migrations = postgres.Migrations{Schema: "notification", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
