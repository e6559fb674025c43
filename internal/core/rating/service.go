package rating

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
)

// Service holds the Rating use cases. Writes take the caller as an
// identity.Principal; the transport puts it there after checking the
// contract's access rule, and the use cases check ownership themselves.
type Service struct {
	reviews ReviewStore
	books   BookChecker
	now     func() time.Time
	newID   func() string
	// summaries, when set, writes review summaries with a model.
	summaries *summaries
}

// NewService returns the use cases over the given ports. now may be nil for
// the wall clock.
func NewService(reviews ReviewStore, books BookChecker, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	// Stores keep microseconds; cutting here keeps what a write returns
	// equal to what a later read returns.
	return &Service{reviews: reviews, books: books, now: func() time.Time { return now().UTC().Truncate(time.Microsecond) }, newID: coreid.New}
}

// errSignIn is what an anonymous caller gets from a write.
var errSignIn = fmt.Errorf("%w: sign in required", failure.ErrUnauthenticated)

// notFound is the one answer for a review that is missing or belongs to
// somebody else, so nobody learns which.
func notFound(id string) error { return identity.OwnerNotFound("review", id) }

// CreateReview stores the caller's review of bookID. The book must exist
// and not be deleted (failure.ErrNotFound otherwise); a second review of
// the same book by the caller is failure.ErrAlreadyExists.
func (s *Service) CreateReview(ctx context.Context, p identity.Principal, bookID string, fields ReviewFields) (*Review, error) {
	if !p.Authenticated() {
		return nil, errSignIn
	}
	r, err := NewReview(s.newID(), bookID, p, fields, s.now())
	if err != nil {
		return nil, err
	}
	ok, err := s.books.BookExists(ctx, r.Record().BookID)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, failure.NotFound("book %s not found", bookID)
	}
	return s.reviews.CreateReview(ctx, r)
}

// UpdateReview sets the fields named in paths of one of the caller's
// reviews. Another user's review is failure.ErrNotFound, admin or not; when
// etag is not empty and differs from the review's, it fails with
// failure.ErrConflict.
func (s *Service) UpdateReview(ctx context.Context, p identity.Principal, id, etag string, fields ReviewFields, paths []string) (*Review, error) {
	if !p.Authenticated() {
		return nil, errSignIn
	}
	if !coreid.Valid(id) {
		return nil, failure.Invalid("id", "must be a UUID")
	}
	r, err := s.reviews.UpdateReview(ctx, coreid.Canonical(id), func(r *Review) error {
		if !p.Owns(r.UserID()) {
			return notFound(id)
		}
		if etag != "" && etag != r.Etag() {
			return failure.Conflict("review %s has changed since etag %s", id, etag)
		}
		return r.Apply(fields, paths, s.now())
	})
	return r, s.hideMissing(err, id)
}

// DeleteReview removes a review: the caller's own, or anyone's for an admin
// (a moderation). For anybody else the review is failure.ErrNotFound.
func (s *Service) DeleteReview(ctx context.Context, p identity.Principal, id string) error {
	if !p.Authenticated() {
		return errSignIn
	}
	if !coreid.Valid(id) {
		return failure.Invalid("id", "must be a UUID")
	}
	err := s.reviews.DeleteReview(ctx, coreid.Canonical(id), func(r *Review) error {
		if !p.MayAct(r.UserID(), identity.RoleAdmin) {
			return notFound(id)
		}
		reason := RemovedByAuthor
		if !p.Owns(r.UserID()) {
			reason = RemovedByModerator
		}
		return r.Remove(reason, s.now())
	})
	return s.hideMissing(err, id)
}

// hideMissing words a store's not-found like the ownership check's, so a
// missing review and another user's read the same.
func (s *Service) hideMissing(err error, id string) error {
	if err != nil && errors.Is(err, failure.ErrNotFound) {
		return notFound(id)
	}
	return err
}

// Rejection is the catalog's refusal to count one review: the review, the
// book the catalog was told it is of, and the version of the review it
// saw first.
type Rejection struct {
	ReviewID string
	BookID   string
	Version  int64
}

// ErrRejectionMismatch reports a rejection that does not describe the
// review it names: another book, or a version the review never had. It is
// an anomaly (an event from elsewhere, a corrupted or forged one): the
// review is kept, since removing it is destructive and its premise fails.
var ErrRejectionMismatch = errors.New("the rejection does not match the review")

// RejectReview removes a review the catalog could not count (its book was
// deleted before the review reached the catalog). It is the system acting,
// not a user. A review that is gone already is fine: the author may have
// deleted it meanwhile, or the rejection is handled a second time.
func (s *Service) RejectReview(ctx context.Context, rej Rejection) error {
	return RejectReview(ctx, s.reviews, rej, s.now())
}

// RejectReview is the use case Service.RejectReview over reviews alone: the
// rating context's consumer of the catalog's rejections runs it on a store
// bound to its inbox transaction, and needs nothing else of a Service (no
// BookChecker: a rejection never asks the catalog).
//
// The review is removed only when the rejection matches it: the same book,
// and a version the review has reached (the catalog rejects the first
// version it hears of, and the author may have changed the review since,
// so a later version still stands rejected; a version beyond the review's
// was never published by it). Otherwise it fails with ErrRejectionMismatch
// and changes nothing.
func RejectReview(ctx context.Context, reviews ReviewStore, rej Rejection, now time.Time) error {
	var v failure.Violations
	if !coreid.Valid(rej.ReviewID) {
		v.Add("review_id", "must be a UUID")
	}
	if !coreid.Valid(rej.BookID) {
		v.Add("book_id", "must be a UUID")
	}
	if rej.Version < 1 {
		v.Add("version", "must be at least 1")
	}
	if err := v.Err(); err != nil {
		return err
	}
	now = now.UTC().Truncate(time.Microsecond)
	err := reviews.DeleteReview(ctx, coreid.Canonical(rej.ReviewID), func(r *Review) error {
		switch {
		case r.rec.BookID != coreid.Canonical(rej.BookID):
			return fmt.Errorf("review %s is of book %s, the rejection names book %s: %w",
				r.rec.ID, r.rec.BookID, rej.BookID, ErrRejectionMismatch)
		case rej.Version > r.rec.Version:
			return fmt.Errorf("review %s is at version %d, the rejection names version %d: %w",
				r.rec.ID, r.rec.Version, rej.Version, ErrRejectionMismatch)
		}
		return r.Remove(RemovedRejected, now)
	})
	if errors.Is(err, failure.ErrNotFound) {
		return nil
	}
	return err
}

// ListReviews returns one page of a book's reviews.
func (s *Service) ListReviews(ctx context.Context, q ListReviewsQuery) (ReviewPage, error) {
	q, err := q.normalize()
	if err != nil {
		return ReviewPage{}, err
	}
	q.BookID = coreid.Canonical(q.BookID)
	return s.reviews.ListReviews(ctx, q)
}

// Summary returns the rating summary of a book: an empty one for a book
// without reviews, whether the catalog knows it or not.
func (s *Service) Summary(ctx context.Context, bookID string) (Summary, error) {
	if !coreid.Valid(bookID) {
		return Summary{}, failure.Invalid("book_id", "must be a UUID")
	}
	return s.reviews.Summary(ctx, coreid.Canonical(bookID))
}
