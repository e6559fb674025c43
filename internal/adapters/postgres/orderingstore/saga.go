package orderingstore

import (
	"context"
	"fmt"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// The catalog's answers the saga consumes, by ce-type.
var (
	stockReservedType = events.TypeOf(&catalogv1.StockReserved{})
	stockRejectedType = events.TypeOf(&catalogv1.StockRejected{})
)

// Saga is the ordering context's consumer of the catalog's stock answers:
// StockReserved moves the order on and charges it (Service.OnStockReserved),
// StockRejected fails it (Service.OnStockRejected).
//
// It records no inbox row: the reactions are idempotent by the order's
// state machine (a repeated answer finds the step taken and changes
// nothing) and by the gateway's idempotency key (however often a charge is
// asked, it is made once), and the charge is a call to the gateway that
// must not hold a transaction (and a pooled connection) open while it
// waits. A reaction that loses a race with the sweeper (failure.ErrConflict)
// fails and the broker delivers the answer again.
type Saga struct {
	svc *ordering.Service
}

// NewSaga returns the saga consumer over the ordering use cases.
func NewSaga(svc *ordering.Service) *Saga { return &Saga{svc: svc} }

// EventTypes are the event types Saga consumes.
func (s *Saga) EventTypes() []string { return []string{stockReservedType, stockRejectedType} }

// Handle applies one stock answer; it is the consumer's events.Handler.
func (s *Saga) Handle(ctx context.Context, msg events.Message) error {
	ctx = events.ContextWithTraceParent(ctx, msg.TraceParent, msg.TraceState)
	switch msg.Type {
	case stockReservedType:
		var m catalogv1.StockReserved
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		if !coreid.Valid(m.GetOrderId()) {
			return fmt.Errorf("ordering saga: event %s: order_id %q is not a UUID", msg.ID, m.GetOrderId())
		}
		return s.svc.OnStockReserved(ctx, m.GetOrderId())
	case stockRejectedType:
		var m catalogv1.StockRejected
		if err := events.Decode(msg, &m); err != nil {
			return err
		}
		if !coreid.Valid(m.GetOrderId()) {
			return fmt.Errorf("ordering saga: event %s: order_id %q is not a UUID", msg.ID, m.GetOrderId())
		}
		reason := ordering.ReasonOutOfStock
		if m.GetReason() == catalogv1.StockRejected_REASON_BOOK_UNAVAILABLE {
			reason = ordering.ReasonBookUnavailable
		}
		return s.svc.OnStockRejected(ctx, m.GetOrderId(), reason, m.GetBookIds())
	}
	return fmt.Errorf("ordering saga: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
}
