package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gomcp "github.com/modelcontextprotocol/go-sdk/mcp"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// The tools every caller gets, and those a signed-in customer gets besides,
// sorted by name as tools/list answers.
var (
	mcpPublicTools = []string{"get_book", "review_summary", "search_catalog", "similar_books"}
	mcpUserTools   = []string{"get_book", "my_basket", "my_orders", "review_summary", "search_catalog", "similar_books"}
)

// bearerTransport adds a bearer token to every request.
type bearerTransport struct {
	token string
	next  http.RoundTripper
}

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return b.next.RoundTrip(r)
}

// mcpConnect connects the go-sdk's own client to the server's /mcp, as the
// caller of token (anonymous when empty).
func mcpConnect(t *testing.T, token string) (*gomcp.ClientSession, error) {
	t.Helper()
	hc := http1Client(t)
	if token != "" {
		hc.Transport = bearerTransport{token: token, next: hc.Transport}
	}
	client := gomcp.NewClient(&gomcp.Implementation{Name: "bookworm-e2e", Version: "1"}, nil)
	session, err := client.Connect(t.Context(), &gomcp.StreamableClientTransport{Endpoint: srv.baseURL + "/mcp", HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = session.Close() })
	return session, nil
}

func mustMCPConnect(t *testing.T, token string) *gomcp.ClientSession {
	t.Helper()
	s, err := mcpConnect(t, token)
	if err != nil {
		t.Fatalf("connecting to /mcp: %v", err)
	}
	return s
}

func toolNames(t *testing.T, s *gomcp.ClientSession) []string {
	t.Helper()
	res, err := s.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("tools/list: %v", err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		schema, err := json.Marshal(tool.InputSchema)
		if err != nil || !strings.Contains(string(schema), `"type":"object"`) || tool.Description == "" {
			t.Errorf("tool %s: description %q, input schema %s: want a description and an object schema", tool.Name, tool.Description, schema)
		}
	}
	slices.Sort(names)
	return names
}

// callTool calls a tool and returns its text, failing the test on a
// protocol error; isError tells whether the tool reported a failure.
func callTool(t *testing.T, s *gomcp.ClientSession, name string, args map[string]any) (text string, isError bool) {
	t.Helper()
	res, err := s.CallTool(t.Context(), &gomcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("tools/call %s: %v", name, err)
	}
	if len(res.Content) != 1 {
		t.Fatalf("tools/call %s: %d content blocks, want 1", name, len(res.Content))
	}
	tc, ok := res.Content[0].(*gomcp.TextContent)
	if !ok {
		t.Fatalf("tools/call %s: content %T, want text", name, res.Content[0])
	}
	return tc.Text, res.IsError
}

// callToolJSON calls a tool that must succeed and decodes its JSON result.
func callToolJSON[T any](t *testing.T, s *gomcp.ClientSession, name string, args map[string]any) T {
	t.Helper()
	text, isError := callTool(t, s, name, args)
	if isError {
		t.Fatalf("tools/call %s: tool error %q", name, text)
	}
	var out T
	if err := json.Unmarshal([]byte(text), &out); err != nil {
		t.Fatalf("tools/call %s: result %s: %v", name, text, err)
	}
	return out
}

type mcpBook struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Authors []string `json:"authors"`
	Price   string   `json:"price"`
	InStock bool     `json:"in_stock"`
}

type mcpBasket struct {
	Lines []struct {
		BookID    string `json:"book_id"`
		Title     string `json:"title"`
		Quantity  int    `json:"quantity"`
		UnitPrice string `json:"unit_price"`
		LineTotal string `json:"line_total"`
	} `json:"lines"`
	Total     string `json:"total"`
	ItemCount int    `json:"item_count"`
}

type mcpOrders struct {
	Orders []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Total  string `json:"total"`
	} `json:"orders"`
}

func (b mcpBasket) bookIDs() []string {
	var ids []string
	for _, l := range b.Lines {
		ids = append(ids, l.BookID)
	}
	return ids
}

