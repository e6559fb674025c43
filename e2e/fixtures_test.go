package e2e

import (
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// token returns n random characters from A-Z and 0-9: names built from it
// are unique across the run and sort the same way in Go and in any Postgres
// collation.
func token(n int) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err)
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

// uniq returns prefix followed by a random token.
func uniq(prefix string) string { return prefix + " " + token(10) }

// randomISBN returns a random ISBN-13 with a valid check digit, digits only.
func randomISBN() string {
	d := "978"
	for len(d) < 12 {
		k, _ := rand.Int(rand.Reader, big.NewInt(10))
		d += k.String()
	}
	return d + isbnCheckDigit(d)
}

// isbnCheckDigit computes the ISBN-13 check digit of 12 digits.
func isbnCheckDigit(d12 string) string {
	sum := 0
	for i := range 12 {
		n := int(d12[i] - '0')
		if i%2 == 1 {
			n *= 3
		}
		sum += n
	}
	return fmt.Sprint((10 - sum%10) % 10)
}

// hyphenate writes an ISBN-13 the way books print it.
func hyphenate(isbn string) string {
	return isbn[:3] + "-" + isbn[3:4] + "-" + isbn[4:7] + "-" + isbn[7:12] + "-" + isbn[12:]
}

// money returns cents minor units of a two-decimal currency.
func money(currency string, cents int64) *typev1.Money {
	return &typev1.Money{CurrencyCode: currency, Units: cents / 100, Nanos: int32(cents%100) * 10_000_000}
}

func eur(cents int64) *typev1.Money { return money("EUR", cents) }

// cents is the inverse of money for two-decimal currencies.
func cents(m *typev1.Money) int64 {
	if m == nil {
		return 0
	}
	return m.GetUnits()*100 + int64(m.GetNanos())/10_000_000
}

func mask(paths ...string) *fieldmaskpb.FieldMask { return &fieldmaskpb.FieldMask{Paths: paths} }

// newID returns a well-formed id that names nothing (UUIDv7 layout).
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = (b[6] & 0x0f) | 0x70
	b[8] = (b[8] & 0x3f) | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// fixture is a category, a publisher and authors that books of one test
// refer to; filtering by the category isolates a test from the others that
// share the server.
type fixture struct {
	c         catalogv1connect.CatalogServiceClient
	category  *catalogv1.Category
	publisher *catalogv1.Publisher
	authors   []*catalogv1.Author
}

// newFixture creates a category, a publisher and nAuthors authors.
func newFixture(t *testing.T, c catalogv1connect.CatalogServiceClient, nAuthors int) *fixture {
	t.Helper()
	f := &fixture{c: c}
	f.category = createCategory(t, c, uniq("Category"))
	f.publisher = createPublisher(t, c, uniq("Publisher"))
	for range nAuthors {
		f.authors = append(f.authors, createAuthor(t, c, uniq("Author")))
	}
	return f
}

func createCategory(t *testing.T, c catalogv1connect.CatalogServiceClient, name string) *catalogv1.Category {
	t.Helper()
	res, err := c.CreateCategory(t.Context(), connect.NewRequest(&catalogv1.CreateCategoryRequest{
		Category: &catalogv1.CategoryInput{Name: name, Description: "Books about " + name},
	}))
	if err != nil {
		t.Fatalf("CreateCategory(%q): %v", name, err)
	}
	return res.Msg.GetCategory()
}

func createPublisher(t *testing.T, c catalogv1connect.CatalogServiceClient, name string) *catalogv1.Publisher {
	t.Helper()
	res, err := c.CreatePublisher(t.Context(), connect.NewRequest(&catalogv1.CreatePublisherRequest{
		Publisher: &catalogv1.PublisherInput{Name: name},
	}))
	if err != nil {
		t.Fatalf("CreatePublisher(%q): %v", name, err)
	}
	return res.Msg.GetPublisher()
}

func createAuthor(t *testing.T, c catalogv1connect.CatalogServiceClient, name string) *catalogv1.Author {
	t.Helper()
	res, err := c.CreateAuthor(t.Context(), connect.NewRequest(&catalogv1.CreateAuthorRequest{
		Author: &catalogv1.AuthorInput{Name: name, Biography: name + " writes books."},
	}))
	if err != nil {
		t.Fatalf("CreateAuthor(%q): %v", name, err)
	}
	return res.Msg.GetAuthor()
}

