package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// CatalogRatingsConsumer is the inbox name of CatalogRatings.
const CatalogRatingsConsumer = "catalog.ratings"

// The review events, by ce-type.
var (
	reviewCreatedType  = string(proto.MessageName(&ratingv1.ReviewCreated{}))
	reviewUpdatedType  = string(proto.MessageName(&ratingv1.ReviewUpdated{}))
	reviewDeletedType  = string(proto.MessageName(&ratingv1.ReviewDeleted{}))
	reviewRejectedType = string(proto.MessageName(&ratingv1.ReviewRejected{}))
)

// CatalogRatings is the catalog's consumer of the rating context's review
// events: it keeps every book's rating_sum and rating_count exact. Each event
// is applied in one transaction with its inbox row (HandleOnce), so a copy
// delivered again changes nothing; per review it remembers what it counted
// and the last version applied (catalog_review_tallies), so events arriving
// out of order are applied by catalog.ApplyReviewEvent as if in order. A
// review that reaches the catalog after its book was deleted is not counted;
// the catalog enqueues ReviewRejected for it instead, in the same
// transaction, and the rating context removes the review.
type CatalogRatings struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

// NewCatalogRatings returns the consumer over pool. now may be nil for the
// wall clock.
func NewCatalogRatings(pool *pgxpool.Pool, now func() time.Time) *CatalogRatings {
	if now == nil {
		now = time.Now
	}
	return &CatalogRatings{pool: pool, now: now}
}

// EventTypes are the event types CatalogRatings consumes (the bindings of
// the catalog's queue).
func (c *CatalogRatings) EventTypes() []string {
	return []string{reviewCreatedType, reviewUpdatedType, reviewDeletedType}
}

// Handle applies one review event exactly once; it is a rabbitmq.Handler.
// It returns an error, and commits nothing, when the event cannot be read or
// applied (the message is then retried and finally dead-lettered).
func (c *CatalogRatings) Handle(ctx context.Context, msg rabbitmq.Message) error {
	e, err := decodeReviewEvent(msg)
	if err != nil {
		return err
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("catalog ratings: event %s (%s): %w", msg.ID, msg.Type, err)
	}
	ctx = ContextWithTraceParent(ctx, msg.TraceParent, msg.TraceState)
	_, err = HandleOnce(ctx, c.pool, CatalogRatingsConsumer, msg.ID, func(ctx context.Context, tx pgx.Tx) error {
		return c.apply(ctx, tx, e)
	})
	return err
}

// decodeReviewEvent reads what the catalog needs of a review event.
func decodeReviewEvent(msg rabbitmq.Message) (e catalog.ReviewEvent, err error) {
	defer func() { e.ReviewID, e.BookID = strings.ToLower(e.ReviewID), strings.ToLower(e.BookID) }()
	switch msg.Type {
	case reviewCreatedType:
		var m ratingv1.ReviewCreated
		if err := unmarshalEvent(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewCreated, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetStars()}, nil
	case reviewUpdatedType:
		var m ratingv1.ReviewUpdated
		if err := unmarshalEvent(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewUpdated, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetNewStars()}, nil
	case reviewDeletedType:
		var m ratingv1.ReviewDeleted
		if err := unmarshalEvent(msg, &m); err != nil {
			return catalog.ReviewEvent{}, err
		}
		return catalog.ReviewEvent{Change: catalog.ReviewDeleted, ReviewID: m.GetReviewId(), BookID: m.GetBookId(),
			Version: m.GetVersion(), Stars: m.GetOldStars()}, nil
	}
	return catalog.ReviewEvent{}, fmt.Errorf("catalog ratings: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
}

// unmarshalEvent decodes the data of msg into m, as binary protobuf or, for
// content type application/json, as protobuf JSON.
func unmarshalEvent(msg rabbitmq.Message, m proto.Message) error {
	var err error
	if msg.ContentType == rabbitmq.ContentTypeJSON {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(msg.Data, m)
	} else {
		err = proto.Unmarshal(msg.Data, m)
	}
	if err != nil {
		return fmt.Errorf("event %s: cannot decode %s: %w", msg.ID, msg.Type, err)
	}
	return nil
}

// rejectReasons maps the core's reasons to the event's.
var rejectReasons = map[catalog.RejectReason]ratingv1.ReviewRejected_Reason{
	catalog.RejectedBookNotFound: ratingv1.ReviewRejected_REASON_BOOK_NOT_FOUND,
	catalog.RejectedBookDeleted:  ratingv1.ReviewRejected_REASON_BOOK_DELETED,
}

// apply applies one review event inside tx. Locks are taken in one order,
// the review's tally and then the book, so concurrent events never
// deadlock; the book's lock also orders the event after (or before) a
// concurrent DeleteBook.
func (c *CatalogRatings) apply(ctx context.Context, tx pgx.Tx, e catalog.ReviewEvent) error {
	// A placeholder row (state 0, unseen) makes the tally lockable before
	// the first event of a review is applied; it is rolled back with a
	// failed event.
	if _, err := tx.Exec(ctx, `INSERT INTO catalog_review_tallies (review_id, book_id, state, stars, version)
		VALUES ($1, $2, 0, 0, 0) ON CONFLICT (review_id) DO NOTHING`, e.ReviewID, e.BookID); err != nil {
		return err
	}
	cur := catalog.ReviewTally{}
	var state, stars int16
	if err := tx.QueryRow(ctx, `SELECT review_id::text, book_id::text, state, stars, version
		FROM catalog_review_tallies WHERE review_id = $1 FOR UPDATE`, e.ReviewID).
		Scan(&cur.ReviewID, &cur.BookID, &state, &stars, &cur.Version); err != nil {
		return err
	}
	cur.State, cur.Stars = catalog.TallyState(state), int32(stars)

	presence := catalog.BookMissing
	var deleteTime *time.Time
	err := tx.QueryRow(ctx, `SELECT delete_time FROM books WHERE id = $1 FOR NO KEY UPDATE`, e.BookID).Scan(&deleteTime)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case deleteTime != nil:
		presence = catalog.BookDeleted
	default:
		presence = catalog.BookLive
	}

	out, err := catalog.ApplyReviewEvent(cur, e, presence)
	if err != nil || out.Stale {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE catalog_review_tallies SET state = $2, stars = $3, version = $4 WHERE review_id = $1`,
		e.ReviewID, int16(out.Next.State), int16(out.Next.Stars), out.Next.Version); err != nil {
		return err
	}
	if out.SumDelta != 0 || out.CountDelta != 0 {
		// The rating is derived data: the book's version (its etag) stays,
		// so a review never makes an admin's pending UpdateBook fail.
		if _, err := tx.Exec(ctx, `UPDATE books SET rating_sum = rating_sum + $2, rating_count = rating_count + $3
			WHERE id = $1`, e.BookID, out.SumDelta, out.CountDelta); err != nil {
			return err
		}
		if err := NotifyBookChanged(ctx, tx, e.BookID); err != nil {
			return err
		}
	}
	if out.Reject != catalog.NotRejected {
		return Enqueue(ctx, tx, CatalogSource, &ratingv1.ReviewRejected{
			ReviewId:  e.ReviewID,
			BookId:    e.BookID,
			Version:   out.Next.Version,
			Reason:    rejectReasons[out.Reject],
			OccurTime: timestamppb.New(c.now().UTC()),
		})
	}
	return nil
}
