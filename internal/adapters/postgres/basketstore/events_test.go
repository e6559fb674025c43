package basketstore

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

var at = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func fill(t *testing.T, s *Baskets, owner string, n int) {
	t.Helper()
	for range n {
		if _, err := s.Update(context.Background(), owner, func(b *basket.Basket) ([]basket.Cleared, error) {
			_, err := b.Add(coreid.New(), 1, "EUR", coreid.New(), at)
			return nil, err
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// cleared returns the BasketCleared events of the outbox.
func cleared(t *testing.T, pool *pgxpool.Pool) []*basketv1.BasketCleared {
	t.Helper()
	var out []*basketv1.BasketCleared
	for _, e := range pgtest.Outbox(t, pool) {
		if _, ctxName, ok := events.ParseSource(e.Source); e.Type != "bookworm.basket.v1.BasketCleared" || !ok || ctxName != BasketSource {
			t.Fatalf("unexpected event %s from %s", e.Type, e.Source)
		}
		var m basketv1.BasketCleared
		if err := proto.Unmarshal(e.Data, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, &m)
	}
	return out
}

// TestClearingEnqueuesBasketCleared: the customer's clearing writes its
// event with the change; clearing an empty basket writes nothing; a change
// that lost its race writes no event either.
func TestClearingEnqueuesBasketCleared(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := NewBaskets(pool)
	fill(t, s, "alice", 2)
	for range 2 {
		if _, err := s.Update(context.Background(), "alice", func(b *basket.Basket) ([]basket.Cleared, error) {
			return b.Clear(at), nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	evs := cleared(t, pool)
	if len(evs) != 1 {
		t.Fatalf("%d BasketCleared, want 1", len(evs))
	}
	e := evs[0]
	if e.GetUserId() != "alice" || e.GetVersion() != 3 || e.GetReason() != basketv1.BasketCleared_REASON_CUSTOMER ||
		e.GetOrderId() != "" || !e.GetOccurTime().AsTime().Equal(at) {
		t.Fatalf("BasketCleared %v", e)
	}
}

func orderConfirmed(t *testing.T, user, order string) events.Message {
	t.Helper()
	m, err := events.NewProtoMessage("/bookworm/ordering", &orderingv1.OrderConfirmed{OrderId: order, UserId: user, Version: 4})
	if err != nil {
		t.Fatal(err)
	}
	m.ID = coreid.New()
	return m
}

// TestOrderConfirmationsClearOncePerOrder: the consumer empties the buyer's
// basket and announces it; the same event again, or the same order under
// another event id, clears nothing the buyer added since.
func TestOrderConfirmationsClearOncePerOrder(t *testing.T) {
	pool := pgtest.NewPool(t)
	s := NewBaskets(pool)
	h := NewOrderConfirmations(pool, func() time.Time { return at })
	ctx := context.Background()
	fill(t, s, "bob", 3)
	fill(t, s, "carol", 1)
	order := coreid.New()
	msg := orderConfirmed(t, "bob", order)
	if err := h.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Get(ctx, "bob"); !b.IsEmpty() {
		t.Fatalf("bob's basket after his order: %d lines", len(b.Lines()))
	}
	if b, _ := s.Get(ctx, "carol"); len(b.Lines()) != 1 {
		t.Fatalf("carol's basket changed by bob's order: %d lines", len(b.Lines()))
	}
	fill(t, s, "bob", 2)
	if err := h.Handle(ctx, msg); err != nil {
		t.Fatal(err)
	}
	if err := h.Handle(ctx, orderConfirmed(t, "bob", order)); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Get(ctx, "bob"); len(b.Lines()) != 2 {
		t.Fatalf("the order cleared the basket again: %d lines, want 2", len(b.Lines()))
	}
	evs := cleared(t, pool)
	if len(evs) != 1 || evs[0].GetReason() != basketv1.BasketCleared_REASON_ORDER_CONFIRMED || evs[0].GetOrderId() != order ||
		evs[0].GetUserId() != "bob" {
		t.Fatalf("events %v, want one BasketCleared for the order", evs)
	}
	// A malformed event is an error (retried, then dead-lettered), never a
	// clearing of some basket.
	bad := orderConfirmed(t, "", order)
	if err := h.Handle(ctx, bad); err == nil {
		t.Fatal("an OrderConfirmed without a user was applied")
	}
	other := orderConfirmed(t, "bob", order)
	other.Type = "bookworm.ordering.v1.OrderFailed"
	if err := h.Handle(ctx, other); err == nil {
		t.Fatal("an event of another type was applied")
	}
}
