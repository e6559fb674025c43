package catalog_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// recBooks is an in-memory catalog.Books that records what it was asked.
// Like Postgres it hands ids back in lower case, and it returns GetBooks
// results in an order of its own.
type recBooks struct {
	stored  map[string]catalog.BookRecord // by lower-case id
	calls   []string
	getIDs  [][]string
	list    []catalog.ListBooksQuery
	search  []catalog.SearchBooksQuery
	deleted []time.Time
}

func (r *recBooks) CreateBook(_ context.Context, b *catalog.Book) (*catalog.Book, error) {
	r.calls = append(r.calls, "CreateBook")
	r.stored[b.ID()] = b.Record()
	return b, nil
}

func (r *recBooks) GetBooks(_ context.Context, ids []string) ([]*catalog.Book, error) {
	r.calls = append(r.calls, "GetBooks")
	r.getIDs = append(r.getIDs, slices.Clone(ids))
	var out []*catalog.Book
	for id, rec := range r.stored {
		if slices.ContainsFunc(ids, func(s string) bool { return strings.EqualFold(s, id) }) {
			out = append(out, catalog.RestoreBook(rec))
		}
	}
	slices.SortFunc(out, func(a, b *catalog.Book) int { return -strings.Compare(a.ID(), b.ID()) })
	return out, nil
}

func (r *recBooks) UpdateBook(_ context.Context, id string, update func(*catalog.Book) error) (*catalog.Book, error) {
	r.calls = append(r.calls, "UpdateBook")
	rec, ok := r.stored[strings.ToLower(id)]
	if !ok {
		return nil, failure.NotFound("book %s not found", id)
	}
	b := catalog.RestoreBook(rec)
	if err := update(b); err != nil {
		return nil, err
	}
	r.stored[strings.ToLower(id)] = b.Record()
	return b, nil
}

func (r *recBooks) DeleteBook(_ context.Context, _ string, now time.Time) error {
	r.calls = append(r.calls, "DeleteBook")
	r.deleted = append(r.deleted, now)
	return nil
}

func (r *recBooks) ListBooks(_ context.Context, q catalog.ListBooksQuery) (catalog.BookPage, error) {
	r.calls = append(r.calls, "ListBooks")
	r.list = append(r.list, q)
	return catalog.BookPage{}, nil
}

func (r *recBooks) SearchBooks(_ context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	r.calls = append(r.calls, "SearchBooks")
	r.search = append(r.search, q)
	return catalog.SearchPage{}, nil
}

// recEntities is an in-memory catalog.Entities that records what it was asked.
type recEntities struct {
	stored    map[string]*catalog.Entity // by kind name and id
	calls     []string
	pageSizes []int
}

func (r *recEntities) CreateEntity(_ context.Context, e *catalog.Entity) (*catalog.Entity, error) {
	r.calls = append(r.calls, "CreateEntity")
	r.stored[e.Kind().Name+"/"+e.Record().ID] = e
	return e, nil
}

func (r *recEntities) GetEntity(_ context.Context, k catalog.Kind, id string) (*catalog.Entity, error) {
	r.calls = append(r.calls, "GetEntity")
	if e, ok := r.stored[k.Name+"/"+id]; ok {
		return e, nil
	}
	return nil, failure.NotFound("%s %s not found", k.Name, id)
}

func (r *recEntities) ListEntities(_ context.Context, _ catalog.Kind, pageSize int, _ string) (catalog.EntityPage, error) {
	r.calls = append(r.calls, "ListEntities")
	r.pageSizes = append(r.pageSizes, pageSize)
	return catalog.EntityPage{}, nil
}

func (r *recEntities) UpdateEntity(_ context.Context, k catalog.Kind, id string, update func(*catalog.Entity) error) (*catalog.Entity, error) {
	r.calls = append(r.calls, "UpdateEntity")
	e, ok := r.stored[k.Name+"/"+id]
	if !ok {
		return nil, failure.NotFound("%s %s not found", k.Name, id)
	}
	next := catalog.RestoreEntity(k, e.Record())
	if err := update(next); err != nil {
		return nil, err
	}
	r.stored[k.Name+"/"+id] = next
	return next, nil
}

