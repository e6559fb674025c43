package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

var (
	// ErrUnavailable reports that the broker cannot take messages now: it
	// is not connected, or it blocks publishers (a resource alarm). Nothing
	// was published, or not every message was confirmed; try again later.
	ErrUnavailable = errors.New("rabbitmq: broker unavailable")
	// ErrClosed reports the use of a closed Broker.
	ErrClosed = errors.New("rabbitmq: broker closed")
)

// Broker is a connection to RabbitMQ that reconnects by itself. It declares
// the topology at every connect, publishes events (Publish, PublishBatch) and
// runs consumers (Consume).
//
// amqp091 does not reconnect: Broker watches its connection and its
// publishing channel and, when either is lost, dials again with exponential
// back-off and jitter, declares the topology again, and lets every running
// consumer subscribe again. While it is down, publishing fails at once with
// ErrUnavailable instead of waiting, so that the caller (the outbox relay)
// keeps its rows and retries later.
//
// A Broker is safe for concurrent use. Close it to stop it.
type Broker struct {
	cfg    Config
	log    *slog.Logger
	queues map[string]*queueNames

	mu        sync.Mutex
	conn      *amqp.Connection // nil while down
	connDone  chan struct{}    // closed when conn is lost
	pub       *amqp.Channel    // confirm mode; nil while down or reopening
	changed   chan struct{}    // closed and replaced whenever conn or pub change
	closed    bool
	consumers map[*Consumer]struct{}

	// blocked is set while the broker blocks publishers (connection.blocked).
	blocked atomic.Bool

	stop chan struct{} // closed by Close
	done chan struct{} // closed when the manager goroutine has exited

	// dial opens the network connection; tests replace it to cut the
	// socket under the client.
	dial func(network, addr string) (net.Conn, error)
}

// New starts a Broker that connects in the background; it fails only when cfg
// is not valid. Use WaitReady to wait for the first connection, and Ready for
// a readiness probe.
func New(cfg Config) (*Broker, error) {
	return newBroker(cfg, amqp.DefaultDial(10*time.Second))
}

// newBroker is New with the function that opens the network connection.
func newBroker(cfg Config, dial func(network, addr string) (net.Conn, error)) (*Broker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Broker{
		cfg:       cfg,
		log:       cfg.Logger.With("component", "rabbitmq", "connection", cfg.ConnectionName),
		queues:    make(map[string]*queueNames, len(cfg.Queues)),
		changed:   make(chan struct{}),
		consumers: make(map[*Consumer]struct{}),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		dial:      dial,
	}
	for _, q := range cfg.Queues {
		n := newQueueNames(cfg.QueuePrefix, cfg.Deployment, q)
		b.queues[q.Context] = &n
	}
	go b.manage()
	return b, nil
}

// Ready reports whether the broker is connected, its topology declared and
// its publishing channel open.
func (b *Broker) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pub != nil && !b.blocked.Load()
}

// WaitReady waits until Ready is true. It fails when ctx ends first or the
// broker is closed.
func (b *Broker) WaitReady(ctx context.Context) error {
	for {
		b.mu.Lock()
		closed, ready, changed := b.closed, b.pub != nil, b.changed
		b.mu.Unlock()
		switch {
		case closed:
			return ErrClosed
		case ready:
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rabbitmq: wait until ready: %w", ctx.Err())
		case <-changed:
		}
	}
}

// Close stops every consumer still running at once (as if its context was
// cancelled; Shutdown them first for a graceful stop), then closes the
// connection. It waits until every goroutine of the broker has returned,
// handlers included. Close is idempotent.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		<-b.done
		return nil
	}
	b.closed = true
	consumers := make([]*Consumer, 0, len(b.consumers))
	for c := range b.consumers {
		consumers = append(consumers, c)
	}
	b.notifyLocked()
	b.mu.Unlock()

	for _, c := range consumers {
		c.cancel()
	}
	for _, c := range consumers {
		<-c.done
	}
	close(b.stop)
	<-b.done
	return nil
}

// notifyLocked wakes everyone waiting for a change of state. b.mu is held.
func (b *Broker) notifyLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// publisher returns the publishing channel, or an error at once when there
// is none.
func (b *Broker) publisher() (*amqp.Channel, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return nil, ErrClosed
	case b.pub == nil:
		return nil, fmt.Errorf("%w: not connected", ErrUnavailable)
	case b.blocked.Load():
		return nil, fmt.Errorf("%w: the broker blocks publishers (resource alarm)", ErrUnavailable)
	}
	return b.pub, nil
}

