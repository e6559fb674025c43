package catalogstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// booksStores are the implementations of catalog.Books the contract suite
// runs against, each on a fresh database.
var booksStores = []struct {
	name string
	open func(t *testing.T) *fixture
}{
	{"Books", func(t *testing.T) *fixture {
		pool := pgtest.NewPool(t)
		return newFixture(t, pool, NewBooks(pool))
	}},
	{"BookCache", func(t *testing.T) *fixture {
		pool := pgtest.NewPool(t)
		return newFixture(t, pool, runCache(t, pool, 1000))
	}},
}

// runCache returns a running BookCache on pool, listening when it returns.
func runCache(t *testing.T, pool *pgxpool.Pool, maxEntries int) *BookCache {
	t.Helper()
	return runCacheWith(t, pool, maxEntries, nil)
}

// runCacheWith is runCache with a change to the cache before it runs.
func runCacheWith(t *testing.T, pool *pgxpool.Pool, maxEntries int, set func(*BookCache)) *BookCache {
	t.Helper()
	c := NewBookCache(NewBooks(pool), pool, maxEntries, pgtest.DiscardLog())
	if set != nil {
		set(c)
	}
	done := make(chan error, 1)
	runCtx, stop := context.WithCancel(context.Background())
	go func() { done <- c.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v", err)
		}
	})
	pgtest.Eventually(t, "the cache listens", c.Listening)
	pgtest.Eventually(t, "the search index is loaded, its graphs built", func() bool { return c.SearchIndex().Ready() && c.SearchIndex().Idle() })
	return c
}

func TestBooksContract(t *testing.T) {
	for _, store := range booksStores {
		t.Run(store.name, func(t *testing.T) {
			for _, tc := range booksContract {
				t.Run(tc.name, func(t *testing.T) { tc.run(t, store.open(t)) })
			}
		})
	}
}

var booksContract = []struct {
	name string
	run  func(t *testing.T, f *fixture)
}{
	{"create and get", testCreateGet},
	{"get missing", testGetMissing},
	{"duplicate ISBN", testDuplicateISBN},
	{"unknown references", testUnknownReferences},
	{"update", testUpdate},
	{"update errors", testUpdateErrors},
	{"delete", testDelete},
	{"concurrent updates", testConcurrentUpdates},
	{"list filters", testListFilters},
	{"list pages with inserts", testListPagination},
	{"bad page tokens", testBadPageTokens},
	{"search relevance", testSearchRelevance},
	{"search typos and stop words", testSearchTypos},
	{"search pages", testSearchPages},
	{"entity renames", testEntityRenames},
}

func testCreateGet(t *testing.T, f *fixture) {
	cat, pub := f.category("Fantasy"), f.publisher("Northwind")
	zoe, adam := f.author("Zoe Zimmer"), f.author("Adam Abbott")
	fields := f.fields("The Dragon Garden", cat, pub, zoe, adam) // credit order is not name order
	fields.SalePrice = eur(t, 1499)
	fields.Description = "Two gardeners and a dragon."
	created := f.create(fields)

	for name, b := range map[string]*catalog.Book{"created": created, "got": f.get(created.ID())} {
		r := b.Record()
		if r.Title != "The Dragon Garden" || r.Description != fields.Description || r.ISBN != fields.ISBN ||
			r.Price != fields.Price || r.SalePrice != fields.SalePrice || r.StockQuantity != 5 ||
			r.ImageURL != fields.ImageURL || r.CategoryID != cat || r.PublisherID != pub {
			t.Errorf("%s: fields = %+v", name, r.BookFields)
		}
		if !slices.Equal(r.AuthorIDs, []string{zoe, adam}) || !slices.Equal(r.AuthorNames, []string{"Zoe Zimmer", "Adam Abbott"}) {
			t.Errorf("%s: authors %v %v, want credit order", name, r.AuthorIDs, r.AuthorNames)
		}
		if r.CategoryName != "Fantasy" || r.PublisherName != "Northwind" {
			t.Errorf("%s: names %q %q", name, r.CategoryName, r.PublisherName)
		}
		if r.Version != 1 || r.DeleteTime != nil || r.RatingCount != 0 || r.RatingSum != 0 {
			t.Errorf("%s: version %d, delete time %v, rating %d/%d", name, r.Version, r.DeleteTime, r.RatingSum, r.RatingCount)
		}
		if want := f.lastNow(); !r.CreateTime.Equal(want) || !r.UpdateTime.Equal(want) || r.CreateTime.Location() != time.UTC {
			t.Errorf("%s: times %v %v, want %v UTC", name, r.CreateTime, r.UpdateTime, want)
		}
	}
	// A book without ISBN, sale price or image.
	bare := f.fields("Bare", cat, pub, adam)
	bare.ISBN, bare.ImageURL = "", ""
	r := f.get(f.create(bare).ID()).Record()
	if r.ISBN != "" || !r.SalePrice.IsZero() || r.ImageURL != "" {
		t.Errorf("bare book = %+v", r.BookFields)
	}
	// Rating is read back exactly.
	f.setRating(created.ID(), 9, 2)
	if b, err := NewBooks(f.pool).GetBooks(f.ctx, []string{created.ID()}); err != nil || b[0].RatingAverage() != 4.5 {
		t.Errorf("rating average = %v (%v), want 4.5", b, err)
	}
}

