package catalogstore

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

func TestDemoCatalogIsDeterministic(t *testing.T) {
	a, b := DemoCatalog(500), DemoCatalog(500)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two calls with the same size returned different catalogs")
	}
}

func TestDemoCatalogNests(t *testing.T) {
	small, big := DemoCatalog(300), DemoCatalog(2000)
	for _, l := range []struct {
		name       string
		small, big []*catalog.Entity
	}{
		{"categories", small.Categories, big.Categories},
		{"publishers", small.Publishers, big.Publishers},
		{"authors", small.Authors, big.Authors},
	} {
		if len(l.small) > len(l.big) {
			t.Fatalf("%s: small catalog has %d, big %d", l.name, len(l.small), len(l.big))
		}
		for i, e := range l.small {
			if !reflect.DeepEqual(e.Record(), l.big[i].Record()) {
				t.Errorf("%s[%d] differs between catalog sizes", l.name, i)
			}
		}
	}
	for i, bk := range small.Books {
		if !reflect.DeepEqual(bk.Record(), big.Books[i].Record()) {
			t.Fatalf("book %d differs between catalog sizes", i)
		}
	}
}

func TestDemoCatalogSizes(t *testing.T) {
	tests := []struct {
		name          string
		books         int
		wantAuthors   int
		wantMinCats   int
		wantMinPubers int
	}{
		{"empty", 0, 40, 12, 20},
		{"small", 10, 40, 12, 20},
		{"default", 300, 60, 12, 20},
		{"benchmark", 10_000, 2000, 12, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := DemoCatalog(tt.books)
			if len(d.Books) != tt.books {
				t.Errorf("books = %d, want %d", len(d.Books), tt.books)
			}
			if len(d.Authors) != tt.wantAuthors {
				t.Errorf("authors = %d, want %d", len(d.Authors), tt.wantAuthors)
			}
			if len(d.Categories) < tt.wantMinCats || len(d.Publishers) < tt.wantMinPubers {
				t.Errorf("categories = %d, publishers = %d", len(d.Categories), len(d.Publishers))
			}
		})
	}
}

func TestDemoCatalogIsValidAndUnique(t *testing.T) {
	const n = 10_000
	d := DemoCatalog(n)
	ids := map[string]string{}
	unique := func(kind, id string) {
		t.Helper()
		if !coreid.Valid(id) {
			t.Fatalf("%s id %q is not a UUID", kind, id)
		}
		if id[14] != '7' {
			t.Errorf("%s id %s is not a UUIDv7", kind, id)
		}
		if prev, ok := ids[id]; ok {
			t.Fatalf("id %s used by a %s and a %s", id, prev, kind)
		}
		ids[id] = kind
	}
	entityNames := map[string]bool{}
	for _, l := range []struct {
		kind catalog.Kind
		list []*catalog.Entity
	}{{catalog.CategoryKind, d.Categories}, {catalog.PublisherKind, d.Publishers}, {catalog.AuthorKind, d.Authors}} {
		for _, e := range l.list {
			r := e.Record()
			unique(l.kind.Name, r.ID)
			// Rebuilding from the record goes through the rules again.
			if _, err := catalog.NewEntity(l.kind, r.ID, r.EntityFields, r.CreateTime); err != nil {
				t.Fatalf("%s %q: %v", l.kind.Name, r.Name, err)
			}
			key := l.kind.Name + "/" + strings.ToLower(r.Name)
			if entityNames[key] {
				t.Errorf("%s name %q repeats", l.kind.Name, r.Name)
			}
			entityNames[key] = true
		}
	}
	authors := map[string]bool{}
	for _, a := range d.Authors {
		authors[a.Record().ID] = true
	}
	cats, pubs := map[string]bool{}, map[string]bool{}
	for _, c := range d.Categories {
		cats[c.Record().ID] = true
	}
	for _, p := range d.Publishers {
		pubs[p.Record().ID] = true
	}

	isbns := map[string]bool{}
	var onSale, outOfStock int
	var words = map[string]int{}
	for i, b := range d.Books {
		r := b.Record()
		unique("book", r.ID)
		if _, err := catalog.NewBook(r.ID, r.BookFields, r.CreateTime); err != nil {
			t.Fatalf("book %d: %v", i, err)
		}
		if isbn, ok := catalog.NormalizeISBN(r.ISBN); !ok || !strings.HasPrefix(isbn, "978") {
			t.Fatalf("book %d: ISBN %q is not a valid 978 ISBN-13", i, r.ISBN)
		}
		if isbns[r.ISBN] {
			t.Fatalf("book %d: ISBN %s repeats", i, r.ISBN)
		}
		isbns[r.ISBN] = true
		if r.Price.Currency() != "EUR" || r.Price.Minor() < 499 || r.Price.Minor() > 5999 {
			t.Errorf("book %d: price %v outside 4.99..59.99 EUR", i, r.Price)
		}
		if !r.SalePrice.IsZero() {
			onSale++
		}
		if r.StockQuantity == 0 {
			outOfStock++
		}
		if len(r.AuthorIDs) < 1 || len(r.AuthorIDs) > 3 {
			t.Errorf("book %d: %d authors", i, len(r.AuthorIDs))
		}
		for _, a := range r.AuthorIDs {
			if !authors[a] {
				t.Fatalf("book %d: unknown author %s", i, a)
			}
		}
		if !cats[r.CategoryID] || !pubs[r.PublisherID] {
			t.Fatalf("book %d: unknown category or publisher", i)
		}
		if !strings.HasPrefix(r.ImageURL, "https://") {
			t.Errorf("book %d: image URL %q", i, r.ImageURL)
		}
		if r.Description == "" {
			t.Errorf("book %d: no description", i)
		}
		if i > 0 && !r.CreateTime.After(d.Books[i-1].Record().CreateTime) {
			t.Errorf("book %d: create time does not grow", i)
		}
		if r.CreateTime.Location() != time.UTC {
			t.Errorf("book %d: create time not in UTC", i)
		}
		for _, w := range strings.Fields(strings.ToLower(r.Title)) {
			words[w]++
		}
	}
	// About a fifth on sale and a tenth out of stock.
	if onSale < n/8 || onSale > n/4 {
		t.Errorf("%d of %d books on sale, want about a fifth", onSale, n)
	}
	if outOfStock < n/15 || outOfStock > n/7 {
		t.Errorf("%d of %d books out of stock, want about a tenth", outOfStock, n)
	}
	// Search needs words to find.
	for _, w := range []string{"dragon", "garden", "history"} {
		if words[w] == 0 {
			t.Errorf("no title contains %q", w)
		}
	}
}
