package observability

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// The test service: a unary and a server-streaming procedure built from
// well-known types, so the tests need no generated code.
const (
	echoProcedure  = "/bookworm.test.v1.EchoService/Echo"
	countProcedure = "/bookworm.test.v1.EchoService/Count"
)

// echo answers according to the request: "" succeeds, "missing" is
// NotFound, "denied" is PermissionDenied, "plain" returns an error that is
// not a *connect.Error (Connect sends it as Unknown).
func echo(_ context.Context, req *connect.Request[wrapperspb.StringValue]) (*connect.Response[wrapperspb.StringValue], error) {
	switch v := req.Msg.GetValue(); v {
	case "missing":
		return nil, connect.NewError(connect.CodeNotFound, errors.New("no such thing"))
	case "denied":
		return nil, connect.NewError(connect.CodePermissionDenied, errors.New("not yours"))
	case "plain":
		return nil, errors.New("something broke")
	default:
		return connect.NewResponse(wrapperspb.String(v)), nil
	}
}

// count streams n messages, or fails with InvalidArgument for a negative n.
func count(_ context.Context, req *connect.Request[wrapperspb.Int32Value], stream *connect.ServerStream[wrapperspb.StringValue]) error {
	n := req.Msg.GetValue()
	if n < 0 {
		return connect.NewError(connect.CodeInvalidArgument, errors.New("negative count"))
	}
	for i := range n {
		if err := stream.Send(wrapperspb.String(fmt.Sprint(i))); err != nil {
			return err
		}
	}
	return nil
}

