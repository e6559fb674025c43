package assistant_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

const (
	duneID   = "0190a0d8-7b55-7cc5-9a4e-6a7d1c0f4e21"
	hobbitID = "0190a0d8-7b55-7cc5-9a4e-6a7d1c0f4e22"
	alice    = "alice"
)

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeCatalog answers from a map of books and records the last search.
type fakeCatalog struct {
	books    map[string]assistant.Book
	searched []assistant.SearchQuery
	similar  assistant.SimilarResult
	err      error
}

func (c *fakeCatalog) SearchBooks(_ context.Context, q assistant.SearchQuery) (assistant.SearchResult, error) {
	c.searched = append(c.searched, q)
	if c.err != nil {
		return assistant.SearchResult{}, c.err
	}
	mode := q.Mode
	if mode == "" {
		mode = assistant.SearchModeHybrid
	}
	return assistant.SearchResult{Books: []assistant.Book{c.books[duneID]}, Mode: mode, NextPageToken: "next"}, nil
}

func (c *fakeCatalog) GetBook(_ context.Context, id string) (assistant.Book, error) {
	if c.err != nil {
		return assistant.Book{}, c.err
	}
	b, ok := c.books[id]
	if !ok {
		return assistant.Book{}, failure.NotFound("book %s not found", id)
	}
	return b, nil
}

func (c *fakeCatalog) SimilarBooks(_ context.Context, id string, limit int) (assistant.SimilarResult, error) {
	if _, ok := c.books[id]; !ok {
		return assistant.SimilarResult{}, failure.NotFound("book %s not found", id)
	}
	r := c.similar
	if len(r.Books) > limit {
		r.Books = r.Books[:limit]
	}
	return r, nil
}

type fakeReviews struct{ asked []string }

func (r *fakeReviews) Summarize(_ context.Context, bookID string) (string, string, error) {
	r.asked = append(r.asked, bookID)
	return "Readers love the worldbuilding.", assistant.SummarySourceModel, nil
}

// fakeOrders holds orders per user and records whose were asked for.
type fakeOrders struct {
	byUser map[string][]assistant.Order
	asked  []string
}

func (o *fakeOrders) RecentOrders(_ context.Context, userID string, limit int) ([]assistant.Order, error) {
	o.asked = append(o.asked, userID)
	list := o.byUser[userID]
	return list[:min(limit, len(list))], nil
}

type fakeBaskets struct {
	byUser map[string]assistant.Basket
	asked  []string
}

func (b *fakeBaskets) Basket(_ context.Context, userID string) (assistant.Basket, error) {
	b.asked = append(b.asked, userID)
	return b.byUser[userID], nil
}

type fixture struct {
	cat     *fakeCatalog
	reviews *fakeReviews
	orders  *fakeOrders
	baskets *fakeBaskets
	tb      *assistant.StoreToolbox
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dune := assistant.Book{ID: duneID, Title: "Dune", Authors: []string{"Frank Herbert"}, Category: "Science fiction",
		Publisher: "Chilton", Description: strings.Repeat("Spice. ", 400), ISBN: "9780441013593",
		Price: eur(t, 999), ListPrice: eur(t, 1299), InStock: true, RatingSum: 13, RatingCount: 3}
	hobbit := assistant.Book{ID: hobbitID, Title: "The Hobbit", Authors: []string{"J. R. R. Tolkien"}, Price: eur(t, 1500),
		ListPrice: eur(t, 1500), Deleted: true}
	f := &fixture{
		cat:     &fakeCatalog{books: map[string]assistant.Book{duneID: dune, hobbitID: hobbit}, similar: assistant.SimilarResult{Books: []assistant.Book{hobbit}}},
		reviews: &fakeReviews{},
		orders: &fakeOrders{byUser: map[string][]assistant.Order{
			alice: {{ID: "order-a", Status: "CONFIRMED", Total: eur(t, 4797), PlacedAt: time.Date(2026, 11, 30, 9, 15, 0, 0, time.FixedZone("CET", 3600)),
				Lines: []assistant.OrderLine{{BookID: duneID, Title: "Dune", Quantity: 3}, {Title: "b"}, {Title: "c"}, {Title: "d"}, {Title: "e"}, {Title: "f"}, {Title: "g"}}}},
			"bob": {{ID: "order-b", Status: "PENDING", Total: eur(t, 100)}},
		}},
		baskets: &fakeBaskets{byUser: map[string]assistant.Basket{
			alice: {Lines: []assistant.BasketLine{{BookID: duneID, Title: "Dune", Quantity: 2, UnitPrice: eur(t, 999), LineTotal: eur(t, 1998), Available: true}},
				Total: eur(t, 1998), ItemCount: 2},
			"bob": {Lines: []assistant.BasketLine{{BookID: hobbitID, Title: "The Hobbit", Quantity: 1}}, ItemCount: 1},
		}},
	}
	f.tb = assistant.NewToolbox(assistant.ToolboxDeps{Catalog: f.cat, Reviews: f.reviews, Orders: f.orders, Baskets: f.baskets})
	return f
}

