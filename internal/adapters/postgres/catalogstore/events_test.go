package catalogstore

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// catalogEvents returns the events in the outbox after seq, decoded, and the
// last seq.
func catalogEvents(t *testing.T, f *fixture, after int64) ([]proto.Message, int64) {
	t.Helper()
	var out []proto.Message
	last := after
	for _, r := range pgtest.Outbox(t, f.pool) {
		if r.Seq <= after {
			continue
		}
		last = r.Seq
		if _, c, ok := events.ParseSource(r.Source); !ok || c != CatalogSource {
			t.Fatalf("event %s: source %q", r.ID, r.Source)
		}
		var m proto.Message
		switch r.Type {
		case "bookworm.catalog.v1.BookCreated":
			m = &catalogv1.BookCreated{}
		case "bookworm.catalog.v1.BookUpdated":
			m = &catalogv1.BookUpdated{}
		case "bookworm.catalog.v1.BookDeleted":
			m = &catalogv1.BookDeleted{}
		case "bookworm.catalog.v1.BookPriceChanged":
			m = &catalogv1.BookPriceChanged{}
		default:
			t.Fatalf("unexpected event type %q", r.Type)
		}
		if err := proto.Unmarshal(r.Data, m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out, last
}

func wantEvents(t *testing.T, got []proto.Message, want ...proto.Message) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d events %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range want {
		if d := cmpProto(got[i], want[i]); d != "" {
			t.Fatalf("event %d differs :\n%s", i, d)
		}
	}
}

func eurProto(minor int64) *typev1.Money {
	return &typev1.Money{CurrencyCode: "EUR", Units: minor / 100, Nanos: int32(minor%100) * 10_000_000}
}

func TestCatalogEmitsBookEvents(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	r := f.refs()
	a2 := f.author("Second Author")

	// Create.
	fields := f.fields("Events", r.cat, r.pub, r.author)
	b := f.create(fields)
	rec := b.Record()
	got, seq := catalogEvents(t, f, 0)
	wantEvents(t, got, &catalogv1.BookCreated{
		BookId: rec.ID, Version: 1, Title: "Events", Description: fields.Description, Isbn: fields.ISBN,
		Price: eurProto(1999), EffectivePrice: eurProto(1999), StockQuantity: 5,
		CategoryId: r.cat, PublisherId: r.pub, AuthorIds: []string{r.author}, ImageUrl: fields.ImageURL,
		OccurTime: timestamppb.New(rec.CreateTime),
	})

	update := func(next catalog.BookFields, paths ...string) catalog.BookRecord {
		t.Helper()
		out, err := f.books.UpdateBook(f.ctx, rec.ID, func(b *catalog.Book) error { return b.Apply(next, paths, f.now()) })
		if err != nil {
			t.Fatalf("update %v: %v", paths, err)
		}
		return out.Record()
	}

	// A change that leaves the price alone: BookUpdated only.
	next := fields
	next.Title, next.AuthorIDs, next.StockQuantity = "Events, Revised", []string{a2, r.author}, 9
	u := update(next, catalog.FieldTitle, catalog.FieldAuthorIDs, catalog.FieldStockQuantity)
	got, seq = catalogEvents(t, f, seq)
	wantEvents(t, got, &catalogv1.BookUpdated{
		BookId: rec.ID, Version: 2, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"title", "stock_quantity", "author_ids"}},
		Title: "Events, Revised", Description: fields.Description, Isbn: fields.ISBN,
		Price: eurProto(1999), EffectivePrice: eurProto(1999), StockQuantity: 9,
		CategoryId: r.cat, PublisherId: r.pub, AuthorIds: []string{a2, r.author}, ImageUrl: fields.ImageURL,
		OccurTime: timestamppb.New(u.UpdateTime),
	})

	// On sale: the effective price changes, BookPriceChanged follows.
	next.SalePrice = eur(t, 1499)
	u = update(next, catalog.FieldSalePrice)
	got, seq = catalogEvents(t, f, seq)
	if len(got) != 2 {
		t.Fatalf("%d events after a sale price, want BookUpdated and BookPriceChanged", len(got))
	}
	if m := got[0].(*catalogv1.BookUpdated); m.GetVersion() != 3 ||
		!proto.Equal(m.GetUpdateMask(), &fieldmaskpb.FieldMask{Paths: []string{"sale_price", "effective_price"}}) ||
		!proto.Equal(m.GetEffectivePrice(), eurProto(1499)) || !proto.Equal(m.GetSalePrice(), eurProto(1499)) {
		t.Fatalf("BookUpdated = %v", m)
	}
	wantEvents(t, got[1:], &catalogv1.BookPriceChanged{
		BookId: rec.ID, Version: 3, Title: "Events, Revised",
		Price: eurProto(1999), SalePrice: eurProto(1499), EffectivePrice: eurProto(1499),
		PreviousEffectivePrice: eurProto(1999), OccurTime: timestamppb.New(u.UpdateTime),
	})

	// The list price changes under the sale: the effective price stays,
	// but the price changed, so BookPriceChanged again.
	next.Price = eur(t, 2499)
	update(next, catalog.FieldPrice)
	got, seq = catalogEvents(t, f, seq)
	if len(got) != 2 {
		t.Fatalf("%d events after a list price change, want 2", len(got))
	}
	if m := got[0].(*catalogv1.BookUpdated); !proto.Equal(m.GetUpdateMask(), &fieldmaskpb.FieldMask{Paths: []string{"price"}}) {
		t.Fatalf("BookUpdated mask = %v", m.GetUpdateMask())
	}
	if m := got[1].(*catalogv1.BookPriceChanged); !proto.Equal(m.GetPreviousEffectivePrice(), eurProto(1499)) ||
		!proto.Equal(m.GetEffectivePrice(), eurProto(1499)) || !proto.Equal(m.GetPrice(), eurProto(2499)) {
		t.Fatalf("BookPriceChanged = %v", m)
	}

	// A write that changes nothing announces nothing.
	update(next, catalog.FieldTitle)
	if got, _ := catalogEvents(t, f, seq); len(got) != 0 {
		t.Fatalf("%d events after a change of nothing", len(got))
	}

	// A failed update announces nothing.
	bad := next
	bad.CategoryID = coreid.New()
	if _, err := f.books.UpdateBook(f.ctx, rec.ID, func(b *catalog.Book) error {
		return b.Apply(bad, []string{catalog.FieldCategoryID}, f.now())
	}); err == nil {
		t.Fatal("update to a category that does not exist succeeded")
	}
	if got, _ := catalogEvents(t, f, seq); len(got) != 0 {
		t.Fatalf("%d events after a failed update", len(got))
	}

	// Delete.
	at := f.now()
	if err := f.books.DeleteBook(f.ctx, rec.ID, at); err != nil {
		t.Fatal(err)
	}
	got, seq = catalogEvents(t, f, seq)
	current := f.get(rec.ID).Record()
	wantEvents(t, got, &catalogv1.BookDeleted{
		BookId: rec.ID, Version: current.Version, Title: "Events, Revised", OccurTime: timestamppb.New(at),
	})
	// Deleting again fails and announces nothing.
	wantIs(t, f.books.DeleteBook(f.ctx, rec.ID, f.now()), failure.ErrNotFound)
	wantIs(t, f.books.DeleteBook(f.ctx, coreid.New(), f.now()), failure.ErrNotFound)
	if got, _ := catalogEvents(t, f, seq); len(got) != 0 {
		t.Fatalf("%d events after failed deletes", len(got))
	}
}

