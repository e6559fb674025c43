package observability

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"github.com/go-logr/logr"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// ServiceName is the service.name of BookWorm's traces.
const ServiceName = "bookworm"

// maxSpanLinks is how many links a span keeps: one per event of the largest
// outbox relay batch.
const maxSpanLinks = 10_000

// TracingConfig says where traces go.
type TracingConfig struct {
	// Endpoint is the base URL of an OTLP/HTTP receiver, for example
	// http://127.0.0.1:4318; spans are posted to Endpoint/v1/traces (or to
	// Endpoint itself when its path already ends in /v1/traces). Empty
	// disables tracing.
	Endpoint string
	// SampleRatio is the share of new traces recorded, 0..1. Calls that
	// arrive with a parent keep the parent's decision when TrustRemote is
	// set.
	SampleRatio float64
	// TrustRemote makes a server span the child of the trace context the
	// caller sent. Without it (the right choice for a public API, whose
	// callers could pick trace ids and force sampling) a call starts a new
	// trace linked to the caller's.
	TrustRemote bool
	// Version and Environment are the service.version and
	// deployment.environment.name of every span.
	Version     string
	Environment string
}

// Tracing is the server's OpenTelemetry tracer provider and propagator. When
// tracing is disabled the provider is a no-op one and Interceptor is nil, so
// that disabled tracing costs nothing on a call.
type Tracing struct {
	provider    trace.TracerProvider
	sdk         *sdktrace.TracerProvider // nil when disabled
	propagator  propagation.TextMapPropagator
	interceptor connect.Interceptor
	trustRemote bool
}

// NewTracing builds the tracer provider of cfg: a batching OTLP/HTTP
// exporter when cfg.Endpoint is set, a no-op provider otherwise. Because
// OpenTelemetry reports its own failures (an unreachable collector, say)
// through process-wide hooks, an enabled NewTracing points those hooks at
// log, so that they come out as JSON records like everything else.
func NewTracing(ctx context.Context, cfg TracingConfig, log *slog.Logger) (*Tracing, error) {
	t := &Tracing{
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}
	if cfg.Endpoint == "" {
		t.provider = noop.NewTracerProvider()
		return t, nil
	}
	endpoint, err := tracesURL(cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	if cfg.SampleRatio < 0 || cfg.SampleRatio > 1 {
		return nil, fmt.Errorf("trace sample ratio %v is not within 0..1", cfg.SampleRatio)
	}
	otelLog := log.With(slog.String("component", "opentelemetry"))
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		otelLog.Warn("telemetry export", slog.Any("error", err))
	}))
	otel.SetLogger(logr.FromSlogHandler(otelLog.Handler()))

	exporter, err := otlptracehttp.New(ctx,
		otlptracehttp.WithEndpointURL(endpoint),
		otlptracehttp.WithTimeout(10*time.Second),
	)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	attrs := []resource.Option{
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(semconv.ServiceName(ServiceName), semconv.ServiceVersion(cfg.Version)),
		resource.WithTelemetrySDK(),
		resource.WithHost(),
		resource.WithProcessPID(),
	}
	if cfg.Environment != "" {
		attrs = append(attrs, resource.WithAttributes(semconv.DeploymentEnvironmentNameKey.String(cfg.Environment)))
	}
	res, err := resource.New(ctx, attrs...)
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))
	// A relay batch's span links to the producing span of each of its
	// events (up to the largest batch, 10,000), beyond the default 128.
	limits := sdktrace.NewSpanLimits()
	limits.LinkCountLimit = max(limits.LinkCountLimit, maxSpanLinks)
	t.sdk = sdktrace.NewTracerProvider(
		sdktrace.WithRawSpanLimits(limits),
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sampler),
	)
	t.provider = t.sdk
	t.trustRemote = cfg.TrustRemote
	opts := []otelconnect.Option{
		otelconnect.WithTracerProvider(t.sdk),
		otelconnect.WithPropagator(t.propagator),
		otelconnect.WithoutMetrics(), // Prometheus has them
	}
	if cfg.TrustRemote {
		opts = append(opts, otelconnect.WithTrustRemote())
	}
	interceptor, err := otelconnect.NewInterceptor(opts...)
	if err != nil {
		_ = t.sdk.Shutdown(ctx)
		return nil, fmt.Errorf("otelconnect: %w", err)
	}
	t.interceptor = interceptor
	return t, nil
}

// tracesURL is the OTLP/HTTP traces URL of an endpoint given as a base URL.
func tracesURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// The URL may hold credentials: do not quote it.
		return "", errors.New("otlp endpoint must be an http:// or https:// URL")
	}
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String(), nil
}

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.sdk != nil }

// TracerProvider is the provider adapters start their spans with (the
// outbox relay, consumers).
func (t *Tracing) TracerProvider() trace.TracerProvider { return t.provider }

// Provider is the provider to install in adapters that trace (the Postgres
// pool, the outbox relay, the consumers), or nil when tracing is disabled:
// they then install nothing, so that disabled tracing costs nothing.
func (t *Tracing) Provider() trace.TracerProvider {
	if t.sdk == nil {
		return nil
	}
	return t.sdk
}

// TrustRemote reports whether a remote trace context (an RPC caller's, an
// event's traceparent) is continued rather than linked.
func (t *Tracing) TrustRemote() bool { return t.trustRemote }

// Propagator reads and writes W3C trace context and baggage, for carrying
// traces across RabbitMQ messages.
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.propagator }

// Interceptor is the otelconnect interceptor that starts a server span per
// call (named after the procedure, "bookworm.catalog.v1.CatalogService/GetBook")
// and client spans for outgoing calls. It is nil when tracing is disabled.
// It belongs outside the error interceptor, so that span status reflects the
// code the client gets.
func (t *Tracing) Interceptor() connect.Interceptor { return t.interceptor }

// Shutdown flushes the spans not yet exported and stops the exporter; ctx
// bounds how long it waits for the collector.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t.sdk == nil {
		return nil
	}
	return t.sdk.Shutdown(ctx)
}
