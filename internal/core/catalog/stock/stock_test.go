package stock_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/catalog/stock"
	"github.com/bookworm-store/bookworm/internal/core/failure"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// fakeStore is a Store in memory. One mutex stands for the row locks of the
// real store; the ledger is rebuilt from copies, so an error from fn leaves
// the stored state as it was (a rolled back transaction).
type fakeStore struct {
	mu     sync.Mutex
	items  map[string]stock.Item
	res    map[string]stock.Reservation
	events []stock.Event
	// minSeen is the lowest available count of any book after any update.
	minSeen int64
}

func newFakeStore(t *testing.T, books map[string]int64, deleted ...string) *fakeStore {
	t.Helper()
	f := &fakeStore{items: map[string]stock.Item{}, res: map[string]stock.Reservation{}, minSeen: 1 << 62}
	for id, n := range books {
		it, err := stock.NewItem(id, n, 0, 0, false)
		if err != nil {
			t.Fatal(err)
		}
		f.items[id] = *it
	}
	for _, id := range deleted {
		it, _ := stock.NewItem(id, 5, 0, 0, true)
		f.items[id] = *it
	}
	return f
}

func (f *fakeStore) Update(_ context.Context, orderID string, bookIDs []string, fn func(*stock.Ledger) (stock.Event, error)) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := stock.NewReservation(orderID)
	if stored, ok := f.res[orderID]; ok {
		c := stored
		r = &c
	}
	l := &stock.Ledger{Reservation: r, Items: map[string]*stock.Item{}}
	ids := append(append([]string{}, bookIDs...), stock.BookIDs(r.Lines())...)
	for _, id := range ids {
		if it, ok := f.items[id]; ok {
			c := it
			l.Items[id] = &c
		}
	}
	ev, err := fn(l)
	if err != nil {
		return err
	}
	for id, it := range l.Items {
		f.items[id] = *it
		f.minSeen = min(f.minSeen, it.Available())
	}
	f.res[orderID] = *l.Reservation
	if ev != nil {
		f.events = append(f.events, ev)
	}
	return nil
}

func (f *fakeStore) item(id string) stock.Item {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.items[id]
}

type counts struct{ available, reserved, sold int64 }

func (f *fakeStore) counts(id string) counts {
	it := f.item(id)
	return counts{it.Available(), it.Reserved(), it.Sold()}
}

func TestReserve(t *testing.T) {
	tests := []struct {
		name      string
		lines     []stock.Line
		want      stock.Event
		wantA     counts
		wantB     counts
		wantErrIs error
	}{
		{
			name:  "all lines",
			lines: []stock.Line{{BookID: "b", Quantity: 2}, {BookID: "a", Quantity: 3}},
			want:  stock.Reserved{OrderID: "o1", Version: 1, Lines: []stock.Line{{BookID: "a", Quantity: 3}, {BookID: "b", Quantity: 2}}, At: now},
			wantA: counts{7, 3, 0}, wantB: counts{0, 2, 0},
		},
		{
			name:  "the same book twice is merged",
			lines: []stock.Line{{BookID: "a", Quantity: 3}, {BookID: "a", Quantity: 4}},
			want:  stock.Reserved{OrderID: "o1", Version: 1, Lines: []stock.Line{{BookID: "a", Quantity: 7}}, At: now},
			wantA: counts{3, 7, 0}, wantB: counts{2, 0, 0},
		},
		{
			name:  "one short line reserves nothing",
			lines: []stock.Line{{BookID: "a", Quantity: 1}, {BookID: "b", Quantity: 3}},
			want:  stock.Rejected{OrderID: "o1", Version: 1, Reason: stock.RejectOutOfStock, BookIDs: []string{"b"}, At: now},
			wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0},
		},
		{
			name:  "exactly the last copies",
			lines: []stock.Line{{BookID: "a", Quantity: 10}, {BookID: "b", Quantity: 2}},
			want:  stock.Reserved{OrderID: "o1", Version: 1, Lines: []stock.Line{{BookID: "a", Quantity: 10}, {BookID: "b", Quantity: 2}}, At: now},
			wantA: counts{0, 10, 0}, wantB: counts{0, 2, 0},
		},
		{
			name:  "unknown book",
			lines: []stock.Line{{BookID: "a", Quantity: 1}, {BookID: "zz", Quantity: 1}},
			want:  stock.Rejected{OrderID: "o1", Version: 1, Reason: stock.RejectUnavailable, BookIDs: []string{"zz"}, At: now},
			wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0},
		},
		{
			name:  "deleted book wins over a short one",
			lines: []stock.Line{{BookID: "b", Quantity: 9}, {BookID: "gone", Quantity: 1}},
			want:  stock.Rejected{OrderID: "o1", Version: 1, Reason: stock.RejectUnavailable, BookIDs: []string{"gone"}, At: now},
			wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0},
		},
		{name: "no lines", lines: nil, wantErrIs: failure.ErrInvalid, wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0}},
		{name: "zero quantity", lines: []stock.Line{{BookID: "a", Quantity: 0}}, wantErrIs: failure.ErrInvalid, wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0}},
		{name: "negative quantity", lines: []stock.Line{{BookID: "a", Quantity: -3}}, wantErrIs: failure.ErrInvalid, wantA: counts{10, 0, 0}, wantB: counts{2, 0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStore(t, map[string]int64{"a": 10, "b": 2}, "gone")
			svc := stock.NewService(f, func() time.Time { return now })
			got, err := svc.Reserve(context.Background(), "o1", tt.lines)
			if tt.wantErrIs != nil {
				if !errors.Is(err, tt.wantErrIs) {
					t.Fatalf("Reserve err = %v, want %v", err, tt.wantErrIs)
				}
			} else if err != nil {
				t.Fatalf("Reserve: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Reserve = %#v, want %#v", got, tt.want)
			}
			if c := f.counts("a"); c != tt.wantA {
				t.Errorf("book a = %+v, want %+v", c, tt.wantA)
			}
			if c := f.counts("b"); c != tt.wantB {
				t.Errorf("book b = %+v, want %+v", c, tt.wantB)
			}
		})
	}
}

