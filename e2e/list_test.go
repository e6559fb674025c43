package e2e

import (
	"cmp"
	"crypto/rand"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// maxPages bounds every page walk so that a token that never ends fails the
// test instead of hanging it.
const maxPages = 500

// listAll follows next_page_token from req to the end and returns every
// book. It fails on a repeated token.
func listAll(t *testing.T, c client, req *catalogv1.ListBooksRequest) []*catalogv1.Book {
	t.Helper()
	return listPages(t, c, req, nil)
}

// listPages is listAll that calls between(page) after every page but the
// last, to change the catalog while the walk is under way.
func listPages(t *testing.T, c client, req *catalogv1.ListBooksRequest, between func(page int)) []*catalogv1.Book {
	t.Helper()
	req = proto.CloneOf(req)
	var all []*catalogv1.Book
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("ListBooks still has pages after %d", maxPages)
		}
		res, err := c.ListBooks(t.Context(), connect.NewRequest(req))
		if err != nil {
			t.Fatalf("ListBooks page %d: %v", page, err)
		}
		if size := req.GetPageSize(); size > 0 && int32(len(res.Msg.GetBooks())) > size {
			t.Fatalf("page %d has %d books, page_size is %d", page, len(res.Msg.GetBooks()), size)
		}
		all = append(all, res.Msg.GetBooks()...)
		next := res.Msg.GetNextPageToken()
		if next == "" {
			return all
		}
		if seen[next] {
			t.Fatalf("page token %q repeated", next)
		}
		seen[next] = true
		if between != nil {
			between(page)
		}
		req.PageToken = next
	}
}

// searchAll follows next_page_token of a search to the end.
func searchAll(t *testing.T, c client, req *catalogv1.SearchBooksRequest) []*catalogv1.SearchBooksResult {
	t.Helper()
	return searchPages(t, c, req, nil)
}

func searchPages(t *testing.T, c client, req *catalogv1.SearchBooksRequest, between func(page int)) []*catalogv1.SearchBooksResult {
	t.Helper()
	req = proto.CloneOf(req)
	var all []*catalogv1.SearchBooksResult
	seen := map[string]bool{}
	for page := 0; ; page++ {
		if page == maxPages {
			t.Fatalf("SearchBooks still has pages after %d", maxPages)
		}
		res, err := c.SearchBooks(t.Context(), connect.NewRequest(req))
		if err != nil {
			t.Fatalf("SearchBooks(%q) page %d: %v", req.GetQuery(), page, err)
		}
		if size := req.GetPageSize(); size > 0 && int32(len(res.Msg.GetResults())) > size {
			t.Fatalf("page %d has %d results, page_size is %d", page, len(res.Msg.GetResults()), size)
		}
		all = append(all, res.Msg.GetResults()...)
		next := res.Msg.GetNextPageToken()
		if next == "" {
			return all
		}
		if seen[next] {
			t.Fatalf("page token %q repeated", next)
		}
		seen[next] = true
		if between != nil {
			between(page)
		}
		req.PageToken = next
	}
}

func bookIDs(books []*catalogv1.Book) []string {
	ids := make([]string, len(books))
	for i, b := range books {
		ids[i] = b.GetId()
	}
	return ids
}

func hitIDs(hits []*catalogv1.SearchBooksResult) []string {
	ids := make([]string, len(hits))
	for i, h := range hits {
		ids[i] = h.GetBook().GetId()
	}
	return ids
}

// wantNoDuplicates fails when an id occurs twice.
func wantNoDuplicates(t *testing.T, ids []string) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			t.Errorf("id %s returned twice", id)
		}
		seen[id] = true
	}
}

// wantAll fails unless every id of want is in got.
func wantAll(t *testing.T, got []string, want []string) {
	t.Helper()
	for _, id := range want {
		if !slices.Contains(got, id) {
			t.Errorf("id %s was skipped", id)
		}
	}
}

// sameSet fails unless got and want hold the same ids.
func sameSet(t *testing.T, what string, got, want []string) {
	t.Helper()
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		t.Errorf("%s = %v, want %v", what, g, w)
	}
}

func randomCents(lo, hi int64) int64 {
	n, _ := rand.Int(rand.Reader, big.NewInt(hi-lo+1))
	return lo + n.Int64()
}

