package events

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Outcome is how the handling of one delivered message ended.
type Outcome string

// The outcomes of a delivery.
const (
	// OutcomeApplied: the handler committed the event's effects.
	OutcomeApplied Outcome = "applied"
	// OutcomeDuplicate: the handler found the event applied before (its
	// inbox row exists) and changed nothing; the message is acked.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeRetried: the handler failed and the message waits for another
	// attempt.
	OutcomeRetried Outcome = "retried"
	// OutcomeDeadLettered: the message is malformed, or the handler failed
	// its last attempt; it is parked in the dead-letter queue.
	OutcomeDeadLettered Outcome = "dead-lettered"
	// OutcomeInterrupted: the consumer stopped at once while handling; the
	// message stays unacknowledged and is delivered again.
	OutcomeInterrupted Outcome = "interrupted"
	// OutcomeForeign: another deployment published the event; it was
	// dropped unread (Guard) and acked.
	OutcomeForeign Outcome = "foreign"
)

// Handled describes one delivery a consumer handled, for metrics.
type Handled struct {
	// Queue is the queue the message came from, Type its event type
	// (empty when the message was malformed).
	Queue, Type string
	Outcome     Outcome
	// Duration is the time from delivery to settlement (handler, ack or
	// move to another queue).
	Duration time.Duration
	// Lag is the time from the event's ce-time to its settlement: the
	// end-to-end latency of the event. Zero when the message had no time.
	Lag time.Duration
}

// HandlingObserver hears every delivery consumers handle (observability
// turns them into metrics without knowing the broker). Handled must be
// cheap and safe for concurrent use.
type HandlingObserver interface {
	Handled(Handled)
}

// Telemetry is how consumers report their work: a span per delivery and an
// observation per delivery. The zero value reports nothing and costs
// nothing but a clock read per delivery.
type Telemetry struct {
	// TracerProvider starts the consumer spans; nil starts none.
	TracerProvider trace.TracerProvider
	// TrustRemote makes a consumer span the child of the producer's span
	// that the message's traceparent names, so that the event's handling
	// is part of the trace that caused it. Without it the span starts a new
	// trace linked to the producer's: anyone who can publish to the broker
	// could otherwise pick trace ids and force sampling. It is the same
	// setting as RPCs' (BOOKWORM_TRACE_TRUST_REMOTE).
	TrustRemote bool
	// System is the messaging.system of the spans ("rabbitmq").
	System string
	// Observer hears each delivery; nil hears nothing.
	Observer HandlingObserver
}

// tracerName is the instrumentation scope of the event spans.
const tracerName = "github.com/bookworm-store/bookworm/internal/adapters/events"

// Handling is one delivery being handled, from StartHandling to End.
type Handling struct {
	t         *Telemetry
	span      trace.Span // nil when no span was started
	queue     string
	typ       string
	start     time.Time
	eventTime time.Time
	duplicate atomic.Bool
	foreign   atomic.Bool
}

// handlingKey is the context key of the Handling of a delivery.
type handlingKey struct{}

// StartHandling begins the handling of msg, delivered from queue (msg may
// be partial when the delivery was malformed). The returned context is the
// handler's: it carries the consumer span (or, when no span is started, the
// producer's trace context, so that logs and the events the handler
// enqueues stay in the producer's trace) and the Handling, so that the inbox
// can report a duplicate (MarkDuplicate). End the Handling once the
// delivery is settled.
func (t *Telemetry) StartHandling(ctx context.Context, queue string, msg Message) (context.Context, *Handling) {
	h := &Handling{t: t, queue: queue, typ: msg.Type, start: time.Now(), eventTime: msg.Time}
	ctx = context.WithValue(ctx, handlingKey{}, h)
	if t.TracerProvider == nil {
		return ContextWithTraceParent(ctx, msg.TraceParent, msg.TraceState), h
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String(t.System),
			semconv.MessagingOperationName("process"),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingDestinationName(queue),
			semconv.MessagingMessageID(msg.ID),
			attribute.String("cloudevents.event_id", msg.ID),
			attribute.String("cloudevents.event_type", msg.Type),
			attribute.String("cloudevents.event_source", msg.Source),
			attribute.Int("bookworm.event.attempt", msg.Attempt),
		),
	}
	parent := trace.SpanContextFromContext(ContextWithTraceParent(context.Background(), msg.TraceParent, msg.TraceState))
	switch {
	case !parent.IsValid():
	case t.TrustRemote:
		ctx = trace.ContextWithRemoteSpanContext(ctx, parent)
	default:
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: parent}))
	}
	ctx, h.span = t.TracerProvider.Tracer(tracerName).Start(ctx, "process "+queue, opts...)
	return ctx, h
}