func testGetMissing(t *testing.T, f *fixture) {
	r := f.refs()
	b := f.create(f.fields("Present", r.cat, r.pub, r.author))
	got, err := f.books.GetBooks(f.ctx, []string{coreid.New(), b.ID(), "not-a-uuid", strings.ToUpper(b.ID())})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 {
		t.Fatal("GetBooks found nothing")
	}
	for _, g := range got {
		if g.ID() != b.ID() {
			t.Errorf("GetBooks returned %s", g.ID())
		}
	}
	if got, err := f.books.GetBooks(f.ctx, []string{coreid.New()}); err != nil || len(got) != 0 {
		t.Errorf("GetBooks(missing) = %v, %v", got, err)
	}
}

func testDuplicateISBN(t *testing.T, f *fixture) {
	r := f.refs()
	first := f.fields("First", r.cat, r.pub, r.author)
	b := f.create(first)
	second := f.fields("Second", r.cat, r.pub, r.author)
	second.ISBN = first.ISBN
	_, err := f.tryCreate(second)
	wantIs(t, err, failure.ErrAlreadyExists)
	if strings.Contains(err.Error(), "books_isbn_key") || strings.Contains(err.Error(), "duplicate key") {
		t.Errorf("message leaks SQL: %q", err)
	}
	// Updating another book to the taken ISBN fails the same way.
	other := f.create(f.fields("Other", r.cat, r.pub, r.author))
	_, err = f.books.UpdateBook(f.ctx, other.ID(), func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{ISBN: first.ISBN}, []string{catalog.FieldISBN}, f.now())
	})
	wantIs(t, err, failure.ErrAlreadyExists)
	// Once the first is deleted its ISBN is free again.
	if err := f.books.DeleteBook(f.ctx, b.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.tryCreate(second); err != nil {
		t.Errorf("create with the ISBN of a deleted book: %v", err)
	}
}

func testUnknownReferences(t *testing.T, f *fixture) {
	r := f.refs()
	tests := []struct {
		name  string
		edit  func(*catalog.BookFields)
		field string
	}{
		{"category", func(b *catalog.BookFields) { b.CategoryID = coreid.New() }, "book.category_id"},
		{"publisher", func(b *catalog.BookFields) { b.PublisherID = coreid.New() }, "book.publisher_id"},
		{"author", func(b *catalog.BookFields) { b.AuthorIDs = []string{r.author, coreid.New()} }, "book.author_ids"},
	}
	existing := f.create(f.fields("Existing", r.cat, r.pub, r.author))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fields := f.fields("Dangling "+tt.name, r.cat, r.pub, r.author)
			tt.edit(&fields)
			_, err := f.tryCreate(fields)
			wantViolation(t, err, tt.field)

			_, err = f.books.UpdateBook(f.ctx, existing.ID(), func(b *catalog.Book) error {
				paths := []string{catalog.FieldCategoryID, catalog.FieldPublisherID, catalog.FieldAuthorIDs}
				return b.Apply(fields, paths, f.now())
			})
			wantViolation(t, err, tt.field)
		})
	}
	if got := f.get(existing.ID()).Record(); got.Version != 1 {
		t.Errorf("failed updates changed the book: version %d", got.Version)
	}
}

