package catalogstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// CatalogRatingsConsumer is the inbox name of CatalogRatings.
const CatalogRatingsConsumer = "catalog.ratings"

// The review events the catalog consumes, by ce-type.
var (
	reviewCreatedType = events.TypeOf(&ratingv1.ReviewCreated{})
	reviewUpdatedType = events.TypeOf(&ratingv1.ReviewUpdated{})
	reviewDeletedType = events.TypeOf(&ratingv1.ReviewDeleted{})
)

// CatalogRatings is the catalog's consumer of the rating context's review
// events: it keeps every book's rating_sum and rating_count exact. Each event
// is applied in one transaction with its inbox row (outbox.HandleOnce), so a copy
// delivered again changes nothing; per review it remembers what it counted
// and the last version applied (catalog.review_tallies), so events arriving
// out of order are applied by catalog.ApplyReviewEvent as if in order. A
// review that reaches the catalog after its book was deleted is not counted;
// the catalog enqueues ReviewRejected for it instead, in the same
// transaction, and the rating context removes the review. A review of a
// book the catalog never had is an anomaly, not a rejection: its event
// fails permanently (events.Permanent) and is dead-lettered.
type CatalogRatings struct {
	now     func() time.Time
	handler events.Handler
}

// NewCatalogRatings returns the consumer over pool. now may be nil for the
// wall clock.
func NewCatalogRatings(pool *pgxpool.Pool, now func() time.Time) *CatalogRatings {
	if now == nil {
		now = time.Now
	}
	c := &CatalogRatings{now: now}
	c.handler = outbox.Handler(pool, CatalogRatingsConsumer, c.applyMessage)
	return c
}

// EventTypes are the event types CatalogRatings consumes (the bindings of
// the catalog's queue).
func (c *CatalogRatings) EventTypes() []string {
	return []string{reviewCreatedType, reviewUpdatedType, reviewDeletedType}
}

// Handle applies one review event exactly once; it is the consumer's
// events.Handler (an inbox handler, outbox.Handler). It returns an error,
// and commits nothing, when the event cannot be read or applied (the
// message is then retried and finally dead-lettered).
func (c *CatalogRatings) Handle(ctx context.Context, msg events.Message) error {
	return c.handler(ctx, msg)
}

// applyMessage reads one review event and applies it inside tx.
func (c *CatalogRatings) applyMessage(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	e, err := decodeReviewEvent(msg)
	if err != nil {
		return err
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("catalog ratings: event %s (%s): %w", msg.ID, msg.Type, err)
	}
	return c.apply(ctx, tx, e)
}

// decodeReviewEvent reads what the catalog needs of a review event.
func decodeReviewEvent(msg events.Message) (e catalog.ReviewEvent, err error) {
	defer func() { e.ReviewID, e.BookID = coreid.Canonical(e.ReviewID), coreid.Canonical(e.BookID) }()
	switch msg.Type {
	case reviewCreatedType:
		var m ratingv1.ReviewCreated
		if err := events.Decode(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewCreated, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetStars()}, nil
	case reviewUpdatedType:
		var m ratingv1.ReviewUpdated
		if err := events.Decode(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewUpdated, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetNewStars()}, nil
	case reviewDeletedType:
		var m ratingv1.ReviewDeleted
		if err := events.Decode(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewDeleted, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetOldStars()}, nil
	}
	return catalog.ReviewEvent{}, fmt.Errorf("catalog ratings: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
}

// rejectReasons maps the core's reasons to the event's.
var rejectReasons = map[catalog.RejectReason]ratingv1.ReviewRejected_Reason{
	catalog.RejectedBookDeleted: ratingv1.ReviewRejected_REASON_BOOK_DELETED,
}

// apply applies one review event inside tx. Locks are taken in one order,
// the review's tally and then the book, so concurrent events never
// deadlock; the book's lock also orders the event after (or before) a
// concurrent DeleteBook.
func (c *CatalogRatings) apply(ctx context.Context, tx pgx.Tx, e catalog.ReviewEvent) error {
	// A placeholder row (state 0, unseen) makes the tally lockable before
	// the first event of a review is applied; it is rolled back with a
	// failed event.
	if _, err := tx.Exec(ctx, `INSERT INTO catalog.review_tallies (review_id, book_id, state, stars, version)
		VALUES ($1, $2, 0, 0, 0) ON CONFLICT (review_id) DO NOTHING`, e.ReviewID, e.BookID); err != nil {
		return err
	}
	cur := catalog.ReviewTally{}
	var state, stars int16
	if err := tx.QueryRow(ctx, `SELECT review_id::text, book_id::text, state, stars, version
		FROM catalog.review_tallies WHERE review_id = $1 FOR UPDATE`, e.ReviewID).
		Scan(&cur.ReviewID, &cur.BookID, &state, &stars, &cur.Version); err != nil {
		return err
	}
	cur.State, cur.Stars = catalog.TallyState(state), int32(stars)

	presence := catalog.BookMissing
	var deleteTime *time.Time
	err := tx.QueryRow(ctx, `SELECT delete_time FROM catalog.books WHERE id = $1 FOR NO KEY UPDATE`, e.BookID).Scan(&deleteTime)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case deleteTime != nil:
		presence = catalog.BookGone
	default:
		presence = catalog.BookLive
	}

	out, err := catalog.ApplyReviewEvent(cur, e, presence)
	if errors.Is(err, catalog.ErrUnknownBook) {
		// No retry makes the book known: dead-letter the event at once
		// for an operator to look at (the consumer logs it at ERROR and
		// the Guard counts it), and reject nothing.
		return events.Permanent(fmt.Errorf("catalog ratings: %w", err))
	}
	if err != nil || out.Stale {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE catalog.review_tallies SET state = $2, stars = $3, version = $4 WHERE review_id = $1`,
		e.ReviewID, int16(out.Next.State), int16(out.Next.Stars), out.Next.Version); err != nil {
		return err
	}
	if out.SumDelta != 0 || out.CountDelta != 0 {
		// The rating is derived data: the book's version (its etag) stays,
		// so a review never makes an admin's pending UpdateBook fail.
		if _, err := tx.Exec(ctx, `UPDATE catalog.books SET rating_sum = rating_sum + $2, rating_count = rating_count + $3
			WHERE id = $1`, e.BookID, out.SumDelta, out.CountDelta); err != nil {
			return err
		}
		if err := NotifyBookChanged(ctx, tx, e.BookID); err != nil {
			return err
		}
	}
	if out.Reject != catalog.NotRejected {
		return outbox.Enqueue(ctx, tx, CatalogSource, &ratingv1.ReviewRejected{
			ReviewId:  e.ReviewID,
			BookId:    e.BookID,
			Version:   out.Next.Version,
			Reason:    rejectReasons[out.Reject],
			OccurTime: timestamppb.New(c.now().UTC()),
		})
	}
	return nil
}
