// Package assistantstore is the assistant context's persistence on
// PostgreSQL: Conversations, the assistant.Store of each user's
// conversations and their messages (the user's, the assistant's answers,
// and the tool calls and results between them).
//
// Its tables live in the schema assistant (assistant.conversations,
// assistant.messages), created by its own migrations (Migrations); it reads
// and writes no other schema. The assistant raises no events. It runs on
// the driver layer of package postgres.
package assistantstore

import (
	"embed"
	"io/fs"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Migrations create and migrate the schema assistant.
var Migrations = postgres.Migrations{Schema: "assistant", FS: mustSub(migrationFiles, "migrations")}

func mustSub(fsys fs.FS, dir string) fs.FS {
	sub, err := fs.Sub(fsys, dir)
	if err != nil {
		panic(err) // the directory is embedded above
	}
	return sub
}