func TestCatalogFailedCreateEmitsNothing(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	r := f.refs()
	fields := f.fields("First", r.cat, r.pub, r.author)
	f.create(fields)
	dup := f.fields("Second", r.cat, r.pub, r.author)
	dup.ISBN = fields.ISBN
	_, err := f.tryCreate(dup)
	wantIs(t, err, failure.ErrAlreadyExists)
	got, _ := catalogEvents(t, f, 0)
	if len(got) != 1 {
		t.Fatalf("%d events, want only the first book's", len(got))
	}
}

func TestCatalogEventsThroughTheCache(t *testing.T) {
	pool := pgtest.NewPool(t)
	cache := NewBookCache(NewBooks(pool), pool, 100, pgtest.DiscardLog())
	f := newFixture(t, pool, cache)
	r := f.refs()
	b := f.create(f.fields("Cached", r.cat, r.pub, r.author))
	if err := f.books.DeleteBook(f.ctx, b.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	got, _ := catalogEvents(t, f, 0)
	if len(got) != 2 {
		t.Fatalf("%d events, want BookCreated and BookDeleted", len(got))
	}
	if _, ok := got[1].(*catalogv1.BookDeleted); !ok {
		t.Fatalf("second event %T", got[1])
	}
}

func cmpProto(got, want proto.Message) string {
	if proto.Equal(got, want) {
		return ""
	}
	return fmt.Sprintf("got:  %v\nwant: %v", got, want)
}
