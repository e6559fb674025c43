package ratingstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// ReviewRejectionsConsumer is the inbox name of ReviewRejections.
const ReviewRejectionsConsumer = "rating.rejections"

// reviewRejectedType is the ce-type of the catalog's ReviewRejected.
var reviewRejectedType = events.TypeOf(&ratingv1.ReviewRejected{})

// ReviewRejections is the rating context's consumer of the catalog's
// ReviewRejected events: it removes each rejected review with the use case
// rating.RejectReview, over a review store bound to the inbox's transaction,
// so that the removal, its ReviewDeleted (reason rejected) and the inbox row
// commit together.
type ReviewRejections struct {
	now     func() time.Time
	handler events.Handler
}

// NewReviewRejections returns the consumer over pool. now may be nil for
// the wall clock.
func NewReviewRejections(pool *pgxpool.Pool, now func() time.Time) *ReviewRejections {
	if now == nil {
		now = time.Now
	}
	h := &ReviewRejections{now: now}
	h.handler = outbox.Handler(pool, ReviewRejectionsConsumer, h.apply)
	return h
}

// EventTypes are the event types ReviewRejections consumes.
func (h *ReviewRejections) EventTypes() []string { return []string{reviewRejectedType} }

// Handle removes the review a ReviewRejected event names, exactly once; it
// is the consumer's events.Handler (an inbox handler, outbox.Handler). A
// review that is gone already (its author deleted it meanwhile) needs
// nothing. A rejection that does not match its review (another book, a
// version the review never had) removes nothing and fails permanently.
func (h *ReviewRejections) Handle(ctx context.Context, msg events.Message) error {
	return h.handler(ctx, msg)
}

// apply removes the review of one ReviewRejected inside tx.
func (h *ReviewRejections) apply(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	if msg.Type != reviewRejectedType {
		return fmt.Errorf("review rejections: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
	}
	var m ratingv1.ReviewRejected
	if err := events.Decode(msg, &m); err != nil {
		return err
	}
	if !id.Valid(m.GetReviewId()) {
		return fmt.Errorf("review rejections: event %s: review_id %q is not a UUID", msg.ID, m.GetReviewId())
	}
	err := rating.RejectReview(ctx, NewReviews(tx), rating.Rejection{
		ReviewID: m.GetReviewId(), BookID: m.GetBookId(), Version: m.GetVersion(),
	}, h.now())
	if errors.Is(err, rating.ErrRejectionMismatch) || errors.Is(err, failure.ErrInvalid) {
		// No retry makes the rejection match: dead-letter it at once
		// (logged at ERROR, counted by the Guard) and keep the review.
		return events.Permanent(fmt.Errorf("review rejections: event %s: %w", msg.ID, err))
	}
	return err
}
