// Package connectclient connects BookWorm's contexts when they run in
// different processes: each adapter implements a port one context declares
// by calling another context's public RPC service with the generated Connect
// client, over the gRPC protocol. It is the network sibling of package
// inproc, and cmd/server picks one of the two per port.
package connectclient

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"connectrpc.com/connect"
	"connectrpc.com/otelconnect"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// Defaults of Config.
const (
	DefaultTimeout    = 2 * time.Second
	DefaultAttempts   = 3
	DefaultMinBackoff = 50 * time.Millisecond
	DefaultMaxBackoff = time.Second
)

// Config is how a client reaches a remote context.
type Config struct {
	// BaseURL is the remote server, "http://host:port" (gRPC over h2c) or
	// "https://host:port" (gRPC over HTTP/2 with TLS).
	BaseURL string
	// Timeout bounds one attempt of a call (DefaultTimeout when zero); the
	// caller's own deadline, when sooner, wins.
	Timeout time.Duration
	// Attempts bounds the tries of an idempotent read that failed with
	// Unavailable or DeadlineExceeded (DefaultAttempts when zero).
	Attempts int
	// MinBackoff and MaxBackoff bound the jittered exponential wait between
	// attempts.
	MinBackoff, MaxBackoff time.Duration
	// TracerProvider and Propagator carry the caller's trace to the remote
	// service; nil means OpenTelemetry's global ones.
	TracerProvider trace.TracerProvider
	Propagator     propagation.TextMapPropagator
	// TLS configures https:// base URLs; nil means the system roots.
	TLS *tls.Config
	// Logger records the causes that the core only sees as sentinels.
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Attempts <= 0 {
		c.Attempts = DefaultAttempts
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// catalogClient is the generated client of the remote CatalogService with
// what every port over it shares: its configuration, its transport, the
// retries of idempotent reads and the translation of remote codes.
type catalogClient struct {
	cfg       Config
	client    catalogv1connect.CatalogServiceClient
	transport *http.Transport
}

// newCatalogClient returns the client of the catalog at cfg.BaseURL. It
// does not dial: a catalog that is down at start only fails the calls made
// while it is.
func newCatalogClient(cfg Config) (*catalogClient, error) {
	cfg.setDefaults()
	transport, err := newTransport(cfg)
	if err != nil {
		return nil, err
	}
	otel := []otelconnect.Option{otelconnect.WithoutMetrics()}
	if cfg.TracerProvider != nil {
		otel = append(otel, otelconnect.WithTracerProvider(cfg.TracerProvider))
	}
	if cfg.Propagator != nil {
		otel = append(otel, otelconnect.WithPropagator(cfg.Propagator))
	}
	tracing, err := otelconnect.NewInterceptor(otel...)
	if err != nil {
		return nil, fmt.Errorf("otelconnect: %w", err)
	}
	client := catalogv1connect.NewCatalogServiceClient(&http.Client{Transport: transport}, cfg.BaseURL,
		connect.WithGRPC(),
		connect.WithInterceptors(tracing),
	)
	return &catalogClient{cfg: cfg, client: client, transport: transport}, nil
}

// Close releases the idle connections.
func (c *catalogClient) Close() { c.transport.CloseIdleConnections() }

// CatalogBooks is the rating context's rating.BookChecker over the remote
// catalog's CatalogService.GetBook.
type CatalogBooks struct {
	*catalogClient
}

var _ rating.BookChecker = (*CatalogBooks)(nil)

// NewCatalogBooks returns the book checker calling the catalog at
// cfg.BaseURL. It does not dial: a catalog that is down at start only fails
// the calls made while it is.
func NewCatalogBooks(cfg Config) (*CatalogBooks, error) {
	c, err := newCatalogClient(cfg)
	if err != nil {
		return nil, err
	}
	return &CatalogBooks{c}, nil
}

// newTransport speaks HTTP/2 only, as gRPC needs: h2c for http:// and TLS
// with ALPN for https://.
func newTransport(cfg Config) (*http.Transport, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("catalog url %q must be an http:// or https:// URL", cfg.BaseURL)
	}
	t := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: cfg.Timeout,
		IdleConnTimeout:     90 * time.Second,
		MaxIdleConnsPerHost: 16,
		HTTP2:               &http.HTTP2Config{SendPingTimeout: 30 * time.Second, PingTimeout: cfg.Timeout},
		Protocols:           new(http.Protocols),
	}
	if u.Scheme == "https" {
		t.TLSClientConfig = cfg.TLS
		t.Protocols.SetHTTP2(true)
	} else {
		t.Protocols.SetUnencryptedHTTP2(true)
	}
	return t, nil
}

