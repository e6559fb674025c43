package catalog_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

const (
	testBookID      = "0190a000-0000-7000-8000-0000000000b1"
	testCategoryID  = "0190a000-0000-7000-8000-0000000000c1"
	testPublisherID = "0190a000-0000-7000-8000-0000000000d1"
)

var (
	// testT0 and testT1 are in a zone other than UTC so that the tests see
	// the conversion the core promises.
	testZone = time.FixedZone("UTC+2", 2*60*60)
	testT0   = time.Date(2025, time.March, 1, 12, 0, 0, 0, testZone)
	testT1   = testT0.Add(time.Hour)
)

// testAuthorID returns the i-th author id of the tests.
func testAuthorID(i int) string { return fmt.Sprintf("0190a000-0000-7000-8000-%012x", 0xa0+i) }

// testAuthorIDs returns n distinct author ids.
func testAuthorIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = testAuthorID(i)
	}
	return ids
}

// mkMoney returns minor minor units of currency.
func mkMoney(t *testing.T, currency string, minor int64) money.Money {
	t.Helper()
	m, err := money.New(currency, minor)
	if err != nil {
		t.Fatalf("money.New(%q, %d): %v", currency, minor, err)
	}
	return m
}

// goodBookFields returns fields that obey every rule.
func goodBookFields(t *testing.T) catalog.BookFields {
	t.Helper()
	return catalog.BookFields{
		Title:         "The Go Programming Language",
		Description:   "A book about Go.",
		ISBN:          "978-0-306-40615-7",
		Price:         mkMoney(t, "EUR", 3999),
		SalePrice:     mkMoney(t, "EUR", 2999),
		StockQuantity: 5,
		CategoryID:    testCategoryID,
		PublisherID:   testPublisherID,
		AuthorIDs:     testAuthorIDs(2),
		ImageURL:      "https://images.example.com/gopl.jpg",
	}
}

// violationFields returns the field paths of err, which must be a
// ValidationError matching failure.ErrInvalid.
func violationFields(t *testing.T, err error) []string {
	t.Helper()
	var ve *failure.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *failure.ValidationError", err, err)
	}
	if !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("error %v does not match failure.ErrInvalid", err)
	}
	fields := make([]string, len(ve.Violations))
	for i, v := range ve.Violations {
		if v.Description == "" {
			t.Errorf("violation of %s has no description", v.Field)
		}
		fields[i] = v.Field
	}
	return fields
}

// wantViolations fails the test unless err names exactly the fields want,
// in order.
func wantViolations(t *testing.T, err error, want ...string) {
	t.Helper()
	if got := violationFields(t, err); !slices.Equal(got, want) {
		t.Fatalf("violations on %q, want %q (error: %v)", got, want, err)
	}
}

// newTestBook returns a valid book made at testT0.
func newTestBook(t *testing.T) *catalog.Book {
	t.Helper()
	b, err := catalog.NewBook(testBookID, goodBookFields(t), testT0)
	if err != nil {
		t.Fatalf("NewBook: %v", err)
	}
	return b
}

