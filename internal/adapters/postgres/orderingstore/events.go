package orderingstore

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/protoconv"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// OrderingSource is the ce-source of the events the ordering context
// publishes.
const OrderingSource = "ordering"

// enqueue serializes the ordering context's domain events (the core decides
// which a change raises) to the contract's messages and queues their write
// to the outbox on b, the batch of the change.
func enqueue(ctx context.Context, b *pgx.Batch, evs []ordering.Event) error {
	if len(evs) == 0 {
		return nil
	}
	msgs := make([]proto.Message, 0, len(evs))
	for _, e := range evs {
		m, err := EventMessage(e)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	return outbox.EnqueueBatch(ctx, b, OrderingSource, msgs...)
}

// statusProto is the contract's form of a status.
func statusProto(s ordering.Status) orderingv1.OrderStatus { return orderingv1.OrderStatus(s) }

// reasonProto is the contract's form of a failure reason (the core's
// numbering is the contract's).
func reasonProto(r ordering.Reason) orderingv1.FailureReason { return orderingv1.FailureReason(r) }

// linesProto is the contract's form of an order's lines.
func linesProto(ls []ordering.Line) []*orderingv1.OrderLine {
	out := make([]*orderingv1.OrderLine, 0, len(ls))
	for _, l := range ls {
		out = append(out, &orderingv1.OrderLine{BookId: l.BookID, Title: l.Title, Quantity: int32(l.Quantity),
			UnitPrice: protoconv.Money(l.UnitPrice), LineTotal: protoconv.Money(l.LineTotal)})
	}
	return out
}

// addressProto is the contract's form of an address.
func addressProto(a ordering.Address) *orderingv1.Address {
	if a.IsZero() {
		return nil
	}
	f := a.Fields()
	return &orderingv1.Address{Name: f.Name, Lines: f.Lines, City: f.City, Region: f.Region, PostalCode: f.PostalCode, CountryCode: f.Country}
}

// failureProto is the contract's form of a failure; nil for none.
func failureProto(f ordering.Failure) *orderingv1.OrderFailure {
	if f.Reason == ordering.ReasonNone {
		return nil
	}
	return &orderingv1.OrderFailure{Reason: reasonProto(f.Reason), Detail: f.Detail, BookIds: f.BookIDs}
}

// EventMessage is the contract's message of one ordering domain event. None
// carries the payment token.
func EventMessage(e ordering.Event) (proto.Message, error) {
	switch e := e.(type) {
	case ordering.OrderPlaced:
		return &orderingv1.OrderPlaced{OrderId: e.OrderID, Version: e.Version, UserId: e.Buyer.UserID,
			BuyerEmail: e.Buyer.Email, BuyerName: e.Buyer.Name, Lines: linesProto(e.Lines), Total: protoconv.Money(e.Total),
			ShippingAddress: addressProto(e.Address), OccurTime: timestamppb.New(e.At)}, nil
	case ordering.PaymentSucceeded:
		return &orderingv1.PaymentSucceeded{OrderId: e.OrderID, Version: e.Version, Amount: protoconv.Money(e.Amount),
			PaymentId: e.PaymentID, OccurTime: timestamppb.New(e.At)}, nil
	case ordering.PaymentActionRequired:
		return &orderingv1.PaymentActionRequired{OrderId: e.OrderID, Version: e.Version, PaymentId: e.PaymentID,
			ExpireTime: timestamppb.New(e.ExpiresAt), OccurTime: timestamppb.New(e.At)}, nil
	case ordering.PaymentFailed:
		return &orderingv1.PaymentFailed{OrderId: e.OrderID, Version: e.Version, Reason: reasonProto(e.Reason),
			Detail: e.Detail, OccurTime: timestamppb.New(e.At)}, nil
	case ordering.OrderConfirmed:
		return &orderingv1.OrderConfirmed{OrderId: e.OrderID, Version: e.Version, UserId: e.Buyer.UserID,
			BuyerEmail: e.Buyer.Email, BuyerName: e.Buyer.Name, Lines: linesProto(e.Lines), Total: protoconv.Money(e.Total),
			OccurTime: timestamppb.New(e.At)}, nil
	case ordering.OrderFailed:
		return &orderingv1.OrderFailed{OrderId: e.OrderID, Version: e.Version, UserId: e.Buyer.UserID,
			BuyerEmail: e.Buyer.Email, BuyerName: e.Buyer.Name, Failure: failureProto(e.Failure),
			ReleaseStock: e.ReleaseStock, OccurTime: timestamppb.New(e.At)}, nil
	case ordering.OrderCancelled:
		return &orderingv1.OrderCancelled{OrderId: e.OrderID, Version: e.Version, UserId: e.Buyer.UserID,
			BuyerEmail: e.Buyer.Email, BuyerName: e.Buyer.Name, PreviousStatus: statusProto(e.PreviousStatus),
			ActorKind: orderingv1.ActorKind(e.Actor.Kind), Reason: e.Reason, Refund: protoconv.Money(e.Refund),
			ReleaseStock: e.ReleaseStock, OccurTime: timestamppb.New(e.At)}, nil
	case ordering.OrderShipped:
		return &orderingv1.OrderShipped{OrderId: e.OrderID, Version: e.Version, UserId: e.Buyer.UserID,
			BuyerEmail: e.Buyer.Email, BuyerName: e.Buyer.Name, TrackingNumber: e.TrackingNumber,
			OccurTime: timestamppb.New(e.At)}, nil
	case ordering.OrderCompleted:
		return &orderingv1.OrderCompleted{OrderId: e.OrderID, Version: e.Version, UserId: e.UserID,
			OccurTime: timestamppb.New(e.At)}, nil
	}
	return nil, fmt.Errorf("ordering store: no message for the event %T", e)
}