// BookExists reports whether the catalog has the book and it is not
// deleted. A book the catalog does not know, or an id it refuses, is not a
// book: false without error, as in process.
func (c *CatalogBooks) BookExists(ctx context.Context, bookID string) (bool, error) {
	var book *catalogv1.Book
	err := c.retry(ctx, "GetBook", func(ctx context.Context) error {
		res, err := c.client.GetBook(ctx, connect.NewRequest(&catalogv1.GetBookRequest{Id: bookID}))
		if err == nil {
			book = res.Msg.GetBook()
		}
		return err
	})
	switch {
	case errors.Is(err, failure.ErrNotFound), errors.Is(err, failure.ErrInvalid):
		return false, nil
	case err != nil:
		return false, err
	}
	return !book.GetDeleted(), nil
}

// retry runs call, an idempotent read, each attempt under its own deadline,
// trying again after a jittered exponential back-off while it fails with a
// code that says the catalog may answer next time. The result is
// translated into the core's failure sentinels.
func (c *catalogClient) retry(ctx context.Context, procedure string, call func(context.Context) error) error {
	var err error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
		err = call(actx)
		cancel()
		if err == nil || !retryable(connect.CodeOf(err)) || ctx.Err() != nil || attempt == c.cfg.Attempts {
			break
		}
		wait := events.Backoff(c.cfg.MinBackoff, c.cfg.MaxBackoff, attempt)
		c.cfg.Logger.DebugContext(ctx, "catalog call failed; retrying", slog.String("procedure", procedure),
			slog.Int("attempt", attempt), slog.Duration("wait", wait), slog.Any("error", err))
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err() // the caller gave up: not the catalog's failure
	}
	return c.translate(ctx, procedure, err)
}

// retryable reports whether a failed idempotent read may succeed if tried
// again soon: the catalog was unreachable, overloaded or too slow.
func retryable(code connect.Code) bool {
	return code == connect.CodeUnavailable || code == connect.CodeDeadlineExceeded || code == connect.CodeResourceExhausted
}

// codes is the table from the remote Connect codes to the core's sentinels.
// Messages of the catalog's client errors are safe to pass on (the catalog
// wrote them for clients); the cause of anything else is logged here and
// never reaches the caller's client. A *connect.Error is never returned,
// so the RPC adapter translates the result like any core error.
var codes = map[connect.Code]error{
	connect.CodeNotFound:           failure.ErrNotFound,
	connect.CodeInvalidArgument:    failure.ErrInvalid,
	connect.CodeAlreadyExists:      failure.ErrAlreadyExists,
	connect.CodeAborted:            failure.ErrConflict,
	connect.CodeFailedPrecondition: failure.ErrFailedPrecondition,
	connect.CodeUnavailable:        failure.ErrUnavailable,
	connect.CodeDeadlineExceeded:   failure.ErrUnavailable,
	connect.CodeResourceExhausted:  failure.ErrUnavailable,
}

// remoteError is a sentinel with a message for the client.
type remoteError struct {
	sentinel error
	msg      string
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func (c *catalogClient) translate(ctx context.Context, procedure string, err error) error {
	if err == nil {
		return nil
	}
	code := connect.CodeOf(err)
	sentinel, ok := codes[code]
	switch {
	case ok && sentinel == failure.ErrUnavailable:
		c.cfg.Logger.WarnContext(ctx, "catalog unavailable", slog.String("procedure", procedure), slog.Any("error", err))
		return &remoteError{sentinel: sentinel, msg: "the catalog is unavailable; try again later"}
	case ok:
		var ce *connect.Error
		msg := code.String()
		if errors.As(err, &ce) && ce.Message() != "" {
			msg = ce.Message()
		}
		return &remoteError{sentinel: sentinel, msg: "catalog: " + msg}
	}
	// Unauthenticated, PermissionDenied, Internal...: this process is
	// misconfigured or the catalog failed; the caller gets Internal. The
	// text, not the error, is kept: a *connect.Error left in the chain
	// would be passed through to the caller's client as it is.
	return fmt.Errorf("catalog %s: %s", procedure, err.Error())
}