func (r *recEntities) DeleteEntity(_ context.Context, _ catalog.Kind, _ string) error {
	r.calls = append(r.calls, "DeleteEntity")
	return nil
}

// newTestService returns a service over empty recording stores whose clock
// reads testT1.
func newTestService(t *testing.T) (*catalog.Service, *recBooks, *recEntities) {
	t.Helper()
	books := &recBooks{stored: map[string]catalog.BookRecord{}}
	entities := &recEntities{stored: map[string]*catalog.Entity{}}
	return catalog.NewService(books, entities, func() time.Time { return testT1 }), books, entities
}

// storeTestBooks stores one valid book per id.
func storeTestBooks(t *testing.T, books *recBooks, ids ...string) {
	t.Helper()
	for _, id := range ids {
		b, err := catalog.NewBook(id, goodBookFields(t), testT0)
		if err != nil {
			t.Fatalf("NewBook: %v", err)
		}
		books.stored[id] = b.Record()
	}
}

// wantCalls fails the test unless the store calls were exactly want.
func wantCalls(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("store calls = %q, want %q", got, want)
	}
}

func bookIDsOf(books []*catalog.Book) []string {
	ids := make([]string, len(books))
	for i, b := range books {
		ids[i] = b.ID()
	}
	return ids
}

func TestServiceCreateBook(t *testing.T) {
	svc, books, _ := newTestService(t)
	b, err := svc.CreateBook(context.Background(), goodBookFields(t))
	if err != nil {
		t.Fatalf("CreateBook: %v", err)
	}
	wantCalls(t, books.calls, "CreateBook")
	r := b.Record()
	if !coreid.Valid(r.ID) || !r.CreateTime.Equal(testT1) || r.CreateTime.Location() != time.UTC {
		t.Fatalf("created %q at %v, want a fresh id at %v UTC", r.ID, r.CreateTime, testT1)
	}

	bad := goodBookFields(t)
	bad.Title, bad.AuthorIDs = "", append(bad.AuthorIDs, bad.AuthorIDs[1])
	_, err = svc.CreateBook(context.Background(), bad)
	wantViolations(t, err, "book.title", "book.author_ids[2]")
	wantCalls(t, books.calls, "CreateBook") // nothing more
}

func TestServiceGetBook(t *testing.T) {
	const missing = "0190a000-0000-7000-8000-0000000000ff"
	tests := []struct {
		name      string
		id        string
		wantErr   error
		wantCalls []string
	}{
		{"found", testBookID, nil, []string{"GetBooks"}},
		{"found by upper-case id", strings.ToUpper(testBookID), nil, []string{"GetBooks"}},
		{"missing", missing, failure.ErrNotFound, []string{"GetBooks"}},
		{"bad id", "b1", failure.ErrInvalid, nil},
		{"empty id", "", failure.ErrInvalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, books, _ := newTestService(t)
			storeTestBooks(t, books, testBookID)
			b, err := svc.GetBook(context.Background(), tt.id)
			wantCalls(t, books.calls, tt.wantCalls...)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("GetBook: %v", err)
			case tt.wantErr == nil:
				if b.ID() != testBookID {
					t.Fatalf("GetBook returned %q", b.ID())
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("GetBook = %v, want %v", err, tt.wantErr)
			case tt.wantErr == failure.ErrInvalid:
				wantViolations(t, err, "id")
			}
		})
	}
}

