package rpc

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/basket/baskettest"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
)

// bookshelf is a basket.Catalog from a map.
type bookshelf map[string]basket.Book

func (s bookshelf) Books(_ context.Context, ids []string) (map[string]basket.Book, error) {
	out := map[string]basket.Book{}
	for _, id := range ids {
		if b, ok := s[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

// asSubject stands in for the auth interceptor: the caller named by the
// X-Test-Subject header, anonymous without it.
type asSubject struct{}

func (asSubject) WrapUnary(next connect.UnaryFunc) connect.UnaryFunc {
	return func(ctx context.Context, req connect.AnyRequest) (connect.AnyResponse, error) {
		if sub := req.Header().Get("X-Test-Subject"); sub != "" {
			ctx = identity.WithPrincipal(ctx, identity.Principal{Subject: sub, Roles: []string{identity.RoleUser}})
		}
		return next(ctx, req)
	}
}
func (asSubject) WrapStreamingClient(n connect.StreamingClientFunc) connect.StreamingClientFunc {
	return n
}
func (asSubject) WrapStreamingHandler(n connect.StreamingHandlerFunc) connect.StreamingHandlerFunc {
	return n
}

// TestBasketHandler drives the handler over the real use cases (the
// in-memory store, a map as the catalog): the conversion of a priced
// basket, validation by the contract, codes and ErrorInfo reasons.
func TestBasketHandler(t *testing.T) {
	price := func(cur string, minor int64) money.Money {
		m, err := money.New(cur, minor)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	a, out, usd := coreid.New(), coreid.New(), coreid.New()
	shelf := bookshelf{
		a:   {ID: a, Title: "A", Price: price("EUR", 1250), InStock: true},
		out: {ID: out, Title: "Out", Price: price("EUR", 100)},
		usd: {ID: usd, Title: "Dollar", Price: price("USD", 100), InStock: true},
	}
	routes, err := NewRoutes(Options{Log: slog.New(slog.DiscardHandler), MaxRequestBytes: 1 << 20,
		Interceptors: []connect.Interceptor{asSubject{}},
		Services:     []Service{BasketService(basket.NewService(baskettest.NewMemoryStore(), shelf, nil))}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	client := basketv1connect.NewBasketServiceClient(srv.Client(), srv.URL)
	ctx := t.Context()
	as := func(sub string, msg any) {
		switch r := msg.(type) {
		case *connect.Request[basketv1.AddItemRequest]:
			r.Header().Set("X-Test-Subject", sub)
		case *connect.Request[basketv1.GetBasketRequest]:
			r.Header().Set("X-Test-Subject", sub)
		}
	}
	add := func(sub, book string, qty int32) (*basketv1.Basket, error) {
		req := connect.NewRequest(&basketv1.AddItemRequest{BookId: book, Quantity: qty, RequestId: coreid.New()})
		as(sub, req)
		res, err := client.AddItem(ctx, req)
		if err != nil {
			return nil, err
		}
		return res.Msg.GetBasket(), nil
	}

	b, err := add("alice", a, 3)
	if err != nil {
		t.Fatal(err)
	}
	l := b.GetLines()[0]
	if len(b.GetLines()) != 1 || l.GetBookId() != a || l.GetTitle() != "A" || l.GetQuantity() != 3 || !l.GetAvailable() ||
		l.GetUnitPrice().GetUnits() != 12 || l.GetUnitPrice().GetNanos() != 500_000_000 ||
		l.GetLineTotal().GetUnits() != 37 || l.GetLineTotal().GetNanos() != 500_000_000 || l.GetAddTime() == nil ||
		b.GetTotal().GetCurrencyCode() != "EUR" || b.GetTotal().GetUnits() != 37 || b.GetItemCount() != 3 ||
		b.GetEtag() != "1" || b.GetUpdateTime() == nil {
		t.Fatalf("basket %v", b)
	}

	get := connect.NewRequest(&basketv1.GetBasketRequest{})
	as("bob", get)
	res, err := client.GetBasket(ctx, get)
	if err != nil || len(res.Msg.GetBasket().GetLines()) != 0 || res.Msg.GetBasket().GetTotal() != nil ||
		res.Msg.GetBasket().GetUpdateTime() != nil || res.Msg.GetBasket().GetEtag() != "0" {
		t.Fatalf("bob's basket: %v, %v", res, err)
	}
	if _, err := client.GetBasket(ctx, connect.NewRequest(&basketv1.GetBasketRequest{})); connect.CodeOf(err) != connect.CodeUnauthenticated {
		t.Fatalf("anonymous GetBasket: %v", err)
	}

	reason := func(err error) string {
		var ce *connect.Error
		if !errors.As(err, &ce) {
			return ""
		}
		for _, d := range ce.Details() {
			if v, err := d.Value(); err == nil {
				if i, ok := v.(*errdetails.ErrorInfo); ok {
					return i.GetReason()
				}
			}
		}
		return ""
	}
	for _, tc := range []struct {
		name   string
		book   string
		qty    int32
		code   connect.Code
		reason string
	}{
		{"unknown book", coreid.New(), 1, connect.CodeNotFound, ""},
		{"out of stock", out, 1, connect.CodeFailedPrecondition, basket.ReasonOutOfStock},
		{"other currency", usd, 1, connect.CodeFailedPrecondition, basket.ReasonCurrencyMismatch},
		{"line above 99", a, 97, connect.CodeInvalidArgument, ""},
		{"quantity 0", a, 0, connect.CodeInvalidArgument, ""},
		{"quantity 100", a, 100, connect.CodeInvalidArgument, ""},
		{"not a book id", "x", 1, connect.CodeInvalidArgument, ""},
	} {
		_, err := add("alice", tc.book, tc.qty)
		if connect.CodeOf(err) != tc.code || reason(err) != tc.reason {
			t.Errorf("%s: %v (reason %q), want %v %q", tc.name, err, reason(err), tc.code, tc.reason)
		}
	}
}
