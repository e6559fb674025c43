// Package otlptest is an OpenTelemetry collector for tests: a real HTTP
// server that accepts OTLP/HTTP trace exports (binary protobuf, optionally
// gzipped, on POST /v1/traces) and keeps the spans it received, so that a
// test can check what a server under test exported.
package otlptest

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is a received span with the attributes of the resource that sent it.
type Span struct {
	Name         string
	TraceID      string // hex
	SpanID       string // hex
	ParentSpanID string // hex, empty for a root span
	Kind         tracepb.Span_SpanKind
	Status       tracepb.Status_StatusCode
	// Attributes and Resource hold the string, integer and boolean
	// attributes of the span and of its resource, as strings.
	Attributes map[string]string
	Resource   map[string]string
	// Links are the trace ids of the spans this span links to, and
	// LinkedSpans their span ids, in the same order.
	Links       []string
	LinkedSpans []string
	// Events are the names of the span's events ("exception", ...).
	Events []string
}

// Collector is a running test collector. URL is its base URL, the value of
// an OTLP endpoint setting; exports go to URL + "/v1/traces".
type Collector struct {
	URL string

	srv     *httptest.Server
	mu      sync.Mutex
	spans   []Span
	changed chan struct{} // closed and replaced whenever spans arrive
	exports int
}

// Start starts a collector on a loopback port. Close it when done.
func Start() *Collector {
	c := &Collector{changed: make(chan struct{})}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", c.export)
	c.srv = httptest.NewServer(mux)
	c.URL = c.srv.URL
	return c
}

// Close stops the server.
func (c *Collector) Close() { c.srv.Close() }

// Spans returns every span received so far.
func (c *Collector) Spans() []Span {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Span(nil), c.spans...)
}

// Exports is the number of export requests accepted.
func (c *Collector) Exports() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exports
}

// WaitFor waits until a received span satisfies match and returns it; it
// gives up when ctx ends, returning false.
func (c *Collector) WaitFor(ctx context.Context, match func(Span) bool) (Span, bool) {
	for {
		c.mu.Lock()
		for _, s := range c.spans {
			if match(s) {
				c.mu.Unlock()
				return s, true
			}
		}
		changed := c.changed
		c.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return Span{}, false
		case <-time.After(time.Second): // belt and braces
		}
	}
}

func (c *Collector) export(w http.ResponseWriter, r *http.Request) {
	var body io.Reader = http.MaxBytesReader(w, r.Body, 32<<20)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer zr.Close()
		body = zr
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "only application/x-protobuf is supported, not "+ct, http.StatusUnsupportedMediaType)
		return
	}
	b, err := io.ReadAll(body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(b, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range req.GetResourceSpans() {
		res := attributes(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				span := Span{
					Name:       s.GetName(),
					TraceID:    hex.EncodeToString(s.GetTraceId()),
					SpanID:     hex.EncodeToString(s.GetSpanId()),
					Kind:       s.GetKind(),
					Status:     s.GetStatus().GetCode(),
					Attributes: attributes(s.GetAttributes()),
					Resource:   res,
				}
				if p := s.GetParentSpanId(); len(p) > 0 {
					span.ParentSpanID = hex.EncodeToString(p)
				}
				for _, l := range s.GetLinks() {
					span.Links = append(span.Links, hex.EncodeToString(l.GetTraceId()))
					span.LinkedSpans = append(span.LinkedSpans, hex.EncodeToString(l.GetSpanId()))
				}
				for _, e := range s.GetEvents() {
					span.Events = append(span.Events, e.GetName())
				}
				got = append(got, span)
			}
		}
	}
	c.mu.Lock()
	c.spans = append(c.spans, got...)
	c.exports++
	close(c.changed)
	c.changed = make(chan struct{})
	c.mu.Unlock()

	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func attributes(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		v := kv.GetValue()
		switch v.GetValue().(type) {
		case *commonpb.AnyValue_StringValue:
			m[kv.GetKey()] = v.GetStringValue()
		case *commonpb.AnyValue_IntValue:
			m[kv.GetKey()] = strconv.FormatInt(v.GetIntValue(), 10)
		case *commonpb.AnyValue_ArrayValue:
			// Arrays of strings (a batch's event ids), comma separated.
			var parts []string
			for _, e := range v.GetArrayValue().GetValues() {
				parts = append(parts, e.GetStringValue())
			}
			m[kv.GetKey()] = strings.Join(parts, ",")
		case *commonpb.AnyValue_BoolValue:
			if v.GetBoolValue() {
				m[kv.GetKey()] = "true"
			} else {
				m[kv.GetKey()] = "false"
			}
		}
	}
	return m
}
