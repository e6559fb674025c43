package rating_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	"github.com/bookworm-store/bookworm/internal/core/rating/ratingtest"
)

// memReviews is ratingtest's in-memory rating.ReviewStore (the one the
// store contract holds to) that also records what it was asked and which
// reviews it removed, and why.
type memReviews struct {
	*ratingtest.MemoryReviewStore
	stored  map[string]rating.ReviewRecord // what is stored, kept after every call
	calls   []string
	removed map[string]rating.RemoveReason
	lists   []rating.ListReviewsQuery
}

func newMemReviews() *memReviews {
	return &memReviews{MemoryReviewStore: ratingtest.NewMemoryReviewStore(), stored: map[string]rating.ReviewRecord{},
		removed: map[string]rating.RemoveReason{}}
}

func (m *memReviews) CreateReview(ctx context.Context, r *rating.Review) (*rating.Review, error) {
	m.calls = append(m.calls, "CreateReview")
	out, err := m.MemoryReviewStore.CreateReview(ctx, r)
	if err == nil {
		m.stored[out.ID()] = out.Record()
	}
	return out, err
}

func (m *memReviews) UpdateReview(ctx context.Context, id string, update func(*rating.Review) error) (*rating.Review, error) {
	m.calls = append(m.calls, "UpdateReview")
	out, err := m.MemoryReviewStore.UpdateReview(ctx, id, update)
	if err == nil {
		m.stored[id] = out.Record()
	}
	return out, err
}

func (m *memReviews) DeleteReview(ctx context.Context, id string, remove func(*rating.Review) error) error {
	m.calls = append(m.calls, "DeleteReview")
	var reason rating.RemoveReason
	err := m.MemoryReviewStore.DeleteReview(ctx, id, func(r *rating.Review) error {
		err := remove(r)
		reason, _ = r.Removed()
		return err
	})
	if err == nil {
		delete(m.stored, id)
		m.removed[id] = reason
	}
	return err
}

func (m *memReviews) ListReviews(ctx context.Context, q rating.ListReviewsQuery) (rating.ReviewPage, error) {
	m.calls = append(m.calls, "ListReviews")
	m.lists = append(m.lists, q)
	return m.MemoryReviewStore.ListReviews(ctx, q)
}

func (m *memReviews) Summary(ctx context.Context, bookID string) (rating.Summary, error) {
	m.calls = append(m.calls, "Summary")
	return m.MemoryReviewStore.Summary(ctx, bookID)
}

// books is a rating.BookChecker over a set of live book ids.
type books struct {
	live  map[string]bool
	err   error
	asked []string
}

func (b *books) BookExists(_ context.Context, id string) (bool, error) {
	b.asked = append(b.asked, id)
	return b.live[id], b.err
}

func newService(t *testing.T) (*rating.Service, *memReviews, *books) {
	t.Helper()
	store := newMemReviews()
	bs := &books{live: map[string]bool{bookID: true}}
	clock := t0
	now := func() time.Time { clock = clock.Add(time.Second + time.Nanosecond); return clock }
	return rating.NewService(store, bs, now), store, bs
}

func mustCreate(t *testing.T, svc *rating.Service, p identity.Principal, stars int32) *rating.Review {
	t.Helper()
	r, err := svc.CreateReview(context.Background(), p, bookID, rating.ReviewFields{Stars: stars, Title: "T"})
	if err != nil {
		t.Fatalf("CreateReview as %s: %v", p, err)
	}
	return r
}

func TestCreateReview(t *testing.T) {
	ctx := context.Background()
	otherBook := "0195f3a0-0000-7000-8000-000000000002"
	tests := []struct {
		name      string
		caller    identity.Principal
		book      string
		stars     int32
		checkErr  error
		want      error
		wantAsked bool // whether the catalog was asked
	}{
		{name: "signed-in user", caller: alice, book: bookID, stars: 4, wantAsked: true},
		{name: "anonymous", caller: identity.Principal{}, book: bookID, stars: 4, want: failure.ErrUnauthenticated},
		{name: "invalid stars are refused before asking the catalog", caller: alice, book: bookID, stars: 0, want: failure.ErrInvalid},
		{name: "unknown or deleted book", caller: alice, book: otherBook, stars: 4, want: failure.ErrNotFound, wantAsked: true},
		{name: "catalog unavailable", caller: alice, book: bookID, stars: 4, checkErr: failure.ErrUnavailable,
			want: failure.ErrUnavailable, wantAsked: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, bs := newService(t)
			bs.err = tc.checkErr
			r, err := svc.CreateReview(ctx, tc.caller, tc.book, rating.ReviewFields{Stars: tc.stars, Title: "Fine"})
			if (len(bs.asked) > 0) != tc.wantAsked {
				t.Fatalf("catalog asked %v, want asked %v", bs.asked, tc.wantAsked)
			}
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if len(store.stored) != 0 {
					t.Fatal("a refused review was stored")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rec := r.Record()
			if rec.UserID != tc.caller.Subject || rec.BookID != tc.book || rec.Stars != tc.stars || !coreid.Valid(rec.ID) {
				t.Fatalf("record %+v", rec)
			}
			if rec.CreateTime.Nanosecond()%1000 != 0 {
				t.Fatalf("create time %v keeps more than microseconds", rec.CreateTime)
			}
		})
	}
}

