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
	"github.com/bookworm-store/bookworm/internal/adapters/inproc"
	"github.com/bookworm-store/bookworm/internal/adapters/observability"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
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

	pool, err := postgres.Connect(ctx, cfg.DatabaseURL, log)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()
	if err := obs.register(observability.NewPoolCollector("main", pool)); err != nil {
		return err
	}

	if cfg.Seed {
		res, err := postgres.Seed(ctx, pool, cfg.SeedBooks)
		if err != nil {
			return fmt.Errorf("seed: %w", err)
		}
		log.Info("demo catalog loaded", slog.Any("added", res))
	}

	// Background loops live as long as bg; each has this function as owner.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBG()
	loops := make(chan error, 1)

	books := postgres.NewBookCache(postgres.NewBooks(pool), pool, cfg.CacheEntries, log)
	go func() { loops <- books.Run(bg) }()
	catalogSvc := catalog.NewService(books, postgres.NewEntities(pool), nil)

	evs, err := startEvents(bg, cfg.Events, eventDeps{pool: pool, log: log}, log)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	defer func() { // on early returns; a no-op after the shutdown below
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		evs.shutdown(stopCtx)
	}()
	if err := obs.register(observability.NewRelayCollector(evs.relay)); err != nil {
		return err
	}
	ratingSvc := rating.NewService(postgres.NewReviews(pool), inproc.NewCatalogBooks(catalogSvc), nil)

	routes, err := rpc.NewRoutes(rpc.Options{
		Log:               log,
		Catalog:           catalogSvc,
		Rating:            ratingSvc,
		OuterInterceptors: obs.interceptors,
		Interceptors:      authn.interceptors,
		MaxRequestBytes:   cfg.MaxRequestBytes,
		Dependencies: map[string]rpc.Pinger{
			"postgres": rpc.PingFunc(pool.Ping),
			"rabbitmq": rpc.PingFunc(evs.ping),
		},
	})
	if err != nil {
		return err
	}
	if authn.dev != nil {
		routes.Handle(auth.DevIssuerPath+"/", authn.dev.Handler())
	}

	srv := &http.Server{
		Handler:           auth.CORS(rpc.GuardGetQueries(routes.Handler(cfg.MaxRequestBytes)), cfg.Auth.CORSOrigins),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: 256},
		Protocols:         new(http.Protocols),
	}
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		srv.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetHTTP2(true)
	} else {
		srv.Protocols.SetHTTP1(true)
		srv.Protocols.SetUnencryptedHTTP2(true)
	}

	stopMetrics, err := obs.serveMetrics(cfg.Observability.MetricsAddr, log)
	if err != nil {
		return err
	}
	defer stopMetrics(context.Background()) // on early returns; a no-op after the shutdown below
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	served := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			served <- srv.ServeTLS(ln, "", "")
		} else {
			served <- srv.Serve(ln)
		}
	}()
	log.Info("serving", slog.String("addr", ln.Addr().String()), slog.Bool("tls", srv.TLSConfig != nil), slog.String("env", cfg.Env))

	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case err := <-loops:
		return fmt.Errorf("cache listener stopped: %w", err)
	}

	log.Info("shutting down")
	routes.Drain()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	// After the last RPC: the consumers finish, the relay publishes what
	// the last writes left.
	evs.shutdown(shutdownCtx)
	if merr := stopMetrics(shutdownCtx); merr != nil {
		log.Warn("metrics server shutdown", slog.Any("error", merr))
	}
	stopBG()
	if lerr := <-loops; lerr != nil && !errors.Is(lerr, context.Canceled) {
		log.Warn("cache listener", slog.Any("error", lerr))
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}
