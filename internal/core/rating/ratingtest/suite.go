package ratingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// RunReviewStore runs the contract of rating.ReviewStore against the stores
// newStore makes: each case gets a fresh, empty store. Every implementation
// (the Postgres store, MemoryReviewStore) must pass it.
func RunReviewStore(t *testing.T, newStore func(t *testing.T) rating.ReviewStore) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"a created review is listed and counted", testCreateAndRead},
		{"one review per user and book", testOneReviewPerUserAndBook},
		{"update stores the change and moves the stars", testUpdate},
		{"an update to equal values stores nothing", testUpdateEqual},
		{"update returns the closure's error and stores nothing", testUpdateError},
		{"a missing review is not found", testMissing},
		{"delete removes the review and its stars", testDelete},
		{"delete refuses a closure that does not remove", testDeleteMustRemove},
		{"lists page through every order", testListOrdersAndPages},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &suite{t: t, store: newStore(t), ctx: context.Background(),
				clock: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC), book: coreid.New()})
		})
	}
}

type suite struct {
	t     *testing.T
	store rating.ReviewStore
	ctx   context.Context
	clock time.Time
	book  string
}

// now returns a growing instant, whole microseconds (what stores keep).
func (s *suite) now() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

func reader(n int) identity.Principal {
	return identity.Principal{Subject: fmt.Sprintf("reader-%d", n), Name: fmt.Sprintf("Reader %d", n), Roles: []string{identity.RoleUser}}
}

func (s *suite) create(book string, p identity.Principal, stars int32) *rating.Review {
	s.t.Helper()
	r, err := s.tryCreate(book, p, stars)
	if err != nil {
		s.t.Fatalf("CreateReview: %v", err)
	}
	return r
}

func (s *suite) tryCreate(book string, p identity.Principal, stars int32) (*rating.Review, error) {
	s.t.Helper()
	r, err := rating.NewReview(coreid.New(), book, p, rating.ReviewFields{Stars: stars, Title: "Title", Body: "Body"}, s.now())
	if err != nil {
		s.t.Fatal(err)
	}
	return s.store.CreateReview(s.ctx, r)
}

func (s *suite) list(q rating.ListReviewsQuery) rating.ReviewPage {
	s.t.Helper()
	if q.PageSize == 0 {
		q.PageSize = rating.DefaultPageSize
	}
	page, err := s.store.ListReviews(s.ctx, q)
	if err != nil {
		s.t.Fatalf("ListReviews: %v", err)
	}
	return page
}

func (s *suite) histogram(book string) [rating.MaxStars]int64 {
	s.t.Helper()
	sum, err := s.store.Summary(s.ctx, book)
	if err != nil {
		s.t.Fatalf("Summary: %v", err)
	}
	return sum.Histogram
}

func ids(rs []*rating.Review) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID()
	}
	return out
}

func testCreateAndRead(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	want := r.Record()
	page := s.list(rating.ListReviewsQuery{BookID: s.book})
	if len(page.Reviews) != 1 || page.NextPageToken != "" {
		t.Fatalf("listed %d reviews, token %q", len(page.Reviews), page.NextPageToken)
	}
	if got := page.Reviews[0].Record(); got != want {
		t.Fatalf("listed %+v, want %+v", got, want)
	}
	if h := s.histogram(s.book); h != [rating.MaxStars]int64{0, 0, 0, 1, 0} {
		t.Fatalf("histogram %v", h)
	}
	if h := s.histogram(coreid.New()); h != [rating.MaxStars]int64{} {
		t.Fatalf("a book without reviews has histogram %v", h)
	}
}

func testOneReviewPerUserAndBook(t *testing.T, s *suite) {
	s.create(s.book, reader(1), 4)
	if _, err := s.tryCreate(s.book, reader(1), 2); !errors.Is(err, failure.ErrAlreadyExists) {
		t.Fatalf("a second review by one user = %v, want ErrAlreadyExists", err)
	}
	s.create(coreid.New(), reader(1), 2) // another book
	s.create(s.book, reader(2), 2)       // another user
	if n := len(s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews); n != 2 {
		t.Fatalf("%d reviews of the book, want 2", n)
	}
}

