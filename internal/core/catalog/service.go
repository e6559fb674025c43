package catalog

import (
	"context"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// Service holds the Catalog use cases.
type Service struct {
	books    Books
	entities Entities
	now      func() time.Time
	newID    func() string
	semantic *semantic
	similar  SimilarBooks
}

// NewService returns the use cases over the given stores. now may be nil
// for the wall clock.
func NewService(books Books, entities Entities, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	// Stores keep microseconds; cutting here keeps what a write returns, and
	// the events it raises, equal to what a later read returns.
	return &Service{books: books, entities: entities, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, newID: coreid.New}
}

// CreateBook validates and stores a new book.
func (s *Service) CreateBook(ctx context.Context, fields BookFields) (*Book, error) {
	b, err := NewBook(s.newID(), fields, s.now())
	if err != nil {
		return nil, err
	}
	return s.books.CreateBook(ctx, b)
}

// GetBook returns one book, deleted or not.
func (s *Service) GetBook(ctx context.Context, id string) (*Book, error) {
	if !coreid.Valid(id) {
		return nil, failure.Invalid("id", "must be a UUID")
	}
	books, err := s.books.GetBooks(ctx, []string{id})
	if err != nil {
		return nil, err
	}
	if len(books) == 0 {
		return nil, failure.NotFound("book %s not found", id)
	}
	return books[0], nil
}

// BatchGetBooks returns the books in the order of ids; repeated ids are
// answered repeatedly. One id that never existed fails the whole call with
// failure.ErrNotFound.
func (s *Service) BatchGetBooks(ctx context.Context, ids []string) ([]*Book, error) {
	var v failure.Violations
	switch {
	case len(ids) == 0:
		v.Add("ids", "must name at least one book")
	case len(ids) > MaxBatchGet:
		v.Add("ids", "must name at most 100 books")
	}
	for i, id := range ids {
		if !coreid.Valid(id) {
			v.Add(fieldIndex("ids", i), "must be a UUID")
		}
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	found, err := s.books.GetBooks(ctx, ids)
	if err != nil {
		return nil, err
	}
	// Clients may spell ids in upper case; stores hand them back canonical.
	byID := make(map[string]*Book, len(found))
	for _, b := range found {
		byID[b.ID()] = b
	}
	out := make([]*Book, len(ids))
	for i, id := range ids {
		b, ok := byID[coreid.Canonical(id)]
		if !ok {
			return nil, failure.NotFound("book %s not found", id)
		}
		out[i] = b
	}
	return out, nil
}

// ListBooks returns one page of live books.
func (s *Service) ListBooks(ctx context.Context, q ListBooksQuery) (BookPage, error) {
	q, err := q.normalize()
	if err != nil {
		return BookPage{}, err
	}
	return s.books.ListBooks(ctx, q)
}

// SearchBooks returns one page of live books matching q.Query.
func (s *Service) SearchBooks(ctx context.Context, q SearchBooksQuery) (SearchPage, error) {
	q, err := q.normalize()
	if err != nil {
		return SearchPage{}, err
	}
	degraded, err := s.prepareSearch(ctx, &q)
	if err != nil {
		return SearchPage{}, err
	}
	page, err := s.books.SearchBooks(ctx, q)
	if err != nil {
		return SearchPage{}, err
	}
	if page.Mode == SearchAuto {
		page.Mode = SearchLexical
	}
	// A deployment without semantic search promised nothing to a search
	// that left the mode to it; one that asked for a semantic mode, or whose
	// model is away, learns why the answer is lexical.
	if page.Mode == SearchLexical && page.Degraded == "" && q.Mode != SearchLexical &&
		(q.Mode != SearchAuto || degraded != DegradedSemanticOff) {
		page.Degraded = degraded
	}
	return page, nil
}

// UpdateBook sets the fields named in paths. When etag is not empty and the
// book's current etag differs, it fails with failure.ErrConflict.
func (s *Service) UpdateBook(ctx context.Context, id, etag string, fields BookFields, paths []string) (*Book, error) {
	if !coreid.Valid(id) {
		return nil, failure.Invalid("id", "must be a UUID")
	}
	return s.books.UpdateBook(ctx, id, func(b *Book) error {
		if etag != "" && etag != b.Etag() {
			return failure.Conflict("book %s has changed since etag %s", id, etag)
		}
		return b.Apply(fields, paths, s.now())
	})
}

// DeleteBook soft-deletes a book.
func (s *Service) DeleteBook(ctx context.Context, id string) error {
	if !coreid.Valid(id) {
		return failure.Invalid("id", "must be a UUID")
	}
	return s.books.DeleteBook(ctx, id, s.now())
}

// CreateEntity validates and stores a new author, category or publisher.
func (s *Service) CreateEntity(ctx context.Context, k Kind, fields EntityFields) (*Entity, error) {
	e, err := NewEntity(k, s.newID(), fields, s.now())
	if err != nil {
		return nil, err
	}
	return s.entities.CreateEntity(ctx, e)
}

// GetEntity returns one author, category or publisher.
func (s *Service) GetEntity(ctx context.Context, k Kind, id string) (*Entity, error) {
	if !coreid.Valid(id) {
		return nil, failure.Invalid("id", "must be a UUID")
	}
	return s.entities.GetEntity(ctx, k, id)
}

// ListEntities returns one page of entities of kind k by name.
func (s *Service) ListEntities(ctx context.Context, k Kind, size int, token string) (EntityPage, error) {
	var v failure.Violations
	size = pageSize(size, &v)
	if err := v.Err(); err != nil {
		return EntityPage{}, err
	}
	return s.entities.ListEntities(ctx, k, size, token)
}

// UpdateEntity sets the fields named in paths, guarded by etag like
// UpdateBook.
func (s *Service) UpdateEntity(ctx context.Context, k Kind, id, etag string, fields EntityFields, paths []string) (*Entity, error) {
	if !coreid.Valid(id) {
		return nil, failure.Invalid("id", "must be a UUID")
	}
	return s.entities.UpdateEntity(ctx, k, id, func(e *Entity) error {
		if etag != "" && etag != e.Etag() {
			return failure.Conflict("%s %s has changed since etag %s", k.Name, id, etag)
		}
		return e.Apply(fields, paths, s.now())
	})
}

// DeleteEntity deletes an author, category or publisher no live book uses.
func (s *Service) DeleteEntity(ctx context.Context, k Kind, id string) error {
	if !coreid.Valid(id) {
		return failure.Invalid("id", "must be a UUID")
	}
	return s.entities.DeleteEntity(ctx, k, id)
}