func TestNewBookRules(t *testing.T) {
	tests := []struct {
		name   string
		change func(t *testing.T, f *catalog.BookFields)
		want   []string // nil when the fields are valid
	}{
		{"valid", func(*testing.T, *catalog.BookFields) {}, nil},

		{"title empty", func(_ *testing.T, f *catalog.BookFields) { f.Title = "" }, []string{"book.title"}},
		{"title whitespace", func(_ *testing.T, f *catalog.BookFields) { f.Title = " \t\n " }, []string{"book.title"}},
		{"title 200 multibyte runes", func(_ *testing.T, f *catalog.BookFields) { f.Title = strings.Repeat("é", 200) }, nil},
		{"title 200 runes inside spaces", func(_ *testing.T, f *catalog.BookFields) { f.Title = "  " + strings.Repeat("a", 200) + "  " }, nil},
		{"title 201 runes", func(_ *testing.T, f *catalog.BookFields) { f.Title = strings.Repeat("é", 201) }, []string{"book.title"}},
		{"title invalid UTF-8", func(_ *testing.T, f *catalog.BookFields) { f.Title = "Bad \xff title" }, []string{"book.title"}},

		{"description empty", func(_ *testing.T, f *catalog.BookFields) { f.Description = "" }, nil},
		{"description 5000 multibyte runes", func(_ *testing.T, f *catalog.BookFields) { f.Description = strings.Repeat("ü", 5000) }, nil},
		{"description 5001 runes", func(_ *testing.T, f *catalog.BookFields) { f.Description = strings.Repeat("ü", 5001) }, []string{"book.description"}},
		{"description invalid UTF-8", func(_ *testing.T, f *catalog.BookFields) { f.Description = "bad \xc3(" }, []string{"book.description"}},

		{"isbn empty", func(_ *testing.T, f *catalog.BookFields) { f.ISBN = "" }, nil},
		{"isbn 979", func(_ *testing.T, f *catalog.BookFields) { f.ISBN = "979-10-90636-07-1" }, nil},
		{"isbn bad check digit", func(_ *testing.T, f *catalog.BookFields) { f.ISBN = "978-0-306-40615-8" }, []string{"book.isbn"}},
		{"isbn wrong length", func(_ *testing.T, f *catalog.BookFields) { f.ISBN = "0306406152" }, []string{"book.isbn"}},
		{"isbn letters", func(_ *testing.T, f *catalog.BookFields) { f.ISBN = "ISBN9780306406157" }, []string{"book.isbn"}},

		{"price missing", func(_ *testing.T, f *catalog.BookFields) { f.Price, f.SalePrice = money.Money{}, money.Money{} }, []string{"book.price"}},
		{"price zero", func(t *testing.T, f *catalog.BookFields) { f.Price, f.SalePrice = mkMoney(t, "EUR", 0), money.Money{} }, []string{"book.price"}},
		{"price negative", func(t *testing.T, f *catalog.BookFields) { f.Price, f.SalePrice = mkMoney(t, "EUR", -1), money.Money{} }, []string{"book.price"}},
		{"price one cent", func(t *testing.T, f *catalog.BookFields) { f.Price, f.SalePrice = mkMoney(t, "EUR", 1), money.Money{} }, nil},
		{"price in yen", func(t *testing.T, f *catalog.BookFields) {
			f.Price, f.SalePrice = mkMoney(t, "JPY", 4500), mkMoney(t, "JPY", 4000)
		}, nil},
		{"price missing with a sale price", func(_ *testing.T, f *catalog.BookFields) { f.Price = money.Money{} }, []string{"book.price"}},

		{"sale price absent", func(_ *testing.T, f *catalog.BookFields) { f.SalePrice = money.Money{} }, nil},
		{"sale price zero", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "EUR", 0) }, []string{"book.sale_price"}},
		{"sale price negative", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "EUR", -100) }, []string{"book.sale_price"}},
		{"sale price equal to price", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "EUR", 3999) }, []string{"book.sale_price"}},
		{"sale price above price", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "EUR", 4000) }, []string{"book.sale_price"}},
		{"sale price one cent below", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "EUR", 3998) }, nil},
		{"sale price other currency", func(t *testing.T, f *catalog.BookFields) { f.SalePrice = mkMoney(t, "USD", 1999) }, []string{"book.sale_price.currency_code"}},

		{"stock zero", func(_ *testing.T, f *catalog.BookFields) { f.StockQuantity = 0 }, nil},
		{"stock negative", func(_ *testing.T, f *catalog.BookFields) { f.StockQuantity = -1 }, []string{"book.stock_quantity"}},

		{"category id empty", func(_ *testing.T, f *catalog.BookFields) { f.CategoryID = "" }, []string{"book.category_id"}},
		{"category id not a UUID", func(_ *testing.T, f *catalog.BookFields) { f.CategoryID = "fiction" }, []string{"book.category_id"}},
		{"category id without hyphens", func(_ *testing.T, f *catalog.BookFields) { f.CategoryID = strings.ReplaceAll(testCategoryID, "-", "") }, []string{"book.category_id"}},
		{"publisher id not a UUID", func(_ *testing.T, f *catalog.BookFields) { f.PublisherID = "penguin" }, []string{"book.publisher_id"}},
		{"publisher id in braces", func(_ *testing.T, f *catalog.BookFields) { f.PublisherID = "{" + testPublisherID + "}" }, []string{"book.publisher_id"}},

		{"no authors", func(_ *testing.T, f *catalog.BookFields) { f.AuthorIDs = nil }, []string{"book.author_ids"}},
		{"empty author list", func(_ *testing.T, f *catalog.BookFields) { f.AuthorIDs = []string{} }, []string{"book.author_ids"}},
		{"one author", func(_ *testing.T, f *catalog.BookFields) { f.AuthorIDs = testAuthorIDs(1) }, nil},
		{"10 authors", func(_ *testing.T, f *catalog.BookFields) { f.AuthorIDs = testAuthorIDs(10) }, nil},
		{"11 authors", func(_ *testing.T, f *catalog.BookFields) { f.AuthorIDs = testAuthorIDs(11) }, []string{"book.author_ids"}},
		{"duplicate author", func(_ *testing.T, f *catalog.BookFields) {
			f.AuthorIDs = []string{testAuthorID(0), testAuthorID(0)}
		}, []string{"book.author_ids[1]"}},
		{"duplicate author in other case", func(_ *testing.T, f *catalog.BookFields) {
			f.AuthorIDs = []string{testAuthorID(0), testAuthorID(1), strings.ToUpper(testAuthorID(0))}
		}, []string{"book.author_ids[2]"}},
		{"author id not a UUID", func(_ *testing.T, f *catalog.BookFields) {
			f.AuthorIDs = []string{testAuthorID(0), "tolkien"}
		}, []string{"book.author_ids[1]"}},
		{"11 authors one of them bad", func(_ *testing.T, f *catalog.BookFields) {
			f.AuthorIDs = testAuthorIDs(11)
			f.AuthorIDs[3] = ""
		}, []string{"book.author_ids", "book.author_ids[3]"}},

		{"image url empty", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "" }, nil},
		{"image url http", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "http://images.example.com/a.jpg" }, []string{"book.image_url"}},
		{"image url relative", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "/images/a.jpg" }, []string{"book.image_url"}},
		{"image url without host", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "https:///a.jpg" }, []string{"book.image_url"}},
		{"image url javascript", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "javascript:alert(1)" }, []string{"book.image_url"}},
		{"image url unparsable", func(_ *testing.T, f *catalog.BookFields) { f.ImageURL = "https://exa mple.com/%zz" }, []string{"book.image_url"}},
		{"image url 2000 bytes", func(_ *testing.T, f *catalog.BookFields) {
			f.ImageURL = "https://example.com/" + strings.Repeat("a", 2000-len("https://example.com/"))
		}, nil},
		{"image url 2001 bytes", func(_ *testing.T, f *catalog.BookFields) {
			f.ImageURL = "https://example.com/" + strings.Repeat("a", 2001-len("https://example.com/"))
		}, []string{"book.image_url"}},

		{"everything wrong at once", func(t *testing.T, f *catalog.BookFields) {
			*f = catalog.BookFields{
				Title:         "",
				Description:   strings.Repeat("x", 5001),
				ISBN:          "123",
				Price:         mkMoney(t, "EUR", 0),
				SalePrice:     mkMoney(t, "EUR", -1),
				StockQuantity: -5,
				CategoryID:    "c",
				PublisherID:   "p",
				AuthorIDs:     []string{"a"},
				ImageURL:      "ftp://example.com/a.jpg",
			}
		}, []string{
			"book.title", "book.description", "book.isbn", "book.price", "book.sale_price", "book.stock_quantity",
			"book.category_id", "book.publisher_id", "book.author_ids[0]", "book.image_url",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := goodBookFields(t)
			tt.change(t, &f)
			b, err := catalog.NewBook(testBookID, f, testT0)
			if tt.want != nil {
				wantViolations(t, err, tt.want...)
				if b != nil {
					t.Fatal("NewBook returned a book with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewBook: %v", err)
			}
			if b == nil {
				t.Fatal("NewBook returned no book")
			}
		})
	}
}

