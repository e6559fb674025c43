package catalogstore

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// allPages reads every page of q and returns the hits in order.
func allPages(t *testing.T, ctx context.Context, books catalog.Books, q catalog.SearchBooksQuery) []catalog.SearchHit {
	t.Helper()
	var hits []catalog.SearchHit
	for pages := 0; ; pages++ {
		if pages > 10_000 {
			t.Fatalf("search %q: no end of pages", q.Query)
		}
		page, err := books.SearchBooks(ctx, q)
		if err != nil {
			t.Fatalf("search %q: %v", q.Query, err)
		}
		hits = append(hits, page.Hits...)
		if page.NextPageToken == "" {
			return hits
		}
		q.PageToken = page.NextPageToken
	}
}

// walkInOrder reads every page of q and fails when a hit does not come
// after the one before it in (relevance, id) order.
func walkInOrder(ctx context.Context, books catalog.Books, q catalog.SearchBooksQuery) error {
	prev := scored{rel: 3}
	for {
		page, err := books.SearchBooks(ctx, q)
		if err != nil {
			return err
		}
		for _, h := range page.Hits {
			u, _ := parseUUID(h.Book.ID())
			s := scored{id: u, rel: h.Relevance}
			if !prev.before(s) {
				return fmt.Errorf("hits out of order: %v then %v", prev, s)
			}
			prev = s
		}
		if page.NextPageToken == "" {
			return nil
		}
		q.PageToken = page.NextPageToken
	}
}

// postgresMatches are the live books Postgres finds for the query with
// @@ (what the index must match exactly).
func postgresMatches(t *testing.T, ctx context.Context, pool postgres.Querier, query string) []string {
	t.Helper()
	rows, err := pool.Query(ctx, `SELECT id::text FROM catalog.books
		WHERE delete_time IS NULL AND search @@ websearch_to_tsquery('english', $1) ORDER BY id`, query)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

// TestSearchIndexMatchesPostgres: on the demo catalogue, every query the
// index answers in exact mode finds exactly the books Postgres's @@ finds,
// over all pages, each once, in non-increasing (relevance, id) order; a
// query with few exact matches shows them all first (relevance >= 1), then
// corrections below.
func TestSearchIndexMatchesPostgres(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	if _, err := Seed(ctx, pool, 3000); err != nil {
		t.Fatal(err)
	}
	cache := runCache(t, pool, 1000)
	if n := cache.SearchIndex().Len(); n != 3000 {
		t.Fatalf("index holds %d books, want 3000", n)
	}
	queries := []string{
		"history", "lighthouse", "mystery or garden", "history -mystery", `"portrait of"`, `"return to"`,
		"dark study", "science or cook or memoir", "-history", "witty -tender -dark", `"lighthouse keeper" or memoir`,
		"edition", "travelling portrait", `"the history"`, "book", "press",
	}
	for _, query := range queries {
		t.Run(query, func(t *testing.T) {
			want := postgresMatches(t, ctx, pool, query)
			hits := allPages(t, ctx, cache, catalog.SearchBooksQuery{Query: query, PageSize: 37, Mode: catalog.SearchLexical})
			var got []string
			for i, h := range hits {
				got = append(got, h.Book.ID())
				if i > 0 {
					prev := hits[i-1]
					if h.Relevance > prev.Relevance || h.Relevance == prev.Relevance && h.Book.ID() > prev.Book.ID() {
						t.Fatalf("hit %d (%v, %s) after (%v, %s): not in order", i, h.Relevance, h.Book.ID(), prev.Relevance, prev.Book.ID())
					}
				}
			}
			exact := 0
			for _, h := range hits {
				if h.Relevance >= 1 {
					exact++
				}
			}
			if exact != len(want) {
				t.Errorf("%d hits ranked as exact, Postgres matches %d", exact, len(want))
			}
			gotExact := slices.Clone(got[:exact])
			slices.Sort(gotExact)
			if !slices.Equal(slices.Compact(slices.Clone(gotExact)), gotExact) {
				t.Fatalf("a book on two pages")
			}
			if !slices.Equal(gotExact, want) {
				t.Errorf("exact hits differ from Postgres: %d vs %d", len(gotExact), len(want))
			}
			if len(want) >= correctBelow && len(got) != len(want) {
				t.Errorf("%d hits, want only the %d exact ones", len(got), len(want))
			}
		})
	}
	if len(postgresMatches(t, ctx, pool, "history")) < 300 {
		t.Fatal("the demo catalogue changed: history should be a broad word")
	}
}

// TestSearchIndexRanksTitleFirst checks the weights and that a book
// matching more of the words outranks one matching fewer, in the partial
// mode too (no book has every word).
func TestSearchIndexRanking(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, runCache(t, pool, 1000))
	r := f.refs()
	inDesc := f.fields("Plain One", r.cat, r.pub, r.author)
	inDesc.Description = "About a quokka."
	d := f.create(inDesc).ID()
	a := f.create(f.fields("Plain Two", r.cat, r.pub, f.author("Quokka Smith"))).ID()
	ti := f.create(f.fields("The Quokka", r.cat, r.pub, r.author)).ID()
	both := f.create(f.fields("Quokka Wombat", r.cat, r.pub, r.author)).ID()
	if ids := f.searchIDs("quokka"); !slices.Equal(ids, []string{both, ti, a, d}) {
		t.Errorf("quokka = %v, want title (newest first), author, description", ids)
	}
	// No book has all three words: the books with the most of them first.
	w := f.create(f.fields("Wombat", r.cat, r.pub, r.author)).ID()
	ids := f.searchIDs("quokka wombat platypus")
	if len(ids) != 5 || ids[0] != both {
		t.Errorf("quokka wombat platypus = %v, want %s first and 5 books", ids, both)
	}
	if !slices.Contains(ids, w) {
		t.Errorf("a book with one of the words is missing: %v", ids)
	}
	page, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "quokka wombat platypus", PageSize: 2})
	if err != nil || len(page.Hits) != 2 || page.Hits[0].Relevance >= 1 {
		t.Fatalf("partial matches rank below 1: %v, %v", page.Hits, err)
	}
	more, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "quokka wombat platypus", PageSize: 10, PageToken: page.NextPageToken})
	if err != nil || len(more.Hits) != 3 {
		t.Fatalf("second page of partial matches: %d hits, %v", len(more.Hits), err)
	}
}

