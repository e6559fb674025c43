package catalogstore

import (
	"context"
	"errors"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/ollama/ollamatest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

// exactNearest is pgvector's exact order of the embedded live books passing
// where (SQL on b, the book), as id → cosine distance, and the distances in
// order.
func exactNearest(t *testing.T, ctx context.Context, pool *pgxpool.Pool, vec []float32, where string) (map[string]float64, []float64) {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT e.book_id::text, (e.embedding <=> $1::vector)::float8 AS d
		  FROM catalog.book_embeddings e JOIN catalog.books b ON b.id = e.book_id
		 WHERE b.delete_time IS NULL AND `+where+` ORDER BY (e.embedding <=> $1::vector) + 0`, vectorLiteral(vec))
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	byID := map[string]float64{}
	var order []float64
	for rows.Next() {
		var (
			id string
			d  float64
		)
		if err := rows.Scan(&id, &d); err != nil {
			t.Fatal(err)
		}
		byID[id] = d
		order = append(order, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return byID, order
}

func embedEverything(t *testing.T, pool *pgxpool.Pool) {
	t.Helper()
	s := NewEmbeddings(pool)
	if ok, err := s.Ready(context.Background()); !ok || err != nil {
		t.Fatalf("embeddings Ready = %v, %v", ok, err)
	}
	for embedAll(t, s, "double") > 0 {
	}
}

// TestSearchIndexVectors: semantic pages answered from the index's graph
// agree with pgvector's exact distances, reach every embedded book once in
// order (the graph's first hits, then the exact scan), honour filters both
// ways (graph with the filter, scan of the passing books), and follow new,
// changed and deleted vectors; their tokens are the index's.
func TestSearchIndexVectors(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	if _, err := Seed(ctx, pool, 3000); err != nil {
		t.Fatal(err)
	}
	var cat, cat2, pub, author string
	if err := pool.QueryRow(ctx, `SELECT (SELECT id::text FROM catalog.categories ORDER BY id LIMIT 1),
		(SELECT id::text FROM catalog.categories ORDER BY id DESC LIMIT 1), (SELECT id::text FROM catalog.publishers LIMIT 1),
		(SELECT id::text FROM catalog.authors LIMIT 1)`).Scan(&cat, &cat2, &pub, &author); err != nil {
		t.Fatal(err)
	}
	embedEverything(t, pool)
	cache := runCache(t, pool, 1000)
	x := cache.SearchIndex()
	if !x.hasSpace(spaceName("double", ollamatest.Dimension)) {
		t.Fatal("the index holds no vectors of the double")
	}
	search := func(query string, flt catalog.BookFilter, size int, token string) catalog.SearchPage {
		t.Helper()
		p, err := cache.SearchBooks(ctx, catalog.SearchBooksQuery{Query: query, Mode: catalog.SearchSemantic, Filter: flt,
			PageSize: size, PageToken: token, Embedding: ollamatest.Embed(query), EmbeddingModel: "double"})
		if err != nil {
			t.Fatalf("search %q: %v", query, err)
		}
		if p.Mode != catalog.SearchSemantic || p.Degraded != "" {
			t.Fatalf("search %q answered in mode %d, degraded %q", query, p.Mode, p.Degraded)
		}
		return p
	}

	// First pages against pgvector's exact order: the same distances,
	// and the graph's hits are among the exact nearest (ties at the
	// 20th distance count as right).
	queries := []string{"history", "young wizard school", "murder mystery", "garden flowers", "space voyage",
		"lighthouse keeper", "the dark portrait", "cooking for children", "war and love", "memoir of a sailor",
		"ghost story", "money", "robot", "travelling", "study in scarlet", "return to the sea"}
	right, total := 0, 0
	scans := x.vectorScans.Load()
	for _, query := range queries {
		p := search(query, catalog.BookFilter{}, 20, "")
		if tok := decodeToken(t, p.NextPageToken); tok.Mode != indexSemantic {
			t.Fatalf("%q: token mode %d, want the index's %d", query, tok.Mode, indexSemantic)
		}
		byID, order := exactNearest(t, ctx, pool, ollamatest.Embed(query), "true")
		if len(p.Hits) != 20 {
			t.Fatalf("%q: %d hits", query, len(p.Hits))
		}
		for _, h := range p.Hits {
			d, ok := byID[h.Book.ID()]
			if !ok {
				t.Fatalf("%q: hit %s is not an embedded live book", query, h.Book.ID())
			}
			if math.Abs((1-h.Relevance)-d) > 1e-5 {
				t.Fatalf("%q: relevance %v, pgvector's distance %v", query, h.Relevance, d)
			}
			total++
			if d <= order[19]+1e-5 {
				right++
			}
		}
	}
	if scans := x.vectorScans.Load() - scans; scans > int64(len(queries))/2 {
		t.Fatalf("%d of %d first pages were exact scans, not the graph's", scans, len(queries))
	}
	if recall := float64(right) / float64(total); recall < 0.95 {
		t.Fatalf("first pages: %.3f of the hits among the exact nearest, want >= 0.95", recall)
	} else {
		t.Logf("first pages: recall@20 %.3f against pgvector's exact order", recall)
	}

	// Every page: with the graph for the first 100 hits then the exact
	// scan, and with the scan alone; each embedded book once, in order.
	t.Cleanup(func() { deepSemantic = 1000 })
	for _, deep := range []int{100, 0} {
		deepSemantic = deep
		seen := map[string]bool{}
		prev := 2.0
		token := ""
		for {
			p := search("young wizard school", catalog.BookFilter{}, 97, token)
			for _, h := range p.Hits {
				if seen[h.Book.ID()] {
					t.Fatalf("deep %d: %s twice", deep, h.Book.ID())
				}
				if h.Relevance > prev {
					t.Fatalf("deep %d: relevance rises from %v to %v", deep, prev, h.Relevance)
				}
				seen[h.Book.ID()], prev = true, h.Relevance
			}
			if p.NextPageToken == "" {
				break
			}
			token = p.NextPageToken
		}
		missing := 3000 - len(seen)
		if deep == 0 && missing != 0 || missing > 10 {
			t.Fatalf("deep %d: pages reached %d of 3000 books", deep, len(seen))
		}
	}
	deepSemantic = 1000

	// Filters: a category (a few percent of the books: the passing books
	// are scanned) and a price ceiling most books pass (the graph walks
	// with the filter). Hits pass, and are the exact nearest passing ones.
	ceiling := eur(t, 4000)
	var cheap int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM catalog.books WHERE effective_minor <= 4000`).Scan(&cheap); err != nil {
		t.Fatal(err)
	}
	if cheap < 600 {
		t.Fatalf("only %d books cost 40 EUR or less: the filter would not walk the graph", cheap)
	}
	// "ghost story" is as far from every book (no book has a ghost): one
	// tie of all, ordered by id alone, which the graph cannot know.
	for _, tc := range []struct {
		flt          catalog.BookFilter
		where, query string
	}{
		{catalog.BookFilter{CategoryIDs: []string{cat}}, "b.category_id = '" + cat + "'", "young wizard school"},
		{catalog.BookFilter{MaxPrice: ceiling}, "b.currency = 'EUR' AND b.effective_minor <= 4000", "young wizard school"},
		{catalog.BookFilter{MaxPrice: ceiling}, "b.currency = 'EUR' AND b.effective_minor <= 4000", "ghost story"},
	} {
		byID, order := exactNearest(t, ctx, pool, ollamatest.Embed(tc.query), tc.where)
		hits := allPages(t, ctx, cache, catalog.SearchBooksQuery{Query: tc.query, Mode: catalog.SearchSemantic, Filter: tc.flt,
			PageSize: 50, Embedding: ollamatest.Embed(tc.query), EmbeddingModel: "double"})
		if len(hits) < len(byID)-5 || len(hits) > len(byID) {
			t.Fatalf("filter %s: %d hits over all pages, %d books pass", tc.where, len(hits), len(byID))
		}
		good := 0
		for i, h := range hits {
			if _, ok := byID[h.Book.ID()]; !ok {
				t.Fatalf("filter %s: hit %s does not pass", tc.where, h.Book.ID())
			}
			if i < 20 && byID[h.Book.ID()] <= order[min(19, len(order)-1)]+1e-5 {
				good++
			}
		}
		if good < 18 {
			t.Fatalf("filter %s: %d of the first 20 hits among the exact nearest", tc.where, good)
		}
	}

	// A token continues on another replica's index, and a replica whose
	// index does not serve answers unavailable, not a page of another
	// ranking.
	first := search("lighthouse keeper", catalog.BookFilter{}, 10, "")
	other := runCache(t, pool, 10)
	q := catalog.SearchBooksQuery{Query: "lighthouse keeper", Mode: catalog.SearchSemantic, PageSize: 10, PageToken: first.NextPageToken,
		Embedding: ollamatest.Embed("lighthouse keeper"), EmbeddingModel: "double"}
	mine, err := cache.SearchBooks(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := other.SearchBooks(ctx, q)
	if err != nil || len(theirs.Hits) != len(mine.Hits) {
		t.Fatalf("page 2 on another replica: %d hits, %v; here %d", len(theirs.Hits), err, len(mine.Hits))
	}
	for i := range mine.Hits {
		if mine.Hits[i].Book.ID() != theirs.Hits[i].Book.ID() {
			t.Fatalf("page 2 differs between replicas at %d", i)
		}
	}
	off := NewBookCache(NewBooks(pool), pool, 10, pgtest.DiscardLog())
	off.index.readyWait = 0
	off.listening.Store(true)
	if _, err := off.SearchBooks(ctx, q); !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("index token on a replica whose index does not serve: %v, want unavailable", err)
	}

	// Writes: a new vector is found, a changed one moves, a deleted book
	// goes, each once the notification is applied.
	books := NewBooks(pool)
	f := newFixture(t, pool, books)
	b := f.create(f.fields("Quasar Cartography", cat2, pub, author))
	put := func(text string) {
		t.Helper()
		rec := f.get(b.ID()).Record()
		if err := NewEmbeddings(pool).PutEmbeddings(ctx, "double", []catalog.BookEmbedding{{BookID: b.ID(), Version: rec.Version,
			TextHash: catalog.TextHash(catalog.EmbeddingText(rec)), Vector: ollamatest.Embed(text)}}); err != nil {
			t.Fatal(err)
		}
	}
	firstHit := func(query string) string {
		p := search(query, catalog.BookFilter{}, 5, "")
		if len(p.Hits) == 0 {
			return ""
		}
		return p.Hits[0].Book.ID()
	}
	put("zyzzyva quokka")
	pgtest.Eventually(t, "the new vector is searchable", func() bool { return firstHit("zyzzyva quokka") == b.ID() })
	put("xylophone narwhal")
	pgtest.Eventually(t, "the changed vector moves the book", func() bool {
		return firstHit("xylophone narwhal") == b.ID() && firstHit("zyzzyva quokka") != b.ID()
	})
	if err := books.DeleteBook(ctx, b.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the deleted book is gone", func() bool { return firstHit("xylophone narwhal") != b.ID() })
	x.mu.RLock()
	nodes, deleted := x.spaces[spaceName("double", ollamatest.Dimension)].graph.size()
	x.mu.RUnlock()
	if nodes != 3002 || deleted != 2 {
		t.Fatalf("graph: %d nodes, %d removed; want 3002 and 2", nodes, deleted)
	}

	// A change of every book (a renamed author, say) loads the words and
	// builds the graphs again; a row whose dimension column disagrees with
	// its vector (no store writes one) joins the graph of the vector's
	// length rather than meeting a graph of another dimension.
	if _, err := pool.Exec(ctx, `UPDATE catalog.book_embeddings SET dimension = 3
		WHERE book_id = (SELECT book_id FROM catalog.book_embeddings ORDER BY book_id LIMIT 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, AllBooks); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the index loads again", func() bool { return x.Ready() && x.Idle() })
	if p := search("young wizard school", catalog.BookFilter{}, 20, ""); len(p.Hits) != 20 {
		t.Fatalf("after the reload: %d hits", len(p.Hits))
	}
}

func decodeToken(t *testing.T, token string) cursor {
	t.Helper()
	var cur cursor
	if err := postgres.DecodeToken(token, &cur); err != nil {
		t.Fatalf("token %q: %v", token, err)
	}
	return cur
}

// embeddedTales creates n books titled "<kind> <i> of the <word>" through
// f and embeds them with the double, then waits until the cache's index
// (f's store) holds their vectors in its graphs; r gets the fixture's refs.
func embeddedTales(t *testing.T, f *fixture, emb *Embeddings, r *refs, kind string, n int) (words []string, books []*catalog.Book) {
	t.Helper()
	if ok, err := emb.Ready(f.ctx); !ok || err != nil {
		t.Fatalf("embeddings Ready = %v, %v", ok, err)
	}
	*r = f.refs()
	words = []string{"wizard", "galaxy", "murder", "garden", "dragon", "ocean", "robot", "ghost"}
	for i := range n {
		books = append(books, f.create(f.fields(fmt.Sprintf("%s %d of the %s", kind, i, words[i%len(words)]), r.cat, r.pub, r.author)))
	}
	for embedAll(t, emb, "double") > 0 {
	}
	x := f.books.(*BookCache).SearchIndex()
	pgtest.Eventually(t, "the graphs hold the vectors", func() bool {
		return x.hasSpace(spaceName("double", ollamatest.Dimension)) && x.Idle()
	})
	return words, books
}

// TestSearchIndexVectorsUnderWrites: semantic searches walk their pages
// while vectors are written, replaced and their books deleted, here and by
// another replica; pages stay ordered and the searches never fail (run it
// with -race).
func TestSearchIndexVectorsUnderWrites(t *testing.T) {
	pool := pgtest.NewPool(t)
	cache := runCache(t, pool, 1000)
	f, emb, r := newFixture(t, pool, cache), NewEmbeddings(pool), refs{}
	words, books := embeddedTales(t, f, emb, &r, "Tale", 60)
	ctx, stop := context.WithTimeout(f.ctx, 2*time.Second)
	defer stop()
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			for i := 0; ctx.Err() == nil; i++ {
				query := words[(g+i)%len(words)] + " tale"
				q := catalog.SearchBooksQuery{Query: query, Mode: catalog.SearchSemantic, PageSize: 7,
					Embedding: ollamatest.Embed(query), EmbeddingModel: "double"}
				if i%2 == 1 {
					q.Filter = catalog.BookFilter{CategoryIDs: []string{r.cat}}
				}
				if err := walkInOrder(f.ctx, cache, q); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	other := NewBooks(pool)
	gone := map[string]bool{}
	for i := 0; ctx.Err() == nil && len(gone) < len(books); i++ {
		b := books[i%len(books)]
		if gone[b.ID()] {
			continue
		}
		rec := f.get(b.ID()).Record()
		text := words[(i*7)%len(words)] + " " + words[(i*3)%len(words)]
		if err := emb.PutEmbeddings(f.ctx, "double", []catalog.BookEmbedding{{BookID: b.ID(), Version: rec.Version,
			TextHash: catalog.TextHash(catalog.EmbeddingText(rec)), Vector: ollamatest.Embed(text)}}); err != nil {
			t.Fatal(err)
		}
		if i%11 == 10 {
			var store catalog.Books = cache
			if i%2 == 1 {
				store = other
			}
			if err := store.DeleteBook(f.ctx, b.ID(), f.now()); err != nil {
				t.Fatal(err)
			}
			gone[b.ID()] = true
		}
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// TestSearchIndexGraphsBuildWhileServing: after a load the words serve at
// once and the graphs are built in the background; meanwhile semantic
// pages come from pgvector (a token of the graphs' ranking continues
// there), and the vectors changed or removed meanwhile are what the
// installed graphs hold.
func TestSearchIndexGraphsBuildWhileServing(t *testing.T) {
	pool := pgtest.NewPool(t)
	cache := runCache(t, pool, 1000)
	f, emb, r := newFixture(t, pool, cache), NewEmbeddings(pool), refs{}
	_, books := embeddedTales(t, f, emb, &r, "Chronicle", 40)
	x := cache.SearchIndex()
	space := spaceName("double", ollamatest.Dimension)
	search := func(query, token string) catalog.SearchPage {
		t.Helper()
		p, err := cache.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: query, Mode: catalog.SearchSemantic, PageSize: 5,
			PageToken: token, Embedding: ollamatest.Embed(query), EmbeddingModel: "double"})
		if err != nil {
			t.Fatalf("search %q: %v", query, err)
		}
		return p
	}
	graphPage := search("dragon chronicle", "")

	// A load's state: the words serve, the graphs are not built; the
	// load's vectors are what the build will read.
	sql, err := x.indexRowsSQL(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := pool.Query(f.ctx, sql+` WHERE b.delete_time IS NULL`)
	if err != nil {
		t.Fatal(err)
	}
	snapshot := map[[16]byte]pendingVector{}
	for rows.Next() {
		row, err := scanIndexRow(rows)
		if err != nil {
			t.Fatal(err)
		}
		snapshot[row.id] = pendingVector{space: row.space, vec: row.vec}
	}
	rows.Close()
	gen := x.vecGen.Add(1)
	x.building.Add(1)
	x.mu.Lock()
	x.spaces, x.graphsReady, x.vecPending = nil, false, map[[16]byte]pendingVector{}
	x.mu.Unlock()
	x.applied() // as a load does: the cached pages go

	if x.hasSpace(space) {
		t.Fatal("graphs serve before they are built")
	}
	if p := search("dragon chronicle", ""); decodeToken(t, p.NextPageToken).Mode != searchSemantic {
		t.Fatal("a first page while the graphs build is not pgvector's")
	}
	next := search("dragon chronicle", graphPage.NextPageToken) // the graphs' token, continued by pgvector
	if len(next.Hits) == 0 || next.Hits[0].Relevance > graphPage.Hits[len(graphPage.Hits)-1].Relevance {
		t.Fatalf("page 2 through pgvector: %d hits", len(next.Hits))
	}

	// Changes while the graphs build: a new vector, a deleted book.
	moved, gone := books[3], books[4]
	rec := f.get(moved.ID()).Record()
	if err := emb.PutEmbeddings(f.ctx, "double", []catalog.BookEmbedding{{BookID: moved.ID(), Version: rec.Version,
		TextHash: catalog.TextHash(catalog.EmbeddingText(rec)), Vector: ollamatest.Embed("chronicle wizard galaxy robot")}}); err != nil {
		t.Fatal(err)
	}
	if err := cache.DeleteBook(f.ctx, gone.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	movedID, _ := parseUUID(moved.ID())
	pgtest.Eventually(t, "the new vector waits for the build", func() bool {
		x.mu.RLock()
		defer x.mu.RUnlock()
		return x.vecPending[movedID].vec != nil
	})
	x.buildGraphs(f.ctx, gen, snapshot)

	if !x.hasSpace(space) {
		t.Fatal("the graphs do not serve after their build")
	}
	pgtest.Eventually(t, "the index is idle", x.Idle)
	x.mu.RLock()
	nodes, removed := x.spaces[space].graph.size()
	x.mu.RUnlock()
	if nodes != 41 || removed != 2 {
		t.Fatalf("graph: %d nodes, %d removed; want 41 (40 + the new vector) and 2 (the old one, the deleted book)", nodes, removed)
	}
	if p := search("chronicle wizard galaxy robot", ""); decodeToken(t, p.NextPageToken).Mode != indexSemantic || p.Hits[0].Book.ID() != moved.ID() {
		t.Fatalf("the vector changed during the build is not the graph's: mode %d, first %s (%v), want %s",
			decodeToken(t, p.NextPageToken).Mode, p.Hits[0].Book.ID(), p.Hits[0].Relevance, moved.ID())
	}
	for _, h := range search("ghost chronicle", "").Hits {
		if h.Book.ID() == gone.ID() {
			t.Fatal("the book deleted during the build is found")
		}
	}
}