func testUpdate(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	at := s.now()
	got, err := s.store.UpdateReview(s.ctx, r.ID(), func(r *rating.Review) error {
		return r.Apply(rating.ReviewFields{Stars: 1, Body: "Changed my mind"}, []string{rating.FieldStars, rating.FieldBody}, at)
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := got.Record()
	if rec.Stars != 1 || rec.Body != "Changed my mind" || rec.Version != 2 || !rec.UpdateTime.Equal(at) {
		t.Fatalf("UpdateReview returned %+v", rec)
	}
	if listed := s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews[0].Record(); listed != rec {
		t.Fatalf("stored %+v, want %+v", listed, rec)
	}
	if h := s.histogram(s.book); h != [rating.MaxStars]int64{1, 0, 0, 0, 0} {
		t.Fatalf("histogram %v after the update", h)
	}
}

func testUpdateEqual(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	got, err := s.store.UpdateReview(s.ctx, r.ID(), func(r *rating.Review) error {
		return r.Apply(rating.ReviewFields{Stars: 4}, []string{rating.FieldStars}, s.now())
	})
	if err != nil || got.Record().Version != 1 {
		t.Fatalf("UpdateReview to equal values = %+v, %v", got, err)
	}
	if listed := s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews[0].Record(); listed != r.Record() {
		t.Fatalf("stored %+v, want it unchanged", listed)
	}
}

func testUpdateError(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	boom := errors.New("boom")
	_, err := s.store.UpdateReview(s.ctx, r.ID(), func(r *rating.Review) error {
		if err := r.Apply(rating.ReviewFields{Stars: 2}, []string{rating.FieldStars}, s.now()); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("UpdateReview = %v, want the closure's error", err)
	}
	if listed := s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews[0].Record(); listed != r.Record() {
		t.Fatalf("stored %+v after a failed update", listed)
	}
}

func testMissing(t *testing.T, s *suite) {
	missing := coreid.New()
	if _, err := s.store.UpdateReview(s.ctx, missing, func(*rating.Review) error { return nil }); !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("UpdateReview of a missing review = %v", err)
	}
	err := s.store.DeleteReview(s.ctx, missing, func(r *rating.Review) error { return r.Remove(rating.RemovedByAuthor, s.now()) })
	if !errors.Is(err, failure.ErrNotFound) {
		t.Errorf("DeleteReview of a missing review = %v", err)
	}
}

func testDelete(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	s.create(s.book, reader(2), 5)
	remove := func(r *rating.Review) error { return r.Remove(rating.RemovedByModerator, s.now()) }
	if err := s.store.DeleteReview(s.ctx, r.ID(), remove); err != nil {
		t.Fatal(err)
	}
	if n := len(s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews); n != 1 {
		t.Fatalf("%d reviews left, want 1", n)
	}
	if h := s.histogram(s.book); h != [rating.MaxStars]int64{0, 0, 0, 0, 1} {
		t.Fatalf("histogram %v after the delete", h)
	}
	if err := s.store.DeleteReview(s.ctx, r.ID(), remove); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("deleting again = %v, want ErrNotFound", err)
	}
	// The user may review the book again.
	s.create(s.book, reader(1), 3)
}

func testDeleteMustRemove(t *testing.T, s *suite) {
	r := s.create(s.book, reader(1), 4)
	if err := s.store.DeleteReview(s.ctx, r.ID(), func(*rating.Review) error { return nil }); err == nil {
		t.Fatal("DeleteReview with a closure that did not remove succeeded")
	}
	boom := errors.New("boom")
	if err := s.store.DeleteReview(s.ctx, r.ID(), func(*rating.Review) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("DeleteReview = %v, want the closure's error", err)
	}
	if n := len(s.list(rating.ListReviewsQuery{BookID: s.book}).Reviews); n != 1 {
		t.Fatalf("%d reviews, want the review kept", n)
	}
}

func testListOrdersAndPages(t *testing.T, s *suite) {
	stars := []int32{3, 5, 1, 3, 4, 5, 2, 3}
	var all []rating.ReviewRecord
	for i, st := range stars {
		all = append(all, s.create(s.book, reader(i), st).Record())
	}
	s.create(coreid.New(), reader(0), 5) // another book's review is never listed
	for _, o := range []rating.Order{rating.OrderNewest, rating.OrderHighest, rating.OrderLowest} {
		want := slices.Clone(all)
		slices.SortStableFunc(want, func(a, b rating.ReviewRecord) int { return less(o, a, b) })
		var wantIDs []string
		for _, r := range want {
			wantIDs = append(wantIDs, r.ID)
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > len(all) {
				t.Fatalf("order %d: pages never end", o)
			}
			page := s.list(rating.ListReviewsQuery{BookID: s.book, Order: o, PageSize: 3, PageToken: token})
			got = append(got, ids(page.Reviews)...)
			if page.NextPageToken == "" {
				break
			}
			token = page.NextPageToken
			// The token is bound to its query.
			other := rating.ListReviewsQuery{BookID: coreid.New(), Order: o, PageSize: 3, PageToken: token}
			if _, err := s.store.ListReviews(s.ctx, other); !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("a token of another book's list = %v, want ErrInvalid", err)
			}
		}
		if !slices.Equal(got, wantIDs) {
			t.Fatalf("order %d: listed %v, want %v", o, got, wantIDs)
		}
	}
}
