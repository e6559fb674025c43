package baskettest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// RunStore runs the contract of basket.Store against the stores newStore
// makes: each case gets a fresh, empty store. Every implementation (the
// Postgres store, MemoryStore) must pass it.
func RunStore(t *testing.T, newStore func(t *testing.T) basket.Store) {
	cases := []struct {
		name string
		run  func(t *testing.T, s *suite)
	}{
		{"a customer without a basket has an empty one", testEmpty},
		{"an update is saved whole and read back", testRoundTrip},
		{"update returns the closure's error and saves nothing", testUpdateError},
		{"an update that changes nothing saves nothing", testNoChange},
		{"each customer has a basket of their own", testOwners},
		{"a full basket with its request ids round-trips", testFull},
		{"clearing empties lines and currency", testClear},
		{"a change that lost a race is a conflict and saves nothing", testConflict},
		{"the first change of a new basket can lose a race too", testConflictOnCreate},
		{"concurrent changes retried on conflict all land", testConcurrent},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, &suite{t: t, store: newStore(t), ctx: context.Background(),
				clock: time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC), owner: "customer-" + coreid.New()})
		})
	}
}

type suite struct {
	t     *testing.T
	store basket.Store
	ctx   context.Context
	clock time.Time
	owner string
}

// now returns a growing instant, whole microseconds (what stores keep).
func (s *suite) now() time.Time {
	s.clock = s.clock.Add(time.Second)
	return s.clock
}

func (s *suite) get(owner string) *basket.Basket {
	s.t.Helper()
	b, err := s.store.Get(s.ctx, owner)
	if err != nil {
		s.t.Fatalf("Get: %v", err)
	}
	return b
}

// add adds a book in EUR to owner's basket and returns what Update
// returned.
func (s *suite) add(owner, book string, qty int) *basket.Basket {
	s.t.Helper()
	at := s.now()
	b, err := s.store.Update(s.ctx, owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		_, err := b.Add(book, qty, "EUR", coreid.New(), at)
		return nil, err
	})
	if err != nil {
		s.t.Fatalf("Update: %v", err)
	}
	return b
}

// state is everything a store keeps of a basket, comparable.
type state struct {
	Owner, Currency string
	Lines           []basket.Line
	Version         int64
	UpdatedAt       time.Time
	RecentKeys      []string
}

func stateOf(b *basket.Basket) state {
	return state{Owner: b.Owner(), Currency: b.Currency(), Lines: b.Lines(), Version: b.Version(),
		UpdatedAt: b.UpdatedAt(), RecentKeys: b.RecentKeys()}
}

func (st state) equal(o state) bool {
	return st.Owner == o.Owner && st.Currency == o.Currency && st.Version == o.Version &&
		st.UpdatedAt.Equal(o.UpdatedAt) && slices.Equal(st.RecentKeys, o.RecentKeys) &&
		slices.EqualFunc(st.Lines, o.Lines, func(a, b basket.Line) bool {
			return a.BookID() == b.BookID() && a.Quantity() == b.Quantity() && a.AddedAt().Equal(b.AddedAt())
		})
}

