package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// defaultSharedPostgres is the machine's shared Postgres, the fallback.
const defaultSharedPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// PostgresServer is a Postgres 15 server for tests. URL is its maintenance
// database as the superuser postgres (trust authentication): tests create
// databases of their own on it (NewDatabase, CreateDatabase) and never
// share one. The embedded Container stops, starts and pauses it; it is nil
// for the shared server of the fallback.
type PostgresServer struct {
	URL string
	*Container
}

var (
	pkgPostgresOnce sync.Once
	pkgPostgres     *PostgresServer
	pkgPostgresErr  error
)

// PackagePostgres returns the package's Postgres server, started on the
// first call (one per test binary) and terminated by Run. For TestMain; in
// a test, Postgres is shorter.
func PackagePostgres(ctx context.Context) (*PostgresServer, error) {
	pkgPostgresOnce.Do(func() {
		pkgPostgres, pkgPostgresErr = startPostgres(ctx, nil)
	})
	return pkgPostgres, pkgPostgresErr
}

// Postgres is PackagePostgres for a test: it fails the test on error.
func Postgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	p, err := PackagePostgres(context.Background())
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// NewPostgres starts a Postgres server of the test's own, terminated when
// the test ends: for tests that stop, restart or pause it. Without an
// engine the test is skipped (or fails when containers are required).
func NewPostgres(tb testing.TB) *PostgresServer {
	tb.Helper()
	p, err := startPostgres(context.Background(), map[string]string{"org.bookworm.testenv.test": tb.Name()})
	if err != nil {
		tb.Fatal(err)
	}
	if p.Container == nil {
		tb.Skip("testenv: no container engine: this test needs a Postgres of its own")
	}
	tb.Cleanup(func() {
		if err := p.Terminate(); err != nil {
			tb.Errorf("terminating the test's Postgres: %v", err)
		}
	})
	return p
}

func startPostgres(ctx context.Context, labels map[string]string) (*PostgresServer, error) {
	e, why := getEngine()
	if e == nil {
		shared := os.Getenv("BOOKWORM_TEST_DATABASE_URL")
		if shared == "" {
			shared = defaultSharedPostgres
		}
		if err := fallback("Postgres", why, shared); err != nil {
			return nil, err
		}
		return &PostgresServer{URL: shared}, nil
	}
	c, err := startContainer(ctx, e, spec{
		name:     "postgres",
		port:     "5432/tcp",
		official: "pgvector/pgvector:pg15", // Postgres 15 with the vector extension
		env:      map[string]string{"POSTGRES_HOST_AUTH_METHOD": "trust"},
		cmd:      []string{"postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=300"},
		// The official image's entrypoint runs a temporary server first.
		waitLog: "database system is ready to accept connections",
		waitN:   2,
		ready: func(ctx context.Context, port string) error {
			return poll(ctx, 2*time.Minute, "postgres", func(ctx context.Context) error {
				conn, err := pgx.Connect(ctx, postgresURL(port, "postgres"))
				if err != nil {
					return err
				}
				defer conn.Close(context.Background())
				return conn.Ping(ctx)
			})
		},
		labels: labels,
	})
	if err != nil {
		return nil, err
	}
	return &PostgresServer{URL: postgresURL(c.port, "postgres"), Container: c}, nil
}

func postgresURL(port, database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%s/%s?sslmode=disable", port, database)
}

// DatabaseURL returns the URL of database name on the server.
func (p *PostgresServer) DatabaseURL(name string) string {
	u, err := url.Parse(p.URL)
	if err != nil {
		panic(fmt.Sprintf("testenv: the Postgres URL does not parse: %v", err))
	}
	u.Path = "/" + name
	q := u.Query()
	if !q.Has("sslmode") {
		q.Set("sslmode", "disable")
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql on the maintenance database.
func (p *PostgresServer) Exec(ctx context.Context, sql string) error {
	conn, err := pgx.Connect(ctx, p.URL)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}

var dbCounter atomic.Int64

// CreateDatabase creates a new, empty database whose name starts with
// prefix and is unique on the server (the shared server of the fallback
// has other runs' databases), and returns its URL and a function that drops
// it.
func (p *PostgresServer) CreateDatabase(ctx context.Context, prefix string) (string, func() error, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := fmt.Sprintf("%s_%d_%d_%s", prefix, os.Getpid(), dbCounter.Add(1), hex.EncodeToString(b[:]))
	if err := p.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return p.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
	return p.DatabaseURL(name), drop, nil
}

// NewDatabase is CreateDatabase for a test: the database is dropped when
// the test ends.
func (p *PostgresServer) NewDatabase(tb testing.TB) string {
	tb.Helper()
	u, drop, err := p.CreateDatabase(context.Background(), "bookworm_test")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := drop(); err != nil {
			tb.Errorf("dropping the test's database: %v", err)
		}
	})
	return u
}
