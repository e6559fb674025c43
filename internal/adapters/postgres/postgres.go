// Package postgres is the PostgreSQL adapter of BookWorm: it creates the
// database when missing, applies the embedded migrations, and implements the
// Catalog context's ports (catalog.Books, catalog.Entities) on pgx, with an
// in-memory book cache kept fresh by LISTEN/NOTIFY. Every transaction begins
// and ends here; driver errors become failure sentinels in one function
// (translate).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLockID is the advisory lock replicas take while migrating, so
// that only one applies migrations and the others wait and find nothing to
// do. It is goose's default id; one lock serves every BookWorm context.
const migrationLockID = lock.DefaultLockID

// Connect opens a pool on databaseURL. It creates the database when it does
// not exist (replicas starting at once may race to create it; the loser
// carries on) and applies the embedded migrations under a session lock, so
// the returned pool always sees the current schema.
//
// The pool defaults to 4 connections per CPU, at least 8: enough for the
// searches and writes that run concurrently on a small machine while the
// book cache answers most reads. pool_max_conns and the other pool_*
// parameters of the URL override the defaults.
func Connect(ctx context.Context, databaseURL string, log *slog.Logger) (*pgxpool.Pool, error) {
	cfg, err := poolConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	if err := migrate(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("ping %s: %w", cfg.ConnConfig.Database, err)
	}
	return pool, nil
}

// trigramThreshold is the word similarity (0..1) from which the trigram
// fallback of search (searchTrigrams) takes a query to match a title or
// author name. pg_trgm's default, 0.6, misses a query with a typo in each
// of two words ("drgaon gardn"); 0.5 catches it and still leaves unrelated
// titles out.
const trigramThreshold = "0.5"

// poolConfig parses databaseURL and applies the adapter's defaults.
func poolConfig(databaseURL string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// The parse error may quote the URL, password included.
		return nil, errors.New("database URL is not valid")
	}
	if !strings.Contains(databaseURL, "pool_max_conns") {
		cfg.MaxConns = int32(max(8, 4*runtime.GOMAXPROCS(0)))
	}
	if !strings.Contains(databaseURL, "pool_max_conn_idle_time") {
		cfg.MaxConnIdleTime = 5 * time.Minute
	}
	// Sent at connection start: a custom setting may be given before its
	// extension is loaded, and takes effect when it is.
	if _, ok := cfg.ConnConfig.RuntimeParams["pg_trgm.word_similarity_threshold"]; !ok {
		cfg.ConnConfig.RuntimeParams["pg_trgm.word_similarity_threshold"] = trigramThreshold
	}
	return cfg, nil
}

// ensureDatabase creates the database of cfg when connecting to it fails
// with invalid_catalog_name (3D000), through the server's maintenance
// database "postgres".
func ensureDatabase(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) error {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return conn.Close(ctx)
	}
	if !isCode(err, "3D000") {
		return fmt.Errorf("connect to %s: %w", cfg.Database, err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	aconn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("connect to the maintenance database to create %s: %w", cfg.Database, err)
	}
	defer aconn.Close(context.WithoutCancel(ctx))
	_, err = aconn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	switch {
	case err == nil:
		log.InfoContext(ctx, "created database", slog.String("database", cfg.Database))
	case isCode(err, "42P04"), isCode(err, "23505"):
		// duplicate_database, or the unique index of pg_database when two
		// creates run at the same moment: someone else made it.
	default:
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// migrate applies the embedded migrations through database/sql, which goose
// needs, holding a session-level advisory lock while it does.
func migrate(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger) error {
	db := stdlib.OpenDB(*cfg.Copy())
	defer db.Close()
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	// Poll the lock every second for up to five minutes: replicas wait for
	// the one that migrates instead of failing.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithSessionLocker(locker))
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", slog.String("migration", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return nil
}
