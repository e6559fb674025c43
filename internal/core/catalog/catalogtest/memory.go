// Package catalogtest holds what tests of the catalog share: the contract
// every catalog.Books store must keep (RunBookStore, watermill style: one
// suite that the Postgres store and the in-memory fake both pass, so the
// fake cannot drift from the real thing), and that fake (MemoryCatalog)
// for unit tests of the core. Import it from tests only.
package catalogtest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// MemoryCatalog is catalog.Books and catalog.Entities in memory, over one
// state, as the Postgres stores share one schema: books refer to entities
// that must exist, names resolve on read, an entity in use by a live book
// cannot be deleted. It keeps the Books contract (RunBookStore proves it);
// search is a plain substring match of titles and author names.
type MemoryCatalog struct {
	mu       sync.Mutex
	books    map[string]catalog.BookRecord
	entities map[string]map[string]catalog.EntityRecord // by kind name, then id
}

var (
	_ catalog.Books    = (*MemoryCatalog)(nil)
	_ catalog.Entities = (*MemoryCatalog)(nil)
)

// NewMemoryCatalog returns an empty catalog.
func NewMemoryCatalog() *MemoryCatalog {
	return &MemoryCatalog{books: map[string]catalog.BookRecord{}, entities: map[string]map[string]catalog.EntityRecord{
		catalog.AuthorKind.Name: {}, catalog.CategoryKind.Name: {}, catalog.PublisherKind.Name: {},
	}}
}

// resolve fills the names of r's references. m.mu is held.
func (m *MemoryCatalog) resolve(r catalog.BookRecord) *catalog.Book {
	r.AuthorIDs = slices.Clone(r.AuthorIDs)
	r.CategoryName = m.entities[catalog.CategoryKind.Name][r.CategoryID].Name
	r.PublisherName = m.entities[catalog.PublisherKind.Name][r.PublisherID].Name
	r.AuthorNames = nil
	for _, a := range r.AuthorIDs {
		r.AuthorNames = append(r.AuthorNames, m.entities[catalog.AuthorKind.Name][a].Name)
	}
	return catalog.RestoreBook(r)
}

// check applies the rules the database's constraints keep. m.mu is held.
func (m *MemoryCatalog) check(r catalog.BookRecord) error {
	field := func(f string) string { return catalog.RequestField + "." + f }
	if _, ok := m.entities[catalog.CategoryKind.Name][r.CategoryID]; r.CategoryID != "" && !ok {
		return failure.Invalid(field(catalog.FieldCategoryID), "does not name an existing category")
	}
	if _, ok := m.entities[catalog.PublisherKind.Name][r.PublisherID]; r.PublisherID != "" && !ok {
		return failure.Invalid(field(catalog.FieldPublisherID), "does not name an existing publisher")
	}
	for _, a := range r.AuthorIDs {
		if _, ok := m.entities[catalog.AuthorKind.Name][a]; !ok {
			return failure.Invalid(field(catalog.FieldAuthorIDs), "names an author that does not exist")
		}
	}
	if r.ISBN != "" && r.DeleteTime == nil {
		for _, o := range m.books {
			if o.ID != r.ID && o.ISBN == r.ISBN && o.DeleteTime == nil {
				return failure.AlreadyExists("a book with this ISBN already exists")
			}
		}
	}
	return nil
}

// CreateBook stores a new book.
func (m *MemoryCatalog) CreateBook(_ context.Context, b *catalog.Book) (*catalog.Book, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := b.Record()
	if _, ok := m.books[r.ID]; ok {
		return nil, failure.AlreadyExists("book %s already exists", r.ID)
	}
	if err := m.check(r); err != nil {
		return nil, err
	}
	m.books[r.ID] = r
	return m.resolve(r), nil
}

// GetBooks returns the books with the given ids that exist.
func (m *MemoryCatalog) GetBooks(_ context.Context, ids []string) ([]*catalog.Book, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*catalog.Book
	seen := map[string]bool{}
	for _, id := range ids {
		id = coreid.Canonical(id)
		if r, ok := m.books[id]; ok && !seen[id] {
			seen[id] = true
			out = append(out, m.resolve(r))
		}
	}
	return out, nil
}

