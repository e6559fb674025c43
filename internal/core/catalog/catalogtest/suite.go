package catalogtest

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Stores are the stores under test: the book store, and the entity store
// whose authors, categories and publishers its books refer to.
type Stores struct {
	Books    catalog.Books
	Entities catalog.Entities
}

// RunBookStore runs the contract of catalog.Books against the stores
// newStores makes: each case gets fresh, empty ones. Every implementation
// (the Postgres store, its cache, MemoryCatalog) must pass it.
func RunBookStore(t *testing.T, newStores func(t *testing.T) Stores) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"a created book reads back with its names", testCreateAndGet},
		{"missing and malformed ids are simply absent", testGetMissing},
		{"an ISBN is unique among live books", testUniqueISBN},
		{"references must exist", testReferencesMustExist},
		{"update stores the change", testUpdateBook},
		{"a concurrent update makes the later one conflict", testUpdateConflict},
		{"update returns the closure's error and stores nothing", testUpdateBookError},
		{"a missing book is not found", testMissingBook},
		{"a deleted book stays readable and leaves lists", testDeleteBook},
		{"lists page through every order", testListBooks},
		{"lists filter", testListFilter},
		{"an entity in use by a live book cannot be deleted", testEntityInUse},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := newStores(t)
			c.run(t, &suite{t: t, Stores: st, ctx: context.Background(), clock: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)})
		})
	}
}

type suite struct {
	Stores
	t     *testing.T
	ctx   context.Context
	clock time.Time
	seq   int
}

// now returns a growing instant in whole seconds (stores keep
// microseconds).
func (s *suite) now() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

