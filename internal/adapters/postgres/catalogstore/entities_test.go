package catalogstore

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

var kinds = []catalog.Kind{catalog.AuthorKind, catalog.CategoryKind, catalog.PublisherKind}

// TestEntitiesContract is the contract of catalog.Entities, for each kind.
func TestEntitiesContract(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture, k catalog.Kind)
	}{
		{"create and get", testEntityCreateGet},
		{"not found", testEntityNotFound},
		{"unique names", testEntityUniqueNames},
		{"update", testEntityUpdate},
		{"concurrent updates", testEntityConcurrentUpdates},
		{"delete", testEntityDelete},
		{"delete races book writes", testEntityDeleteRace},
		{"list pages", testEntityList},
	}
	for _, k := range kinds {
		t.Run(k.Name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					pool := pgtest.NewPool(t)
					tt.run(t, newFixture(t, pool, NewBooks(pool)), k)
				})
			}
		})
	}
}

func (f *fixture) newEntity(k catalog.Kind, name, text string) *catalog.Entity {
	f.t.Helper()
	e, err := catalog.NewEntity(k, coreid.New(), catalog.EntityFields{Name: name, Text: text}, f.now())
	if err != nil {
		f.t.Fatal(err)
	}
	return e
}

func testEntityCreateGet(t *testing.T, f *fixture, k catalog.Kind) {
	e := f.newEntity(k, "  Ursula Example ", "Wrote things.")
	created, err := f.entities.CreateEntity(f.ctx, e)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.entities.GetEntity(f.ctx, k, e.Record().ID)
	if err != nil {
		t.Fatal(err)
	}
	want := e.Record()
	for name, x := range map[string]*catalog.Entity{"created": created, "got": got} {
		r := x.Record()
		if r != want || x.Kind() != k {
			t.Errorf("%s = %+v (%s), want %+v", name, r, x.Kind().Name, want)
		}
	}
	if want.Name != "Ursula Example" {
		t.Errorf("name not trimmed: %q", want.Name)
	}
	if (k.TextField == "") != (want.Text == "") {
		t.Errorf("text = %q for a kind with text field %q", want.Text, k.TextField)
	}
	_, err = f.entities.CreateEntity(f.ctx, e)
	wantIs(t, err, failure.ErrAlreadyExists)

	// What create returns is what get returns, to the nanosecond.
	odd, err := catalog.NewEntity(k, coreid.New(), catalog.EntityFields{Name: "Odd Time"}, time.Unix(1700000000, 123456789))
	if err != nil {
		t.Fatal(err)
	}
	created, err = f.entities.CreateEntity(f.ctx, odd)
	if err != nil {
		t.Fatal(err)
	}
	got, err = f.entities.GetEntity(f.ctx, k, odd.Record().ID)
	if err != nil || created.Record() != got.Record() {
		t.Errorf("created %+v, got %+v (%v)", created.Record(), got.Record(), err)
	}
}

func testEntityNotFound(t *testing.T, f *fixture, k catalog.Kind) {
	for _, id := range []string{coreid.New(), "not-a-uuid"} {
		_, err := f.entities.GetEntity(f.ctx, k, id)
		wantIs(t, err, failure.ErrNotFound)
		_, err = f.entities.UpdateEntity(f.ctx, k, id, func(*catalog.Entity) error { return nil })
		wantIs(t, err, failure.ErrNotFound)
		wantIs(t, f.entities.DeleteEntity(f.ctx, k, id), failure.ErrNotFound)
	}
	// An id of another kind is not found either.
	other := catalog.CategoryKind
	if k == other {
		other = catalog.AuthorKind
	}
	id := f.entity(other, "Elsewhere")
	_, err := f.entities.GetEntity(f.ctx, k, id)
	wantIs(t, err, failure.ErrNotFound)
}

func testEntityUniqueNames(t *testing.T, f *fixture, k catalog.Kind) {
	f.entity(k, "Night Owl")
	twin := f.newEntity(k, "night OWL", "")
	_, err := f.entities.CreateEntity(f.ctx, twin)
	if !k.UniqueName {
		if err != nil {
			t.Fatalf("two %ss with one name: %v", k.Name, err)
		}
		return
	}
	wantIs(t, err, failure.ErrAlreadyExists)
	if strings.Contains(err.Error(), "_key") {
		t.Errorf("message leaks SQL: %q", err)
	}
	// Renaming into a taken name fails the same way.
	id := f.entity(k, "Day Lark")
	_, err = f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
		return e.Apply(catalog.EntityFields{Name: "NIGHT owl"}, []string{catalog.FieldName}, f.now())
	})
	wantIs(t, err, failure.ErrAlreadyExists)
}