// MarkDuplicate records, in the Handling ctx carries, that the event was
// applied before and the handler changed nothing. The inbox calls it; it
// does nothing when ctx carries no Handling.
func MarkDuplicate(ctx context.Context) {
	if h, ok := ctx.Value(handlingKey{}).(*Handling); ok {
		h.duplicate.Store(true)
	}
}

// MarkForeign records, in the Handling ctx carries, that the event came
// from another deployment and was dropped unread. The Guard calls it.
func MarkForeign(ctx context.Context) {
	if h, ok := ctx.Value(handlingKey{}).(*Handling); ok {
		h.foreign.Store(true)
	}
}

// Succeeded is the outcome of a handler that returned nil: applied,
// duplicate when the inbox said so, or foreign when the Guard dropped it.
func (h *Handling) Succeeded() Outcome {
	if h.foreign.Load() {
		return OutcomeForeign
	}
	if h.duplicate.Load() {
		return OutcomeDuplicate
	}
	return OutcomeApplied
}

// End ends the handling with outcome; err is the handler's error (or why
// the message is malformed), nil on success.
func (h *Handling) End(outcome Outcome, err error) {
	now := time.Now()
	if h.span != nil {
		h.span.SetAttributes(attribute.String("bookworm.event.outcome", string(outcome)))
		if err != nil {
			h.span.RecordError(err)
		}
		if outcome == OutcomeRetried || outcome == OutcomeDeadLettered {
			h.span.SetStatus(codes.Error, string(outcome))
		}
		h.span.End()
	}
	if h.t.Observer != nil {
		var lag time.Duration
		if !h.eventTime.IsZero() {
			lag = max(now.Sub(h.eventTime), 0)
		}
		h.t.Observer.Handled(Handled{Queue: h.queue, Type: h.typ, Outcome: outcome, Duration: now.Sub(h.start), Lag: lag})
	}
}

// EventIDs is the attribute of a publish span listing the ids of the events
// of its batch.
const EventIDs = attribute.Key("bookworm.event.ids")

// Destination is what a Publisher may also offer to name where it publishes,
// for the spans of the batches published through it: the messaging system
// ("rabbitmq") and the destination (the exchange).
type Destination interface {
	Destination() (system, name string)
}

// StartPublish starts the producer span of one batch of msgs published
// through pub (named after its Destination when it has one), with tp: a new
// trace (a batch mixes the events of many
// traces) linked to the span that produced each event. It returns ctx
// unchanged and a nil span when tp is nil.
func StartPublish(ctx context.Context, tp trace.TracerProvider, pub Publisher, msgs []Message) (context.Context, trace.Span) {
	if tp == nil {
		return ctx, nil
	}
	system, destination := "", "events"
	if d, ok := pub.(Destination); ok {
		system, destination = d.Destination()
	}
	ids := make([]string, len(msgs))
	links := make([]trace.Link, 0, len(msgs))
	seen := make(map[string]bool, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
		if m.TraceParent == "" || seen[m.TraceParent] {
			continue // one link per producing span
		}
		seen[m.TraceParent] = true
		sc := trace.SpanContextFromContext(ContextWithTraceParent(context.Background(), m.TraceParent, m.TraceState))
		if sc.IsValid() {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	return tp.Tracer(tracerName).Start(ctx, "publish "+destination,
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithLinks(links...),
		trace.WithAttributes(
			semconv.MessagingSystemKey.String(system),
			semconv.MessagingOperationName("publish"),
			semconv.MessagingOperationTypeSend,
			semconv.MessagingDestinationName(destination),
			semconv.MessagingBatchMessageCount(len(msgs)),
			EventIDs.StringSlice(ids),
		))
}
