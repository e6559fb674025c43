package ratingstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// RatingSource is the context part of the ce-source of the events the
// rating context publishes ("bookworm://<deployment>/rating", see
// outbox.Enqueue).
const RatingSource = "rating"

// removeReasons maps the core's removal reasons to the event's.
var removeReasons = map[rating.RemoveReason]ratingv1.ReviewDeleted_Reason{
	rating.RemovedByAuthor:    ratingv1.ReviewDeleted_REASON_AUTHOR,
	rating.RemovedByModerator: ratingv1.ReviewDeleted_REASON_MODERATION,
	rating.RemovedRejected:    ratingv1.ReviewDeleted_REASON_REJECTED,
}

// enqueue serializes the rating context's domain events (the core decides
// which a change raises) to the contract's messages and writes them to the
// outbox in tx.
func enqueue(ctx context.Context, tx pgx.Tx, evs []rating.Event) error {
	msgs := make([]proto.Message, 0, len(evs))
	for _, e := range evs {
		m, err := eventMessage(e)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	return outbox.Enqueue(ctx, tx, RatingSource, msgs...)
}

// eventMessage is the contract's message of one domain event.
func eventMessage(e rating.Event) (proto.Message, error) {
	switch e := e.(type) {
	case rating.ReviewCreated:
		r := e.Review
		return &ratingv1.ReviewCreated{
			ReviewId:  r.ID,
			BookId:    r.BookID,
			UserId:    r.UserID,
			Version:   r.Version,
			Stars:     r.Stars,
			Title:     r.Title,
			Body:      r.Body,
			OccurTime: timestamppb.New(r.CreateTime),
		}, nil
	case rating.ReviewUpdated:
		r := e.Review
		return &ratingv1.ReviewUpdated{
			ReviewId:  r.ID,
			BookId:    r.BookID,
			UserId:    r.UserID,
			Version:   r.Version,
			OldStars:  e.OldStars,
			NewStars:  r.Stars,
			Title:     r.Title,
			Body:      r.Body,
			OccurTime: timestamppb.New(r.UpdateTime),
		}, nil
	case rating.ReviewDeleted:
		r := e.Review
		return &ratingv1.ReviewDeleted{
			ReviewId:  r.ID,
			BookId:    r.BookID,
			UserId:    r.UserID,
			Version:   r.Version,
			OldStars:  e.OldStars,
			Reason:    removeReasons[e.Reason],
			OccurTime: timestamppb.New(r.UpdateTime),
		}, nil
	}
	return nil, fmt.Errorf("rating store: no message for the event %T", e)
}
