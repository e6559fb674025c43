package notificationstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/notification"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// OrderEventsConsumer is the inbox name of OrderEvents.
const OrderEventsConsumer = "notification.orders"

// OrderEvents is the notification context's consumer of the ordering
// context's buyer-visible events: it turns each into a notice and queues
// its email (notification.Notifier) over a store bound to the inbox's
// transaction, so that the email, the order's state and the inbox row
// commit together, and a redelivered event queues nothing.
type OrderEvents struct {
	notifier *notification.Notifier
	log      *slog.Logger
	handler  events.Handler
}

// NewOrderEvents returns the consumer over pool. log may be nil.
func NewOrderEvents(pool *pgxpool.Pool, notifier *notification.Notifier, log *slog.Logger) *OrderEvents {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &OrderEvents{notifier: notifier, log: log}
	h.handler = outbox.Handler(pool, OrderEventsConsumer, h.apply)
	return h
}

// orderEventTypes are the events that make emails, each with an empty
// message of its type to decode into.
var orderEventTypes = map[string]func() proto.Message{
	events.TypeOf(&orderingv1.OrderPlaced{}):    func() proto.Message { return &orderingv1.OrderPlaced{} },
	events.TypeOf(&orderingv1.OrderConfirmed{}): func() proto.Message { return &orderingv1.OrderConfirmed{} },
	events.TypeOf(&orderingv1.OrderFailed{}):    func() proto.Message { return &orderingv1.OrderFailed{} },
	events.TypeOf(&orderingv1.OrderCancelled{}): func() proto.Message { return &orderingv1.OrderCancelled{} },
	events.TypeOf(&orderingv1.OrderShipped{}):   func() proto.Message { return &orderingv1.OrderShipped{} },
	events.TypeOf(&orderingv1.OrderCompleted{}): func() proto.Message { return &orderingv1.OrderCompleted{} },
}

// EventTypes are the event types OrderEvents consumes.
func (h *OrderEvents) EventTypes() []string { return OrderEventTypes() }

// OrderEventTypes are the event types OrderEvents consumes.
func OrderEventTypes() []string {
	return []string{
		events.TypeOf(&orderingv1.OrderPlaced{}), events.TypeOf(&orderingv1.OrderConfirmed{}),
		events.TypeOf(&orderingv1.OrderFailed{}), events.TypeOf(&orderingv1.OrderCancelled{}),
		events.TypeOf(&orderingv1.OrderShipped{}), events.TypeOf(&orderingv1.OrderCompleted{}),
	}
}

// Handle queues the email of one ordering event, at most once; it is the
// consumer's events.Handler (an inbox handler, outbox.Handler). An event
// no email can be made of, and a completion whose order's buyer is not
// known yet, fail: the broker retries them and then dead-letters them.
func (h *OrderEvents) Handle(ctx context.Context, msg events.Message) error {
	return h.handler(ctx, msg)
}

// apply queues the email of one event inside tx.
func (h *OrderEvents) apply(ctx context.Context, tx pgx.Tx, msg events.Message) error {
	n, err := NoticeOf(msg)
	if err != nil {
		return err
	}
	out, err := h.notifier.Notify(ctx, NewStore(tx), n)
	if err != nil {
		if errors.Is(err, notification.ErrNoRecipient) {
			h.log.WarnContext(ctx, "no buyer known for the order yet; the event is retried", slog.String("order_id", n.OrderID), slog.String("event_id", msg.ID))
		}
		return fmt.Errorf("notification: event %s of order %s: %w", msg.ID, n.OrderID, err)
	}
	attrs := []any{slog.String("order_id", n.OrderID), slog.String("event_id", msg.ID), slog.String("kind", n.Kind.String()), slog.Int64("version", n.Version)}
	switch {
	case out.Queued:
		h.log.InfoContext(ctx, "email queued", append(attrs, slog.String("email_id", out.EmailID))...)
	case out.Skip == notification.SkipBadAddress:
		h.log.WarnContext(ctx, "no email: the buyer's address is not usable", attrs...)
	case out.Skip == notification.SkipNoAddress:
		h.log.InfoContext(ctx, "no email: the buyer has no email address", attrs...)
	default:
		h.log.DebugContext(ctx, "no email: the order was mailed about this version or a newer one", attrs...)
	}
	return nil
}

