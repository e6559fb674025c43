package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	bwevents "github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
)

// eventsConfig is the event backbone part of the configuration: the broker,
// the outbox relay and the inbox.
type eventsConfig struct {
	AMQPURL string
	// Exchange and QueuePrefix name the broker's topology. Queue names
	// also carry the deployment's identity (<prefix>.<deployment>.<context>),
	// so deployments on one broker never share a queue even with equal
	// settings; on a shared exchange each one drops (and counts) the
	// other's events, so giving each its own exchange spares that traffic.
	Exchange        string
	QueuePrefix     string
	OutboxRetention time.Duration
	InboxRetention  time.Duration
	RelayWorkers    int
	RelayBatch      int
	// ConsumerConcurrency is how many deliveries each consuming queue
	// handles at once (handlers mostly wait for Postgres or a gateway).
	ConsumerConcurrency int
}

// eventsFlags registers the flags of eventsConfig with the helpers of
// parseConfig.
func eventsFlags(e *eventsConfig,
	str func(*string, string, string, string),
	integer func(*int, string, int, string),
	duration func(*time.Duration, string, time.Duration, string),
) {
	str(&e.AMQPURL, "amqp-url", "amqp://guest:guest@127.0.0.1:5672/", "RabbitMQ URL")
	str(&e.Exchange, "amqp-exchange", rabbitmq.DefaultExchange, "topic exchange the events are published to")
	str(&e.QueuePrefix, "amqp-queue-prefix", rabbitmq.DefaultQueuePrefix, "start of the name of every queue (<prefix>.<deployment>.<context>)")
	duration(&e.OutboxRetention, "outbox-retention", outbox.DefaultOutboxRetention, "how long published events stay in the outbox")
	duration(&e.InboxRetention, "inbox-retention", 30*24*time.Hour, "how long consumers remember the events they applied (duplicates older than this are applied again); 0 keeps them for ever")
	integer(&e.RelayWorkers, "relay-workers", outbox.DefaultRelayWorkers, "outbox batches each replica has in flight at once")
	integer(&e.RelayBatch, "relay-batch", outbox.DefaultRelayBatchSize, "most events in one outbox batch")
	integer(&e.ConsumerConcurrency, "consumer-concurrency", rabbitmq.DefaultConcurrency, "deliveries each consuming queue handles at once")
}

// finish validates eventsConfig after parsing.
func (e *eventsConfig) finish() []error {
	var errs []error
	if err := checkAMQPURL(e.AMQPURL); err != nil {
		errs = append(errs, err)
	}
	if e.Exchange == "" || e.QueuePrefix == "" {
		errs = append(errs, errors.New("amqp-exchange and amqp-queue-prefix must not be empty"))
	}
	if e.OutboxRetention <= 0 {
		errs = append(errs, errors.New("outbox-retention must be positive"))
	}
	if e.InboxRetention < 0 {
		errs = append(errs, errors.New("inbox-retention must not be negative"))
	}
	if e.RelayWorkers < 1 || e.RelayWorkers > 64 {
		errs = append(errs, errors.New("relay-workers must be between 1 and 64"))
	}
	if e.ConsumerConcurrency < 1 || e.ConsumerConcurrency > 1000 {
		errs = append(errs, errors.New("consumer-concurrency must be between 1 and 1000"))
	}
	if e.RelayBatch < 1 || e.RelayBatch > 10_000 {
		errs = append(errs, errors.New("relay-batch must be between 1 and 10000"))
	}
	return errs
}

// eventConsumer is one consuming context: the event types its queue
// (<prefix>.<deployment>.<context>) takes, and the handler that applies
// them (startEvents puts the deployment's Guard in front of it).
// Handlers record what they applied with outbox.HandleOnce (or
// outbox.Handler), so that redelivered events change nothing.
type eventConsumer struct {
	context    string
	eventTypes []string
	handler    rabbitmq.Handler
	options    rabbitmq.ConsumeOptions
}

// events is the running event backbone: the broker connection, the outbox
// relay and the consumers.
type events struct {
	log       *slog.Logger
	guard     *bwevents.Guard
	broker    *rabbitmq.Broker
	relay     *outbox.Relay
	consumers []*rabbitmq.Consumer

	stopRelay context.CancelFunc
	relayDone chan struct{}
	stopOnce  sync.Once
}

