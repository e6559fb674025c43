package basketstore

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/id"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// OrderConfirmationsConsumer is the inbox name of OrderConfirmations.
const OrderConfirmationsConsumer = "basket.order-confirmations"

// orderConfirmedType is the ce-type of the ordering context's
// OrderConfirmed.
var orderConfirmedType = events.TypeOf(&orderingv1.OrderConfirmed{})

// OrderConfirmations is the basket context's consumer of the ordering
// context's OrderConfirmed events: it empties the buyer's basket with the
// use case basket.ClearForOrder, over a basket store bound to the inbox's
// transaction, so that the clearing, its BasketCleared and the inbox row
// commit together. The basket remembers the order, so a second delivery
// under another event id (a replay by hand, say) clears nothing the
// customer added since.
type OrderConfirmations struct {
	now     func() time.Time
	handler events.Handler
}

// NewOrderConfirmations returns the consumer over pool. now may be nil for
// the wall clock.
func NewOrderConfirmations(pool *pgxpool.Pool, now func() time.Time) *OrderConfirmations {
	if now == nil {
		now = time.Now
	}
	h := &OrderConfirmations{now: now}
	h.handler = outbox.Handler(pool, OrderConfirmationsConsumer, h.apply)
	return h
}

// EventTypes are the event types OrderConfirmations consumes.
func (h *OrderConfirmations) EventTypes() []string { return []string{orderConfirmedType} }

// Handle empties the basket of the buyer an OrderConfirmed names, exactly
// once; it is the consumer's events.Handler (an inbox handler,
// outbox.Handler).
func (h *OrderConfirmations) Handle(ctx context.Context, msg events.Message) error {
	return h.handler(ctx, msg)
}

// apply clears the basket of one OrderConfirmed inside tx.
func (h *OrderConfirmations) apply(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	if msg.Type != orderConfirmedType {
		return fmt.Errorf("order confirmations: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
	}
	var m orderingv1.OrderConfirmed
	if err := events.Decode(msg, &m); err != nil {
		return err
	}
	if m.GetUserId() == "" || !id.Valid(m.GetOrderId()) {
		return fmt.Errorf("order confirmations: event %s: want a user_id and a UUID order_id, got %q and %q", msg.ID, m.GetUserId(), m.GetOrderId())
	}
	return basket.ClearForOrder(ctx, NewBaskets(tx), m.GetUserId(), id.Canonical(m.GetOrderId()), h.now())
}
