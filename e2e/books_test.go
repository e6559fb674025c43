package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

type client = catalogv1connect.CatalogServiceClient

func bookCases() []catalogCase {
	return []catalogCase{
		{"CreateBook/all fields round trip", testCreateBookRoundTrip},
		{"CreateBook/minimal book", testCreateMinimalBook},
		{"CreateBook/out of stock", testCreateBookOutOfStock},
		{"CreateBook/200 multibyte characters", testCreateBookLongTitle},
		{"CreateBook/duplicate ISBN", testCreateBookDuplicateISBN},
		{"GetBook/not found", testGetBookNotFound},
		{"GetBook/invalid id", testGetBookInvalidID},
		{"BatchGetBooks/order and repeats", testBatchGetBooks},
		{"BatchGetBooks/unknown id", testBatchGetBooksUnknown},
		{"BatchGetBooks/invalid", testBatchGetBooksInvalid},
	}
}

// sameBook compares two views of a book, timestamps to the microsecond
// (what Postgres keeps).
func sameBook(t *testing.T, got, want *catalogv1.Book) {
	t.Helper()
	g, w := proto.CloneOf(got), proto.CloneOf(want)
	if !g.GetCreateTime().AsTime().Truncate(time.Microsecond).Equal(w.GetCreateTime().AsTime().Truncate(time.Microsecond)) {
		t.Errorf("create_time %v, want %v", g.GetCreateTime().AsTime(), w.GetCreateTime().AsTime())
	}
	if !g.GetUpdateTime().AsTime().Truncate(time.Microsecond).Equal(w.GetUpdateTime().AsTime().Truncate(time.Microsecond)) {
		t.Errorf("update_time %v, want %v", g.GetUpdateTime().AsTime(), w.GetUpdateTime().AsTime())
	}
	g.CreateTime, g.UpdateTime, w.CreateTime, w.UpdateTime = nil, nil, nil, nil
	if !proto.Equal(g, w) {
		t.Errorf("book differs:\n got %v\nwant %v", g, w)
	}
}

func wantMoney(t *testing.T, what string, got *typev1.Money, currency string, wantCents int64) {
	t.Helper()
	if got.GetCurrencyCode() != currency || cents(got) != wantCents || got.GetNanos()%10_000_000 != 0 {
		t.Errorf("%s = %v, want %d cents %s", what, got, wantCents, currency)
	}
}

