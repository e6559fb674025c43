package catalogstore

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

var benchEmbedOnce sync.Once

// BenchmarkSearchModes runs first pages of searches in each mode from 8
// goroutines on the 10,000-book benchmark catalog, every book embedded with
// the Ollama double's vectors (so the run measures BookWorm and Postgres,
// not a model; query vectors are made before the clock starts):
//
//	go test ./internal/adapters/postgres/catalogstore -run '^$' -bench SearchModes -benchtime 2000x
func BenchmarkSearchModes(b *testing.B) {
	pool, _ := benchCatalog(b)
	ctx := context.Background()
	store := NewEmbeddings(pool)
	benchEmbedOnce.Do(func() {
		if ok, err := store.Ready(ctx); !ok || err != nil {
			b.Fatalf("pgvector: %v %v", ok, err)
		}
		start := time.Now()
		for {
			recs, err := store.PendingEmbeddings(ctx, "double", "", 500)
			if err != nil {
				b.Fatal(err)
			}
			if len(recs) == 0 {
				break
			}
			items := make([]catalog.BookEmbedding, len(recs))
			for i, r := range recs {
				text := catalog.EmbeddingText(r)
				items[i] = catalog.BookEmbedding{BookID: r.ID, Version: r.Version, TextHash: catalog.TextHash(text), Vector: ollamatest.Embed(text)}
			}
			if err := store.PutEmbeddings(ctx, "double", items); err != nil {
				b.Fatal(err)
			}
		}
		b.Logf("embedded %d books (double vectors) in %v", benchBooks, time.Since(start))
	})
	vectors := map[string][]float32{}
	for _, q := range benchQueries {
		vectors[q] = ollamatest.Embed(q)
	}
	for _, mode := range []struct {
		name string
		mode catalog.SearchMode
	}{{"lexical", catalog.SearchLexical}, {"semantic", catalog.SearchSemantic}, {"hybrid", catalog.SearchHybrid}} {
		b.Run(mode.name, func(b *testing.B) {
			books := NewBooks(pool)
			query := func(q string) catalog.SearchBooksQuery {
				sq := catalog.SearchBooksQuery{Query: q, PageSize: 20, Mode: mode.mode}
				if mode.mode != catalog.SearchLexical {
					sq.Embedding, sq.EmbeddingModel = vectors[q], "double"
				}
				return sq
			}
			for _, q := range benchQueries {
				if _, err := books.SearchBooks(ctx, query(q)); err != nil {
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
					_, err := books.SearchBooks(ctx, query(benchQueries[i%len(benchQueries)]))
					lat.add(time.Since(start))
					if err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			lat.report(b)
		})
	}
}
