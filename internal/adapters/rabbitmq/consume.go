package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// Defaults of ConsumeOptions.
const (
	// DefaultConcurrency is how many handlers of one consumer run at once.
	// Handlers mostly wait (for Postgres, for a payment gateway), so a
	// queue is drained by many at once: with 4, the checkout saga's queue
	// capped a server at some 20 orders/s whatever the machine.
	DefaultConcurrency = 16
	// forwardTimeout bounds the wait for the confirm of a copy sent to a
	// retry queue or the dead-letter queue.
	forwardTimeout = 30 * time.Second
	// forwardRetryWait is how long a message that could not be moved to a
	// retry queue or the dead-letter queue is held before it is requeued.
	forwardRetryWait = time.Second
)

// errStopping ends the wait for a connection of a consumer that stops.
var errStopping = errors.New("rabbitmq: consumer stopping")

// Handler is the consumer this package delivers messages to: the
// broker-neutral events.Handler, whose contract it keeps.
type Handler = events.Handler

// ConsumeOptions tunes a consumer. The zero value means the defaults.
type ConsumeOptions struct {
	// Concurrency is how many handlers run at once (default
	// DefaultConcurrency).
	Concurrency int
	// Prefetch is how many unacked messages the broker sends ahead (AMQP
	// basic.qos), at least Concurrency; default twice Concurrency, so that
	// a handler that finishes finds the next message waiting.
	Prefetch int
}

// Consumer delivers the messages of one context's queue to a handler until it
// is shut down. It subscribes again by itself after the broker reconnected
// or its channel broke.
type Consumer struct {
	b     *Broker
	q     *queueNames
	h     Handler
	opts  ConsumeOptions
	tag   string
	log   *slog.Logger
	ctx   context.Context // parent of the handler contexts
	stopC context.CancelFunc

	stopping chan struct{} // closed by Shutdown: stop receiving
	stopOnce sync.Once
	// unsubscribed is closed once the consumer, stopping, has cancelled its
	// subscription (and still waits for its handlers).
	unsubscribed chan struct{}
	done         chan struct{} // closed when every goroutine has returned
}

