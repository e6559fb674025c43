package flows

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// checkBooks is the rating context's BookChecker over the catalog's store,
// as the server wires it in process.
type checkBooks struct{ books catalog.Books }

func (c checkBooks) BookExists(ctx context.Context, id string) (bool, error) {
	bs, err := c.books.GetBooks(ctx, []string{id})
	if err != nil {
		return false, err
	}
	return len(bs) == 1 && !bs[0].Deleted(), nil
}

// ratingFixture is a fresh database with a catalog, the rating use cases on
// the review store and the catalog's review consumer.
type ratingFixture struct {
	*fixture
	svc     *rating.Service
	ratings *catalogstore.CatalogRatings
	rejects *ratingstore.ReviewRejections
	seen    int64 // the outbox seq up to which events were taken
}

func newRatingFixture(t *testing.T) *ratingFixture {
	t.Helper()
	pool := pgtest.NewPool(t)
	return newRatingFixtureOn(t, pool, pool, pool)
}

// newRatingFixtureOn is newRatingFixture with the catalog's stores and
// consumer on catalogPool and the rating context's on ratingPool; the
// test's own reads go through pool.
func newRatingFixtureOn(t *testing.T, pool, catalogPool, ratingPool *pgxpool.Pool) *ratingFixture {
	t.Helper()
	books := catalogstore.NewBooks(catalogPool)
	f := &ratingFixture{fixture: newFixture(t, pool, books)}
	f.entities = catalogstore.NewEntities(catalogPool)
	f.svc = rating.NewService(ratingstore.NewReviews(ratingPool), checkBooks{books}, f.now)
	f.ratings = catalogstore.NewCatalogRatings(catalogPool, nil)
	f.rejects = ratingstore.NewReviewRejections(ratingPool, nil)
	return f
}

// book creates a live book and returns its id.
func (f *ratingFixture) book() string {
	f.t.Helper()
	r := f.refs()
	return f.create(f.fields(fmt.Sprintf("Rated %d", f.next()), r.cat, r.pub, r.author)).ID()
}

func user(n int) identity.Principal {
	return identity.Principal{Subject: fmt.Sprintf("user-%03d", n), Name: fmt.Sprintf("User %d", n), Roles: []string{identity.RoleUser}}
}

var moderator = identity.Principal{Subject: "moderator", Roles: []string{identity.RoleUser, identity.RoleAdmin}}

func (f *ratingFixture) review(p identity.Principal, bookID string, stars int32) *rating.Review {
	f.t.Helper()
	r, err := f.svc.CreateReview(f.ctx, p, bookID, rating.ReviewFields{Stars: stars, Title: "Stars: " + fmt.Sprint(stars), Body: "Text"})
	if err != nil {
		f.t.Fatalf("CreateReview by %s: %v", p.Subject, err)
	}
	return r
}

// events returns, as the consumers receive them, the review events
// committed to the outbox since the last call (the catalog's own book
// events aside).
func (f *ratingFixture) events() []events.Message {
	f.t.Helper()
	var out []events.Message
	for _, r := range pgtest.Outbox(f.t, f.pool) {
		if r.Seq <= f.seen {
			continue
		}
		f.seen = r.Seq
		if !strings.HasPrefix(r.Type, "bookworm.rating.") {
			continue
		}
		out = append(out, events.Message{ID: r.ID, Type: r.Type, Source: r.Source, Time: r.Time,
			TraceParent: r.TraceParent, TraceState: r.TraceState, ContentType: r.ContentType, Data: r.Data, Attempt: 1})
	}
	return out
}

// decode returns the event in msg.
func decode[M proto.Message](t testing.TB, msg events.Message, m M) M {
	t.Helper()
	if want := string(proto.MessageName(m)); msg.Type != want {
		t.Fatalf("event type %s, want %s", msg.Type, want)
	}
	if err := proto.Unmarshal(msg.Data, m); err != nil {
		t.Fatal(err)
	}
	return m
}

