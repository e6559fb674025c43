// Package pgtest gives the tests of BookWorm's Postgres packages fresh
// databases on a real PostgreSQL server: the package's own container
// (internal/testenv; its fallback is BOOKWORM_TEST_DATABASE_URL or the
// local one). Main migrates a template database once per test binary, with
// the migration sets the package under test needs; every test then gets a
// copy of it (CREATE DATABASE ... TEMPLATE), dropped when the test ends.
// RolePool opens a pool as a role that may use only some schemas, to prove
// that a context's store touches no other context's tables.
//
// Import it from tests only.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/testenv"
)

var (
	admin     *pgx.ConnConfig // the maintenance database
	prefix    string          // of every database this binary makes
	template  string
	dbCounter atomic.Int64
	// afterAll run after every test, for what outlives one test.
	afterAll []func()
	// serverURL is the maintenance URL of the package's Postgres.
	serverURL string
)

// Template is the name of the migrated template database.
func Template() string { return template }

// AfterAll registers f to run once every test of the binary has ended (for
// a database that benchmarks share, say). Not safe for concurrent use.
func AfterAll(f func()) { afterAll = append(afterAll, f) }

// ServerURL is the test server's URL: the package's own Postgres container
// (internal/testenv), or the machine's shared server when no container
// engine answers. Valid once Main has started.
func ServerURL() string { return serverURL }

// DiscardLog is a logger that drops everything.
func DiscardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// Main runs the tests of m after migrating a template database with sets,
// and drops the template afterwards; call it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, catalogstore.Migrations, outbox.Migrations)) }
func Main(m *testing.M, sets ...postgres.Migrations) int {
	return testenv.Main(func() int { return run(m, sets) })
}

func run(m *testing.M, sets []postgres.Migrations) int {
	ctx := context.Background()
	pg, err := testenv.PackagePostgres(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test Postgres:", err)
		return 2
	}
	serverURL = pg.URL
	cfg, err := pgx.ParseConfig(serverURL)
	if err != nil {
		fmt.Fprintln(os.Stderr, "test Postgres URL:", err)
		return 2
	}
	admin = cfg
	var b [4]byte
	_, _ = rand.Read(b[:])
	prefix = fmt.Sprintf("bookworm_pgtest_%d_%s", os.Getpid(), hex.EncodeToString(b[:]))
	template = prefix + "_tpl"
	pool, err := postgres.Connect(ctx, URL(template), DiscardLog(), sets...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "create template database:", err)
		DropDatabase(ctx, template)
		return 2
	}
	pool.Close()
	defer DropDatabase(ctx, template)
	defer func() {
		for _, f := range afterAll {
			f()
		}
	}()
	return m.Run()
}

// URL returns the test server's URL for database name.
func URL(name string) string {
	u, err := url.Parse(ServerURL())
	if err != nil {
		panic(err) // parsed by Main already
	}
	u.Path = "/" + name
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// AdminExec runs sql on the maintenance database.
func AdminExec(ctx context.Context, sql string) error {
	conn, err := pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// DropDatabase drops database name, reporting a failure on stderr.
func DropDatabase(ctx context.Context, name string) {
	if err := AdminExec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		fmt.Fprintln(os.Stderr, "drop database:", err)
	}
}

// Name returns a database name of this test binary that nothing uses yet.
// The caller creates it (postgres.Connect does) and drops it.
func Name() string { return fmt.Sprintf("%s_%d", prefix, dbCounter.Add(1)) }

// NewDatabase returns the name of a fresh copy of the template database,
// dropped when t ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := Name()
	if err := AdminExec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()+
		" TEMPLATE "+pgx.Identifier{template}.Sanitize()); err != nil {
		t.Fatalf("create test database: %v", err)
	}
	t.Cleanup(func() { DropDatabase(ctx, name) })
	return name
}

// NewPool returns a pool on a fresh copy of the template database.
func NewPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return OpenPool(t, NewDatabase(t))
}

// OpenPool returns a pool on database name with the driver's settings,
// closed when t ends.
func OpenPool(t testing.TB, name string) *pgxpool.Pool {
	t.Helper()
	return openURL(t, URL(name)+"&pool_max_conns=12")
}

func openURL(t testing.TB, u string) *pgxpool.Pool {
	t.Helper()
	cfg, err := postgres.PoolConfig(u)
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

// RolePool returns a pool on database name that logs in as a new role
// granted only the use of schemas: their tables, sequences and functions,
// nothing in any other schema of BookWorm. The role is dropped when t ends.
func RolePool(t testing.TB, name string, schemas ...string) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	role := fmt.Sprintf("%s_role_%d", prefix, dbCounter.Add(1))
	quoted := pgx.Identifier{role}.Sanitize()
	stmts := []string{"CREATE ROLE " + quoted + " LOGIN"}
	for _, s := range schemas {
		qs := pgx.Identifier{s}.Sanitize()
		stmts = append(stmts,
			"GRANT USAGE ON SCHEMA "+qs+" TO "+quoted,
			"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA "+qs+" TO "+quoted,
			"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA "+qs+" TO "+quoted,
			"GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA "+qs+" TO "+quoted)
	}
	conn, err := pgx.Connect(ctx, URL(name))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, strings.Join(stmts, ";\n")); err != nil {
		t.Fatalf("create role: %v", err)
	}
	t.Cleanup(func() {
		// The pool closes first (cleanups run last in, first out).
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, URL(name))
		if err == nil {
			_, err = c.Exec(ctx, "DROP OWNED BY "+quoted+"; DROP ROLE "+quoted)
			c.Close(ctx)
		}
		if err != nil {
			t.Logf("drop role %s: %v", role, err)
		}
	})
	u, _ := url.Parse(URL(name))
	u.User = url.User(role)
	return openURL(t, u.String()+"&pool_max_conns=12")
}

// Ctx returns a context that ends with the test, or after a minute.
func Ctx(t testing.TB) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// Eventually polls cond until it holds, or fails t after 15 seconds.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// OutboxEvent is one row of events.outbox as tests read it.
type OutboxEvent struct {
	Seq int64
	events.Message
	Published bool
}

// Outbox returns every row of events.outbox in insertion order.
func Outbox(t testing.TB, pool *pgxpool.Pool) []OutboxEvent {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT seq, event_id::text, type, source, occur_time, traceparent,
		tracestate, content_type, data, published_at IS NOT NULL FROM events.outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (OutboxEvent, error) {
		var r OutboxEvent
		err := row.Scan(&r.Seq, &r.ID, &r.Type, &r.Source, &r.Time, &r.TraceParent, &r.TraceState, &r.ContentType,
			&r.Data, &r.Published)
		r.Time = r.Time.UTC()
		r.Attempt = 1
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// CheckTokenRefusal fails t unless a page-token decoder either accepted
// token (ok) or refused it as an invalid page_token, never with another
// kind of error; the empty token is the first page.
func CheckTokenRefusal(t *testing.T, token string, ok bool, err error) {
	t.Helper()
	if err == nil {
		if !ok && token != "" {
			t.Fatalf("%q: neither accepted nor refused", token)
		}
		return
	}
	if ok {
		t.Fatalf("%q: accepted with error %v", token, err)
	}
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) != 1 || ve.Violations[0].Field != "page_token" {
		t.Fatalf("%q: refused with %v, want an invalid page_token", token, err)
	}
}

// RawToken is base64url of s: a page token with any content a forger likes.
func RawToken(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
