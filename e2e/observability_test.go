package e2e

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/bookworm-store/bookworm/internal/adapters/observability/otlptest"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// sample is one line of the Prometheus text format.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape GETs /metrics from addr and parses the samples.
func scrape(t *testing.T, addr string) []sample {
	t.Helper()
	res, err := http1Client(t).Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", addr, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("GET /metrics: %s\n%s", res.Status, b)
	}
	var out []sample
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var s sample
		series, value, ok := strings.Cut(line, " ")
		if i := strings.IndexByte(line, '}'); i >= 0 {
			series, value, ok = line[:i+1], strings.TrimSpace(line[i+1:]), true
		}
		if !ok {
			t.Fatalf("unparsable metrics line %q", line)
		}
		value, _, _ = strings.Cut(value, " ") // a timestamp may follow
		s.name, s.labels = series, map[string]string{}
		if name, labels, found := strings.Cut(series, "{"); found {
			s.name = name
			for _, m := range labelPair.FindAllStringSubmatch(labels, -1) {
				s.labels[m[1]] = m[2]
			}
		}
		if s.value, err = strconv.ParseFloat(value, 64); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// value returns the sample called name whose labels include labels.
func value(samples []sample, name string, labels map[string]string) (float64, bool) {
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range labels {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

// TestMetrics runs a server with metrics on a port of its own, makes a few
// GetBook calls over Connect and gRPC that succeed or find nothing, and
// reads the counts back from /metrics: the NotFound the core reports is
// counted with the code the client got.
func TestMetrics(t *testing.T) {
	metricsAddr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	s := startExtraServer(t, "metrics", append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false", "BOOKWORM_METRICS_ADDR="+metricsAddr)...)
	if s.metricsAddr != metricsAddr {
		t.Fatalf("harness: metrics address %s, want %s", s.metricsAddr, metricsAddr)
	}
	// The book is made through the suite's server; the metrics server only
	// serves the calls counted below.
	book := newFixture(t, catalogClient(t, connectProto), 1).createBook(t)
	getBookLabels := map[string]string{"procedure": catalogv1connect.CatalogServiceGetBookProcedure}
	okLabels := map[string]string{"procedure": getBookLabels["procedure"], "code": "ok"}
	notFoundLabels := map[string]string{"procedure": getBookLabels["procedure"], "code": "not_found"}

	before := scrape(t, s.metricsAddr)
	if v, ok := value(before, "bookworm_rpc_requests_total", okLabels); ok && v != 0 {
		t.Fatalf("GetBook already counted %v times before any call", v)
	}

	clients := map[string]catalogv1connect.CatalogServiceClient{
		"connect": catalogv1connect.NewCatalogServiceClient(http1Client(t), s.baseURL),
		"grpc":    catalogv1connect.NewCatalogServiceClient(h2cClient(t), s.baseURL, connect.WithGRPC()),
	}
	const oks, notFounds = 3, 2
	for name, c := range clients {
		for range oks {
			if got := getBook(t, c, book.GetId()); got.GetId() != book.GetId() {
				t.Fatalf("%s: GetBook returned %q", name, got.GetId())
			}
		}
		for range notFounds {
			_, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: newID()}))
			wantCode(t, err, connect.CodeNotFound)
		}
	}

	after := scrape(t, s.metricsAddr)
	n := float64(len(clients))
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"bookworm_rpc_requests_total", okLabels, oks * n},
		{"bookworm_rpc_requests_total", notFoundLabels, notFounds * n},
		{"bookworm_rpc_duration_seconds_count", getBookLabels, (oks + notFounds) * n},
	} {
		got, ok := value(after, c.name, c.labels)
		if !ok || got != c.want {
			t.Errorf("%s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := value(after, "bookworm_rpc_requests_total", map[string]string{"code": "unknown"}); ok {
		t.Error("some call was counted as unknown: an error escaped the error table")
	}
	for _, name := range []string{
		"bookworm_rpc_duration_seconds_bucket", "bookworm_build_info", "bookworm_db_pool_total_conns",
		"bookworm_db_pool_acquires_total", "go_goroutines", "process_resident_memory_bytes",
	} {
		if _, ok := value(after, name, nil); !ok {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if v, _ := value(after, "bookworm_db_pool_acquires_total", nil); v < 1 {
		t.Errorf("bookworm_db_pool_acquires_total = %v, want at least 1", v)
	}

	// The public API port does not serve metrics.
	res, err := http1Client(t).Get(s.baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /metrics on the API port: %s, want 404", res.Status)
	}
}

// TestTracesExported runs a server that sends traces to a test OTLP/HTTP
// collector and finds the server span of a GetBook call there, named after
// the procedure, with BookWorm's resource, in a new trace that links to the
// trace the (untrusted) caller sent.
func TestTracesExported(t *testing.T) {
	collector := otlptest.Start()
	t.Cleanup(collector.Close)
	s := startExtraServer(t, "tracing", append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false", "BOOKWORM_OTLP_ENDPOINT="+collector.URL)...)

	const callerTrace = "0af7651916cd43dd8448eb211c80319c"
	traceparent := connect.UnaryInterceptorFunc(func(next connect.UnaryFunc) connect.UnaryFunc {
		return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
			req.Header().Set("traceparent", "00-"+callerTrace+"-b7ad6b7169203331-01")
			return next(ctx, req)
		}
	})
	c := catalogv1connect.NewCatalogServiceClient(h2cClient(t), s.baseURL, connect.WithGRPC(), connect.WithInterceptors(traceparent))
	_, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: newID()}))
	wantCode(t, err, connect.CodeNotFound)

	// The batch exporter sends within seconds; the deadline only bounds the
	// wait on a stalled machine.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	name := strings.TrimPrefix(catalogv1connect.CatalogServiceGetBookProcedure, "/")
	span, ok := collector.WaitFor(ctx, func(s otlptest.Span) bool { return s.Name == name })
	if !ok {
		t.Fatalf("no span %q reached the collector; got %+v", name, collector.Spans())
	}
	if span.Resource["service.name"] != "bookworm" || span.Resource["service.version"] == "" {
		t.Errorf("span resource %v, want service.name bookworm and a version", span.Resource)
	}
	if span.Attributes["rpc.method"] != name || span.Attributes["rpc.response.status_code"] != "NOT_FOUND" {
		t.Errorf("span attributes %v, want rpc.method %s and rpc.response.status_code NOT_FOUND", span.Attributes, name)
	}
	if span.TraceID == callerTrace || span.ParentSpanID != "" || len(span.Links) != 1 || span.Links[0] != callerTrace {
		t.Errorf("span in trace %s under %q linking %v, want a new root linking %s", span.TraceID, span.ParentSpanID, span.Links, callerTrace)
	}
}
