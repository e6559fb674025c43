package postgres

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// OutboxChannel is the LISTEN/NOTIFY channel on which Enqueue wakes the
// relay. The notification goes out when, and only if, the transaction that
// wrote the events commits.
const OutboxChannel = "bookworm_outbox"

// enqueueSQL inserts the events and notifies the relay in one round trip (a
// data-modifying CTE runs even when nothing reads it).
const enqueueSQL = `WITH ins AS (
	INSERT INTO outbox (event_id, type, source, occur_time, traceparent, tracestate, data)
	SELECT e.id, e.type, $3, $4, $5, $6, e.data
	  FROM unnest($1::uuid[], $2::text[], $7::bytea[]) WITH ORDINALITY AS e (id, type, data, ord)
	 ORDER BY e.ord
)
SELECT pg_notify('` + OutboxChannel + `', '')`

// Enqueue writes events to the transactional outbox inside tx: each event's
// row is committed or rolled back with the state change that caused it, and
// the relay publishes it to the broker after the commit. Each event gets a
// new UUIDv7 as its id (ce-id); its type (ce-type) is the message's protobuf
// full name, its source (ce-source) is source, for example
// "/bookworm/catalog", its time (ce-time) is now in UTC, its trace context
// is the span context of ctx (W3C traceparent and tracestate, empty when
// there is none), and its data is the binary protobuf encoding. Enqueue also
// notifies the relay (pg_notify on OutboxChannel), which Postgres delivers
// once per transaction at commit however many times it is called.
func Enqueue(ctx context.Context, tx pgx.Tx, source string, events ...proto.Message) error {
	if len(events) == 0 {
		return nil
	}
	if source == "" {
		return errors.New("outbox: empty event source")
	}
	ids := make([]string, len(events))
	types := make([]string, len(events))
	data := make([][]byte, len(events))
	for i, e := range events {
		if e == nil {
			return errors.New("outbox: nil event")
		}
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("outbox: event id: %w", err)
		}
		ids[i] = id.String()
		types[i] = string(e.ProtoReflect().Descriptor().FullName())
		if data[i], err = proto.Marshal(e); err != nil {
			return fmt.Errorf("outbox: marshal %s: %w", types[i], err)
		}
	}
	traceparent, tracestate := traceContext(ctx)
	if _, err := tx.Exec(ctx, enqueueSQL, ids, types, source, time.Now().UTC(), traceparent, tracestate, data); err != nil {
		return fmt.Errorf("outbox: enqueue %s: %w", strings.Join(types, ", "), err)
	}
	return nil
}

// traceContext returns the W3C traceparent and tracestate of the span
// context of ctx, or empty strings when it has none.
func traceContext(ctx context.Context) (traceparent, tracestate string) {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return "", ""
	}
	return "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-" + sc.TraceFlags().String(),
		sc.TraceState().String()
}

// ContextWithTraceParent returns ctx carrying the remote span context that
// a W3C traceparent (and its tracestate, which may be empty) describe, so
// that a consumer handling an event continues the producer's trace: the
// events it enqueues carry the same trace. An empty or malformed traceparent
// leaves ctx as it is.
func ContextWithTraceParent(ctx context.Context, traceparent, tracestate string) context.Context {
	// version "00": 00-<trace id, 32 hex>-<span id, 16 hex>-<flags, 2 hex>.
	parts := strings.Split(traceparent, "-")
	if len(parts) < 4 || len(parts[0]) != 2 || parts[0] == "ff" || (parts[0] == "00" && len(parts) != 4) {
		return ctx
	}
	traceID, err := trace.TraceIDFromHex(parts[1])
	if err != nil {
		return ctx
	}
	spanID, err := trace.SpanIDFromHex(parts[2])
	if err != nil {
		return ctx
	}
	flags, err := hex.DecodeString(parts[3])
	if err != nil || len(flags) != 1 {
		return ctx
	}
	state, err := trace.ParseTraceState(tracestate)
	if err != nil {
		state = trace.TraceState{}
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    traceID,
		SpanID:     spanID,
		TraceFlags: trace.TraceFlags(flags[0]),
		TraceState: state,
		Remote:     true,
	})
	if !sc.IsValid() {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}