func TestServiceBatchGetBooks(t *testing.T) {
	const (
		b1      = "0190a000-0000-7000-8000-0000000000b1"
		b2      = "0190a000-0000-7000-8000-0000000000b2"
		b3      = "0190a000-0000-7000-8000-0000000000b3"
		missing = "0190a000-0000-7000-8000-0000000000ff"
	)
	many := func(n int) []string {
		ids := make([]string, n)
		for i := range ids {
			ids[i] = b1
		}
		return ids
	}
	tests := []struct {
		name       string
		ids        []string
		want       []string // ids of the books returned, when no error
		wantErr    error
		violations []string
	}{
		{"order of the request", []string{b2, b3, b1}, []string{b2, b3, b1}, nil, nil},
		{"other order", []string{b1, b2, b3}, []string{b1, b2, b3}, nil, nil},
		{"repeated ids", []string{b1, b2, b1, b1}, []string{b1, b2, b1, b1}, nil, nil},
		{"upper-case id", []string{strings.ToUpper(b3), b1}, []string{b3, b1}, nil, nil},
		{"one", []string{b2}, []string{b2}, nil, nil},
		{"100 ids", many(100), many(100), nil, nil},
		{"one missing", []string{b1, missing, b2}, nil, failure.ErrNotFound, nil},
		{"no ids", nil, nil, failure.ErrInvalid, []string{"ids"}},
		{"101 ids", many(101), nil, failure.ErrInvalid, []string{"ids"}},
		{"bad ids", []string{b1, "x", b2, ""}, nil, failure.ErrInvalid, []string{"ids[1]", "ids[3]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, books, _ := newTestService(t)
			storeTestBooks(t, books, b1, b2, b3)
			got, err := svc.BatchGetBooks(context.Background(), tt.ids)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("BatchGetBooks = %v, want %v", err, tt.wantErr)
				}
				if tt.violations != nil {
					wantViolations(t, err, tt.violations...)
					wantCalls(t, books.calls) // refused before the store
				}
				if tt.wantErr == failure.ErrNotFound && !strings.Contains(err.Error(), missing) {
					t.Errorf("message %q does not name the missing id", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("BatchGetBooks: %v", err)
			}
			if ids := bookIDsOf(got); !slices.Equal(ids, tt.want) {
				t.Fatalf("BatchGetBooks = %q, want %q", ids, tt.want)
			}
			wantCalls(t, books.calls, "GetBooks")
		})
	}
}

func TestServiceUpdateBook(t *testing.T) {
	newTitle := catalog.BookFields{Title: "Second Edition"}
	tests := []struct {
		name      string
		id        string
		etag      string
		paths     []string
		wantErr   error
		wantCalls []string
	}{
		{"matching etag", testBookID, "1", []string{catalog.FieldTitle}, nil, []string{"UpdateBook"}},
		{"no etag", testBookID, "", []string{catalog.FieldTitle}, nil, []string{"UpdateBook"}},
		{"stale etag", testBookID, "0", []string{catalog.FieldTitle}, failure.ErrConflict, []string{"UpdateBook"}},
		{"future etag", testBookID, "2", []string{catalog.FieldTitle}, failure.ErrConflict, []string{"UpdateBook"}},
		{"bad mask", testBookID, "1", []string{"rating"}, failure.ErrInvalid, []string{"UpdateBook"}},
		{"missing book", "0190a000-0000-7000-8000-0000000000ff", "", []string{catalog.FieldTitle}, failure.ErrNotFound, []string{"UpdateBook"}},
		{"bad id", "b1", "1", []string{catalog.FieldTitle}, failure.ErrInvalid, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, books, _ := newTestService(t)
			storeTestBooks(t, books, testBookID)
			before := books.stored[testBookID]
			b, err := svc.UpdateBook(context.Background(), tt.id, tt.etag, newTitle, tt.paths)
			wantCalls(t, books.calls, tt.wantCalls...)
			after := books.stored[testBookID]
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateBook = %v, want %v", err, tt.wantErr)
				}
				if after.Version != before.Version || after.Title != before.Title {
					t.Fatalf("a refused update was stored: %+v", after)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateBook: %v", err)
			}
			if b.Etag() != "2" || after.Version != 2 || after.Title != "Second Edition" || !after.UpdateTime.Equal(testT1) {
				t.Fatalf("stored %+v (returned etag %q)", after, b.Etag())
			}
		})
	}
}

func TestServiceDeleteBook(t *testing.T) {
	svc, books, _ := newTestService(t)
	wantViolations(t, svc.DeleteBook(context.Background(), "not-an-id"), "id")
	wantCalls(t, books.calls)
	if err := svc.DeleteBook(context.Background(), testBookID); err != nil {
		t.Fatalf("DeleteBook: %v", err)
	}
	wantCalls(t, books.calls, "DeleteBook")
	if len(books.deleted) != 1 || !books.deleted[0].Equal(testT1) || books.deleted[0].Location() != time.UTC {
		t.Fatalf("deleted at %v, want %v in UTC", books.deleted, testT1)
	}
}