func TestCreateReviewOncePerUserAndBook(t *testing.T) {
	svc, _, _ := newService(t)
	mustCreate(t, svc, alice, 4)
	_, err := svc.CreateReview(context.Background(), alice, bookID, rating.ReviewFields{Stars: 2})
	if !errors.Is(err, failure.ErrAlreadyExists) {
		t.Fatalf("second review: %v", err)
	}
	mustCreate(t, svc, bob, 2) // another user may
}

func TestUpdateReview(t *testing.T) {
	ctx := context.Background()
	missing := coreid.New()
	tests := []struct {
		name   string
		caller identity.Principal
		id     func(own string) string
		etag   string
		want   error
	}{
		{name: "owner", caller: alice, id: func(own string) string { return own }},
		{name: "owner with current etag", caller: alice, id: func(own string) string { return own }, etag: "1"},
		{name: "owner with stale etag", caller: alice, id: func(own string) string { return own }, etag: "7", want: failure.ErrConflict},
		{name: "another user", caller: bob, id: func(own string) string { return own }, want: failure.ErrNotFound},
		{name: "an admin is not the author", caller: admin, id: func(own string) string { return own }, want: failure.ErrNotFound},
		{name: "missing review", caller: alice, id: func(string) string { return missing }, want: failure.ErrNotFound},
		{name: "anonymous", caller: identity.Principal{}, id: func(own string) string { return own }, want: failure.ErrUnauthenticated},
		{name: "malformed id", caller: alice, id: func(string) string { return "nope" }, want: failure.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, _ := newService(t)
			own := mustCreate(t, svc, alice, 3).ID()
			id := tc.id(own)
			r, err := svc.UpdateReview(ctx, tc.caller, id, tc.etag, rating.ReviewFields{Stars: 5}, []string{"stars"})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if got := store.stored[own]; got.Stars != 3 || got.Version != 1 {
					t.Fatalf("a refused update changed the review: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rec := r.Record(); rec.Stars != 5 || rec.Version != 2 {
				t.Fatalf("record %+v", rec)
			}
		})
	}
}

// TestNotFoundLooksTheSame: another user's review and a missing one give
// the same message, so the answer tells nothing about who wrote what.
func TestNotFoundLooksTheSame(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	own := mustCreate(t, svc, alice, 3).ID()
	_, errOther := svc.UpdateReview(ctx, bob, own, "", rating.ReviewFields{Stars: 1}, []string{"stars"})
	if err := svc.DeleteReview(ctx, alice, own); err != nil {
		t.Fatal(err)
	}
	_, errMissing := svc.UpdateReview(ctx, bob, own, "", rating.ReviewFields{Stars: 1}, []string{"stars"})
	errDeleteMissing := svc.DeleteReview(ctx, bob, own)
	if errOther == nil || errMissing == nil || errOther.Error() != errMissing.Error() || errDeleteMissing.Error() != errMissing.Error() {
		t.Fatalf("another user's review: %v; missing: %v; delete missing: %v", errOther, errMissing, errDeleteMissing)
	}
}

func TestDeleteReview(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		author     identity.Principal
		caller     identity.Principal
		want       error
		wantReason rating.RemoveReason
	}{
		{name: "author", author: alice, caller: alice, wantReason: rating.RemovedByAuthor},
		{name: "admin moderates", author: alice, caller: admin, wantReason: rating.RemovedByModerator},
		{name: "admin deletes their own", author: admin, caller: admin, wantReason: rating.RemovedByAuthor},
		{name: "another user", author: alice, caller: bob, want: failure.ErrNotFound},
		{name: "anonymous", author: alice, caller: identity.Principal{}, want: failure.ErrUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, _ := newService(t)
			id := mustCreate(t, svc, tc.author, 3).ID()
			err := svc.DeleteReview(ctx, tc.caller, id)
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err = %v, want %v", err, tc.want)
				}
				if _, ok := store.stored[id]; !ok {
					t.Fatal("a refused delete removed the review")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := store.removed[id]; got != tc.wantReason {
				t.Fatalf("reason %v, want %v", got, tc.wantReason)
			}
		})
	}
}

