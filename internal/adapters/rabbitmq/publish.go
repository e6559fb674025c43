package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrNotConfirmed reports messages the broker did not confirm: it nacked
// them, or the channel was lost before their confirm arrived. Such a message
// may or may not have been delivered; publish it again (consumers drop
// duplicates by event id).
var ErrNotConfirmed = errors.New("rabbitmq: publish not confirmed")

// Publish publishes msg to the exchange with its type as the routing key and
// waits for the broker's confirm. See PublishBatch.
func (b *Broker) Publish(ctx context.Context, msg Message) error {
	_, err := b.PublishBatch(ctx, []Message{msg})
	return err
}

// PublishBatch publishes every message of msgs to the exchange (routing key =
// Type) in the CloudEvents binary mode, as persistent messages, then waits for
// the broker's publisher confirms of all of them: the whole batch is in flight
// at once, not one publish-and-wait at a time.
//
// It returns, for each message in the order of msgs, whether the broker
// confirmed it, and nil only when every message was confirmed. A caller such
// as an outbox relay marks exactly the confirmed messages as published and
// sends the others again later. The error wraps, as errors.Is sees them:
// ErrInvalidMessage for a message that lacks ID, Type or Source (it is not
// sent, the others are); ErrUnavailable when the broker is down or blocks
// publishers (fails at once, nothing is sent) or the channel broke while
// sending; ErrNotConfirmed for messages the broker nacked or whose confirm was
// lost with the channel; ErrClosed after Close; and ctx.Err() when ctx ended
// before every confirm arrived (the rest count as not confirmed).
//
// A confirm means the broker has taken responsibility for the message: the
// quorum queues it was routed to have it on a majority of their replicas, or
// no queue was bound for its type. Declare every consuming context in
// Config.Queues so that no event is published before its queue exists.
//
// ctx bounds the wait for confirms; pass one with a deadline. (It cannot
// interrupt a send already blocked in the socket, which amqp091 does not
// allow; the broker announces such blocking with connection.blocked first,
// and PublishBatch then fails at once.)
//
// PublishBatch is safe for concurrent use; concurrent batches share one
// channel and their confirms do not wait for each other.
func (b *Broker) PublishBatch(ctx context.Context, msgs []Message) ([]bool, error) {
	confirmed := make([]bool, len(msgs))
	if len(msgs) == 0 {
		return confirmed, nil
	}
	if err := ctx.Err(); err != nil {
		return confirmed, err
	}
	ch, err := b.publisher()
	if err != nil {
		return confirmed, err
	}
	var errs []error
	pending := make([]*amqp.DeferredConfirmation, len(msgs))
	now := time.Now()
	for i := range msgs {
		m := &msgs[i]
		if err := validate(m); err != nil {
			errs = append(errs, err)
			continue
		}
		dc, err := ch.PublishWithDeferredConfirm(b.cfg.Exchange, m.Type, false, false, publishing(m, now))
		if err != nil {
			// The channel broke: the rest would fail the same way.
			errs = append(errs, fmt.Errorf("%w: publish: %v", ErrUnavailable, err))
			break
		}
		pending[i] = dc
	}
	nacked := 0
	for i, dc := range pending {
		if dc == nil {
			continue
		}
		ack, err := dc.WaitContext(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("rabbitmq: wait for confirms: %w", err))
			break
		}
		if !ack {
			nacked++
			continue
		}
		confirmed[i] = true
	}
	if nacked > 0 {
		errs = append(errs, fmt.Errorf("%w: %d of %d messages nacked or lost with the channel", ErrNotConfirmed, nacked, len(msgs)))
	}
	return confirmed, errors.Join(errs...)
}

// publishToQueue sends p straight to one queue (through the default
// exchange) and waits for its confirm. Consumers use it for the retry and
// dead-letter queues.
func (b *Broker) publishToQueue(ctx context.Context, queue string, p amqp.Publishing) error {
	ch, err := b.publisher()
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirm("", queue, false, false, p)
	if err != nil {
		return fmt.Errorf("%w: publish: %v", ErrUnavailable, err)
	}
	ack, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("rabbitmq: wait for confirm: %w", err)
	case !ack:
		return ErrNotConfirmed
	}
	return nil
}

// Destination names where the broker publishes, for the spans of the
// batches published through it (events.Destination): the exchange.
func (b *Broker) Destination() (system, name string) { return messagingSystem, b.cfg.Exchange }
