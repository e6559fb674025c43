package catalogstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/catalog/stock"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// StockOrdersConsumer is the inbox name of StockOrders.
const StockOrdersConsumer = "catalog.stock"

// The ordering events the catalog's stock answers, by ce-type.
var (
	orderPlacedType    = events.TypeOf(&orderingv1.OrderPlaced{})
	orderConfirmedType = events.TypeOf(&orderingv1.OrderConfirmed{})
	orderFailedType    = events.TypeOf(&orderingv1.OrderFailed{})
	orderCancelledType = events.TypeOf(&orderingv1.OrderCancelled{})
)

// StockOrders is the catalog's consumer of the ordering context's events in
// the checkout saga: OrderPlaced reserves the order's copies, all or none
// (StockReserved | StockRejected), OrderConfirmed sells them, OrderFailed and
// OrderCancelled that say stock may be held put them back. Each event runs
// the rule of package stock over a Stock store bound to the inbox's
// transaction, so the counts, the reservation, the answer in the outbox and
// the inbox row commit together: an event delivered twice changes nothing
// twice.
type StockOrders struct {
	now     func() time.Time
	handler events.Handler
}

// NewStockOrders returns the consumer over pool; now may be nil for the
// wall clock.
func NewStockOrders(pool *pgxpool.Pool, now func() time.Time) *StockOrders {
	if now == nil {
		now = time.Now
	}
	c := &StockOrders{now: now}
	c.handler = outbox.Handler(pool, StockOrdersConsumer, c.apply)
	return c
}

// EventTypes are the event types StockOrders consumes.
func (c *StockOrders) EventTypes() []string {
	return []string{orderPlacedType, orderConfirmedType, orderFailedType, orderCancelledType}
}

// Handle applies one ordering event exactly once; it is the consumer's
// events.Handler.
func (c *StockOrders) Handle(ctx context.Context, msg events.Message) error {
	return c.handler(ctx, msg)
}

func (c *StockOrders) apply(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	svc := stock.NewService(NewStock(tx), c.now)
	var (
		orderID string
		err     error
	)
	switch msg.Type {
	case orderPlacedType:
		var m orderingv1.OrderPlaced
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		orderID = m.GetOrderId()
		if !coreid.Valid(orderID) {
			break
		}
		lines := make([]stock.Line, 0, len(m.GetLines()))
		for _, l := range m.GetLines() {
			lines = append(lines, stock.Line{BookID: l.GetBookId(), Quantity: int64(l.GetQuantity())})
		}
		_, err = svc.Reserve(ctx, orderID, lines)
	case orderConfirmedType:
		var m orderingv1.OrderConfirmed
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		orderID = m.GetOrderId()
		if coreid.Valid(orderID) {
			_, err = svc.Commit(ctx, orderID)
		}
	case orderFailedType:
		var m orderingv1.OrderFailed
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		orderID = m.GetOrderId()
		if coreid.Valid(orderID) && m.GetReleaseStock() {
			_, err = svc.Release(ctx, orderID)
		}
	case orderCancelledType:
		var m orderingv1.OrderCancelled
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		orderID = m.GetOrderId()
		if coreid.Valid(orderID) && m.GetReleaseStock() {
			_, err = svc.Release(ctx, orderID)
		}
	default:
		return fmt.Errorf("stock orders: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
	}
	if !coreid.Valid(orderID) {
		return fmt.Errorf("stock orders: event %s (%s): order_id %q is not a UUID", msg.ID, msg.Type, orderID)
	}
	if errors.Is(err, failure.ErrFailedPrecondition) {
		// The order's stock was settled already (a Reserve after the order was
		// cancelled, say): no retry changes that, and the order needs no
		// answer any more.
		return nil
	}
	if err != nil {
		return fmt.Errorf("stock orders: event %s (%s) of order %s: %w", msg.ID, msg.Type, orderID, err)
	}
	return nil
}