func testCreateBookRoundTrip(t *testing.T, c client) {
	f := newFixture(t, c, 2)
	isbn := randomISBN()
	title := "The Long Voyage " + token(6)
	in := f.bookInput(func(b *catalogv1.BookInput) {
		b.Title = "  " + title + "  "
		b.Description = "Sea stories.\nWith a second line."
		b.Isbn = hyphenate(isbn)
		b.Price = eur(2450)
		b.SalePrice = eur(1999)
		b.StockQuantity = 7
		// Credit order differs from creation order on purpose.
		b.AuthorIds = []string{f.authors[1].GetId(), f.authors[0].GetId()}
	})
	res, err := c.CreateBook(t.Context(), connect.NewRequest(&catalogv1.CreateBookRequest{Book: in}))
	if err != nil {
		t.Fatalf("CreateBook: %v", err)
	}
	b := res.Msg.GetBook()
	if len(b.GetId()) != 36 {
		t.Errorf("id = %q, want a UUID", b.GetId())
	}
	if b.GetTitle() != title {
		t.Errorf("title = %q, want the trimmed %q", b.GetTitle(), title)
	}
	if b.GetDescription() != in.GetDescription() {
		t.Errorf("description = %q, want %q", b.GetDescription(), in.GetDescription())
	}
	if b.GetIsbn() != isbn {
		t.Errorf("isbn = %q, want digits only %q", b.GetIsbn(), isbn)
	}
	wantMoney(t, "price", b.GetPrice(), "EUR", 2450)
	wantMoney(t, "sale_price", b.GetSalePrice(), "EUR", 1999)
	wantMoney(t, "effective_price", b.GetEffectivePrice(), "EUR", 1999)
	if b.GetStockQuantity() != 7 || b.GetAvailability() != catalogv1.Availability_AVAILABILITY_IN_STOCK {
		t.Errorf("stock %d availability %v, want 7 in stock", b.GetStockQuantity(), b.GetAvailability())
	}
	if b.GetCategoryId() != f.category.GetId() || b.GetCategoryName() != f.category.GetName() {
		t.Errorf("category %s %q, want %s %q", b.GetCategoryId(), b.GetCategoryName(), f.category.GetId(), f.category.GetName())
	}
	if b.GetPublisherId() != f.publisher.GetId() || b.GetPublisherName() != f.publisher.GetName() {
		t.Errorf("publisher %s %q, want %s %q", b.GetPublisherId(), b.GetPublisherName(), f.publisher.GetId(), f.publisher.GetName())
	}
	wantIDs := []string{f.authors[1].GetId(), f.authors[0].GetId()}
	wantNames := []string{f.authors[1].GetName(), f.authors[0].GetName()}
	if strings.Join(b.GetAuthorIds(), ",") != strings.Join(wantIDs, ",") {
		t.Errorf("author_ids = %v, want %v", b.GetAuthorIds(), wantIDs)
	}
	if strings.Join(b.GetAuthorNames(), ",") != strings.Join(wantNames, ",") {
		t.Errorf("author_names = %v, want %v", b.GetAuthorNames(), wantNames)
	}
	if b.GetImageUrl() != in.GetImageUrl() {
		t.Errorf("image_url = %q, want %q", b.GetImageUrl(), in.GetImageUrl())
	}
	if b.GetRatingAverage() != 0 || b.GetRatingCount() != 0 {
		t.Errorf("rating %v/%d, want 0/0", b.GetRatingAverage(), b.GetRatingCount())
	}
	if b.GetDeleted() {
		t.Error("deleted = true for a new book")
	}
	if b.GetEtag() == "" {
		t.Error("etag is empty")
	}
	if b.GetCreateTime() == nil || b.GetUpdateTime() == nil {
		t.Fatalf("create_time %v update_time %v, want both set", b.GetCreateTime(), b.GetUpdateTime())
	}
	if ct := b.GetCreateTime().AsTime(); ct.Before(time.Now().Add(-time.Hour)) || ct.After(time.Now().Add(time.Hour)) {
		t.Errorf("create_time %v is not about now", ct)
	}
	if b.GetUpdateTime().AsTime().Before(b.GetCreateTime().AsTime()) {
		t.Errorf("update_time %v before create_time %v", b.GetUpdateTime().AsTime(), b.GetCreateTime().AsTime())
	}
	sameBook(t, getBook(t, c, b.GetId()), b)
}

func testCreateMinimalBook(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	minimal := func(b *catalogv1.BookInput) {
		b.Description, b.Isbn, b.ImageUrl, b.SalePrice = "", "", "", nil
	}
	// Two books without an ISBN: the empty ISBN is not a unique key.
	b1 := f.createBook(t, minimal)
	b2 := f.createBook(t, minimal)
	for _, b := range []*catalogv1.Book{b1, b2} {
		if b.GetIsbn() != "" || b.GetImageUrl() != "" || b.GetSalePrice() != nil {
			t.Errorf("isbn %q image %q sale %v, want all empty", b.GetIsbn(), b.GetImageUrl(), b.GetSalePrice())
		}
		wantMoney(t, "effective_price", b.GetEffectivePrice(), "EUR", 1999)
	}
}

func testCreateBookOutOfStock(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t, func(b *catalogv1.BookInput) { b.StockQuantity = 0 })
	if b.GetAvailability() != catalogv1.Availability_AVAILABILITY_OUT_OF_STOCK {
		t.Errorf("availability = %v, want OUT_OF_STOCK", b.GetAvailability())
	}
}

func testCreateBookLongTitle(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	title := strings.Repeat("é", 190) + token(10)
	b := f.createBook(t, func(b *catalogv1.BookInput) {
		b.Title = title
		b.Description = strings.Repeat("ß", 5000)
	})
	if b.GetTitle() != title {
		t.Errorf("title changed: %q", b.GetTitle())
	}
}