func listCases() []catalogCase {
	return []catalogCase{
		{"ListBooks/pagination with inserts between pages", testListBooksPagination},
		{"ListBooks/filters", testListBooksFilters},
		{"ListBooks/invalid", testListBooksInvalid},
	}
}

// bookOrder is a sort of ListBooks with the key it sorts by.
type bookOrder struct {
	field      catalogv1.BookOrderField
	descending bool
	compare    func(a, b *catalogv1.Book) int
}

func bookOrders() []bookOrder {
	byTitle := func(a, b *catalogv1.Book) int { return strings.Compare(a.GetTitle(), b.GetTitle()) }
	byPrice := func(a, b *catalogv1.Book) int {
		return cmp.Compare(cents(a.GetEffectivePrice()), cents(b.GetEffectivePrice()))
	}
	byCreate := func(a, b *catalogv1.Book) int {
		return a.GetCreateTime().AsTime().Compare(b.GetCreateTime().AsTime())
	}
	byRating := func(a, b *catalogv1.Book) int { return cmp.Compare(a.GetRatingAverage(), b.GetRatingAverage()) }
	return []bookOrder{
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_UNSPECIFIED, false, byTitle},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE, false, byTitle},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE, true, byTitle},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_PRICE, false, byPrice},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_PRICE, true, byPrice},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_CREATE_TIME, false, byCreate},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_CREATE_TIME, true, byCreate},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_RATING, false, byRating},
		{catalogv1.BookOrderField_BOOK_ORDER_FIELD_RATING, true, byRating},
	}
}

// testListBooksPagination walks one category page by page in every order
// while books are added between pages: no book may come twice, no book that
// existed before the walk may be skipped, and the pages must be in order.
func testListBooksPagination(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	prefix := "PAGING " + token(6) + " "
	var existing []string
	add := func() {
		b := f.createBook(t, func(b *catalogv1.BookInput) {
			b.Title = prefix + token(8)
			b.Price = eur(randomCents(500, 5000))
			b.SalePrice = nil
			if randomCents(0, 2) == 0 {
				// Some books are on sale: the price order is by effective price.
				b.SalePrice = eur(randomCents(100, cents(b.Price)-1))
			}
		})
		existing = append(existing, b.GetId())
	}
	for range 12 {
		add()
	}
	filter := &catalogv1.BookFilter{CategoryIds: []string{f.category.GetId()}}
	for _, o := range bookOrders() {
		t.Run(fmt.Sprintf("%v descending=%v", o.field, o.descending), func(t *testing.T) {
			before := slices.Clone(existing)
			books := listPages(t, c, &catalogv1.ListBooksRequest{
				PageSize: 5, Filter: filter, OrderBy: o.field, Descending: o.descending,
			}, func(page int) {
				if page < 3 {
					add()
					add()
				}
			})
			ids := bookIDs(books)
			wantNoDuplicates(t, ids)
			wantAll(t, ids, before)
			for i := 1; i < len(books); i++ {
				d := o.compare(books[i-1], books[i])
				if o.descending {
					d = -d
				}
				if d > 0 {
					t.Errorf("books %d and %d out of order: %q %v %v / %q %v %v", i-1, i,
						books[i-1].GetTitle(), cents(books[i-1].GetEffectivePrice()), books[i-1].GetCreateTime().AsTime(),
						books[i].GetTitle(), cents(books[i].GetEffectivePrice()), books[i].GetCreateTime().AsTime())
				}
			}
		})
	}
	t.Run("default and maximum page size", func(t *testing.T) {
		if len(existing) <= 20 {
			t.Fatalf("only %d books, need more than 20", len(existing))
		}
		res, err := c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{Filter: filter}))
		if err != nil {
			t.Fatalf("ListBooks: %v", err)
		}
		if n := len(res.Msg.GetBooks()); n != 20 || res.Msg.GetNextPageToken() == "" {
			t.Errorf("page_size 0 gave %d books and token %q, want 20 and a token", n, res.Msg.GetNextPageToken())
		}
		res, err = c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{Filter: filter, PageSize: 100}))
		if err != nil {
			t.Fatalf("ListBooks: %v", err)
		}
		if n, more := len(res.Msg.GetBooks()), res.Msg.GetNextPageToken() != ""; n != min(100, len(existing)) || more != (len(existing) > 100) {
			t.Errorf("page_size 100 of %d books gave %d books, next page %v", len(existing), n, more)
		}
	})
}