func TestNewBookNormalizes(t *testing.T) {
	f := goodBookFields(t)
	f.Title = "  Spaced Out \n"
	f.ISBN = "978 0-306 40615-7"
	b, err := catalog.NewBook(testBookID, f, testT0)
	if err != nil {
		t.Fatalf("NewBook: %v", err)
	}
	r := b.Record()
	if r.ID != testBookID || b.ID() != testBookID {
		t.Errorf("id = %q / %q, want %q", r.ID, b.ID(), testBookID)
	}
	if r.Title != "Spaced Out" {
		t.Errorf("title = %q, want it trimmed", r.Title)
	}
	if r.ISBN != "9780306406157" {
		t.Errorf("isbn = %q, want digits only", r.ISBN)
	}
	if r.Version != 1 || b.Etag() != "1" {
		t.Errorf("version = %d, etag %q, want 1", r.Version, b.Etag())
	}
	if !r.CreateTime.Equal(testT0) || r.CreateTime.Location() != time.UTC || r.UpdateTime != r.CreateTime {
		t.Errorf("create/update time = %v / %v, want %v in UTC", r.CreateTime, r.UpdateTime, testT0)
	}
	if r.DeleteTime != nil || b.Deleted() {
		t.Error("a new book is deleted")
	}
	if r.Description != f.Description || r.Price != f.Price || r.SalePrice != f.SalePrice || r.StockQuantity != f.StockQuantity ||
		r.CategoryID != f.CategoryID || r.PublisherID != f.PublisherID || !slices.Equal(r.AuthorIDs, f.AuthorIDs) || r.ImageURL != f.ImageURL {
		t.Errorf("record %+v does not hold the fields %+v", r.BookFields, f)
	}
}