func signedIn(subject string) context.Context {
	return identity.WithPrincipal(context.Background(), identity.Principal{Subject: subject, Roles: []string{identity.RoleUser}})
}

func names(tools []assistant.Tool) []string {
	var out []string
	for _, t := range tools {
		out = append(out, t.Name)
	}
	return out
}

func TestToolsDependOnTheCaller(t *testing.T) {
	f := newFixture(t)
	public := []string{"search_catalog", "get_book", "similar_books", "review_summary"}
	admin := identity.WithPrincipal(context.Background(), identity.Principal{Subject: "root", Roles: []string{identity.RoleAdmin}})
	withoutOrdering := assistant.NewToolbox(assistant.ToolboxDeps{Catalog: f.cat, Reviews: f.reviews})
	for _, tc := range []struct {
		name string
		tb   *assistant.StoreToolbox
		ctx  context.Context
		want []string
	}{
		{"anonymous", f.tb, context.Background(), public},
		{"user", f.tb, signedIn(alice), append(slices.Clone(public), "my_orders", "my_basket")},
		{"admin gets their own tools too", f.tb, admin, append(slices.Clone(public), "my_orders", "my_basket")},
		{"no ordering or basket in the process", withoutOrdering, signedIn(alice), public},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := names(tc.tb.Tools(tc.ctx)); !slices.Equal(got, tc.want) {
				t.Fatalf("tools = %v, want %v", got, tc.want)
			}
		})
	}
}

// schema is the part of a JSON schema the test reads.
type schema struct {
	Type                 string            `json:"type"`
	Properties           map[string]schema `json:"properties"`
	Required             []string          `json:"required"`
	AdditionalProperties *bool             `json:"additionalProperties"`
	MaxLength            *int              `json:"maxLength"`
	Maximum              *int              `json:"maximum"`
	Enum                 []string          `json:"enum"`
	Description          string            `json:"description"`
}

func TestEveryToolHasABoundedObjectSchema(t *testing.T) {
	f := newFixture(t)
	for _, tool := range f.tb.Tools(signedIn(alice)) {
		t.Run(tool.Name, func(t *testing.T) {
			if len(tool.Description) < 40 {
				t.Errorf("description %q is too short to guide a model", tool.Description)
			}
			var s schema
			if err := json.Unmarshal(tool.Parameters, &s); err != nil {
				t.Fatalf("parameters are not JSON: %v", err)
			}
			if s.Type != "object" || s.AdditionalProperties == nil || *s.AdditionalProperties {
				t.Fatalf("schema %s: want an object without additional properties", tool.Parameters)
			}
			for _, r := range s.Required {
				if _, ok := s.Properties[r]; !ok {
					t.Errorf("required %q is no property", r)
				}
			}
			for name, p := range s.Properties {
				if p.Description == "" {
					t.Errorf("%s has no description", name)
				}
				switch {
				case p.Type == "string" && p.MaxLength == nil && p.Enum == nil:
					t.Errorf("string %s has no maxLength", name)
				case p.Type == "integer" && p.Maximum == nil:
					t.Errorf("integer %s has no maximum", name)
				case p.Type != "string" && p.Type != "integer":
					t.Errorf("%s has type %q", name, p.Type)
				}
			}
		})
	}
}