func testUpdate(t *testing.T, f *fixture) {
	r, r2 := f.refs(), f.refs()
	extra := f.author("Extra Author")
	b := f.create(f.fields("Old Title", r.cat, r.pub, r.author))
	next := catalog.BookFields{
		Title: "Moonlit Orchard", Description: "Apples at night.", Price: eur(t, 2500), SalePrice: eur(t, 2000), StockQuantity: 0,
		CategoryID: r2.cat, PublisherID: r2.pub, AuthorIDs: []string{extra, r.author},
	}
	paths := []string{catalog.FieldTitle, catalog.FieldDescription, catalog.FieldPrice, catalog.FieldSalePrice, catalog.FieldStockQuantity,
		catalog.FieldCategoryID, catalog.FieldPublisherID, catalog.FieldAuthorIDs}
	updated, err := f.books.UpdateBook(f.ctx, b.ID(), func(b *catalog.Book) error { return b.Apply(next, paths, f.now()) })
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*catalog.Book{"returned": updated, "got": f.get(b.ID())} {
		g := got.Record()
		if g.Title != "Moonlit Orchard" || g.Price != next.Price || g.SalePrice != next.SalePrice || g.StockQuantity != 0 ||
			g.Version != 2 || !g.UpdateTime.Equal(f.lastNow()) || g.CategoryID != r2.cat || g.PublisherID != r2.pub {
			t.Errorf("%s: %+v", name, g)
		}
		if !slices.Equal(g.AuthorIDs, []string{extra, r.author}) || g.AuthorNames[0] != "Extra Author" {
			t.Errorf("%s: authors %v %v", name, g.AuthorIDs, g.AuthorNames)
		}
		if g.CategoryName != f.mustName(catalog.CategoryKind, r2.cat) {
			t.Errorf("%s: category name %q", name, g.CategoryName)
		}
		if g.Description != "Apples at night." || g.ISBN != b.Record().ISBN || g.ImageURL != b.Record().ImageURL {
			t.Errorf("%s: fields outside the mask changed: %+v", name, g.BookFields)
		}
	}
	// The search document follows: the new title and author are found, the
	// old title is not.
	if ids := f.searchIDs("moonlit orchard"); !slices.Contains(ids, b.ID()) {
		t.Errorf("search for the new title: %v", ids)
	}
	if ids := f.searchIDs("\"extra author\""); !slices.Contains(ids, b.ID()) {
		t.Errorf("search for the new author: %v", ids)
	}
	if ids := f.searchIDs("\"old title\""); slices.Contains(ids, b.ID()) {
		t.Errorf("search for the old title still finds the book")
	}
}

func (f *fixture) mustName(k catalog.Kind, id string) string {
	f.t.Helper()
	e, err := f.entities.GetEntity(f.ctx, k, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return e.Record().Name
}

func (f *fixture) searchIDs(q string) []string {
	f.t.Helper()
	page, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: q, PageSize: 100})
	if err != nil {
		f.t.Fatalf("search %q: %v", q, err)
	}
	var ids []string
	for _, h := range page.Hits {
		ids = append(ids, h.Book.ID())
	}
	return ids
}