func TestBookDoesNotShareSlices(t *testing.T) {
	f := goodBookFields(t)
	b, err := catalog.NewBook(testBookID, f, testT0)
	if err != nil {
		t.Fatalf("NewBook: %v", err)
	}
	f.AuthorIDs[0] = "changed by the caller"
	r := b.Record()
	if r.AuthorIDs[0] != testAuthorID(0) {
		t.Fatal("NewBook kept the caller's author slice")
	}
	r.AuthorIDs[0] = "changed through a record"
	if b.Record().AuthorIDs[0] != testAuthorID(0) {
		t.Fatal("Record shares its author slice with the book")
	}

	upd := catalog.BookFields{AuthorIDs: testAuthorIDs(3)}
	if err := b.Apply(upd, []string{catalog.FieldAuthorIDs}, testT1); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	upd.AuthorIDs[0] = "changed by the caller"
	if b.Record().AuthorIDs[0] != testAuthorID(0) {
		t.Fatal("Apply kept the caller's author slice")
	}
}

func TestBookDerivedValues(t *testing.T) {
	deleted := testT0.Add(time.Minute)
	tests := []struct {
		name      string
		rec       func(t *testing.T) catalog.BookRecord
		inStock   bool
		deleted   bool
		average   float64
		effective int64
	}{
		{"on sale in stock", func(t *testing.T) catalog.BookRecord {
			return catalog.BookRecord{BookFields: goodBookFields(t), RatingSum: 9, RatingCount: 2}
		}, true, false, 4.5, 2999},
		{"full price out of stock without reviews", func(t *testing.T) catalog.BookRecord {
			f := goodBookFields(t)
			f.SalePrice, f.StockQuantity = money.Money{}, 0
			return catalog.BookRecord{BookFields: f}
		}, false, false, 0, 3999},
		{"deleted", func(t *testing.T) catalog.BookRecord {
			return catalog.BookRecord{BookFields: goodBookFields(t), DeleteTime: &deleted, RatingSum: 5, RatingCount: 1}
		}, true, true, 5, 2999},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.rec(t)
			b := catalog.RestoreBook(r)
			if got := b.InStock(); got != tt.inStock {
				t.Errorf("InStock = %v, want %v", got, tt.inStock)
			}
			if got := b.Deleted(); got != tt.deleted {
				t.Errorf("Deleted = %v, want %v", got, tt.deleted)
			}
			if got := b.RatingAverage(); got != tt.average {
				t.Errorf("RatingAverage = %v, want %v", got, tt.average)
			}
			if got := r.EffectivePrice().Minor(); got != tt.effective {
				t.Errorf("EffectivePrice = %d, want %d", got, tt.effective)
			}
		})
	}
}