func TestServiceCreateEntity(t *testing.T) {
	tests := []struct {
		name       string
		kind       catalog.Kind
		fields     catalog.EntityFields
		violations []string // nil when valid
	}{
		{"category", catalog.CategoryKind, catalog.EntityFields{Name: "Fantasy", Text: "Dragons."}, nil},
		{"category without name", catalog.CategoryKind, catalog.EntityFields{Text: "Dragons."}, []string{"category.name"}},
		{"author with long biography", catalog.AuthorKind, catalog.EntityFields{Name: "A", Text: strings.Repeat("b", 5001)}, []string{"author.biography"}},
		{"publisher name too long", catalog.PublisherKind, catalog.EntityFields{Name: strings.Repeat("p", 201)}, []string{"publisher.name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, entities := newTestService(t)
			e, err := svc.CreateEntity(context.Background(), tt.kind, tt.fields)
			if tt.violations != nil {
				wantViolations(t, err, tt.violations...)
				wantCalls(t, entities.calls)
				return
			}
			if err != nil {
				t.Fatalf("CreateEntity: %v", err)
			}
			wantCalls(t, entities.calls, "CreateEntity")
			if r := e.Record(); !coreid.Valid(r.ID) || r.Name != tt.fields.Name || !r.CreateTime.Equal(testT1) || e.Kind() != tt.kind {
				t.Fatalf("created %+v of kind %q", r, e.Kind().Name)
			}
		})
	}
}

func TestServiceEntityIDs(t *testing.T) {
	tests := []struct {
		name string
		call func(svc *catalog.Service) error
	}{
		{"get", func(svc *catalog.Service) error {
			_, err := svc.GetEntity(context.Background(), catalog.AuthorKind, "a1")
			return err
		}},
		{"update", func(svc *catalog.Service) error {
			_, err := svc.UpdateEntity(context.Background(), catalog.AuthorKind, "a1", "", catalog.EntityFields{Name: "x"}, []string{"name"})
			return err
		}},
		{"delete", func(svc *catalog.Service) error {
			return svc.DeleteEntity(context.Background(), catalog.CategoryKind, "0190a000-0000-7000-8000-0000000000e")
		}},
		{"delete empty id", func(svc *catalog.Service) error {
			return svc.DeleteEntity(context.Background(), catalog.PublisherKind, "")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, entities := newTestService(t)
			wantViolations(t, tt.call(svc), "id")
			wantCalls(t, entities.calls)
		})
	}
}

func TestServiceDeleteEntity(t *testing.T) {
	svc, _, entities := newTestService(t)
	if err := svc.DeleteEntity(context.Background(), catalog.CategoryKind, testEntityID); err != nil {
		t.Fatalf("DeleteEntity: %v", err)
	}
	wantCalls(t, entities.calls, "DeleteEntity")
}

func TestServiceUpdateEntity(t *testing.T) {
	tests := []struct {
		name    string
		etag    string
		wantErr error
	}{
		{"matching etag", "1", nil},
		{"no etag", "", nil},
		{"stale etag", "3", failure.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, entities := newTestService(t)
			entities.stored["category/"+testEntityID] = newTestEntity(t, catalog.CategoryKind)
			_, err := svc.UpdateEntity(context.Background(), catalog.CategoryKind, testEntityID, tt.etag,
				catalog.EntityFields{Name: "Renamed"}, []string{"name"})
			wantCalls(t, entities.calls, "UpdateEntity")
			stored := entities.stored["category/"+testEntityID].Record()
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("UpdateEntity = %v, want %v", err, tt.wantErr)
				}
				if stored.Name != "Original" || stored.Version != 1 {
					t.Fatalf("a refused update was stored: %+v", stored)
				}
				return
			}
			if err != nil {
				t.Fatalf("UpdateEntity: %v", err)
			}
			if stored.Name != "Renamed" || stored.Version != 2 {
				t.Fatalf("stored %+v", stored)
			}
		})
	}
}

