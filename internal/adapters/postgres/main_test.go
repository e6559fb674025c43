package postgres

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// The tests run on a real PostgreSQL server: BOOKWORM_TEST_DATABASE_URL, or
// the local one. TestMain migrates a template database once through
// Connect; every test then gets a fresh copy of it (CREATE DATABASE ...
// TEMPLATE), dropped when the test ends.

const defaultTestURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

var (
	testAdmin    *pgx.ConnConfig // the maintenance database
	templateName string
	dbCounter    atomic.Int64
	// cleanups run after all tests, for what outlives one test.
	cleanups []func()
)

func testURL() string {
	if u := os.Getenv("BOOKWORM_TEST_DATABASE_URL"); u != "" {
		return u
	}
	return defaultTestURL
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	cfg, err := pgx.ParseConfig(testURL())
	if err != nil {
		fmt.Fprintln(os.Stderr, "BOOKWORM_TEST_DATABASE_URL:", err)
		return 2
	}
	testAdmin = cfg
	templateName = fmt.Sprintf("bookworm_pgtest_%d_tpl", os.Getpid())
	// Connect creates and migrates the template.
	pool, err := Connect(ctx, urlFor(templateName), discardLog())
	if err != nil {
		fmt.Fprintln(os.Stderr, "create template database:", err)
		return 2
	}
	pool.Close()
	defer dropDatabase(ctx, templateName)
	defer func() {
		for _, c := range cleanups {
			c()
		}
	}()
	return m.Run()
}

// urlFor returns the test server's URL for database name.
func urlFor(name string) string {
	u, err := url.Parse(testURL())
	if err != nil {
		panic(err) // parsed by TestMain already
	}
	u.Path = "/" + name
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

func adminExec(ctx context.Context, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, testAdmin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

func dropDatabase(ctx context.Context, name string) {
	if err := adminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "drop database:", err)
	}
}

// newDatabase returns the name of a fresh, migrated database that is dropped
// when t ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("bookworm_pgtest_%d_%d", os.Getpid(), dbCounter.Add(1))
	if err := adminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{templateName}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { dropDatabase(ctx, name) })
	return name
}

// newPool returns a pool on a fresh database.
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return openPool(t, newDatabase(t))
}

// openPool returns a pool on database name, closed when t ends.
func openPool(t testing.TB, name string) *pgxpool.Pool {
	t.Helper()
	cfg, err := poolConfig(urlFor(name) + "&pool_max_conns=12")
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatalf("open pool: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// testCtx returns a context that ends with the test, or after a minute.
func testCtx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
