package rating

import "context"

// ReviewStore stores reviews and announces every change. Each write commits
// the review together with the event that tells the other contexts about it
// (ReviewCreated, ReviewUpdated or ReviewDeleted carrying the review's new
// version), and keeps the book's Summary in step, in one transaction.
// Implementations must be safe for concurrent use.
type ReviewStore interface {
	// CreateReview stores a new review. A review of the same book by the
	// same user is failure.ErrAlreadyExists.
	CreateReview(ctx context.Context, r *Review) (*Review, error)
	// UpdateReview loads the review, calls update on it and stores the
	// result in one transaction; it stores and publishes nothing when
	// update left the version as it was. When another change committed in
	// between it returns failure.ErrConflict. A missing review is
	// failure.ErrNotFound ("review <id> not found"); errors from update are
	// returned as they are.
	UpdateReview(ctx context.Context, id string, update func(*Review) error) (*Review, error)
	// DeleteReview loads the review and calls remove on it, which must
	// either fail or mark it removed (Review.Remove); the review is then
	// deleted, in one transaction. A missing review is failure.ErrNotFound;
	// errors from remove are returned as they are.
	DeleteReview(ctx context.Context, id string, remove func(*Review) error) error
	// ListReviews returns one page of a book's reviews; the query is valid.
	ListReviews(ctx context.Context, q ListReviewsQuery) (ReviewPage, error)
	// Summary returns the rating summary of a book; an empty one when the
	// book has no reviews.
	Summary(ctx context.Context, bookID string) (Summary, error)
}

// BookChecker asks the catalog about books. The rating context reaches the
// catalog only through it (in process, or over the network when the contexts
// run apart).
type BookChecker interface {
	// BookExists reports whether the book exists and is not deleted.
	BookExists(ctx context.Context, bookID string) (bool, error)
}