func TestBookApply(t *testing.T) {
	tests := []struct {
		name   string
		fields func(t *testing.T) catalog.BookFields
		paths  []string
		check  func(t *testing.T, before, after catalog.BookRecord)
	}{
		{"title only", func(*testing.T) catalog.BookFields {
			return catalog.BookFields{Title: "  New Title  "}
		}, []string{catalog.FieldTitle}, func(t *testing.T, before, after catalog.BookRecord) {
			if after.Title != "New Title" {
				t.Errorf("title = %q", after.Title)
			}
			before.Title = after.Title
			if !slices.Equal(before.AuthorIDs, after.AuthorIDs) || before.Price != after.Price || before.ISBN != after.ISBN ||
				before.Description != after.Description || before.SalePrice != after.SalePrice {
				t.Errorf("fields outside the mask changed: %+v -> %+v", before.BookFields, after.BookFields)
			}
		}},
		{"fields outside the mask are ignored even when invalid", func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{Title: "", Price: mkMoney(t, "EUR", 4999), CategoryID: "bad"}
		}, []string{catalog.FieldPrice}, func(t *testing.T, before, after catalog.BookRecord) {
			if after.Price.Minor() != 4999 || after.Title != before.Title || after.CategoryID != before.CategoryID {
				t.Errorf("after = %+v", after.BookFields)
			}
		}},
		{"every field", func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{
				Title: "T", Description: "D", ISBN: "979-10-90636-07-1", Price: mkMoney(t, "USD", 1000), SalePrice: money.Money{},
				StockQuantity: 0, CategoryID: testAuthorID(7), PublisherID: testAuthorID(8), AuthorIDs: testAuthorIDs(1), ImageURL: "",
			}
		}, []string{
			catalog.FieldTitle, catalog.FieldDescription, catalog.FieldISBN, catalog.FieldPrice, catalog.FieldSalePrice,
			catalog.FieldStockQuantity, catalog.FieldCategoryID, catalog.FieldPublisherID, catalog.FieldAuthorIDs, catalog.FieldImageURL,
		}, func(t *testing.T, _, after catalog.BookRecord) {
			want := catalog.BookFields{
				Title: "T", Description: "D", ISBN: "9791090636071", Price: after.Price, CategoryID: testAuthorID(7),
				PublisherID: testAuthorID(8), AuthorIDs: testAuthorIDs(1),
			}
			if after.Price.String() != "10.00 USD" || !after.SalePrice.IsZero() {
				t.Errorf("prices = %v / %v", after.Price, after.SalePrice)
			}
			got := after.BookFields
			if got.Title != want.Title || got.Description != want.Description || got.ISBN != want.ISBN || got.StockQuantity != 0 ||
				got.CategoryID != want.CategoryID || got.PublisherID != want.PublisherID || !slices.Equal(got.AuthorIDs, want.AuthorIDs) ||
				got.ImageURL != "" {
				t.Errorf("after = %+v, want %+v", got, want)
			}
		}},
		{"clearing the sale price", func(*testing.T) catalog.BookFields {
			return catalog.BookFields{}
		}, []string{catalog.FieldSalePrice}, func(t *testing.T, _, after catalog.BookRecord) {
			if !after.SalePrice.IsZero() || after.EffectivePrice().Minor() != 3999 {
				t.Errorf("sale price = %v, effective %v", after.SalePrice, after.EffectivePrice())
			}
		}},
		{"price and sale price together", func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{Price: mkMoney(t, "EUR", 1000), SalePrice: mkMoney(t, "EUR", 500)}
		}, []string{catalog.FieldSalePrice, catalog.FieldPrice}, func(t *testing.T, _, after catalog.BookRecord) {
			if after.Price.Minor() != 1000 || after.SalePrice.Minor() != 500 {
				t.Errorf("prices = %v / %v", after.Price, after.SalePrice)
			}
		}},
		{"repeated path", func(*testing.T) catalog.BookFields {
			return catalog.BookFields{StockQuantity: 9}
		}, []string{catalog.FieldStockQuantity, catalog.FieldStockQuantity}, func(t *testing.T, _, after catalog.BookRecord) {
			if after.StockQuantity != 9 {
				t.Errorf("stock = %d", after.StockQuantity)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBook(t)
			before := b.Record()
			if err := b.Apply(tt.fields(t), tt.paths, testT1); err != nil {
				t.Fatalf("Apply: %v", err)
			}
			after := b.Record()
			if after.Version != before.Version+1 || b.Etag() != "2" {
				t.Errorf("version %d -> %d (etag %q), want one more", before.Version, after.Version, b.Etag())
			}
			if !after.UpdateTime.Equal(testT1) || after.UpdateTime.Location() != time.UTC {
				t.Errorf("update time = %v, want %v in UTC", after.UpdateTime, testT1)
			}
			if after.CreateTime != before.CreateTime || after.ID != before.ID {
				t.Errorf("id or create time changed: %v %v -> %v %v", before.ID, before.CreateTime, after.ID, after.CreateTime)
			}
			tt.check(t, before, after)
		})
	}
}