func testUpdateErrors(t *testing.T, f *fixture) {
	r := f.refs()
	b := f.create(f.fields("Steady", r.cat, r.pub, r.author))
	noop := func(*catalog.Book) error { return nil }

	_, err := f.books.UpdateBook(f.ctx, coreid.New(), noop)
	wantIs(t, err, failure.ErrNotFound)

	mine := errors.New("closure says no")
	_, err = f.books.UpdateBook(f.ctx, b.ID(), func(*catalog.Book) error { return mine })
	if err != mine {
		t.Errorf("closure error came back as %v", err)
	}
	invalid := func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{Title: ""}, []string{catalog.FieldTitle}, f.now())
	}
	_, err = f.books.UpdateBook(f.ctx, b.ID(), invalid)
	wantViolation(t, err, "book.title")

	got, err := f.books.UpdateBook(f.ctx, b.ID(), noop)
	if err != nil || got.Record().Version != 1 {
		t.Errorf("no-op update = %v, %v", got, err)
	}
	if v := f.get(b.ID()).Record().Version; v != 1 {
		t.Errorf("version after failed and no-op updates = %d, want 1", v)
	}
}

func testDelete(t *testing.T, f *fixture) {
	r := f.refs()
	keep := f.create(f.fields("Kept Lantern", r.cat, r.pub, r.author))
	gone := f.create(f.fields("Gone Lantern", r.cat, r.pub, r.author))
	f.get(gone.ID()) // cached, for the cache
	at := f.now()
	if err := f.books.DeleteBook(f.ctx, gone.ID(), at); err != nil {
		t.Fatal(err)
	}
	g := f.get(gone.ID()).Record()
	if g.DeleteTime == nil || !g.DeleteTime.Equal(at) || g.Version != 2 || g.Title != "Gone Lantern" || g.CategoryName == "" {
		t.Errorf("deleted book = %+v", g)
	}
	wantIs(t, f.books.DeleteBook(f.ctx, gone.ID(), f.now()), failure.ErrNotFound)
	wantIs(t, f.books.DeleteBook(f.ctx, coreid.New(), f.now()), failure.ErrNotFound)

	page, err := f.books.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Books) != 1 || page.Books[0].ID() != keep.ID() {
		t.Errorf("list after delete: %v", page.Books)
	}
	if ids := f.searchIDs("lantern"); !slices.Equal(ids, []string{keep.ID()}) {
		t.Errorf("search after delete: %v", ids)
	}
	_, err = f.books.UpdateBook(f.ctx, gone.ID(), func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{Title: "Back"}, []string{catalog.FieldTitle}, f.now())
	})
	wantIs(t, err, failure.ErrFailedPrecondition)
}

// testConcurrentUpdates runs many updates of one book at once. Each adds one
// copy to the stock: with no lost update, the final stock and version count
// exactly the updates that succeeded, every other one failed with
// ErrConflict, and each version was won by exactly one update.
func testConcurrentUpdates(t *testing.T, f *fixture) {
	r := f.refs()
	b := f.create(f.fields("Contested", r.cat, r.pub, r.author))
	const workers, rounds = 8, 5
	var (
		mu        sync.Mutex
		won       []int64
		conflicts int
	)
	for round := range rounds {
		// In the first round every worker reads before any writes, so
		// exactly one can win; later rounds interleave freely.
		var ready sync.WaitGroup
		ready.Add(workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				once := sync.OnceFunc(ready.Done)
				defer once()
				got, err := f.books.UpdateBook(f.ctx, b.ID(), func(b *catalog.Book) error {
					if round == 0 {
						once()
						ready.Wait()
					}
					stock := b.Record().StockQuantity + 1
					return b.Apply(catalog.BookFields{StockQuantity: stock}, []string{catalog.FieldStockQuantity}, time.Now())
				})
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					won = append(won, got.Record().Version)
				case errors.Is(err, failure.ErrConflict):
					conflicts++
				default:
					t.Errorf("update: %v", err)
				}
			})
		}
		wg.Wait()
		if round == 0 && len(won) != 1 {
			t.Fatalf("%d updates won from the same version, want exactly 1", len(won))
		}
	}
	if len(won)+conflicts != workers*rounds {
		t.Fatalf("%d won + %d conflicts != %d", len(won), conflicts, workers*rounds)
	}
	slices.Sort(won)
	for i, v := range won {
		if v != int64(i+2) {
			t.Fatalf("versions won = %v, want 2..%d each once", won, len(won)+1)
		}
	}
	final := f.get(b.ID()).Record()
	if final.Version != int64(len(won)+1) || final.StockQuantity != int32(5+len(won)) {
		t.Errorf("final version %d, stock %d; want %d and %d", final.Version, final.StockQuantity, len(won)+1, 5+len(won))
	}
}

