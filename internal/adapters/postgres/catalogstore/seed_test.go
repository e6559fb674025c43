package catalogstore

import (
	"strings"
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
)

func countRows(t *testing.T, f *fixture) SeedResult {
	t.Helper()
	var r SeedResult
	err := f.pool.QueryRow(f.ctx, `SELECT (SELECT count(*) FROM catalog.categories), (SELECT count(*) FROM catalog.publishers),
		(SELECT count(*) FROM catalog.authors), (SELECT count(*) FROM catalog.books)`).Scan(&r.Categories, &r.Publishers, &r.Authors, &r.Books)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSeedIsIdempotentAndComposable(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	small, big := DemoCatalog(300), DemoCatalog(1000)
	steps := []struct {
		name  string
		books int
		added SeedResult
		total SeedResult
	}{
		{"first", 300, SeedResult{len(small.Categories), len(small.Publishers), len(small.Authors), 300},
			SeedResult{len(small.Categories), len(small.Publishers), len(small.Authors), 300}},
		{"again", 300, SeedResult{}, SeedResult{len(small.Categories), len(small.Publishers), len(small.Authors), 300}},
		{"smaller", 100, SeedResult{}, SeedResult{len(small.Categories), len(small.Publishers), len(small.Authors), 300}},
		{"bigger", 1000, SeedResult{0, 0, len(big.Authors) - len(small.Authors), 700},
			SeedResult{len(big.Categories), len(big.Publishers), len(big.Authors), 1000}},
		{"bigger again", 1000, SeedResult{}, SeedResult{len(big.Categories), len(big.Publishers), len(big.Authors), 1000}},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			got, err := Seed(f.ctx, pool, s.books)
			if err != nil {
				t.Fatal(err)
			}
			if got != s.added {
				t.Errorf("added %+v, want %+v", got, s.added)
			}
			if total := countRows(t, f); total != s.total {
				t.Errorf("rows %+v, want %+v", total, s.total)
			}
		})
	}
	// The seeded books read back whole, names, authors and search included.
	want := big.Books[999].Record()
	got := f.get(want.ID).Record()
	if got.Title != want.Title || got.ISBN != want.ISBN || got.Price != want.Price || len(got.AuthorNames) != len(want.AuthorIDs) ||
		got.CategoryName == "" || got.PublisherName == "" || !got.CreateTime.Equal(want.CreateTime) {
		t.Errorf("seeded book = %+v, want %+v", got, want)
	}
	word := strings.ToLower(strings.Fields(strings.TrimPrefix(strings.TrimPrefix(want.Title, "The "), "A "))[0])
	if ids := f.searchIDs(word); len(ids) == 0 {
		t.Errorf("search %q found nothing in the seeded catalog", word)
	}
}

// TestSeedReusesTakenNames seeds a database where a demo category name and
// a demo ISBN are taken already.
func TestSeedReusesTakenNames(t *testing.T) {
	pool := pgtest.NewPool(t)
	f := newFixture(t, pool, NewBooks(pool))
	demo := DemoCatalog(50)
	fantasy := f.category("FANTASY")
	r := f.refs()
	taken := f.fields("Mine", r.cat, r.pub, r.author)
	taken.ISBN = demo.Books[0].Record().ISBN
	f.create(taken)

	res, err := Seed(f.ctx, pool, 50)
	if err != nil {
		t.Fatal(err)
	}
	if res.Categories != len(demo.Categories)-1 || res.Books != 49 {
		t.Errorf("added %+v, want all categories but one and 49 books", res)
	}
	var inFantasy int
	if err := pool.QueryRow(f.ctx, `SELECT count(*) FROM catalog.books WHERE category_id = $1`, fantasy).Scan(&inFantasy); err != nil {
		t.Fatal(err)
	}
	var demoFantasy int
	for _, b := range demo.Books[1:] {
		if b.Record().CategoryID == demo.Categories[0].Record().ID {
			demoFantasy++
		}
	}
	if inFantasy != demoFantasy || demoFantasy == 0 {
		t.Errorf("%d books in the existing Fantasy category, want %d", inFantasy, demoFantasy)
	}
}
