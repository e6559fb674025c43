package catalogstore

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// setTitleBehindTheCache changes a title without notifying anyone, as a
// write from a replica whose notification got lost would.
func (f *fixture) setTitleBehindTheCache(id, title string) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, `UPDATE catalog.books SET title = $2 WHERE id = $1`, id, title); err != nil {
		f.t.Fatal(err)
	}
}

// settle returns once c has handled every notification sent before the
// call: notifications arrive in commit order, so it sends one of its own
// and waits for it.
func settle(t *testing.T, c *BookCache, f *fixture) {
	t.Helper()
	marker := "settle-" + coreid.New()
	if _, err := f.pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, marker); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the cache handled its notifications", func() bool {
		p := c.lastPayload.Load()
		return p != nil && *p == marker
	})
	pgtest.Eventually(t, "the search index applied them", c.SearchIndex().Idle)
}

func titleOf(t *testing.T, c catalog.Books, id string) string {
	t.Helper()
	got, err := c.GetBooks(context.Background(), []string{id})
	if err != nil || len(got) != 1 {
		t.Fatalf("get %s: %v, %v", id, got, err)
	}
	return got[0].Record().Title
}

func TestBookCacheServesFromMemoryUntilNotified(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := runCache(t, pool, 100)
	f := newFixture(t, pool, c)
	r := f.refs()
	id := f.create(f.fields("Original", r.cat, r.pub, r.author)).ID()
	settle(t, c, f)
	if got := titleOf(t, c, id); got != "Original" {
		t.Fatalf("title %q", got)
	}
	if c.Len() != 1 {
		t.Fatalf("%d cached books, want 1", c.Len())
	}
	f.setTitleBehindTheCache(id, "Changed")
	// Without a notification the cached copy is served: the read does not
	// reach the database.
	if got := titleOf(t, c, id); got != "Original" {
		t.Fatalf("title %q read from the database, want the cached one", got)
	}
	if _, err := pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, id); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the notification evicts the book", func() bool { return titleOf(t, c, id) == "Changed" })

	// AllBooks flushes everything.
	f.setTitleBehindTheCache(id, "Changed again")
	if _, err := pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, AllBooks); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the flush", func() bool { return titleOf(t, c, id) == "Changed again" })
}

// TestBookCacheAcrossReplicas runs two caches on one database, as two
// replicas would: a write through one is read at once by it and soon by the
// other.
func TestBookCacheAcrossReplicas(t *testing.T) {
	pool := pgtest.NewPool(t)
	a, b := runCache(t, pool, 100), runCache(t, pgtest.OpenPool(t, pool.Config().ConnConfig.Database), 100)
	f := newFixture(t, pool, a)
	r := f.refs()
	id := f.create(f.fields("First Edition", r.cat, r.pub, r.author)).ID()
	for _, c := range []*BookCache{a, b} {
		if got := titleOf(t, c, id); got != "First Edition" {
			t.Fatalf("title %q", got)
		}
	}
	writes := []struct {
		name  string
		write func()
		check func(*catalog.Book) bool
	}{
		{"update", func() {
			_, err := a.UpdateBook(f.ctx, id, func(b *catalog.Book) error {
				return b.Apply(catalog.BookFields{Title: "Second Edition"}, []string{catalog.FieldTitle}, f.now())
			})
			if err != nil {
				t.Fatal(err)
			}
		}, func(b *catalog.Book) bool { return b.Record().Title == "Second Edition" }},
		{"rating", func() { // another adapter's write, with the helper
			tx, err := pool.Begin(f.ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(f.ctx)
			if _, err := tx.Exec(f.ctx, `UPDATE catalog.books SET rating_sum = 5, rating_count = 1 WHERE id = $1`, id); err != nil {
				t.Fatal(err)
			}
			if err := NotifyBookChanged(f.ctx, tx, id); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(f.ctx); err != nil {
				t.Fatal(err)
			}
		}, func(b *catalog.Book) bool { return b.Record().RatingCount == 1 }},
		{"rename", func() {
			_, err := f.entities.UpdateEntity(f.ctx, catalog.AuthorKind, r.author, func(e *catalog.Entity) error {
				return e.Apply(catalog.EntityFields{Name: "Renamed Author"}, []string{catalog.FieldName}, f.now())
			})
			if err != nil {
				t.Fatal(err)
			}
		}, func(b *catalog.Book) bool { return b.Record().AuthorNames[0] == "Renamed Author" }},
		{"delete", func() {
			if err := a.DeleteBook(f.ctx, id, f.now()); err != nil {
				t.Fatal(err)
			}
		}, func(b *catalog.Book) bool { return b.Deleted() }},
	}
	get := func(c *BookCache) *catalog.Book {
		got, err := c.GetBooks(f.ctx, []string{id})
		if err != nil || len(got) != 1 {
			t.Fatalf("get: %v %v", got, err)
		}
		return got[0]
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			get(a) // both cached
			get(b)
			w.write()
			if w.name == "update" || w.name == "delete" {
				// Written through a: a reads its own write at once.
				if !w.check(get(a)) {
					t.Fatalf("the writing replica does not read its own %s", w.name)
				}
			}
			for name, c := range map[string]*BookCache{"a": a, "b": b} {
				pgtest.Eventually(t, "replica "+name+" sees the "+w.name, func() bool { return w.check(get(c)) })
			}
		})
	}
}