func testCreateBookDuplicateISBN(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	isbn := randomISBN()
	f.createBook(t, func(b *catalogv1.BookInput) { b.Isbn = hyphenate(isbn) })
	// The same ISBN written differently is the same ISBN.
	_, err := c.CreateBook(t.Context(), connect.NewRequest(&catalogv1.CreateBookRequest{
		Book: f.bookInput(func(b *catalogv1.BookInput) { b.Isbn = isbn }),
	}))
	wantCode(t, err, connect.CodeAlreadyExists)
}

func testGetBookNotFound(t *testing.T, c client) {
	_, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: newID()}))
	wantCode(t, err, connect.CodeNotFound)
}

func testGetBookInvalidID(t *testing.T, c client) {
	for _, id := range []string{"", "not-a-uuid", "12345678-1234-1234-1234-1234567890123"} {
		_, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: id}))
		wantInvalid(t, err, "id")
	}
}

func batchGet(t *testing.T, c client, ids ...string) ([]*catalogv1.Book, error) {
	t.Helper()
	res, err := c.BatchGetBooks(t.Context(), connect.NewRequest(&catalogv1.BatchGetBooksRequest{Ids: ids}))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBooks(), nil
}

func testBatchGetBooks(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b1, b2, b3 := f.createBook(t), f.createBook(t), f.createBook(t)
	got, err := batchGet(t, c, b3.GetId(), b1.GetId(), b3.GetId(), b2.GetId())
	if err != nil {
		t.Fatalf("BatchGetBooks: %v", err)
	}
	want := []*catalogv1.Book{b3, b1, b3, b2}
	if len(got) != len(want) {
		t.Fatalf("got %d books, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].GetId() != want[i].GetId() {
			t.Errorf("books[%d] = %s, want %s", i, got[i].GetId(), want[i].GetId())
			continue
		}
		sameBook(t, got[i], want[i])
	}
}

func testBatchGetBooksUnknown(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	_, err := batchGet(t, c, b.GetId(), newID())
	wantCode(t, err, connect.CodeNotFound)
}

func testBatchGetBooksInvalid(t *testing.T, c client) {
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = newID()
	}
	for name, ids := range map[string][]string{
		"none":      nil,
		"101 ids":   tooMany,
		"malformed": {newID(), "nope"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := batchGet(t, c, ids...)
			wantInvalid(t, err, "ids")
		})
	}
}

// invalidBook is one broken BookInput and the field it must be blamed on.
type invalidBook struct {
	name   string
	edit   func(f *fixture, b *catalogv1.BookInput)
	fields []string
}

