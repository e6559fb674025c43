// Package orderingtest holds what tests of the ordering context share: the
// contract every ordering.OrderStore must keep (RunOrderStore: one suite
// that the Postgres store and the in-memory fake both pass, so the fake
// cannot drift from the real thing), and that fake (MemoryOrderStore).
// Import it from tests only.
package orderingtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// base is the first instant of the suite's orders (microseconds, as
// Postgres keeps them).
var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// NewOrder returns a valid Pending order of userID placed with requestID at
// at, for tests of stores.
func NewOrder(t testing.TB, userID, requestID string, at time.Time) (*ordering.Order, []ordering.Event) {
	t.Helper()
	price, err := money.New("EUR", 1250)
	if err != nil {
		t.Fatal(err)
	}
	l1, err := ordering.NewLine(id.New(), "A book", 2, price)
	if err != nil {
		t.Fatal(err)
	}
	l2, err := ordering.NewLine(id.New(), "Another book", 1, price)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ordering.NewAddress(ordering.AddressFields{Name: "Ada Lovelace", Lines: []string{"1 Analytical Way", "Flat 2"},
		City: "London", Region: "Greater London", PostalCode: "N1 7GU", Country: "GB"})
	if err != nil {
		t.Fatal(err)
	}
	o, evs, err := ordering.Place(ordering.PlaceInput{
		ID: id.New(), Buyer: ordering.Buyer{UserID: userID, Email: userID + "@example.com", Name: "Buyer " + userID},
		RequestID: requestID, Fingerprint: "fp-" + requestID, Lines: []ordering.Line{l1, l2}, Address: addr,
		PaymentToken: "tok_test_secret", Now: at, StockDeadline: at.Add(30 * time.Second),
	})
	if err != nil {
		t.Fatal(err)
	}
	return o, evs
}

