package basketstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
)

// BasketSource is the ce-source of the events the basket context publishes.
const BasketSource = "basket"

// enqueue serializes the basket context's domain events (the core decides
// which a change raises) to the contract's messages and writes them to the
// outbox in tx.
func enqueue(ctx context.Context, tx pgx.Tx, evs []basket.Cleared) error {
	msgs := make([]proto.Message, 0, len(evs))
	for _, e := range evs {
		msgs = append(msgs, clearedMessage(e))
	}
	return outbox.Enqueue(ctx, tx, BasketSource, msgs...)
}

// clearedMessage is the contract's BasketCleared of one Cleared.
func clearedMessage(e basket.Cleared) *basketv1.BasketCleared {
	m := &basketv1.BasketCleared{
		UserId:    e.Owner,
		Version:   e.Version,
		Reason:    basketv1.BasketCleared_REASON_CUSTOMER,
		OccurTime: timestamppb.New(e.At),
	}
	if e.OrderID != "" {
		m.Reason, m.OrderId = basketv1.BasketCleared_REASON_ORDER_CONFIRMED, e.OrderID
	}
	return m
}
