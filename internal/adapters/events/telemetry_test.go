package events

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

const (
	producerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	producerSpan  = "00f067aa0ba902b7"
)

type recordingObserver struct {
	mu  sync.Mutex
	got []Handled
}

func (o *recordingObserver) Handled(h Handled) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, h)
}

func newRecorder() (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	exp := tracetest.NewInMemoryExporter()
	return exp, sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
}

func testMessage() Message {
	m := NewMessage("bookworm.test.v1.Happened", "/bookworm/test", nil)
	m.TraceParent = "00-" + producerTrace + "-" + producerSpan + "-01"
	m.Time = time.Now().Add(-time.Second)
	m.Attempt = 2
	return m
}

func TestStartHandling(t *testing.T) {
	tests := []struct {
		name        string
		trust       bool
		duplicate   bool
		outcome     func(*Handling) Outcome
		wantOutcome Outcome
	}{
		{"trusted, applied", true, false, (*Handling).Succeeded, OutcomeApplied},
		{"trusted, duplicate", true, true, (*Handling).Succeeded, OutcomeDuplicate},
		{"untrusted, dead-lettered", false, false, func(*Handling) Outcome { return OutcomeDeadLettered }, OutcomeDeadLettered},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			exp, tp := newRecorder()
			obs := &recordingObserver{}
			tel := &Telemetry{TracerProvider: tp, TrustRemote: tt.trust, System: "rabbitmq", Observer: obs}
			msg := testMessage()
			ctx, h := tel.StartHandling(context.Background(), "bookworm.catalog", msg)
			inner := trace.SpanContextFromContext(ctx)
			if tt.duplicate {
				MarkDuplicate(ctx)
			}
			var err error
			if tt.wantOutcome == OutcomeDeadLettered {
				err = errors.New("cannot decode")
			}
			h.End(tt.outcome(h), err)

			spans := exp.GetSpans()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			s := spans[0]
			if s.SpanContext.SpanID() != inner.SpanID() {
				t.Error("the handler's context does not carry the consumer span")
			}
			if s.SpanKind != trace.SpanKindConsumer || s.Name != "process bookworm.catalog" {
				t.Errorf("span %q kind %v, want a consumer span named process bookworm.catalog", s.Name, s.SpanKind)
			}
			if tt.trust {
				if s.Parent.TraceID().String() != producerTrace || s.Parent.SpanID().String() != producerSpan || len(s.Links) != 0 {
					t.Errorf("trusted: parent %v links %d, want the producer's span as parent", s.Parent, len(s.Links))
				}
			} else {
				if s.Parent.IsValid() || s.SpanContext.TraceID().String() == producerTrace || len(s.Links) != 1 ||
					s.Links[0].SpanContext.TraceID().String() != producerTrace {
					t.Errorf("untrusted: parent %v trace %s links %v, want a new root linking the producer", s.Parent, s.SpanContext.TraceID(), s.Links)
				}
			}
			attrs := map[string]string{}
			for _, kv := range s.Attributes {
				attrs[string(kv.Key)] = kv.Value.Emit()
			}
			for k, want := range map[string]string{
				"bookworm.event.outcome":     string(tt.wantOutcome),
				"bookworm.event.attempt":     "2",
				"cloudevents.event_id":       msg.ID,
				"cloudevents.event_type":     msg.Type,
				"messaging.destination.name": "bookworm.catalog",
				"messaging.system":           "rabbitmq",
			} {
				if attrs[k] != want {
					t.Errorf("attribute %s = %q, want %q", k, attrs[k], want)
				}
			}
			if len(obs.got) != 1 {
				t.Fatalf("%d observations, want 1", len(obs.got))
			}
			o := obs.got[0]
			if o.Outcome != tt.wantOutcome || o.Type != msg.Type || o.Queue != "bookworm.catalog" || o.Lag < time.Second || o.Duration <= 0 {
				t.Errorf("observed %+v", o)
			}
		})
	}
}

