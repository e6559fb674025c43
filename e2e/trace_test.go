package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	amqp "github.com/rabbitmq/amqp091-go"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/bookworm-store/bookworm/internal/adapters/observability/otlptest"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// The trace tests run servers of their own (own database, own exchange and
// queues) that export to a test OTLP/HTTP collector, so that every span of a
// review's trace comes from them and no other server of the run takes its
// events. They trust remote trace context (BOOKWORM_TRACE_TRUST_REMOTE), as
// a deployment whose processes continue each other's traces does.

// tracedDeployment is a deployment of one or more processes exporting to
// one collector.
type tracedDeployment struct {
	collector *otlptest.Collector
	exchange  string
	prefix    string
	// catalog serves the catalog, rating the rating service (the same
	// process in a single deployment).
	catalog, rating *server
}

// startTracedDeployment starts a deployment with tracing on: one process,
// or, split, a catalog process and a rating process.
func startTracedDeployment(t *testing.T, name string, split bool) *tracedDeployment {
	t.Helper()
	d := &tracedDeployment{collector: otlptest.Start()}
	t.Cleanup(d.collector.Close)
	dbURL, drop, err := pg.CreateDatabase(t.Context(), "bookworm_trace")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = drop() })
	d.prefix = "e2e-trace-" + strings.ToLower(token(8))
	d.exchange = d.prefix + ".events"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventsWait)
		defer cancel()
		_ = mq.DeleteTopology(ctx, d.prefix, d.exchange)
	})
	env := append(issuerEnv(),
		"BOOKWORM_RATE_LIMIT=false",
		"BOOKWORM_OTLP_ENDPOINT="+d.collector.URL,
		"BOOKWORM_TRACE_TRUST_REMOTE=true",
		"BOOKWORM_AMQP_EXCHANGE="+d.exchange,
		"BOOKWORM_AMQP_QUEUE_PREFIX="+d.prefix,
		"OTEL_BSP_SCHEDULE_DELAY=100", // export within a fraction of a second
	)
	start := func(name string, env ...string) *server {
		s, err := startServer(context.Background(), serverBin, dbURL, filepath.Join(serverTmp, name+".log"), env...)
		if err != nil {
			if s != nil {
				s.stop()
				s.dumpLogs()
			}
			t.Fatalf("starting %s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := s.stop(); err != nil {
				t.Errorf("%s: %v", name, err)
				s.dumpLogs()
			}
		})
		return s
	}
	if !split {
		d.catalog = start(name, env...)
		d.rating = d.catalog
		return d
	}
	d.catalog = start(name+"-catalog", append(slices.Clone(env), "BOOKWORM_CONTEXTS=catalog")...)
	d.rating = start(name+"-rating", append(slices.Clone(env), "BOOKWORM_CONTEXTS=rating", "BOOKWORM_CATALOG_URL="+d.catalog.baseURL)...)
	return d
}

// review creates a book on the deployment and a review of it, and returns
// the review.
func (d *tracedDeployment) review(t *testing.T) *ratingv1.Review {
	t.Helper()
	cat := catalogv1connect.NewCatalogServiceClient(h2cClient(t), d.catalog.baseURL, connect.WithInterceptors(bearer(adminToken)))
	book := newFixture(t, cat, 1).createBook(t)
	rc := ratingv1connect.NewRatingServiceClient(h2cClient(t), d.rating.baseURL, connect.WithInterceptors(bearer(userToken(t, "traced-"+token(8)))))
	r, err := createReview(rc, book.GetId(), 4, "Traced", "A review whose trace is followed.")
	if err != nil {
		t.Fatalf("CreateReview: %v", err)
	}
	return r
}

// waitSpan waits for a span matching match.
func (d *tracedDeployment) waitSpan(t *testing.T, what string, match func(otlptest.Span) bool) otlptest.Span {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), eventsWait)
	defer cancel()
	s, ok := d.collector.WaitFor(ctx, match)
	if !ok {
		t.Fatalf("no %s reached the collector; got:\n%s", what, describeSpans(d.collector.Spans()))
	}
	return s
}