func (s *suite) entity(k catalog.Kind, name string) string {
	s.t.Helper()
	e, err := catalog.NewEntity(k, coreid.New(), catalog.EntityFields{Name: name}, s.now())
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := s.Entities.CreateEntity(s.ctx, e); err != nil {
		s.t.Fatalf("create %s %q: %v", k.Name, name, err)
	}
	return e.Record().ID
}

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// isbn returns a valid ISBN-13 no other call of the case returns.
func (s *suite) isbn() string {
	s.seq++
	d := fmt.Sprintf("979%09d", s.seq)
	sum := 0
	for i := range 12 {
		n := int(d[i] - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return d + string(rune('0'+(10-sum%10)%10))
}

// refs are a category, a publisher and two authors to hang books on.
type refs struct{ cat, pub, a1, a2 string }

func (s *suite) refs() refs {
	s.seq++
	n := s.seq
	return refs{
		cat: s.entity(catalog.CategoryKind, fmt.Sprintf("Category %d", n)),
		pub: s.entity(catalog.PublisherKind, fmt.Sprintf("Publisher %d", n)),
		a1:  s.entity(catalog.AuthorKind, fmt.Sprintf("Author %d A", n)),
		a2:  s.entity(catalog.AuthorKind, fmt.Sprintf("Author %d B", n)),
	}
}

func (s *suite) fields(title string, r refs, price int64) catalog.BookFields {
	return catalog.BookFields{
		Title: title, Description: "About " + title, ISBN: s.isbn(), Price: eur(s.t, price), StockQuantity: 3,
		CategoryID: r.cat, PublisherID: r.pub, AuthorIDs: []string{r.a1, r.a2}, ImageURL: "https://img.example/x.jpg",
	}
}

func (s *suite) tryCreate(f catalog.BookFields) (*catalog.Book, error) {
	s.t.Helper()
	b, err := catalog.NewBook(coreid.New(), f, s.now())
	if err != nil {
		s.t.Fatalf("invalid test book: %v", err)
	}
	return s.Books.CreateBook(s.ctx, b)
}

func (s *suite) create(f catalog.BookFields) *catalog.Book {
	s.t.Helper()
	b, err := s.tryCreate(f)
	if err != nil {
		s.t.Fatalf("create %q: %v", f.Title, err)
	}
	return b
}

func (s *suite) get(id string) catalog.BookRecord {
	s.t.Helper()
	got, err := s.Books.GetBooks(s.ctx, []string{id})
	if err != nil || len(got) != 1 {
		s.t.Fatalf("GetBooks(%s) = %v, %v", id, got, err)
	}
	return got[0].Record()
}

// same compares two records as stored, times by instant.
func same(t *testing.T, got, want catalog.BookRecord) {
	t.Helper()
	if !got.CreateTime.Equal(want.CreateTime) || !got.UpdateTime.Equal(want.UpdateTime) ||
		(got.DeleteTime == nil) != (want.DeleteTime == nil) {
		t.Fatalf("times differ: got %v %v %v, want %v %v %v", got.CreateTime, got.UpdateTime, got.DeleteTime,
			want.CreateTime, want.UpdateTime, want.DeleteTime)
	}
	got.CreateTime, got.UpdateTime, got.DeleteTime = want.CreateTime, want.UpdateTime, want.DeleteTime
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
}

func testCreateAndGet(t *testing.T, s *suite) {
	r := s.refs()
	f := s.fields("Alpha", r, 1999)
	f.SalePrice = eur(t, 1499)
	out := s.create(f)
	want := out.Record()
	if want.CategoryName != "Category 1" || want.PublisherName != "Publisher 1" ||
		!slices.Equal(want.AuthorNames, []string{"Author 1 A", "Author 1 B"}) || want.Version != 1 {
		t.Fatalf("CreateBook returned %+v, want the names resolved and version 1", want)
	}
	same(t, s.get(out.ID()), want)
	// Ids in upper case name the same book.
	same(t, s.get(strings.ToUpper(out.ID())), want)
}

func testGetMissing(t *testing.T, s *suite) {
	b := s.create(s.fields("Alpha", s.refs(), 1000))
	got, err := s.Books.GetBooks(s.ctx, []string{coreid.New(), "not-a-uuid", b.ID()})
	if err != nil || len(got) != 1 || got[0].ID() != b.ID() {
		t.Fatalf("GetBooks = %v, %v; want just the existing book", got, err)
	}
	if got, err := s.Books.GetBooks(s.ctx, []string{coreid.New()}); err != nil || len(got) != 0 {
		t.Fatalf("GetBooks of a missing id = %v, %v", got, err)
	}
}

func testUniqueISBN(t *testing.T, s *suite) {
	r := s.refs()
	first := s.create(s.fields("Alpha", r, 1000))
	f := s.fields("Bravo", r, 1000)
	f.ISBN = first.Record().ISBN
	if _, err := s.tryCreate(f); !errors.Is(err, failure.ErrAlreadyExists) {
		t.Fatalf("a second book with one ISBN = %v, want ErrAlreadyExists", err)
	}
	if err := s.Books.DeleteBook(s.ctx, first.ID(), s.now()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.tryCreate(f); err != nil {
		t.Fatalf("the ISBN of a deleted book is free again, but: %v", err)
	}
}

// wantViolation checks that err is a ValidationError on field.
func wantViolation(t *testing.T, err error, field string) {
	t.Helper()
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || !slices.ContainsFunc(ve.Violations, func(v failure.Violation) bool { return v.Field == field }) {
		t.Fatalf("error = %v, want a violation of %s", err, field)
	}
}

func testReferencesMustExist(t *testing.T, s *suite) {
	r := s.refs()
	for _, c := range []struct {
		field string
		set   func(*catalog.BookFields)
	}{
		{catalog.FieldCategoryID, func(f *catalog.BookFields) { f.CategoryID = coreid.New() }},
		{catalog.FieldPublisherID, func(f *catalog.BookFields) { f.PublisherID = coreid.New() }},
		{catalog.FieldAuthorIDs, func(f *catalog.BookFields) { f.AuthorIDs = []string{r.a1, coreid.New()} }},
	} {
		f := s.fields("Alpha", r, 1000)
		c.set(&f)
		_, err := s.tryCreate(f)
		wantViolation(t, err, catalog.RequestField+"."+c.field)
	}
	page, err := s.Books.ListBooks(s.ctx, catalog.ListBooksQuery{PageSize: 10})
	if err != nil || len(page.Books) != 0 {
		t.Fatalf("refused books were stored: %v, %v", page.Books, err)
	}
}

func testUpdateBook(t *testing.T, s *suite) {
	r, other := s.refs(), s.refs()
	b := s.create(s.fields("Alpha", r, 1000))
	at := s.now()
	out, err := s.Books.UpdateBook(s.ctx, b.ID(), func(b *catalog.Book) error {
		return b.Apply(catalog.BookFields{Title: "Alpha Revised", AuthorIDs: []string{other.a2, r.a1}, CategoryID: other.cat},
			[]string{catalog.FieldTitle, catalog.FieldAuthorIDs, catalog.FieldCategoryID}, at)
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := out.Record()
	if rec.Title != "Alpha Revised" || rec.Version != 2 || !rec.UpdateTime.Equal(at) || rec.CategoryName != "Category 2" ||
		!slices.Equal(rec.AuthorNames, []string{"Author 2 B", "Author 1 A"}) {
		t.Fatalf("UpdateBook returned %+v", rec)
	}
	same(t, s.get(b.ID()), rec)
}

func testUpdateConflict(t *testing.T, s *suite) {
	b := s.create(s.fields("Alpha", s.refs(), 1000))
	var inner catalog.BookRecord
	_, err := s.Books.UpdateBook(s.ctx, b.ID(), func(outer *catalog.Book) error {
		// Another writer changes the book and commits while this update
		// holds its copy.
		got, err := s.Books.UpdateBook(s.ctx, b.ID(), func(b *catalog.Book) error {
			return b.Apply(catalog.BookFields{StockQuantity: 9}, []string{catalog.FieldStockQuantity}, s.now())
		})
		if err != nil {
			return fmt.Errorf("the concurrent update failed: %w", err)
		}
		inner = got.Record()
		return outer.Apply(catalog.BookFields{Title: "Lost"}, []string{catalog.FieldTitle}, s.now())
	})
	if !errors.Is(err, failure.ErrConflict) {
		t.Fatalf("the later update = %v, want ErrConflict", err)
	}
	same(t, s.get(b.ID()), inner)
}

func testUpdateBookError(t *testing.T, s *suite) {
	b := s.create(s.fields("Alpha", s.refs(), 1000))
	boom := errors.New("boom")
	_, err := s.Books.UpdateBook(s.ctx, b.ID(), func(b *catalog.Book) error {
		if err := b.Apply(catalog.BookFields{Title: "Changed"}, []string{catalog.FieldTitle}, s.now()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateBook = %v, want the closure's error", err)
	}
	same(t, s.get(b.ID()), b.Record())
}

func testMissingBook(t *testing.T, s *suite) {
	missing := coreid.New()
	if _, err := s.Books.UpdateBook(s.ctx, missing, func(*catalog.Book) error { return nil }); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("UpdateBook of a missing book = %v", err)
	}
	if err := s.Books.DeleteBook(s.ctx, missing, s.now()); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("DeleteBook of a missing book = %v", err)
	}
}

func testDeleteBook(t *testing.T, s *suite) {
	r := s.refs()
	b := s.create(s.fields("Alpha", r, 1000))
	keep := s.create(s.fields("Bravo", r, 1000))
	at := s.now()
	if err := s.Books.DeleteBook(s.ctx, b.ID(), at); err != nil {
		t.Fatal(err)
	}
	got := s.get(b.ID())
	if got.DeleteTime == nil || !got.DeleteTime.Equal(at) || got.Version != 2 || got.Title != "Alpha" {
		t.Fatalf("deleted book reads %+v", got)
	}
	if err := s.Books.DeleteBook(s.ctx, b.ID(), s.now()); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("deleting again = %v, want ErrNotFound", err)
	}
	page, err := s.Books.ListBooks(s.ctx, catalog.ListBooksQuery{PageSize: 10})
	if err != nil || len(page.Books) != 1 || page.Books[0].ID() != keep.ID() {
		t.Fatalf("list after the delete: %v, %v", page.Books, err)
	}
}

func bookIDs(bs []*catalog.Book) []string {
	out := make([]string, len(bs))
	for i, b := range bs {
		out[i] = b.ID()
	}
	return out
}

// listAll pages through q with pages of three, adding a book that sorts
// first after the first page: keyset pages neither repeat nor skip because
// of it.
func (s *suite) listAll(q catalog.ListBooksQuery, addAfterFirst func()) []string {
	s.t.Helper()
	q.PageSize = 3
	var got []string
	for pages := 0; ; pages++ {
		if pages > 20 {
			s.t.Fatal("pages never end")
		}
		page, err := s.Books.ListBooks(s.ctx, q)
		if err != nil {
			s.t.Fatalf("ListBooks: %v", err)
		}
		got = append(got, bookIDs(page.Books)...)
		if page.NextPageToken == "" {
			return got
		}
		if pages == 0 && addAfterFirst != nil {
			addAfterFirst()
		}
		q.PageToken = page.NextPageToken
	}
}

func testListBooks(t *testing.T, s *suite) {
	r := s.refs()
	titles := []string{"Hotel", "Charlie", "Echo", "Alpha", "Golf", "Bravo", "Foxtrot", "Delta"}
	prices := []int64{800, 300, 500, 100, 700, 200, 500, 400} // Echo and Foxtrot tie
	var recs []catalog.BookRecord
	for i, title := range titles {
		recs = append(recs, s.create(s.fields(title, r, prices[i])).Record())
	}
	orders := []struct {
		q   catalog.ListBooksQuery
		cmp func(a, b catalog.BookRecord) int
	}{
		{catalog.ListBooksQuery{Order: catalog.OrderTitle}, func(a, b catalog.BookRecord) int { return strings.Compare(a.Title, b.Title) }},
		{catalog.ListBooksQuery{Order: catalog.OrderTitle, Descending: true}, func(a, b catalog.BookRecord) int { return strings.Compare(b.Title, a.Title) }},
		{catalog.ListBooksQuery{Order: catalog.OrderPrice}, func(a, b catalog.BookRecord) int {
			if c := a.Price.Minor() - b.Price.Minor(); c != 0 {
				return int(c)
			}
			return strings.Compare(a.ID, b.ID)
		}},
		{catalog.ListBooksQuery{Order: catalog.OrderCreateTime, Descending: true}, func(a, b catalog.BookRecord) int { return b.CreateTime.Compare(a.CreateTime) }},
	}
	for _, o := range orders {
		want := slices.Clone(recs)
		slices.SortFunc(want, o.cmp)
		var wantIDs []string
		for _, r := range want {
			wantIDs = append(wantIDs, r.ID)
		}
		if got := s.listAll(o.q, nil); !slices.Equal(got, wantIDs) {
			t.Fatalf("order %+v: listed %v, want %v", o.q, got, wantIDs)
		}
	}
	// A book added between pages that sorts before the cursor is not
	// listed, and nothing repeats or goes missing.
	var added string
	got := s.listAll(catalog.ListBooksQuery{Order: catalog.OrderTitle}, func() {
		added = s.create(s.fields("Aardvark", r, 100)).ID()
	})
	if len(got) != len(titles) || slices.Contains(got, added) {
		t.Fatalf("pages with an insert between them listed %d books %v", len(got), got)
	}
	page, err := s.Books.ListBooks(s.ctx, catalog.ListBooksQuery{PageSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	other := catalog.ListBooksQuery{Order: catalog.OrderPrice, PageSize: 3, PageToken: page.NextPageToken}
	if _, err := s.Books.ListBooks(s.ctx, other); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("a token of another order = %v, want ErrInvalid", err)
	}
	if _, err := s.Books.ListBooks(s.ctx, catalog.ListBooksQuery{PageSize: 3, PageToken: "garbage"}); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("a garbage token = %v, want ErrInvalid", err)
	}
}

func testListFilter(t *testing.T, s *suite) {
	r1, r2 := s.refs(), s.refs()
	a := s.create(s.fields("Alpha", r1, 1000))
	f := s.fields("Bravo", r2, 2500)
	f.StockQuantity = 0
	b := s.create(f)
	c := s.create(s.fields("Charlie", r2, 500))
	cases := []struct {
		name   string
		filter catalog.BookFilter
		want   []string
	}{
		{"category", catalog.BookFilter{CategoryIDs: []string{r2.cat}}, []string{b.ID(), c.ID()}},
		{"publisher", catalog.BookFilter{PublisherIDs: []string{r1.pub}}, []string{a.ID()}},
		{"author", catalog.BookFilter{AuthorIDs: []string{r2.a2}}, []string{b.ID(), c.ID()}},
		{"price range", catalog.BookFilter{MinPrice: eur(t, 600), MaxPrice: eur(t, 2000)}, []string{a.ID()}},
		{"in stock", catalog.BookFilter{InStockOnly: true}, []string{a.ID(), c.ID()}},
	}
	for _, c := range cases {
		page, err := s.Books.ListBooks(s.ctx, catalog.ListBooksQuery{Filter: c.filter, PageSize: 10})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := bookIDs(page.Books); !slices.Equal(got, c.want) {
			t.Fatalf("%s: listed %v, want %v", c.name, got, c.want)
		}
	}
}

func testEntityInUse(t *testing.T, s *suite) {
	r := s.refs()
	b := s.create(s.fields("Alpha", r, 1000))
	if err := s.Entities.DeleteEntity(s.ctx, catalog.CategoryKind, r.cat); !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("deleting a category in use = %v, want ErrFailedPrecondition", err)
	}
	if err := s.Books.DeleteBook(s.ctx, b.ID(), s.now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Entities.DeleteEntity(s.ctx, catalog.CategoryKind, r.cat); err != nil {
		t.Fatalf("deleting a category only deleted books use = %v", err)
	}
	if got := s.get(b.ID()); got.CategoryID != "" || got.Title != "Alpha" {
		t.Fatalf("the deleted book after its category went: %+v", got)
	}
}