// awaitConn waits for a connection. It fails when ctx ends, stop is closed
// or the broker is closed.
func (b *Broker) awaitConn(ctx context.Context, stop <-chan struct{}) (*amqp.Connection, <-chan struct{}, error) {
	for {
		b.mu.Lock()
		closed, conn, connDone, changed := b.closed, b.conn, b.connDone, b.changed
		b.mu.Unlock()
		switch {
		case closed:
			return nil, nil, ErrClosed
		case conn != nil:
			return conn, connDone, nil
		}
		select {
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		case <-stop:
			return nil, nil, errStopping
		case <-changed:
		}
	}
}

// manage connects, and connects again whenever the connection is lost, until
// Close (events.Reconnect, the one reconnect loop).
func (b *Broker) manage() {
	defer close(b.done)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-b.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	events.Reconnect(ctx, b.cfg.ReconnectMinDelay, b.cfg.ReconnectMaxDelay,
		func(context.Context) (bool, error) {
			connected, err := b.session()
			select {
			case <-b.stop: // closed: no warning, no retry
				cancel()
			default:
			}
			return connected, err
		},
		func(err error, wasLive bool, retryIn time.Duration) {
			msg := "rabbitmq cannot connect; retrying"
			if wasLive {
				msg = "rabbitmq connection lost; reconnecting"
			}
			b.log.Warn(msg, slog.Any("error", err), slog.String("retry_in", retryIn.String()))
		})
}

// session dials, declares the topology and serves the connection until it
// is lost or the broker is closed. connected tells whether the connection
// became ready (so the back-off starts over).
func (b *Broker) session() (connected bool, err error) {
	conn, err := amqp.DialConfig(b.cfg.URL, amqp.Config{
		Heartbeat:  defaultHeartbeat,
		Properties: amqp.Table{"connection_name": b.cfg.ConnectionName},
		Dial:       b.dial,
	})
	if err != nil {
		return false, fmt.Errorf("dial: %w", err)
	}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	// amqp091 closes the blocking channel when the connection ends, which
	// ends this goroutine.
	blocking := conn.NotifyBlocked(make(chan amqp.Blocking, 1))
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		for bl := range blocking {
			b.blocked.Store(bl.Active)
			if bl.Active {
				b.log.Warn("rabbitmq blocks publishers", "reason", bl.Reason)
			} else {
				b.log.Info("rabbitmq unblocked publishers")
			}
		}
	}()
	defer func() {
		_ = conn.Close()
		<-drained
		b.blocked.Store(false)
	}()

	ch, err := b.openPublisher(conn)
	if err != nil {
		return false, err
	}
	connDone := make(chan struct{})
	b.mu.Lock()
	b.conn, b.connDone = conn, connDone
	b.notifyLocked()
	b.mu.Unlock()
	b.log.Info("rabbitmq connected")
	defer func() {
		b.mu.Lock()
		b.conn, b.connDone, b.pub = nil, nil, nil
		close(connDone)
		b.notifyLocked()
		b.mu.Unlock()
	}()

	// Serve the publishing channel; reopen it (declaring the topology again:
	// a channel error may mean that someone deleted the exchange) when it is
	// lost while the connection lives.
	failures := 0
	for {
		chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
		b.mu.Lock()
		b.pub = ch
		b.notifyLocked()
		b.mu.Unlock()

		select {
		case <-b.stop:
			return true, nil
		case e := <-connClosed:
			return true, closeError(e)
		case e := <-chClosed:
			b.mu.Lock()
			b.pub = nil
			b.notifyLocked()
			b.mu.Unlock()
			b.log.Warn("rabbitmq publishing channel lost; reopening", "error", closeError(e))
		}

		for {
			ch, err = b.openPublisher(conn)
			if err == nil {
				failures = 0
				break
			}
			if conn.IsClosed() {
				return true, err
			}
			failures++
			delay := events.Backoff(b.cfg.ReconnectMinDelay, b.cfg.ReconnectMaxDelay, failures)
			b.log.Warn("rabbitmq publishing channel failed; reopening", "error", err, "retry_in", delay.String())
			select {
			case <-b.stop:
				return true, nil
			case e := <-connClosed:
				return true, closeError(e)
			case <-time.After(delay):
			}
		}
	}
}

// declare declares the exchange and every context's queues on a channel of
// its own.
func (b *Broker) declare(conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	if err := declareExchange(ch, b.cfg.Exchange); err != nil {
		return err
	}
	for _, q := range b.cfg.Queues {
		if err := declareQueues(ch, b.cfg.Exchange, b.queues[q.Context]); err != nil {
			return err
		}
	}
	return nil
}

// openPublisher declares the topology and opens a channel in confirm mode.
func (b *Broker) openPublisher(conn *amqp.Connection) (*amqp.Channel, error) {
	if err := b.declare(conn); err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("open channel: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("confirm mode: %w", err)
	}
	return ch, nil
}

// closeError turns a close notification into an error; amqp091 closes the
// notification channel without a value on a normal close.
func closeError(e *amqp.Error) error {
	if e == nil {
		return errors.New("closed")
	}
	return e
}