// TestSearchIndexFollowsWrites: writes made elsewhere (another replica:
// the plain store, which only notifies) reach the index; a write through
// the cache is searchable when it returns.
func TestSearchIndexFollowsWrites(t *testing.T) {
	pool := pgtest.NewPool(t)
	cache := runCache(t, pool, 1000)
	f := newFixture(t, pool, cache)
	other := NewBooks(pool) // another replica's store
	r := f.refs()

	// Through the cache: at once.
	mine := f.create(f.fields("Saffron Lantern", r.cat, r.pub, r.author)).ID()
	if ids := f.searchIDs("saffron"); !slices.Equal(ids, []string{mine}) {
		t.Fatalf("own write not searchable at once: %v", ids)
	}
	// Elsewhere: eventually.
	b, err := catalog.NewBook(coreid.New(), f.fields("Cobalt Harbour", r.cat, r.pub, r.author), f.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.CreateBook(f.ctx, b); err != nil {
		t.Fatal(err)
	}
	searchable := func(q, id string) func() bool {
		return func() bool { return slices.Contains(f.searchIDs(q), id) }
	}
	pgtest.Eventually(t, "another replica's book is found", searchable("cobalt", b.ID()))
	if _, err := other.UpdateBook(f.ctx, b.ID(), func(bk *catalog.Book) error {
		return bk.Apply(catalog.BookFields{Title: "Indigo Harbour", Description: "Blue."},
			[]string{catalog.FieldTitle, catalog.FieldDescription}, f.now())
	}); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the new title is found", searchable("indigo", b.ID()))
	// (Found perhaps by Postgres while the index did not have the word
	// yet: the old title must stop finding it too.)
	pgtest.Eventually(t, "the old title no longer finds the book", func() bool { return !searchable("cobalt", b.ID())() })
	// Stock: the in-stock filter follows.
	if _, err := pool.Exec(f.ctx, `UPDATE catalog.books SET stock = 0 WHERE id = $1`, mine); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, mine); err != nil {
		t.Fatal(err)
	}
	inStock := func() []string {
		page, err := cache.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "saffron", PageSize: 10, Filter: catalog.BookFilter{InStockOnly: true}})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, h := range page.Hits {
			ids = append(ids, h.Book.ID())
		}
		return ids
	}
	pgtest.Eventually(t, "a sold-out book leaves in-stock searches", func() bool { return len(inStock()) == 0 })
	// Deleted elsewhere: gone.
	if err := other.DeleteBook(f.ctx, b.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "a deleted book is not found", func() bool { return !slices.Contains(f.searchIDs("harbour"), b.ID()) })
	// (Left off the page at once, since the page's books are read again;
	// dropped from the index when the notification is applied.)
	pgtest.Eventually(t, "the index drops the deleted book", func() bool { return cache.SearchIndex().Len() == 1 })
}

// TestSearchIndexTokens: a page token of the index's ranking is refused
// by nothing, continues on another replica's index, and while this
// replica's index is not serving it answers Unavailable (Postgres cannot
// continue the index's ranking) instead of a wrong page.
func TestSearchIndexTokens(t *testing.T) {
	pool := pgtest.NewPool(t)
	a := runCache(t, pool, 1000)
	b := runCache(t, pool, 1000)
	f := newFixture(t, pool, a)
	r := f.refs()
	for i := range 5 {
		f.create(f.fields(fmt.Sprintf("Tangerine %d", i), r.cat, r.pub, r.author))
	}
	q := catalog.SearchBooksQuery{Query: "tangerine", PageSize: 2}
	first, err := a.SearchBooks(f.ctx, q)
	if err != nil || first.NextPageToken == "" {
		t.Fatal(first, err)
	}
	q.PageToken = first.NextPageToken
	pgtest.Eventually(t, "replica b has the books", func() bool { return b.SearchIndex().Len() == 5 })
	onB, err := b.SearchBooks(f.ctx, q)
	if err != nil || len(onB.Hits) != 2 || onB.Hits[0].Book.ID() == first.Hits[1].Book.ID() {
		t.Fatalf("page 2 on replica b: %v, %v", onB.Hits, err)
	}
	b.SearchIndex().Stop()
	b.index.readyWait = 50 * time.Millisecond
	q.PageSize = 3 // not the cached page
	_, err = b.SearchBooks(f.ctx, q)
	wantIs(t, err, failure.ErrUnavailable)
	// A first page still answers, from Postgres.
	if page, err := b.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "tangerine", PageSize: 10}); err != nil || len(page.Hits) != 5 {
		t.Fatalf("first page without the index: %d hits, %v", len(page.Hits), err)
	}
}