// NoticeOf maps one ordering event to the notice it gives the buyer.
func NoticeOf(msg events.Message) (notification.Notice, error) {
	mk, ok := orderEventTypes[msg.Type]
	if !ok {
		return notification.Notice{}, fmt.Errorf("notification: event %s has type %q, which this consumer does not handle", msg.ID, msg.Type)
	}
	m := mk()
	if err := events.Decode(msg, m); err != nil {
		return notification.Notice{}, err
	}
	var n notification.Notice
	var err error
	switch e := m.(type) {
	case *orderingv1.OrderPlaced:
		n = notification.Notice{Kind: notification.KindPlaced, OrderID: e.GetOrderId(), Version: e.GetVersion(),
			Buyer: notification.Buyer{Email: e.GetBuyerEmail(), Name: e.GetBuyerName()}, At: e.GetOccurTime().AsTime()}
		if n.Lines, err = lines(e.GetLines()); err == nil {
			n.Total, err = moneyOf(e.GetTotal())
		}
	case *orderingv1.OrderConfirmed:
		n = notification.Notice{Kind: notification.KindConfirmed, OrderID: e.GetOrderId(), Version: e.GetVersion(),
			Buyer: notification.Buyer{Email: e.GetBuyerEmail(), Name: e.GetBuyerName()}, At: e.GetOccurTime().AsTime()}
		if n.Lines, err = lines(e.GetLines()); err == nil {
			n.Total, err = moneyOf(e.GetTotal())
		}
	case *orderingv1.OrderFailed:
		n = notification.Notice{Kind: notification.KindFailed, OrderID: e.GetOrderId(), Version: e.GetVersion(),
			Buyer:  notification.Buyer{Email: e.GetBuyerEmail(), Name: e.GetBuyerName()},
			Reason: reasons[e.GetFailure().GetReason()], Detail: e.GetFailure().GetDetail(), At: e.GetOccurTime().AsTime()}
	case *orderingv1.OrderCancelled:
		n = notification.Notice{Kind: notification.KindCancelled, OrderID: e.GetOrderId(), Version: e.GetVersion(),
			Buyer:        notification.Buyer{Email: e.GetBuyerEmail(), Name: e.GetBuyerName()},
			CancelReason: e.GetReason(), Actor: actors[e.GetActorKind()], At: e.GetOccurTime().AsTime()}
		n.Refund, err = moneyOf(e.GetRefund())
	case *orderingv1.OrderShipped:
		n = notification.Notice{Kind: notification.KindShipped, OrderID: e.GetOrderId(), Version: e.GetVersion(),
			Buyer:    notification.Buyer{Email: e.GetBuyerEmail(), Name: e.GetBuyerName()},
			Tracking: e.GetTrackingNumber(), At: e.GetOccurTime().AsTime()}
	case *orderingv1.OrderCompleted:
		n = notification.Notice{Kind: notification.KindCompleted, OrderID: e.GetOrderId(), Version: e.GetVersion(), At: e.GetOccurTime().AsTime()}
	}
	if err != nil {
		return notification.Notice{}, fmt.Errorf("notification: event %s: %w", msg.ID, err)
	}
	if !id.Valid(id.Canonical(n.OrderID)) {
		return notification.Notice{}, fmt.Errorf("notification: event %s: order_id is not a UUID", msg.ID)
	}
	n.OrderID = id.Canonical(n.OrderID)
	return n, n.Validate()
}

var reasons = map[orderingv1.FailureReason]notification.Reason{
	orderingv1.FailureReason_FAILURE_REASON_OUT_OF_STOCK:          notification.ReasonOutOfStock,
	orderingv1.FailureReason_FAILURE_REASON_BOOK_UNAVAILABLE:      notification.ReasonBookUnavailable,
	orderingv1.FailureReason_FAILURE_REASON_PAYMENT_DECLINED:      notification.ReasonPaymentDeclined,
	orderingv1.FailureReason_FAILURE_REASON_INSUFFICIENT_FUNDS:    notification.ReasonInsufficientFunds,
	orderingv1.FailureReason_FAILURE_REASON_PAYMENT_TIMEOUT:       notification.ReasonPaymentTimeout,
	orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ACTION_FAILED: notification.ReasonPaymentActionFailed,
	orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ERROR:         notification.ReasonPaymentError,
	orderingv1.FailureReason_FAILURE_REASON_STOCK_TIMEOUT:         notification.ReasonStockTimeout,
}

var actors = map[orderingv1.ActorKind]notification.Actor{
	orderingv1.ActorKind_ACTOR_KIND_CUSTOMER: notification.ActorCustomer,
	orderingv1.ActorKind_ACTOR_KIND_ADMIN:    notification.ActorAdmin,
	orderingv1.ActorKind_ACTOR_KIND_SYSTEM:   notification.ActorSystem,
}

func lines(ls []*orderingv1.OrderLine) ([]notification.Line, error) {
	out := make([]notification.Line, 0, len(ls))
	for i, l := range ls {
		unit, err := moneyOf(l.GetUnitPrice())
		if err != nil {
			return nil, fmt.Errorf("line %d: unit_price: %w", i, err)
		}
		total, err := moneyOf(l.GetLineTotal())
		if err != nil {
			return nil, fmt.Errorf("line %d: line_total: %w", i, err)
		}
		out = append(out, notification.Line{Title: l.GetTitle(), Quantity: int(l.GetQuantity()), UnitPrice: unit, LineTotal: total})
	}
	return out, nil
}

// moneyOf is the core's form of a contract amount; the zero Money when m
// is unset.
func moneyOf(m *typev1.Money) (money.Money, error) {
	if m == nil {
		return money.Money{}, nil
	}
	return money.FromUnitsNanos(m.GetCurrencyCode(), m.GetUnits(), m.GetNanos())
}
