package e2e

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

func searchCases() []catalogCase {
	return []catalogCase{
		{"SearchBooks/typo", testSearchTypo},
		{"SearchBooks/relevance by field", testSearchRelevance},
		{"SearchBooks/web search syntax", testSearchSyntax},
		{"SearchBooks/every page reachable", testSearchPages},
		{"SearchBooks/follows updates and renames", testSearchFollowsUpdates},
		{"SearchBooks/filters", testSearchFilters},
		{"SearchBooks/odd queries", testSearchOddQueries},
		{"SearchBooks/invalid", testSearchInvalid},
	}
}

// word returns a random word of letters only, so that the text search sees
// one token no other test uses.
func word() string {
	const letters = "BCDFGHJKLMNPQRSTVWXZ"
	w := []byte(token(9))
	for i := range w {
		w[i] = letters[int(w[i])%len(letters)]
	}
	return string(w)
}

func search(t *testing.T, c client, req *catalogv1.SearchBooksRequest) []*catalogv1.SearchBooksResult {
	t.Helper()
	res, err := c.SearchBooks(t.Context(), connect.NewRequest(req))
	if err != nil {
		t.Fatalf("SearchBooks(%q): %v", req.GetQuery(), err)
	}
	return res.Msg.GetResults()
}

func inCategory(id string) *catalogv1.BookFilter {
	return &catalogv1.BookFilter{CategoryIds: []string{id}}
}

func testSearchTypo(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	dragon := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "The Dragon Of " + word() })
	f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Gardening For Beginners " + word() })
	for _, q := range []string{"dragon", "Dragon", "dragons", "dragn"} {
		t.Run(q, func(t *testing.T) {
			hits := search(t, c, &catalogv1.SearchBooksRequest{Query: q, Filter: inCategory(f.category.GetId())})
			if len(hits) == 0 || hits[0].GetBook().GetId() != dragon.GetId() {
				t.Fatalf("SearchBooks(%q) = %v, want %q first", q, titles(hits), dragon.GetTitle())
			}
			if hits[0].GetRelevance() <= 0 {
				t.Errorf("relevance %v, want > 0", hits[0].GetRelevance())
			}
			sameBook(t, hits[0].GetBook(), dragon)
		})
	}
}

func titles(hits []*catalogv1.SearchBooksResult) []string {
	out := make([]string, len(hits))
	for i, h := range hits {
		out[i] = h.GetBook().GetTitle()
	}
	return out
}

// testSearchRelevance puts one word in the title of one book, the author of
// another, the publisher of a third and the description of a fourth: they
// must come back in that order, with decreasing relevance.
func testSearchRelevance(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	w := word()
	author := createAuthor(t, c, w+" Smith")
	publisher := createPublisher(t, c, w+" House "+token(4))
	inTitle := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Tales Of " + w })
	inAuthor := f.createBook(t, func(b *catalogv1.BookInput) {
		b.Title = "Night Stories"
		b.AuthorIds = []string{author.GetId()}
	})
	inPublisher := f.createBook(t, func(b *catalogv1.BookInput) {
		b.Title = "Morning Verses"
		b.PublisherId = publisher.GetId()
	})
	inDescription := f.createBook(t, func(b *catalogv1.BookInput) {
		b.Title = "Evening Essays"
		b.Description = "A quiet book that mentions " + w + " once."
	})
	f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Unrelated Almanac" })

	hits := search(t, c, &catalogv1.SearchBooksRequest{Query: w, Filter: inCategory(f.category.GetId())})
	want := []string{inTitle.GetId(), inAuthor.GetId(), inPublisher.GetId(), inDescription.GetId()}
	if got := hitIDs(hits); !slices.Equal(got, want) {
		t.Fatalf("SearchBooks(%q) = %v, want title, author, publisher, description matches in that order", w, titles(hits))
	}
	for i := 1; i < len(hits); i++ {
		if hits[i].GetRelevance() >= hits[i-1].GetRelevance() {
			t.Errorf("relevance of %q (%v) not below %q (%v)", hits[i].GetBook().GetTitle(), hits[i].GetRelevance(),
				hits[i-1].GetBook().GetTitle(), hits[i-1].GetRelevance())
		}
	}
}