func testListFilters(t *testing.T, f *fixture) {
	r1, r2 := f.refs(), f.refs()
	co := f.author("Co Author")
	mk := func(title string, r refs, price int64, stock int32, currency string, authors ...string) string {
		fields := f.fields(title, r.cat, r.pub, authors...)
		m, err := money.New(currency, price)
		if err != nil {
			t.Fatal(err)
		}
		fields.Price, fields.StockQuantity = m, stock
		return f.create(fields).ID()
	}
	a := mk("A", r1, 500, 1, "EUR", r1.author)
	b := mk("B", r1, 1500, 0, "EUR", r1.author, co)
	c := mk("C", r2, 2500, 3, "EUR", r2.author)
	d := mk("D", r2, 1500, 3, "USD", co)
	// A sale price is what the price filter sees.
	_, err := f.books.UpdateBook(f.ctx, c, func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{SalePrice: eur(t, 900)}, []string{catalog.FieldSalePrice}, f.now())
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		filter catalog.BookFilter
		want   []string
	}{
		{"none", catalog.BookFilter{}, []string{a, b, c, d}},
		{"category", catalog.BookFilter{CategoryIDs: []string{r2.cat}}, []string{c, d}},
		{"categories", catalog.BookFilter{CategoryIDs: []string{r1.cat, r2.cat}}, []string{a, b, c, d}},
		{"publisher", catalog.BookFilter{PublisherIDs: []string{r1.pub}}, []string{a, b}},
		{"author any of", catalog.BookFilter{AuthorIDs: []string{co}}, []string{b, d}},
		{"authors", catalog.BookFilter{AuthorIDs: []string{co, r2.author}}, []string{b, c, d}},
		{"min price", catalog.BookFilter{MinPrice: eur(t, 1000)}, []string{b}},
		{"max price", catalog.BookFilter{MaxPrice: eur(t, 1000)}, []string{a, c}},
		{"price range", catalog.BookFilter{MinPrice: eur(t, 600), MaxPrice: eur(t, 1500)}, []string{b, c}},
		{"other currency", catalog.BookFilter{MaxPrice: mustMoney(t, "USD", 10000)}, []string{d}},
		{"in stock", catalog.BookFilter{InStockOnly: true}, []string{a, c, d}},
		{"combined", catalog.BookFilter{CategoryIDs: []string{r1.cat}, InStockOnly: true}, []string{a}},
		{"nothing", catalog.BookFilter{CategoryIDs: []string{coreid.New()}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := f.books.ListBooks(f.ctx, catalog.ListBooksQuery{Filter: tt.filter, PageSize: 10})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, b := range page.Books {
				got = append(got, b.ID())
			}
			if !slices.Equal(got, tt.want) || page.NextPageToken != "" {
				t.Errorf("got %v (next %q), want %v", got, page.NextPageToken, tt.want)
			}
		})
	}
}

// bookKey returns what order sorts b by, comparable with cmp.Compare after
// the id tie-break.
func bookKey(order catalog.BookOrder, b *catalog.Book) func(other *catalog.Book) int {
	return func(o *catalog.Book) int {
		x, y := b.Record(), o.Record()
		var c int
		switch order {
		case catalog.OrderTitle:
			c = strings.Compare(x.Title, y.Title)
		case catalog.OrderPrice:
			c = cmp.Compare(x.EffectivePrice().Minor(), y.EffectivePrice().Minor())
		case catalog.OrderCreateTime:
			c = x.CreateTime.Compare(y.CreateTime)
		case catalog.OrderRating:
			c = cmp.Compare(b.RatingAverage(), o.RatingAverage())
		}
		if c == 0 {
			c = strings.Compare(x.ID, y.ID)
		}
		return c
	}
}

