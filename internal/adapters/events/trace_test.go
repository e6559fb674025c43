package events

import (
	"context"
	"testing"
)

func TestContextWithTraceParent(t *testing.T) {
	tests := []struct {
		name, traceparent, tracestate string
		want                          string // traceparent Enqueue then writes
	}{
		{"sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a=b", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
		{"not sampled", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"},
		{"empty", "", "", ""},
		{"zero trace id", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "", ""},
		{"short span id", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba9-01", "", ""},
		{"bad flags", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz", "", ""},
		{"invalid version", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "", ""},
		{"extra part in version 00", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := ContextWithTraceParent(context.Background(), tt.traceparent, tt.tracestate)
			got, state := TraceContext(ctx)
			if got != tt.want {
				t.Fatalf("traceparent %q, want %q", got, tt.want)
			}
			if tt.want != "" && state != tt.tracestate {
				t.Fatalf("tracestate %q, want %q", state, tt.tracestate)
			}
		})
	}
}
