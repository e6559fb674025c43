package rating

import (
	"github.com/bookworm-store/bookworm/internal/core/failure"

	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// Page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Order is the order of ListReviews. Ties (equal stars) are broken newest
// first, then by id.
type Order int

// The orders.
const (
	// OrderNewest lists the most recent reviews first.
	OrderNewest Order = iota
	// OrderHighest lists the reviews with the most stars first.
	OrderHighest
	// OrderLowest lists the reviews with the fewest stars first.
	OrderLowest
)

// ListReviewsQuery asks for one page of a book's reviews.
type ListReviewsQuery struct {
	BookID   string
	Order    Order
	PageSize int
	// PageToken is the previous page's NextPageToken; adapters define its
	// content and return failure.Invalid("page_token", ...) for a token
	// they did not make or that belongs to another query.
	PageToken string
}

// ReviewPage is one page of reviews.
type ReviewPage struct {
	Reviews       []*Review
	NextPageToken string
}

func (q ListReviewsQuery) normalize() (ListReviewsQuery, error) {
	var v failure.Violations
	if !coreid.Valid(q.BookID) {
		v.Add("book_id", "must be a UUID")
	}
	switch {
	case q.PageSize == 0:
		q.PageSize = DefaultPageSize
	case q.PageSize < 0 || q.PageSize > MaxPageSize:
		v.Add("page_size", "must be between 0 and 100")
	}
	if q.Order < OrderNewest || q.Order > OrderLowest {
		v.Add("order_by", "unknown order")
	}
	return q, v.Err()
}

// Summary is the rating summary of a book: how many reviews gave each number
// of stars. Every figure derives from these exact counts.
type Summary struct {
	BookID string
	// Histogram[i] is the number of reviews with i+1 stars.
	Histogram [MaxStars]int64
}

// Count returns the number of reviews.
func (s Summary) Count() int64 {
	var n int64
	for _, c := range s.Histogram {
		n += c
	}
	return n
}

// Sum returns the sum of the stars of every review.
func (s Summary) Sum() int64 {
	var sum int64
	for i, c := range s.Histogram {
		sum += int64(i+1) * c
	}
	return sum
}

// Average returns Sum / Count, computed once from the exact integers (the
// catalog derives a book's rating average the same way, so both agree to
// the last bit); 0 without reviews.
func (s Summary) Average() float64 {
	n := s.Count()
	if n == 0 {
		return 0
	}
	return float64(s.Sum()) / float64(n)
}
