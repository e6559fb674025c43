package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// settleTimeout bounds the wait for events to travel from a write to the
// catalog (outbox, relay, RabbitMQ, consumer). A deadline for the test, not
// a measure of speed.
const settleTimeout = 60 * time.Second

// serverPool opens a pool on the suite server's database, for what the
// API cannot show or do.
func serverPool(t *testing.T) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), serverDBURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ratingsAgree polls until the catalog's figures of each book (GetBook)
// equal the rating context's summary (GetRatingSummary) exactly, and
// returns the summaries. want, when not negative, is the count both must
// reach.
func ratingsAgree(t *testing.T, want int64, bookIDs ...string) map[string]*ratingv1.RatingSummary {
	t.Helper()
	books := catalogClient(t, connectProto)
	ratings := newRatingClient(t, clientOptions{Protocol: connectProto})
	deadline := time.Now().Add(settleTimeout)
	out := map[string]*ratingv1.RatingSummary{}
	for _, id := range bookIDs {
		for {
			s := summary(t, ratings, id)
			b := getBook(t, books, id)
			if int64(b.GetRatingCount()) == s.GetCount() && b.GetRatingAverage() == s.GetAverage() && (want < 0 || s.GetCount() == want) {
				out[id] = s
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("book %s: catalog count %d average %v, rating context count %d average %v (want count %d) after %s",
					id, b.GetRatingCount(), b.GetRatingAverage(), s.GetCount(), s.GetAverage(), want, settleTimeout)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return out
}

// everyBookAgrees polls until, for every book of the server, the catalog's
// rating sum and count equal those of the rating context's star counts:
// the invariant every rating test leaves behind.
func everyBookAgrees(t *testing.T) {
	t.Helper()
	pool := serverPool(t)
	deadline := time.Now().Add(settleTimeout)
	for {
		var differ int
		var example string
		err := pool.QueryRow(context.Background(), `
			WITH s AS (
				SELECT book_id, stars_1 + stars_2 + stars_3 + stars_4 + stars_5 AS n,
				       stars_1 + 2*stars_2 + 3*stars_3 + 4*stars_4 + 5*stars_5 AS sum
				  FROM rating.summaries)
			SELECT count(*), coalesce(min(coalesce(b.id, s.book_id)::text), '')
			  FROM catalog.books b FULL JOIN s ON s.book_id = b.id
			 WHERE coalesce(b.rating_count, 0) <> coalesce(s.n, 0) OR coalesce(b.rating_sum, 0) <> coalesce(s.sum, 0)`).
			Scan(&differ, &example)
		if err != nil {
			t.Fatal(err)
		}
		if differ == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d books' ratings differ between the catalog and the rating context (book %s, say)", differ, example)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRatingsReachTheCatalog: 100 users review one book at once; once the
// events settle the book's count and average are exactly the rating
// context's. Then some change their minds, and some delete their reviews.
func TestRatingsReachTheCatalog(t *testing.T) {
	t.Cleanup(func() { everyBookAgrees(t) })
	book := ratedBook(t)
	const users = 100
	clients := make([]ratingv1connect.RatingServiceClient, users)
	for i := range clients {
		clients[i] = newRatingClient(t, clientOptions{Protocol: connectProto, Token: userToken(t, fmt.Sprintf("crowd-%03d-%s", i, token(6)))})
	}
	reviews := make([]*ratingv1.Review, users)
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i, c := range clients {
		wg.Go(func() {
			r, err := createReview(c, book.GetId(), int32(1+(i*i)%5), "Crowd review", "")
			reviews[i] = r
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	s := ratingsAgree(t, users, book.GetId())[book.GetId()]
	var wantSum int64
	for i := range users {
		wantSum += int64(1 + (i*i)%5)
	}
	if s.GetStarSum() != wantSum || s.GetAverage() != float64(wantSum)/users {
		t.Fatalf("summary %v, want sum %d", s, wantSum)
	}

	// Changes and deletions, concurrently too.
	errs = make(chan error, users)
	deleted := 0
	for i, c := range clients {
		switch i % 4 {
		case 0:
			wg.Go(func() {
				_, err := updateReview(c, reviews[i].GetId(), "", &ratingv1.ReviewInput{Stars: 5}, "stars")
				errs <- err
			})
		case 1:
			deleted++
			wg.Go(func() { errs <- deleteReview(c, reviews[i].GetId()) })
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ratingsAgree(t, int64(users-deleted), book.GetId())
}

// TestReviewOfADeletedBookIsRemoved is the compensation path through the
// server: a review written while its book is being deleted (the review
// store is called directly, as if the book's deletion committed right
// after CreateReview checked the book) reaches the catalog after the
// deletion; the catalog does not count it and rejects it, and the rating
// context removes it. What was counted before stays counted on both sides.
func TestReviewOfADeletedBookIsRemoved(t *testing.T) {
	t.Cleanup(func() { everyBookAgrees(t) })
	book := ratedBook(t)
	r := newReviewers(t, connectProto)
	mustCreateReview(t, r.alice, book.GetId(), 5)
	ratingsAgree(t, 1, book.GetId())

	if _, err := catalogClient(t, connectProto).DeleteBook(context.Background(),
		connect.NewRequest(&catalogv1.DeleteBookRequest{Id: book.GetId()})); err != nil {
		t.Fatal(err)
	}
	late, err := rating.NewReview(id.New(), book.GetId(), identity.Principal{Subject: r.bobID, Name: "Bob"},
		rating.ReviewFields{Stars: 1, Title: "Too late"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ratingstore.NewReviews(serverPool(t)).CreateReview(context.Background(), late); err != nil {
		t.Fatal(err)
	}

	deadline := time.Now().Add(settleTimeout)
	for {
		listed := listReviews(t, r.anonymous, book.GetId(), ratingv1.ReviewOrder_REVIEW_ORDER_NEWEST, 10)
		if len(listed) == 1 {
			break // the late review is gone
		}
		if time.Now().After(deadline) {
			t.Fatalf("the review of the deleted book is still listed after %s: %v", settleTimeout, listed)
		}
		time.Sleep(50 * time.Millisecond)
	}
	s := ratingsAgree(t, 1, book.GetId())[book.GetId()]
	if s.GetStarSum() != 5 {
		t.Fatalf("summary %v, want the one 5-star review", s)
	}
	// Bob may not resurrect it, and cannot review the deleted book.
	_, err = updateReview(r.bob, late.ID(), "", &ratingv1.ReviewInput{Stars: 4}, "stars")
	wantCode(t, err, connect.CodeNotFound)
	_, err = createReview(r.bob, book.GetId(), 4, "", "")
	wantCode(t, err, connect.CodeNotFound)
	// Alice's counted review can still go, on both sides.
	mine := listReviews(t, r.anonymous, book.GetId(), 0, 10)[0]
	if err := deleteReview(r.alice, mine.GetId()); err != nil {
		t.Fatal(err)
	}
	ratingsAgree(t, 0, book.GetId())
}