func TestBookApplyRefused(t *testing.T) {
	deletedAt := testT0.Add(time.Minute)
	tests := []struct {
		name    string
		deleted bool
		fields  func(t *testing.T) catalog.BookFields
		paths   []string
		want    []string // violated fields; nil for ErrFailedPrecondition
	}{
		{"empty mask", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{Title: "x"} }, []string{}, []string{"update_mask"}},
		{"nil mask", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{Title: "x"} }, nil, []string{"update_mask"}},
		{"unknown path", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{"rating"}, []string{"update_mask"}},
		{"unknown path beside a known one", false, func(*testing.T) catalog.BookFields {
			return catalog.BookFields{Title: "Would Be Valid"}
		}, []string{catalog.FieldTitle, "id", "version"}, []string{"update_mask", "update_mask"}},
		{"sub-field path", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{"price.units"}, []string{"update_mask"}},
		{"path in camel case", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{"stockQuantity"}, []string{"update_mask"}},
		{"path with request prefix", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{Title: "x"} }, []string{"book.title"}, []string{"update_mask"}},
		{"emptying the title", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{catalog.FieldTitle}, []string{"book.title"}},
		{"clearing the price", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{catalog.FieldPrice}, []string{"book.price"}},
		{"lowering the price below the sale price", false, func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{Price: mkMoney(t, "EUR", 1999)}
		}, []string{catalog.FieldPrice}, []string{"book.sale_price"}},
		{"raising the sale price to the price", false, func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{SalePrice: mkMoney(t, "EUR", 3999)}
		}, []string{catalog.FieldSalePrice}, []string{"book.sale_price"}},
		{"changing the currency of the price alone", false, func(t *testing.T) catalog.BookFields {
			return catalog.BookFields{Price: mkMoney(t, "USD", 3999)}
		}, []string{catalog.FieldPrice}, []string{"book.sale_price.currency_code"}},
		{"removing every author", false, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, []string{catalog.FieldAuthorIDs}, []string{"book.author_ids"}},
		{"repeating an author", false, func(*testing.T) catalog.BookFields {
			return catalog.BookFields{AuthorIDs: []string{testAuthorID(1), testAuthorID(2), testAuthorID(1)}}
		}, []string{catalog.FieldAuthorIDs}, []string{"book.author_ids[2]"}},
		{"bad isbn and image", false, func(*testing.T) catalog.BookFields {
			return catalog.BookFields{ISBN: "978-0-306-40615-0", ImageURL: "http://x.example/a.png"}
		}, []string{catalog.FieldISBN, catalog.FieldImageURL}, []string{"book.isbn", "book.image_url"}},
		{"deleted book", true, func(*testing.T) catalog.BookFields { return catalog.BookFields{Title: "x"} }, []string{catalog.FieldTitle}, nil},
		{"deleted book with an empty mask", true, func(*testing.T) catalog.BookFields { return catalog.BookFields{} }, nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newTestBook(t)
			if tt.deleted {
				r := b.Record()
				r.DeleteTime = &deletedAt
				b = catalog.RestoreBook(r)
			}
			before := b.Record()
			err := b.Apply(tt.fields(t), tt.paths, testT1)
			if tt.want == nil {
				if !errors.Is(err, failure.ErrFailedPrecondition) || errors.Is(err, failure.ErrInvalid) {
					t.Fatalf("Apply = %v, want only ErrFailedPrecondition", err)
				}
			} else {
				wantViolations(t, err, tt.want...)
			}
			after := b.Record()
			if after.Version != before.Version || after.UpdateTime != before.UpdateTime || after.Title != before.Title ||
				after.Price != before.Price || after.SalePrice != before.SalePrice || !slices.Equal(after.AuthorIDs, before.AuthorIDs) {
				t.Fatalf("a refused Apply changed the book: %+v -> %+v", before, after)
			}
		})
	}
}