func TestServiceListEntitiesPageSize(t *testing.T) {
	tests := []struct {
		name string
		size int
		want int // -1: refused
	}{
		{"default", 0, catalog.DefaultPageSize},
		{"one", 1, 1},
		{"max", 100, 100},
		{"too large", 101, -1},
		{"negative", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, entities := newTestService(t)
			_, err := svc.ListEntities(context.Background(), catalog.AuthorKind, tt.size, "")
			if tt.want < 0 {
				wantViolations(t, err, "page_size")
				wantCalls(t, entities.calls)
				return
			}
			if err != nil {
				t.Fatalf("ListEntities: %v", err)
			}
			if !slices.Equal(entities.pageSizes, []int{tt.want}) {
				t.Fatalf("store asked for page sizes %v, want %d", entities.pageSizes, tt.want)
			}
		})
	}
}

// filterIDs returns n valid ids with the one at bad (when in range) broken.
func filterIDs(n, bad int) []string {
	ids := testAuthorIDs(n)
	if bad >= 0 && bad < n {
		ids[bad] = "nope"
	}
	return ids
}

func TestServiceListBooksQuery(t *testing.T) {
	eur := func(t *testing.T, minor int64) money.Money { return mkMoney(t, "EUR", minor) }
	tests := []struct {
		name         string
		query        func(t *testing.T) catalog.ListBooksQuery
		violations   []string // nil when valid
		wantPageSize int
	}{
		{"defaults", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{} }, nil, 20},
		{"page size one", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{PageSize: 1} }, nil, 1},
		{"page size max", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{PageSize: 100} }, nil, 100},
		{"page size too large", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{PageSize: 101} }, []string{"page_size"}, 0},
		{"page size negative", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{PageSize: -5} }, []string{"page_size"}, 0},
		{"every order", func(*testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Order: catalog.OrderRating, Descending: true}
		}, nil, 20},
		{"unknown order", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{Order: catalog.OrderRating + 1} }, []string{"order_by"}, 0},
		{"negative order", func(*testing.T) catalog.ListBooksQuery { return catalog.ListBooksQuery{Order: -1} }, []string{"order_by"}, 0},
		{"valid filter ids", func(*testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{CategoryIDs: filterIDs(50, -1), PublisherIDs: filterIDs(2, -1), AuthorIDs: filterIDs(1, -1)}}
		}, nil, 20},
		{"bad filter ids", func(*testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{CategoryIDs: filterIDs(3, 1), PublisherIDs: filterIDs(1, 0), AuthorIDs: filterIDs(4, 3)}}
		}, []string{"filter.category_ids[1]", "filter.publisher_ids[0]", "filter.author_ids[3]"}, 0},
		{"too many filter ids", func(*testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{AuthorIDs: filterIDs(51, -1)}}
		}, []string{"filter.author_ids"}, 0},
		{"price range", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, 500), MaxPrice: eur(t, 2000)}}
		}, nil, 20},
		{"empty price range", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, 500), MaxPrice: eur(t, 500)}}
		}, nil, 20},
		{"only a free minimum", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, 0)}}
		}, nil, 20},
		{"min above max", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, 2001), MaxPrice: eur(t, 2000)}}
		}, []string{"filter.max_price"}, 0},
		{"mixed currencies", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, 100), MaxPrice: mkMoney(t, "USD", 2000)}}
		}, []string{"filter.max_price.currency_code"}, 0},
		{"negative bounds", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{Filter: catalog.BookFilter{MinPrice: eur(t, -1), MaxPrice: eur(t, -1)}}
		}, []string{"filter.min_price", "filter.max_price"}, 0},
		{"everything wrong", func(t *testing.T) catalog.ListBooksQuery {
			return catalog.ListBooksQuery{PageSize: 1000, Order: 9, Filter: catalog.BookFilter{
				CategoryIDs: []string{"c"}, MinPrice: eur(t, 10), MaxPrice: eur(t, 5),
			}}
		}, []string{"page_size", "filter.category_ids[0]", "filter.max_price", "order_by"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, books, _ := newTestService(t)
			q := tt.query(t)
			_, err := svc.ListBooks(context.Background(), q)
			if tt.violations != nil {
				wantViolations(t, err, tt.violations...)
				wantCalls(t, books.calls)
				return
			}
			if err != nil {
				t.Fatalf("ListBooks: %v", err)
			}
			wantCalls(t, books.calls, "ListBooks")
			got := books.list[0]
			if got.PageSize != tt.wantPageSize {
				t.Errorf("page size = %d, want %d", got.PageSize, tt.wantPageSize)
			}
			if got.Order != q.Order || got.Descending != q.Descending || got.Filter.MinPrice != q.Filter.MinPrice ||
				!slices.Equal(got.Filter.CategoryIDs, q.Filter.CategoryIDs) {
				t.Errorf("store got %+v, want %+v", got, q)
			}
		})
	}
}