// Consume starts consuming the queue of the context named contextName (one of
// Config.Queues) with handler h, and returns at once; the consumer waits for
// the broker's connection when there is none yet.
//
// Messages are acked only after h returned nil. A message that fails goes to
// the retry queue of its attempt and comes back after the delay; after
// MaxAttempts failures, at once when h's error is events.Permanent, or at
// once when it is malformed (no ce-id, ce-type,
// ce-source or ce-specversion "1.0", or a ce-time that is not RFC 3339), it
// goes to the dead-letter queue, with the last error in the header
// bookworm-error. Other messages keep flowing meanwhile.
//
// ctx is the parent of every handler's context: when it ends the consumer
// stops at once (handler contexts are cancelled; unacked messages are
// delivered again later). Use Shutdown to stop gracefully.
func (b *Broker) Consume(ctx context.Context, contextName string, h Handler, opts ConsumeOptions) (*Consumer, error) {
	q, ok := b.queues[contextName]
	if !ok {
		return nil, fmt.Errorf("rabbitmq: consume: context %q is not in Config.Queues", contextName)
	}
	if h == nil {
		return nil, errors.New("rabbitmq: consume: nil handler")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.Prefetch <= 0 {
		opts.Prefetch = 2 * opts.Concurrency
	}
	opts.Prefetch = max(opts.Prefetch, opts.Concurrency)
	cctx, cancel := context.WithCancel(ctx)
	c := &Consumer{
		b:            b,
		q:            q,
		h:            h,
		opts:         opts,
		tag:          b.cfg.ConnectionName + "." + contextName + "." + uuid.NewString(),
		log:          b.log.With("queue", q.main),
		ctx:          cctx,
		stopC:        cancel,
		stopping:     make(chan struct{}),
		unsubscribed: make(chan struct{}),
		done:         make(chan struct{}),
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		cancel()
		return nil, ErrClosed
	}
	b.consumers[c] = struct{}{}
	b.mu.Unlock()
	go c.run()
	return c, nil
}

// Shutdown stops the consumer gracefully: it stops receiving messages, lets
// the handlers that are running finish and ack, and returns once every
// goroutine of the consumer has returned. Messages received but not yet
// handled go back to the queue. When ctx ends first, Shutdown cancels the
// handlers' contexts and returns ctx.Err() without waiting further; their
// messages are delivered again later. Shutdown is idempotent.
func (c *Consumer) Shutdown(ctx context.Context) error {
	c.stopOnce.Do(func() { close(c.stopping) })
	select {
	case <-c.done:
		return nil
	case <-ctx.Done():
		c.cancel()
		return ctx.Err()
	}
}

// Done is closed when the consumer has stopped and every goroutine of it
// has returned.
func (c *Consumer) Done() <-chan struct{} { return c.done }

// cancel stops the consumer at once.
func (c *Consumer) cancel() {
	c.stopOnce.Do(func() { close(c.stopping) })
	c.stopC()
}

func (c *Consumer) isStopping() bool {
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// run subscribes, and subscribes again after every loss, until the consumer
// stops.
func (c *Consumer) run() {
	defer close(c.done)
	defer func() {
		c.b.mu.Lock()
		delete(c.b.consumers, c)
		c.b.mu.Unlock()
		c.stopC()
	}()
	// Stop reconnecting when the consumer stops, gracefully or at once.
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	events.Reconnect(ctx, c.b.cfg.ReconnectMinDelay, c.b.cfg.ReconnectMaxDelay,
		func(context.Context) (bool, error) {
			conn, connDone, err := c.b.awaitConn(c.ctx, c.stopping)
			if err != nil {
				return false, err // stopping: ctx ends with it
			}
			subscribed, err := c.serve(conn, connDone)
			if c.isStopping() { // no warning, no retry
				cancel()
			}
			return subscribed, err
		},
		func(err error, wasLive bool, retryIn time.Duration) {
			msg := "rabbitmq consumer cannot subscribe; retrying"
			if wasLive {
				msg = "rabbitmq consumer lost its subscription; subscribing again"
			}
			c.log.Warn(msg, "error", err, "retry_in", retryIn.String())
		})
}

// serve subscribes on a channel of its own and runs the handlers until the
// subscription ends: the consumer stops, the channel or connection is lost,
// or the broker cancels the subscription (the queue was deleted).
// subscribed tells whether the subscription was made.
func (c *Consumer) serve(conn *amqp.Connection, connDone <-chan struct{}) (subscribed bool, err error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, fmt.Errorf("open channel: %w", err)
	}
	// Closing the channel returns the messages received but not acked.
	defer ch.Close()
	// The queue may have been deleted since the broker declared it.
	if err := declareQueues(ch, c.b.cfg.Exchange, c.q); err != nil {
		return false, err
	}
	if err := ch.Qos(c.opts.Prefetch, 0, false); err != nil {
		return false, fmt.Errorf("qos: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	cancelled := ch.NotifyCancel(make(chan string, 1))
	deliveries, err := ch.Consume(c.q.main, c.tag, false, false, false, false, nil)
	if err != nil {
		return false, fmt.Errorf("consume: %w", err)
	}

	var workers sync.WaitGroup
	for range c.opts.Concurrency {
		workers.Go(func() {
			for d := range deliveries {
				// Once stopping, drain without handling: the messages
				// go back to the queue when the channel closes.
				if c.isStopping() || c.ctx.Err() != nil {
					continue
				}
				c.handle(&d)
			}
		})
	}

	select {
	case <-c.stopping:
		err = errStopping
	case <-c.ctx.Done():
		err = c.ctx.Err()
	case e := <-closed:
		err = fmt.Errorf("channel closed: %w", closeError(e))
	case <-connDone:
		err = errors.New("connection lost")
	case <-cancelled:
		err = errors.New("subscription cancelled by the broker")
	}
	// Stop the deliveries; the workers finish the messages they hold
	// (acking them on the still open channel) and return.
	if cerr := ch.Cancel(c.tag, false); cerr != nil && !ch.IsClosed() {
		_ = ch.Close()
	}
	if errors.Is(err, errStopping) {
		close(c.unsubscribed)
	}
	workers.Wait()
	return true, err
}

// handle runs the handler on one delivery and settles it, within the
// delivery's telemetry (Config.Telemetry): its span is the handler's
// parent, and the logs of the delivery carry its trace.
func (c *Consumer) handle(d *amqp.Delivery) {
	msg, err := decode(d)
	ctx, tel := c.b.cfg.Telemetry.StartHandling(c.ctx, c.q.main, msg)
	if err != nil {
		c.log.ErrorContext(ctx, "rabbitmq malformed message; dead-lettering it", "message_id", d.MessageId, "to", c.q.dlq, "error", err)
		c.forward(d, c.q.dlq, 0, err)
		tel.End(events.OutcomeDeadLettered, err)
		return
	}
	err = c.call(ctx, msg)
	if err == nil {
		if err := d.Ack(false); err != nil {
			// The channel is gone: the broker delivers the message
			// again and the handler's inbox drops it.
			c.log.WarnContext(ctx, "rabbitmq ack failed", "event_id", msg.ID, "error", err)
		}
		tel.End(tel.Succeeded(), nil)
		return
	}
	if c.ctx.Err() != nil {
		// Stopped at once while handling: not the message's fault. It
		// stays unacked and is delivered again.
		tel.End(events.OutcomeInterrupted, err)
		return
	}
	attempts := msg.Attempt
	target := c.q.target(attempts)
	if errors.Is(err, events.ErrPermanent) {
		target = c.q.dlq // no retry can cure it
	}
	level, outcome := slog.LevelWarn, events.OutcomeRetried
	if target == c.q.dlq {
		level, outcome = slog.LevelError, events.OutcomeDeadLettered
	}
	c.log.Log(ctx, level, "rabbitmq handler failed", "event_id", msg.ID, "event_type", msg.Type,
		"attempt", attempts, "max_attempts", c.q.MaxAttempts, "to", target, "error", err)
	c.forward(d, target, attempts, err)
	tel.End(outcome, err)
}

// call runs the handler with ctx, turning a panic into an error.
func (c *Consumer) call(ctx context.Context, msg Message) (err error) {
	defer func() {
		if r := recover(); r != nil {
			c.log.WarnContext(ctx, "rabbitmq handler panicked", "event_id", msg.ID, "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return c.h(ctx, msg)
}

// forward sends a copy of d to queue (a retry queue or the dead-letter
// queue) and acks d once the copy is confirmed. When the copy cannot be sent,
// d goes back to its queue (the queue's delivery limit bounds how often).
func (c *Consumer) forward(d *amqp.Delivery, queue string, attempts int, cause error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.ctx), forwardTimeout)
	defer cancel()
	if err := c.b.publishToQueue(ctx, queue, retryPublishing(d, attempts, cause)); err != nil {
		c.log.Warn("rabbitmq could not move a message; requeueing it", "message_id", d.MessageId, "to", queue, "error", err)
		// Wait a little first: the broker is in trouble (reconnecting,
		// or blocking publishers), and a requeued message comes back at
		// once, using up the queue's delivery limit.
		select {
		case <-c.stopping:
		case <-c.ctx.Done():
		case <-time.After(forwardRetryWait):
		}
		_ = d.Nack(false, true)
		return
	}
	if err := d.Ack(false); err != nil {
		c.log.Warn("rabbitmq ack failed after moving a message", "message_id", d.MessageId, "to", queue, "error", err)
	}
}
