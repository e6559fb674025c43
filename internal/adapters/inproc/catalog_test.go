package inproc

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// books answers GetBooks from a map; the other methods are never called.
type books struct {
	catalog.Books
	byID map[string]*catalog.Book
	err  error
}

func (b books) GetBooks(_ context.Context, ids []string) ([]*catalog.Book, error) {
	var out []*catalog.Book
	for _, id := range ids {
		if x, ok := b.byID[id]; ok {
			out = append(out, x)
		}
	}
	return out, b.err
}

func book(t *testing.T, deleted bool) *catalog.Book {
	t.Helper()
	price, err := money.New("EUR", 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := catalog.NewBook(coreid.New(), catalog.BookFields{Title: "T", Price: price, CategoryID: coreid.New(),
		PublisherID: coreid.New(), AuthorIDs: []string{coreid.New()}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := b.Record()
	if deleted {
		now := time.Now()
		r.DeleteTime = &now
	}
	return catalog.RestoreBook(r)
}

func TestBookExists(t *testing.T) {
	live, gone := book(t, false), book(t, true)
	store := books{byID: map[string]*catalog.Book{live.ID(): live, gone.ID(): gone}}
	tests := []struct {
		name string
		id   string
		err  error
		want bool
		fail error
	}{
		{name: "live book", id: live.ID(), want: true},
		{name: "deleted book", id: gone.ID(), want: false},
		{name: "unknown book", id: coreid.New(), want: false},
		{name: "not an id", id: "x", want: false},
		{name: "catalog down", id: live.ID(), err: failure.ErrUnavailable, fail: failure.ErrUnavailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := store
			s.err = tc.err
			got, err := NewCatalogBooks(catalog.NewService(s, nil, nil)).BookExists(context.Background(), tc.id)
			if tc.fail != nil {
				if !errors.Is(err, tc.fail) {
					t.Fatalf("err = %v, want %v", err, tc.fail)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("BookExists = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
