package catalog_test

import (
	"context"
	"log/slog"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// fakeEmbeddings is an EmbeddingStore in memory: a book is pending until
// it has a vector of the model.
type fakeEmbeddings struct {
	mu     sync.Mutex
	books  []catalog.BookRecord
	stored map[string]string // id → model
}

func (f *fakeEmbeddings) pending(model string) []catalog.BookRecord {
	var out []catalog.BookRecord
	for _, b := range f.books {
		if f.stored[b.ID] != model {
			out = append(out, b)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func (f *fakeEmbeddings) PendingEmbeddings(_ context.Context, model, after string, limit int) ([]catalog.BookRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []catalog.BookRecord
	for _, b := range f.pending(model) {
		if b.ID > after && len(out) < limit {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeEmbeddings) CountPendingEmbeddings(_ context.Context, model string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.pending(model)), nil
}

func (f *fakeEmbeddings) PutEmbeddings(_ context.Context, model string, items []catalog.BookEmbedding) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, it := range items {
		f.stored[it.BookID] = model
	}
	return nil
}

func (f *fakeEmbeddings) add(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.books = append(f.books, catalog.BookRecord{ID: id, Version: 1, BookFields: catalog.BookFields{Title: "Book " + id}})
}

func (f *fakeEmbeddings) left(model string) int {
	n, _ := f.CountPendingEmbeddings(context.Background(), model)
	return n
}

// flakyEmbedder fails its first failures calls as an unavailable model.
type flakyEmbedder struct {
	mu       sync.Mutex
	failures int
	calls    int
}

func (e *flakyEmbedder) Embed(_ context.Context, texts []string) (catalog.Embeddings, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	if e.calls <= e.failures {
		return catalog.Embeddings{}, failure.ErrUnavailable
	}
	vs := make([][]float32, len(texts))
	for i := range vs {
		vs[i] = []float32{1, 0}
	}
	return catalog.Embeddings{Model: "m", Vectors: vs}, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIndexerEmbedsEveryPendingBookAndBacksOff(t *testing.T) {
	store := &fakeEmbeddings{stored: map[string]string{}}
	for _, id := range []string{"01", "02", "03", "04", "05", "06", "07"} {
		store.add(id)
	}
	emb := &flakyEmbedder{failures: 1} // the model is away at first
	x := catalog.NewIndexer(store, emb, "m", slog.New(slog.DiscardHandler))
	x.Batch, x.Idle = 3, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	waitFor(t, "the backfill is done", func() bool { return store.left("m") == 0 })
	emb.mu.Lock()
	calls := emb.calls
	emb.mu.Unlock()
	if calls != 4 { // one failure, then 7 books in batches of 3
		t.Errorf("%d embed calls, want 4", calls)
	}
	// A new book waits for a nudge, not for the idle hour.
	store.add("08")
	x.Nudge()
	waitFor(t, "the nudged book is embedded", func() bool { return store.left("m") == 0 })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}