// recount returns the star histogram of a book counted from the reviews
// themselves: the truth the maintained summary must equal.
func recount(t testing.TB, pool *pgxpool.Pool, bookID string) [rating.MaxStars]int64 {
	t.Helper()
	var h [rating.MaxStars]int64
	rows, err := pool.Query(context.Background(), `SELECT stars, count(*) FROM rating.reviews WHERE book_id = $1 GROUP BY stars`, bookID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var stars int16
		var n int64
		if err := rows.Scan(&stars, &n); err != nil {
			t.Fatal(err)
		}
		h[stars-1] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return h
}

func (f *ratingFixture) summary(bookID string) rating.Summary {
	f.t.Helper()
	s, err := f.svc.Summary(f.ctx, bookID)
	if err != nil {
		f.t.Fatal(err)
	}
	if got := recount(f.t, f.pool, bookID); s.Histogram != got {
		f.t.Fatalf("summary %v differs from the reviews' own count %v", s.Histogram, got)
	}
	return s
}

func TestReviewWritesEnqueueTheirEvents(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	alice, bob := user(1), user(2)

	r := f.review(alice, bookID, 4)
	evs := f.events()
	if len(evs) != 1 || sourceContext(evs[0].Source) != ratingstore.RatingSource {
		t.Fatalf("events after create: %+v", evs)
	}
	created := decode(t, evs[0], &ratingv1.ReviewCreated{})
	if created.GetReviewId() != r.ID() || created.GetBookId() != bookID || created.GetUserId() != alice.Subject ||
		created.GetVersion() != 1 || created.GetStars() != 4 || created.GetTitle() != "Stars: 4" || created.GetBody() != "Text" ||
		!created.GetOccurTime().AsTime().Equal(r.Record().CreateTime) {
		t.Fatalf("ReviewCreated %v for %+v", created, r.Record())
	}
	if s := f.summary(bookID); s.Count() != 1 || s.Sum() != 4 {
		t.Fatalf("summary %+v", s)
	}

	// A second review of the same book by the same user is refused and
	// leaves no trace; another user's is fine.
	_, err := f.svc.CreateReview(f.ctx, alice, bookID, rating.ReviewFields{Stars: 1})
	wantIs(t, err, failure.ErrAlreadyExists)
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("a refused review enqueued %d events", len(evs))
	}
	f.review(bob, bookID, 2)
	f.events()

	// Update the stars: the summary moves the review from 4 to 5 stars.
	u, err := f.svc.UpdateReview(f.ctx, alice, r.ID(), r.Etag(), rating.ReviewFields{Stars: 5, Title: "Better"}, []string{"stars", "title"})
	if err != nil {
		t.Fatal(err)
	}
	evs = f.events()
	if len(evs) != 1 {
		t.Fatalf("events after update: %d", len(evs))
	}
	updated := decode(t, evs[0], &ratingv1.ReviewUpdated{})
	if updated.GetVersion() != 2 || updated.GetOldStars() != 4 || updated.GetNewStars() != 5 || updated.GetTitle() != "Better" ||
		updated.GetBody() != "Text" || u.Record().Version != 2 {
		t.Fatalf("ReviewUpdated %v", updated)
	}
	if s := f.summary(bookID); s.Histogram != [5]int64{0, 1, 0, 0, 1} {
		t.Fatalf("summary after update %v", s.Histogram)
	}

	// An update to equal values writes and enqueues nothing.
	same, err := f.svc.UpdateReview(f.ctx, alice, r.ID(), "", rating.ReviewFields{Stars: 5}, []string{"stars"})
	if err != nil || same.Record().Version != 2 {
		t.Fatalf("no-op update: %v, %+v", err, same)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("a no-op update enqueued %d events", len(evs))
	}
	// A stale etag is a conflict.
	_, err = f.svc.UpdateReview(f.ctx, alice, r.ID(), "1", rating.ReviewFields{Stars: 3}, []string{"stars"})
	wantIs(t, err, failure.ErrConflict)

	// Bob may neither change nor delete Alice's review; the moderator may
	// delete it.
	_, err = f.svc.UpdateReview(f.ctx, bob, r.ID(), "", rating.ReviewFields{Stars: 1}, []string{"stars"})
	wantIs(t, err, failure.ErrNotFound)
	wantIs(t, f.svc.DeleteReview(f.ctx, bob, r.ID()), failure.ErrNotFound)
	if err := f.svc.DeleteReview(f.ctx, moderator, r.ID()); err != nil {
		t.Fatal(err)
	}
	evs = f.events()
	if len(evs) != 1 {
		t.Fatalf("events after delete: %d", len(evs))
	}
	deleted := decode(t, evs[0], &ratingv1.ReviewDeleted{})
	if deleted.GetVersion() != 3 || deleted.GetOldStars() != 5 || deleted.GetReason() != ratingv1.ReviewDeleted_REASON_MODERATION ||
		deleted.GetUserId() != alice.Subject || deleted.GetBookId() != bookID {
		t.Fatalf("ReviewDeleted %v", deleted)
	}
	if s := f.summary(bookID); s.Histogram != [5]int64{0, 1, 0, 0, 0} {
		t.Fatalf("summary after delete %v", s.Histogram)
	}
	wantIs(t, f.svc.DeleteReview(f.ctx, alice, r.ID()), failure.ErrNotFound)

	// Alice may review the book again now.
	again := f.review(alice, bookID, 1)
	if again.ID() == r.ID() {
		t.Fatal("the new review reused the old id")
	}
}

func TestCreateReviewNeedsALiveBook(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	if err := f.books.DeleteBook(f.ctx, bookID, f.now()); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{bookID, coreid.New()} {
		_, err := f.svc.CreateReview(f.ctx, user(1), id, rating.ReviewFields{Stars: 3})
		wantIs(t, err, failure.ErrNotFound)
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("refused reviews enqueued %d events", len(evs))
	}
}

