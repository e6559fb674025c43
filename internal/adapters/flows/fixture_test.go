package flows

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// fixture is a fresh database with a store under test and helpers to fill it.
type fixture struct {
	t        testing.TB
	ctx      context.Context
	pool     *pgxpool.Pool
	books    catalog.Books
	entities *catalogstore.Entities

	mu    sync.Mutex // for concurrent tests
	clock time.Time
	seq   int
}

// now returns a distinct, growing instant for each call.
func (f *fixture) now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = f.clock.Add(time.Second)
	return f.clock
}

// lastNow returns what now last returned.
func (f *fixture) lastNow() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.clock
}

func (f *fixture) next() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return f.seq
}

func newFixture(t testing.TB, pool *pgxpool.Pool, books catalog.Books) *fixture {
	return &fixture{t: t, ctx: pgtest.Ctx(t), pool: pool, books: books, entities: catalogstore.NewEntities(pool),
		clock: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (f *fixture) entity(k catalog.Kind, name string) string {
	f.t.Helper()
	e, err := catalog.NewEntity(k, coreid.New(), catalog.EntityFields{Name: name, Text: "About " + name}, f.now())
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.entities.CreateEntity(f.ctx, e); err != nil {
		f.t.Fatalf("create %s %q: %v", k.Name, name, err)
	}
	return e.Record().ID
}

func (f *fixture) author(name string) string    { return f.entity(catalog.AuthorKind, name) }
func (f *fixture) category(name string) string  { return f.entity(catalog.CategoryKind, name) }
func (f *fixture) publisher(name string) string { return f.entity(catalog.PublisherKind, name) }

func eur(t testing.TB, minor int64) money.Money { t.Helper(); return mustMoney(t, "EUR", minor) }

func mustMoney(t testing.TB, currency string, minor int64) money.Money {
	t.Helper()
	m, err := money.New(currency, minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// isbn returns a valid ISBN-13 that no other call of the test returns.
func (f *fixture) isbn() string {
	s := fmt.Sprintf("979%09d", f.next())
	sum := 0
	for i := range 12 {
		n := int(s[i] - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return s + string(rune('0'+(10-sum%10)%10))
}

// fields returns valid book fields with the given title, references and price.
func (f *fixture) fields(title, categoryID, publisherID string, authorIDs ...string) catalog.BookFields {
	return catalog.BookFields{
		Title:         title,
		Description:   "A book called " + title + ".",
		ISBN:          f.isbn(),
		Price:         eur(f.t, 1999),
		StockQuantity: 5,
		CategoryID:    categoryID,
		PublisherID:   publisherID,
		AuthorIDs:     authorIDs,
		ImageURL:      "https://img.example/" + title + ".jpg",
	}
}

func (f *fixture) create(fields catalog.BookFields) *catalog.Book {
	f.t.Helper()
	b, err := f.tryCreate(fields)
	if err != nil {
		f.t.Fatalf("create book %q: %v", fields.Title, err)
	}
	return b
}

func (f *fixture) tryCreate(fields catalog.BookFields) (*catalog.Book, error) {
	b, err := catalog.NewBook(coreid.New(), fields, f.now())
	if err != nil {
		f.t.Fatalf("invalid test book: %v", err)
	}
	return f.books.CreateBook(f.ctx, b)
}

func (f *fixture) get(id string) *catalog.Book {
	f.t.Helper()
	got, err := f.books.GetBooks(f.ctx, []string{id})
	if err != nil {
		f.t.Fatalf("get %s: %v", id, err)
	}
	if len(got) != 1 {
		f.t.Fatalf("get %s: %d books", id, len(got))
	}
	return got[0]
}

// setRating writes the rating columns directly, as the rating context will.
func (f *fixture) setRating(id string, sum int64, count int32) {
	f.t.Helper()
	if _, err := f.pool.Exec(f.ctx, `UPDATE catalog.books SET rating_sum = $2, rating_count = $3 WHERE id = $1`, id, sum, count); err != nil {
		f.t.Fatal(err)
	}
}

// refs is a set of entities to hang books on.
type refs struct{ cat, pub, author string }

func (f *fixture) refs() refs {
	f.t.Helper()
	n := f.next()
	return refs{
		cat:    f.category(fmt.Sprintf("Category %d", n)),
		pub:    f.publisher(fmt.Sprintf("Publisher %d", n)),
		author: f.author(fmt.Sprintf("Author %d", n)),
	}
}

func wantIs(t testing.TB, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("error = %v, want %v", err, target)
	}
}

// wantViolation checks that err is a ValidationError naming field.
func wantViolation(t testing.TB, err error, field string) {
	t.Helper()
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error = %v (%T), want a validation error on %s", err, err, field)
	}
	for _, v := range ve.Violations {
		if v.Field == field {
			return
		}
	}
	t.Fatalf("violations = %+v, want one on %s", ve.Violations, field)
}