func invalidBooks() []invalidBook {
	badCheck := randomISBN()
	badCheck = badCheck[:12] + string('0'+(badCheck[12]-'0'+1)%10)
	return []invalidBook{
		{"empty title", func(_ *fixture, b *catalogv1.BookInput) { b.Title = "" }, []string{"book.title"}},
		{"blank title", func(_ *fixture, b *catalogv1.BookInput) { b.Title = " \t  " }, []string{"book.title"}},
		{"title of 201 characters", func(_ *fixture, b *catalogv1.BookInput) { b.Title = strings.Repeat("x", 201) }, []string{"book.title"}},
		{"description of 5001 characters", func(_ *fixture, b *catalogv1.BookInput) { b.Description = strings.Repeat("d", 5001) }, []string{"book.description"}},
		{"ISBN with a wrong check digit", func(_ *fixture, b *catalogv1.BookInput) { b.Isbn = badCheck }, []string{"book.isbn"}},
		{"ISBN with a wrong check digit and hyphens", func(_ *fixture, b *catalogv1.BookInput) { b.Isbn = hyphenate(badCheck) }, []string{"book.isbn"}},
		{"ISBN-10", func(_ *fixture, b *catalogv1.BookInput) { b.Isbn = "0306406152" }, []string{"book.isbn"}},
		{"ISBN with letters", func(_ *fixture, b *catalogv1.BookInput) { b.Isbn = "978030640615X" }, []string{"book.isbn"}},
		{"ISBN of 21 characters", func(_ *fixture, b *catalogv1.BookInput) { b.Isbn = "978-0-306-40615-7-000" }, []string{"book.isbn"}},
		{"no price", func(_ *fixture, b *catalogv1.BookInput) { b.Price = nil }, []string{"book.price"}},
		{"zero price", func(_ *fixture, b *catalogv1.BookInput) { b.Price = eur(0) }, []string{"book.price"}},
		{"negative price", func(_ *fixture, b *catalogv1.BookInput) { b.Price = eur(-100) }, []string{"book.price"}},
		{"price without currency", func(_ *fixture, b *catalogv1.BookInput) { b.Price = money("", 1000) }, []string{"book.price"}},
		{"lower-case currency", func(_ *fixture, b *catalogv1.BookInput) { b.Price = money("eur", 1000) }, []string{"book.price.currency_code"}},
		{"currency of four letters", func(_ *fixture, b *catalogv1.BookInput) { b.Price = money("EURO", 1000) }, []string{"book.price.currency_code"}},
		{"fraction of a cent", func(_ *fixture, b *catalogv1.BookInput) {
			b.Price = &typev1.Money{CurrencyCode: "EUR", Units: 10, Nanos: 5}
		}, []string{"book.price"}},
		{"nanos out of range", func(_ *fixture, b *catalogv1.BookInput) {
			b.Price = &typev1.Money{CurrencyCode: "EUR", Units: 10, Nanos: 1_000_000_000}
		}, []string{"book.price"}},
		{"units and nanos of opposite signs", func(_ *fixture, b *catalogv1.BookInput) {
			b.Price = &typev1.Money{CurrencyCode: "EUR", Units: 10, Nanos: -500_000_000}
		}, []string{"book.price"}},
		{"zero sale price", func(_ *fixture, b *catalogv1.BookInput) { b.SalePrice = eur(0) }, []string{"book.sale_price"}},
		{"negative sale price", func(_ *fixture, b *catalogv1.BookInput) { b.SalePrice = eur(-1) }, []string{"book.sale_price"}},
		{"sale price equal to the price", func(_ *fixture, b *catalogv1.BookInput) { b.SalePrice = eur(1999) }, []string{"book.sale_price"}},
		{"sale price above the price", func(_ *fixture, b *catalogv1.BookInput) { b.SalePrice = eur(2500) }, []string{"book.sale_price"}},
		{"sale price in another currency", func(_ *fixture, b *catalogv1.BookInput) { b.SalePrice = money("USD", 999) }, []string{"book.sale_price"}},
		{"negative stock", func(_ *fixture, b *catalogv1.BookInput) { b.StockQuantity = -1 }, []string{"book.stock_quantity"}},
		{"no category", func(_ *fixture, b *catalogv1.BookInput) { b.CategoryId = "" }, []string{"book.category_id"}},
		{"malformed category", func(_ *fixture, b *catalogv1.BookInput) { b.CategoryId = "fiction" }, []string{"book.category_id"}},
		{"unknown category", func(_ *fixture, b *catalogv1.BookInput) { b.CategoryId = newID() }, []string{"book.category_id"}},
		{"no publisher", func(_ *fixture, b *catalogv1.BookInput) { b.PublisherId = "" }, []string{"book.publisher_id"}},
		{"unknown publisher", func(_ *fixture, b *catalogv1.BookInput) { b.PublisherId = newID() }, []string{"book.publisher_id"}},
		{"no authors", func(_ *fixture, b *catalogv1.BookInput) { b.AuthorIds = nil }, []string{"book.author_ids"}},
		{"11 authors", func(_ *fixture, b *catalogv1.BookInput) {
			b.AuthorIds = nil
			for range 11 {
				b.AuthorIds = append(b.AuthorIds, newID())
			}
		}, []string{"book.author_ids"}},
		{"repeated author", func(f *fixture, b *catalogv1.BookInput) {
			b.AuthorIds = []string{f.authors[0].GetId(), f.authors[0].GetId()}
		}, []string{"book.author_ids"}},
		{"malformed author", func(f *fixture, b *catalogv1.BookInput) {
			b.AuthorIds = []string{f.authors[0].GetId(), "tolkien"}
		}, []string{"book.author_ids"}},
		{"unknown author", func(f *fixture, b *catalogv1.BookInput) {
			b.AuthorIds = []string{f.authors[0].GetId(), newID()}
		}, []string{"book.author_ids"}},
		{"http image URL", func(_ *fixture, b *catalogv1.BookInput) { b.ImageUrl = "http://images.example.com/a.jpg" }, []string{"book.image_url"}},
		{"relative image URL", func(_ *fixture, b *catalogv1.BookInput) { b.ImageUrl = "/covers/a.jpg" }, []string{"book.image_url"}},
		{"image URL that is no URL", func(_ *fixture, b *catalogv1.BookInput) { b.ImageUrl = "https://exa mple.com/%zz" }, []string{"book.image_url"}},
		{"image URL of 2001 characters", func(_ *fixture, b *catalogv1.BookInput) {
			b.ImageUrl = "https://images.example.com/" + strings.Repeat("a", 2001-len("https://images.example.com/"))
		}, []string{"book.image_url"}},
		{"several fields at once", func(_ *fixture, b *catalogv1.BookInput) {
			b.Title, b.StockQuantity = "", -3
		}, []string{"book.title", "book.stock_quantity"}},
		{"several business rules at once", func(_ *fixture, b *catalogv1.BookInput) {
			b.Title, b.SalePrice = "   ", eur(5000)
		}, []string{"book.title", "book.sale_price"}},
	}
}