func FuzzParseTSQuery(f *testing.F) {
	for _, s := range []string{`'a' & 'b'`, `'a' <-> 'b' | !'c'`, `( 'a' | 'b' ) & !( 'c' <2> 'd' )`, `'it''s' & 'a\\b'`, `'a':*`, ``, `!!'a'`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseTSQuery(s)
		if err == nil && n != nil {
			_ = n.positives(nil)
		}
	})
}

func FuzzParseTSVector(f *testing.F) {
	for _, s := range []string{`'a':1A,2 'b':3B`, `'it''s':4`, `'x'`, `'a':16383D`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lx, err := parseTSVector(s)
		if err != nil {
			return
		}
		for _, l := range lx {
			if len(l.positions) != len(l.weights) {
				t.Fatalf("positions and weights differ: %+v", l)
			}
		}
	})
}

// TestSearchIndexUnderWrites searches from several goroutines while books
// are created, renamed and deleted here and elsewhere: no search fails,
// every page is in order, and at the end the index agrees with Postgres.
// (Run with -race to check the locking.)
func TestSearchIndexUnderWrites(t *testing.T) {
	pool := pgtest.NewPool(t)
	cache := runCache(t, pool, 1000)
	f := newFixture(t, pool, cache)
	other := NewBooks(pool)
	r := f.refs()
	var ids []string
	for i := range 30 {
		ids = append(ids, f.create(f.fields(fmt.Sprintf("Marigold %d", i), r.cat, r.pub, r.author)).ID())
	}
	ctx, stop := context.WithTimeout(f.ctx, 2*time.Second)
	defer stop()
	errs := make(chan error, 8)
	for range 4 {
		go func() {
			for ctx.Err() == nil {
				q := catalog.SearchBooksQuery{Query: "marigold or thistle", PageSize: 7}
				if err := walkInOrder(f.ctx, cache, q); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for i := 0; ctx.Err() == nil; i++ {
		id := ids[i%len(ids)]
		store := catalog.Books(cache)
		if i%2 == 1 {
			store = other
		}
		title := fmt.Sprintf("Thistle %d", i)
		if i%3 == 0 {
			title = fmt.Sprintf("Marigold %d", i)
		}
		if _, err := store.UpdateBook(f.ctx, id, func(b *catalog.Book) error {
			return b.Apply(catalog.BookFields{Title: title}, []string{catalog.FieldTitle}, f.now())
		}); err != nil {
			t.Fatal(err)
		}
		if i%7 == 0 {
			f.create(f.fields(fmt.Sprintf("Marigold new %d", i), r.cat, r.pub, r.author))
		}
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	want := postgresMatches(t, f.ctx, pool, "marigold or thistle")
	pgtest.Eventually(t, "the index agrees with Postgres", func() bool {
		hits := allPages(t, f.ctx, cache, catalog.SearchBooksQuery{Query: "marigold or thistle", PageSize: 50})
		var got []string
		for _, h := range hits {
			got = append(got, h.Book.ID())
		}
		slices.Sort(got)
		return slices.Equal(got, want)
	})
}

// TestSearchIndexDisabled: with the index off (--search-index=false) the
// cache never loads it and searches are ranked by Postgres.
func TestSearchIndexDisabled(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := NewBookCache(NewBooks(pool), pool, 100, pgtest.DiscardLog())
	c.SearchIndex().Disable()
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	pgtest.Eventually(t, "the cache listens", c.Listening)
	f := newFixture(t, pool, c)
	r := f.refs()
	for i := range 3 {
		f.create(f.fields(fmt.Sprintf("Juniper %d", i), r.cat, r.pub, r.author))
	}
	page, err := c.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "juniper", PageSize: 2})
	if err != nil || len(page.Hits) != 2 {
		t.Fatalf("search: %d hits, %v", len(page.Hits), err)
	}
	var cur cursor
	if err := postgres.DecodeToken(page.NextPageToken, &cur); err != nil || cur.Mode >= indexExact {
		t.Fatalf("token mode %d (%v), want a Postgres ranking's", cur.Mode, err)
	}
	if c.SearchIndex().Ready() || c.SearchIndex().Len() != 0 {
		t.Fatal("a disabled index loaded")
	}
}
