package catalog_test

import (
	"reflect"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

func TestBookEvents(t *testing.T) {
	b := newTestBook(t)
	evs := b.Events()
	if len(evs) != 1 {
		t.Fatalf("NewBook raised %v, want BookCreated", evs)
	}
	if c, ok := evs[0].(catalog.BookCreated); !ok || c.Book.ID != b.ID() || c.Book.Version != 1 {
		t.Fatalf("NewBook raised %#v", evs[0])
	}
	before := b.Record()
	later := testT0.Add(time.Hour)

	cases := []struct {
		name    string
		fields  catalog.BookFields
		paths   []string
		changed []string // of BookUpdated; nil: no event
		price   bool     // BookPriceChanged too
	}{
		{"the same title again", catalog.BookFields{Title: before.Title}, []string{catalog.FieldTitle}, nil, false},
		{"a new title", catalog.BookFields{Title: "Another title"}, []string{catalog.FieldTitle}, []string{catalog.FieldTitle}, false},
		{"a sale price", catalog.BookFields{SalePrice: mkMoney(t, before.Price.Currency(), before.Price.Minor()-100)}, []string{catalog.FieldSalePrice},
			[]string{catalog.FieldSalePrice, catalog.FieldEffectivePrice}, true},
		{"stock only", catalog.BookFields{StockQuantity: before.StockQuantity + 1}, []string{catalog.FieldStockQuantity},
			[]string{catalog.FieldStockQuantity}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := catalog.RestoreBook(before)
			if len(b.Events()) != 0 {
				t.Fatal("a restored book has events")
			}
			if err := b.Apply(c.fields, c.paths, later); err != nil {
				t.Fatal(err)
			}
			evs := b.Events()
			if c.changed == nil {
				if len(evs) != 0 {
					t.Fatalf("an update that changed nothing raised %v", evs)
				}
				return
			}
			want := 1
			if c.price {
				want = 2
			}
			if len(evs) != want {
				t.Fatalf("raised %d events %v, want %d", len(evs), evs, want)
			}
			u, ok := evs[0].(catalog.BookUpdated)
			if !ok || !reflect.DeepEqual(u.Changed, c.changed) || u.Book.Version != before.Version+1 || !u.Book.UpdateTime.Equal(later) {
				t.Fatalf("BookUpdated = %#v, want changed %v", evs[0], c.changed)
			}
			if c.price {
				p, ok := evs[1].(catalog.BookPriceChanged)
				if !ok || p.PreviousEffectivePrice != before.EffectivePrice() || p.Book.EffectivePrice() == before.EffectivePrice() {
					t.Fatalf("BookPriceChanged = %#v", evs[1])
				}
			}
		})
	}
}
