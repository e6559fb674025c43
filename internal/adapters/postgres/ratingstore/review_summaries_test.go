package ratingstore

import (
	"context"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// TestReviewSummariesCache stores summaries as a role granted the schema
// rating alone, and reads them through another pool on the same database:
// what one replica (or the process before a restart) wrote, the other
// reads.
func TestReviewSummariesCache(t *testing.T) {
	ctx := pgtest.Ctx(t)
	db := pgtest.NewDatabase(t)
	one := NewReviewSummaries(pgtest.RolePool(t, db, "rating"))
	two := NewReviewSummaries(pgtest.OpenPool(t, db))
	book := coreid.New()

	if _, ok, err := one.CachedSummary(ctx, book); err != nil || ok {
		t.Fatalf("a book without a summary: ok %v, err %v", ok, err)
	}
	want := rating.CachedSummary{BookID: book, Fingerprint: "fp-1", Text: "Readers love the storms. «Superb»", Model: "llama3.2/summary-v1",
		ReviewsRead: 3, ReviewCount: 7, CreateTime: time.Date(2026, 12, 1, 20, 0, 0, 123456000, time.UTC)}
	if err := one.PutSummary(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := two.CachedSummary(ctx, book)
	if err != nil || !ok || got != want {
		t.Fatalf("read back by another pool: %+v, %v, %v; want %+v", got, ok, err, want)
	}
	// The next summary of the book replaces it.
	next := want
	next.Fingerprint, next.Text, next.ReviewCount, next.CreateTime = "fp-2", "Now mixed.", 8, want.CreateTime.Add(time.Minute)
	if err := two.PutSummary(ctx, next); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := one.CachedSummary(ctx, book); err != nil || !ok || got != next {
		t.Fatalf("after the second put: %+v, %v, %v; want %+v", got, ok, err, next)
	}
	var rows int
	if err := pgtest.OpenPool(t, db).QueryRow(ctx, `SELECT count(*) FROM rating.review_summaries WHERE book_id = $1`, book).Scan(&rows); err != nil || rows != 1 {
		t.Fatalf("%d rows for the book (%v), want 1", rows, err)
	}
	// Cancelled callers get their context's error, not a driver's.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := one.CachedSummary(cctx, book); err == nil {
		t.Fatal("a cancelled read succeeded")
	}
}

// countingSummarizer answers every summary with the number of its call.
type countingSummarizer struct{ calls atomic.Int64 }

func (c *countingSummarizer) SummarizeReviews(context.Context, []rating.SummaryReview) (string, error) {
	return "summary " + strconv.FormatInt(c.calls.Add(1), 10), nil
}

func (*countingSummarizer) SummaryModel() string { return "counting/v1" }

type anyBook struct{}

func (anyBook) BookExists(context.Context, string) (bool, error) { return true, nil }

// TestReviewSummariesFollowTheReviews runs the use case on the Postgres
// stores: the fingerprint of what the reviews are in the database keeps a
// summary until a review is created, edited or removed, also for a second
// service on another pool (another replica) and after a "restart".
func TestReviewSummariesFollowTheReviews(t *testing.T) {
	ctx := pgtest.Ctx(t)
	db := pgtest.NewDatabase(t)
	model := &countingSummarizer{}
	replica := func() *rating.Service {
		pool := pgtest.OpenPool(t, db)
		return rating.NewService(NewReviews(pool), anyBook{}, nil).WithReviewSummaries(model, NewReviewSummaries(pool), pgtest.DiscardLog())
	}
	a, b := replica(), replica()
	book := coreid.New()
	user := func(sub string) identity.Principal {
		return identity.Principal{Subject: sub, Roles: []string{identity.RoleUser}}
	}
	check := func(svc *rating.Service, step string, calls int64) rating.ReviewSummary {
		t.Helper()
		s, err := svc.SummarizeReviews(ctx, book)
		if err != nil {
			t.Fatalf("%s: %v", step, err)
		}
		if s.Source != rating.SourceModel || model.calls.Load() != calls {
			t.Fatalf("%s: source %v, %d model calls, want %d", step, s.Source, model.calls.Load(), calls)
		}
		return s
	}
	if s, err := a.SummarizeReviews(ctx, book); err != nil || s.Source != rating.SourceNone || model.calls.Load() != 0 {
		t.Fatalf("no reviews: %+v, %v", s, err)
	}
	r, err := a.CreateReview(ctx, user("ann"), book, rating.ReviewFields{Stars: 4, Body: "Fine storms."})
	if err != nil {
		t.Fatal(err)
	}
	check(a, "first", 1)
	check(b, "the other replica reads the cached one", 1)
	check(replica(), "a restarted replica too", 1)
	if _, err := b.CreateReview(ctx, user("ben"), book, rating.ReviewFields{Stars: 2}); err != nil {
		t.Fatal(err)
	}
	check(a, "a review created on the other replica", 2)
	if _, err := a.UpdateReview(ctx, user("ann"), r.ID(), "", rating.ReviewFields{Title: "Edited"}, []string{rating.FieldTitle}); err != nil {
		t.Fatal(err)
	}
	check(b, "a review edited", 3)
	check(a, "cached again", 3)
	if err := a.DeleteReview(ctx, user("ann"), r.ID()); err != nil {
		t.Fatal(err)
	}
	if s := check(b, "a review deleted", 4); s.ReviewCount != 1 || s.ReviewsRead != 1 {
		t.Fatalf("after the deletion: %+v", s)
	}
}