// filterCatalog is the data of the filter tests: five books across two
// categories, two publishers, three authors, prices in two currencies,
// sales and stock.
type filterCatalog struct {
	word           string // in every title
	cat1, cat2     string
	pub1, pub2     string
	a0, a1, a2     string
	b1, b2, b3, b4 string
	b5             string
}

func newFilterCatalog(t *testing.T, c client) *filterCatalog {
	t.Helper()
	f := newFixture(t, c, 3)
	cat2 := createCategory(t, c, uniq("Category"))
	pub2 := createPublisher(t, c, uniq("Publisher"))
	fc := &filterCatalog{
		word: token(9),
		cat1: f.category.GetId(), cat2: cat2.GetId(),
		pub1: f.publisher.GetId(), pub2: pub2.GetId(),
		a0: f.authors[0].GetId(), a1: f.authors[1].GetId(), a2: f.authors[2].GetId(),
	}
	mk := func(cat, pub string, authors []string, price, sale *typev1.Money, stock int32) string {
		return f.createBook(t, func(b *catalogv1.BookInput) {
			b.Title = "Filter " + fc.word + " " + token(4)
			b.CategoryId, b.PublisherId, b.AuthorIds = cat, pub, authors
			b.Price, b.SalePrice, b.StockQuantity = price, sale, stock
		}).GetId()
	}
	fc.b1 = mk(fc.cat1, fc.pub1, []string{fc.a0}, eur(1000), nil, 3)
	fc.b2 = mk(fc.cat1, fc.pub2, []string{fc.a1, fc.a0}, eur(3000), eur(1200), 0)
	fc.b3 = mk(fc.cat2, fc.pub1, []string{fc.a2}, eur(2000), nil, 1)
	fc.b4 = mk(fc.cat2, fc.pub2, []string{fc.a1}, money("USD", 1500), nil, 2)
	fc.b5 = mk(fc.cat1, fc.pub1, []string{fc.a2}, eur(5000), nil, 0)
	return fc
}

// filterCases are filters and the books they select; each filter is limited
// to the test's own two categories.
func (fc *filterCatalog) filterCases() []struct {
	name   string
	filter *catalogv1.BookFilter
	want   []string
} {
	both := []string{fc.cat1, fc.cat2}
	return []struct {
		name   string
		filter *catalogv1.BookFilter
		want   []string
	}{
		{"both categories", &catalogv1.BookFilter{CategoryIds: both}, []string{fc.b1, fc.b2, fc.b3, fc.b4, fc.b5}},
		{"one category", &catalogv1.BookFilter{CategoryIds: []string{fc.cat1}}, []string{fc.b1, fc.b2, fc.b5}},
		{"publisher", &catalogv1.BookFilter{CategoryIds: both, PublisherIds: []string{fc.pub2}}, []string{fc.b2, fc.b4}},
		{"publisher alone", &catalogv1.BookFilter{PublisherIds: []string{fc.pub2}}, []string{fc.b2, fc.b4}},
		{"one author of several", &catalogv1.BookFilter{AuthorIds: []string{fc.a0}}, []string{fc.b1, fc.b2}},
		{"authors", &catalogv1.BookFilter{AuthorIds: []string{fc.a1, fc.a2}}, []string{fc.b2, fc.b3, fc.b4, fc.b5}},
		{"price range on the effective price", &catalogv1.BookFilter{CategoryIds: both, MinPrice: eur(1100), MaxPrice: eur(2000)}, []string{fc.b2, fc.b3}},
		{"bounds are inclusive", &catalogv1.BookFilter{CategoryIds: both, MinPrice: eur(1000), MaxPrice: eur(1200)}, []string{fc.b1, fc.b2}},
		{"minimum price only", &catalogv1.BookFilter{CategoryIds: both, MinPrice: eur(2500)}, []string{fc.b5}},
		{"maximum price only", &catalogv1.BookFilter{CategoryIds: both, MaxPrice: eur(1200)}, []string{fc.b1, fc.b2}},
		{"other currency", &catalogv1.BookFilter{CategoryIds: both, MaxPrice: money("USD", 2000)}, []string{fc.b4}},
		{"in stock only", &catalogv1.BookFilter{CategoryIds: both, InStockOnly: true}, []string{fc.b1, fc.b3, fc.b4}},
		{"conditions combine with AND", &catalogv1.BookFilter{
			CategoryIds: []string{fc.cat1}, PublisherIds: []string{fc.pub1}, AuthorIds: []string{fc.a2}, MinPrice: eur(100),
		}, []string{fc.b5}},
		{"nothing matches", &catalogv1.BookFilter{CategoryIds: []string{fc.cat2}, AuthorIds: []string{fc.a0}}, nil},
		{"unknown ids match nothing", &catalogv1.BookFilter{CategoryIds: []string{newID()}}, nil},
	}
}

