package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Querier is what reads need: a pool, a connection or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// DB is what a store runs on: the pool, or a transaction that a caller
// opened (a consumer's inbox transaction, say). Beginning on a transaction
// makes a savepoint, so a store's writes then commit or roll back with the
// caller's.
type DB interface {
	Querier
	Begin(ctx context.Context) (pgx.Tx, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// InTx runs fn in a transaction of db (a savepoint when db is one): it
// commits when fn returns nil and rolls back otherwise. It is
// pgx.BeginFunc, named here so that every store begins its writes alike.
func InTx(ctx context.Context, db DB, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, db, fn)
}
