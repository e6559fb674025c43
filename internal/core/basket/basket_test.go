package basket_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/money"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

const (
	bookA    = "01900000-0000-7000-8000-00000000000a"
	bookB    = "01900000-0000-7000-8000-00000000000b"
	bookUSD  = "01900000-0000-7000-8000-0000000000cd"
	bookGone = "01900000-0000-7000-8000-0000000000dd"
	bookNone = "01900000-0000-7000-8000-0000000000ee"
	bookOut  = "01900000-0000-7000-8000-0000000000ff"
	unknown  = "01900000-0000-7000-8000-000000000999"
)

func reqID(n int) string { return fmt.Sprintf("01900000-0000-7000-9000-%012d", n) }

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// fakeStore keeps baskets as rebuilt copies, so a failed update saves
// nothing, as a rolled back transaction.
type fakeStore struct {
	mu      sync.Mutex
	baskets map[string]*basket.Basket
	events  []basket.Cleared
}

func (f *fakeStore) copyOf(owner string) *basket.Basket {
	b, ok := f.baskets[owner]
	if !ok {
		b, _ = basket.New(owner)
		return b
	}
	c, _ := basket.Load(b.Owner(), b.Currency(), b.Lines(), b.Version(), b.UpdatedAt(), b.RecentKeys())
	return c
}

func (f *fakeStore) Get(_ context.Context, owner string) (*basket.Basket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.copyOf(owner), nil
}

func (f *fakeStore) Update(_ context.Context, owner string, update func(*basket.Basket) ([]basket.Cleared, error)) (*basket.Basket, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b := f.copyOf(owner)
	evs, err := update(b)
	if err != nil {
		return nil, err
	}
	if f.baskets == nil {
		f.baskets = map[string]*basket.Basket{}
	}
	f.baskets[owner] = b
	f.events = append(f.events, evs...)
	return f.copyOf(owner), nil
}

type fakeCatalog struct {
	mu    sync.Mutex
	books map[string]basket.Book
}

func (c *fakeCatalog) Books(_ context.Context, ids []string) (map[string]basket.Book, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]basket.Book{}
	for _, id := range ids {
		if b, ok := c.books[id]; ok {
			out[id] = b
		}
	}
	return out, nil
}

func (c *fakeCatalog) set(b basket.Book) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.books[b.ID] = b
}

func newCatalog(t *testing.T) *fakeCatalog {
	usd, _ := money.New("USD", 500)
	return &fakeCatalog{books: map[string]basket.Book{
		bookA:    {ID: bookA, Title: "A", Price: eur(t, 1299), InStock: true},
		bookB:    {ID: bookB, Title: "B", Price: eur(t, 250), InStock: true},
		bookUSD:  {ID: bookUSD, Title: "Dollar", Price: usd, InStock: true},
		bookGone: {ID: bookGone, Title: "Gone", Price: eur(t, 100), Deleted: true, InStock: true},
		bookOut:  {ID: bookOut, Title: "Out", Price: eur(t, 100), InStock: false},
	}}
}

func ctxOf(sub string) context.Context {
	return identity.WithPrincipal(context.Background(), identity.Principal{Subject: sub, Roles: []string{identity.RoleUser}})
}

func newService(t *testing.T) (*basket.Service, *fakeStore, *fakeCatalog) {
	t.Helper()
	store, cat := &fakeStore{}, newCatalog(t)
	return basket.NewService(store, cat, func() time.Time { return now }), store, cat
}