// consumerSpan matches the catalog consumer's span of event id with outcome.
func (d *tracedDeployment) consumerSpan(id, outcome string) func(otlptest.Span) bool {
	return func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && strings.HasPrefix(s.Name, "process "+d.prefix) &&
			queueOfDeployment.MatchString(strings.TrimPrefix(s.Name, "process "+d.prefix)) &&
			s.Attributes["cloudevents.event_id"] == id && s.Attributes["bookworm.event.outcome"] == outcome
	}
}

func describeSpans(spans []otlptest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		fmt.Fprintf(&b, "  %s %s trace=%s span=%s parent=%s links=%v pid=%s %v\n", s.Kind, s.Name, s.TraceID, s.SpanID,
			s.ParentSpanID, s.Links, s.Resource["process.pid"], s.Attributes)
	}
	return b.String()
}

// reviewCreatedType is the ce-type of the review's event.
const reviewCreatedType = "bookworm.rating.v1.ReviewCreated"

// checkReviewTrace checks the one trace of a CreateReview: the RPC's server
// span is its root, its SQL spans are under it, the catalog consumer's span
// continues it (its parent a span of the trace) with its own SQL under it,
// and the relay's publish span links to it. It returns the consumer span.
func checkReviewTrace(t *testing.T, d *tracedDeployment) otlptest.Span {
	t.Helper()
	d.review(t)
	rpcName := strings.TrimPrefix(ratingv1connect.RatingServiceCreateReviewProcedure, "/")
	rpcSpan := d.waitSpan(t, "CreateReview server span", func(s otlptest.Span) bool {
		return s.Name == rpcName && s.Kind == tracepb.Span_SPAN_KIND_SERVER
	})
	if rpcSpan.ParentSpanID != "" {
		t.Errorf("the RPC span has parent %s; want the trace's root", rpcSpan.ParentSpanID)
	}
	consumer := d.waitSpan(t, "catalog consumer span", func(s otlptest.Span) bool {
		return s.TraceID == rpcSpan.TraceID && s.Kind == tracepb.Span_SPAN_KIND_CONSUMER
	})
	eventID := consumer.Attributes["cloudevents.event_id"]
	for k, want := range map[string]string{
		"cloudevents.event_type": reviewCreatedType,
		"bookworm.event.outcome": "applied",
		"bookworm.event.attempt": "1",
		"messaging.system":       "rabbitmq",
	} {
		if got := consumer.Attributes[k]; got != want {
			t.Errorf("consumer span %s = %q, want %q", k, got, want)
		}
	}
	// The catalog's queue: <prefix>.<deployment>.catalog.
	if q := consumer.Attributes["messaging.destination.name"]; !queueOfDeployment.MatchString(strings.TrimPrefix(q, d.prefix)) {
		t.Errorf("consumer span messaging.destination.name = %q, want %s.<deployment>.catalog", q, d.prefix)
	}
	// The consumer's SQL comes in the same export as its span or soon
	// after: wait for its COMMIT.
	d.waitSpan(t, "the consumer's COMMIT", func(s otlptest.Span) bool {
		return s.ParentSpanID == consumer.SpanID && s.Name == "COMMIT"
	})
	publish := d.waitSpan(t, "relay publish span", func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_PRODUCER && slices.Contains(strings.Split(s.Attributes["bookworm.event.ids"], ","), eventID)
	})

	spans := d.collector.Spans()
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		if s.TraceID == rpcSpan.TraceID {
			byID[s.SpanID] = s
		}
	}
	// under reports whether span descends from ancestor within the trace.
	under := func(s otlptest.Span, ancestor string) bool {
		for i := 0; i < 100 && s.ParentSpanID != ""; i++ {
			if s.ParentSpanID == ancestor {
				return true
			}
			s = byID[s.ParentSpanID]
		}
		return false
	}
	var rpcSQL, consumerSQL []string
	for _, s := range byID {
		if s.Attributes["db.system.name"] != "postgresql" {
			continue
		}
		if strings.Contains(s.Attributes["db.query.text"], "traced-") || strings.Contains(s.Attributes["db.query.text"], "whose trace") {
			t.Errorf("SQL span %s holds a parameter value: %q", s.Name, s.Attributes["db.query.text"])
		}
		switch {
		case s.ParentSpanID == consumer.SpanID:
			consumerSQL = append(consumerSQL, s.Name)
		case under(s, rpcSpan.SpanID) && !under(s, consumer.SpanID):
			rpcSQL = append(rpcSQL, s.Name)
		}
	}
	if !slices.Contains(rpcSQL, "INSERT") || !slices.Contains(rpcSQL, "COMMIT") {
		t.Errorf("SQL spans under the RPC %v; want its INSERT and COMMIT at least", rpcSQL)
	}
	if !slices.Contains(consumerSQL, "BEGIN") || !slices.Contains(consumerSQL, "INSERT") || !slices.Contains(consumerSQL, "COMMIT") {
		t.Errorf("SQL spans under the consumer %v; want its BEGIN, INSERT (inbox) and COMMIT", consumerSQL)
	}
	if !under(consumer, rpcSpan.SpanID) {
		t.Errorf("consumer span's parent %s is not under the RPC span %s:\n%s", consumer.ParentSpanID, rpcSpan.SpanID, describeSpans(spans))
	}
	if i := slices.Index(publish.Links, rpcSpan.TraceID); i < 0 || byID[publish.LinkedSpans[i]].SpanID == "" {
		t.Errorf("publish span links %v / %v; want a link to a span of the review's trace %s", publish.Links, publish.LinkedSpans, rpcSpan.TraceID)
	}
	if publish.Attributes["messaging.destination.name"] != d.exchange {
		t.Errorf("publish span destination %q, want %q", publish.Attributes["messaging.destination.name"], d.exchange)
	}
	return consumer
}

