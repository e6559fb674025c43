package connectclient

import (
	"context"
	"errors"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// The tests call the real CatalogService handler (rpc.NewRoutes: the
// error, validation and recovery interceptors included) over a real h2c
// server. Only the catalog's book store, a port of the core, is an
// in-memory map.

// books answers GetBooks from a map; the other methods are never called.
type books struct {
	catalog.Books
	byID map[string]*catalog.Book
}

func (b books) GetBooks(_ context.Context, ids []string) ([]*catalog.Book, error) {
	var out []*catalog.Book
	for _, id := range ids {
		if x, ok := b.byID[id]; ok {
			out = append(out, x)
		}
	}
	return out, nil
}

func newBook(t testing.TB, deleted bool) *catalog.Book {
	t.Helper()
	price, err := money.New("EUR", 1000)
	if err != nil {
		t.Fatal(err)
	}
	b, err := catalog.NewBook(coreid.New(), catalog.BookFields{Title: "T", Price: price, CategoryID: coreid.New(),
		PublisherID: coreid.New(), AuthorIDs: []string{coreid.New()}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r := b.Record()
	if deleted {
		now := time.Now()
		r.DeleteTime = &now
	}
	return catalog.RestoreBook(r)
}

// catalogServer is a running catalog: the real handler behind before, which
// may answer a request itself (return true) to simulate a sick catalog.
type catalogServer struct {
	url   string
	calls atomic.Int64
	mu    sync.Mutex
	seen  []*http.Request
}

func startCatalog(t *testing.T, store books, before func(n int64, w http.ResponseWriter, r *http.Request) bool) *catalogServer {
	t.Helper()
	routes, err := rpc.NewRoutes(rpc.Options{
		Log:             slog.New(slog.DiscardHandler),
		Services:        []rpc.Service{rpc.CatalogService(catalog.NewService(store, nil, nil))},
		MaxRequestBytes: 1 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	s := &catalogServer{}
	inner := routes.Handler(1 << 20)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := s.calls.Add(1)
		s.mu.Lock()
		s.seen = append(s.seen, r.Clone(context.Background()))
		s.mu.Unlock()
		if before != nil && before(n, w, r) {
			return
		}
		inner.ServeHTTP(w, r)
	}))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	s.url = srv.URL
	return s
}

func newClient(t *testing.T, cfg Config) *CatalogBooks {
	t.Helper()
	c, err := NewCatalogBooks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestBookExists(t *testing.T) {
	live, gone := newBook(t, false), newBook(t, true)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{live.ID(): live, gone.ID(): gone}}, nil)
	c := newClient(t, Config{BaseURL: cat.url})
	tests := []struct {
		name string
		id   string
		want bool
	}{
		{"live book", live.ID(), true},
		{"deleted book", gone.ID(), false},
		{"unknown book (NotFound)", coreid.New(), false},
		{"malformed id (InvalidArgument)", "not-a-uuid", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.BookExists(t.Context(), tt.id)
			if err != nil || got != tt.want {
				t.Fatalf("BookExists = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
	// Every call went over gRPC on HTTP/2 (h2c), once each: client errors
	// are not retried.
	if n := cat.calls.Load(); n != int64(len(tests)) {
		t.Errorf("%d calls reached the catalog, want %d", n, len(tests))
	}
	for _, r := range cat.seen {
		if r.ProtoMajor != 2 || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			t.Errorf("request %s over HTTP/%d with %q, want gRPC over HTTP/2", r.URL.Path, r.ProtoMajor, r.Header.Get("Content-Type"))
		}
		if d := r.Header.Get("Grpc-Timeout"); d == "" {
			t.Errorf("request %s carries no deadline", r.URL.Path)
		}
	}
}

func TestTraceReachesTheCatalog(t *testing.T) {
	live := newBook(t, false)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{live.ID(): live}}, nil)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c := newClient(t, Config{BaseURL: cat.url, TracerProvider: tp, Propagator: propagation.TraceContext{}})

	ctx, span := tp.Tracer("test").Start(t.Context(), "CreateReview")
	if _, err := c.BookExists(ctx, live.ID()); err != nil {
		t.Fatal(err)
	}
	span.End()
	carrier := propagation.HeaderCarrier(cat.seen[0].Header)
	got := propagation.TraceContext{}.Extract(context.Background(), carrier)
	remote := trace.SpanContextFromContext(got)
	if !remote.IsValid() || remote.TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("catalog saw traceparent %q, want trace %s", carrier.Get("traceparent"), span.SpanContext().TraceID())
	}
	// The client call is a span of its own, child of the caller's.
	var client sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = s
		}
	}
	if client == nil || client.Parent().SpanID() != span.SpanContext().SpanID() || remote.SpanID() != client.SpanContext().SpanID() {
		t.Fatalf("no client span between the caller and the catalog: %v", spans.Ended())
	}
}