func TestAddItem(t *testing.T) {
	type add struct {
		book string
		qty  int
		req  string
	}
	tests := []struct {
		name      string
		before    []add
		add       add
		wantErr   error
		wantField string
		wantTotal int64
		wantCount int
	}{
		{name: "first book", add: add{bookA, 2, reqID(1)}, wantTotal: 2598, wantCount: 2},
		{name: "second book", before: []add{{bookA, 1, reqID(1)}}, add: add{bookB, 3, reqID(2)}, wantTotal: 1299 + 750, wantCount: 4},
		{name: "same book adds up", before: []add{{bookA, 1, reqID(1)}}, add: add{bookA, 4, reqID(2)}, wantTotal: 5 * 1299, wantCount: 5},
		{name: "retry with the same request id adds nothing", before: []add{{bookA, 1, reqID(1)}}, add: add{bookA, 1, reqID(1)}, wantTotal: 1299, wantCount: 1},
		{name: "99 copies", add: add{bookA, 99, reqID(1)}, wantTotal: 99 * 1299, wantCount: 99},
		{name: "zero copies", add: add{bookA, 0, reqID(1)}, wantErr: failure.ErrInvalid, wantField: "quantity"},
		{name: "100 copies", add: add{bookA, 100, reqID(1)}, wantErr: failure.ErrInvalid, wantField: "quantity"},
		{name: "line above 99", before: []add{{bookA, 60, reqID(1)}}, add: add{bookA, 40, reqID(2)}, wantErr: failure.ErrInvalid, wantField: "quantity"},
		{name: "book id not a uuid", add: add{"nope", 1, reqID(1)}, wantErr: failure.ErrInvalid, wantField: "book_id"},
		{name: "request id not a uuid", add: add{bookA, 1, "x"}, wantErr: failure.ErrInvalid, wantField: "request_id"},
		{name: "unknown book", add: add{unknown, 1, reqID(1)}, wantErr: failure.ErrNotFound},
		{name: "deleted book", add: add{bookGone, 1, reqID(1)}, wantErr: failure.ErrFailedPrecondition},
		{name: "out of stock", add: add{bookOut, 1, reqID(1)}, wantErr: failure.ErrFailedPrecondition},
		{name: "another currency", before: []add{{bookA, 1, reqID(1)}}, add: add{bookUSD, 1, reqID(2)}, wantErr: failure.ErrFailedPrecondition},
		{name: "another currency in an empty basket", add: add{bookUSD, 3, reqID(1)}, wantCount: 3, wantTotal: 1500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, _ := newService(t)
			ctx := ctxOf("alice")
			for _, a := range tt.before {
				if _, err := svc.AddItem(ctx, a.book, a.qty, a.req); err != nil {
					t.Fatalf("setup AddItem: %v", err)
				}
			}
			got, err := svc.AddItem(ctx, tt.add.book, tt.add.qty, tt.add.req)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("AddItem err = %v, want %v", err, tt.wantErr)
				}
				checkField(t, err, tt.wantField)
				return
			}
			if err != nil {
				t.Fatalf("AddItem: %v", err)
			}
			if got.Total.Minor() != tt.wantTotal || got.ItemCount != tt.wantCount {
				t.Fatalf("total %v, count %d; want %d minor, %d", got.Total, got.ItemCount, tt.wantTotal, tt.wantCount)
			}
		})
	}
}

func checkField(t *testing.T, err error, field string) {
	t.Helper()
	if field == "" {
		return
	}
	var ve *failure.ValidationError
	if !errors.As(err, &ve) || len(ve.Violations) == 0 || ve.Violations[0].Field != field {
		t.Fatalf("err = %v, want a violation of %q", err, field)
	}
}

func TestAtMost100Lines(t *testing.T) {
	svc, _, cat := newService(t)
	ctx := ctxOf("alice")
	for i := range 101 {
		id := fmt.Sprintf("01900000-0000-7000-8000-1%011d", i)
		cat.set(basket.Book{ID: id, Title: id, Price: eur(t, 1), InStock: true})
		_, err := svc.AddItem(ctx, id, 1, reqID(i))
		if i < 100 && err != nil {
			t.Fatalf("line %d: %v", i+1, err)
		}
		if i == 100 {
			if !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("101st line: err = %v, want ErrInvalid", err)
			}
			checkField(t, err, "book_id")
		}
	}
	got, err := svc.GetBasket(ctx)
	if err != nil || len(got.Lines) != 100 || got.Total.Minor() != 100 {
		t.Fatalf("GetBasket = %d lines, total %v, %v", len(got.Lines), got.Total, err)
	}
}

func TestEachCallerHasOwnBasket(t *testing.T) {
	svc, _, _ := newService(t)
	if _, err := svc.AddItem(ctxOf("alice"), bookA, 2, reqID(1)); err != nil {
		t.Fatal(err)
	}
	// Bob reusing Alice's request id is a different request: the ids are per
	// basket.
	if _, err := svc.AddItem(ctxOf("bob"), bookB, 1, reqID(1)); err != nil {
		t.Fatal(err)
	}
	a, _ := svc.GetBasket(ctxOf("alice"))
	b, _ := svc.GetBasket(ctxOf("bob"))
	if len(a.Lines) != 1 || a.Lines[0].BookID != bookA || len(b.Lines) != 1 || b.Lines[0].BookID != bookB {
		t.Fatalf("alice %+v, bob %+v", a.Lines, b.Lines)
	}
	if _, err := svc.RemoveItem(ctxOf("bob"), bookA); err != nil {
		t.Fatal(err)
	}
	if a, _ := svc.GetBasket(ctxOf("alice")); len(a.Lines) != 1 {
		t.Fatal("bob's RemoveItem changed alice's basket")
	}
}

