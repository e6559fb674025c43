package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// HandleOnce applies an event at most once per consumer: it runs fn inside
// one transaction together with recording (consumer, eventID) in the inbox.
// If the event was already recorded for this consumer, fn is not called and
// applied is false (the caller acks the message: its effects are in). If fn
// returns an error the transaction rolls back, nothing is recorded, and the
// error is returned as fn returned it (the caller lets the message be
// retried). fn may call Enqueue (or send a batch of EnqueueBatch) with tx,
// so that the events it causes are committed with its effects; HandleOnce
// then wakes the relays just after the commit, on the same connection.
//
// The inbox row is inserted first, with ON CONFLICT DO NOTHING: a copy of the
// same event handled concurrently waits on the row's unique index until the
// first copy's transaction ends, and then either finds it recorded (the
// first committed) or records it itself (the first rolled back). So effects
// are applied exactly once however often, and however concurrently, an
// event is delivered.
func HandleOnce(ctx context.Context, pool *pgxpool.Pool, consumer, eventID string, fn func(ctx context.Context, tx pgx.Tx) error) (applied bool, err error) {
	if consumer == "" || eventID == "" {
		return false, errors.New("inbox: empty consumer or event id")
	}
	// The events fn enqueues wake the relays after the commit, on the same
	// connection, rather than by a NOTIFY inside the transaction (see
	// WriteThenNotify).
	ctx, ann := withAnnouncer(ctx)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("inbox: event %s for %s: %w", eventID, consumer, err)
	}
	defer conn.Release()
	var fnErr error
	err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO events.inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
			consumer, eventID)
		if err != nil {
			return fmt.Errorf("inbox: record event %s for %s: %w", eventID, consumer, err)
		}
		if tag.RowsAffected() == 0 {
			events.MarkDuplicate(ctx) // the consumer's span and metrics say so
			return nil                // applied before
		}
		if fnErr = fn(ctx, tx); fnErr != nil {
			return fnErr
		}
		applied = true
		return nil
	})
	switch {
	case fnErr != nil:
		return false, fnErr
	case err != nil:
		return false, fmt.Errorf("inbox: event %s for %s: %w", eventID, consumer, err)
	}
	if applied && ann.enqueued {
		_ = sendNotes(context.WithoutCancel(ctx), conn, []Note{RelayNote})
	}
	return applied, nil
}

// Handler returns an events.Handler that applies each message at most
// once for consumer: it runs apply inside HandleOnce, keyed by the message's
// id, so that a duplicate is acked without calling apply (and reported as
// one to the consumer's telemetry) and a failure is retried. When ctx carries
// no trace (a handler called outside a consumer) it continues the producer's
// (ContextWithTraceParent); a consumer's span in ctx is left as it is.
func Handler(pool *pgxpool.Pool, consumer string, apply func(ctx context.Context, tx pgx.Tx, msg events.Message) error) events.Handler {
	return func(ctx context.Context, msg events.Message) error {
		if !trace.SpanContextFromContext(ctx).IsValid() {
			ctx = events.ContextWithTraceParent(ctx, msg.TraceParent, msg.TraceState)
		}
		_, err := HandleOnce(ctx, pool, consumer, msg.ID, func(ctx context.Context, tx pgx.Tx) error {
			return apply(ctx, tx, msg)
		})
		return err
	}
}

// PruneInbox deletes inbox rows recorded before olderThan, in chunks, and
// returns how many it deleted. An event delivered again after its row was
// pruned would be applied again, so keep rows longer than any redelivery can
// take (a message parked in a dead-letter queue and replayed by hand
// included).
func PruneInbox(ctx context.Context, pool *pgxpool.Pool, olderThan time.Time) (int64, error) {
	return pruneChunks(ctx, pool, `DELETE FROM events.inbox WHERE (consumer, event_id) IN (
		SELECT consumer, event_id FROM events.inbox WHERE handled_at < $1 LIMIT $2 FOR UPDATE SKIP LOCKED)`, olderThan)
}

// pruneChunk is how many rows one pruning statement deletes: small enough
// that a statement is quick, so pruning never holds locks or a snapshot
// for long.
const pruneChunk = 5000

// pruneChunks runs the delete statement sql (with the cut-off as $1 and the
// chunk size as $2) until it deletes less than a chunk.
func pruneChunks(ctx context.Context, pool *pgxpool.Pool, sql string, olderThan time.Time) (int64, error) {
	var total int64
	for {
		tag, err := pool.Exec(ctx, sql, olderThan, pruneChunk)
		if err != nil {
			return total, err
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneChunk {
			return total, nil
		}
	}
}
