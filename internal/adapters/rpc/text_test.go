package rpc

import (
	"errors"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"log/slog"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// stringSite is one place a string can sit in a request: its field path as
// the validation layer names it, and how to put s there in a new message.
type stringSite struct {
	path string
	set  func(m protoreflect.Message, s string)
}

// stringSites lists every string of a message type, at any depth: plain,
// repeated (the first element), map keys and values (of key "k"), inside
// nested messages, well-known types included.
func stringSites(md protoreflect.MessageDescriptor, depth int) []stringSite {
	if depth > 5 {
		return nil
	}
	var out []stringSite
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			kfd, vfd := fd.MapKey(), fd.MapValue()
			if kfd.Kind() == protoreflect.StringKind {
				out = append(out, stringSite{name + `["a\x00b"]`, func(m protoreflect.Message, s string) {
					m.Mutable(fd).Map().Set(protoreflect.ValueOfString(s).MapKey(), vfd.Default())
				}})
			}
			key := func() protoreflect.MapKey {
				if kfd.Kind() == protoreflect.StringKind {
					return protoreflect.ValueOfString("k").MapKey()
				}
				return kfd.Default().MapKey()
			}
			prefix := name + "[" + mapKeyString(kfd, key()) + "]"
			switch vfd.Kind() {
			case protoreflect.StringKind:
				out = append(out, stringSite{prefix, func(m protoreflect.Message, s string) {
					m.Mutable(fd).Map().Set(key(), protoreflect.ValueOfString(s))
				}})
			case protoreflect.MessageKind:
				for _, in := range stringSites(vfd.Message(), depth+1) {
					out = append(out, stringSite{prefix + "." + in.path, func(m protoreflect.Message, s string) {
						mp := m.Mutable(fd).Map()
						v := mp.NewValue()
						in.set(v.Message(), s)
						mp.Set(key(), v)
					}})
				}
			}
		case fd.IsList():
			switch fd.Kind() {
			case protoreflect.StringKind:
				out = append(out, stringSite{name + "[0]", func(m protoreflect.Message, s string) {
					m.Mutable(fd).List().Append(protoreflect.ValueOfString(s))
				}})
			case protoreflect.MessageKind:
				for _, in := range stringSites(fd.Message(), depth+1) {
					out = append(out, stringSite{name + "[0]." + in.path, func(m protoreflect.Message, s string) {
						l := m.Mutable(fd).List()
						v := l.NewElement()
						in.set(v.Message(), s)
						l.Append(v)
					}})
				}
			}
		case fd.Kind() == protoreflect.StringKind:
			out = append(out, stringSite{name, func(m protoreflect.Message, s string) {
				m.Set(fd, protoreflect.ValueOfString(s))
			}})
		case fd.Kind() == protoreflect.MessageKind:
			for _, in := range stringSites(fd.Message(), depth+1) {
				out = append(out, stringSite{name + "." + in.path, func(m protoreflect.Message, s string) {
					in.set(m.Mutable(fd).Message(), s)
				}})
			}
		}
	}
	return out
}

// TestNULIsRefusedInEveryString puts "a\x00b" in every string of every
// request of every service of the contract, one at a time, and expects the
// validation layer to refuse it naming exactly that field. Postgres cannot
// store U+0000 in text: without the check it answered Internal.
func TestNULIsRefusedInEveryString(t *testing.T) {
	i, err := NewValidationInterceptor()
	if err != nil {
		t.Fatal(err)
	}
	check := i.(validationInterceptor).check
	sites := 0
	for _, s := range contractServices(t) {
		for j := range s.Methods().Len() {
			in := s.Methods().Get(j).Input()
			for _, site := range stringSites(in, 0) {
				sites++
				m := dynamicpb.NewMessage(in)
				site.set(m, "a\x00b")
				var ve *failure.ValidationError
				if err := check(m); !errors.As(err, &ve) {
					t.Errorf("%s with NUL in %s: %v, want a validation error", in.FullName(), site.path, err)
					continue
				}
				if !slices.Contains(ve.Violations, failure.Violation{Field: site.path, Description: nulViolation}) &&
					!slices.Contains(ve.Violations, failure.Violation{Field: site.path, Description: "key " + nulViolation}) {
					t.Errorf("%s with NUL in %s: violations %v do not name it", in.FullName(), site.path, ve.Violations)
				}
				// Without the NUL the same text is no violation of the walk.
				ok := dynamicpb.NewMessage(in)
				site.set(ok, "ab")
				var none failure.Violations
				checkText(ok, "", &none)
				if err := none.Err(); err != nil {
					t.Errorf("%s with plain text in %s: %v", in.FullName(), site.path, err)
				}
			}
		}
	}
	if sites < 40 {
		t.Fatalf("only %d string sites found in the requests of the contract", sites)
	}
}