func TestServiceSearchBooksQuery(t *testing.T) {
	tests := []struct {
		name         string
		query        catalog.SearchBooksQuery
		violations   []string
		wantQuery    string
		wantPageSize int
	}{
		{"plain", catalog.SearchBooksQuery{Query: "dragons"}, nil, "dragons", 20},
		{"trimmed", catalog.SearchBooksQuery{Query: "  \"golden compass\" -film \n", PageSize: 5}, nil, "\"golden compass\" -film", 5},
		{"200 multibyte runes", catalog.SearchBooksQuery{Query: strings.Repeat("ö", 200)}, nil, strings.Repeat("ö", 200), 20},
		{"empty", catalog.SearchBooksQuery{}, []string{"query"}, "", 0},
		{"whitespace", catalog.SearchBooksQuery{Query: " \t "}, []string{"query"}, "", 0},
		{"201 runes", catalog.SearchBooksQuery{Query: strings.Repeat("ö", 201)}, []string{"query"}, "", 0},
		{"invalid UTF-8", catalog.SearchBooksQuery{Query: "dr\xffgons"}, []string{"query"}, "", 0},
		{"page size too large", catalog.SearchBooksQuery{Query: "x", PageSize: 101}, []string{"page_size"}, "", 0},
		{"filter checked too", catalog.SearchBooksQuery{Query: "x", Filter: catalog.BookFilter{PublisherIDs: []string{"p"}}}, []string{"filter.publisher_ids[0]"}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, books, _ := newTestService(t)
			_, err := svc.SearchBooks(context.Background(), tt.query)
			if tt.violations != nil {
				wantViolations(t, err, tt.violations...)
				wantCalls(t, books.calls)
				return
			}
			if err != nil {
				t.Fatalf("SearchBooks: %v", err)
			}
			wantCalls(t, books.calls, "SearchBooks")
			if got := books.search[0]; got.Query != tt.wantQuery || got.PageSize != tt.wantPageSize {
				t.Fatalf("store got query %q, page size %d; want %q, %d", got.Query, got.PageSize, tt.wantQuery, tt.wantPageSize)
			}
		})
	}
}

func TestBookFilterCurrency(t *testing.T) {
	tests := []struct {
		name   string
		filter func(t *testing.T) catalog.BookFilter
		want   string
	}{
		{"no range", func(*testing.T) catalog.BookFilter { return catalog.BookFilter{} }, ""},
		{"min only", func(t *testing.T) catalog.BookFilter { return catalog.BookFilter{MinPrice: mkMoney(t, "JPY", 1)} }, "JPY"},
		{"max only", func(t *testing.T) catalog.BookFilter { return catalog.BookFilter{MaxPrice: mkMoney(t, "KWD", 1)} }, "KWD"},
		{"both", func(t *testing.T) catalog.BookFilter {
			return catalog.BookFilter{MinPrice: mkMoney(t, "EUR", 1), MaxPrice: mkMoney(t, "EUR", 2)}
		}, "EUR"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.filter(t).Currency(); got != tt.want {
				t.Fatalf("Currency = %q, want %q", got, tt.want)
			}
		})
	}
}