func bookValidationCases() []catalogCase {
	return []catalogCase{{"CreateBook/invalid", func(t *testing.T, c client) {
		f := newFixture(t, c, 1)
		t.Run("no book", func(t *testing.T) {
			_, err := c.CreateBook(t.Context(), connect.NewRequest(&catalogv1.CreateBookRequest{}))
			wantInvalid(t, err, "book")
		})
		for _, tc := range invalidBooks() {
			t.Run(tc.name, func(t *testing.T) {
				in := f.bookInput(func(b *catalogv1.BookInput) { tc.edit(f, b) })
				_, err := c.CreateBook(t.Context(), connect.NewRequest(&catalogv1.CreateBookRequest{Book: in}))
				wantInvalid(t, err, tc.fields...)
			})
		}
	}}}
}

func updateBook(t *testing.T, c client, req *catalogv1.UpdateBookRequest) (*catalogv1.Book, error) {
	t.Helper()
	res, err := c.UpdateBook(t.Context(), connect.NewRequest(req))
	if err != nil {
		return nil, err
	}
	return res.Msg.GetBook(), nil
}

func mustUpdateBook(t *testing.T, c client, req *catalogv1.UpdateBookRequest) *catalogv1.Book {
	t.Helper()
	b, err := updateBook(t, c, req)
	if err != nil {
		t.Fatalf("UpdateBook(%v): %v", req.GetUpdateMask().GetPaths(), err)
	}
	return b
}

func updateBookCases() []catalogCase {
	return []catalogCase{
		{"UpdateBook/fields in the mask", testUpdateBookMask},
		{"UpdateBook/every field", testUpdateBookEveryField},
		{"UpdateBook/clear sale price", testUpdateBookClearSale},
		{"UpdateBook/etag", testUpdateBookEtag},
		{"UpdateBook/not found", func(t *testing.T, c client) {
			_, err := updateBook(t, c, &catalogv1.UpdateBookRequest{
				Id: newID(), Book: &catalogv1.BookInput{Title: "x"}, UpdateMask: mask("title"),
			})
			wantCode(t, err, connect.CodeNotFound)
		}},
		{"UpdateBook/duplicate ISBN", func(t *testing.T, c client) {
			f := newFixture(t, c, 1)
			b1, b2 := f.createBook(t), f.createBook(t)
			_, err := updateBook(t, c, &catalogv1.UpdateBookRequest{
				Id: b2.GetId(), Book: &catalogv1.BookInput{Isbn: b1.GetIsbn()}, UpdateMask: mask("isbn"),
			})
			wantCode(t, err, connect.CodeAlreadyExists)
		}},
		{"UpdateBook/invalid", testUpdateBookInvalid},
	}
}

