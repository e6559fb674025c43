package catalogstore

import (
	"fmt"
	"slices"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
)

func TestQueryTerms(t *testing.T) {
	tests := []struct {
		query    string
		words    []string
		excluded []string
		included string
	}{
		{"dragon", []string{"dragon"}, nil, "dragon"},
		{"Dragon GARDEN dragon", []string{"dragon", "garden"}, nil, "Dragon GARDEN dragon"},
		{`"silent river" or lake`, []string{"silent", "river", "lake"}, nil, "silent river or lake"},
		{"mystery -garden -old-map", []string{"mystery"}, []string{"garden", "old", "map"}, "mystery"},
		// Short words and fragments are not looked up.
		{"a of it's-hers", []string{"hers"}, nil, "a of it's-hers"},
		{"don't panic!", []string{"don", "panic"}, nil, "don't panic!"},
		// Within quotes a dash does not exclude.
		{`"-not negated"`, []string{"not", "negated"}, nil, "-not negated"},
		{"l'été à Zürich", []string{"été", "zürich"}, nil, "l'été à Zürich"},
		// tsquery operators never reach a word.
		{"x' & !y | (z) <-> 'drop table'", []string{"drop", "table"}, nil, "x' & !y | (z) <-> 'drop table'"},
		{"- -dragon", nil, []string{"dragon"}, ""},
		{"one two three four five six seven eight nine ten",
			[]string{"one", "two", "three", "four", "five", "six", "seven", "eight"}, nil,
			"one two three four five six seven eight nine ten"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			words, excluded, included := queryTerms(tt.query)
			if !slices.Equal(words, tt.words) || !slices.Equal(excluded, tt.excluded) || included != tt.included {
				t.Errorf("queryTerms(%q) = %q, %q, %q; want %q, %q, %q",
					tt.query, words, excluded, included, tt.words, tt.excluded, tt.included)
			}
		})
	}
}

// TestSearchWindows pages through searches whose matches span several
// windows (a window of 5 here): every match comes exactly once, filters
// hold, the first window is ranked, and books added or deleted between pages
// neither repeat nor hide the others.
func TestSearchWindows(t *testing.T) {
	pool := pgtest.NewPool(t)
	books := NewBooks(pool)
	books.window = 5
	f := newFixture(t, pool, books)
	catA, catB := f.category("Lamps"), f.category("Ships")
	pub, au := f.publisher("Owl Press"), f.author("Ann Quill")
	want := map[string][]string{} // category → lantern books
	var all []string
	for i := range 17 {
		cat := []string{catA, catB}[i%2]
		fl := f.fields(fmt.Sprintf("The Lantern Book %d", i), cat, pub, au)
		if i%3 == 0 { // the word in the description only: ranked lower
			fl = f.fields(fmt.Sprintf("Harbour Tales %d", i), cat, pub, au)
			fl.Description = "A story about a lantern."
		}
		b := f.create(fl)
		want[cat] = append(want[cat], b.ID())
		all = append(all, b.ID())
	}
	for i := range 6 {
		f.create(f.fields(fmt.Sprintf("Unrelated %d", i), catA, pub, au))
	}
	pages := func(query string, flt catalog.BookFilter, size int, between func(page int)) (ids []string, first catalog.SearchPage) {
		t.Helper()
		q := catalog.SearchBooksQuery{Query: query, Filter: flt, PageSize: size, Mode: catalog.SearchLexical}
		for n := 0; ; n++ {
			p, err := books.SearchBooks(f.ctx, q)
			if err != nil {
				t.Fatalf("%q page %d: %v", query, n, err)
			}
			if n == 0 {
				first = p
			}
			for _, h := range p.Hits {
				ids = append(ids, h.Book.ID())
			}
			if p.NextPageToken == "" {
				return ids, first
			}
			if between != nil {
				between(n)
			}
			q.PageToken = p.NextPageToken
		}
	}
	same := func(name string, got, want []string) {
		t.Helper()
		g, w := slices.Clone(got), slices.Clone(want)
		slices.Sort(g)
		slices.Sort(w)
		if !slices.Equal(g, w) {
			t.Errorf("%s: got %d books %v, want %d %v", name, len(got), got, len(want), want)
		}
	}
	for _, size := range []int{1, 4, 5, 7, 100} {
		got, first := pages("lantern", catalog.BookFilter{}, size, nil)
		same(fmt.Sprintf("page size %d", size), got, all)
		if size == 100 {
			// The first window is the 5 newest matches (16 down to 12),
			// title matches (16, 14, 13) before the description's (15, 12).
			if tt := titles(first); !slices.Equal(tt[:5], []string{"The Lantern Book 16", "The Lantern Book 14", "The Lantern Book 13", "Harbour Tales 15", "Harbour Tales 12"}) {
				t.Errorf("first window ranked %v", tt[:5])
			}
		}
	}
	got, _ := pages("lantern", catalog.BookFilter{CategoryIDs: []string{catB}}, 3, nil)
	same("category filter", got, want[catB])
	// A typo: corrected through the lexicon of titles, matched against the
	// whole document, over several windows too.
	got, _ = pages("lantren", catalog.BookFilter{}, 4, nil)
	same("typo", got, all)

	// Changes between pages: a new match (newer than every window) and a
	// deleted one.
	var added, deleted string
	got, _ = pages("lantern", catalog.BookFilter{}, 3, func(page int) {
		switch page {
		case 1:
			added = f.create(f.fields("The Lantern Book New", catA, pub, au)).ID()
		case 2:
			deleted = all[3] // in a later window
			if err := books.DeleteBook(f.ctx, deleted, f.now()); err != nil {
				t.Fatal(err)
			}
		}
	})
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("book %s on two pages", id)
		}
		seen[id] = true
	}
	for _, id := range all {
		if !seen[id] && id != deleted {
			t.Errorf("book %s missing after changes between pages", id)
		}
	}
	if seen[deleted] {
		t.Error("the deleted book was still served")
	}
	_ = added // newer than the first window: it may or may not be served, never twice

	// A forged window bound is refused.
	tok := cursor{Query: searchFingerprint(catalog.SearchBooksQuery{Query: "lantern", Mode: catalog.SearchLexical}).Sum(),
		Float: 1, ID: all[0], Lo: "x'; DROP TABLE catalog.books; --"}.encode()
	_, err := books.SearchBooks(f.ctx, catalog.SearchBooksQuery{Query: "lantern", Mode: catalog.SearchLexical, PageSize: 5, PageToken: tok})
	wantIs(t, err, postgres.ErrPageToken)
}