func call(t *testing.T, tb *assistant.StoreToolbox, ctx context.Context, name, args string) map[string]any {
	t.Helper()
	raw, err := tb.Call(ctx, name, json.RawMessage(args))
	if err != nil {
		t.Fatalf("%s(%s): %v", name, args, err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s: result %s is no JSON object: %v", name, raw, err)
	}
	return out
}

// jsonOf re-encodes part of a result, for comparing against a literal.
func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSearchCatalog(t *testing.T) {
	f := newFixture(t)
	raw, err := f.tb.Call(context.Background(), "search_catalog", json.RawMessage(`{"query": " desert planet "}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := f.cat.searched[0]; got != (assistant.SearchQuery{Text: "desert planet", PageSize: 5}) {
		t.Errorf("asked the catalog %+v, want the query, no mode and 5 books", got)
	}
	want := `{"books":[{"id":"` + duneID + `","title":"Dune","authors":["Frank Herbert"],"price":"9.99 EUR","list_price":"12.99 EUR",` +
		`"in_stock":true,"rating":{"average":4.3,"reviews":3}}],"mode":"hybrid","next_page_token":"next"}`
	if got := string(raw); got != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}

	call(t, f.tb, context.Background(), "search_catalog", `{"query": "dune", "mode": "lexical", "page_size": 10, "page_token": "next"}`)
	if got := f.cat.searched[1]; got != (assistant.SearchQuery{Text: "dune", Mode: "lexical", PageSize: 10, PageToken: "next"}) {
		t.Errorf("asked the catalog %+v", got)
	}
	// null stands for a parameter left out.
	call(t, f.tb, context.Background(), "search_catalog", `{"query": "dune", "mode": null, "page_size": null}`)
	if got := f.cat.searched[2]; got.Mode != "" || got.PageSize != 5 {
		t.Errorf("asked the catalog %+v, want the defaults", got)
	}
}

func TestBadArgumentsAreInvalidWithAMessageTheModelCanUse(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name, tool, args string
		// want appears in the error message.
		want string
	}{
		{"unknown parameter", "search_catalog", `{"query": "x", "author": "Herbert"}`, "author: is not a parameter of this tool; its parameters are query, mode, page_size, page_token"},
		{"wrong type", "search_catalog", `{"query": 42}`, "query: must be a string"},
		{"fraction for a count", "search_catalog", `{"query": "x", "page_size": 2.5}`, "page_size: must be a whole number"},
		{"count as a string", "my_orders", `{"limit": "3"}`, "limit: must be a whole number"},
		{"page size above the bound", "search_catalog", `{"query": "x", "page_size": 11}`, "page_size: must be between 1 and 10"},
		{"page size zero", "search_catalog", `{"query": "x", "page_size": 0}`, "page_size: must be between 1 and 10"},
		{"missing query", "search_catalog", `{}`, "query: is required"},
		{"null query", "search_catalog", `{"query": null}`, "query: is required"},
		{"empty query", "search_catalog", `{"query": "  "}`, "query: must not be empty"},
		{"query too long", "search_catalog", `{"query": "` + strings.Repeat("é", 201) + `"}`, "query: must be at most 200 characters"},
		{"unknown mode", "search_catalog", `{"query": "x", "mode": "vibes"}`, "mode: must be lexical, semantic or hybrid"},
		{"page token too long", "search_catalog", `{"query": "x", "page_token": "` + strings.Repeat("a", 1025) + `"}`, "page_token: must be at most 1024 characters"},
		{"arguments not an object", "get_book", `["` + duneID + `"]`, "arguments: must be one JSON object"},
		{"arguments not JSON", "get_book", `{"book_id": `, "arguments: must be one JSON object"},
		{"arguments too large", "get_book", `{"book_id": "` + strings.Repeat("a", 9000) + `"}`, "arguments: must be at most 8192 bytes"},
		{"id not a UUID", "get_book", `{"book_id": "dune"}`, "book_id: must be a book id"},
		{"id missing", "review_summary", ``, "book_id: is required"},
		{"limit above the bound", "similar_books", `{"book_id": "` + duneID + `", "limit": 50}`, "limit: must be between 1 and 10"},
		{"basket takes nothing", "my_basket", `{"all": true}`, "all: is not a parameter of this tool"},
		{"unknown tool", "delete_book", `{}`, `there is no tool "delete_book"; the tools are search_catalog, get_book, similar_books, review_summary, my_orders, my_basket`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.tb.Call(signedIn(alice), tc.tool, json.RawMessage(tc.args))
			if !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("error %v, want failure.ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
	if len(f.cat.searched)+len(f.reviews.asked)+len(f.orders.asked)+len(f.baskets.asked) != 0 {
		t.Error("a port was called with bad arguments")
	}
}

func TestGetBook(t *testing.T) {
	f := newFixture(t)
	// Ids may come in upper case; the catalog is asked the canonical one.
	out := call(t, f.tb, context.Background(), "get_book", `{"book_id": "`+strings.ToUpper(duneID)+`"}`)
	if out["id"] != duneID || out["price"] != "9.99 EUR" || out["isbn"] != "9780441013593" || out["category"] != "Science fiction" {
		t.Errorf("result %v", out)
	}
	if d := out["description"].(string); len([]rune(d)) != 1501 || !strings.HasSuffix(d, "…") {
		t.Errorf("description of %d characters, want 1500 and an ellipsis", len([]rune(d)))
	}
	deleted := call(t, f.tb, context.Background(), "get_book", `{"book_id": "`+hobbitID+`"}`)
	if deleted["deleted"] != true || deleted["in_stock"] != false || deleted["list_price"] != nil {
		t.Errorf("deleted book %v: want deleted, not in stock, no sale", deleted)
	}

	_, err := f.tb.Call(context.Background(), "get_book", json.RawMessage(`{"book_id": "0190a0d8-7b55-7cc5-9a4e-000000000000"}`))
	if !errors.Is(err, failure.ErrInvalid) || !errors.Is(err, failure.ErrNotFound) || !strings.Contains(err.Error(), "no book has this id") {
		t.Errorf("unknown book: %v, want ErrInvalid and ErrNotFound saying no book has this id", err)
	}
}

func TestPortFailuresPassThrough(t *testing.T) {
	f := newFixture(t)
	f.cat.err = fmt.Errorf("%w: the catalog is down", failure.ErrUnavailable)
	for _, tc := range []struct{ tool, args string }{
		{"search_catalog", `{"query": "dune"}`},
		{"get_book", `{"book_id": "` + duneID + `"}`},
		{"review_summary", `{"book_id": "` + duneID + `"}`},
	} {
		if _, err := f.tb.Call(context.Background(), tc.tool, json.RawMessage(tc.args)); !errors.Is(err, failure.ErrUnavailable) || errors.Is(err, failure.ErrInvalid) {
			t.Errorf("%s: %v, want failure.ErrUnavailable", tc.tool, err)
		}
	}
}

func TestSimilarBooks(t *testing.T) {
	f := newFixture(t)
	out := call(t, f.tb, context.Background(), "similar_books", `{"book_id": "`+duneID+`"}`)
	if out["related_by"] != "meaning" || out["book_id"] != duneID || len(out["books"].([]any)) != 1 {
		t.Errorf("result %v", out)
	}
	f.cat.similar.Fallback = "not_embedded"
	out = call(t, f.tb, context.Background(), "similar_books", `{"book_id": "`+duneID+`", "limit": 1}`)
	if out["related_by"] != "authors and category" {
		t.Errorf("fallback result %v", out)
	}
	_, err := f.tb.Call(context.Background(), "similar_books", json.RawMessage(`{"book_id": "0190a0d8-7b55-7cc5-9a4e-000000000000"}`))
	if !errors.Is(err, failure.ErrNotFound) || !errors.Is(err, failure.ErrInvalid) {
		t.Errorf("unknown book: %v", err)
	}
}

func TestReviewSummary(t *testing.T) {
	f := newFixture(t)
	out := call(t, f.tb, context.Background(), "review_summary", `{"book_id": "`+strings.ToUpper(duneID)+`"}`)
	want := `{"book_id":"` + duneID + `","source":"model","summary":"Readers love the worldbuilding.","title":"Dune"}`
	if got := jsonOf(t, out); got != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
	if !slices.Equal(f.reviews.asked, []string{duneID}) {
		t.Errorf("summaries asked for %v, want the canonical id", f.reviews.asked)
	}
	// A made-up id is not summarized as "no reviews".
	_, err := f.tb.Call(context.Background(), "review_summary", json.RawMessage(`{"book_id": "0190a0d8-7b55-7cc5-9a4e-000000000000"}`))
	if !errors.Is(err, failure.ErrNotFound) || len(f.reviews.asked) != 1 {
		t.Errorf("unknown book: %v (summaries asked %d times)", err, len(f.reviews.asked))
	}
}

func TestMyToolsNeedASignedInCaller(t *testing.T) {
	f := newFixture(t)
	for _, tool := range []string{"my_orders", "my_basket"} {
		_, err := f.tb.Call(context.Background(), tool, nil)
		if !errors.Is(err, failure.ErrInvalid) || !strings.Contains(err.Error(), "only for signed-in customers") {
			t.Errorf("%s anonymous: %v, want ErrInvalid saying it needs a signed-in customer", tool, err)
		}
	}
	if len(f.orders.asked)+len(f.baskets.asked) != 0 {
		t.Error("an anonymous call reached the orders or baskets")
	}
}

func TestMyOrdersAreTheCallersOwn(t *testing.T) {
	f := newFixture(t)
	out := call(t, f.tb, signedIn(alice), "my_orders", `{}`)
	want := `{"orders":[{"books":[{"quantity":3,"title":"Dune"},{"quantity":0,"title":"b"},{"quantity":0,"title":"c"},` +
		`{"quantity":0,"title":"d"},{"quantity":0,"title":"e"}],"id":"order-a","more_books":2,"placed_at":"2026-11-30T08:15:00Z",` +
		`"status":"CONFIRMED","total":"47.97 EUR"}]}`
	if got := jsonOf(t, out); got != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
	out = call(t, f.tb, signedIn("carol"), "my_orders", `{"limit": 10}`)
	if got := jsonOf(t, out); got != `{"orders":[]}` {
		t.Errorf("a customer without orders got %s", got)
	}
	if !slices.Equal(f.orders.asked, []string{alice, "carol"}) {
		t.Errorf("orders asked for %v, want each caller's own", f.orders.asked)
	}
}

func TestMyBasketIsTheCallersOwn(t *testing.T) {
	f := newFixture(t)
	out := call(t, f.tb, signedIn(alice), "my_basket", `null`)
	want := `{"item_count":2,"lines":[{"available":true,"book_id":"` + duneID + `","line_total":"19.98 EUR","quantity":2,` +
		`"title":"Dune","unit_price":"9.99 EUR"}],"total":"19.98 EUR"}`
	if got := jsonOf(t, out); got != want {
		t.Errorf("result\n got %s\nwant %s", got, want)
	}
	out = call(t, f.tb, signedIn("carol"), "my_basket", `{}`)
	if got := jsonOf(t, out); got != `{"item_count":0,"lines":[]}` {
		t.Errorf("a customer without a basket got %s", got)
	}
	if !slices.Equal(f.baskets.asked, []string{alice, "carol"}) {
		t.Errorf("baskets asked for %v, want each caller's own", f.baskets.asked)
	}
}
