package e2e

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"connectrpc.com/connect"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// logOffset returns the size of the server's log now, to read what is
// written after it with serverErrorsSince.
func logOffset(t *testing.T, s *server) int64 {
	t.Helper()
	fi, err := os.Stat(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// serverErrorsSince returns the ERROR-level lines the server logged after
// offset: a client's request, however hostile, must never cause one.
func serverErrorsSince(t *testing.T, s *server, offset int64) []string {
	t.Helper()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(b)) < offset {
		offset = 0
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b[offset:]))
	sc.Buffer(make([]byte, 0, 64*1024), 8*1024*1024)
	for sc.Scan() {
		var rec struct {
			Level string `json:"level"`
		}
		if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Level == "ERROR" {
			line := sc.Text()
			if len(line) > 2000 {
				line = line[:2000] + "..."
			}
			out = append(out, line)
		}
	}
	return out
}

// noServerErrorsAfter fails the test when the server logs an ERROR line
// from now until the test ends.
func noServerErrorsAfter(t *testing.T, s *server) {
	t.Helper()
	offset := logOffset(t, s)
	t.Cleanup(func() {
		if errs := serverErrorsSince(t, s, offset); len(errs) > 0 {
			t.Errorf("the server logged %d ERROR lines:\n%s", len(errs), strings.Join(errs, "\n"))
		}
	})
}

// TestNULIsInvalidArgument: text Postgres cannot store (U+0000) in any
// string of a request is InvalidArgument naming the field, over every
// protocol, never Internal (it used to reach the database).
func TestNULIsInvalidArgument(t *testing.T) {
	noServerErrorsAfter(t, srv)
	f := newFixture(t, catalogClient(t, connectProto), 1)
	book := f.createBook(t)
	for _, p := range []protocol{connectJSON, connectProto, grpcProto, grpcWeb, grpcGo} {
		t.Run(string(p), func(t *testing.T) {
			c := catalogClient(t, p)
			ctx := t.Context()
			cases := []struct {
				name  string
				call  func() error
				field string
			}{
				{"CreateAuthor", func() error {
					_, err := c.CreateAuthor(ctx, connect.NewRequest(&catalogv1.CreateAuthorRequest{Author: &catalogv1.AuthorInput{Name: "Le\x00Guin"}}))
					return err
				}, "author.name"},
				{"CreateCategory", func() error {
					_, err := c.CreateCategory(ctx, connect.NewRequest(&catalogv1.CreateCategoryRequest{Category: &catalogv1.CategoryInput{Name: uniq("Cat"), Description: "\x00"}}))
					return err
				}, "category.description"},
				{"CreatePublisher", func() error {
					_, err := c.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{Name: "\x00"}}))
					return err
				}, "publisher.name"},
				{"SearchBooks", func() error {
					_, err := c.SearchBooks(ctx, connect.NewRequest(&catalogv1.SearchBooksRequest{Query: "dragon \x00"}))
					return err
				}, "query"},
				{"CreateBook", func() error {
					_, err := c.CreateBook(ctx, connect.NewRequest(&catalogv1.CreateBookRequest{Book: f.bookInput(func(b *catalogv1.BookInput) { b.Title += "\x00" })}))
					return err
				}, "book.title"},
				{"UpdateBook", func() error {
					_, err := c.UpdateBook(ctx, connect.NewRequest(&catalogv1.UpdateBookRequest{Id: book.GetId(),
						Book: &catalogv1.BookInput{Description: "\x00"}, UpdateMask: mask("description")}))
					return err
				}, "book.description"},
				{"UpdateAuthor", func() error {
					_, err := c.UpdateAuthor(ctx, connect.NewRequest(&catalogv1.UpdateAuthorRequest{Id: f.authors[0].GetId(),
						Author: &catalogv1.AuthorInput{Biography: "bio\x00"}, UpdateMask: mask("biography")}))
					return err
				}, "author.biography"},
				{"ListBooks page token", func() error {
					_, err := c.ListBooks(ctx, connect.NewRequest(&catalogv1.ListBooksRequest{PageToken: "\x00"}))
					return err
				}, "page_token"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) { wantInvalid(t, tc.call(), tc.field) })
			}
		})
	}
	for _, p := range []protocol{connectJSON, connectProto, grpcProto, grpcWeb} {
		t.Run(string(p)+"/CreateReview", func(t *testing.T) {
			r := newRatingClient(t, clientOptions{Protocol: p, Token: userToken(t, "nul-"+token(6))})
			_, err := createReview(r, book.GetId(), 4, "Fine", "Fine\x00print")
			wantInvalid(t, err, "review.body")
			_, err = updateReview(r, newID(), "", &ratingv1.ReviewInput{Title: "\x00"}, "title")
			wantInvalid(t, err, "review.title")
		})
	}
}