func TestConcurrentReviewsOfOneBook(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	const n = 60
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		// Some users send their review twice at once: one of the two
		// wins, the other is AlreadyExists.
		tries := 1 + (i+1)%2
		var won atomic.Int32
		for range tries {
			wg.Go(func() {
				r, err := f.svc.CreateReview(f.ctx, user(i), bookID, rating.ReviewFields{Stars: int32(1 + i%5)})
				if tries == 2 && errors.Is(err, failure.ErrAlreadyExists) {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if won.Add(1) > 1 {
					errs <- fmt.Errorf("user %d reviewed the book twice", i)
				}
				if i%3 == 0 { // some change their minds at once
					_, err = f.svc.UpdateReview(f.ctx, user(i), r.ID(), "", rating.ReviewFields{Stars: 5}, []string{"stars"})
					errs <- err
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := f.summary(bookID)
	if s.Count() != n {
		t.Fatalf("count %d, want %d", s.Count(), n)
	}
}

func TestListReviews(t *testing.T) {
	f := newRatingFixture(t)
	bookID, other := f.book(), f.book()
	var all []rating.ReviewRecord
	for i := range 23 {
		all = append(all, f.review(user(i), bookID, int32(1+(i*7)%5)).Record())
	}
	f.review(user(99), other, 3)

	newest := func(a, b rating.ReviewRecord) int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	}
	orders := []struct {
		name  string
		order rating.Order
		cmp   func(a, b rating.ReviewRecord) int
	}{
		{"newest", rating.OrderNewest, newest},
		{"highest", rating.OrderHighest, func(a, b rating.ReviewRecord) int {
			if a.Stars != b.Stars {
				return int(b.Stars - a.Stars)
			}
			return newest(a, b)
		}},
		{"lowest", rating.OrderLowest, func(a, b rating.ReviewRecord) int {
			if a.Stars != b.Stars {
				return int(a.Stars - b.Stars)
			}
			return newest(a, b)
		}},
	}
	for _, o := range orders {
		t.Run(o.name, func(t *testing.T) {
			want := slices.Clone(all)
			slices.SortFunc(want, o.cmp)
			var got []rating.ReviewRecord
			token := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("too many pages")
				}
				page, err := f.svc.ListReviews(f.ctx, rating.ListReviewsQuery{BookID: bookID, Order: o.order, PageSize: 5, PageToken: token})
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range page.Reviews {
					got = append(got, r.Record())
				}
				if page.NextPageToken == "" {
					break
				}
				token = page.NextPageToken
				if pages == 1 {
					// A review written between two pages does not disturb the
					// pages still to come. Newest, and with 5 stars, it sorts
					// before the cursor in the newest and highest orders; in
					// the lowest order it comes first among the 5-star
					// reviews, which are still to come.
					late := f.review(user(200+int(o.order)), bookID, 5).Record()
					all = append(all, late)
					if o.order == rating.OrderLowest {
						want = append(want, late)
						slices.SortFunc(want, o.cmp)
					}
				}
			}
			if len(got) != len(want) {
				t.Fatalf("%d reviews listed, want %d", len(got), len(want))
			}
			for i := range want {
				if got[i].ID != want[i].ID {
					t.Fatalf("position %d: %s (%d stars), want %s (%d stars)", i, got[i].ID, got[i].Stars, want[i].ID, want[i].Stars)
				}
			}
		})
	}

	// Tokens belong to their query.
	page, err := f.svc.ListReviews(f.ctx, rating.ListReviewsQuery{BookID: bookID, PageSize: 2})
	if err != nil || page.NextPageToken == "" {
		t.Fatalf("first page: %v", err)
	}
	for _, q := range []rating.ListReviewsQuery{
		{BookID: other, PageToken: page.NextPageToken},
		{BookID: bookID, Order: rating.OrderHighest, PageToken: page.NextPageToken},
		{BookID: bookID, PageToken: "garbage"},
	} {
		_, err := f.svc.ListReviews(f.ctx, q)
		wantViolation(t, err, "page_token")
	}
}

func TestReviewStoreInTransaction(t *testing.T) {
	// A store bound to a transaction (as the rejection consumer uses it)
	// commits nothing when the transaction rolls back.
	f := newRatingFixture(t)
	bookID := f.book()
	r := f.review(user(1), bookID, 2)
	f.events()
	tx, err := f.pool.Begin(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(context.Background()) // a failed check must not leave it open
	if err := rating.RejectReview(f.ctx, ratingstore.NewReviews(tx), rating.Rejection{ReviewID: r.ID(), BookID: bookID, Version: 1}, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := tx.Rollback(f.ctx); err != nil {
		t.Fatal(err)
	}
	if s := f.summary(bookID); s.Count() != 1 {
		t.Fatalf("count %d after a rolled back removal", s.Count())
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("a rolled back removal left %d events", len(evs))
	}
}

// sourceContext is the context part of a ce-source BookWorm wrote, or ""
// for any other source.
func sourceContext(source string) string {
	_, c, _ := events.ParseSource(source)
	return c
}
