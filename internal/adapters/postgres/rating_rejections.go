package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// ReviewRejectionsConsumer is the inbox name of ReviewRejections.
const ReviewRejectionsConsumer = "rating.rejections"

// ReviewRejections is the rating context's consumer of the catalog's
// ReviewRejected events: it removes each rejected review through the
// rating.Service use case, whose store enqueues ReviewDeleted (reason
// rejected) in the same transaction as the removal and the inbox row.
type ReviewRejections struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewReviewRejections returns the consumer over pool. now may be nil for
// the wall clock.
func NewReviewRejections(pool *pgxpool.Pool, now func() time.Time) *ReviewRejections {
	return &ReviewRejections{pool: pool, now: now}
}

// EventTypes are the event types ReviewRejections consumes.
func (h *ReviewRejections) EventTypes() []string { return []string{reviewRejectedType} }

// Handle removes the review a ReviewRejected event names, exactly once; it
// is a rabbitmq.Handler. A review that is gone already (its author deleted
// it meanwhile) needs nothing.
func (h *ReviewRejections) Handle(ctx context.Context, msg rabbitmq.Message) error {
	if msg.Type != reviewRejectedType {
		return fmt.Errorf("review rejections: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
	}
	var m ratingv1.ReviewRejected
	if err := unmarshalEvent(msg, &m); err != nil {
		return err
	}
	if !rating.IsID(m.GetReviewId()) {
		return fmt.Errorf("review rejections: event %s: review_id %q is not a UUID", msg.ID, m.GetReviewId())
	}
	ctx = ContextWithTraceParent(ctx, msg.TraceParent, msg.TraceState)
	_, err := HandleOnce(ctx, h.pool, ReviewRejectionsConsumer, msg.ID, func(ctx context.Context, tx pgx.Tx) error {
		// The use cases over a store bound to the inbox's transaction (the
		// catalog is not needed to remove a review).
		return rating.NewService(reviewsIn(tx), nil, h.now).RejectReview(ctx, m.GetReviewId())
	})
	return err
}