// testListPagination pages through every order in both directions, adding
// books between pages (some sorting before the cursor, some after). Every
// book that existed before the first page must come exactly once, in order.
func testListPagination(t *testing.T, f *fixture) {
	r := f.refs()
	var pre []string
	for i := range 23 {
		fields := f.fields(fmt.Sprintf("%c Book %02d", 'A'+(i*7)%26, i), r.cat, r.pub, r.author)
		fields.Price = eur(t, int64(500+(i*37)%10*100)) // repeated prices: ties broken by id
		b := f.create(fields)
		f.setRating(b.ID(), int64(i%4), int32(min(i%4, 1)))
		pre = append(pre, b.ID())
	}
	orders := []catalog.BookOrder{catalog.OrderTitle, catalog.OrderPrice, catalog.OrderCreateTime, catalog.OrderRating}
	inserted := 0
	for _, order := range orders {
		for _, desc := range []bool{false, true} {
			t.Run(fmt.Sprintf("order %d desc %v", order, desc), func(t *testing.T) {
				q := catalog.ListBooksQuery{Order: order, Descending: desc, PageSize: 4}
				var seen []*catalog.Book
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatal("too many pages")
					}
					page, err := f.books.ListBooks(f.ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(page.Books) > 4 {
						t.Fatalf("page of %d", len(page.Books))
					}
					seen = append(seen, page.Books...)
					if page.NextPageToken == "" {
						break
					}
					q.PageToken = page.NextPageToken
					if pages >= 4 {
						continue
					}
					// Two new books after each of the first pages: one with
					// the smallest keys, one with the largest.
					inserted++
					lo := f.fields(fmt.Sprintf("0 New %d", inserted), r.cat, r.pub, r.author)
					lo.Price = eur(t, 100)
					f.create(lo)
					hi := f.fields(fmt.Sprintf("z New %d", inserted), r.cat, r.pub, r.author)
					hi.Price = eur(t, 99999)
					f.setRating(f.create(hi).ID(), 5, 1)
				}
				ids := map[string]bool{}
				for i, b := range seen {
					if ids[b.ID()] {
						t.Fatalf("book %s listed twice", b.ID())
					}
					ids[b.ID()] = true
					if i > 0 {
						c := bookKey(order, seen[i-1])(b)
						if (!desc && c >= 0) || (desc && c <= 0) {
							t.Fatalf("books %d and %d out of order", i-1, i)
						}
					}
				}
				for _, id := range pre {
					if !ids[id] {
						t.Fatalf("book %s that existed before the first page was skipped", id)
					}
				}
			})
		}
	}
}

func testBadPageTokens(t *testing.T, f *fixture) {
	r := f.refs()
	for i := range 5 {
		f.create(f.fields(fmt.Sprintf("Token Garden %d", i), r.cat, r.pub, r.author))
	}
	list, err := f.books.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 2})
	if err != nil || list.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", list, err)
	}
	search, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "garden", PageSize: 2})
	if err != nil || search.NextPageToken == "" {
		t.Fatalf("first search page: %v, %v", search, err)
	}
	// The right token works.
	if _, err := f.books.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 2, PageToken: list.NextPageToken}); err != nil {
		t.Fatalf("second page: %v", err)
	}
	// A different page size is the same query.
	if _, err := f.books.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 3, PageToken: list.NextPageToken}); err != nil {
		t.Fatalf("second page, other size: %v", err)
	}
	lists := []struct {
		name string
		q    catalog.ListBooksQuery
	}{
		{"garbage", catalog.ListBooksQuery{PageToken: "not a token!"}},
		{"base64 garbage", catalog.ListBooksQuery{PageToken: "aGVsbG8"}},
		{"other order", catalog.ListBooksQuery{Order: catalog.OrderPrice, PageToken: list.NextPageToken}},
		{"other direction", catalog.ListBooksQuery{Descending: true, PageToken: list.NextPageToken}},
		{"other filter", catalog.ListBooksQuery{Filter: catalog.BookFilter{InStockOnly: true}, PageToken: list.NextPageToken}},
		{"search token", catalog.ListBooksQuery{PageToken: search.NextPageToken}},
	}
	for _, tt := range lists {
		t.Run("list "+tt.name, func(t *testing.T) {
			tt.q.PageSize = 2
			_, err := f.books.ListBooks(f.ctx, tt.q)
			wantViolation(t, err, "page_token")
		})
	}
	searches := []struct {
		name string
		q    catalog.SearchBooksQuery
	}{
		{"garbage", catalog.SearchBooksQuery{Query: "garden", PageToken: "%%%"}},
		{"other query", catalog.SearchBooksQuery{Query: "token", PageToken: search.NextPageToken}},
		{"list token", catalog.SearchBooksQuery{Query: "garden", PageToken: list.NextPageToken}},
		{"other filter", catalog.SearchBooksQuery{Query: "garden", Filter: catalog.BookFilter{CategoryIDs: []string{r.cat}},
			PageToken: search.NextPageToken}},
	}
	for _, tt := range searches {
		t.Run("search "+tt.name, func(t *testing.T) {
			tt.q.PageSize = 2
			_, err := f.books.SearchBooks(f.ctx, tt.q)
			wantViolation(t, err, "page_token")
		})
	}
}