func TestAnonymousIsUnauthenticated(t *testing.T) {
	svc, _, _ := newService(t)
	ctx := context.Background()
	calls := map[string]func() error{
		"GetBasket":          func() error { _, err := svc.GetBasket(ctx); return err },
		"AddItem":            func() error { _, err := svc.AddItem(ctx, bookA, 1, reqID(1)); return err },
		"UpdateItemQuantity": func() error { _, err := svc.UpdateItemQuantity(ctx, bookA, 1); return err },
		"RemoveItem":         func() error { _, err := svc.RemoveItem(ctx, bookA); return err },
		"ClearBasket":        func() error { _, err := svc.ClearBasket(ctx); return err },
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			if err := call(); !errors.Is(err, failure.ErrUnauthenticated) {
				t.Fatalf("err = %v, want ErrUnauthenticated", err)
			}
		})
	}
}

func TestUpdateItemQuantity(t *testing.T) {
	tests := []struct {
		name    string
		book    string
		qty     int
		wantErr error
		want    int
	}{
		{"set", bookA, 7, nil, 7},
		{"same again", bookA, 2, nil, 2},
		{"max", bookA, 99, nil, 99},
		{"zero", bookA, 0, failure.ErrInvalid, 2},
		{"above max", bookA, 100, failure.ErrInvalid, 2},
		{"book not in basket", bookB, 3, failure.ErrNotFound, 2},
		{"not a uuid", "x", 3, failure.ErrInvalid, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			svc, _, _ := newService(t)
			ctx := ctxOf("alice")
			if _, err := svc.AddItem(ctx, bookA, 2, reqID(1)); err != nil {
				t.Fatal(err)
			}
			_, err := svc.UpdateItemQuantity(ctx, tt.book, tt.qty)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			got, _ := svc.GetBasket(ctx)
			if got.Lines[0].Quantity != tt.want {
				t.Fatalf("quantity %d, want %d", got.Lines[0].Quantity, tt.want)
			}
		})
	}
}