func testUpdateBookMask(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	title := uniq("Renamed")
	// Fields outside the mask are ignored, even invalid ones.
	got := mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(),
		Book: &catalogv1.BookInput{
			Title: title, Price: eur(2999), StockQuantity: -10, Description: strings.Repeat("x", 6000),
		},
		UpdateMask: mask("title", "price"),
	})
	if got.GetTitle() != title {
		t.Errorf("title = %q, want %q", got.GetTitle(), title)
	}
	wantMoney(t, "price", got.GetPrice(), "EUR", 2999)
	wantMoney(t, "effective_price", got.GetEffectivePrice(), "EUR", 2999)
	if got.GetStockQuantity() != b.GetStockQuantity() || got.GetDescription() != b.GetDescription() ||
		got.GetIsbn() != b.GetIsbn() || got.GetImageUrl() != b.GetImageUrl() {
		t.Errorf("fields outside the mask changed: %v", got)
	}
	if got.GetEtag() == b.GetEtag() {
		t.Errorf("etag still %q after an update", got.GetEtag())
	}
	if !got.GetCreateTime().AsTime().Equal(b.GetCreateTime().AsTime()) {
		t.Errorf("create_time changed from %v to %v", b.GetCreateTime().AsTime(), got.GetCreateTime().AsTime())
	}
	if got.GetUpdateTime().AsTime().Before(b.GetUpdateTime().AsTime()) {
		t.Errorf("update_time went back from %v to %v", b.GetUpdateTime().AsTime(), got.GetUpdateTime().AsTime())
	}
	sameBook(t, getBook(t, c, b.GetId()), got)
}

func testUpdateBookEveryField(t *testing.T, c client) {
	f := newFixture(t, c, 3)
	other := newFixture(t, c, 1)
	b := f.createBook(t)
	isbn := randomISBN()
	in := &catalogv1.BookInput{
		Title:         uniq("Everything Changed"),
		Description:   "New description",
		Isbn:          hyphenate(isbn),
		Price:         eur(5000),
		SalePrice:     eur(4000),
		StockQuantity: 0,
		CategoryId:    other.category.GetId(),
		PublisherId:   other.publisher.GetId(),
		AuthorIds:     []string{f.authors[2].GetId(), other.authors[0].GetId(), f.authors[1].GetId()},
		ImageUrl:      "https://covers.example.org/new.png",
	}
	got := mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Book: in,
		UpdateMask: mask("title", "description", "isbn", "price", "sale_price", "stock_quantity",
			"category_id", "publisher_id", "author_ids", "image_url"),
	})
	if got.GetTitle() != in.GetTitle() || got.GetDescription() != in.GetDescription() || got.GetIsbn() != isbn ||
		got.GetImageUrl() != in.GetImageUrl() || got.GetStockQuantity() != 0 {
		t.Errorf("scalar fields not updated: %v", got)
	}
	if got.GetAvailability() != catalogv1.Availability_AVAILABILITY_OUT_OF_STOCK {
		t.Errorf("availability = %v, want OUT_OF_STOCK", got.GetAvailability())
	}
	wantMoney(t, "price", got.GetPrice(), "EUR", 5000)
	wantMoney(t, "sale_price", got.GetSalePrice(), "EUR", 4000)
	wantMoney(t, "effective_price", got.GetEffectivePrice(), "EUR", 4000)
	if got.GetCategoryName() != other.category.GetName() || got.GetPublisherName() != other.publisher.GetName() {
		t.Errorf("names %q %q, want %q %q", got.GetCategoryName(), got.GetPublisherName(), other.category.GetName(), other.publisher.GetName())
	}
	wantNames := []string{f.authors[2].GetName(), other.authors[0].GetName(), f.authors[1].GetName()}
	if strings.Join(got.GetAuthorNames(), "|") != strings.Join(wantNames, "|") {
		t.Errorf("author_names = %v, want %v", got.GetAuthorNames(), wantNames)
	}
	sameBook(t, getBook(t, c, b.GetId()), got)
}

