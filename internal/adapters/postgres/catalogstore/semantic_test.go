package catalogstore

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

func TestSemanticAndHybridSearch(t *testing.T) {
	pool := pgtest.NewPool(t)
	books := NewBooks(pool)
	f := newFixture(t, pool, books)
	s := NewEmbeddings(pool)
	if ok, err := s.Ready(f.ctx); !ok || err != nil {
		t.Fatalf("Ready = %v, %v", ok, err)
	}
	fantasy, crime := f.category("Fantasy"), f.category("Crime")
	pub, au := f.publisher("Owl Press"), f.author("Ann Quill")
	mk := func(title, desc, cat string) *catalog.Book {
		fl := f.fields(title, cat, pub, au)
		fl.Description = desc
		return f.create(fl)
	}
	orphan := mk("The Sorcerer's Orphan", "A boy learns spells at a boarding academy.", fantasy)
	train := mk("Murder on the Night Train", "A detective and a killer share a sleeper car.", crime)
	mk("Gardens of Stone", "Flowers and plants of the old quarter.", fantasy)
	mk("The Last Voyage", "A ship and her sailors on the open sea.", fantasy)
	for _, title := range []string{"Alpha", "Beta", "Gamma", "Delta", "Epsilon", "Zeta", "Eta"} {
		mk(title+" Reports", "Quarterly numbers of "+title+".", crime)
	}
	var searcher catalog.Books = books
	search := func(query string, mode catalog.SearchMode, flt catalog.BookFilter, size int, token string) catalog.SearchPage {
		t.Helper()
		q := catalog.SearchBooksQuery{Query: query, Mode: mode, Filter: flt, PageSize: size, PageToken: token}
		if mode != catalog.SearchLexical {
			q.Embedding, q.EmbeddingModel = ollamatest.Embed(query), "double"
		}
		p, err := searcher.SearchBooks(f.ctx, q)
		if err != nil {
			t.Fatalf("search %q mode %d: %v", query, mode, err)
		}
		return p
	}
	paraphrase := "young wizard school magic"

	// Nothing embedded yet: lexical, and the page says why.
	if p := search(paraphrase, catalog.SearchAuto, catalog.BookFilter{}, 10, ""); p.Mode != catalog.SearchLexical || p.Degraded != catalog.DegradedNotEmbedded {
		t.Fatalf("before embedding: mode %d degraded %q", p.Mode, p.Degraded)
	}
	if _, ok, err := books.SimilarBooks(f.ctx, orphan.ID(), "double", 5); ok || err != nil {
		t.Fatalf("similar books before embedding: ok %v, err %v", ok, err)
	}
	related, err := books.RelatedBooks(f.ctx, orphan.ID(), 50)
	if err != nil || len(related) != 10 { // one author wrote them all
		t.Fatalf("related books: %d (%v), want the 10 others", len(related), err)
	}
	embedAll(t, s, "double")
	books.embeddings.Clear()
	sim, ok, err := books.SimilarBooks(f.ctx, orphan.ID(), "double", 3)
	if err != nil || !ok || len(sim) != 3 {
		t.Fatalf("similar books: %d, ok %v, err %v", len(sim), ok, err)
	}
	for _, b := range sim {
		if b.ID() == orphan.ID() {
			t.Fatal("a book is similar to itself")
		}
	}

	if p := search(paraphrase, catalog.SearchLexical, catalog.BookFilter{}, 10, ""); len(p.Hits) > 0 && p.Hits[0].Book.ID() == orphan.ID() {
		t.Fatal("lexical search found the paraphrase: the test proves nothing")
	}
	for _, mode := range []catalog.SearchMode{catalog.SearchSemantic, catalog.SearchHybrid, catalog.SearchAuto} {
		p := search(paraphrase, mode, catalog.BookFilter{}, 10, "")
		if len(p.Hits) == 0 || p.Hits[0].Book.ID() != orphan.ID() || p.Degraded != "" {
			t.Fatalf("mode %d: first hit %v (degraded %q), want the orphan", mode, titles(p), p.Degraded)
		}
		if want := map[catalog.SearchMode]catalog.SearchMode{catalog.SearchSemantic: catalog.SearchSemantic, catalog.SearchHybrid: catalog.SearchHybrid, catalog.SearchAuto: catalog.SearchHybrid}[mode]; p.Mode != want {
			t.Fatalf("mode %d answered as %d, want %d", mode, p.Mode, want)
		}
	}
	// Hybrid keeps the exact title match first.
	if p := search("Murder on the Night Train", catalog.SearchHybrid, catalog.BookFilter{}, 10, ""); p.Hits[0].Book.ID() != train.ID() {
		t.Fatalf("hybrid title search: %v", titles(p))
	}
	// Every page is reachable, in order, without repeats; filters hold:
	// in Postgres, through the cache's index with its graphs, and through
	// the cache's index with pgvector's (vectors kept out of the index),
	// with the HNSW indexes and with the exact scan of deep pages (from
	// the fourth hit here).
	cache := runCache(t, pool, 100)
	pgvector := runCacheWith(t, pool, 100, func(c *BookCache) { c.SearchIndex().DisableVectors() })
	if pgvector.SearchIndex().hasSpace(spaceName("double", ollamatest.Dimension)) || !cache.SearchIndex().hasSpace(spaceName("double", ollamatest.Dimension)) {
		t.Fatal("DisableVectors did not keep the vectors out of the index, or the index holds none")
	}
	t.Cleanup(func() { deepSemantic = 1000 })
	stores := []catalog.Books{books, cache, pgvector}
	for i, store := range append(stores, stores...) {
		searcher, deepSemantic = store, 1000
		if i >= len(stores) {
			deepSemantic = 3
		}
		for _, mode := range []catalog.SearchMode{catalog.SearchSemantic, catalog.SearchHybrid} {
			for _, flt := range []catalog.BookFilter{{}, {CategoryIDs: []string{crime}}} {
				seen := map[string]bool{}
				token, pages := "", 0
				prev := 2.0
				for {
					p := search(paraphrase, mode, flt, 2, token)
					pages++
					for _, h := range p.Hits {
						if seen[h.Book.ID()] {
							t.Fatalf("mode %d: %s twice", mode, h.Book.Record().Title)
						}
						if h.Relevance > prev {
							t.Fatalf("mode %d: relevance rises from %v to %v", mode, prev, h.Relevance)
						}
						if len(flt.CategoryIDs) > 0 && h.Book.Record().CategoryID != crime {
							t.Fatalf("mode %d: filter ignored: %s", mode, h.Book.Record().Title)
						}
						prev = h.Relevance
						seen[h.Book.ID()] = true
					}
					if p.NextPageToken == "" {
						break
					}
					token = p.NextPageToken
				}
				want := 11
				if len(flt.CategoryIDs) > 0 {
					want = 8
				}
				if mode == catalog.SearchSemantic && len(seen) != want {
					t.Fatalf("semantic pages reached %d books, want all %d embedded ones", len(seen), want)
				}
				if mode == catalog.SearchHybrid && len(seen) != want {
					t.Fatalf("hybrid pages reached %d books, want %d", len(seen), want)
				}
			}
		}
	}
	searcher = books
	// A token of one mode is refused by another.
	p := search(paraphrase, catalog.SearchSemantic, catalog.BookFilter{}, 2, "")
	q := catalog.SearchBooksQuery{Query: paraphrase, Mode: catalog.SearchHybrid, PageSize: 2, PageToken: p.NextPageToken,
		Embedding: ollamatest.Embed(paraphrase), EmbeddingModel: "double"}
	if _, err := books.SearchBooks(f.ctx, q); err == nil {
		t.Fatal("a semantic page token was accepted by a hybrid search")
	}
	// A deleted book disappears from every mode.
	if err := books.DeleteBook(f.ctx, orphan.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []catalog.SearchMode{catalog.SearchSemantic, catalog.SearchHybrid} {
		for _, h := range search(paraphrase, mode, catalog.BookFilter{}, 100, "").Hits {
			if h.Book.ID() == orphan.ID() {
				t.Fatalf("mode %d still finds the deleted book", mode)
			}
		}
	}
}

func titles(p catalog.SearchPage) []string {
	var out []string
	for _, h := range p.Hits {
		out = append(out, h.Book.Record().Title)
	}
	return out
}
