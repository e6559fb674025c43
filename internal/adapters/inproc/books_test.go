package inproc

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/basket/baskettest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// stocked returns a live book with stock copies and, when sale is not 0,
// a sale price.
func stocked(t *testing.T, stock int32, sale int64) *catalog.Book {
	t.Helper()
	r := book(t, false).Record()
	r.StockQuantity = stock
	if sale != 0 {
		r.SalePrice = eur(t, sale)
	}
	return catalog.RestoreBook(r)
}

// TestCatalogPorts runs the basket's and ordering's catalog ports over the
// real catalog use cases: effective prices, deleted and out-of-stock
// books, unknown ids absent, batches beyond the catalog's limit.
func TestCatalogPorts(t *testing.T) {
	onSale, out, gone := stocked(t, 3, 750), stocked(t, 0, 0), book(t, true)
	byID := map[string]*catalog.Book{onSale.ID(): onSale, out.ID(): out, gone.ID(): gone}
	var many []string
	for range 150 {
		b := stocked(t, 1, 0)
		byID[b.ID()] = b
		many = append(many, b.ID())
	}
	svc := catalog.NewService(books{byID: byID}, nil, nil)
	ctx := context.Background()
	unknown := coreid.New()
	ids := []string{onSale.ID(), out.ID(), gone.ID(), unknown, "not-an-id", onSale.ID()}

	got, err := NewBasketCatalog(svc).Books(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d books, want 3: %v", len(got), got)
	}
	if b := got[onSale.ID()]; b.Price != eur(t, 750) || !b.InStock || b.Deleted || b.Title != "T" {
		t.Fatalf("the book on sale: %+v", b)
	}
	if b := got[out.ID()]; b.InStock || b.Price != eur(t, 1000) {
		t.Fatalf("the book out of stock: %+v", b)
	}
	if b := got[gone.ID()]; !b.Deleted {
		t.Fatalf("the deleted book: %+v", b)
	}

	ord, err := NewOrderingCatalog(svc).Books(ctx, ids)
	if err != nil {
		t.Fatal(err)
	}
	if len(ord) != 3 || ord[onSale.ID()] != (ordering.Book{ID: onSale.ID(), Title: "T", Price: eur(t, 750), InStock: true}) ||
		!ord[gone.ID()].Deleted || ord[out.ID()].InStock {
		t.Fatalf("ordering's books: %+v", ord)
	}

	all, err := NewBasketCatalog(svc).Books(ctx, append(many, unknown))
	if err != nil || len(all) != len(many) {
		t.Fatalf("150 books and an unknown one: %d books, %v", len(all), err)
	}

	_, err = NewBasketCatalog(catalog.NewService(books{byID: byID, err: failure.ErrUnavailable}, nil, nil)).Books(ctx, ids)
	if !errors.Is(err, failure.ErrUnavailable) {
		t.Fatalf("catalog down: %v, want ErrUnavailable", err)
	}
}

// TestOrderingBaskets reads a buyer's lines through the basket use cases.
func TestOrderingBaskets(t *testing.T) {
	b := stocked(t, 5, 0)
	cat := NewBasketCatalog(catalog.NewService(books{byID: map[string]*catalog.Book{b.ID(): b}}, nil, nil))
	svc := basket.NewService(baskettest.NewMemoryStore(), cat, func() time.Time { return time.Now() })
	ctx := identity.WithPrincipal(context.Background(), identity.Principal{Subject: "alice", Roles: []string{identity.RoleUser}})
	if _, err := svc.AddItem(ctx, b.ID(), 2, coreid.New()); err != nil {
		t.Fatal(err)
	}
	port := NewOrderingBaskets(svc)
	lines, err := port.Lines(context.Background(), "alice")
	if err != nil || fmt.Sprint(lines) != fmt.Sprint([]ordering.BasketLine{{BookID: b.ID(), Quantity: 2}}) {
		t.Fatalf("alice's lines: %v, %v", lines, err)
	}
	if lines, err := port.Lines(context.Background(), "bob"); err != nil || len(lines) != 0 {
		t.Fatalf("bob's lines: %v, %v", lines, err)
	}
	if _, err := port.Lines(context.Background(), ""); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("no user: %v, want ErrInvalid", err)
	}
}
