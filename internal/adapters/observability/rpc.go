package observability

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"
)

// rpcDurationBuckets span a book served from the cache (well under a
// millisecond) to a slow search or a write waiting on a lock (seconds).
var rpcDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// maxCode is the largest Connect code; codes up to it have a counter slot
// per procedure.
const maxCode = connect.CodeUnauthenticated

// rpcMetrics are the two RPC metric families and the label children already
// resolved, one procMetrics per procedure.
type rpcMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	procs    sync.Map // procedure -> *procMetrics
}

func newRPCMetrics() *rpcMetrics {
	return &rpcMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "rpc_requests_total",
			Help:      "RPCs handled, by procedure and Connect code (ok when it succeeded).",
		}, []string{"procedure", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "rpc_duration_seconds",
			Help:      "Time from a request reaching the RPC handler to its response (a stream's whole life for streaming RPCs).",
			Buckets:   rpcDurationBuckets,
		}, []string{"procedure"}),
	}
}

// procMetrics are one procedure's metric children. The label lookup (a hash
// of the label values and a map access under a lock) happens once per
// procedure and code instead of once per call.
type procMetrics struct {
	procedure string
	duration  prometheus.Observer
	requests  *prometheus.CounterVec
	// codes[c] is the counter of code c, created on first use so that a
	// procedure only exports the codes it has answered with.
	codes [maxCode + 1]atomic.Pointer[prometheus.Counter]
}

func (m *rpcMetrics) forProcedure(procedure string) *procMetrics {
	if p, ok := m.procs.Load(procedure); ok {
		return p.(*procMetrics)
	}
	p, _ := m.procs.LoadOrStore(procedure, &procMetrics{
		procedure: procedure,
		duration:  m.duration.WithLabelValues(procedure),
		requests:  m.requests,
	})
	return p.(*procMetrics)
}

// observe records one finished call.
func (p *procMetrics) observe(start time.Time, err error) {
	p.duration.Observe(time.Since(start).Seconds())
	code := connect.Code(0)
	if err != nil {
		code = connect.CodeOf(err)
	}
	if code > maxCode {
		p.requests.WithLabelValues(p.procedure, codeLabel(code)).Inc()
		return
	}
	c := p.codes[code].Load()
	if c == nil {
		counter := p.requests.WithLabelValues(p.procedure, codeLabel(code))
		c = &counter
		p.codes[code].Store(c)
	}
	(*c).Inc()
}

// codeLabel is the code label of a call's outcome: "ok" for success and the
// Connect code's name ("not_found", "invalid_argument", ...) otherwise.
func codeLabel(code connect.Code) string {
	if code == 0 {
		return "ok"
	}
	return code.String()
}

// RPCInterceptor returns the server interceptor that counts calls by
// procedure and code and observes their durations. It must run outside the
// interceptor that turns the core's errors into Connect errors, so that it
// sees the code the client gets. Client calls pass through untouched.
func (m *Metrics) RPCInterceptor() connect.Interceptor { return rpcInterceptor{m: m.rpc} }

type rpcInterceptor struct{ m *rpcMetrics }

// WrapUnary is called once per handler, and so once per procedure; the
// returned function keeps that procedure's metrics at hand and only looks
// them up again if it is ever called for another procedure.
func (i rpcInterceptor) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	var cached atomic.Pointer[procMetrics]
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		spec := req.Spec()
		if spec.IsClient {
			return next(ctx, req)
		}
		p := cached.Load()
		if p == nil || p.procedure != spec.Procedure {
			p = i.m.forProcedure(spec.Procedure)
			cached.Store(p)
		}
		start := time.Now()
		res, err := next(ctx, req)
		p.observe(start, err)
		return res, err
	}
}

// WrapStreamingClient implements connect.Interceptor; clients are not
// measured.
func (rpcInterceptor) WrapStreamingClient(next connect.StreamingClientFunc) connect.StreamingClientFunc {
	return next
}

// WrapStreamingHandler measures a stream from its start to the handler's
// return.
func (i rpcInterceptor) WrapStreamingHandler(next connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	var cached atomic.Pointer[procMetrics]
	return func(ctx context.Context, conn connect.StreamingHandlerConn) error {
		procedure := conn.Spec().Procedure
		p := cached.Load()
		if p == nil || p.procedure != procedure {
			p = i.m.forProcedure(procedure)
			cached.Store(p)
		}
		start := time.Now()
		err := next(ctx, conn)
		p.observe(start, err)
		return err
	}
}