// pageLister is one list RPC with one fixed query: it returns the next
// page token of the page after token.
type pageLister struct {
	name string
	list func(t *testing.T, token string) (next string, err error)
}

// pageListers returns every list RPC (and, for ListBooks, every order)
// with a query that has at least two pages of size 1.
func pageListers(t *testing.T) []pageLister {
	t.Helper()
	c := catalogClient(t, connectProto)
	f := newFixture(t, c, 2)
	word := "tok" + strings.ToLower(token(8))
	var books []*catalogv1.Book
	for i := range 3 {
		books = append(books, f.createBook(t, func(b *catalogv1.BookInput) {
			b.Title = fmt.Sprintf("%s %d", word, i)
			b.Price = eur(int64(1000 + i))
		}))
	}
	createCategory(t, c, uniq("Category"))
	createPublisher(t, c, uniq("Publisher"))
	r := newRatingClient(t, clientOptions{Protocol: connectProto, Token: userToken(t, "pager-a-"+token(6))})
	r2 := newRatingClient(t, clientOptions{Protocol: connectProto, Token: userToken(t, "pager-b-"+token(6))})
	mustCreateReview(t, r, books[0].GetId(), 2)
	mustCreateReview(t, r2, books[0].GetId(), 5)
	anon := newRatingClient(t, clientOptions{Protocol: connectProto})

	filter := &catalogv1.BookFilter{CategoryIds: []string{f.category.GetId()}}
	listBooks := func(order catalogv1.BookOrderField, desc bool) func(*testing.T, string) (string, error) {
		return func(t *testing.T, tok string) (string, error) {
			res, err := c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{
				PageSize: 1, Filter: filter, OrderBy: order, Descending: desc, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}
	}
	listReviews := func(order ratingv1.ReviewOrder) func(*testing.T, string) (string, error) {
		return func(t *testing.T, tok string) (string, error) {
			res, err := anon.ListReviews(t.Context(), connect.NewRequest(&ratingv1.ListReviewsRequest{
				BookId: books[0].GetId(), PageSize: 1, OrderBy: order, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}
	}
	return []pageLister{
		{"ListBooks by title", listBooks(catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE, false)},
		{"ListBooks by title descending", listBooks(catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE, true)},
		{"ListBooks by price", listBooks(catalogv1.BookOrderField_BOOK_ORDER_FIELD_PRICE, false)},
		{"ListBooks by create time", listBooks(catalogv1.BookOrderField_BOOK_ORDER_FIELD_CREATE_TIME, false)},
		{"ListBooks by rating", listBooks(catalogv1.BookOrderField_BOOK_ORDER_FIELD_RATING, false)},
		{"SearchBooks", func(t *testing.T, tok string) (string, error) {
			res, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: word, PageSize: 1, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}},
		{"ListAuthors", func(t *testing.T, tok string) (string, error) {
			res, err := c.ListAuthors(t.Context(), connect.NewRequest(&catalogv1.ListAuthorsRequest{PageSize: 1, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}},
		{"ListCategories", func(t *testing.T, tok string) (string, error) {
			res, err := c.ListCategories(t.Context(), connect.NewRequest(&catalogv1.ListCategoriesRequest{PageSize: 1, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}},
		{"ListPublishers", func(t *testing.T, tok string) (string, error) {
			res, err := c.ListPublishers(t.Context(), connect.NewRequest(&catalogv1.ListPublishersRequest{PageSize: 1, PageToken: tok}))
			if err != nil {
				return "", err
			}
			return res.Msg.GetNextPageToken(), nil
		}},
		{"ListReviews newest", listReviews(ratingv1.ReviewOrder_REVIEW_ORDER_NEWEST)},
		{"ListReviews highest", listReviews(ratingv1.ReviewOrder_REVIEW_ORDER_HIGHEST)},
		{"ListReviews lowest", listReviews(ratingv1.ReviewOrder_REVIEW_ORDER_LOWEST)},
	}
}

// forge decodes a page token (base64url JSON), sets key to value and
// encodes it again, keeping its binding to the query: what a client that
// reads its tokens can send.
func forge(t *testing.T, tok, key string, value any) string {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		t.Fatalf("page token %q is not base64url: %v", tok, err)
	}
	// Numbers stay as written: the query fingerprint is a uint64 a float64
	// would round.
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("page token %q is not JSON: %v", tok, err)
	}
	m[key] = value
	b, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// TestForgedPageTokens sends every list RPC forged, truncated, garbage and
// foreign tokens (another list's, another order's): each is InvalidArgument
// on page_token, or (for a forged key the order does not use or that is a
// possible key) a page; never Internal, and nothing in the server's log.
func TestForgedPageTokens(t *testing.T) {
	noServerErrorsAfter(t, srv)
	listers := pageListers(t)
	tokens := make([]string, len(listers))
	for i, l := range listers {
		tok, err := l.list(t, "")
		if err != nil || tok == "" {
			t.Fatalf("%s: first page: token %q, %v", l.name, tok, err)
		}
		if _, err := l.list(t, tok); err != nil {
			t.Fatalf("%s: second page with its own token: %v", l.name, err)
		}
		// forge keeps what it does not change: a token "forged" with its
		// own id is as good as the original.
		var m map[string]any
		b, _ := base64.RawURLEncoding.DecodeString(tok)
		_ = json.Unmarshal(b, &m)
		if _, err := l.list(t, forge(t, tok, "i", m["i"])); err != nil {
			t.Fatalf("%s: a token re-encoded unchanged: %v", l.name, err)
		}
		tokens[i] = tok
	}
	type forged struct {
		name string
		tok  string
		must bool // must be refused; otherwise a page is fine too
	}
	for i, l := range listers {
		t.Run(l.name, func(t *testing.T) {
			tok := tokens[i]
			cases := []forged{
				{"truncated", tok[:len(tok)/2], true},
				{"one character short", tok[:len(tok)-1], false}, // may still decode (base64 slack)
				{"trailing garbage", tok + "!", true},
				{"padded base64", base64.StdEncoding.EncodeToString([]byte(`{"q":1}`)), true},
				{"not base64", "%%%", true},
				{"base64 of garbage", base64.RawURLEncoding.EncodeToString([]byte{0xff, 0x00, 0x13}), true},
				{"NUL", "\x00", true},
				{"forged id", forge(t, tok, "i", "not-an-id"), true},
				{"another query", forge(t, tok, "q", 12345), true},
				{"wrong JSON type", forge(t, tok, "i", 7), true},
				{"sort key of the wrong type", forge(t, tok, "s", []any{}), true},
				{"NUL in the text key", forge(t, tok, "s", "a\x00b"), false},
				{"max int64 key", forge(t, tok, "n", int64(math.MaxInt64)), false},
				{"min int64 key", forge(t, tok, "n", int64(math.MinInt64)), false},
				{"max int64 time", forge(t, tok, "t", int64(math.MaxInt64)), false},
				{"min int64 time", forge(t, tok, "t", int64(math.MinInt64)), false},
				{"fractional integer key", forge(t, tok, "n", 1.5), false}, // refused where "n" is read
				{"fractional time", forge(t, tok, "t", 1.5), false},
				{"huge float key", forge(t, tok, "f", 1e308), false},
				{"negative float key", forge(t, tok, "f", -1e308), false},
				{"unknown search mode", forge(t, tok, "m", 7), false},
				{"stars out of range", forge(t, tok, "s", 99), true},
			}
			for j, other := range listers {
				if j != i {
					cases = append(cases, forged{"token of " + other.name, tokens[j], true})
				}
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					_, err := l.list(t, tc.tok)
					if err == nil && !tc.must {
						return
					}
					wantInvalid(t, err, "page_token")
				})
			}
		})
	}
}
