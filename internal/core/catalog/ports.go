package catalog

import (
	"context"
	"time"
)

// Books stores books. Implementations must be safe for concurrent use.
type Books interface {
	// CreateBook stores a new book and returns it with its names resolved.
	// A duplicate ISBN is failure.ErrAlreadyExists; a category, publisher or
	// author that does not exist is a failure.ValidationError on that field.
	CreateBook(ctx context.Context, b *Book) (*Book, error)
	// GetBooks returns the books with the given ids that exist, deleted ones
	// included, in any order. Missing ids are simply absent.
	GetBooks(ctx context.Context, ids []string) ([]*Book, error)
	// UpdateBook loads the book, calls update on it and stores the result in
	// one transaction. When another change committed in between it returns
	// failure.ErrConflict and stores nothing. A missing book is
	// failure.ErrNotFound; errors from update are returned as they are.
	UpdateBook(ctx context.Context, id string, update func(*Book) error) (*Book, error)
	// DeleteBook marks a live book deleted at now; a missing or already
	// deleted book is failure.ErrNotFound.
	DeleteBook(ctx context.Context, id string, now time.Time) error
	// ListBooks returns one page of live books; the query is valid.
	ListBooks(ctx context.Context, q ListBooksQuery) (BookPage, error)
	// SearchBooks returns one page of live books matching the query, most
	// relevant first; the query is valid.
	SearchBooks(ctx context.Context, q SearchBooksQuery) (SearchPage, error)
}

// Entities stores authors, categories and publishers. Implementations must
// be safe for concurrent use.
type Entities interface {
	// CreateEntity stores a new entity. A name that must be unique and is
	// taken is failure.ErrAlreadyExists.
	CreateEntity(ctx context.Context, e *Entity) (*Entity, error)
	// GetEntity returns one entity or failure.ErrNotFound.
	GetEntity(ctx context.Context, k Kind, id string) (*Entity, error)
	// ListEntities returns a page of entities of kind k by name.
	ListEntities(ctx context.Context, k Kind, pageSize int, pageToken string) (EntityPage, error)
	// UpdateEntity is the entity counterpart of Books.UpdateBook.
	UpdateEntity(ctx context.Context, k Kind, id string, update func(*Entity) error) (*Entity, error)
	// DeleteEntity deletes an entity no live book refers to; when one does it
	// returns failure.ErrFailedPrecondition, when none exists
	// failure.ErrNotFound.
	DeleteEntity(ctx context.Context, k Kind, id string) error
}