// bookInput returns a valid book of the fixture, changed by edits.
func (f *fixture) bookInput(edits ...func(*catalogv1.BookInput)) *catalogv1.BookInput {
	in := &catalogv1.BookInput{
		Title:         uniq("Book"),
		Description:   "A book written for the end-to-end tests.",
		Isbn:          hyphenate(randomISBN()),
		Price:         eur(1999),
		StockQuantity: 5,
		CategoryId:    f.category.GetId(),
		PublisherId:   f.publisher.GetId(),
		AuthorIds:     []string{f.authors[0].GetId()},
		ImageUrl:      "https://images.example.com/" + strings.ToLower(token(8)) + ".jpg",
	}
	for _, e := range edits {
		e(in)
	}
	return in
}

// createBook creates a valid book of the fixture changed by edits.
func (f *fixture) createBook(t *testing.T, edits ...func(*catalogv1.BookInput)) *catalogv1.Book {
	t.Helper()
	in := f.bookInput(edits...)
	res, err := f.c.CreateBook(t.Context(), connect.NewRequest(&catalogv1.CreateBookRequest{Book: in}))
	if err != nil {
		t.Fatalf("CreateBook(%q): %v", in.GetTitle(), err)
	}
	return res.Msg.GetBook()
}

func getBook(t *testing.T, c catalogv1connect.CatalogServiceClient, id string) *catalogv1.Book {
	t.Helper()
	res, err := c.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: id}))
	if err != nil {
		t.Fatalf("GetBook(%s): %v", id, err)
	}
	return res.Msg.GetBook()
}

// wantCode fails unless err is a Connect error with code want.
func wantCode(t *testing.T, err error, want connect.Code) *connect.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("got success, want %v", want)
	}
	var ce *connect.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %T %v, want a *connect.Error with code %v", err, err, want)
	}
	if ce.Code() != want {
		t.Fatalf("got code %v (%q), want %v", ce.Code(), ce.Message(), want)
	}
	return ce
}

// fieldViolations returns the google.rpc.BadRequest field violations of err.
func fieldViolations(t *testing.T, ce *connect.Error) []*errdetails.BadRequest_FieldViolation {
	t.Helper()
	var out []*errdetails.BadRequest_FieldViolation
	for _, d := range ce.Details() {
		v, err := d.Value()
		if err != nil {
			t.Errorf("error detail %s: %v", d.Type(), err)
			continue
		}
		if br, ok := v.(*errdetails.BadRequest); ok {
			out = append(out, br.GetFieldViolations()...)
		}
	}
	return out
}

// wantInvalid fails unless err is InvalidArgument with a google.rpc.BadRequest
// detail that has a violation of each field. A violation matches a field when
// its path is the field or lies under it ("book.price" matches
// "book.price.nanos", "book.author_ids" matches "book.author_ids[1]").
func wantInvalid(t *testing.T, err error, fields ...string) {
	t.Helper()
	ce := wantCode(t, err, connect.CodeInvalidArgument)
	vs := fieldViolations(t, ce)
	if len(vs) == 0 {
		t.Fatalf("InvalidArgument %q has no google.rpc.BadRequest field violations (details: %v)", ce.Message(), detailTypes(ce))
	}
	for _, want := range fields {
		if !slices.ContainsFunc(vs, func(v *errdetails.BadRequest_FieldViolation) bool { return underField(v.GetField(), want) }) {
			t.Errorf("no violation of %q in %v", want, describeViolations(vs))
		}
	}
	for _, v := range vs {
		if v.GetDescription() == "" {
			t.Errorf("violation of %q has no description", v.GetField())
		}
	}
}

func underField(path, field string) bool {
	return path == field || strings.HasPrefix(path, field+".") || strings.HasPrefix(path, field+"[")
}

func describeViolations(vs []*errdetails.BadRequest_FieldViolation) string {
	parts := make([]string, len(vs))
	for i, v := range vs {
		parts[i] = fmt.Sprintf("%s: %s", v.GetField(), v.GetDescription())
	}
	return "[" + strings.Join(parts, "; ") + "]"
}

func detailTypes(ce *connect.Error) []string {
	var out []string
	for _, d := range ce.Details() {
		out = append(out, d.Type())
	}
	return out
}

// awaitCatalogStock waits up to 5 s for the catalog to show want copies of
// the book: its book cache follows stock changes by notification, a moment
// after they commit.
func awaitCatalogStock(t *testing.T, bookID string, want int32) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got := getBook(t, catalogClient(t, connectProto), bookID).GetStockQuantity()
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the catalog shows %d copies, want %d", got, want)
		}
	}
}
