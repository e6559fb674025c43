package flows

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"syscall"
	"testing"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// The tracing benchmarks run the same work with tracing off (what the
// server installs without BOOKWORM_OTLP_ENDPOINT: no pool tracer, no
// otelconnect, consumer telemetry without a provider) and on (a real SDK
// tracer provider sampling everything, its batch processor feeding an
// exporter), one after the other in one run, on the real Postgres:
//
//	go test -run '^$' -bench TracingOverhead -benchtime 2s ./internal/adapters/flows

// processCPU is the CPU time (user and system) this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the process's CPU time per operation since start as
// cpu-ns/op: on a busy machine wall time per op mostly measures the wait for
// Postgres and for a core, while the CPU BookWorm's side spends (tracing
// included: spans, the batch processor, garbage collection) is what tracing
// adds to.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
}

// tracingModes are the two setups compared: nil is tracing off.
func tracingModes(b *testing.B) []struct {
	name string
	tp   trace.TracerProvider
} {
	// The exporter drops what it gets, as an OTLP exporter forgets what it
	// sent: an in-memory one would keep every span, and the growing heap
	// would bill the garbage collector's work to tracing.
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	return []struct {
		name string
		tp   trace.TracerProvider
	}{{"off", nil}, {"on", sdk}}
}

// benchPool opens a pool on a fresh database as the server does, traced
// with tp when it is not nil.
func benchPool(b *testing.B, tp trace.TracerProvider) *ratingFixture {
	b.Helper()
	name := pgtest.NewDatabase(b)
	pool, err := postgres.Open(context.Background(), pgtest.URL(name), pgtest.DiscardLog(), postgres.Options{TracerProvider: tp})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	books := catalogstore.NewBooks(pool)
	f := &ratingFixture{fixture: newFixture(b, pool, books)}
	f.entities = catalogstore.NewEntities(pool)
	f.svc = rating.NewService(ratingstore.NewReviews(pool), checkBooks{books}, nil)
	f.ratings = catalogstore.NewCatalogRatings(pool, nil)
	return f
}

// benchUser is the header the benchmark's stand-in for authentication
// reads the caller from: every review needs a reviewer of its own.
const benchUser = "Bench-User"

// BenchmarkTracingOverheadCreateReview is a CreateReview over Connect
// (JSON, in process, no network) through the server's interceptors and the
// rating store: validation, the book check, the insert and its outbox row
// in one transaction.
func BenchmarkTracingOverheadCreateReview(b *testing.B) {
	for _, mode := range tracingModes(b) {
		b.Run(mode.name, func(b *testing.B) {
			f := benchPool(b, mode.tp)
			bookID := f.book()
			metrics, err := observability.NewMetrics("bench")
			if err != nil {
				b.Fatal(err)
			}
			var outer []connect.Interceptor
			if mode.tp != nil {
				tracing, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(mode.tp), otelconnect.WithoutMetrics())
				if err != nil {
					b.Fatal(err)
				}
				outer = append(outer, tracing)
			}
			outer = append(outer, metrics.RPCInterceptor())
			authn := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
				return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
					p := identity.Principal{Subject: req.Header().Get(benchUser), Roles: []string{identity.RoleUser}}
					return next(identity.WithPrincipal(ctx, p), req)
				}
			})
			routes, err := rpc.NewRoutes(rpc.Options{
				Log:               pgtest.DiscardLog(),
				Services:          []rpc.Service{rpc.RatingService(f.svc)},
				OuterInterceptors: outer,
				Interceptors:      []connect.Interceptor{authn},
				MaxRequestBytes:   1 << 20,
			})
			if err != nil {
				b.Fatal(err)
			}
			h := routes.Handler(1 << 20)
			body := fmt.Appendf(nil, `{"bookId":%q,"review":{"stars":4,"title":"Worth reading","body":"A review of a realistic length, a sentence or two."}}`, bookID)
			n := 0
			b.ReportAllocs()
			cpu := processCPU(b)
			for b.Loop() {
				n++
				req := httptest.NewRequest(http.MethodPost, ratingv1connect.RatingServiceCreateReviewProcedure, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set(benchUser, fmt.Sprintf("bench-%s-%d", mode.name, n))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
			reportCPU(b, cpu)
		})
	}
}

// BenchmarkTracingOverheadConsumer is the catalog's handling of one
// ReviewCreated as a consumer runs it (the broker aside): the delivery's
// telemetry (span, metrics) around the inbox transaction that counts the
// review into its book.
func BenchmarkTracingOverheadConsumer(b *testing.B) {
	for _, mode := range tracingModes(b) {
		b.Run(mode.name, func(b *testing.B) {
			f := benchPool(b, mode.tp)
			bookID := f.book()
			tel := &events.Telemetry{TracerProvider: mode.tp, TrustRemote: true, System: "rabbitmq", Observer: observability.NewEventMetrics()}
			producer := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
			ctx := context.Background()
			b.ReportAllocs()
			cpu := processCPU(b)
			// Making the message is a few microseconds in both modes.
			for b.Loop() {
				msg, err := events.NewProtoMessage("/bookworm/rating", &ratingv1.ReviewCreated{
					ReviewId: coreid.New(), BookId: bookID, Version: 1, Stars: 4})
				if err != nil {
					b.Fatal(err)
				}
				msg.TraceParent, msg.Attempt = producer, 1
				hctx, h := tel.StartHandling(ctx, "bookworm.catalog", msg)
				if err := f.ratings.Handle(hctx, msg); err != nil {
					b.Fatal(err)
				}
				h.End(h.Succeeded(), nil)
			}
			reportCPU(b, cpu)
		})
	}
}