func (s *suite) wantSame(what string, got, want *basket.Basket) {
	s.t.Helper()
	if g, w := stateOf(got), stateOf(want); !g.equal(w) {
		s.t.Fatalf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

func testEmpty(t *testing.T, s *suite) {
	b := s.get(s.owner)
	if b.Owner() != s.owner || !b.IsEmpty() || b.Version() != 0 || b.Currency() != "" || len(b.RecentKeys()) != 0 {
		t.Fatalf("a new customer's basket is %+v", stateOf(b))
	}
}

func testRoundTrip(t *testing.T, s *suite) {
	bookA, bookB := coreid.New(), coreid.New()
	s.add(s.owner, bookA, 2)
	saved := s.add(s.owner, bookB, 5)
	if saved.Version() != 2 || saved.Quantity(bookA) != 2 || saved.Quantity(bookB) != 5 || saved.Currency() != "EUR" {
		t.Fatalf("Update returned %+v", stateOf(saved))
	}
	got := s.get(s.owner)
	s.wantSame("read back", got, saved)
	if ls := got.Lines(); ls[0].BookID() != bookA || ls[1].BookID() != bookB {
		t.Fatalf("lines out of order: %+v", ls)
	}
	if len(got.RecentKeys()) != 2 {
		t.Fatalf("request ids %v, want 2", got.RecentKeys())
	}
	// A quantity change and a removal keep the order of what is left.
	at := s.now()
	_, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		if _, err := b.SetQuantity(bookB, 7, at); err != nil {
			return nil, err
		}
		bookC := coreid.New()
		if _, err := b.Add(bookC, 1, "EUR", coreid.New(), at); err != nil {
			return nil, err
		}
		b.Remove(bookA, at)
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got = s.get(s.owner)
	if ls := got.Lines(); len(ls) != 2 || ls[0].BookID() != bookB || ls[0].Quantity() != 7 || !got.UpdatedAt().Equal(at) {
		t.Fatalf("after the change: %+v", stateOf(got))
	}
}

func testUpdateError(t *testing.T, s *suite) {
	before := s.add(s.owner, coreid.New(), 1)
	boom := errors.New("boom")
	at := s.now()
	_, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		if _, err := b.Add(coreid.New(), 3, "EUR", coreid.New(), at); err != nil {
			return nil, err
		}
		return b.Clear(at), boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update = %v, want the closure's error", err)
	}
	s.wantSame("after a failed update", s.get(s.owner), before)
	// A domain error comes back as it is.
	_, err = s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		_, err := b.SetQuantity(coreid.New(), 2, at)
		return nil, err
	})
	if !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("Update = %v, want the closure's ErrNotFound", err)
	}
}

func testNoChange(t *testing.T, s *suite) {
	// Nothing at all for a new customer: the basket stays unsaved.
	b, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		b.Remove(coreid.New(), s.now())
		return b.Clear(s.now()), nil
	})
	if err != nil || b.Version() != 0 || !b.IsEmpty() {
		t.Fatalf("Update that changed nothing: %+v, %v", b, err)
	}
	before := s.add(s.owner, coreid.New(), 1)
	b, err = s.store.Update(s.ctx, s.owner, func(*basket.Basket) ([]basket.Cleared, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	s.wantSame("returned by an update without change", b, before)
	s.wantSame("read after an update without change", s.get(s.owner), before)
}

func testOwners(t *testing.T, s *suite) {
	other := s.owner + "-other"
	mine := s.add(s.owner, coreid.New(), 1)
	theirs := s.add(other, coreid.New(), 4)
	if mine.Owner() != s.owner || theirs.Owner() != other || theirs.Version() != 1 {
		t.Fatalf("owners %q, %q; their version %d", mine.Owner(), theirs.Owner(), theirs.Version())
	}
	s.wantSame("mine", s.get(s.owner), mine)
	s.wantSame("theirs", s.get(other), theirs)
	// Owner ids are the issuers' subjects: any text, kept exactly.
	odd := "Ünïcödé|sub with spaces@issuer"
	s.add(odd, coreid.New(), 1)
	if b := s.get(odd); b.Owner() != odd || b.Version() != 1 {
		t.Fatalf("an unusual owner id: %+v", stateOf(b))
	}
	if lower := "ü" + odd[len("Ü"):]; s.get(lower).Version() != 0 {
		t.Fatalf("owner ids compare exactly, but %q found %q's basket", lower, odd)
	}
}

func testFull(t *testing.T, s *suite) {
	at := s.now()
	saved, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		// More additions than the basket remembers, the oldest lines
		// making room for the newest.
		for i := range basket.MaxLines + 20 {
			if len(b.Lines()) == basket.MaxLines {
				b.Remove(b.Lines()[0].BookID(), at)
			}
			if _, err := b.Add(coreid.New(), 1+i%basket.MaxQuantity, "JPY", coreid.New(), at.Add(time.Duration(i)*time.Microsecond)); err != nil {
				return nil, err
			}
		}
		return nil, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(saved.Lines()) != basket.MaxLines || len(saved.RecentKeys()) == 0 {
		t.Fatalf("saved %d lines, %d request ids", len(saved.Lines()), len(saved.RecentKeys()))
	}
	s.wantSame("a full basket", s.get(s.owner), saved)
}

func testClear(t *testing.T, s *suite) {
	s.add(s.owner, coreid.New(), 1)
	s.add(s.owner, coreid.New(), 2)
	at := s.now()
	var raised []basket.Cleared
	b, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		raised = b.Clear(at)
		return raised, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(raised) != 1 || !b.IsEmpty() || b.Currency() != "" || b.Version() != 3 {
		t.Fatalf("cleared: %+v, events %v", stateOf(b), raised)
	}
	s.wantSame("read after clearing", s.get(s.owner), b)
	// Another currency is welcome in an emptied basket.
	at = s.now()
	b, err = s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		_, err := b.Add(coreid.New(), 1, "USD", coreid.New(), at)
		return nil, err
	})
	if err != nil || b.Currency() != "USD" {
		t.Fatalf("adding in USD after clearing: %v, %v", b, err)
	}
	// Clearing for an order is remembered: the same order clears nothing
	// again.
	for range 2 {
		at := s.now()
		if _, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
			return b.ClearForOrder("order-1", at), nil
		}); err != nil {
			t.Fatal(err)
		}
		s.add(s.owner, coreid.New(), 1)
	}
	if n := len(s.get(s.owner).Lines()); n != 2 {
		t.Fatalf("the same order cleared the basket twice: %d lines left, want 2", n)
	}
}