func testSearchRelevance(t *testing.T, f *fixture) {
	r := f.refs()
	mk := func(title, description string, authors ...string) string {
		fields := f.fields(title, r.cat, r.pub, authors...)
		fields.Description = description
		return f.create(fields).ID()
	}
	inDescription := mk("Quiet Waters", "A tale with a comet at its very end.", r.author)
	inTitle := mk("The Comet", "Nothing to see here.", r.author)
	byAuthor := mk("Night Skies", "Stars and more stars.", f.author("Hale Comet"))
	unrelated := mk("Bread and Butter", "Baking at home.", r.author)

	page, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "comet", PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for i, h := range page.Hits {
		got = append(got, h.Book.ID())
		if h.Relevance <= 0 {
			t.Errorf("hit %d: relevance %v", i, h.Relevance)
		}
		if i > 0 && h.Relevance > page.Hits[i-1].Relevance {
			t.Errorf("hits not by relevance: %v then %v", page.Hits[i-1].Relevance, h.Relevance)
		}
		if h.Book.Record().AuthorNames == nil || h.Book.Record().CategoryName == "" {
			t.Errorf("hit %d without names", i)
		}
	}
	if want := []string{inTitle, byAuthor, inDescription}; !slices.Equal(got, want) {
		t.Errorf("hits %v, want title match, author match, description match %v", got, want)
	}
	if slices.Contains(got, unrelated) {
		t.Error("unrelated book found")
	}
	// Category and publisher names are searchable too.
	if ids := f.searchIDs(fmt.Sprintf("%q", f.mustName(catalog.PublisherKind, r.pub))); len(ids) != 4 {
		t.Errorf("search by publisher name found %d books, want 4", len(ids))
	}
	// Web search syntax: exclusion.
	if ids := f.searchIDs("comet -tale"); slices.Contains(ids, inDescription) || !slices.Contains(ids, inTitle) {
		t.Errorf("comet -tale = %v", ids)
	}
	// Filters apply to search.
	page, err = f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "comet", PageSize: 10,
		Filter: catalog.BookFilter{CategoryIDs: []string{coreid.New()}}})
	if err != nil || len(page.Hits) != 0 {
		t.Errorf("filtered search = %v, %v", page.Hits, err)
	}
}