// startEchoServer serves the test service over TLS with HTTP/2 (so gRPC
// works too), with interceptors on its handlers.
func startEchoServer(t *testing.T, interceptors ...connect.Interceptor) *httptest.Server {
	t.Helper()
	opts := connect.WithInterceptors(interceptors...)
	mux := http.NewServeMux()
	mux.Handle(echoProcedure, connect.NewUnaryHandler(echoProcedure, echo, opts))
	mux.Handle(countProcedure, connect.NewServerStreamHandler(countProcedure, count, opts))
	srv := httptest.NewUnstartedServer(mux)
	srv.EnableHTTP2 = true
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

type echoClients struct {
	echo  *connect.Client[wrapperspb.StringValue, wrapperspb.StringValue]
	count *connect.Client[wrapperspb.Int32Value, wrapperspb.StringValue]
}

func newEchoClients(srv *httptest.Server, opts ...connect.ClientOption) echoClients {
	return echoClients{
		echo:  connect.NewClient[wrapperspb.StringValue, wrapperspb.StringValue](srv.Client(), srv.URL+echoProcedure, opts...),
		count: connect.NewClient[wrapperspb.Int32Value, wrapperspb.StringValue](srv.Client(), srv.URL+countProcedure, opts...),
	}
}

// drain reads a server stream to its end and returns its error.
func drain(stream *connect.ServerStreamForClient[wrapperspb.StringValue], err error) error {
	if err != nil {
		return err
	}
	for stream.Receive() {
	}
	return errors.Join(stream.Err(), stream.Close())
}

func TestRPCInterceptorCountsCodes(t *testing.T) {
	m, err := NewMetrics("test")
	if err != nil {
		t.Fatal(err)
	}
	srv := startEchoServer(t, m.RPCInterceptor())
	protocols := []struct {
		name string
		opts []connect.ClientOption
	}{
		{"connect", nil},
		{"grpc", []connect.ClientOption{connect.WithGRPC()}},
		{"grpc-web", []connect.ClientOption{connect.WithGRPCWeb()}},
	}
	unary := []struct {
		name  string
		value string
		times int
		code  connect.Code // 0: success
	}{
		{"ok", "", 3, 0},
		{"not found", "missing", 2, connect.CodeNotFound},
		{"permission denied", "denied", 1, connect.CodePermissionDenied},
		{"plain error", "plain", 1, connect.CodeUnknown},
	}
	streams := []struct {
		name string
		n    int32
		code connect.Code
	}{
		{"three messages", 3, 0},
		{"no message", 0, 0},
		{"invalid", -1, connect.CodeInvalidArgument},
	}
	ctx := t.Context()
	for _, p := range protocols {
		// The client carries the interceptor too: client calls must not be
		// counted, or every count below would double.
		clients := newEchoClients(srv, append(p.opts, connect.WithInterceptors(m.RPCInterceptor()))...)
		for _, c := range unary {
			t.Run(p.name+"/"+c.name, func(t *testing.T) {
				for range c.times {
					_, err := clients.echo.CallUnary(ctx, connect.NewRequest(wrapperspb.String(c.value)))
					if got := connect.CodeOf(err); err != nil && got != c.code || err == nil && c.code != 0 {
						t.Fatalf("call: %v, want code %v", err, c.code)
					}
				}
			})
		}
		for _, c := range streams {
			t.Run(p.name+"/stream "+c.name, func(t *testing.T) {
				err := drain(clients.count.CallServerStream(ctx, connect.NewRequest(wrapperspb.Int32(c.n))))
				if got := connect.CodeOf(err); err != nil && got != c.code || err == nil && c.code != 0 {
					t.Fatalf("stream: %v, want code %v", err, c.code)
				}
			})
		}
	}

	n := float64(len(protocols))
	wantCounts := []struct {
		procedure, code string
		want            float64
	}{
		{echoProcedure, "ok", 3 * n},
		{echoProcedure, "not_found", 2 * n},
		{echoProcedure, "permission_denied", 1 * n},
		{echoProcedure, "unknown", 1 * n},
		{echoProcedure, "invalid_argument", 0},
		{countProcedure, "ok", 2 * n},
		{countProcedure, "invalid_argument", 1 * n},
	}
	for _, w := range wantCounts {
		got := metricValue(t, m.Gatherer(), "bookworm_rpc_requests_total", map[string]string{"procedure": w.procedure, "code": w.code})
		if got != w.want {
			t.Errorf("requests{procedure=%s, code=%s} = %v, want %v", w.procedure, w.code, got, w.want)
		}
	}
	for _, w := range []struct {
		procedure string
		want      uint64
	}{{echoProcedure, uint64(7 * n)}, {countProcedure, uint64(3 * n)}} {
		h := histogram(t, m.Gatherer(), "bookworm_rpc_duration_seconds", map[string]string{"procedure": w.procedure})
		if h.GetSampleCount() != w.want {
			t.Errorf("duration{procedure=%s} has %d samples, want %d", w.procedure, h.GetSampleCount(), w.want)
		}
		if h.GetSampleSum() <= 0 {
			t.Errorf("duration{procedure=%s} sums to %v, want > 0", w.procedure, h.GetSampleSum())
		}
		if len(h.GetBucket()) != len(rpcDurationBuckets) {
			t.Errorf("duration{procedure=%s} has %d buckets, want %d", w.procedure, len(h.GetBucket()), len(rpcDurationBuckets))
		}
	}
}

func TestCodeLabel(t *testing.T) {
	want := map[connect.Code]string{
		0:                               "ok",
		connect.CodeCanceled:            "canceled",
		connect.CodeUnknown:             "unknown",
		connect.CodeInvalidArgument:     "invalid_argument",
		connect.CodeDeadlineExceeded:    "deadline_exceeded",
		connect.CodeNotFound:            "not_found",
		connect.CodeAlreadyExists:       "already_exists",
		connect.CodePermissionDenied:    "permission_denied",
		connect.CodeResourceExhausted:   "resource_exhausted",
		connect.CodeFailedPrecondition:  "failed_precondition",
		connect.CodeAborted:             "aborted",
		connect.CodeOutOfRange:          "out_of_range",
		connect.CodeUnimplemented:       "unimplemented",
		connect.CodeInternal:            "internal",
		connect.CodeUnavailable:         "unavailable",
		connect.CodeDataLoss:            "data_loss",
		connect.CodeUnauthenticated:     "unauthenticated",
		connect.CodeUnauthenticated + 1: "code_17",
	}
	for code, label := range want {
		t.Run(label, func(t *testing.T) {
			if got := codeLabel(code); got != label {
				t.Errorf("codeLabel(%d) = %q, want %q", code, got, label)
			}
		})
	}
}

// TestMetricsHandler scrapes the handler as Prometheus would and finds the
// RPC, runtime, process and build metrics in the text format.
func TestMetricsHandler(t *testing.T) {
	m, err := NewMetrics("v1.2.3")
	if err != nil {
		t.Fatal(err)
	}
	srv := startEchoServer(t, m.RPCInterceptor())
	if _, err := newEchoClients(srv).echo.CallUnary(t.Context(), connect.NewRequest(wrapperspb.String("missing"))); connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("call: %v, want NotFound", err)
	}
	rec := httptest.NewRecorder()
	m.Handler(slog.New(slog.DiscardHandler)).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d\n%s", rec.Code, rec.Body)
	}
	body, _ := io.ReadAll(rec.Body)
	for _, want := range []string{
		`bookworm_rpc_requests_total{code="not_found",procedure="` + echoProcedure + `"} 1`,
		`bookworm_rpc_duration_seconds_bucket{procedure="` + echoProcedure + `",le="0.0005"}`,
		`bookworm_rpc_duration_seconds_count{procedure="` + echoProcedure + `"} 1`,
		`bookworm_build_info{goversion="go`,
		`version="v1.2.3"} 1`,
		"go_goroutines ",
		"go_memstats_heap_alloc_bytes ",
		"process_cpu_seconds_total ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

// family returns the metric family called name.
func family(t *testing.T, g prometheus.Gatherer, name string) *dto.MetricFamily {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// find returns the metric of the family name whose labels include labels,
// or nil.
func find(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Metric {
	t.Helper()
	f := family(t, g, name)
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range labels {
			if have[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// metricValue is the value of a counter or gauge; 0 when it does not exist.
func metricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	m := find(t, g, name, labels)
	switch {
	case m == nil:
		return 0
	case m.GetCounter() != nil:
		return m.GetCounter().GetValue()
	case m.GetGauge() != nil:
		return m.GetGauge().GetValue()
	}
	t.Fatalf("%s%v is neither a counter nor a gauge", name, labels)
	return 0
}

func histogram(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) *dto.Histogram {
	t.Helper()
	m := find(t, g, name, labels)
	if m == nil || m.GetHistogram() == nil {
		t.Fatalf("no histogram %s%v", name, labels)
	}
	return m.GetHistogram()
}