// TestCheckTextPaths covers the shapes the contract does not use yet (maps)
// and deep paths, on the generated types.
func TestCheckTextPaths(t *testing.T) {
	var vs failure.Violations
	checkText((&catalogv1.UpdateBookRequest{
		Id:   "x",
		Book: &catalogv1.BookInput{Title: "ok", AuthorIds: []string{"fine", "bad\x00", "\x00"}},
	}).ProtoReflect(), "", &vs)
	var ve *failure.ValidationError
	if !errors.As(vs.Err(), &ve) {
		t.Fatalf("no violations: %v", vs.Err())
	}
	want := []failure.Violation{{Field: "book.author_ids[1]", Description: nulViolation}, {Field: "book.author_ids[2]", Description: nulViolation}}
	if !slices.Equal(ve.Violations, want) {
		t.Fatalf("violations %v, want %v", ve.Violations, want)
	}
	if got := mapKeyString((&catalogv1.Book{}).ProtoReflect().Descriptor().Fields().ByName("title"),
		protoreflect.ValueOfString("k\"").MapKey()); got != strconv.Quote("k\"") {
		t.Fatalf("map key written %s", got)
	}
}

// TestNULOverTheWire: the requests the issue names answer InvalidArgument
// with a BadRequest naming the field, before the use cases (over nil ports,
// which would panic into Internal) are reached.
func TestNULOverTheWire(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), Services: []Service{
		CatalogService(catalog.NewService(nil, nil, nil)), RatingService(rating.NewService(nil, nil, nil)),
	}, MaxRequestBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	cat := catalogv1connect.NewCatalogServiceClient(srv.Client(), srv.URL, connect.WithProtoJSON())
	rat := ratingv1connect.NewRatingServiceClient(srv.Client(), srv.URL)
	ctx := t.Context()
	id := coreid.New()
	tests := []struct {
		name  string
		call  func() error
		field string
	}{
		{"CreateAuthor", func() error {
			_, err := cat.CreateAuthor(ctx, connect.NewRequest(&catalogv1.CreateAuthorRequest{Author: &catalogv1.AuthorInput{Name: "Ursula\x00"}}))
			return err
		}, "author.name"},
		{"CreateCategory", func() error {
			_, err := cat.CreateCategory(ctx, connect.NewRequest(&catalogv1.CreateCategoryRequest{Category: &catalogv1.CategoryInput{Name: "SF", Description: "\x00"}}))
			return err
		}, "category.description"},
		{"CreatePublisher", func() error {
			_, err := cat.CreatePublisher(ctx, connect.NewRequest(&catalogv1.CreatePublisherRequest{Publisher: &catalogv1.PublisherInput{Name: "\x00Press"}}))
			return err
		}, "publisher.name"},
		{"SearchBooks", func() error {
			_, err := cat.SearchBooks(ctx, connect.NewRequest(&catalogv1.SearchBooksRequest{Query: "dragon\x00"}))
			return err
		}, "query"},
		{"UpdateBook (a field the contract's rules ignore)", func() error {
			_, err := cat.UpdateBook(ctx, connect.NewRequest(&catalogv1.UpdateBookRequest{Id: id,
				Book: &catalogv1.BookInput{Description: "x\x00"}}))
			return err
		}, "book.description"},
		{"CreateReview", func() error {
			_, err := rat.CreateReview(ctx, connect.NewRequest(&ratingv1.CreateReviewRequest{BookId: id,
				Review: &ratingv1.ReviewInput{Stars: 4, Body: "good\x00"}}))
			return err
		}, "review.body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var ce *connect.Error
			if err := tc.call(); !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
			var fields []string
			for _, d := range ce.Details() {
				if v, err := d.Value(); err == nil {
					if br, ok := v.(*errdetails.BadRequest); ok {
						for _, fv := range br.GetFieldViolations() {
							fields = append(fields, fv.GetField())
						}
					}
				}
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("field violations %v do not name %s", fields, tc.field)
			}
		})
	}
}