func testListBooksFilters(t *testing.T, c client) {
	fc := newFilterCatalog(t, c)
	for _, tc := range fc.filterCases() {
		t.Run(tc.name, func(t *testing.T) {
			got := listAll(t, c, &catalogv1.ListBooksRequest{Filter: tc.filter, PageSize: 2})
			sameSet(t, "ListBooks", bookIDs(got), tc.want)
		})
	}
}

// invalidFilters are filters that must be rejected, with the field blamed.
func invalidFilters() []struct {
	name   string
	filter *catalogv1.BookFilter
	field  string
} {
	var tooMany []string
	for range 51 {
		tooMany = append(tooMany, newID())
	}
	return []struct {
		name   string
		filter *catalogv1.BookFilter
		field  string
	}{
		{"malformed category id", &catalogv1.BookFilter{CategoryIds: []string{"fiction"}}, "filter.category_ids"},
		{"malformed publisher id", &catalogv1.BookFilter{PublisherIds: []string{newID(), "x"}}, "filter.publisher_ids"},
		{"malformed author id", &catalogv1.BookFilter{AuthorIds: []string{"x"}}, "filter.author_ids"},
		{"51 category ids", &catalogv1.BookFilter{CategoryIds: tooMany}, "filter.category_ids"},
		{"lower-case currency", &catalogv1.BookFilter{MinPrice: money("eur", 100)}, "filter.min_price"},
		{"negative minimum", &catalogv1.BookFilter{MinPrice: eur(-100)}, "filter.min_price"},
		{"minimum above maximum", &catalogv1.BookFilter{MinPrice: eur(2000), MaxPrice: eur(1000)}, "filter"},
		{"bounds in two currencies", &catalogv1.BookFilter{MinPrice: eur(100), MaxPrice: money("USD", 1000)}, "filter"},
	}
}

func testListBooksInvalid(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	for range 3 {
		f.createBook(t)
	}
	filter := &catalogv1.BookFilter{CategoryIds: []string{f.category.GetId()}}
	first, err := c.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{
		PageSize: 1, Filter: filter, OrderBy: catalogv1.BookOrderField_BOOK_ORDER_FIELD_TITLE,
	}))
	if err != nil {
		t.Fatalf("ListBooks: %v", err)
	}
	tok := first.Msg.GetNextPageToken()
	if tok == "" {
		t.Fatal("no next_page_token with 3 books and page_size 1")
	}
	cases := []struct {
		name  string
		req   *catalogv1.ListBooksRequest
		field string
	}{
		{"page_size 101", &catalogv1.ListBooksRequest{PageSize: 101}, "page_size"},
		{"negative page_size", &catalogv1.ListBooksRequest{PageSize: -1}, "page_size"},
		{"garbage page_token", &catalogv1.ListBooksRequest{PageToken: "not-a-token"}, "page_token"},
		{"page_token of 1025 characters", &catalogv1.ListBooksRequest{PageToken: strings.Repeat("A", 1025)}, "page_token"},
		{"page_token of another order", &catalogv1.ListBooksRequest{
			PageSize: 1, Filter: filter, OrderBy: catalogv1.BookOrderField_BOOK_ORDER_FIELD_PRICE, Descending: true, PageToken: tok,
		}, "page_token"},
		{"unknown order_by", &catalogv1.ListBooksRequest{OrderBy: catalogv1.BookOrderField(99)}, "order_by"},
	}
	for _, fc := range invalidFilters() {
		cases = append(cases, struct {
			name  string
			req   *catalogv1.ListBooksRequest
			field string
		}{fc.name, &catalogv1.ListBooksRequest{Filter: fc.filter}, fc.field})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.ListBooks(t.Context(), connect.NewRequest(tc.req))
			wantInvalid(t, err, tc.field)
		})
	}
}
