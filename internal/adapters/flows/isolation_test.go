package flows

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// wantDenied checks that pool may not read table.
func wantDenied(t *testing.T, pool *pgxpool.Pool, table string) {
	t.Helper()
	var n int
	err := pool.QueryRow(context.Background(), `SELECT count(*) FROM `+table).Scan(&n)
	if !postgres.IsCode(err, "42501") { // insufficient_privilege
		t.Fatalf("SELECT from %s = %v, want permission denied", table, err)
	}
}

// TestContextsKeepToTheirSchemas runs each context's stores and consumers
// under a role that is granted only its own schema and the events schema,
// through the whole review flow (books, entities, search, reviews, the
// catalog counting them, a rejection compensated): everything works, so no
// store touches another context's tables; and a read across does fail.
func TestContextsKeepToTheirSchemas(t *testing.T) {
	name := pgtest.NewDatabase(t)
	pool := pgtest.OpenPool(t, name)
	catalogPool := pgtest.RolePool(t, name, "catalog", "events")
	ratingPool := pgtest.RolePool(t, name, "rating", "events")
	eventsPool := pgtest.RolePool(t, name, "events")

	for _, table := range []string{"rating.reviews", "rating.summaries"} {
		wantDenied(t, catalogPool, table)
	}
	for _, table := range []string{"catalog.books", "catalog.authors", "catalog.review_tallies"} {
		wantDenied(t, ratingPool, table)
		wantDenied(t, eventsPool, table)
	}
	wantDenied(t, eventsPool, "rating.reviews")

	f := newRatingFixtureOn(t, pool, catalogPool, ratingPool)
	b1, b2 := f.book(), f.book()
	mine := f.review(user(1), b1, 4)
	f.review(user(2), b1, 2)
	f.review(user(1), b2, 5)
	f.settle()
	if n := f.agree(b1); n != 2 {
		t.Fatalf("count %d, want 2", n)
	}
	if _, err := f.svc.UpdateReview(f.ctx, user(1), mine.ID(), "", rating.ReviewFields{Stars: 1}, []string{"stars"}); err != nil {
		t.Fatal(err)
	}
	f.settle()
	f.agree(b1)
	if _, err := f.svc.ListReviews(f.ctx, rating.ListReviewsQuery{BookID: b1}); err != nil {
		t.Fatal(err)
	}

	books := catalogstore.NewBooks(catalogPool)
	cache := catalogstore.NewBookCache(books, catalogPool, 100, pgtest.DiscardLog())
	svc := catalog.NewService(cache, catalogstore.NewEntities(catalogPool), nil)
	if _, err := svc.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "Rated", PageSize: 10}); err != nil {
		t.Fatalf("search: %v", err)
	}
	if _, err := svc.ListBooks(f.ctx, catalog.ListBooksQuery{PageSize: 10}); err != nil {
		t.Fatalf("list: %v", err)
	}
	if _, err := svc.UpdateBook(f.ctx, b2, "", catalog.BookFields{Title: "Renamed"}, []string{"title"}); err != nil {
		t.Fatalf("update: %v", err)
	}
	// A review whose book is gone: the catalog rejects it, the rating
	// context removes it, each in its own schema.
	late := f.review(user(3), b1, 3)
	if err := svc.DeleteBook(f.ctx, b1); err != nil {
		t.Fatal(err)
	}
	f.settle()
	if _, err := f.svc.UpdateReview(f.ctx, user(3), late.ID(), "", rating.ReviewFields{Stars: 2}, []string{"stars"}); err == nil {
		t.Fatal("the rejected review is still there")
	}
	// (Seed is left out: merging the GIN pending lists needs the owner of
	// the indexes, which a least-privilege role is not.)

	// The relay needs the events schema alone.
	relay := outbox.NewRelay(eventsPool, &countingPublisher{}, outbox.RelayConfig{Logger: pgtest.DiscardLog()})
	if err := relay.Flush(f.ctx); err != nil {
		t.Fatalf("relay: %v", err)
	}
	if n, _, err := relay.Backlog(f.ctx); err != nil || n != 0 {
		t.Fatalf("backlog %d, %v", n, err)
	}
	if _, err := outbox.PruneInbox(f.ctx, eventsPool, time.Now()); err != nil {
		t.Fatal(err)
	}
}

// countingPublisher confirms everything.
type countingPublisher struct{ n int }

func (p *countingPublisher) PublishBatch(_ context.Context, msgs []events.Message) ([]bool, error) {
	ok := make([]bool, len(msgs))
	for i := range ok {
		ok[i] = true
	}
	p.n += len(msgs)
	return ok, nil
}
