package catalogstore

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

// embedAll embeds every pending book with the double's vectors, as the
// indexer would.
func embedAll(t *testing.T, s *Embeddings, model string) int {
	t.Helper()
	recs, err := s.PendingEmbeddings(context.Background(), model, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	items := make([]catalog.BookEmbedding, len(recs))
	for i, r := range recs {
		text := catalog.EmbeddingText(r)
		items[i] = catalog.BookEmbedding{BookID: r.ID, Version: r.Version, TextHash: catalog.TextHash(text), Vector: ollamatest.Embed(text)}
	}
	if err := s.PutEmbeddings(context.Background(), model, items); err != nil {
		t.Fatal(err)
	}
	return len(recs)
}

func pending(t *testing.T, s *Embeddings, model string) map[string]bool {
	t.Helper()
	recs, err := s.PendingEmbeddings(context.Background(), model, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.CountPendingEmbeddings(context.Background(), model)
	if err != nil || n != len(recs) {
		t.Fatalf("count %d (%v), listed %d", n, err, len(recs))
	}
	out := map[string]bool{}
	for _, r := range recs {
		out[r.ID] = true
	}
	return out
}

// consume hands every outbox event of the database to the consumer.
func consume(t *testing.T, f *fixture, c *EmbeddingEvents, from int) int {
	t.Helper()
	evs := pgtest.Outbox(t, f.pool)
	for _, ev := range evs[from:] {
		if !containsType(c.EventTypes(), ev.Type) {
			continue
		}
		if err := c.Handle(f.ctx, ev.Message); err != nil {
			t.Fatalf("handle %s: %v", ev.Type, err)
		}
	}
	return len(evs)
}

func containsType(ts []string, t string) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

func TestEmbeddingsFollowTheBookEvents(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	s := NewEmbeddings(pool)
	ready, err := s.Ready(f.ctx)
	if err != nil || !ready {
		t.Fatalf("Ready = %v, %v: the test Postgres must have pgvector (scripts/build-pgvector.sh)", ready, err)
	}
	nudges := 0
	c := NewEmbeddingEvents(pool, func() { nudges++ })
	cat, pub, au := f.category("Fantasy"), f.publisher("Owl Press"), f.author("Ann Quill")
	wizard := f.create(f.fields("The Sorcerer's Orphan", cat, pub, au))
	other := f.create(f.fields("Murder on the Night Train", cat, pub, au))
	seen := consume(t, f, c, 0)
	if p := pending(t, s, "m1"); len(p) != 2 {
		t.Fatalf("pending %v, want both new books", p)
	}
	if n := embedAll(t, s, "m1"); n != 2 {
		t.Fatalf("embedded %d", n)
	}
	if p := pending(t, s, "m1"); len(p) != 0 {
		t.Fatalf("pending after embedding: %v", p)
	}
	var idx int
	if err := pool.QueryRow(f.ctx, `SELECT count(*) FROM pg_indexes WHERE schemaname = 'catalog' AND indexname = 'book_embeddings_hnsw_64' AND indexdef LIKE '%hnsw%'`).Scan(&idx); err != nil || idx != 1 {
		t.Fatalf("HNSW index for dimension 64: %d (%v)", idx, err)
	}

	// A price change leaves the embedded text alone: nothing to embed.
	if _, err := f.books.UpdateBook(f.ctx, other.ID(), func(b *catalog.Book) error {
		fields := b.Record().BookFields
		fields.Price = eur(t, 2500)
		return b.Apply(fields, []string{catalog.FieldPrice}, f.now())
	}); err != nil {
		t.Fatal(err)
	}
	seen = consume(t, f, c, seen)
	if p := pending(t, s, "m1"); len(p) != 0 {
		t.Fatalf("a price change made %v pending", p)
	}
	// A new description is embedded again.
	if _, err := f.books.UpdateBook(f.ctx, other.ID(), func(b *catalog.Book) error {
		fields := b.Record().BookFields
		fields.Description = "A detective hunts a killer across Europe."
		return b.Apply(fields, []string{catalog.FieldDescription}, f.now())
	}); err != nil {
		t.Fatal(err)
	}
	seen = consume(t, f, c, seen)
	if p := pending(t, s, "m1"); len(p) != 1 || !p[other.ID()] {
		t.Fatalf("after a new description pending %v, want %s", p, other.ID())
	}
	embedAll(t, s, "m1")
	// Another model re-embeds everything.
	if p := pending(t, s, "m2"); len(p) != 2 {
		t.Fatalf("pending for another model %v, want both", p)
	}
	// A deleted book loses its embedding and is never pending.
	if err := f.books.DeleteBook(f.ctx, wizard.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	consume(t, f, c, seen)
	var left int
	if err := pool.QueryRow(f.ctx, `SELECT count(*) FROM catalog.book_embeddings WHERE book_id = $1`, wizard.ID()).Scan(&left); err != nil || left != 0 {
		t.Fatalf("deleted book's embedding rows: %d (%v)", left, err)
	}
	if p := pending(t, s, "m2"); p[wizard.ID()] {
		t.Fatal("a deleted book is pending")
	}
	if nudges == 0 {
		t.Fatal("the consumer never nudged the indexer")
	}
}

func TestIndexerBackfillsWithTheOllamaDouble(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	s := NewEmbeddings(pool)
	if ok, err := s.Ready(f.ctx); !ok || err != nil {
		t.Fatalf("Ready = %v, %v", ok, err)
	}
	cat, pub, au := f.category("Fiction"), f.publisher("P"), f.author("A")
	for i := range 45 {
		f.create(f.fields("Book "+string(rune('A'+i%26))+string(rune('a'+i/26)), cat, pub, au))
	}
	emb := embedderFunc(func(ctx context.Context, texts []string) (catalog.Embeddings, error) {
		vs := make([][]float32, len(texts))
		for i, x := range texts {
			vs[i] = ollamatest.Embed(x)
		}
		return catalog.Embeddings{Model: "double", Vectors: vs}, nil
	})
	x := catalog.NewIndexer(s, emb, "double", slog.New(slog.DiscardHandler))
	x.Batch = 10
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	pgtest.Eventually(t, "every book embedded", func() bool {
		n, err := s.CountPendingEmbeddings(f.ctx, "double")
		return err == nil && n == 0
	})
	// A new book is embedded after a nudge, without waiting for the idle interval.
	f.create(f.fields("Late arrival", cat, pub, au))
	x.Nudge()
	start := time.Now()
	pgtest.Eventually(t, "the new book embedded", func() bool {
		n, err := s.CountPendingEmbeddings(f.ctx, "double")
		return err == nil && n == 0
	})
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("nudged book took %v", d)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type embedderFunc func(ctx context.Context, texts []string) (catalog.Embeddings, error)

func (f embedderFunc) Embed(ctx context.Context, texts []string) (catalog.Embeddings, error) {
	return f(ctx, texts)
}