// TestLifecycle walks each step, its repeat and the steps that must be
// refused, checking after each that the stock loaded is conserved.
func TestLifecycle(t *testing.T) {
	type step struct {
		op        string // reserve, commit, release
		wantType  string
		wantVer   int64
		wantErrIs error
		wantA     counts
	}
	lines := []stock.Line{{BookID: "a", Quantity: 4}}
	tests := []struct {
		name  string
		steps []step
	}{
		{"reserve, repeat, commit, repeat", []step{
			{"reserve", "Reserved", 1, nil, counts{6, 4, 0}},
			{"reserve", "Reserved", 1, nil, counts{6, 4, 0}},
			{"commit", "Committed", 2, nil, counts{6, 0, 4}},
			{"commit", "Committed", 2, nil, counts{6, 0, 4}},
			{"reserve", "", 0, failure.ErrFailedPrecondition, counts{6, 0, 4}},
		}},
		{"reserve then release (failed order)", []step{
			{"reserve", "Reserved", 1, nil, counts{6, 4, 0}},
			{"release", "Released", 2, nil, counts{10, 0, 0}},
			{"release", "Released", 2, nil, counts{10, 0, 0}},
			{"commit", "", 0, failure.ErrFailedPrecondition, counts{10, 0, 0}},
			{"reserve", "", 0, failure.ErrFailedPrecondition, counts{10, 0, 0}},
		}},
		{"commit then release (cancelled confirmed order)", []step{
			{"reserve", "Reserved", 1, nil, counts{6, 4, 0}},
			{"commit", "Committed", 2, nil, counts{6, 0, 4}},
			{"release", "Released", 3, nil, counts{10, 0, 0}},
			{"release", "Released", 3, nil, counts{10, 0, 0}},
		}},
		{"release before reserve (reordered events) blocks a late reserve", []step{
			{"release", "Released", 1, nil, counts{10, 0, 0}},
			{"reserve", "", 0, failure.ErrFailedPrecondition, counts{10, 0, 0}},
		}},
		{"commit of an unknown order", []step{
			{"commit", "", 0, failure.ErrFailedPrecondition, counts{10, 0, 0}},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStore(t, map[string]int64{"a": 10})
			svc := stock.NewService(f, func() time.Time { return now })
			ctx := context.Background()
			for i, st := range tt.steps {
				var ev stock.Event
				var err error
				switch st.op {
				case "reserve":
					ev, err = svc.Reserve(ctx, "o1", lines)
				case "commit":
					ev, err = svc.Commit(ctx, "o1")
				case "release":
					ev, err = svc.Release(ctx, "o1")
				}
				if st.wantErrIs != nil {
					if !errors.Is(err, st.wantErrIs) {
						t.Fatalf("step %d %s: err = %v, want %v", i, st.op, err, st.wantErrIs)
					}
				} else {
					if err != nil {
						t.Fatalf("step %d %s: %v", i, st.op, err)
					}
					typ, ver := describe(ev)
					if typ != st.wantType || ver != st.wantVer {
						t.Fatalf("step %d %s = %s v%d, want %s v%d", i, st.op, typ, ver, st.wantType, st.wantVer)
					}
				}
				if c := f.counts("a"); c != st.wantA {
					t.Fatalf("step %d %s: book a = %+v, want %+v", i, st.op, c, st.wantA)
				}
				if it := f.item("a"); it.Total() != 10 {
					t.Fatalf("step %d: total %d, want the 10 loaded", i, it.Total())
				}
			}
		})
	}
}