func testUpdateBookClearSale(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t, func(b *catalogv1.BookInput) { b.SalePrice = eur(999) })
	wantMoney(t, "effective_price", b.GetEffectivePrice(), "EUR", 999)
	got := mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Book: &catalogv1.BookInput{}, UpdateMask: mask("sale_price"),
	})
	if got.GetSalePrice() != nil {
		t.Errorf("sale_price = %v, want none", got.GetSalePrice())
	}
	wantMoney(t, "effective_price", got.GetEffectivePrice(), "EUR", 1999)
}

func testUpdateBookEtag(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t)
	v2 := mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Etag: b.GetEtag(), Book: &catalogv1.BookInput{StockQuantity: 1}, UpdateMask: mask("stock_quantity"),
	})
	_, err := updateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Etag: b.GetEtag(), Book: &catalogv1.BookInput{StockQuantity: 2}, UpdateMask: mask("stock_quantity"),
	})
	wantCode(t, err, connect.CodeAborted)
	if got := getBook(t, c, b.GetId()); got.GetStockQuantity() != 1 || got.GetEtag() != v2.GetEtag() {
		t.Errorf("after the stale update: stock %d etag %q, want 1 %q", got.GetStockQuantity(), got.GetEtag(), v2.GetEtag())
	}
	mustUpdateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: b.GetId(), Etag: v2.GetEtag(), Book: &catalogv1.BookInput{StockQuantity: 3}, UpdateMask: mask("stock_quantity"),
	})
}

func testUpdateBookInvalid(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	b := f.createBook(t, func(b *catalogv1.BookInput) { b.SalePrice = eur(1499) })
	cases := []struct {
		name  string
		req   *catalogv1.UpdateBookRequest
		field string
	}{
		{"malformed id", &catalogv1.UpdateBookRequest{Id: "book-1", Book: &catalogv1.BookInput{Title: "x"}, UpdateMask: mask("title")}, "id"},
		{"no mask", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Title: "x"}}, "update_mask"},
		{"empty mask", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Title: "x"}, UpdateMask: mask()}, "update_mask"},
		{"output-only field in mask", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{}, UpdateMask: mask("rating_average")}, "update_mask"},
		{"unknown field in mask", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Title: "x"}, UpdateMask: mask("title", "colour")}, "update_mask"},
		{"etag of 65 characters", &catalogv1.UpdateBookRequest{Id: b.GetId(), Etag: strings.Repeat("1", 65), Book: &catalogv1.BookInput{Title: "x"}, UpdateMask: mask("title")}, "etag"},
		{"no book with title in mask", &catalogv1.UpdateBookRequest{Id: b.GetId(), UpdateMask: mask("title")}, "book.title"},
		{"blank title", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Title: "   "}, UpdateMask: mask("title")}, "book.title"},
		{"title of 201 characters", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Title: strings.Repeat("t", 201)}, UpdateMask: mask("title")}, "book.title"},
		{"description of 5001 characters", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Description: strings.Repeat("t", 5001)}, UpdateMask: mask("description")}, "book.description"},
		{"bad ISBN", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Isbn: "978-0-306-40615-8"}, UpdateMask: mask("isbn")}, "book.isbn"},
		{"price removed", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{}, UpdateMask: mask("price")}, "book.price"},
		{"lower-case currency", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Price: money("eur", 3000)}, UpdateMask: mask("price")}, "book.price"},
		{"fraction of a cent", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Price: &typev1.Money{CurrencyCode: "EUR", Units: 30, Nanos: 1}}, UpdateMask: mask("price")}, "book.price"},
		{"price below the sale price", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{Price: eur(1000)}, UpdateMask: mask("price")}, "book.sale_price"},
		{"sale price above the price", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{SalePrice: eur(3000)}, UpdateMask: mask("sale_price")}, "book.sale_price"},
		{"sale price in another currency", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{SalePrice: money("GBP", 1000)}, UpdateMask: mask("sale_price")}, "book.sale_price"},
		{"negative stock", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{StockQuantity: -1}, UpdateMask: mask("stock_quantity")}, "book.stock_quantity"},
		{"unknown category", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{CategoryId: newID()}, UpdateMask: mask("category_id")}, "book.category_id"},
		{"malformed publisher", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{PublisherId: "penguin"}, UpdateMask: mask("publisher_id")}, "book.publisher_id"},
		{"unknown publisher", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{PublisherId: newID()}, UpdateMask: mask("publisher_id")}, "book.publisher_id"},
		{"no authors", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{}, UpdateMask: mask("author_ids")}, "book.author_ids"},
		{"unknown author", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{AuthorIds: []string{newID()}}, UpdateMask: mask("author_ids")}, "book.author_ids"},
		{"repeated author", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{AuthorIds: []string{f.authors[0].GetId(), f.authors[0].GetId()}}, UpdateMask: mask("author_ids")}, "book.author_ids"},
		{"http image URL", &catalogv1.UpdateBookRequest{Id: b.GetId(), Book: &catalogv1.BookInput{ImageUrl: "http://example.com/a.png"}, UpdateMask: mask("image_url")}, "book.image_url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updateBook(t, c, tc.req)
			wantInvalid(t, err, tc.field)
		})
	}
	if got := getBook(t, c, b.GetId()); got.GetEtag() != b.GetEtag() {
		t.Errorf("a rejected update changed the book: etag %q, want %q", got.GetEtag(), b.GetEtag())
	}
}