// UpdateBook runs update on a copy without holding the catalog, then stores
// the result only if nobody stored a change meanwhile (failure.ErrConflict
// otherwise), as the Postgres store's optimistic write does.
func (m *MemoryCatalog) UpdateBook(_ context.Context, id string, update func(*catalog.Book) error) (*catalog.Book, error) {
	m.mu.Lock()
	r, ok := m.books[coreid.Canonical(id)]
	var b *catalog.Book
	if ok {
		b = m.resolve(r)
	}
	m.mu.Unlock()
	if !ok {
		return nil, failure.NotFound("book %s not found", id)
	}
	if err := update(b); err != nil {
		return nil, err
	}
	next := b.Record()
	if next.Version == r.Version {
		return b, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.books[r.ID].Version != r.Version {
		return nil, failure.Conflict("book %s was changed concurrently; read it again and retry", id)
	}
	next.RatingSum, next.RatingCount = m.books[r.ID].RatingSum, m.books[r.ID].RatingCount
	if err := m.check(next); err != nil {
		return nil, err
	}
	m.books[r.ID] = next
	return m.resolve(next), nil
}

// DeleteBook marks a live book deleted.
func (m *MemoryCatalog) DeleteBook(_ context.Context, id string, now time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.books[coreid.Canonical(id)]
	if !ok || r.DeleteTime != nil {
		return failure.NotFound("book %s not found", id)
	}
	at := now.UTC()
	r.DeleteTime, r.UpdateTime = &at, at
	r.Version++
	m.books[r.ID] = r
	return nil
}

// matches reports whether r passes f.
func matches(r catalog.BookRecord, f catalog.BookFilter) bool {
	in := func(id string, ids []string) bool { return len(ids) == 0 || slices.Contains(ids, id) }
	if r.DeleteTime != nil || !in(r.CategoryID, f.CategoryIDs) || !in(r.PublisherID, f.PublisherIDs) {
		return false
	}
	if len(f.AuthorIDs) > 0 && !slices.ContainsFunc(r.AuthorIDs, func(a string) bool { return slices.Contains(f.AuthorIDs, a) }) {
		return false
	}
	eff := r.EffectivePrice()
	if c := f.Currency(); c != "" && eff.Currency() != c {
		return false
	}
	if !f.MinPrice.IsZero() && eff.Minor() < f.MinPrice.Minor() || !f.MaxPrice.IsZero() && eff.Minor() > f.MaxPrice.Minor() {
		return false
	}
	return !f.InStockOnly || r.StockQuantity > 0
}

func ratingAverage(r catalog.BookRecord) float64 {
	if r.RatingCount == 0 {
		return 0
	}
	return float64(r.RatingSum) / float64(r.RatingCount)
}

// compareBooks orders a and b by o, ties by id, ascending.
func compareBooks(o catalog.BookOrder, a, b catalog.BookRecord) int {
	var c int
	switch o {
	case catalog.OrderTitle:
		c = strings.Compare(a.Title, b.Title)
	case catalog.OrderPrice:
		c = cmp.Compare(a.EffectivePrice().Minor(), b.EffectivePrice().Minor())
	case catalog.OrderCreateTime:
		c = a.CreateTime.Compare(b.CreateTime)
	case catalog.OrderRating:
		c = cmp.Compare(ratingAverage(a), ratingAverage(b))
	}
	return cmp.Or(c, strings.Compare(a.ID, b.ID))
}

// listKey is what a memory page token is bound to.
func listKey(q catalog.ListBooksQuery) string {
	f := q.Filter
	return fmt.Sprint(q.Order, q.Descending, f.CategoryIDs, f.PublisherIDs, f.AuthorIDs, f.MinPrice, f.MaxPrice, f.InStockOnly)
}

// ListBooks returns one page of live books; the page token holds the id of
// the last book, and the next page starts after it in the query's order
// (keyset: books added meanwhile neither repeat nor push one out).
func (m *MemoryCatalog) ListBooks(_ context.Context, q catalog.ListBooksQuery) (catalog.BookPage, error) {
	if q.Order < catalog.OrderTitle || q.Order > catalog.OrderRating {
		return catalog.BookPage{}, failure.Invalid("order_by", "unknown order")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	dir := 1
	if q.Descending {
		dir = -1
	}
	var after *catalog.BookRecord
	if q.PageToken != "" {
		key, id, ok := strings.Cut(q.PageToken, "|")
		r, found := m.books[id]
		if !ok || key != strconv.Quote(listKey(q)) || !found {
			return catalog.BookPage{}, failure.Invalid("page_token", "is not a page token of this query")
		}
		after = &r
	}
	var recs []catalog.BookRecord
	for _, r := range m.books {
		if matches(r, q.Filter) && (after == nil || dir*compareBooks(q.Order, r, *after) > 0) {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b catalog.BookRecord) int { return dir * compareBooks(q.Order, a, b) })
	var page catalog.BookPage
	for i, r := range recs {
		if i == q.PageSize {
			page.NextPageToken = strconv.Quote(listKey(q)) + "|" + recs[i-1].ID
			break
		}
		page.Books = append(page.Books, m.resolve(r))
	}
	return page, nil
}

// SearchBooks returns the live books whose title or author names contain
// the query (any case), in title order, on one page.
func (m *MemoryCatalog) SearchBooks(_ context.Context, q catalog.SearchBooksQuery) (catalog.SearchPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	needle := strings.ToLower(q.Query)
	var page catalog.SearchPage
	for _, r := range m.books {
		b := m.resolve(r)
		text := strings.ToLower(r.Title + " " + strings.Join(b.Record().AuthorNames, " "))
		if matches(r, q.Filter) && strings.Contains(text, needle) {
			page.Hits = append(page.Hits, catalog.SearchHit{Book: b, Relevance: 1})
		}
	}
	slices.SortFunc(page.Hits, func(a, b catalog.SearchHit) int {
		return compareBooks(catalog.OrderTitle, a.Book.Record(), b.Book.Record())
	})
	if len(page.Hits) > q.PageSize && q.PageSize > 0 {
		page.Hits = page.Hits[:q.PageSize]
	}
	return page, nil
}

// CreateEntity stores a new entity; a taken unique name is
// failure.ErrAlreadyExists.
func (m *MemoryCatalog) CreateEntity(_ context.Context, e *catalog.Entity) (*catalog.Entity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, r := e.Kind(), e.Record()
	if err := m.uniqueName(k, r); err != nil {
		return nil, err
	}
	m.entities[k.Name][r.ID] = r
	return catalog.RestoreEntity(k, r), nil
}

func (m *MemoryCatalog) uniqueName(k catalog.Kind, r catalog.EntityRecord) error {
	if !k.UniqueName {
		return nil
	}
	for _, o := range m.entities[k.Name] {
		if o.ID != r.ID && strings.EqualFold(o.Name, r.Name) {
			return failure.AlreadyExists("a %s with this name already exists", k.Name)
		}
	}
	return nil
}

// GetEntity returns one entity.
func (m *MemoryCatalog) GetEntity(_ context.Context, k catalog.Kind, id string) (*catalog.Entity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.entities[k.Name][coreid.Canonical(id)]
	if !ok {
		return nil, failure.NotFound("%s %s not found", k.Name, id)
	}
	return catalog.RestoreEntity(k, r), nil
}

// ListEntities returns the entities of kind k by name, then id; the page
// token holds the last one's id.
func (m *MemoryCatalog) ListEntities(_ context.Context, k catalog.Kind, pageSize int, pageToken string) (catalog.EntityPage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	less := func(a, b catalog.EntityRecord) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.ID, b.ID))
	}
	var after *catalog.EntityRecord
	if pageToken != "" {
		r, ok := m.entities[k.Name][pageToken]
		if !ok {
			return catalog.EntityPage{}, failure.Invalid("page_token", "is not a page token of this query")
		}
		after = &r
	}
	var recs []catalog.EntityRecord
	for _, r := range m.entities[k.Name] {
		if after == nil || less(r, *after) > 0 {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, less)
	var page catalog.EntityPage
	for i, r := range recs {
		if i == pageSize {
			page.NextPageToken = recs[i-1].ID
			break
		}
		page.Entities = append(page.Entities, catalog.RestoreEntity(k, r))
	}
	return page, nil
}