// Without a tracer provider no span starts, yet the handler's context
// carries the producer's trace (for logs and the events it enqueues) and
// duplicates are still observed.
func TestStartHandlingWithoutTracing(t *testing.T) {
	obs := &recordingObserver{}
	tel := &Telemetry{Observer: obs}
	ctx, h := tel.StartHandling(context.Background(), "q", testMessage())
	if sc := trace.SpanContextFromContext(ctx); sc.TraceID().String() != producerTrace || !sc.IsRemote() {
		t.Errorf("context carries %v, want the producer's remote span context", sc)
	}
	MarkDuplicate(ctx)
	h.End(h.Succeeded(), nil)
	if len(obs.got) != 1 || obs.got[0].Outcome != OutcomeDuplicate {
		t.Errorf("observed %+v, want one duplicate", obs.got)
	}
	MarkDuplicate(context.Background()) // no Handling: nothing happens
}

type namedPublisher struct{}

func (namedPublisher) PublishBatch(context.Context, []Message) ([]bool, error) { return nil, nil }
func (namedPublisher) Destination() (string, string)                           { return "rabbitmq", "bookworm.events" }

func TestStartPublish(t *testing.T) {
	exp, tp := newRecorder()
	a, b, c := testMessage(), testMessage(), testMessage()
	c.TraceParent = "" // produced outside a trace
	ctx := trace.ContextWithSpanContext(context.Background(), trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1}, SpanID: trace.SpanID{1}, TraceFlags: trace.FlagsSampled}))
	_, span := StartPublish(ctx, tp, namedPublisher{}, []Message{a, b, c})
	span.End()
	s := exp.GetSpans()[0]
	if s.Name != "publish bookworm.events" || s.SpanKind != trace.SpanKindProducer || s.Parent.IsValid() {
		t.Errorf("span %q kind %v parent %v, want a producer root span named publish bookworm.events", s.Name, s.SpanKind, s.Parent)
	}
	// a and b share their producing span: one link.
	if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != producerTrace {
		t.Errorf("links %v, want one to the producer", s.Links)
	}
	for _, kv := range s.Attributes {
		if kv.Key == EventIDs {
			if got := kv.Value.AsStringSlice(); len(got) != 3 || got[0] != a.ID || got[2] != c.ID {
				t.Errorf("event ids %v", got)
			}
			return
		}
	}
	t.Error("no event ids")
}

func TestStartPublishWithoutTracing(t *testing.T) {
	ctx := context.Background()
	got, span := StartPublish(ctx, nil, namedPublisher{}, []Message{testMessage()})
	if got != ctx || span != nil {
		t.Error("StartPublish without a provider started something")
	}
}

type nopObserver struct{}

func (nopObserver) Handled(Handled) {}

// BenchmarkHandlingTelemetry is the telemetry's own cost per delivery, the
// handler aside: off (no provider: the producer's trace context and the
// observation only) and on (a consumer span of a real SDK provider, batched
// to an exporter that drops them).
func BenchmarkHandlingTelemetry(b *testing.B) {
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	defer sdk.Shutdown(context.Background())
	msg := testMessage()
	for _, c := range []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"on", sdk}} {
		tel := &Telemetry{TracerProvider: c.tp, TrustRemote: true, System: "rabbitmq", Observer: nopObserver{}}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ctx, h := tel.StartHandling(context.Background(), "bookworm.catalog", msg)
				MarkDuplicate(ctx)
				h.End(h.Succeeded(), nil)
			}
		})
	}
}

// An event another deployment published is dropped by the Guard and
// observed as foreign, not applied: the handled metric tells them apart.
func TestGuardMarksForeignEvents(t *testing.T) {
	obs := &recordingObserver{}
	tel := &Telemetry{Observer: obs}
	g, err := NewGuard("0195f3a0-0000-7000-8000-000000000001", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	called := false
	h := g.Handler(func(context.Context, Message) error { called = true; return nil })
	msg := testMessage()
	msg.Source = Source("0195f3a0-0000-7000-8000-000000000002", "rating")
	ctx, hd := tel.StartHandling(context.Background(), "q", msg)
	if err := h(ctx, msg); err != nil {
		t.Fatal(err)
	}
	hd.End(hd.Succeeded(), nil)
	if called || len(obs.got) != 1 || obs.got[0].Outcome != OutcomeForeign {
		t.Errorf("handler called %v, observed %+v; want one foreign and no handler", called, obs.got)
	}
}