func TestRetriesWhileTheCatalogIsUnavailable(t *testing.T) {
	live := newBook(t, false)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{live.ID(): live}}, func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n <= 2 { // a proxy in front of a restarting catalog
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	c := newClient(t, Config{BaseURL: cat.url, MinBackoff: time.Millisecond})
	ok, err := c.BookExists(t.Context(), live.ID())
	if err != nil || !ok {
		t.Fatalf("BookExists = %v, %v; want true after two Unavailable answers", ok, err)
	}
	if n := cat.calls.Load(); n != 3 {
		t.Fatalf("%d attempts, want 3", n)
	}
}

func TestSlowCatalogIsUnavailableAfterBoundedAttempts(t *testing.T) {
	live := newBook(t, false)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{live.ID(): live}}, func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done() // never answers in time
		return true
	})
	c := newClient(t, Config{BaseURL: cat.url, Timeout: 50 * time.Millisecond, Attempts: 3, MinBackoff: time.Millisecond})
	start := time.Now()
	ok, err := c.BookExists(t.Context(), live.ID())
	if ok || !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("BookExists = %v, %v; want failure.ErrUnavailable", ok, err)
	}
	var ce *connect.Error
	if errors.As(err, &ce) {
		t.Fatalf("a *connect.Error reached the core: %v", err)
	}
	if n := cat.calls.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s; the attempts are bounded by 3 × 50ms plus back-off", d)
	}
}

func TestUnreachableCatalogIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nobody listens there now
	c := newClient(t, Config{BaseURL: "http://" + addr, MinBackoff: time.Millisecond})
	_, err = c.BookExists(t.Context(), coreid.New())
	if !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("err = %v, want failure.ErrUnavailable", err)
	}
	if strings.Contains(err.Error(), addr) {
		t.Errorf("the message %q shows the catalog's address to the caller's client", err)
	}
}

func TestCallerCancellationIsNotRetried(t *testing.T) {
	cat := startCatalog(t, books{}, func(_ int64, _ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done()
		return true
	})
	c := newClient(t, Config{BaseURL: cat.url, Timeout: 10 * time.Second})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err := c.BookExists(ctx, coreid.New())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the caller's own context.DeadlineExceeded", err)
	}
	if n := cat.calls.Load(); n != 1 {
		t.Errorf("%d attempts after the caller's deadline, want 1", n)
	}
}

func TestInternalCatalogErrorsStayInternal(t *testing.T) {
	// Over nil ports the catalog panics into Internal: the core gets a plain
	// error (Internal for its client), neither a sentinel nor the remote
	// *connect.Error.
	routes, err := rpc.NewRoutes(rpc.Options{Log: slog.New(slog.DiscardHandler), MaxRequestBytes: 1 << 20,
		Services: []rpc.Service{rpc.CatalogService(catalog.NewService(nil, nil, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(routes.Handler(1 << 20))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	c := newClient(t, Config{BaseURL: srv.URL})
	_, err = c.BookExists(t.Context(), coreid.New())
	var ce *connect.Error
	if err == nil || errors.As(err, &ce) || errors.Is(err, failure.ErrUnavailable) || errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("err = %v (%T), want a plain error", err, err)
	}
}

func TestConfigRefusesABadURL(t *testing.T) {
	for _, u := range []string{"", "catalog:8080", "ftp://catalog", "http://"} {
		if _, err := NewCatalogBooks(Config{BaseURL: u}); err == nil {
			t.Errorf("NewCatalogBooks(%q) succeeded", u)
		}
	}
}

// BenchmarkBookExists is the cost of the remote check over loopback h2c,
// the real handler included (compare inproc's in-process call).
func BenchmarkBookExists(b *testing.B) {
	live := newBook(b, false)
	routes, err := rpc.NewRoutes(rpc.Options{Log: slog.New(slog.DiscardHandler), MaxRequestBytes: 1 << 20,
		Services: []rpc.Service{rpc.CatalogService(catalog.NewService(books{byID: map[string]*catalog.Book{live.ID(): live}}, nil, nil))}})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(routes.Handler(1 << 20))
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	defer srv.Close()
	c, err := NewCatalogBooks(Config{BaseURL: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if ok, err := c.BookExists(context.Background(), live.ID()); err != nil || !ok {
				b.Error(ok, err)
				return
			}
		}
	})
}
