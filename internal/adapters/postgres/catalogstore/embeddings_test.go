package catalogstore

import (
	"context"
	"log/slog"
	"strings"
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

// storedEmbedding is the text hash and vector stored for a book.
func storedEmbedding(t *testing.T, f *fixture, id string) (hash, vector string) {
	t.Helper()
	if err := f.pool.QueryRow(f.ctx, `SELECT text_hash, embedding::text FROM catalog.book_embeddings WHERE book_id = $1`, id).Scan(&hash, &vector); err != nil {
		t.Fatalf("embedding of %s: %v", id, err)
	}
	return hash, vector
}

// rename sets the name (and text, when paths say so) of an entity.
func rename(t *testing.T, f *fixture, k catalog.Kind, id, name, text string, paths ...string) {
	t.Helper()
	if _, err := f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
		return e.Apply(catalog.EntityFields{Name: name, Text: text}, paths, f.now())
	}); err != nil {
		t.Fatalf("rename %s %s to %q: %v", k.Name, id, name, err)
	}
}

func samePending(got map[string]bool, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for _, id := range want {
		if !got[id] {
			return false
		}
	}
	return true
}

// Renaming an author or a category changes the embedding text of the books
// that carry it: the rename itself marks them, with no book event.
func TestEmbeddingsFollowEntityRenames(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	s := NewEmbeddings(pool)
	if ok, err := s.Ready(f.ctx); !ok || err != nil {
		t.Fatalf("Ready = %v, %v", ok, err)
	}
	nudges := 0
	f.entities = NewEntities(pool).WithRenamed(func() { nudges++ })
	fantasy, crime, pub := f.category("Fantasy"), f.category("Crime"), f.publisher("Owl Press")
	ann, bo := f.author("Ann Quill"), f.author("Bo Reed")
	b1 := f.create(f.fields("The Sorcerer's Orphan", fantasy, pub, ann)).ID()
	b2 := f.create(f.fields("Murder on the Night Train", crime, pub, ann, bo)).ID()
	b3 := f.create(f.fields("The Quiet Harbour", crime, pub, bo)).ID()
	if n := embedAll(t, s, "m1"); n != 3 {
		t.Fatalf("embedded %d, want 3", n)
	}
	before := map[string][2]string{}
	for _, id := range []string{b1, b2, b3} {
		h, v := storedEmbedding(t, f, id)
		before[id] = [2]string{h, v}
	}

	// Neither a new biography, nor a publisher's new name, nor a rename to
	// the same name changes an embedded text.
	rename(t, f, catalog.AuthorKind, ann, "Ann Quill", "A new biography", catalog.FieldName, catalog.AuthorKind.TextField)
	rename(t, f, catalog.PublisherKind, pub, "Owl House", "", catalog.FieldName)
	if p := pending(t, s, "m1"); len(p) != 0 {
		t.Fatalf("no-op renames made %v pending", p)
	}
	if nudges != 0 {
		t.Fatalf("no-op renames nudged the indexer %d times", nudges)
	}

	// An author's rename: the books of that author, and only those.
	rename(t, f, catalog.AuthorKind, ann, "Ann Quillon", "", catalog.FieldName)
	if p := pending(t, s, "m1"); !samePending(p, b1, b2) {
		t.Fatalf("after the author's rename pending %v, want %s and %s", p, b1, b2)
	}
	if nudges != 1 {
		t.Fatalf("the author's rename nudged the indexer %d times, want once", nudges)
	}
	if n := embedAll(t, s, "m1"); n != 2 {
		t.Fatalf("re-embedded %d, want 2", n)
	}
	if p := pending(t, s, "m1"); len(p) != 0 {
		t.Fatalf("pending after re-embedding: %v", p)
	}
	for _, id := range []string{b1, b2} {
		h, v := storedEmbedding(t, f, id)
		text := catalog.EmbeddingText(f.get(id).Record())
		if !strings.Contains(text, "Ann Quillon") || h != catalog.TextHash(text) || h == before[id][0] || v == before[id][1] {
			t.Errorf("book %s: hash %s (before %s), vector changed %v, text %q", id, h, before[id][0], v != before[id][1], text)
		}
	}
	if h, v := storedEmbedding(t, f, b3); h != before[b3][0] || v != before[b3][1] {
		t.Errorf("book %s of another author was re-embedded", b3)
	}

	// A category's rename: its books; a rename back before the indexer
	// ran leaves nothing to embed.
	h1, _ := storedEmbedding(t, f, b1)
	rename(t, f, catalog.CategoryKind, crime, "Crime & Mystery", "", catalog.FieldName)
	if p := pending(t, s, "m1"); !samePending(p, b2, b3) {
		t.Fatalf("after the category's rename pending %v, want %s and %s", p, b2, b3)
	}
	rename(t, f, catalog.CategoryKind, crime, "Crime", "", catalog.FieldName)
	if p := pending(t, s, "m1"); len(p) != 0 {
		t.Fatalf("after renaming back pending %v", p)
	}
	rename(t, f, catalog.CategoryKind, crime, "Crime & Mystery", "", catalog.FieldName)
	if n := embedAll(t, s, "m1"); n != 2 {
		t.Fatalf("re-embedded %d, want 2", n)
	}
	for _, id := range []string{b2, b3} {
		h, _ := storedEmbedding(t, f, id)
		if text := catalog.EmbeddingText(f.get(id).Record()); !strings.Contains(text, "Category: Crime & Mystery") || h != catalog.TextHash(text) {
			t.Errorf("book %s: hash %s, text %q", id, h, text)
		}
	}
	if h, _ := storedEmbedding(t, f, b1); h != h1 {
		t.Errorf("book %s of another category was re-embedded", b1)
	}

	// A vector made from the text before a rename that commits while it
	// is being made is not stored: the book stays pending.
	rename(t, f, catalog.CategoryKind, fantasy, "Epic Fantasy", "", catalog.FieldName)
	recs, err := s.PendingEmbeddings(f.ctx, "m1", "", 10)
	if err != nil || len(recs) != 1 || recs[0].ID != b1 {
		t.Fatalf("pending %v (%v), want %s", recs, err, b1)
	}
	rename(t, f, catalog.CategoryKind, fantasy, "High Fantasy", "", catalog.FieldName)
	text := catalog.EmbeddingText(recs[0])
	if err := s.PutEmbeddings(f.ctx, "m1", []catalog.BookEmbedding{{BookID: b1, Version: recs[0].Version,
		TextHash: catalog.TextHash(text), Vector: ollamatest.Embed(text)}}); err != nil {
		t.Fatal(err)
	}
	if p := pending(t, s, "m1"); !samePending(p, b1) {
		t.Fatalf("after storing an outdated vector pending %v, want %s", p, b1)
	}
	embedAll(t, s, "m1")
	if h, _ := storedEmbedding(t, f, b1); h != catalog.TextHash(catalog.EmbeddingText(f.get(b1).Record())) {
		t.Errorf("book %s embedded from another text than its own", b1)
	}
}