func testSearchSyntax(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	w := word()
	moon := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = w + " Moon Garden" })
	sun := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = w + " Sun Garden" })
	phrase := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "The Red Fox " + w })
	scattered := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "A Fox That Turned Red " + w })
	filter := inCategory(f.category.GetId())

	t.Run("excluded word", func(t *testing.T) {
		got := hitIDs(search(t, c, &catalogv1.SearchBooksRequest{Query: w + " -moon", Filter: filter}))
		if slices.Contains(got, moon.GetId()) {
			t.Errorf("%q found the book with the excluded word", w+" -moon")
		}
		wantAll(t, got, []string{sun.GetId(), phrase.GetId(), scattered.GetId()})
	})
	t.Run("OR", func(t *testing.T) {
		got := hitIDs(search(t, c, &catalogv1.SearchBooksRequest{Query: "moon OR sun", Filter: filter}))
		sameSet(t, "moon OR sun", got, []string{moon.GetId(), sun.GetId()})
	})
	t.Run("quoted phrase", func(t *testing.T) {
		hits := search(t, c, &catalogv1.SearchBooksRequest{Query: `"red fox"`, Filter: filter})
		if len(hits) == 0 || hits[0].GetBook().GetId() != phrase.GetId() {
			t.Fatalf(`SearchBooks("red fox") = %v, want %q first`, titles(hits), phrase.GetTitle())
		}
	})
}

// testSearchPages walks every page of a search while books are added between
// pages: every book that matched before the walk is reached once, and
// relevance never increases from one result to the next.
func testSearchPages(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	w := word()
	var before []string
	mk := func(i int) string {
		return f.createBook(t, func(b *catalogv1.BookInput) {
			b.Title = w + " Volume " + token(3)
			if i%3 == 0 {
				// Some books match twice and rank higher.
				b.Description = "More about " + w + "."
			}
		}).GetId()
	}
	for i := range 23 {
		before = append(before, mk(i))
	}
	n := 23
	hits := searchPages(t, c, &catalogv1.SearchBooksRequest{Query: w, PageSize: 5, Filter: inCategory(f.category.GetId())},
		func(int) { mk(n); n++ })
	ids := hitIDs(hits)
	wantNoDuplicates(t, ids)
	wantAll(t, ids, before)
	for i := 1; i < len(hits); i++ {
		if hits[i].GetRelevance() > hits[i-1].GetRelevance() {
			t.Errorf("result %d has relevance %v above result %d's %v", i, hits[i].GetRelevance(), i-1, hits[i-1].GetRelevance())
		}
	}
	// Without a filter too: the word is unique to this test.
	ids = hitIDs(searchAll(t, c, &catalogv1.SearchBooksRequest{Query: w, PageSize: 4}))
	wantNoDuplicates(t, ids)
	wantAll(t, ids, before)
}

// testSearchFollowsUpdates: the search document of a book changes with its
// title and with the names of its author, category and publisher.
func testSearchFollowsUpdates(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	oldWord, newWord := word(), word()
	b := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Old " + oldWord })
	finds := func(q string) bool {
		t.Helper()
		return slices.Contains(hitIDs(search(t, c, &catalogv1.SearchBooksRequest{Query: q})), b.GetId())
	}
	if !finds(oldWord) {
		t.Fatalf("the new book is not found by its title word")
	}
	mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Book: &catalogv1.BookInput{Title: "New " + newWord}, UpdateMask: mask("title"),
	})
	if !finds(newWord) {
		t.Errorf("not found by the word of its new title")
	}
	if finds(oldWord) {
		t.Errorf("still found by the word of its old title")
	}
	renames := []struct {
		what   string
		rename func(name string) error
	}{
		{"author", func(name string) error {
			_, err := c.UpdateAuthor(t.Context(), connect.NewRequest(&catalogv1.UpdateAuthorRequest{
				Id: f.authors[0].GetId(), Author: &catalogv1.AuthorInput{Name: name}, UpdateMask: mask("name"),
			}))
			return err
		}},
		{"category", func(name string) error {
			_, err := c.UpdateCategory(t.Context(), connect.NewRequest(&catalogv1.UpdateCategoryRequest{
				Id: f.category.GetId(), Category: &catalogv1.CategoryInput{Name: name}, UpdateMask: mask("name"),
			}))
			return err
		}},
		{"publisher", func(name string) error {
			_, err := c.UpdatePublisher(t.Context(), connect.NewRequest(&catalogv1.UpdatePublisherRequest{
				Id: f.publisher.GetId(), Publisher: &catalogv1.PublisherInput{Name: name}, UpdateMask: mask("name"),
			}))
			return err
		}},
	}
	for _, r := range renames {
		w := word()
		if err := r.rename(w + " Renamed"); err != nil {
			t.Fatalf("renaming the %s: %v", r.what, err)
		}
		if !finds(w) {
			t.Errorf("not found by the new name of its %s", r.what)
		}
	}
}