// RunOrderStore runs the contract of ordering.OrderStore against the stores
// newStore makes (a fresh, empty one per call).
func RunOrderStore(t *testing.T, newStore func(t *testing.T) ordering.OrderStore) {
	ctx := context.Background()

	t.Run("create, get and find by request return the order whole", func(t *testing.T) {
		s := newStore(t)
		o, evs := NewOrder(t, "alice", id.New(), base)
		stored, created, err := s.Create(ctx, o, evs)
		if err != nil || !created {
			t.Fatalf("Create = %v, %v", created, err)
		}
		want := o.Snapshot()
		for name, get := range map[string]func() (*ordering.Order, error){
			"create": func() (*ordering.Order, error) { return stored, nil },
			"get":    func() (*ordering.Order, error) { return s.Get(ctx, o.ID()) },
			"find":   func() (*ordering.Order, error) { return s.FindByRequest(ctx, "alice", o.RequestID()) },
		} {
			got, err := get()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			checkSame(t, name, got.Snapshot(), want)
		}
	})

	t.Run("missing orders are not found", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.Get(ctx, id.New()); !errors.Is(err, failure.ErrNotFound) {
			t.Fatalf("Get = %v, want not found", err)
		}
		if _, err := s.FindByRequest(ctx, "alice", id.New()); !errors.Is(err, failure.ErrNotFound) {
			t.Fatalf("FindByRequest = %v, want not found", err)
		}
		_, err := s.Update(ctx, id.New(), func(*ordering.Order) ([]ordering.Event, error) { return nil, nil })
		if !errors.Is(err, failure.ErrNotFound) {
			t.Fatalf("Update = %v, want not found", err)
		}
	})

	t.Run("one order per buyer and request id, also when Creates race", func(t *testing.T) {
		s := newStore(t)
		req := id.New()
		const n = 20
		var wg sync.WaitGroup
		ids := make([]string, n)
		createdN := make([]bool, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				o, evs := NewOrder(t, "alice", req, base)
				got, created, err := s.Create(ctx, o, evs)
				errs[i], createdN[i] = err, created
				if err == nil {
					ids[i] = got.ID()
				}
			}()
		}
		wg.Wait()
		created := 0
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Create %d: %v", i, errs[i])
			}
			if createdN[i] {
				created++
			}
			if ids[i] != ids[0] {
				t.Fatalf("racing Creates returned orders %s and %s", ids[0], ids[i])
			}
		}
		if created != 1 {
			t.Fatalf("%d Creates created, want 1", created)
		}
		// Another buyer may use the same request id.
		o, evs := NewOrder(t, "bob", req, base)
		if _, created, err := s.Create(ctx, o, evs); err != nil || !created {
			t.Fatalf("bob's Create = %v, %v", created, err)
		}
	})

	t.Run("update saves the transition and appends to the history", func(t *testing.T) {
		s := newStore(t)
		o, evs := NewOrder(t, "alice", id.New(), base)
		if _, _, err := s.Create(ctx, o, evs); err != nil {
			t.Fatal(err)
		}
		now := base.Add(time.Second)
		got, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
			return o.ReserveStock(now, now.Add(time.Minute)), nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status() != ordering.StatusStockReserved || got.Version() != 2 {
			t.Fatalf("after update: %s v%d", got.Status(), got.Version())
		}
		now = now.Add(time.Second)
		if _, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
			return o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeDeclined, Detail: "declined"}, now, now)
		}); err != nil {
			t.Fatal(err)
		}
		read, err := s.Get(ctx, o.ID())
		if err != nil {
			t.Fatal(err)
		}
		h := read.History()
		if len(h) != 3 || h[0].To != ordering.StatusPending || h[1].To != ordering.StatusStockReserved || h[2].To != ordering.StatusFailed {
			t.Fatalf("history = %+v", h)
		}
		if read.Status() != ordering.StatusFailed || read.Failure().Reason != ordering.ReasonPaymentDeclined || !read.Deadline().IsZero() {
			t.Fatalf("read back %s %+v deadline %v", read.Status(), read.Failure(), read.Deadline())
		}
	})

	t.Run("an update that fails saves nothing", func(t *testing.T) {
		s := newStore(t)
		o, evs := NewOrder(t, "alice", id.New(), base)
		if _, _, err := s.Create(ctx, o, evs); err != nil {
			t.Fatal(err)
		}
		boom := errors.New("boom")
		_, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
			o.ReserveStock(base.Add(time.Second), base.Add(time.Minute))
			return nil, boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Update = %v, want the closure's error", err)
		}
		read, _ := s.Get(ctx, o.ID())
		if read.Status() != ordering.StatusPending || read.Version() != 1 {
			t.Fatalf("after a failed update: %s v%d", read.Status(), read.Version())
		}
	})

	t.Run("a concurrent change is a conflict and nothing is saved", func(t *testing.T) {
		s := newStore(t)
		o, evs := NewOrder(t, "alice", id.New(), base)
		if _, _, err := s.Create(ctx, o, evs); err != nil {
			t.Fatal(err)
		}
		now := base.Add(time.Second)
		_, err := s.Update(ctx, o.ID(), func(outer *ordering.Order) ([]ordering.Event, error) {
			if _, err := s.Update(ctx, o.ID(), func(inner *ordering.Order) ([]ordering.Event, error) {
				return inner.Cancel(ordering.Actor{Kind: ordering.ActorCustomer, ID: "alice"}, "changed my mind", now)
			}); err != nil {
				t.Fatalf("inner update: %v", err)
			}
			return outer.ReserveStock(now, now.Add(time.Minute)), nil
		})
		if !errors.Is(err, failure.ErrConflict) {
			t.Fatalf("outer Update = %v, want a conflict", err)
		}
		read, _ := s.Get(ctx, o.ID())
		if read.Status() != ordering.StatusCancelled || len(read.History()) != 2 {
			t.Fatalf("after the conflict: %s, history %+v", read.Status(), read.History())
		}
	})

	t.Run("list pages newest first with filters", func(t *testing.T) {
		s := newStore(t)
		var alices []string
		for i := range 7 {
			user := "alice"
			if i%3 == 2 {
				user = "bob"
			}
			o, evs := NewOrder(t, user, id.New(), base.Add(time.Duration(i)*time.Minute))
			if _, _, err := s.Create(ctx, o, evs); err != nil {
				t.Fatal(err)
			}
			if user == "alice" {
				alices = append(alices, o.ID())
			}
			if i == 0 {
				if _, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
					return o.Cancel(ordering.Actor{Kind: ordering.ActorCustomer, ID: user}, "", base.Add(time.Hour))
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		slices.Reverse(alices)
		var got []string
		token := ""
		for range 10 {
			p, err := s.List(ctx, ordering.ListQuery{UserID: "alice", PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range p.Orders {
				got = append(got, o.ID())
			}
			if token = p.NextPageToken; token == "" {
				break
			}
		}
		if !slices.Equal(got, alices) {
			t.Fatalf("alice's orders paged = %v, want %v", got, alices)
		}
		all, err := s.List(ctx, ordering.ListQuery{PageSize: 100})
		if err != nil || len(all.Orders) != 7 || all.NextPageToken != "" {
			t.Fatalf("everybody's: %d orders, token %q, %v", len(all.Orders), all.NextPageToken, err)
		}
		cancelled, err := s.List(ctx, ordering.ListQuery{Statuses: []ordering.Status{ordering.StatusCancelled}, PageSize: 10})
		if err != nil || len(cancelled.Orders) != 1 || cancelled.Orders[0].Status() != ordering.StatusCancelled {
			t.Fatalf("cancelled: %v, %v", cancelled.Orders, err)
		}
		window, err := s.List(ctx, ordering.ListQuery{CreatedFrom: base.Add(2 * time.Minute), CreatedBefore: base.Add(4 * time.Minute), PageSize: 10})
		if err != nil || len(window.Orders) != 2 {
			t.Fatalf("time window: %d orders, %v", len(window.Orders), err)
		}
		// A token of another query is refused as an invalid page token.
		first, _ := s.List(ctx, ordering.ListQuery{UserID: "alice", PageSize: 1})
		_, err = s.List(ctx, ordering.ListQuery{UserID: "bob", PageSize: 1, PageToken: first.NextPageToken})
		var ve *failure.ValidationError
		if !errors.As(err, &ve) || ve.Violations[0].Field != "page_token" {
			t.Fatalf("another query's token: %v, want a page_token violation", err)
		}
		if _, err := s.List(ctx, ordering.ListQuery{PageSize: 1, PageToken: "not a token"}); !errors.As(err, &ve) {
			t.Fatalf("a forged token: %v", err)
		}
	})

	t.Run("due returns orders past their deadline, oldest first", func(t *testing.T) {
		s := newStore(t)
		var ids []string
		for i := range 4 {
			o, evs := NewOrder(t, "alice", id.New(), base.Add(time.Duration(i)*time.Second))
			if _, _, err := s.Create(ctx, o, evs); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, o.ID())
		}
		// The last one no longer waits.
		if _, err := s.Update(ctx, ids[3], func(o *ordering.Order) ([]ordering.Event, error) {
			return o.RejectStock(ordering.ReasonOutOfStock, nil, base.Add(time.Minute)), nil
		}); err != nil {
			t.Fatal(err)
		}
		due, err := s.Due(ctx, base.Add(31*time.Second), 10)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]string, len(due))
		for i, o := range due {
			got[i] = o.ID()
		}
		if !slices.Equal(got, ids[:2]) {
			t.Fatalf("due = %v, want %v", got, ids[:2])
		}
		if due, _ := s.Due(ctx, base.Add(time.Hour), 1); len(due) != 1 || due[0].ID() != ids[0] {
			t.Fatalf("due with limit 1 = %v", due)
		}
	})
}

func checkSame(t *testing.T, what string, got, want ordering.Snapshot) {
	t.Helper()
	g, w := fmt.Sprintf("%+v", got), fmt.Sprintf("%+v", want)
	if g != w {
		t.Fatalf("%s: order read back differs:\n got %s\nwant %s", what, g, w)
	}
}
