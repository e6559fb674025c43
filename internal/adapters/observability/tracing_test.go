package observability

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/bookworm-store/bookworm/internal/adapters/observability/otlptest"
)

// The caller's trace context in the tests' traceparent header.
const (
	callerTraceID    = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID     = "00f067aa0ba902b7"
	callerTraceparnt = "00-" + callerTraceID + "-" + callerSpanID + "-01"
)

// withHeader sets a request header on every unary call of a client.
func withHeader(key, value string) connect.UnaryInterceptorFunc {
	return func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set(key, value)
			return next(ctx, req)
		}
	}
}

// TestTracingExportsServerSpans serves calls with the otelconnect
// interceptor of an enabled Tracing, shuts it down (which flushes) and finds
// the spans at a test OTLP/HTTP collector.
func TestTracingExportsServerSpans(t *testing.T) {
	cases := []struct {
		name        string
		trustRemote bool
		traceparent string
		value       string
		wantStatus  tracepb.Status_StatusCode
		// wantParent: the span continues the caller's trace; wantLink: it
		// starts a new trace linked to the caller's.
		wantParent, wantLink bool
	}{
		{name: "new trace", value: "", wantStatus: tracepb.Status_STATUS_CODE_UNSET},
		{name: "client error is no server error", value: "missing", wantStatus: tracepb.Status_STATUS_CODE_UNSET},
		{name: "server error", value: "plain", wantStatus: tracepb.Status_STATUS_CODE_ERROR},
		{name: "remote parent trusted", trustRemote: true, traceparent: callerTraceparnt, wantParent: true},
		{name: "remote parent only linked", traceparent: callerTraceparnt, wantLink: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			collector := otlptest.Start()
			t.Cleanup(collector.Close)
			tracing, err := NewTracing(t.Context(), TracingConfig{
				Endpoint:    collector.URL,
				SampleRatio: 1,
				TrustRemote: c.trustRemote,
				Version:     "v9.9.9",
				Environment: "test",
			}, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			if !tracing.Enabled() || tracing.Interceptor() == nil {
				t.Fatal("tracing with an endpoint is not enabled")
			}
			srv := startEchoServer(t, tracing.Interceptor())
			var opts []connect.ClientOption
			if c.traceparent != "" {
				opts = append(opts, connect.WithInterceptors(withHeader("traceparent", c.traceparent)))
			}
			_, _ = newEchoClients(srv, opts...).echo.CallUnary(t.Context(), connect.NewRequest(wrapperspb.String(c.value)))

			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := tracing.Shutdown(ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			spans := collector.Spans()
			if len(spans) != 1 {
				t.Fatalf("collector got %d spans, want 1: %+v", len(spans), spans)
			}
			s := spans[0]
			if want := strings.TrimPrefix(echoProcedure, "/"); s.Name != want {
				t.Errorf("span name %q, want %q", s.Name, want)
			}
			if s.Kind != tracepb.Span_SPAN_KIND_SERVER {
				t.Errorf("span kind %v, want server", s.Kind)
			}
			if s.Status != c.wantStatus {
				t.Errorf("span status %v, want %v", s.Status, c.wantStatus)
			}
			for k, want := range map[string]string{
				"service.name": "bookworm", "service.version": "v9.9.9", "deployment.environment.name": "test",
			} {
				if got := s.Resource[k]; got != want {
					t.Errorf("resource %s = %q, want %q", k, got, want)
				}
			}
			if got := s.Attributes["rpc.method"]; got == "" {
				t.Errorf("span has no rpc.method attribute: %v", s.Attributes)
			}
			switch {
			case c.wantParent:
				if s.TraceID != callerTraceID || s.ParentSpanID != callerSpanID {
					t.Errorf("span in trace %s under %s, want the caller's %s under %s", s.TraceID, s.ParentSpanID, callerTraceID, callerSpanID)
				}
			case c.wantLink:
				if s.TraceID == callerTraceID || s.ParentSpanID != "" || len(s.Links) != 1 || s.Links[0] != callerTraceID {
					t.Errorf("span in trace %s under %q links %v, want a new root linked to %s", s.TraceID, s.ParentSpanID, s.Links, callerTraceID)
				}
			default:
				if s.ParentSpanID != "" || len(s.Links) != 0 {
					t.Errorf("span has parent %q and links %v, want a root", s.ParentSpanID, s.Links)
				}
			}
		})
	}
}

func TestTracingDisabled(t *testing.T) {
	tracing, err := NewTracing(t.Context(), TracingConfig{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if tracing.Enabled() || tracing.Interceptor() != nil {
		t.Error("tracing without an endpoint is enabled")
	}
	_, span := tracing.TracerProvider().Tracer("test").Start(t.Context(), "x")
	if span.SpanContext().IsValid() || span.IsRecording() {
		t.Error("the disabled provider records spans")
	}
	if err := tracing.Shutdown(t.Context()); err != nil {
		t.Error(err)
	}
}

func TestTracingConfigErrors(t *testing.T) {
	cases := []struct {
		name string
		cfg  TracingConfig
	}{
		{"not a URL", TracingConfig{Endpoint: "127.0.0.1:4318", SampleRatio: 1}},
		{"not http", TracingConfig{Endpoint: "grpc://127.0.0.1:4317", SampleRatio: 1}},
		{"no host", TracingConfig{Endpoint: "http:///v1/traces", SampleRatio: 1}},
		{"ratio above 1", TracingConfig{Endpoint: "http://127.0.0.1:4318", SampleRatio: 1.5}},
		{"negative ratio", TracingConfig{Endpoint: "http://127.0.0.1:4318", SampleRatio: -0.1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if _, err := NewTracing(t.Context(), c.cfg, slog.New(slog.DiscardHandler)); err == nil {
				t.Errorf("NewTracing(%+v) succeeded", c.cfg)
			}
		})
	}
}

func TestTracesURL(t *testing.T) {
	cases := []struct{ in, want string }{
		{"http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/traces"},
		{"http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/traces"},
		{"https://otel.example/collector", "https://otel.example/collector/v1/traces"},
		{"https://otel.example/v1/traces", "https://otel.example/v1/traces"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := tracesURL(c.in)
			if err != nil || got != c.want {
				t.Errorf("tracesURL(%q) = %q, %v, want %q", c.in, got, err, c.want)
			}
		})
	}
}