// queueOfDeployment matches what follows the prefix in a context's queue
// name: the deployment's 12 hex digits and the catalog context.
var queueOfDeployment = regexp.MustCompile(`^\.[0-9a-f]{12}\.catalog$`)

// TestReviewTrace: one CreateReview yields one trace holding the RPC span,
// its SQL, the catalog consumer's span and its SQL, with a link from the
// relay's publish span; a redelivered copy of the event shows as a second
// consumer span with outcome duplicate, poison messages as dead-lettered;
// the consumer's log records carry its span; the event metrics count them.
func TestReviewTrace(t *testing.T) {
	d := startTracedDeployment(t, "trace", false)
	consumer := checkReviewTrace(t, d)
	eventID := consumer.Attributes["cloudevents.event_id"]
	// The copies come from this deployment (another's would be dropped
	// unread, before any span of a handler).
	source := consumer.Attributes["cloudevents.event_source"]

	conn, err := amqp.Dial(mq.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	publish := func(id string, headers amqp.Table, body []byte) {
		t.Helper()
		h := amqp.Table{"ce-specversion": "1.0", "ce-id": id, "ce-type": reviewCreatedType, "ce-source": source,
			"ce-time": time.Now().UTC().Format(time.RFC3339Nano)}
		for k, v := range headers {
			if v == nil {
				delete(h, k)
			} else {
				h[k] = v
			}
		}
		if err := ch.PublishWithContext(t.Context(), d.exchange, reviewCreatedType, true, false,
			amqp.Publishing{Headers: h, ContentType: "application/protobuf", MessageId: id, Body: body}); err != nil {
			t.Fatal(err)
		}
	}

	// A copy of the event, as a relay that crashed before marking it would
	// publish it again: the inbox drops it.
	parent := "00-" + consumer.TraceID + "-" + consumer.ParentSpanID + "-01"
	publish(eventID, amqp.Table{"traceparent": parent}, []byte{})
	dup := d.waitSpan(t, "duplicate consumer span", d.consumerSpan(eventID, "duplicate"))
	if dup.TraceID != consumer.TraceID || dup.ParentSpanID != consumer.ParentSpanID || dup.SpanID == consumer.SpanID {
		t.Errorf("duplicate span in trace %s under %s; want a second span under %s in %s", dup.TraceID, dup.ParentSpanID, consumer.ParentSpanID, consumer.TraceID)
	}

	// Poison: data that is no ReviewCreated, on its last attempt (the
	// retry path's attempt count says four failed before), and a message
	// without the CloudEvents attributes, dead-lettered at once.
	const poisonTrace = "5d2c1a0b9e8f7a6b5c4d3e2f1a0b9c8d"
	poisonID, malformedID := newID(), newID()
	publish(poisonID, amqp.Table{"traceparent": "00-" + poisonTrace + "-1a2b3c4d5e6f7a8b-01", "bookworm-attempts": int32(4)}, []byte("\xff\xff not protobuf"))
	publish(malformedID, amqp.Table{"ce-specversion": nil, "ce-source": nil}, []byte("x"))
	poison := d.waitSpan(t, "dead-lettered consumer span", d.consumerSpan(poisonID, "dead-lettered"))
	if poison.TraceID != poisonTrace || poison.Attributes["bookworm.event.attempt"] != "5" || poison.Status != tracepb.Status_STATUS_CODE_ERROR {
		t.Errorf("poison span trace %s attempt %s status %v; want trace %s, attempt 5, an error",
			poison.TraceID, poison.Attributes["bookworm.event.attempt"], poison.Status, poisonTrace)
	}
	d.waitSpan(t, "malformed message's span", d.consumerSpan(malformedID, "dead-lettered"))

	// The consumer's log record of the failure carries the span.
	pollUntil(t, "the handler failure is logged with its trace", func() bool {
		b, _ := os.ReadFile(d.catalog.logPath)
		for line := range strings.SplitSeq(string(b), "\n") {
			if strings.Contains(line, `"event_id":"`+poisonID+`"`) && strings.Contains(line, "rabbitmq handler failed") {
				if !strings.Contains(line, `"trace_id":"`+poisonTrace+`"`) || !strings.Contains(line, `"span_id":"`+poison.SpanID+`"`) {
					t.Fatalf("handler failure logged without the consumer span %s/%s: %s", poisonTrace, poison.SpanID, line)
				}
				return true
			}
		}
		return false
	})

	samples := scrape(t, d.catalog.metricsAddr)
	queue := poison.Attributes["messaging.destination.name"] // <prefix>.<deployment>.catalog
	// The malformed message is counted under the type it claims (its
	// routing key bound it to the queue).
	for outcome, want := range map[string]float64{"applied": 1, "duplicate": 1, "dead-lettered": 2} {
		got, _ := value(samples, "bookworm_events_handled_total", map[string]string{"queue": queue, "type": reviewCreatedType, "outcome": outcome})
		if got != want {
			t.Errorf("bookworm_events_handled_total{%s, %s} = %v, want %v", reviewCreatedType, outcome, got, want)
		}
	}
	if got, _ := value(samples, "bookworm_events_lag_seconds_count", map[string]string{"queue": queue, "type": reviewCreatedType}); got != 1 {
		t.Errorf("bookworm_events_lag_seconds_count = %v, want 1 (the applied event)", got)
	}
	if got, _ := value(samples, "bookworm_events_handling_duration_seconds_count", map[string]string{"queue": queue, "type": reviewCreatedType}); got != 4 {
		t.Errorf("bookworm_events_handling_duration_seconds_count = %v, want 4", got)
	}
}

// TestReviewTraceAcrossProcesses: the same trace when the catalog and the
// rating context run in two processes: the rating process's RPC span, its
// gRPC call to the catalog process (whose server span continues the trace),
// and the catalog process's consumer span, in one trace.
func TestReviewTraceAcrossProcesses(t *testing.T) {
	d := startTracedDeployment(t, "trace-split", true)
	consumer := checkReviewTrace(t, d)
	getBook := strings.TrimPrefix(catalogv1connect.CatalogServiceGetBookProcedure, "/")
	server := d.waitSpan(t, "the catalog process's GetBook server span", func(s otlptest.Span) bool {
		return s.TraceID == consumer.TraceID && s.Name == getBook && s.Kind == tracepb.Span_SPAN_KIND_SERVER
	})
	pids := map[string]bool{}
	for _, s := range d.collector.Spans() {
		if s.TraceID == consumer.TraceID {
			pids[s.Resource["process.pid"]] = true
		}
	}
	if len(pids) != 2 || server.ParentSpanID == "" || server.Resource["process.pid"] != consumer.Resource["process.pid"] {
		t.Errorf("trace spans from processes %v; GetBook server span under %q from %s, consumer from %s: want both processes in one trace",
			pids, server.ParentSpanID, server.Resource["process.pid"], consumer.Resource["process.pid"])
	}
}
