package catalogstore

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

// The benchmarks share one database seeded with the 10,000-book demo
// catalog, made on first use and dropped when the package's tests end:
//
//	go test ./internal/adapters/postgres/catalogstore -run '^$' -bench . -benchtime 5s

const benchBooks = 10_000

var (
	benchOnce sync.Once
	benchName string
	benchErr  error
)

// benchCatalog returns a pool on the seeded benchmark database and the ids
// of its books.
func benchCatalog(b *testing.B) (*pgxpool.Pool, []string) {
	b.Helper()
	benchOnce.Do(func() {
		ctx := context.Background()
		benchName = fmt.Sprintf("bookworm_pgtest_%d_bench", os.Getpid())
		if benchErr = pgtest.AdminExec(ctx, "CREATE DATABASE "+pgx.Identifier{benchName}.Sanitize()+
			" TEMPLATE "+pgx.Identifier{pgtest.Template()}.Sanitize()); benchErr != nil {
			return
		}
		pgtest.AfterAll(func() { pgtest.DropDatabase(context.Background(), benchName) })
		var pool *pgxpool.Pool
		if pool, benchErr = postgres.Connect(ctx, pgtest.URL(benchName), pgtest.DiscardLog()); benchErr != nil {
			return
		}
		defer pool.Close()
		_, benchErr = Seed(ctx, pool, benchBooks)
	})
	if benchErr != nil {
		b.Fatalf("benchmark catalog: %v", benchErr)
	}
	pool := pgtest.OpenPool(b, benchName)
	var ids []string
	for _, bk := range DemoCatalog(benchBooks).Books {
		ids = append(ids, bk.ID())
	}
	return pool, ids
}

// latencies collects per-call durations and reports percentiles.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

func (l *latencies) report(b *testing.B) {
	slices.Sort(l.d)
	at := func(p float64) float64 {
		if len(l.d) == 0 {
			return 0
		}
		return float64(l.d[int(p*float64(len(l.d)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.95), "p95-ms")
	b.ReportMetric(at(0.99), "p99-ms")
}

func benchmarkGetBooks(b *testing.B, books catalog.Books, ids []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		r := rand.New(rand.NewPCG(rand.Uint64(), 0))
		one := make([]string, 1)
		for pb.Next() {
			one[0] = ids[r.IntN(len(ids))]
			got, err := books.GetBooks(ctx, one)
			if err != nil || len(got) != 1 {
				b.Errorf("GetBooks: %v, %v", got, err)
				return
			}
		}
	})
}

// runBenchCache returns a listening BookCache, stopped when b ends.
func runBenchCache(b *testing.B, pool *pgxpool.Pool) *BookCache {
	c := NewBookCache(NewBooks(pool), pool, benchBooks, pgtest.DiscardLog())
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	b.Cleanup(func() { stop(); <-done })
	for !c.Listening() {
		time.Sleep(time.Millisecond)
	}
	return c
}

// BenchmarkGetBooksCached reads random books through a warm BookCache.
func BenchmarkGetBooksCached(b *testing.B) {
	pool, ids := benchCatalog(b)
	c := runBenchCache(b, pool)
	for chunk := range slices.Chunk(ids, 100) {
		if _, err := c.GetBooks(context.Background(), chunk); err != nil {
			b.Fatal(err)
		}
	}
	benchmarkGetBooks(b, c, ids)
}

// BenchmarkGetBooksUncached reads random books from Postgres.
func BenchmarkGetBooksUncached(b *testing.B) {
	pool, ids := benchCatalog(b)
	benchmarkGetBooks(b, NewBooks(pool), ids)
}

// benchQueries are searches a shopper might type over the demo catalog:
// words, phrases, typos, exclusions, a stop word.
var benchQueries = []string{
	"dragon", "garden history", "lost kingdom", `"silent river"`, "dragn", "histroy", "lighthouse", "empire of",
	"secret", "winter garden", "lisbon", "clockmaker", "mystery -garden", "astronomer", "alchemist",
}

// BenchmarkSearchBooks runs first pages of searches from 8 goroutines at
// once (4 per CPU on the 2-CPU target machine) on Postgres and reports
// latency percentiles.
func BenchmarkSearchBooks(b *testing.B) {
	pool, _ := benchCatalog(b)
	benchmarkSearch(b, NewBooks(pool))
}

// BenchmarkSearchBooksCached is BenchmarkSearchBooks through a BookCache:
// the queries repeat, so after the first round pages come from memory.
func BenchmarkSearchBooksCached(b *testing.B) {
	pool, _ := benchCatalog(b)
	benchmarkSearch(b, runBenchCache(b, pool))
}

func benchmarkSearch(b *testing.B, books catalog.Books) {
	ctx := context.Background()
	for _, q := range benchQueries { // warm the buffers and plans
		if _, err := books.SearchBooks(ctx, catalog.SearchBooksQuery{Query: q, PageSize: 20}); err != nil {
			b.Fatal(err)
		}
	}
	var lat latencies
	b.SetParallelism(max(1, 8/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := rand.IntN(len(benchQueries))
		for pb.Next() {
			i++
			start := time.Now()
			page, err := books.SearchBooks(ctx, catalog.SearchBooksQuery{Query: benchQueries[i%len(benchQueries)], PageSize: 20})
			lat.add(time.Since(start))
			if err != nil || len(page.Hits) == 0 {
				b.Errorf("search %q: %d hits, %v", benchQueries[i%len(benchQueries)], len(page.Hits), err)
				return
			}
		}
	})
	b.StopTimer()
	lat.report(b)
}

// BenchmarkSearchQueries times each benchmark query alone, to find the
// expensive ones.
func BenchmarkSearchQueries(b *testing.B) {
	pool, _ := benchCatalog(b)
	books := NewBooks(pool)
	for _, q := range append(slices.Clone(benchQueries), "the") {
		b.Run(q, func(b *testing.B) {
			for b.Loop() {
				if _, err := books.SearchBooks(context.Background(), catalog.SearchBooksQuery{Query: q, PageSize: 20}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListBooks pages through the catalog by price.
func BenchmarkListBooks(b *testing.B) {
	pool, _ := benchCatalog(b)
	books := NewBooks(pool)
	ctx := context.Background()
	q := catalog.ListBooksQuery{Order: catalog.OrderPrice, PageSize: 20}
	for b.Loop() {
		page, err := books.ListBooks(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		q.PageToken = page.NextPageToken
	}
}
