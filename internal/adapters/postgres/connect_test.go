package postgres

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
)

func TestConnectCreatesAndMigrates(t *testing.T) {
	ctx := testCtx(t)
	name := fmt.Sprintf("bookworm_pgtest_%d_connect", os.Getpid())
	dropDatabase(ctx, name)
	t.Cleanup(func() { dropDatabase(context.Background(), name) })

	// Replicas starting at once race to create and migrate the database.
	const replicas = 3
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Go(func() {
			pool, err := Connect(ctx, urlFor(name), discardLog())
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

	pool, err := Connect(ctx, urlFor(name), discardLog())
	if err != nil {
		t.Fatalf("connect to the existing database: %v", err)
	}
	defer pool.Close()
	var applied, tables int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM goose_db_version WHERE version_id > 0`).Scan(&applied); err != nil {
		t.Fatal(err)
	}
	entries, err := migrations.ReadDir("migrations")
	if err != nil {
		t.Fatal(err)
	}
	if applied != len(entries) {
		t.Errorf("%d migrations recorded, want %d, each once", applied, len(entries))
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'
		AND tablename IN ('books', 'book_authors', 'authors', 'categories', 'publishers')`).Scan(&tables); err != nil || tables != 5 {
		t.Errorf("%d catalog tables, %v", tables, err)
	}
	if max := pool.Config().MaxConns; max < 8 {
		t.Errorf("pool of %d connections, want at least 8", max)
	}
	var threshold string
	if err := pool.QueryRow(ctx, `SHOW pg_trgm.word_similarity_threshold`).Scan(&threshold); err != nil || threshold != trigramThreshold {
		t.Errorf("word similarity threshold %q, %v", threshold, err)
	}
}

func TestConnectPoolSize(t *testing.T) {
	ctx := testCtx(t)
	name := newDatabase(t)
	pool, err := Connect(ctx, urlFor(name)+"&pool_max_conns=3", discardLog())
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if got := pool.Config().MaxConns; got != 3 {
		t.Errorf("pool_max_conns=3 gave %d", got)
	}
}

func TestConnectErrorsHideThePassword(t *testing.T) {
	ctx := testCtx(t)
	for _, u := range []string{"postgres://bob:s3cret@127.0.0.1:5432/x?pool_max_conns=nope", "::s3cret"} {
		_, err := Connect(ctx, u, discardLog())
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Connect(%q) = %v", u, err)
		}
	}
}