func TestRemoveAndClearAreSafeToRetry(t *testing.T) {
	svc, store, _ := newService(t)
	ctx := ctxOf("alice")
	if _, err := svc.AddItem(ctx, bookA, 2, reqID(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddItem(ctx, bookB, 1, reqID(2)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		got, err := svc.RemoveItem(ctx, bookB)
		if err != nil || len(got.Lines) != 1 {
			t.Fatalf("RemoveItem = %d lines, %v", len(got.Lines), err)
		}
	}
	for range 2 {
		got, err := svc.ClearBasket(ctx)
		if err != nil || len(got.Lines) != 0 || !got.Total.IsZero() {
			t.Fatalf("ClearBasket = %+v, %v", got, err)
		}
	}
	if len(store.events) != 1 || store.events[0].Owner != "alice" || store.events[0].OrderID != "" {
		t.Fatalf("events = %+v, want one Cleared by the customer", store.events)
	}
	// An empty basket takes any currency again.
	if _, err := svc.AddItem(ctx, bookUSD, 1, reqID(3)); err != nil {
		t.Fatalf("AddItem after clear: %v", err)
	}
}

func TestClearForOrderOncePerOrder(t *testing.T) {
	svc, store, _ := newService(t)
	ctx := ctxOf("alice")
	if _, err := svc.AddItem(ctx, bookA, 2, reqID(1)); err != nil {
		t.Fatal(err)
	}
	if err := svc.ClearForOrder(context.Background(), "alice", "order-1"); err != nil {
		t.Fatal(err)
	}
	// The customer fills the basket again; a redelivered confirmation of the
	// same order must leave it alone.
	if _, err := svc.AddItem(ctx, bookB, 1, reqID(2)); err != nil {
		t.Fatal(err)
	}
	if err := svc.ClearForOrder(context.Background(), "alice", "order-1"); err != nil {
		t.Fatal(err)
	}
	got, _ := svc.GetBasket(ctx)
	if len(got.Lines) != 1 || got.Lines[0].BookID != bookB {
		t.Fatalf("basket = %+v, want book B only", got.Lines)
	}
	if len(store.events) != 1 || store.events[0].OrderID != "order-1" {
		t.Fatalf("events = %+v, want one Cleared for order-1", store.events)
	}
}

func TestPriceFollowsTheCatalog(t *testing.T) {
	svc, _, cat := newService(t)
	ctx := ctxOf("alice")
	for i, b := range []string{bookA, bookB} {
		if _, err := svc.AddItem(ctx, b, 2, reqID(i)); err != nil {
			t.Fatal(err)
		}
	}
	// A sale on A shows at once; B gets deleted and leaves the total.
	cat.set(basket.Book{ID: bookA, Title: "A (sale)", Price: eur(t, 999), InStock: true})
	cat.set(basket.Book{ID: bookB, Title: "B", Price: eur(t, 250), Deleted: true, InStock: true})
	got, err := svc.GetBasket(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got.Lines[0].Title != "A (sale)" || got.Lines[0].UnitPrice.Minor() != 999 || got.Lines[0].LineTotal.Minor() != 1998 || !got.Lines[0].Available {
		t.Fatalf("line A = %+v", got.Lines[0])
	}
	if got.Lines[1].Available {
		t.Fatalf("deleted book B is available: %+v", got.Lines[1])
	}
	if got.Total.Minor() != 1998 || got.Total.Currency() != "EUR" {
		t.Fatalf("total = %v, want 19.98 EUR", got.Total)
	}
}

func TestPriceRefusesOverflow(t *testing.T) {
	b, _ := basket.New("alice")
	if _, err := b.Add(bookA, 99, "EUR", reqID(1), now); err != nil {
		t.Fatal(err)
	}
	huge := eur(t, int64(1)<<50)
	if _, err := basket.Price(b, map[string]basket.Book{bookA: {ID: bookA, Price: huge, InStock: true}}); !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("Price = %v, want ErrFailedPrecondition", err)
	}
}

// TestRecentKeysAreBounded keeps a basket's memory of request ids small.
func TestRecentKeysAreBounded(t *testing.T) {
	b, _ := basket.New("alice")
	for i := range 250 {
		if _, err := b.Add(bookA, 1, "EUR", reqID(i), now); err != nil && !errors.Is(err, failure.ErrInvalid) {
			t.Fatal(err)
		}
		b.Remove(bookA, now)
	}
	if n := len(b.RecentKeys()); n != 100 {
		t.Fatalf("remembers %d keys, want 100", n)
	}
}

// TestRequestIDReuse: a retry (same request id, book and quantity) gives
// the same basket, even when the book stopped being sold meanwhile; the
// same request id for another addition is refused.
func TestRequestIDReuse(t *testing.T) {
	svc, _, cat := newService(t)
	ctx := ctxOf("alice")
	first, err := svc.AddItem(ctx, bookA, 2, reqID(1))
	if err != nil {
		t.Fatal(err)
	}
	cat.set(basket.Book{ID: bookA, Title: "A", Price: eur(t, 1299), InStock: false})
	again, err := svc.AddItem(ctx, bookA, 2, reqID(1))
	if err != nil || again.Version != first.Version || again.ItemCount != 2 {
		t.Fatalf("retry after the book went out of stock: %+v, %v", again, err)
	}
	for _, tc := range []struct {
		book string
		qty  int
	}{{bookB, 2}, {bookA, 3}} {
		_, err := svc.AddItem(ctx, tc.book, tc.qty, reqID(1))
		if !errors.Is(err, failure.ErrInvalid) {
			t.Fatalf("request id reused for %s x%d: %v, want ErrInvalid", tc.book, tc.qty, err)
		}
		checkField(t, err, "request_id")
	}
	// Upper-case ids are the same ids.
	upper := "01900000-0000-7000-8000-00000000000A"
	again, err = svc.AddItem(ctx, upper, 2, reqID(1))
	if err != nil || again.Version != first.Version {
		t.Fatalf("retry spelling the book id in upper case: %+v, %v", again, err)
	}
}

// conflictingStore fails the first n updates with ErrConflict, as a store
// does when another change won the race.
type conflictingStore struct {
	basket.Store
	n, calls int
}

func (c *conflictingStore) Update(ctx context.Context, owner string, fn func(*basket.Basket) ([]basket.Cleared, error)) (*basket.Basket, error) {
	c.calls++
	if c.calls <= c.n {
		return nil, failure.Conflict("lost a race")
	}
	return c.Store.Update(ctx, owner, fn)
}

// TestConflictsAreRetried: a change that lost a race is applied again to
// the fresh basket, a bounded number of times.
func TestConflictsAreRetried(t *testing.T) {
	for _, tc := range []struct {
		conflicts int
		wantErr   error
	}{{0, nil}, {9, nil}, {10, failure.ErrConflict}} {
		store := &conflictingStore{Store: &fakeStore{}, n: tc.conflicts}
		svc := basket.NewService(store, newCatalog(t), func() time.Time { return now })
		_, err := svc.AddItem(ctxOf("alice"), bookA, 1, reqID(1))
		if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
			t.Fatalf("%d conflicts: %v, want %v", tc.conflicts, err, tc.wantErr)
		}
	}
}
