// Package catalog is the Catalog context's domain: books, authors,
// categories and publishers, the rules they obey, the use cases that change
// them, the ports those use cases need, and the domain events a change
// raises (Event: a Book collects them as NewBook and Apply run; stores
// serialize and enqueue them with the change). Its port contracts and an
// in-memory fake live in catalogtest.
package catalog

import (
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

// Limits of a book's fields.
const (
	MaxTitleLen       = 200
	MaxDescriptionLen = 5000
	MaxAuthors        = 10
	MaxImageURLLen    = 2000
)

// BookFields are the fields of a book a client writes.
type BookFields struct {
	Title       string
	Description string
	// ISBN is an ISBN-13 (hyphens and spaces allowed on input), or empty.
	ISBN  string
	Price money.Money
	// SalePrice is the zero Money when the book is not on sale.
	SalePrice     money.Money
	StockQuantity int32
	CategoryID    string
	PublisherID   string
	AuthorIDs     []string
	ImageURL      string
}

// RequestField is the name under which requests carry a book's fields;
// violations of a field are reported as "book.title" and so on.
const RequestField = "book"

// Names of BookFields as update masks spell them.
const (
	FieldTitle         = "title"
	FieldDescription   = "description"
	FieldISBN          = "isbn"
	FieldPrice         = "price"
	FieldSalePrice     = "sale_price"
	FieldStockQuantity = "stock_quantity"
	FieldCategoryID    = "category_id"
	FieldPublisherID   = "publisher_id"
	FieldAuthorIDs     = "author_ids"
	FieldImageURL      = "image_url"
)

// normalize checks every invariant of the fields and returns them in
// canonical form (trimmed title, ISBN digits only).
func (f BookFields) normalize() (BookFields, error) {
	var v failure.Violations
	f.Title = strings.TrimSpace(f.Title)
	switch n := utf8.RuneCountInString(f.Title); {
	case n == 0:
		v.Add(FieldTitle, "must not be empty")
	case n > MaxTitleLen:
		v.Add(FieldTitle, "must be at most 200 characters")
	}
	if !utf8.ValidString(f.Title) {
		v.Add(FieldTitle, "must be valid UTF-8")
	}
	switch {
	case !utf8.ValidString(f.Description):
		v.Add(FieldDescription, "must be valid UTF-8")
	case utf8.RuneCountInString(f.Description) > MaxDescriptionLen:
		v.Add(FieldDescription, "must be at most 5000 characters")
	}
	if f.ISBN != "" {
		isbn, ok := NormalizeISBN(f.ISBN)
		if !ok {
			v.Add(FieldISBN, "must be an ISBN-13 with a valid check digit")
		}
		f.ISBN = isbn
	}
	switch {
	case f.Price.IsZero():
		v.Add(FieldPrice, "is required")
	case f.Price.Minor() <= 0:
		v.Add(FieldPrice, "must be greater than zero")
	}
	if !f.SalePrice.IsZero() {
		switch {
		case f.SalePrice.Minor() <= 0:
			v.Add(FieldSalePrice, "must be greater than zero")
		case !f.Price.IsZero() && f.SalePrice.Currency() != f.Price.Currency():
			v.Add(FieldSalePrice+".currency_code", "must be the currency of the price")
		case !f.Price.IsZero() && f.SalePrice.Minor() >= f.Price.Minor():
			v.Add(FieldSalePrice, "must be lower than the price")
		}
	}
	if f.StockQuantity < 0 {
		v.Add(FieldStockQuantity, "must be zero or more")
	}
	if !coreid.Valid(f.CategoryID) {
		v.Add(FieldCategoryID, "must be a UUID")
	}
	if !coreid.Valid(f.PublisherID) {
		v.Add(FieldPublisherID, "must be a UUID")
	}
	switch n := len(f.AuthorIDs); {
	case n == 0:
		v.Add(FieldAuthorIDs, "must name at least one author")
	case n > MaxAuthors:
		v.Add(FieldAuthorIDs, "must name at most 10 authors")
	}
	seen := make(map[string]bool, len(f.AuthorIDs))
	for i, id := range f.AuthorIDs {
		switch {
		case !coreid.Valid(id):
			v.Add(fieldIndex(FieldAuthorIDs, i), "must be a UUID")
		case seen[coreid.Canonical(id)]:
			v.Add(fieldIndex(FieldAuthorIDs, i), "must not repeat an author")
		}
		seen[coreid.Canonical(id)] = true
	}
	f.AuthorIDs = slices.Clone(f.AuthorIDs)
	if f.ImageURL != "" {
		u, err := url.Parse(f.ImageURL)
		switch {
		case len(f.ImageURL) > MaxImageURLLen:
			v.Add(FieldImageURL, "must be at most 2000 characters")
		case err != nil || u.Scheme != "https" || u.Host == "":
			v.Add(FieldImageURL, "must be an absolute https URL")
		}
	}
	return f, v.Err()
}

// EffectivePrice is what the book sells for: the sale price when set.
func (f BookFields) EffectivePrice() money.Money {
	if !f.SalePrice.IsZero() {
		return f.SalePrice
	}
	return f.Price
}

// BookRecord is the whole stored state of a book: the fields a client writes
// and those the catalog maintains. Adapters read it with Book.Record and
// rebuild a Book from storage with RestoreBook.
type BookRecord struct {
	ID string
	BookFields
	// RatingSum and RatingCount are the exact sum of review stars and the
	// number of reviews; the average is derived from them.
	RatingSum   int64
	RatingCount int32
	CreateTime  time.Time
	UpdateTime  time.Time
	// DeleteTime is set when the book was deleted.
	DeleteTime *time.Time
	// Version grows by one with every change (optimistic concurrency).
	Version int64
	// Names resolved from the references, filled by reads.
	CategoryName  string
	PublisherName string
	AuthorNames   []string
}

// Book is a book of the catalog. Its fields obey every rule of BookFields;
// it can only be made by NewBook, changed by Apply and restored by RestoreBook.
type Book struct {
	rec    BookRecord
	events []Event
}

// NewBook validates fields and returns a new book with a fresh id.
func NewBook(id string, fields BookFields, now time.Time) (*Book, error) {
	f, err := fields.normalize()
	if err != nil {
		return nil, failure.Prefix(RequestField, err)
	}
	now = now.UTC()
	b := &Book{rec: BookRecord{ID: id, BookFields: f, CreateTime: now, UpdateTime: now, Version: 1}}
	b.events = []Event{BookCreated{Book: b.Record()}}
	return b, nil
}

// RestoreBook rebuilds a book from storage, which only holds valid books.
func RestoreBook(r BookRecord) *Book { return &Book{rec: r} }

// Record returns a copy of the book's state.
func (b *Book) Record() BookRecord {
	r := b.rec
	r.AuthorIDs = slices.Clone(r.AuthorIDs)
	r.AuthorNames = slices.Clone(r.AuthorNames)
	return r
}

// ID returns the book's id.
func (b *Book) ID() string { return b.rec.ID }

// Deleted reports whether the book was deleted.
func (b *Book) Deleted() bool { return b.rec.DeleteTime != nil }

// InStock reports whether copies are in stock.
func (b *Book) InStock() bool { return b.rec.StockQuantity > 0 }

// Etag returns the version tag clients send back for optimistic concurrency.
func (b *Book) Etag() string { return Etag(b.rec.Version) }

// RatingAverage returns the average stars, 0 without reviews.
func (b *Book) RatingAverage() float64 {
	if b.rec.RatingCount == 0 {
		return 0
	}
	return float64(b.rec.RatingSum) / float64(b.rec.RatingCount)
}

// Apply sets the fields named in paths to their values in fields, checks the
// result as a whole and bumps the version. An unknown path is invalid. It
// raises BookUpdated when a field changed, and BookPriceChanged when the
// list or sale price did (see Events).
func (b *Book) Apply(fields BookFields, paths []string, now time.Time) error {
	if b.Deleted() {
		return failure.FailedPrecondition("book %s is deleted", b.rec.ID)
	}
	next := b.rec.BookFields
	if len(paths) == 0 {
		return failure.Invalid("update_mask", "must name at least one field")
	}
	var v failure.Violations
	for _, p := range paths {
		switch p {
		case FieldTitle:
			next.Title = fields.Title
		case FieldDescription:
			next.Description = fields.Description
		case FieldISBN:
			next.ISBN = fields.ISBN
		case FieldPrice:
			next.Price = fields.Price
		case FieldSalePrice:
			next.SalePrice = fields.SalePrice
		case FieldStockQuantity:
			next.StockQuantity = fields.StockQuantity
		case FieldCategoryID:
			next.CategoryID = fields.CategoryID
		case FieldPublisherID:
			next.PublisherID = fields.PublisherID
		case FieldAuthorIDs:
			next.AuthorIDs = fields.AuthorIDs
		case FieldImageURL:
			next.ImageURL = fields.ImageURL
		default:
			v.Add("update_mask", "unknown field "+strconvQuote(p))
		}
	}
	if err := v.Err(); err != nil {
		return err
	}
	f, err := next.normalize()
	if err != nil {
		return failure.Prefix(RequestField, err)
	}
	before := b.Record()
	b.rec.BookFields = f
	b.rec.UpdateTime = now.UTC()
	b.rec.Version++
	b.events = append(b.events, updateEvents(before, b.Record())...)
	return nil
}
