package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	"connectrpc.com/connect"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
)

// seedBooks is how many demo books the seed test loads.
const seedBooks = 60

// newDatabase creates an empty database on the suite's Postgres, dropped at
// the end of the test.
func newDatabase(t *testing.T) string {
	t.Helper()
	return pg.NewDatabase(t)
}

// runServer starts the server on dbURL with env, calls use with a public
// client of it, and stops it, failing unless it shuts down gracefully.
func runServer(t *testing.T, name, dbURL string, env []string, use func(c client)) {
	t.Helper()
	s, err := startServer(context.Background(), serverBin, dbURL, filepath.Join(serverTmp, name+".log"), env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting the %s server: %v", name, err)
	}
	defer func() {
		if err := s.stop(); err != nil {
			t.Errorf("%s server: %v", name, err)
			s.dumpLogs()
		}
	}()
	use(catalogv1connect.NewCatalogServiceClient(http1Client(t), s.baseURL))
}

// catalogSnapshot is everything a visitor can list.
type catalogSnapshot struct {
	books                           []string // id title isbn price category publisher authors
	authors, categories, publishers []string // id name
}

func snapshotCatalog(t *testing.T, c client) catalogSnapshot {
	t.Helper()
	var s catalogSnapshot
	for _, b := range listAll(t, c, &catalogv1.ListBooksRequest{PageSize: 100}) {
		if b.GetCategoryName() == "" || b.GetPublisherName() == "" || len(b.GetAuthorNames()) != len(b.GetAuthorIds()) || len(b.GetAuthorIds()) == 0 {
			t.Errorf("seeded book %s has unresolved references: %v", b.GetId(), b)
		}
		s.books = append(s.books, fmt.Sprint(b.GetId(), b.GetTitle(), b.GetIsbn(), cents(b.GetEffectivePrice()), b.GetPrice().GetCurrencyCode(),
			b.GetCategoryId(), b.GetPublisherId(), b.GetAuthorIds()))
	}
	kinds := entityKinds()
	for _, k := range kinds {
		var names []string
		tok := ""
		for page := 0; ; page++ {
			if page == maxPages {
				t.Fatalf("%ss still have pages after %d", k.name, maxPages)
			}
			es, next, err := k.list(t, c, 100, tok)
			if err != nil {
				t.Fatalf("listing %ss: %v", k.name, err)
			}
			for _, e := range es {
				names = append(names, e.id+" "+e.name)
			}
			if next == "" {
				break
			}
			tok = next
		}
		switch k.name {
		case "author":
			s.authors = names
		case "category":
			s.categories = names
		case "publisher":
			s.publishers = names
		}
	}
	slices.Sort(s.books)
	return s
}

func sameSnapshot(t *testing.T, what string, got, want catalogSnapshot) {
	t.Helper()
	for _, p := range []struct {
		name      string
		got, want []string
	}{
		{"books", got.books, want.books},
		{"authors", got.authors, want.authors},
		{"categories", got.categories, want.categories},
		{"publishers", got.publishers, want.publishers},
	} {
		if !slices.Equal(p.got, p.want) {
			t.Errorf("%s: %d %s, want the same %d as before (first difference at %d)", what, len(p.got), p.name, len(p.want), firstDiff(p.got, p.want))
		}
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestSeed starts servers with --seed: the demo catalog is there at once,
// searchable and consistent; a second start adds nothing; and the catalog is
// the same on another database (deterministic).
func TestSeed(t *testing.T) {
	t.Parallel()
	env := append(issuerEnv(), "BOOKWORM_SEED=true", fmt.Sprintf("BOOKWORM_SEED_BOOKS=%d", seedBooks))
	db := newDatabase(t)

	var first catalogSnapshot
	runServer(t, "seed-first", db, env, func(c client) {
		first = snapshotCatalog(t, c)
		if len(first.books) != seedBooks {
			t.Errorf("seeded %d books, want %d", len(first.books), seedBooks)
		}
		if len(first.authors) == 0 || len(first.categories) == 0 || len(first.publishers) == 0 {
			t.Errorf("seeded %d authors, %d categories, %d publishers; want some of each",
				len(first.authors), len(first.categories), len(first.publishers))
		}
		books := listAll(t, c, &catalogv1.ListBooksRequest{PageSize: 1})
		if len(books) == 0 {
			t.Fatal("no books")
		}
		res, err := c.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: books[0].GetTitle()}))
		if err != nil {
			t.Fatalf("SearchBooks: %v", err)
		}
		if !slices.Contains(hitIDs(res.Msg.GetResults()), books[0].GetId()) {
			t.Errorf("searching the seeded title %q does not find it", books[0].GetTitle())
		}
	})
	runServer(t, "seed-again", db, env, func(c client) {
		sameSnapshot(t, "after a second start with --seed", snapshotCatalog(t, c), first)
	})
	runServer(t, "seed-elsewhere", newDatabase(t), env, func(c client) {
		sameSnapshot(t, "on another database", snapshotCatalog(t, c), first)
	})
}