func testSearchFilters(t *testing.T, c client) {
	fc := newFilterCatalog(t, c)
	for _, tc := range fc.filterCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := searchAll(t, c, &catalogv1.SearchBooksRequest{Query: fc.word, Filter: tc.filter, PageSize: 2})
			sameSet(t, "SearchBooks", hitIDs(got), tc.want)
		})
	}
}

// testSearchOddQueries sends queries full of syntax: each must either
// succeed or be rejected as invalid, never fail inside the server.
func testSearchOddQueries(t *testing.T, c client) {
	for _, q := range []string{`"unterminated`, "OR", "-", "-dragon", "a & b | !c", "foo:* (bar)", "'; DROP TABLE books; --", "the", "über straße", "🐉", `\`, "%_%"} {
		t.Run(q, func(t *testing.T) {
			_, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: q}))
			var ce *connect.Error
			if err != nil && (!errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument) {
				t.Errorf("SearchBooks(%q): %v, want success or InvalidArgument", q, err)
			}
		})
	}
}

func testSearchInvalid(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	w := word()
	for range 3 {
		f.createBook(t, func(b *catalogv1.BookInput) { b.Title = w + " " + token(4) })
	}
	res, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: w, PageSize: 1}))
	if err != nil {
		t.Fatalf("SearchBooks: %v", err)
	}
	tok := res.Msg.GetNextPageToken()
	if tok == "" {
		t.Fatal("no next_page_token with 3 matches and page_size 1")
	}
	listRes, err := c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{PageSize: 1, Filter: inCategory(f.category.GetId())}))
	if err != nil {
		t.Fatalf("ListBooks: %v", err)
	}
	cases := []struct {
		name  string
		req   *catalogv1.SearchBooksRequest
		field string
	}{
		{"empty query", &catalogv1.SearchBooksRequest{}, "query"},
		{"blank query", &catalogv1.SearchBooksRequest{Query: "   "}, "query"},
		{"query of 201 characters", &catalogv1.SearchBooksRequest{Query: strings.Repeat("q", 201)}, "query"},
		{"page_size 101", &catalogv1.SearchBooksRequest{Query: "x", PageSize: 101}, "page_size"},
		{"negative page_size", &catalogv1.SearchBooksRequest{Query: "x", PageSize: -5}, "page_size"},
		{"garbage page_token", &catalogv1.SearchBooksRequest{Query: "x", PageToken: "garbage"}, "page_token"},
		{"page_token of 1025 characters", &catalogv1.SearchBooksRequest{Query: "x", PageToken: strings.Repeat("A", 1025)}, "page_token"},
		{"page_token of another query", &catalogv1.SearchBooksRequest{Query: w + " other", PageSize: 1, PageToken: tok}, "page_token"},
	}
	if lt := listRes.Msg.GetNextPageToken(); lt != "" {
		cases = append(cases, struct {
			name  string
			req   *catalogv1.SearchBooksRequest
			field string
		}{"page_token of ListBooks", &catalogv1.SearchBooksRequest{Query: w, PageSize: 1, PageToken: lt}, "page_token"})
	}
	for _, fc := range invalidFilters() {
		cases = append(cases, struct {
			name  string
			req   *catalogv1.SearchBooksRequest
			field string
		}{fc.name, &catalogv1.SearchBooksRequest{Query: "x", Filter: fc.filter}, fc.field})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.SearchBooks(t.Context(), connect.NewRequest(tc.req))
			wantInvalid(t, err, tc.field)
		})
	}
}
