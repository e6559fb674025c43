// Package ratingtest holds what tests of the rating context share: the
// contract every rating.ReviewStore must keep (RunReviewStore, watermill
// style: one suite that the Postgres store and the in-memory fake both
// pass, so the fake cannot drift from the real thing), and that fake
// (MemoryReviewStore) for the core's unit tests. Import it from tests only.
package ratingtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// MemoryReviewStore is a rating.ReviewStore in memory. It keeps the port's
// contract (RunReviewStore proves it) without announcing anything: the
// domain events a change raises stay on the Review (Review.Events).
type MemoryReviewStore struct {
	mu      sync.Mutex
	reviews map[string]rating.ReviewRecord
}

var _ rating.ReviewStore = (*MemoryReviewStore)(nil)

// NewMemoryReviewStore returns an empty store.
func NewMemoryReviewStore() *MemoryReviewStore {
	return &MemoryReviewStore{reviews: map[string]rating.ReviewRecord{}}
}

// CreateReview stores a new review; a second one of a book by one user is
// failure.ErrAlreadyExists.
func (m *MemoryReviewStore) CreateReview(_ context.Context, r *rating.Review) (*rating.Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec := r.Record()
	for _, o := range m.reviews {
		if o.BookID == rec.BookID && o.UserID == rec.UserID {
			return nil, failure.AlreadyExists("you have reviewed this book already; update or delete that review instead")
		}
	}
	if _, ok := m.reviews[rec.ID]; ok {
		return nil, failure.AlreadyExists("review %s already exists", rec.ID)
	}
	m.reviews[rec.ID] = rec
	return rating.RestoreReview(rec), nil
}

// UpdateReview applies update to the review, holding the store for the
// call as the Postgres store holds the row's lock.
func (m *MemoryReviewStore) UpdateReview(_ context.Context, id string, update func(*rating.Review) error) (*rating.Review, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.reviews[id]
	if !ok {
		return nil, failure.NotFound("review %s not found", id)
	}
	r := rating.RestoreReview(rec)
	if err := update(r); err != nil {
		return nil, err
	}
	m.reviews[id] = r.Record()
	return r, nil
}

// DeleteReview lets remove mark the review removed, then deletes it.
func (m *MemoryReviewStore) DeleteReview(_ context.Context, id string, remove func(*rating.Review) error) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	rec, ok := m.reviews[id]
	if !ok {
		return failure.NotFound("review %s not found", id)
	}
	r := rating.RestoreReview(rec)
	if err := remove(r); err != nil {
		return err
	}
	if _, gone := r.Removed(); !gone {
		return errors.New("memory review store: the remove closure did not remove review " + id)
	}
	delete(m.reviews, id)
	return nil
}

// less orders reviews as q.Order asks, ties newest first, then by id.
func less(o rating.Order, a, b rating.ReviewRecord) int {
	tie := func() int {
		if c := b.CreateTime.Compare(a.CreateTime); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	}
	switch o {
	case rating.OrderHighest:
		return cmp.Or(cmp.Compare(b.Stars, a.Stars), tie())
	case rating.OrderLowest:
		return cmp.Or(cmp.Compare(a.Stars, b.Stars), tie())
	}
	return tie()
}

// memoryToken is the page token of the review after which the next page
// starts, bound to the query.
func memoryToken(q rating.ListReviewsQuery, last rating.ReviewRecord) string {
	return fmt.Sprintf("%s|%d|%d|%d|%s", q.BookID, q.Order, last.Stars, last.CreateTime.UnixMicro(), last.ID)
}

func parseToken(q rating.ListReviewsQuery, token string) (rating.ReviewRecord, error) {
	bad := failure.Invalid("page_token", "is not a page token of this query")
	p := strings.Split(token, "|")
	if len(p) != 5 || p[0] != q.BookID || p[1] != strconv.Itoa(int(q.Order)) {
		return rating.ReviewRecord{}, bad
	}
	stars, err1 := strconv.Atoi(p[2])
	micros, err2 := strconv.ParseInt(p[3], 10, 64)
	if err1 != nil || err2 != nil {
		return rating.ReviewRecord{}, bad
	}
	var r rating.ReviewRecord
	r.Stars, r.CreateTime, r.ID = int32(stars), time.UnixMicro(micros).UTC(), p[4]
	return r, nil
}

// ListReviews returns one page of a book's reviews in the query's order.
func (m *MemoryReviewStore) ListReviews(_ context.Context, q rating.ListReviewsQuery) (rating.ReviewPage, error) {
	var after *rating.ReviewRecord
	if q.PageToken != "" {
		r, err := parseToken(q, q.PageToken)
		if err != nil {
			return rating.ReviewPage{}, err
		}
		after = &r
	}
	m.mu.Lock()
	var recs []rating.ReviewRecord
	for _, r := range m.reviews {
		if r.BookID == q.BookID && (after == nil || less(q.Order, *after, r) < 0) {
			recs = append(recs, r)
		}
	}
	m.mu.Unlock()
	slices.SortFunc(recs, func(a, b rating.ReviewRecord) int { return less(q.Order, a, b) })
	var page rating.ReviewPage
	for i, r := range recs {
		if i == q.PageSize {
			page.NextPageToken = memoryToken(q, recs[i-1])
			break
		}
		page.Reviews = append(page.Reviews, rating.RestoreReview(r))
	}
	return page, nil
}

// Summary counts the stars of a book's reviews.
func (m *MemoryReviewStore) Summary(_ context.Context, bookID string) (rating.Summary, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := rating.Summary{BookID: bookID}
	for _, r := range m.reviews {
		if r.BookID == bookID {
			s.Histogram[r.Stars-1]++
		}
	}
	return s, nil
}