func TestRejectReview(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	r := mustCreate(t, svc, alice, 3)
	id, book := r.ID(), r.Record().BookID
	otherBook := "0195f3a0-0000-7000-8000-00000000b0b0"
	// Destructive, so only when the rejection describes the review: its
	// book, and a version it reached.
	for name, rej := range map[string]rating.Rejection{
		"another book":     {ReviewID: id, BookID: otherBook, Version: 1},
		"a future version": {ReviewID: id, BookID: book, Version: 2},
	} {
		if err := svc.RejectReview(ctx, rej); !errors.Is(err, rating.ErrRejectionMismatch) {
			t.Fatalf("%s: %v, want ErrRejectionMismatch", name, err)
		}
		if _, gone := store.removed[id]; gone {
			t.Fatalf("%s: the review was removed", name)
		}
	}
	if err := svc.RejectReview(ctx, rating.Rejection{ReviewID: id, BookID: book, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if store.removed[id] != rating.RemovedRejected {
		t.Fatalf("reason %v", store.removed[id])
	}
	// Again (a redelivered rejection), and for a review the author deleted
	// meanwhile: nothing to do, no error.
	if err := svc.RejectReview(ctx, rating.Rejection{ReviewID: id, BookID: book, Version: 1}); err != nil {
		t.Fatalf("second rejection: %v", err)
	}
	if err := svc.RejectReview(ctx, rating.Rejection{ReviewID: "x", BookID: book, Version: 1}); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("malformed id: %v", err)
	}
	if err := svc.RejectReview(ctx, rating.Rejection{ReviewID: id, BookID: book}); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("no version: %v", err)
	}
}

// TestRejectReviewOfAnUpdatedReview: the catalog rejects the first version
// it hears of; the author may have changed the review since, and the
// rejection still removes it.
func TestRejectReviewOfAnUpdatedReview(t *testing.T) {
	ctx := context.Background()
	svc, store, _ := newService(t)
	r := mustCreate(t, svc, alice, 3)
	if _, err := svc.UpdateReview(ctx, alice, r.ID(), "", rating.ReviewFields{Stars: 5}, []string{rating.FieldStars}); err != nil {
		t.Fatal(err)
	}
	if err := svc.RejectReview(ctx, rating.Rejection{ReviewID: r.ID(), BookID: r.Record().BookID, Version: 1}); err != nil {
		t.Fatal(err)
	}
	if store.removed[r.ID()] != rating.RemovedRejected {
		t.Fatalf("reason %v", store.removed[r.ID()])
	}
}

func TestListReviews(t *testing.T) {
	tests := []struct {
		name     string
		q        rating.ListReviewsQuery
		invalid  []string
		wantSize int
	}{
		{name: "defaults", q: rating.ListReviewsQuery{BookID: bookID}, wantSize: rating.DefaultPageSize},
		{name: "largest page", q: rating.ListReviewsQuery{BookID: bookID, PageSize: 100, Order: rating.OrderLowest}, wantSize: 100},
		{name: "too large", q: rating.ListReviewsQuery{BookID: bookID, PageSize: 101}, invalid: []string{"page_size"}},
		{name: "negative", q: rating.ListReviewsQuery{BookID: bookID, PageSize: -1}, invalid: []string{"page_size"}},
		{name: "bad book and order", q: rating.ListReviewsQuery{BookID: "b", Order: 9}, invalid: []string{"book_id", "order_by"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			svc, store, _ := newService(t)
			_, err := svc.ListReviews(context.Background(), tc.q)
			if tc.invalid != nil {
				got := fields(err)
				if len(got) != len(tc.invalid) {
					t.Fatalf("violations %v, want %v", got, tc.invalid)
				}
				if len(store.lists) != 0 {
					t.Fatal("an invalid query reached the store")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if store.lists[0].PageSize != tc.wantSize {
				t.Fatalf("page size %d, want %d", store.lists[0].PageSize, tc.wantSize)
			}
		})
	}
}

func TestSummaryUseCase(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := newService(t)
	mustCreate(t, svc, alice, 5)
	mustCreate(t, svc, bob, 2)
	s, err := svc.Summary(ctx, bookID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Count() != 2 || s.Sum() != 7 || s.Average() != 3.5 || s.Histogram != [5]int64{0, 1, 0, 0, 1} {
		t.Fatalf("summary %+v", s)
	}
	if _, err := svc.Summary(ctx, "nope"); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("malformed book id: %v", err)
	}
}