func softDeleteCases() []catalogCase {
	return []catalogCase{
		{"DeleteBook/soft delete", testSoftDelete},
		{"DeleteBook/not found", func(t *testing.T, c client) {
			_, err := c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: newID()}))
			wantCode(t, err, connect.CodeNotFound)
		}},
		{"DeleteBook/invalid id", func(t *testing.T, c client) {
			_, err := c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: "42"}))
			wantInvalid(t, err, "id")
		}},
	}
}

func testSoftDelete(t *testing.T, c client) {
	f := newFixture(t, c, 1)
	word := token(8)
	keep := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Kept " + word })
	gone := f.createBook(t, func(b *catalogv1.BookInput) { b.Title = "Deleted " + word })
	if _, err := c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: gone.GetId()})); err != nil {
		t.Fatalf("DeleteBook: %v", err)
	}

	got := getBook(t, c, gone.GetId())
	if !got.GetDeleted() || got.GetTitle() != gone.GetTitle() {
		t.Errorf("GetBook of a deleted book: deleted=%v title=%q, want true %q", got.GetDeleted(), got.GetTitle(), gone.GetTitle())
	}
	batch, err := batchGet(t, c, keep.GetId(), gone.GetId())
	if err != nil {
		t.Fatalf("BatchGetBooks: %v", err)
	}
	if len(batch) != 2 || batch[0].GetDeleted() || !batch[1].GetDeleted() {
		t.Errorf("BatchGetBooks deleted flags wrong: %v", batch)
	}

	listed := listAll(t, c, &catalogv1.ListBooksRequest{Filter: &catalogv1.BookFilter{CategoryIds: []string{f.category.GetId()}}})
	if ids := bookIDs(listed); len(ids) != 1 || ids[0] != keep.GetId() {
		t.Errorf("ListBooks after delete = %v, want only %s", ids, keep.GetId())
	}
	// The kept book is the exact match and ranks first; typo tolerance may
	// add near matches of other tests' random words, never the deleted book.
	found := searchAll(t, c, &catalogv1.SearchBooksRequest{Query: word})
	if ids := hitIDs(found); len(ids) == 0 || ids[0] != keep.GetId() || slices.Contains(ids, gone.GetId()) {
		t.Errorf("SearchBooks after delete = %v, want %s first and %s absent", ids, keep.GetId(), gone.GetId())
	}

	_, err = updateBook(t, c, &catalogv1.UpdateBookRequest{
		Id: gone.GetId(), Book: &catalogv1.BookInput{StockQuantity: 9}, UpdateMask: mask("stock_quantity"),
	})
	wantCode(t, err, connect.CodeFailedPrecondition)
	_, err = c.DeleteBook(t.Context(), connect.NewRequest(&catalogv1.DeleteBookRequest{Id: gone.GetId()}))
	wantCode(t, err, connect.CodeNotFound)
}