func describe(ev stock.Event) (string, int64) {
	switch e := ev.(type) {
	case stock.Reserved:
		return "Reserved", e.Version
	case stock.Rejected:
		return "Rejected", e.Version
	case stock.Committed:
		return "Committed", e.Version
	case stock.Released:
		return "Released", e.Version
	}
	return fmt.Sprintf("%T", ev), -1
}

func TestReleaseOfCommittedSaysSo(t *testing.T) {
	f := newFakeStore(t, map[string]int64{"a": 10})
	svc := stock.NewService(f, func() time.Time { return now })
	ctx := context.Background()
	if _, err := svc.Reserve(ctx, "o1", []stock.Line{{BookID: "a", Quantity: 1}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Commit(ctx, "o1"); err != nil {
		t.Fatal(err)
	}
	ev, err := svc.Release(ctx, "o1")
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := ev.(stock.Released); !ok || !r.WasCommitted || len(r.Lines) != 1 {
		t.Fatalf("Release = %#v, want WasCommitted with the line", ev)
	}
}

// TestCorruptLedgerIsRefusedWhole checks that a move the stored counts cannot
// hold changes nothing, rather than driving a count negative.
func TestCorruptLedgerIsRefusedWhole(t *testing.T) {
	r := stock.LoadReservation("o1", stock.StateReserved, 1, []stock.Line{{BookID: "a", Quantity: 2}, {BookID: "b", Quantity: 5}}, 0, nil, false)
	a, _ := stock.NewItem("a", 0, 2, 0, false)
	b, _ := stock.NewItem("b", 0, 1, 0, false) // holds 1, the order says 5
	l := &stock.Ledger{Reservation: r, Items: map[string]*stock.Item{"a": a, "b": b}}
	before := maps.Clone(map[string]stock.Item{"a": *a, "b": *b})
	if _, err := l.Commit(now); !errors.Is(err, stock.ErrCorrupt) {
		t.Fatalf("Commit = %v, want ErrCorrupt", err)
	}
	if *a != before["a"] || *b != before["b"] || r.State() != stock.StateReserved {
		t.Fatalf("a refused move changed the ledger: a=%+v b=%+v state=%v", *a, *b, r.State())
	}
}

func TestNewItemRefusesNegativeCounts(t *testing.T) {
	for _, c := range []counts{{-1, 0, 0}, {0, -1, 0}, {0, 0, -1}} {
		if _, err := stock.NewItem("a", c.available, c.reserved, c.sold, false); err == nil {
			t.Errorf("NewItem(%+v) accepted", c)
		}
	}
}

// TestLastCopiesUnderConcurrency: 50 buyers order one copy each of a book
// with 10 left, at once. The fake store serialises updates as the real one's
// row lock must; the rule then lets exactly 10 through and stock never goes
// negative.
func TestLastCopiesUnderConcurrency(t *testing.T) {
	f := newFakeStore(t, map[string]int64{"a": 10})
	svc := stock.NewService(f, nil)
	var wg sync.WaitGroup
	results := make([]stock.Event, 50)
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = svc.Reserve(context.Background(), fmt.Sprintf("o%02d", i), []stock.Line{{BookID: "a", Quantity: 1}})
		}()
	}
	wg.Wait()
	var reserved, rejected int
	for i, ev := range results {
		if errs[i] != nil {
			t.Fatalf("buyer %d: %v", i, errs[i])
		}
		switch e := ev.(type) {
		case stock.Reserved:
			reserved++
		case stock.Rejected:
			rejected++
			if e.Reason != stock.RejectOutOfStock || !reflect.DeepEqual(e.BookIDs, []string{"a"}) {
				t.Errorf("buyer %d rejected with %+v", i, e)
			}
		}
	}
	if reserved != 10 || rejected != 40 {
		t.Fatalf("reserved %d, rejected %d; want 10 and 40", reserved, rejected)
	}
	if c := f.counts("a"); c != (counts{0, 10, 0}) {
		t.Fatalf("book a = %+v, want 0 available, 10 reserved", c)
	}
	if f.minSeen < 0 {
		t.Fatalf("available went down to %d", f.minSeen)
	}
}