// TestBookCacheReconnects cuts the listening connection and changes a book
// while it is down: the notification is lost, yet the stale copy must go.
func TestBookCacheReconnects(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := runCache(t, pool, 100)
	f := newFixture(t, pool, c)
	r := f.refs()
	id := f.create(f.fields("Before the Cut", r.cat, r.pub, r.author)).ID()
	settle(t, c, f)
	titleOf(t, c, id)
	if c.Len() != 1 {
		t.Fatalf("%d cached books before the cut", c.Len())
	}

	var killed int
	err := pool.QueryRow(f.ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = 'bookworm-book-cache'`).Scan(&killed)
	if err != nil || killed != 1 {
		t.Fatalf("terminated %d listeners: %v", killed, err)
	}
	f.setTitleBehindTheCache(id, "After the Cut")
	pgtest.Eventually(t, "the stale copy is gone", func() bool { return titleOf(t, c, id) == "After the Cut" })
	pgtest.Eventually(t, "the cache listens again", c.Listening)

	// And it caches and listens as before, without the stale copy.
	settle(t, c, f)
	if got := titleOf(t, c, id); got != "After the Cut" {
		t.Fatalf("title after reconnecting %q", got)
	}
	if c.Len() != 1 {
		t.Fatalf("%d cached books after reconnecting", c.Len())
	}
	_, err = c.UpdateBook(f.ctx, id, func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{Title: "Listening Again"}, []string{catalog.FieldTitle}, f.now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := titleOf(t, c, id); got != "Listening Again" {
		t.Fatalf("title %q", got)
	}
}

func TestBookCacheBypassedWhileNotListening(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := NewBookCache(NewBooks(pool), pool, 100, pgtest.DiscardLog()) // Run never called
	f := newFixture(t, pool, c)
	r := f.refs()
	id := f.create(f.fields("Uncached", r.cat, r.pub, r.author)).ID()
	titleOf(t, c, id)
	f.setTitleBehindTheCache(id, "Straight from the Database")
	if got := titleOf(t, c, id); got != "Straight from the Database" || c.Len() != 0 {
		t.Fatalf("title %q, %d cached; want the database's and none", got, c.Len())
	}
}

func TestBookCacheIsBounded(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := runCache(t, pool, 5)
	f := newFixture(t, pool, c)
	r := f.refs()
	var ids []string
	for i := range 20 {
		ids = append(ids, f.create(f.fields(fmt.Sprintf("Bounded %d", i), r.cat, r.pub, r.author)).ID())
	}
	for round := range 2 {
		for i, id := range ids {
			if got := titleOf(t, c, id); got != fmt.Sprintf("Bounded %d", i) {
				t.Fatalf("round %d: title %q", round, got)
			}
			if c.Len() > 5 {
				t.Fatalf("%d cached books, bound is 5", c.Len())
			}
		}
	}
	// A batch larger than the bound still answers in full.
	got, err := c.GetBooks(f.ctx, ids)
	if err != nil || len(got) != len(ids) {
		t.Fatalf("batch: %d books, %v", len(got), err)
	}
}

func (c *BookCache) pagedBooks() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.pageBooks
}

func (c *BookCache) pageCount() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.pages)
}

// TestBookCachePages checks that list and search pages are cached until any
// notification, and that a write through the cache shows in them at once.
func TestBookCachePages(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := runCache(t, pool, 100)
	f := newFixture(t, pool, c)
	r := f.refs()
	var ids []string
	for i := range 3 {
		ids = append(ids, f.create(f.fields(fmt.Sprintf("Cached Page %d", i), r.cat, r.pub, r.author)).ID())
	}
	settle(t, c, f)
	list := func() []string {
		t.Helper()
		page, err := c.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, b := range page.Books {
			titles = append(titles, b.Record().Title)
		}
		return titles
	}
	search := func() []string {
		t.Helper()
		page, err := c.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "cached page", PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		var titles []string
		for _, h := range page.Hits {
			titles = append(titles, h.Book.Record().Title)
		}
		return titles
	}
	want := []string{"Cached Page 0", "Cached Page 1", "Cached Page 2"}
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("list %v", got)
	}
	if got := search(); len(got) != 3 {
		t.Fatalf("search %v", got)
	}
	if c.pagedBooks() != 6 || c.pageCount() != 2 {
		t.Fatalf("%d pages holding %d books, want 2 and 6", c.pageCount(), c.pagedBooks())
	}

	f.setTitleBehindTheCache(ids[0], "Cached Page 9")
	if got := list(); !slices.Equal(got, want) {
		t.Fatalf("list %v, want the cached page", got)
	}
	if got := search(); !slices.Contains(got, "Cached Page 0") {
		t.Fatalf("search %v, want the cached page", got)
	}
	if _, err := pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, ids[1]); err != nil {
		t.Fatal(err)
	}
	// A notification about any book drops every page.
	pgtest.Eventually(t, "the pages are dropped", func() bool { return c.pageCount() == 0 })
	if got := list(); !slices.Contains(got, "Cached Page 9") {
		t.Fatalf("list %v, want the page read again", got)
	}
	// Search pages take their books from the book cache, where the book
	// changed behind it is still cached: the notification of its change
	// evicts it.
	if _, err := pool.Exec(f.ctx, `SELECT pg_notify($1, $2)`, CatalogChannel, ids[0]); err != nil {
		t.Fatal(err)
	}
	pgtest.Eventually(t, "the search page is dropped", func() bool { return slices.Contains(search(), "Cached Page 9") })

	// A write through the cache shows in the next page at once.
	list()
	f.create(f.fields("Cached Page 3", r.cat, r.pub, r.author))
	if got := list(); len(got) != 4 {
		t.Fatalf("list after create %v", got)
	}
}

func TestBookCachePagesAreBounded(t *testing.T) {
	pool := pgtest.NewPool(t)
	c := runCache(t, pool, 5)
	f := newFixture(t, pool, c)
	r := f.refs()
	for i := range 12 {
		f.create(f.fields(fmt.Sprintf("Bounded Page %02d", i), r.cat, r.pub, r.author))
	}
	settle(t, c, f)
	q := catalog.ListBooksQuery{PageSize: 3}
	for round := range 2 {
		q.PageToken = ""
		seen := 0
		for {
			page, err := c.ListBooks(f.ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			seen += len(page.Books)
			if n := c.pagedBooks(); n > 5 {
				t.Fatalf("pages hold %d books, bound is 5", n)
			}
			if page.NextPageToken == "" {
				break
			}
			q.PageToken = page.NextPageToken
		}
		if seen != 12 {
			t.Fatalf("round %d: %d books listed", round, seen)
		}
	}
	// A page bigger than the bound is served, not cached.
	q = catalog.ListBooksQuery{PageSize: 10}
	if page, err := c.ListBooks(f.ctx, q); err != nil || len(page.Books) != 10 {
		t.Fatalf("big page: %d books, %v", len(page.Books), err)
	}
	if n := c.pagedBooks(); n > 5 {
		t.Fatalf("pages hold %d books", n)
	}
}