// startEvents connects to the broker (in the background: the outbox keeps
// the events while it is down), starts the relay and the consumers. The
// queues of declared are declared at every connect, before anything is
// published, so that no event is routed before its queue exists, even
// when the process consuming it is not up yet; consumers are the queues
// this process consumes. ctx bounds the consumers and the relay; stop them
// with shutdown.
//
// The deployment's identity, read from the database, names the queues and
// guards every consumer: events another deployment published are dropped
// before any handler sees them, whatever context consumes them.
func startEvents(ctx context.Context, cfg eventsConfig, pool *pgxpool.Pool, declared, consumers []eventConsumer, obs obsSetup, log *slog.Logger) (*events, error) {
	deployment, err := outbox.Deployment(ctx, pool)
	if err != nil {
		return nil, err
	}
	guard, err := bwevents.NewGuard(deployment, log)
	if err != nil {
		return nil, err
	}
	queues := make([]rabbitmq.QueueConfig, 0, len(declared))
	for _, c := range declared {
		queues = append(queues, rabbitmq.QueueConfig{Context: c.context, EventTypes: c.eventTypes})
	}
	host, _ := os.Hostname()
	broker, err := rabbitmq.New(rabbitmq.Config{
		URL:            cfg.AMQPURL,
		ConnectionName: fmt.Sprintf("bookworm %s:%d", host, os.Getpid()),
		Exchange:       cfg.Exchange,
		QueuePrefix:    cfg.QueuePrefix,
		Deployment:     deployment,
		Queues:         queues,
		Logger:         log,
		Telemetry:      obs.eventTelemetry(),
	})
	if err != nil {
		return nil, err
	}
	e := &events{log: log, guard: guard, broker: broker, relayDone: make(chan struct{})}
	e.relay = outbox.NewRelay(pool, broker, outbox.RelayConfig{
		BatchSize:      cfg.RelayBatch,
		Workers:        cfg.RelayWorkers,
		Retention:      cfg.OutboxRetention,
		InboxRetention: cfg.InboxRetention,
		Logger:         log,
		TracerProvider: obs.tracing.Provider(),
	})
	relayCtx, stopRelay := context.WithCancel(ctx)
	e.stopRelay = stopRelay
	go func() {
		defer close(e.relayDone)
		_ = e.relay.Run(relayCtx)
	}()
	for _, c := range consumers {
		if c.options.Concurrency == 0 {
			c.options.Concurrency = cfg.ConsumerConcurrency
		}
		cons, err := broker.Consume(ctx, c.context, guard.Handler(c.handler), c.options)
		if err != nil {
			e.shutdown(context.Background())
			return nil, fmt.Errorf("consume %s: %w", c.context, err)
		}
		e.consumers = append(e.consumers, cons)
	}
	log.Info("event backbone started", slog.String("deployment", deployment), slog.String("exchange", cfg.Exchange),
		slog.String("queue_prefix", rabbitmq.QueueName(cfg.QueuePrefix, deployment, "")),
		slog.Int("queues", len(queues)), slog.Int("consumers", len(consumers)))
	return e, nil
}

// ping is the broker's readiness for /readyz.
func (e *events) ping(context.Context) error {
	if !e.broker.Ready() {
		return errors.New("rabbitmq: not connected")
	}
	return nil
}

// shutdown stops the backbone gracefully within ctx: the consumers finish
// the handlers they are running and ack them, the relay finishes its
// batches in flight and then publishes what the last writes left in the
// outbox, and the connection closes. What does not fit in ctx stays safe:
// unacked messages are delivered again, unpublished events wait in the
// outbox for another replica or the next start.
func (e *events) shutdown(ctx context.Context) {
	e.stopOnce.Do(func() {
		for _, c := range e.consumers {
			if err := c.Shutdown(ctx); err != nil {
				e.log.Warn("consumer shutdown", slog.Any("error", err))
			}
		}
		e.stopRelay()
		<-e.relayDone
		if e.broker.Ready() {
			if err := e.relay.Flush(ctx); err != nil {
				e.log.Warn("outbox not flushed; the events wait for the next relay", slog.Any("error", err))
			}
		}
		_ = e.broker.Close()
	})
}
