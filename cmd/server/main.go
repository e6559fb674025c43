// Command server is BookWorm's composition root: it reads the configuration,
// builds the adapters, injects them into the core's use cases, serves the
// API and shuts down gracefully.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/auth"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bookworm:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "serve" {
		args = args[1:]
	}
	if len(args) > 0 && args[0] == "dev-token" {
		return runDevToken(args[1:], osGetenv, stdout, stderr)
	}
	cfg, err := parseConfig(args, osGetenv, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return serve(ctx, cfg, stderr)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(observability.NewLogHandler(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})))
}

// serve runs the server until ctx ends, then shuts it down gracefully.
func serve(ctx context.Context, cfg config, stderr io.Writer) error {
	log := newLogger(stderr, cfg.LogLevel)
	authn, err := newAuth(ctx, cfg.Auth, log)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	obs, err := newObservability(ctx, cfg.Observability, cfg.Env, log)
	if err != nil {
		return fmt.Errorf("observability: %w", err)
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		obs.shutdown(flushCtx, log)
	}()
	pool, err := postgres.Open(ctx, cfg.DatabaseURL, log, postgres.Options{
		Migrations:     cfg.migrations(),
		TracerProvider: obs.tracing.Provider(), // nil when tracing is off: no tracer installed
	})
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	if err := obs.register(observability.NewPoolCollector("main", pool)); err != nil {
		return err
	}

	ai, err := newOllama(cfg.AI, obs.metrics)
	if err != nil {
		return err
	}
	ctxs, err := buildContexts(ctx, &infra{cfg: cfg, pool: pool, log: log, obs: obs, ollama: ai, authn: authn})
	if err != nil {
		return err
	}
	defer ctxs.close()
	// Background work lives as long as bg, owned by this function.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	evs, err := startEvents(bg, cfg.Events, pool, ctxs.queues, ctxs.consumers, obs, log)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	defer func() { // on early returns; a no-op after the graceful shutdown
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		evs.shutdown(stopCtx)
	}()
	if err := obs.register(observability.NewRelayCollector(evs.relay), observability.NewConsumerCollector(evs.guard)); err != nil {
		return err
	}
	loops := startLoops(bg, ctxs.loops())

	routes, err := newRoutes(cfg, ctxs, authn, obs, map[string]rpc.Pinger{
		"postgres": rpc.PingFunc(pool.Ping),
		"rabbitmq": rpc.PingFunc(evs.ping),
	}, log)
	if err != nil {
		return err
	}
	srv, err := newHTTPServer(cfg, routes, log)
	if err != nil {
		return err
	}
	stopMetrics, err := obs.serveMetrics(cfg.Observability.MetricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics(context.Background()) // on early returns; a no-op after the graceful shutdown
	served, err := listenAndServe(srv, cfg, log)
	if err != nil {
		return err
	}

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case err := <-loops.failed:
		return err
	}
	return shutdown(ctx, cfg, shutdownSteps{routes: routes, srv: srv, evs: evs, stopMetrics: stopMetrics, stopBG: stopBG, loops: loops}, log)
}

// newRoutes mounts the served contexts' services behind the interceptors,
// with readiness over the dependencies those contexts use.
func newRoutes(cfg config, ctxs *contexts, authn authSetup, obs obsSetup, pingers map[string]rpc.Pinger, log *slog.Logger) (*rpc.Routes, error) {
	deps, err := ctxs.dependencies(pingers)
	if err != nil {
		return nil, err
	}
	routes, err := rpc.NewRoutes(rpc.Options{
		Log:               log,
		Services:          ctxs.services(),
		OuterInterceptors: obs.interceptors,
		Interceptors:      authn.interceptors,
		MaxRequestBytes:   cfg.MaxRequestBytes,
		Dependencies:      deps,
	})
	if err != nil {
		return nil, err
	}
	if authn.dev != nil {
		routes.Handle(auth.DevIssuerPath+"/", authn.dev.Handler())
	}
	for path, h := range ctxs.handlers() {
		routes.Handle(path, h)
	}
	return routes, nil
}

// newHTTPServer is the API's HTTP server: every timeout set, HTTP/1.1 and
// HTTP/2 (over TLS 1.3, or h2c without TLS).
func newHTTPServer(cfg config, routes *rpc.Routes, log *slog.Logger) (*http.Server, error) {
	srv := &http.Server{
		Handler:           auth.CORS(rpc.LongStreams(rpc.GuardGetQueries(routes.Handler(cfg.MaxRequestBytes))), cfg.Auth.CORSOrigins),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 256},
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	if cfg.TLSCert == "" {
		srv.Protocols.SetUnencryptedHTTP2(true)
		return srv, nil
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
	srv.Protocols.SetHTTP2(true)
	return srv, nil
}

// listenAndServe listens on cfg.Addr and serves srv in the background; the
// channel gets the error that ends serving.
func listenAndServe(srv *http.Server, cfg config, log *slog.Logger) (<-chan error, error) {
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("tls", srv.TLSConfig != nil),
		slog.String("env", cfg.Env), slog.Any("contexts", cfg.Contexts))
	return served, nil
}

// runningLoops are the contexts' background loops.
type runningLoops struct {
	// failed gets the error of the first loop that ends before shutdown.
	failed chan error
	done   chan error
	n      int
}

// startLoops runs each loop until ctx ends.
func startLoops(ctx context.Context, loops []loop) *runningLoops {
	r := &runningLoops{failed: make(chan error, 1), done: make(chan error, len(loops)), n: len(loops)}
	for _, l := range loops {
		go func() {
			err := l.run(ctx)
			if ctx.Err() == nil {
				cause := err
				if cause == nil {
					cause = errors.New("returned early")
				}
				select {
				case r.failed <- fmt.Errorf("%s stopped: %w", l.name, cause):
				default:
				}
			}
			if err != nil && !errors.Is(err, context.Canceled) {
				err = fmt.Errorf("%s: %w", l.name, err)
			} else {
				err = nil
			}
			r.done <- err
		}()
	}
	return r
}

// wait waits for every loop to end (after their context was cancelled).
func (r *runningLoops) wait(log *slog.Logger) {
	for range r.n {
		if err := <-r.done; err != nil {
			log.Warn("background loop", slog.Any("error", err))
		}
	}
}

// shutdownSteps is what a graceful shutdown stops, in order.
type shutdownSteps struct {
	routes      *rpc.Routes
	srv         *http.Server
	evs         *events
	stopMetrics func(context.Context) error
	stopBG      context.CancelFunc
	loops       *runningLoops
}

// shutdown drains the routes, finishes the requests in flight, then stops
// the event backbone, the metrics server and the background loops.
func shutdown(ctx context.Context, cfg config, s shutdownSteps, log *slog.Logger) error {
	log.Info("shutting down")
	s.routes.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(shutdownCtx)
	// After the last RPC: the consumers finish, the relay publishes what
	// the last writes left.
	s.evs.shutdown(shutdownCtx)
	if merr := s.stopMetrics(shutdownCtx); merr != nil {
		log.Warn("metrics server shutdown", slog.Any("error", merr))
	}
	s.stopBG()
	s.loops.wait(log)
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
