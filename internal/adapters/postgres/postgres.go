// Package postgres is BookWorm's PostgreSQL driver layer, shared by every
// context's persistence and by nothing else: it opens the pool (creating
// the database when missing), runs each owner's embedded goose migrations
// (Migrations), translates driver errors into the core's failure sentinels
// in one place (ErrorTable), and holds the LISTEN connections (Listen).
//
// It knows no context. Each context's tables live in its own Postgres
// schema, created and migrated by its own package beside this one
// (postgres/catalogstore: schema catalog; postgres/ratingstore: schema
// rating; postgres/outbox: schema events, the outbox and the inbox every
// context writes to). Those packages import this one; it imports none of
// them.
package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"go.opentelemetry.io/otel/trace"
)

// migrationLockID is the advisory lock replicas take while migrating, so
// that only one applies migrations and the others wait and find nothing to
// do. It is goose's default id; one lock serves every BookWorm context.
const migrationLockID = lock.DefaultLockID

// Migrations are one owner's embedded goose migrations: the SQL files of FS
// (at its root), applied in order and recorded in Schema's own version
// table (Schema.goose_db_version), so that owners migrate independently of
// each other. The runner creates Schema before the first migration; the
// migrations create what lives in it.
type Migrations struct {
	// Schema is the owner's Postgres schema, for example "catalog".
	Schema string
	// FS holds the owner's *.sql goose migrations at its root.
	FS fs.FS
}

// Connect opens a pool on databaseURL. It creates the database when it does
// not exist (replicas starting at once may race to create it; the loser
// carries on) and applies the migrations of every owner in sets, in order,
// under one session lock, so the returned pool always sees the current
// schema of each.
//
// The pool defaults to 4 connections per CPU, at least 8: enough for the
// searches and writes that run concurrently on a small machine while the
// book cache answers most reads. pool_max_conns and the other pool_*
// parameters of the URL override the defaults.
func Connect(ctx context.Context, databaseURL string, log *slog.Logger, sets ...Migrations) (*pgxpool.Pool, error) {
	return Open(ctx, databaseURL, log, Options{Migrations: sets})
}

// Options are what Open does besides opening the pool.
type Options struct {
	// Migrations are applied, in order, before the pool opens (see
	// Connect).
	Migrations []Migrations
	// TracerProvider, when set, makes a client span of every statement of
	// the pool (queries, batches, COPY, prepares, connects; transactions as
	// their BEGIN and COMMIT) that runs inside a trace, with the statement
	// text and never a parameter's value. Nil installs no tracer at all, so
	// that disabled tracing costs nothing per query.
	TracerProvider trace.TracerProvider
}

// Open is Connect with options: the pool of databaseURL, created when
// missing, migrated, and traced when opts say so.
func Open(ctx context.Context, databaseURL string, log *slog.Logger, opts Options) (*pgxpool.Pool, error) {
	sets := opts.Migrations
	cfg, err := PoolConfig(databaseURL)
	if err != nil {
		return nil, err
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig, log); err != nil {
		return nil, err
	}
	if err := Migrate(ctx, cfg.ConnConfig, log, sets...); err != nil {
		return nil, err
	}
	if opts.TracerProvider != nil {
		// Set after migrating: the migrations run on connections of their
		// own, outside any trace.
		cfg.ConnConfig.Tracer = newQueryTracer(opts.TracerProvider, cfg.ConnConfig)
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

// HNSWEfSearch is the connections' hnsw.ef_search (see PoolConfig).
const HNSWEfSearch = 40

// PoolConfig parses databaseURL and applies the driver's defaults.
func PoolConfig(databaseURL string) (*pgxpool.Config, error) {
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
	for name, value := range map[string]string{
		"pg_trgm.word_similarity_threshold": trigramThreshold,
		// pgvector: nearest-neighbour searches keep walking the HNSW
		// index in distance order while the statement wants rows (keyset
		// pages, filters), up to a bound; HNSWEfSearch candidates suit a
		// page of 20 (a statement wanting more sets its own).
		"hnsw.iterative_scan":  "strict_order",
		"hnsw.max_scan_tuples": "50000",
		"hnsw.ef_search":       strconv.Itoa(HNSWEfSearch),
	} {
		if _, ok := cfg.ConnConfig.RuntimeParams[name]; !ok {
			cfg.ConnConfig.RuntimeParams[name] = value
		}
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
	if !IsCode(err, "3D000") {
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
	case IsCode(err, "42P04"), IsCode(err, "23505"):
		// duplicate_database, or the unique index of pg_database when two
		// creates run at the same moment: someone else made it.
	default:
		return fmt.Errorf("create database %s: %w", cfg.Database, err)
	}
	return nil
}

// IsCode reports whether err is a Postgres error with SQLSTATE code.
func IsCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}

// Migrate applies the migrations of every owner in sets, in order, through
// database/sql, which goose needs, holding one session-level advisory lock
// while it does.
func Migrate(ctx context.Context, cfg *pgx.ConnConfig, log *slog.Logger, sets ...Migrations) error {
	db := stdlib.OpenDB(*cfg.Copy())
	defer db.Close()
	// Poll the lock every second for up to five minutes: replicas wait for
	// the one that migrates instead of failing. The lock is taken once for
	// every owner, on a connection of its own.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrations: %w", err)
	}
	defer conn.Close()
	if err := locker.SessionLock(ctx, conn); err != nil {
		return fmt.Errorf("migrations: lock: %w", err)
	}
	defer func() { _ = locker.SessionUnlock(context.WithoutCancel(ctx), conn) }()
	for _, set := range sets {
		if err := migrateOne(ctx, db, set, log); err != nil {
			return err
		}
	}
	return dropLegacyVersionTable(ctx, db)
}

// migrateOne applies one owner's migrations.
func migrateOne(ctx context.Context, db *sql.DB, set Migrations, log *slog.Logger) error {
	if set.Schema == "" || set.FS == nil {
		return errors.New("migrations: a set needs a schema and its files")
	}
	if _, err := db.ExecContext(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{set.Schema}.Sanitize()); err != nil {
		return fmt.Errorf("migrations: create schema %s: %w", set.Schema, err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, set.FS,
		goose.WithTableName(set.Schema+".goose_db_version"), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("migrations of %s: %w", set.Schema, err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations of %s: %w", set.Schema, err)
	}
	for _, r := range results {
		log.InfoContext(ctx, "applied migration", slog.String("schema", set.Schema),
			slog.String("migration", r.Source.Path), slog.Duration("took", r.Duration))
	}
	return nil
}

// dropLegacyVersionTable drops the version table of the single migration
// history that databases made before contexts owned schemas have in public
// (public.goose_db_version), once every table it recorded has moved to its
// owner's schema: after that it describes nothing, and a database upgraded
// from then ends in the same schema as a fresh one.
func dropLegacyVersionTable(ctx context.Context, db *sql.DB) error {
	_, err := db.ExecContext(ctx, `DO $$
	BEGIN
		IF to_regclass('public.goose_db_version') IS NOT NULL AND NOT EXISTS (
			SELECT 1 FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		) THEN
			DROP TABLE public.goose_db_version;
		END IF;
	END $$`)
	if err != nil {
		return fmt.Errorf("migrations: drop the legacy version table: %w", err)
	}
	return nil
}