func testEntityUpdate(t *testing.T, f *fixture, k catalog.Kind) {
	id := f.entity(k, "Before")
	paths := []string{catalog.FieldName}
	if k.TextField != "" {
		paths = append(paths, k.TextField)
	}
	updated, err := f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
		return e.Apply(catalog.EntityFields{Name: "After", Text: "New text"}, paths, f.now())
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.entities.GetEntity(f.ctx, k, id)
	if err != nil {
		t.Fatal(err)
	}
	for name, e := range map[string]*catalog.Entity{"updated": updated, "got": got} {
		r := e.Record()
		if r.Name != "After" || r.Version != 2 || !r.UpdateTime.Equal(f.lastNow()) || r.CreateTime.Equal(r.UpdateTime) {
			t.Errorf("%s = %+v", name, r)
		}
		if k.TextField != "" && r.Text != "New text" {
			t.Errorf("%s text = %q", name, r.Text)
		}
	}
	mine := errors.New("closure says no")
	_, err = f.entities.UpdateEntity(f.ctx, k, id, func(*catalog.Entity) error { return mine })
	if err != mine {
		t.Errorf("closure error came back as %v", err)
	}
	_, err = f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
		return e.Apply(catalog.EntityFields{Name: " "}, []string{catalog.FieldName}, f.now())
	})
	wantViolation(t, err, k.Name+".name")
}

func testEntityConcurrentUpdates(t *testing.T, f *fixture, k catalog.Kind) {
	id := f.entity(k, "Contested")
	const workers = 6
	var ready, wg sync.WaitGroup
	ready.Add(workers)
	var mu sync.Mutex
	var won, conflicts int
	for i := range workers {
		wg.Go(func() {
			once := sync.OnceFunc(ready.Done)
			defer once()
			_, err := f.entities.UpdateEntity(f.ctx, k, id, func(e *catalog.Entity) error {
				once()
				ready.Wait() // all read version 1 before any writes
				return e.Apply(catalog.EntityFields{Name: fmt.Sprintf("Winner %d", i)}, []string{catalog.FieldName}, f.now())
			})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errors.Is(err, failure.ErrConflict):
				conflicts++
			default:
				t.Errorf("update: %v", err)
			}
		})
	}
	wg.Wait()
	if won != 1 || conflicts != workers-1 {
		t.Errorf("%d won, %d conflicts; want 1 and %d", won, conflicts, workers-1)
	}
	e, err := f.entities.GetEntity(f.ctx, k, id)
	if err != nil || e.Record().Version != 2 || !strings.HasPrefix(e.Record().Name, "Winner") {
		t.Errorf("after the race: %+v, %v", e, err)
	}
}

// refsWith returns refs where the entity of kind k is id.
func (f *fixture) refsWith(k catalog.Kind, id string) refs {
	r := f.refs()
	switch k {
	case catalog.AuthorKind:
		r.author = id
	case catalog.CategoryKind:
		r.cat = id
	case catalog.PublisherKind:
		r.pub = id
	}
	return r
}

func testEntityDelete(t *testing.T, f *fixture, k catalog.Kind) {
	unused := f.entity(k, "Unused")
	if err := f.entities.DeleteEntity(f.ctx, k, unused); err != nil {
		t.Fatal(err)
	}
	_, err := f.entities.GetEntity(f.ctx, k, unused)
	wantIs(t, err, failure.ErrNotFound)
	wantIs(t, f.entities.DeleteEntity(f.ctx, k, unused), failure.ErrNotFound)

	used := f.entity(k, "Used")
	r := f.refsWith(k, used)
	coAuthor := f.author("Co Author")
	b := f.create(f.fields("Holding On", r.cat, r.pub, r.author, coAuthor))
	wantIs(t, f.entities.DeleteEntity(f.ctx, k, used), failure.ErrFailedPrecondition)
	if _, err := f.entities.GetEntity(f.ctx, k, used); err != nil {
		t.Fatalf("refused delete deleted: %v", err)
	}
	// Once the book is deleted, it no longer holds the entity.
	if err := f.books.DeleteBook(f.ctx, b.ID(), f.now()); err != nil {
		t.Fatal(err)
	}
	if err := f.entities.DeleteEntity(f.ctx, k, used); err != nil {
		t.Fatalf("delete after the book was deleted: %v", err)
	}
	// The deleted book is still readable, without the reference.
	g := f.get(b.ID()).Record()
	switch k {
	case catalog.AuthorKind:
		if !slices.Equal(g.AuthorIDs, []string{coAuthor}) || !slices.Equal(g.AuthorNames, []string{"Co Author"}) {
			t.Errorf("authors of the deleted book: %v %v", g.AuthorIDs, g.AuthorNames)
		}
	case catalog.CategoryKind:
		if g.CategoryID != "" || g.CategoryName != "" {
			t.Errorf("category of the deleted book: %q %q", g.CategoryID, g.CategoryName)
		}
	case catalog.PublisherKind:
		if g.PublisherID != "" || g.PublisherName != "" {
			t.Errorf("publisher of the deleted book: %q %q", g.PublisherID, g.PublisherName)
		}
	}
	if g.Title != "Holding On" || g.DeleteTime == nil {
		t.Errorf("deleted book = %+v", g)
	}
}