// UpdateEntity applies update and stores the result.
func (m *MemoryCatalog) UpdateEntity(_ context.Context, k catalog.Kind, id string, update func(*catalog.Entity) error) (*catalog.Entity, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.entities[k.Name][coreid.Canonical(id)]
	if !ok {
		return nil, failure.NotFound("%s %s not found", k.Name, id)
	}
	e := catalog.RestoreEntity(k, r)
	if err := update(e); err != nil {
		return nil, err
	}
	next := e.Record()
	if err := m.uniqueName(k, next); err != nil {
		return nil, err
	}
	m.entities[k.Name][r.ID] = next
	return e, nil
}

// DeleteEntity deletes an entity no live book refers to, and drops the
// references of deleted books to it.
func (m *MemoryCatalog) DeleteEntity(_ context.Context, k catalog.Kind, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	id = coreid.Canonical(id)
	if _, ok := m.entities[k.Name][id]; !ok {
		return failure.NotFound("%s %s not found", k.Name, id)
	}
	refers := func(r catalog.BookRecord) bool {
		switch k.Name {
		case catalog.CategoryKind.Name:
			return r.CategoryID == id
		case catalog.PublisherKind.Name:
			return r.PublisherID == id
		}
		return slices.Contains(r.AuthorIDs, id)
	}
	for _, r := range m.books {
		if r.DeleteTime == nil && refers(r) {
			return failure.FailedPrecondition("%s %s is used by books that are not deleted", k.Name, id)
		}
	}
	for bid, r := range m.books {
		if refers(r) {
			switch k.Name {
			case catalog.CategoryKind.Name:
				r.CategoryID = ""
			case catalog.PublisherKind.Name:
				r.PublisherID = ""
			default:
				r.AuthorIDs = slices.DeleteFunc(slices.Clone(r.AuthorIDs), func(a string) bool { return a == id })
			}
			m.books[bid] = r
		}
	}
	delete(m.entities[k.Name], id)
	return nil
}
