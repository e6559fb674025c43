package events

import (
	"context"
	"encoding/hex"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// TraceContext returns the W3C traceparent and tracestate of the span
// context of ctx, or empty strings when it has none: what a producer stores
// with an event so that its consumers continue the producer's trace.
func TraceContext(ctx context.Context) (traceparent, tracestate string) {
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