func (o mcpOrders) ids() []string {
	var ids []string
	for _, x := range o.Orders {
		ids = append(ids, x.ID)
	}
	return ids
}

// lettersOnly is a word of the search index: random letters, no digits.
func lettersOnly(n int) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return 'a' + (r - '0')
		}
		return r + ('a' - 'A')
	}, token(n))
}

func TestMCP(t *testing.T) {
	t.Parallel()
	word := "mcp" + lettersOnly(10)
	cat := newFixture(t, catalogClient(t, connectProto), 1)
	found := cat.createBook(t, func(in *catalogv1.BookInput) { in.Title = "The " + word + " Atlas"; in.Price = eur(1999) })
	ordered := cat.createBook(t, func(in *catalogv1.BookInput) { in.Price = eur(1250) })
	bobs := cat.createBook(t, func(in *catalogv1.BookInput) { in.Price = eur(700) })

	// alice ordered one book and has another in her basket; bob has a
	// third in his.
	alice, bob := newShopper(t, connectProto), newShopper(t, connectProto)
	alice.add(t, ordered.GetId(), 1)
	order := alice.mustPlace(t, "tok_success")
	if got := settle(t, alice.orders, order.GetId()); got.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("alice's order ended %s", got.GetStatus())
	}
	// The confirmation empties the basket asynchronously (the basket's
	// consumer): wait for it, or it would empty the next addition too.
	for deadline := time.Now().Add(settleTimeout); len(getBasket(t, alice.basket).GetLines()) > 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("alice's basket not emptied %s after her order was confirmed", settleTimeout)
		}
	}
	alice.add(t, found.GetId(), 2)
	bob.add(t, bobs.GetId(), 1)

	t.Run("anonymous agents get the catalog tools", func(t *testing.T) {
		s := mustMCPConnect(t, "")
		if got := toolNames(t, s); !slices.Equal(got, mcpPublicTools) {
			t.Fatalf("anonymous tools %v, want %v", got, mcpPublicTools)
		}
		res := callToolJSON[struct {
			Books []mcpBook `json:"books"`
			Mode  string    `json:"mode"`
		}](t, s, "search_catalog", map[string]any{"query": word})
		if len(res.Books) == 0 || res.Books[0].ID != found.GetId() || res.Books[0].Price != "19.99 EUR" {
			t.Fatalf("search_catalog %q: %+v, want the book %s first at 19.99 EUR", word, res, found.GetId())
		}
		book := callToolJSON[mcpBook](t, s, "get_book", map[string]any{"book_id": found.GetId()})
		if book.Title != found.GetTitle() || book.Price != "19.99 EUR" || !book.InStock || len(book.Authors) != 1 {
			t.Fatalf("get_book: %+v", book)
		}
		similar := callToolJSON[struct {
			Books     []mcpBook `json:"books"`
			RelatedBy string    `json:"related_by"`
		}](t, s, "similar_books", map[string]any{"book_id": found.GetId()})
		if similar.RelatedBy == "" || slices.ContainsFunc(similar.Books, func(b mcpBook) bool { return b.ID == found.GetId() }) {
			t.Fatalf("similar_books: %+v (the book itself must not be among them)", similar)
		}
		summary := callToolJSON[struct {
			Summary string `json:"summary"`
			Source  string `json:"source"`
		}](t, s, "review_summary", map[string]any{"book_id": found.GetId()})
		if summary.Summary == "" || summary.Source == "" {
			t.Fatalf("review_summary: %+v", summary)
		}

		// The customer's tools are not there: calling one is a protocol
		// error (an unknown tool), and reaches nobody's basket.
		if _, err := s.CallTool(t.Context(), &gomcp.CallToolParams{Name: "my_basket", Arguments: map[string]any{}}); err == nil {
			t.Fatal("an anonymous agent called my_basket")
		}
	})

	t.Run("bad arguments are tool errors the agent can read", func(t *testing.T) {
		s := mustMCPConnect(t, "")
		for _, tc := range []struct {
			tool string
			args map[string]any
			want string
		}{
			{"search_catalog", map[string]any{"query": word, "page_size": 50}, "page_size: must be between 1 and 10"},
			{"search_catalog", map[string]any{"query": word, "author": "x"}, "author: is not a parameter of this tool"},
			{"search_catalog", map[string]any{"query": 7}, "query: must be a string"},
			{"get_book", map[string]any{"book_id": "not-an-id"}, "book_id: must be a book id"},
			{"get_book", map[string]any{"book_id": newID()}, "no book has this id"},
			{"similar_books", map[string]any{}, "book_id: is required"},
		} {
			text, isError := callTool(t, s, tc.tool, tc.args)
			if !isError || !strings.Contains(text, tc.want) {
				t.Errorf("%s %v: isError %v, %q; want a tool error saying %q", tc.tool, tc.args, isError, text, tc.want)
			}
		}
	})

	t.Run("signed-in agents see their own orders and basket only", func(t *testing.T) {
		as, bs := mustMCPConnect(t, alice.token), mustMCPConnect(t, bob.token)
		for _, s := range []*gomcp.ClientSession{as, bs} {
			if got := toolNames(t, s); !slices.Equal(got, mcpUserTools) {
				t.Fatalf("user tools %v, want %v", got, mcpUserTools)
			}
		}
		basket := callToolJSON[mcpBasket](t, as, "my_basket", nil)
		if !slices.Equal(basket.bookIDs(), []string{found.GetId()}) || basket.Lines[0].Quantity != 2 ||
			basket.Lines[0].LineTotal != "39.98 EUR" || basket.Total != "39.98 EUR" || basket.ItemCount != 2 {
			t.Fatalf("alice's basket: %+v, want 2 × %s for 39.98 EUR", basket, found.GetId())
		}
		orders := callToolJSON[mcpOrders](t, as, "my_orders", map[string]any{"limit": 10})
		if !slices.Equal(orders.ids(), []string{order.GetId()}) || orders.Orders[0].Status != "CONFIRMED" || orders.Orders[0].Total != "12.50 EUR" {
			t.Fatalf("alice's orders: %+v, want her one confirmed order %s of 12.50 EUR", orders, order.GetId())
		}

		bobBasket := callToolJSON[mcpBasket](t, bs, "my_basket", map[string]any{})
		if !slices.Equal(bobBasket.bookIDs(), []string{bobs.GetId()}) {
			t.Fatalf("bob's basket: %+v, want his book %s only", bobBasket, bobs.GetId())
		}
		if bobOrders := callToolJSON[mcpOrders](t, bs, "my_orders", nil); len(bobOrders.Orders) != 0 {
			t.Fatalf("bob sees orders %v; he placed none", bobOrders.ids())
		}
	})

	t.Run("a token that is sent must be valid", func(t *testing.T) {
		if _, err := mcpConnect(t, "not-a-jwt"); err == nil {
			t.Fatal("connected with an invalid token")
		}
		status, header := postMCP(t, "Bearer "+alice.token[:len(alice.token)-4]+"AAAA", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
		if status != http.StatusUnauthorized || !strings.HasPrefix(header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("a forged token: status %d, WWW-Authenticate %q; want 401 with a Bearer challenge", status, header.Get("WWW-Authenticate"))
		}
	})

	t.Run("request bodies are bounded", func(t *testing.T) {
		big := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search_catalog","arguments":{"query":"` +
			strings.Repeat("a", 2<<20) + `"}}}`
		if status, _ := postMCP(t, "", big); status != http.StatusRequestEntityTooLarge {
			t.Fatalf("a 2 MiB request: status %d, want 413", status)
		}
	})
}

// postMCP posts one raw JSON-RPC message to /mcp and returns the status
// and headers of the answer.
func postMCP(t *testing.T, authorization, body string) (int, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.baseURL+"/mcp", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	res, err := http1Client(t).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	return res.StatusCode, res.Header
}
