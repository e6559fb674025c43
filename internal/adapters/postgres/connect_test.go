package postgres_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
)

// Two owners of their own schema, as contexts are: each migrates apart,
// with its own version table.
var (
	shelves = postgres.Migrations{Schema: "shelves", FS: fstest.MapFS{
		"00001_shelves.sql": {Data: []byte("-- +goose Up\nCREATE TABLE shelves.shelves (id int PRIMARY KEY);\n-- +goose Down\nDROP TABLE shelves.shelves;\n")},
		"00002_names.sql":   {Data: []byte("-- +goose Up\nALTER TABLE shelves.shelves ADD COLUMN name text;\n-- +goose Down\nALTER TABLE shelves.shelves DROP COLUMN name;\n")},
	}}
	lamps = postgres.Migrations{Schema: "lamps", FS: fstest.MapFS{
		"00001_lamps.sql": {Data: []byte("-- +goose Up\nCREATE TABLE lamps.lamps (id int PRIMARY KEY);\n-- +goose Down\nDROP TABLE lamps.lamps;\n")},
	}}
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, shelves)) }

func TestConnectCreatesAndMigrates(t *testing.T) {
	ctx := pgtest.Ctx(t)
	name := pgtest.Name()
	t.Cleanup(func() { pgtest.DropDatabase(context.Background(), name) })

	// Replicas starting at once race to create and migrate the database.
	const replicas = 3
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			pool, err := postgres.Connect(ctx, pgtest.URL(name), pgtest.DiscardLog(), shelves, lamps)
			if err == nil {
				err = pool.Ping(ctx)
				pool.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}

	pool, err := postgres.Connect(ctx, pgtest.URL(name), pgtest.DiscardLog(), shelves, lamps)
	if err != nil {
		t.Fatalf("connect to the existing database: %v", err)
	}
	defer pool.Close()
	for schema, want := range map[string]int{"shelves": 2, "lamps": 1} {
		var applied int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM `+schema+`.goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
			t.Fatal(err)
		}
		if applied != want {
			t.Errorf("%s: %d migrations recorded, want %d, each once", schema, applied, want)
		}
	}
	var public int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&public); err != nil || public != 0 {
		t.Errorf("%d tables in public (%v), want none: every owner keeps to its schema", public, err)
	}
	if max := pool.Config().MaxConns; max < 8 {
		t.Errorf("pool of %d connections, want at least 8", max)
	}
	var threshold string
	if err := pool.QueryRow(ctx, `SHOW pg_trgm.word_similarity_threshold`).Scan(&threshold); err != nil || threshold != "0.5" {
		t.Errorf("word similarity threshold %q, %v", threshold, err)
	}
}

func TestConnectPoolSize(t *testing.T) {
	ctx := pgtest.Ctx(t)
	name := pgtest.NewDatabase(t)
	pool, err := postgres.Connect(ctx, pgtest.URL(name)+"&pool_max_conns=3", pgtest.DiscardLog(), shelves)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("pool_max_conns=3 gave %d", got)
	}
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	ctx := pgtest.Ctx(t)
	for _, u := range []string{"postgres://bob:s3cret@127.0.0.1:5432/x?pool_max_conns=nope", "::s3cret"} {
		_, err := postgres.Connect(ctx, u, pgtest.DiscardLog())
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Connect(%q) = %v", u, err)
		}
	}
}
