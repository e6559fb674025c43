package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"connectrpc.com/connect"
	"github.com/prometheus/client_golang/prometheus"

	eventing "github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
)

// obsConfig is the observability part of the configuration.
type obsConfig struct {
	// MetricsAddr is where /metrics is served, apart from the API; empty
	// (or "off") disables it.
	MetricsAddr      string
	OTLPEndpoint     string
	TraceSampleRatio float64
	TraceTrustRemote bool
}

// obsFlags registers the flags of obsConfig with the helpers of
// parseConfig; sampleRatio is parsed by finish.
func obsFlags(o *obsConfig,
	str func(*string, string, string, string),
	boolean func(*bool, string, bool, string),
	sampleRatio *string,
) {
	str(&o.MetricsAddr, "metrics-addr", "127.0.0.1:9464", `listen address of the Prometheus /metrics endpoint, never the API's; "off" disables it`)
	str(&o.OTLPEndpoint, "otlp-endpoint", "", "base URL of an OTLP/HTTP collector (http://127.0.0.1:4318) to send traces to; empty disables tracing")
	str(sampleRatio, "trace-sample-ratio", "1", "share of new traces recorded, 0 to 1")
	boolean(&o.TraceTrustRemote, "trace-trust-remote", false, "continue the trace a caller sends in traceparent (only behind a trusted gateway); otherwise link to it")
}

// finish completes obsConfig after parsing and validates it.
func (o *obsConfig) finish(c config, sampleRatio string) []error {
	var errs []error
	if o.MetricsAddr == "off" {
		o.MetricsAddr = ""
	}
	if o.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(o.MetricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("metrics-addr %q: %w", o.MetricsAddr, err))
		} else if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			errs = append(errs, fmt.Errorf("metrics-addr %q: bad port", o.MetricsAddr))
		} else if o.MetricsAddr == c.Addr {
			errs = append(errs, errors.New("metrics-addr must differ from addr: metrics are never served on the API port"))
		}
	}
	r, err := strconv.ParseFloat(sampleRatio, 64)
	if err != nil || r < 0 || r > 1 {
		errs = append(errs, fmt.Errorf("trace-sample-ratio %q must be a number from 0 to 1", sampleRatio))
	}
	o.TraceSampleRatio = r
	return errs
}

// obsSetup is what serve needs from the observability adapter.
type obsSetup struct {
	metrics *observability.Metrics
	tracing *observability.Tracing
	// events are the consumers' metrics.
	events *observability.EventMetrics
	// interceptors go outside the RPC adapter's error interceptor, tracing
	// first, so that both see the code the client gets.
	interceptors []connect.Interceptor
}

// newObservability builds the metrics registry and the tracer provider.
func newObservability(ctx context.Context, o obsConfig, env string, log *slog.Logger) (obsSetup, error) {
	version := observability.BuildVersion()
	metrics, err := observability.NewMetrics(version)
	if err != nil {
		return obsSetup{}, err
	}
	tracing, err := observability.NewTracing(ctx, observability.TracingConfig{
		Endpoint:    o.OTLPEndpoint,
		SampleRatio: o.TraceSampleRatio,
		TrustRemote: o.TraceTrustRemote,
		Version:     version,
		Environment: env,
	}, log)
	if err != nil {
		return obsSetup{}, err
	}
	s := obsSetup{metrics: metrics, tracing: tracing, events: observability.NewEventMetrics()}
	if err := metrics.Register(s.events); err != nil {
		return obsSetup{}, err
	}
	if i := tracing.Interceptor(); i != nil {
		s.interceptors = append(s.interceptors, i)
		log.Info("exporting traces", slog.Float64("sample_ratio", o.TraceSampleRatio), slog.Bool("trust_remote", o.TraceTrustRemote))
	}
	s.interceptors = append(s.interceptors, metrics.RPCInterceptor())
	return s, nil
}

// eventTelemetry is what the consumers report to: spans when tracing is on
// (continuing or linking the producer's trace as RPCs do), metrics always.
func (s obsSetup) eventTelemetry() eventing.Telemetry {
	return eventing.Telemetry{
		TracerProvider: s.tracing.Provider(),
		TrustRemote:    s.tracing.TrustRemote(),
		Observer:       s.events,
	}
}

// register adds collectors (the Postgres pool, the outbox relay) to the
// registry.
func (s obsSetup) register(cs ...prometheus.Collector) error { return s.metrics.Register(cs...) }

// serveMetrics serves /metrics on addr until the returned function shuts it
// down; with an empty addr it does nothing.
func (s obsSetup) serveMetrics(addr string, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	if addr == "" {
		return func(context.Context) error { return nil }, nil
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", s.metrics.Handler(log))
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	go func() {
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server stopped", slog.Any("error", err))
		}
	}()
	log.Info("serving metrics", slog.String("addr", ln.Addr().String()))
	return srv.Shutdown, nil
}

// shutdown flushes the spans not yet exported.
func (s obsSetup) shutdown(ctx context.Context, log *slog.Logger) {
	if err := s.tracing.Shutdown(ctx); err != nil {
		log.Warn("flushing traces", slog.Any("error", err))
	}
}
