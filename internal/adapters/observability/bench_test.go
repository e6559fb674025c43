package observability

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// BenchmarkRPCInterceptor is the interceptor's own cost per call: the
// wrapped function does nothing, so what is measured is the procedure
// lookup, two clock reads, a histogram observation and a counter increment.
func BenchmarkRPCInterceptor(b *testing.B) {
	m, err := NewMetrics("bench")
	if err != nil {
		b.Fatal(err)
	}
	res := connect.NewResponse(wrapperspb.String("ok"))
	call := m.RPCInterceptor().WrapUnary(func(context.Context, connect.AnyRequest) (connect.AnyResponse, error) {
		return res, nil
	})
	req := connect.NewRequest(wrapperspb.String("x"))
	ctx := context.Background()
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_, _ = call(ctx, req)
		}
	})
	// Every core hits the same counter and histogram, as when all calls are
	// GetBook.
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				_, _ = call(ctx, req)
			}
		})
	})
}

// BenchmarkRPCHandler serves a unary Connect call in process with and
// without the interceptor; the difference is the interceptor's share of a
// real call.
func BenchmarkRPCHandler(b *testing.B) {
	m, err := NewMetrics("bench")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(`"hello"`)
	for _, c := range []struct {
		name string
		opts []connect.HandlerOption
	}{
		{"without", nil},
		{"with", []connect.HandlerOption{connect.WithInterceptors(m.RPCInterceptor())}},
		// Tracing on: otelconnect as NewTracing sets it up, on a real SDK
		// provider whose batch processor feeds an exporter that drops.
		{"with-tracing", []connect.HandlerOption{connect.WithInterceptors(tracingInterceptor(b), m.RPCInterceptor())}},
	} {
		h := connect.NewUnaryHandler(echoProcedure, echo, c.opts...)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, echoProcedure, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// tracingInterceptor is the otelconnect interceptor of an enabled Tracing,
// sampling every call.
func tracingInterceptor(b *testing.B) connect.Interceptor {
	sdk := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = sdk.Shutdown(context.Background()) })
	i, err := otelconnect.NewInterceptor(otelconnect.WithTracerProvider(sdk), otelconnect.WithoutMetrics())
	if err != nil {
		b.Fatal(err)
	}
	return i
}