func testSearchTypos(t *testing.T, f *fixture) {
	r := f.refs()
	dragon := f.create(f.fields("The Dragon Garden", r.cat, r.pub, f.author("Marguerite Okafor"))).ID()
	f.create(f.fields("Bread and Butter", r.cat, r.pub, r.author))
	tests := []struct {
		query string
		want  string
	}{
		{"dragn", dragon},
		{"drgaon garden", dragon},
		{"margerite", dragon}, // an author name misspelt
		{"the", dragon},       // only a stop word: no lexemes, trigrams still match
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			if ids := f.searchIDs(tt.query); len(ids) == 0 || ids[0] != tt.want {
				t.Errorf("search %q = %v, want %s first", tt.query, ids, tt.want)
			}
		})
	}
	if ids := f.searchIDs("xylophone"); len(ids) != 0 {
		t.Errorf("search for an absent word found %v", ids)
	}
	// The lexicon corrects each word of a longer query.
	history := f.create(f.fields("A History of Lanterns", r.cat, r.pub, r.author)).ID()
	if ids := f.searchIDs("histroy lantrens"); len(ids) == 0 || ids[0] != history {
		t.Errorf("search %q = %v, want %s first", "histroy lantrens", ids, history)
	}
	// Exclusions hold for corrected words too.
	if ids := f.searchIDs("dragn -garden"); slices.Contains(ids, dragon) {
		t.Errorf("dragn -garden = %v", ids)
	}
	// Whatever people type, search answers (possibly with nothing).
	for _, q := range []string{"-", `"`, "!!!", "a & b | !c", "((", "'", ":*", "dragon:*", "ʼʼʼ donʼt", "<->", `\`, "or", "-dragon"} {
		if _, err := f.books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: q, PageSize: 5}); err != nil {
			t.Errorf("search %q: %v", q, err)
		}
	}
}

func testSearchPages(t *testing.T, f *fixture) {
	r := f.refs()
	const n = 31
	for i := range n {
		fields := f.fields(fmt.Sprintf("Garden %d", i), r.cat, r.pub, r.author)
		// Varied relevance: some mention garden again in the description,
		// many tie.
		if i%3 == 0 {
			fields.Description = "A garden book about the garden."
		}
		f.create(fields)
	}
	f.create(f.fields("Unrelated", r.cat, r.pub, r.author))
	q := catalog.SearchBooksQuery{Query: "garden", PageSize: 7}
	seen := map[string]bool{}
	last := 1e9
	for pages := 1; ; pages++ {
		page, err := f.books.SearchBooks(f.ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range page.Hits {
			if seen[h.Book.ID()] {
				t.Fatalf("hit %s twice", h.Book.ID())
			}
			seen[h.Book.ID()] = true
			if h.Relevance > last {
				t.Fatalf("relevance went up across hits: %v after %v", h.Relevance, last)
			}
			last = h.Relevance
		}
		if page.NextPageToken == "" {
			if pages != 5 {
				t.Errorf("%d pages, want 5", pages)
			}
			break
		}
		// A new match between pages must not disturb the rest.
		f.create(f.fields(fmt.Sprintf("Garden extra %d", pages), r.cat, r.pub, r.author))
		q.PageToken = page.NextPageToken
	}
	if len(seen) < n {
		t.Errorf("reached %d of %d matches", len(seen), n)
	}
}

// testEntityRenames checks that renaming an author, category or publisher
// shows in the books' names and search documents.
func testEntityRenames(t *testing.T, f *fixture) {
	r := f.refs()
	b := f.create(f.fields("Renamed Things", r.cat, r.pub, r.author))
	f.get(b.ID()) // cache it, for the cache
	rename := func(k catalog.Kind, id, name string) {
		t.Helper()
		_, err := f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
			return e.Apply(catalog.EntityFields{Name: name}, []string{catalog.FieldName}, f.now())
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	rename(catalog.AuthorKind, r.author, "Quentin Quill")
	rename(catalog.CategoryKind, r.cat, "Zeppelin Stories")
	rename(catalog.PublisherKind, r.pub, "Walrus House")
	pgtest.Eventually(t, "the book shows the new names", func() bool {
		g := f.get(b.ID()).Record()
		return slices.Equal(g.AuthorNames, []string{"Quentin Quill"}) && g.CategoryName == "Zeppelin Stories" &&
			g.PublisherName == "Walrus House"
	})
	for _, q := range []string{"quentin", "zeppelin", "walrus"} {
		if ids := f.searchIDs(q); !slices.Equal(ids, []string{b.ID()}) {
			t.Errorf("search %q = %v", q, ids)
		}
	}
}
