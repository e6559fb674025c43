package connectclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// withStock returns a live book with stock copies and, when sale is not 0,
// a sale price in EUR cents.
func withStock(t *testing.T, stock int32, sale int64) *catalog.Book {
	t.Helper()
	r := newBook(t, false).Record()
	r.StockQuantity = stock
	if sale != 0 {
		m, err := money.New("EUR", sale)
		if err != nil {
			t.Fatal(err)
		}
		r.SalePrice = m
	}
	return catalog.RestoreBook(r)
}

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCatalogPortsOverBatchGetBooks: the basket's and ordering's catalog
// ports read effective prices and availability through BatchGetBooks, in
// batches of 100, and leave unknown ids out (asking that batch again book
// by book).
func TestCatalogPortsOverBatchGetBooks(t *testing.T) {
	onSale, out, gone := withStock(t, 3, 750), withStock(t, 0, 0), newBook(t, true)
	byID := map[string]*catalog.Book{onSale.ID(): onSale, out.ID(): out, gone.ID(): gone}
	var many []string
	for range 150 {
		b := withStock(t, 1, 0)
		byID[b.ID()] = b
		many = append(many, b.ID())
	}
	cat := startCatalog(t, books{byID: byID}, nil)
	bc, err := NewBasketCatalog(Config{BaseURL: cat.url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bc.Close)
	oc, err := NewOrderingCatalog(Config{BaseURL: cat.url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(oc.Close)

	// Known books only, repeated and in upper case: one call.
	got, err := bc.Books(t.Context(), []string{onSale.ID(), out.ID(), gone.ID(), strings.ToUpper(onSale.ID()), "not-an-id"})
	if err != nil {
		t.Fatal(err)
	}
	if n := cat.calls.Load(); n != 1 {
		t.Fatalf("%d calls for three known books, want 1", n)
	}
	want := map[string]basket.Book{
		onSale.ID(): {ID: onSale.ID(), Title: "T", Price: eur(t, 750), InStock: true},
		out.ID():    {ID: out.ID(), Title: "T", Price: eur(t, 1000)},
		gone.ID():   {ID: gone.ID(), Title: "T", Price: eur(t, 1000), Deleted: true},
	}
	if len(got) != len(want) {
		t.Fatalf("books %+v, want %+v", got, want)
	}
	for id, w := range want {
		if got[id] != w {
			t.Fatalf("book %s: %+v, want %+v", id, got[id], w)
		}
	}
	for _, r := range cat.seen {
		if !strings.HasSuffix(r.URL.Path, "/BatchGetBooks") || r.Header.Get("Grpc-Timeout") == "" {
			t.Fatalf("request %s (deadline %q), want BatchGetBooks with a deadline", r.URL.Path, r.Header.Get("Grpc-Timeout"))
		}
	}

	// An unknown book: the batch fails NotFound, then each book is asked.
	unknown := coreid.New()
	before := cat.calls.Load()
	ord, err := oc.Books(t.Context(), []string{onSale.ID(), unknown, gone.ID()})
	if err != nil {
		t.Fatal(err)
	}
	if len(ord) != 2 || ord[onSale.ID()] != (ordering.Book{ID: onSale.ID(), Title: "T", Price: eur(t, 750), InStock: true}) ||
		!ord[gone.ID()].Deleted {
		t.Fatalf("ordering's books: %+v", ord)
	}
	if n := cat.calls.Load() - before; n != 1+3 {
		t.Fatalf("%d calls for a batch with an unknown book, want 1 batch and 3 single reads", n)
	}

	// 150 books: two batches.
	before = cat.calls.Load()
	all, err := bc.Books(t.Context(), many)
	if err != nil || len(all) != len(many) {
		t.Fatalf("150 books: %d, %v", len(all), err)
	}
	if n := cat.calls.Load() - before; n != 2 {
		t.Fatalf("%d calls for 150 books, want 2", n)
	}
	if got, err := bc.Books(t.Context(), nil); err != nil || len(got) != 0 {
		t.Fatalf("no ids: %v, %v", got, err)
	}
}

// TestCatalogPortsRetryAndGiveUp: Unavailable answers are retried; a
// catalog that stays down is failure.ErrUnavailable for the core.
func TestCatalogPortsRetryAndGiveUp(t *testing.T) {
	b := withStock(t, 1, 0)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{b.ID(): b}}, func(n int64, w http.ResponseWriter, _ *http.Request) bool {
		if n <= 2 || n >= 4 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return true
		}
		return false
	})
	c, err := NewBasketCatalog(Config{BaseURL: cat.url, MinBackoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	got, err := c.Books(t.Context(), []string{b.ID()})
	if err != nil || len(got) != 1 {
		t.Fatalf("after two Unavailable answers: %v, %v", got, err)
	}
	_, err = c.Books(t.Context(), []string{b.ID()})
	if !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("catalog down: %v, want ErrUnavailable", err)
	}
	if n := cat.calls.Load(); n != 3+3 {
		t.Fatalf("%d calls, want 3 then 3 attempts", n)
	}
}

// TestCatalogPortsCarryTheTrace: the caller's trace reaches the catalog in
// the BatchGetBooks call's traceparent.
func TestCatalogPortsCarryTheTrace(t *testing.T) {
	b := withStock(t, 1, 0)
	cat := startCatalog(t, books{byID: map[string]*catalog.Book{b.ID(): b}}, nil)
	tp := sdktrace.NewTracerProvider()
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	c, err := NewOrderingCatalog(Config{BaseURL: cat.url, TracerProvider: tp, Propagator: propagation.TraceContext{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, span := tp.Tracer("test").Start(t.Context(), "PlaceOrder")
	defer span.End()
	if _, err := c.Books(ctx, []string{b.ID()}); err != nil {
		t.Fatal(err)
	}
	remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(cat.seen[0].Header)))
	if !remote.IsValid() || remote.TraceID() != span.SpanContext().TraceID() {
		t.Fatalf("the catalog saw no traceparent of trace %s", span.SpanContext().TraceID())
	}
}