// testConflict lets another change commit while an update's closure runs:
// the update must fail with ErrConflict and save nothing of its own.
func testConflict(t *testing.T, s *suite) {
	s.add(s.owner, coreid.New(), 1)
	s.conflict(t)
}

func testConflictOnCreate(t *testing.T, s *suite) { s.conflict(t) }

func (s *suite) conflict(t *testing.T) {
	t.Helper()
	mine, theirs := coreid.New(), coreid.New()
	at := s.now()
	calls := 0
	_, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
		calls++
		// The other change runs on its own (another connection, another
		// transaction) and commits before this closure returns.
		done := make(chan error, 1)
		go func() {
			_, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
				_, err := b.Add(theirs, 2, "EUR", coreid.New(), at)
				return nil, err
			})
			done <- err
		}()
		if err := <-done; err != nil {
			return nil, fmt.Errorf("the concurrent change failed: %w", err)
		}
		_, err := b.Add(mine, 1, "EUR", coreid.New(), at)
		return b.Clear(at), err
	})
	if !errors.Is(err, failure.ErrConflict) || calls != 1 {
		t.Fatalf("Update that lost the race = %v after %d calls, want ErrConflict after 1", err, calls)
	}
	got := s.get(s.owner)
	if got.Quantity(theirs) != 2 || got.Quantity(mine) != 0 {
		t.Fatalf("after the conflict: %+v; want the winner's change only", stateOf(got))
	}
}

// testConcurrent runs many changes of one basket at once, each retried
// while it conflicts: every one lands exactly once, and the version counts
// them.
func testConcurrent(t *testing.T, s *suite) {
	const n = 12
	var wg sync.WaitGroup
	errs := make(chan error, n)
	at := s.now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			book := coreid.New()
			for attempt := 0; attempt < 100; attempt++ {
				_, err := s.store.Update(s.ctx, s.owner, func(b *basket.Basket) ([]basket.Cleared, error) {
					_, err := b.Add(book, 1, "EUR", coreid.New(), at)
					return nil, err
				})
				if !errors.Is(err, failure.ErrConflict) {
					errs <- err
					return
				}
			}
			errs <- errors.New("still conflicting after 100 attempts")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	got := s.get(s.owner)
	if len(got.Lines()) != n || got.Version() != n {
		t.Fatalf("%d lines at version %d after %d concurrent additions", len(got.Lines()), got.Version(), n)
	}
}