// testEntityDeleteRace deletes entities while books referring to them are
// created. Whatever the interleaving, no live book may end up referring to
// a deleted entity: either the delete is refused or the create fails.
func testEntityDeleteRace(t *testing.T, f *fixture, k catalog.Kind) {
	const rounds = 12
	for i := range rounds {
		id := f.entity(k, fmt.Sprintf("Racer %d", i))
		r := f.refsWith(k, id)
		fields := f.fields(fmt.Sprintf("Race %d", i), r.cat, r.pub, r.author)
		var createErr, deleteErr error
		var book *catalog.Book
		var wg sync.WaitGroup
		wg.Go(func() { book, createErr = f.tryCreate(fields) })
		wg.Go(func() { deleteErr = f.entities.DeleteEntity(f.ctx, k, id) })
		wg.Wait()
		switch {
		case createErr == nil && errors.Is(deleteErr, failure.ErrFailedPrecondition):
			g := f.get(book.ID()).Record()
			if g.CategoryID == "" || g.PublisherID == "" || len(g.AuthorIDs) != 1 {
				t.Fatalf("round %d: live book lost a reference: %+v", i, g)
			}
		case deleteErr == nil && createErr != nil:
			var ve *failure.ValidationError
			if !errors.As(createErr, &ve) {
				t.Fatalf("round %d: create failed with %v, want a validation error", i, createErr)
			}
		default:
			t.Fatalf("round %d: create %v, delete %v", i, createErr, deleteErr)
		}
	}
}

func testEntityList(t *testing.T, f *fixture, k catalog.Kind) {
	var pre []string
	for i := range 11 {
		pre = append(pre, f.entity(k, fmt.Sprintf("%c name %d", 'b'+(i*5)%20, i)))
	}
	if !k.UniqueName {
		pre = append(pre, f.entity(k, "b name 0")) // a tie, broken by id
	}
	seen := map[string]bool{}
	var last catalog.EntityRecord
	token := ""
	for pages := 0; ; pages++ {
		page, err := f.entities.ListEntities(f.ctx, k, 3, token)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Entities) > 3 {
			t.Fatalf("page of %d", len(page.Entities))
		}
		for _, e := range page.Entities {
			r := e.Record()
			if seen[r.ID] {
				t.Fatalf("%s listed twice", r.Name)
			}
			seen[r.ID] = true
			if last.ID != "" && (r.Name < last.Name || (r.Name == last.Name && r.ID < last.ID)) {
				t.Fatalf("%q after %q", r.Name, last.Name)
			}
			last = r
		}
		if page.NextPageToken == "" {
			break
		}
		token = page.NextPageToken
		// New entities before and after the cursor.
		f.entity(k, fmt.Sprintf("a new %d", pages))
		f.entity(k, fmt.Sprintf("z new %d", pages))
	}
	for _, id := range pre {
		if !seen[id] {
			t.Fatalf("entity %s skipped", id)
		}
	}
	other := catalog.AuthorKind
	if k == other {
		other = catalog.PublisherKind
	}
	first, err := f.entities.ListEntities(f.ctx, k, 1, "")
	if err != nil || first.NextPageToken == "" {
		t.Fatalf("first page: %v, %v", first, err)
	}
	for name, tok := range map[string]string{"garbage": "!!", "other kind": first.NextPageToken} {
		kind := k
		if name == "other kind" {
			kind = other
		}
		_, err := f.entities.ListEntities(f.ctx, kind, 3, tok)
		wantViolation(t, err, "page_token")
	}
}
