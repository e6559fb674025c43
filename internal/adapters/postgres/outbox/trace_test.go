package outbox

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// confirmAll is a Publisher the broker confirms everything of, named like
// the RabbitMQ one.
type confirmAll struct{}

func (confirmAll) PublishBatch(_ context.Context, msgs []events.Message) ([]bool, error) {
	ok := make([]bool, len(msgs))
	for i := range ok {
		ok[i] = true
	}
	return ok, nil
}

func (confirmAll) Destination() (string, string) { return "rabbitmq", "bookworm.events" }

// TestRelayBatchSpan: a relay with a tracer provider makes one producer span
// per batch that claimed events, listing their ids and linking to the span
// each was produced in; a batch that claims nothing makes none.
func TestRelayBatchSpan(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	r := NewRelay(pool, confirmAll{}, RelayConfig{TracerProvider: tp, Logger: pgtest.DiscardLog()})

	if n, err := r.RelayBatch(ctx); err != nil || n != 0 {
		t.Fatalf("empty outbox: %d, %v", n, err)
	}
	if len(exp.GetSpans()) != 0 {
		t.Fatalf("a batch that claimed nothing made %d spans", len(exp.GetSpans()))
	}

	producing, producer := tp.Tracer("test").Start(ctx, "CreateBook")
	if err := enqueueIn(producing, pool, false, &catalogv1.BookCreated{BookId: "b1"}, &catalogv1.BookCreated{BookId: "b2"}); err != nil {
		t.Fatal(err)
	}
	producer.End()
	exp.Reset()
	if n, err := r.RelayBatch(ctx); err != nil || n != 2 {
		t.Fatalf("relayed %d, %v; want 2", n, err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the batch's", len(spans))
	}
	s := spans[0]
	if s.Name != "publish bookworm.events" || s.SpanKind != trace.SpanKindProducer || s.Parent.IsValid() {
		t.Errorf("span %q kind %v parent %v", s.Name, s.SpanKind, s.Parent)
	}
	if len(s.Links) != 1 || s.Links[0].SpanContext.SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("links %v, want one to the producing span", s.Links)
	}
	rows := outboxRows(t, pool)
	var ids string
	for _, kv := range s.Attributes {
		if kv.Key == events.EventIDs {
			ids = strings.Join(kv.Value.AsStringSlice(), ",")
		}
	}
	if ids != rows[0].id+","+rows[1].id {
		t.Errorf("event ids %q, want the batch's", ids)
	}
}

// TestHandleOnceMarksDuplicates: the inbox tells the delivery's telemetry
// (through ctx) that an event was applied before.
func TestHandleOnceMarksDuplicates(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	inboxEffects(t, pool)
	var calls atomic.Int64
	tel := &events.Telemetry{}
	for _, want := range []events.Outcome{events.OutcomeApplied, events.OutcomeDuplicate} {
		hctx, h := tel.StartHandling(ctx, "q", events.Message{ID: "e1"})
		if _, err := HandleOnce(hctx, pool, "catalog", "e1", effect(&calls, "catalog", "e1")); err != nil {
			t.Fatal(err)
		}
		if got := h.Succeeded(); got != want {
			t.Errorf("outcome %s, want %s", got, want)
		}
	}
}
