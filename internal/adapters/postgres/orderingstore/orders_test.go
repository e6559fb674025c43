package orderingstore

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/bookworm-store/bookworm/internal/core/ordering/orderingtest"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// TestOrderStoreContract runs the port's contract on the Postgres store, as
// a role granted only the schemas ordering and events: passing it also shows
// that the store touches no other context's tables.
func TestOrderStoreContract(t *testing.T) {
	orderingtest.RunOrderStore(t, func(t *testing.T) ordering.OrderStore {
		return NewOrders(pgtest.RolePool(t, pgtest.NewDatabase(t), "ordering", "events"))
	})
}

// TestHistoryIsAppendOnly: the audit trail refuses UPDATE, DELETE and
// TRUNCATE, from the store's role and from the schema's owner alike.
func TestHistoryIsAppendOnly(t *testing.T) {
	name := pgtest.NewDatabase(t)
	role := pgtest.RolePool(t, name, "ordering", "events")
	owner := pgtest.OpenPool(t, name)
	ctx := pgtest.Ctx(t)
	o, evs := orderingtest.NewOrder(t, "alice", id.New(), time.Now().UTC().Truncate(time.Microsecond))
	if _, _, err := NewOrders(role).Create(ctx, o, evs); err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		`UPDATE ordering.history SET reason = 'rewritten'`,
		`DELETE FROM ordering.history`,
		`TRUNCATE ordering.history`,
	} {
		for who, exec := range map[string]func() error{
			"store role": func() error { _, err := role.Exec(ctx, sql); return err },
			"owner":      func() error { _, err := owner.Exec(ctx, sql); return err },
		} {
			if err := exec(); err == nil {
				t.Errorf("%s: %s succeeded", who, sql)
			}
		}
	}
	var n int
	if err := owner.QueryRow(ctx, `SELECT count(*) FROM ordering.history WHERE order_id = $1 AND reason = 'placed'`, o.ID()).Scan(&n); err != nil || n != 1 {
		t.Fatalf("history rows after the attempts: %d, %v", n, err)
	}
}

// TestOrderEventsInTheOutbox: a change's events are in the outbox of its
// transaction, in the contract's shape, without the payment token.
func TestOrderEventsInTheOutbox(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	s := NewOrders(pool)
	o, evs := orderingtest.NewOrder(t, "alice", id.New(), time.Now().UTC().Truncate(time.Microsecond))
	if _, _, err := s.Create(ctx, o, evs); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
		return o.RejectStock(ordering.ReasonOutOfStock, []string{"b"}, now), nil
	}); err != nil {
		t.Fatal(err)
	}
	out := pgtest.Outbox(t, pool)
	if len(out) != 2 || out[0].Type != events.TypeOf(&orderingv1.OrderPlaced{}) || out[1].Type != events.TypeOf(&orderingv1.OrderFailed{}) {
		t.Fatalf("outbox = %+v", out)
	}
	var placed orderingv1.OrderPlaced
	if err := events.Decode(out[0].Message, &placed); err != nil {
		t.Fatal(err)
	}
	if placed.GetOrderId() != o.ID() || len(placed.GetLines()) != 2 || placed.GetBuyerEmail() != "alice@example.com" ||
		placed.GetTotal().GetUnits() != 37 || placed.GetShippingAddress().GetCountryCode() != "GB" {
		t.Fatalf("OrderPlaced = %v", &placed)
	}
	for _, e := range out {
		if strings.Contains(string(e.Data), "tok_test_secret") {
			t.Fatalf("event %s carries the payment token", e.Type)
		}
	}
}

// TestFeedReachesAnotherConnection: a watcher subscribed through one Feed
// (one replica) hears the versions of changes committed through another
// pool (another replica).
func TestFeedReachesAnotherConnection(t *testing.T) {
	name := pgtest.NewDatabase(t)
	a, b := pgtest.OpenPool(t, name), pgtest.OpenPool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	feed := NewFeed(b, pgtest.DiscardLog())
	go func() { _ = feed.Run(ctx) }()
	o, evs := orderingtest.NewOrder(t, "alice", id.New(), time.Now().UTC().Truncate(time.Microsecond))
	s := NewOrders(a)
	if _, _, err := s.Create(ctx, o, evs); err != nil {
		t.Fatal(err)
	}
	ch, err := feed.Subscribe(ctx, o.ID())
	if err != nil {
		t.Fatal(err)
	}
	// The listener may not be live yet: the first value can be its
	// "reload" signal; wait for version 2 itself.
	time.Sleep(200 * time.Millisecond)
	now := time.Now().UTC()
	if _, err := s.Update(ctx, o.ID(), func(o *ordering.Order) ([]ordering.Event, error) {
		return o.ReserveStock(now, now.Add(time.Minute)), nil
	}); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case v := <-ch:
			if v == 2 {
				return
			}
		case <-ctx.Done():
			t.Fatal("no notification of version 2")
		}
	}
}
