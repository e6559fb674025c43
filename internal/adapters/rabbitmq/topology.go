package rabbitmq

import (
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// Defaults of Config and QueueConfig.
const (
	// DefaultExchange is the topic exchange every event is published to.
	DefaultExchange = "bookworm.events"
	// DefaultQueuePrefix starts the name of every queue.
	DefaultQueuePrefix = "bookworm"
	// DefaultMaxAttempts is how many times a handler is tried before the
	// message goes to the dead-letter queue.
	DefaultMaxAttempts = 5

	defaultConnectionName = "bookworm"
	// messagingSystem is the messaging.system of the spans.
	messagingSystem          = "rabbitmq"
	defaultReconnectMinDelay = 100 * time.Millisecond
	defaultReconnectMaxDelay = 10 * time.Second
	defaultHeartbeat         = 10 * time.Second

	// deliveryLimit is the x-delivery-limit of a context's queue: how often
	// one copy of a message may be redelivered without reaching the retry
	// path (the consumer crashed, or lost its connection, while handling
	// it) before the broker dead-letters it. Part of the queue's identity:
	// changing it makes the declaration of existing queues fail.
	deliveryLimit = 20
)

// DefaultRetryDelays are the waits before the second, third and later
// attempts of a failed message.
var DefaultRetryDelays = []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}

// Config configures a Broker. The zero value of every field but URL means its
// default.
type Config struct {
	// URL is the AMQP URL, for example amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// ConnectionName is shown by the broker's tools for the connection
	// (default "bookworm"); naming the replica helps operators.
	ConnectionName string
	// Exchange is the topic exchange (default DefaultExchange).
	Exchange string
	// QueuePrefix starts every queue name (default DefaultQueuePrefix).
	QueuePrefix string
	// Deployment, when set, is the identity (a UUID) of the deployment
	// the broker serves; its random tail (events.DeploymentShort) follows
	// QueuePrefix in every queue name: "<prefix>.<deployment>.<context>".
	// Two deployments on one broker then never share a queue, whatever
	// prefix they are given: competing consumers on a shared queue would
	// each drop the other's events as foreign, losing them for their
	// owner. BookWorm's server always sets it.
	Deployment string
	// Queues lists the consuming contexts whose queues are declared at
	// every connect. Only contexts listed here can be consumed.
	Queues []QueueConfig
	// ReconnectMinDelay and ReconnectMaxDelay bound the exponential back-off
	// between connection attempts (defaults 100 ms and 10 s).
	ReconnectMinDelay time.Duration
	ReconnectMaxDelay time.Duration
	// Logger receives connection state changes and handler failures
	// (default slog.Default()).
	Logger *slog.Logger
	// Telemetry reports every consumer's deliveries: a consumer span each
	// (parented or linked to the producer's trace), and an observation
	// for metrics. The zero value reports nothing.
	Telemetry events.Telemetry
}

// QueueConfig describes the queue of one consuming context.
type QueueConfig struct {
	// Context names the consuming context, for example "catalog": lower
	// case letters, digits, '-' and '_'.
	Context string
	// EventTypes are the event types (ce-type values, which are the routing
	// keys) the context consumes. Topic wildcards are allowed, for example
	// "bookworm.rating.v1.*".
	EventTypes []string
	// RetryDelays are the waits before each further attempt of a message
	// whose handler failed: the n-th failure waits RetryDelays[n-1], or the
	// last delay when there are fewer (default DefaultRetryDelays). Each is
	// a whole number of milliseconds.
	RetryDelays []time.Duration
	// MaxAttempts is how many times a handler is tried before the message
	// goes to the dead-letter queue (default DefaultMaxAttempts; 1 means
	// no retries).
	MaxAttempts int
}

var contextName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// withDefaults returns a copy of c with defaults filled in, or an error
// when c cannot work.
func (c Config) withDefaults() (Config, error) {
	if c.URL == "" {
		return c, errors.New("rabbitmq: config: empty URL")
	}
	if _, err := amqp.ParseURI(c.URL); err != nil {
		// The parse error may quote the URL, password included.
		return c, errors.New("rabbitmq: config: URL is not an AMQP URL")
	}
	if c.ConnectionName == "" {
		c.ConnectionName = defaultConnectionName
	}
	if c.Exchange == "" {
		c.Exchange = DefaultExchange
	}
	if c.QueuePrefix == "" {
		c.QueuePrefix = DefaultQueuePrefix
	}
	if c.Deployment != "" {
		id, err := uuid.Parse(c.Deployment)
		if err != nil {
			return c, fmt.Errorf("rabbitmq: config: deployment %q is not a UUID", c.Deployment)
		}
		c.Deployment = id.String()
	}
	if c.ReconnectMinDelay <= 0 {
		c.ReconnectMinDelay = defaultReconnectMinDelay
	}
	if c.ReconnectMaxDelay <= 0 {
		c.ReconnectMaxDelay = defaultReconnectMaxDelay
	}
	if c.ReconnectMaxDelay < c.ReconnectMinDelay {
		c.ReconnectMaxDelay = c.ReconnectMinDelay
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Telemetry.System == "" {
		c.Telemetry.System = messagingSystem
	}
	queues := make([]QueueConfig, len(c.Queues))
	seen := make(map[string]bool, len(c.Queues))
	for i, q := range c.Queues {
		if !contextName.MatchString(q.Context) {
			return c, fmt.Errorf("rabbitmq: config: context name %q: want lower case letters, digits, '-' and '_'", q.Context)
		}
		if seen[q.Context] {
			return c, fmt.Errorf("rabbitmq: config: context %q listed twice", q.Context)
		}
		seen[q.Context] = true
		if len(q.EventTypes) == 0 {
			return c, fmt.Errorf("rabbitmq: config: context %q consumes no event type", q.Context)
		}
		for _, t := range q.EventTypes {
			if t == "" || len(t) > maxRoutingKey {
				return c, fmt.Errorf("rabbitmq: config: context %q: event type %q is not a routing key", q.Context, t)
			}
		}
		q.EventTypes = append([]string(nil), q.EventTypes...)
		if len(q.RetryDelays) == 0 {
			q.RetryDelays = DefaultRetryDelays
		}
		q.RetryDelays = append([]time.Duration(nil), q.RetryDelays...)
		for _, d := range q.RetryDelays {
			if d < time.Millisecond || d%time.Millisecond != 0 {
				return c, fmt.Errorf("rabbitmq: config: context %q: retry delay %v is not a whole number of milliseconds", q.Context, d)
			}
		}
		if q.MaxAttempts == 0 {
			q.MaxAttempts = DefaultMaxAttempts
		}
		if q.MaxAttempts < 1 {
			return c, fmt.Errorf("rabbitmq: config: context %q: max attempts %d below 1", q.Context, q.MaxAttempts)
		}
		queues[i] = q
	}
	c.Queues = queues
	return c, nil
}

// queueNames are the names of the queues of one consuming context.
type queueNames struct {
	QueueConfig
	main  string
	dlq   string
	retry []string // one per RetryDelays entry
}

// QueueName is the name of the queue of context: "<prefix>.<context>", or
// "<prefix>.<deployment short>.<context>" with a deployment identity.
func QueueName(prefix, deployment, context string) string {
	if deployment == "" {
		return prefix + "." + context
	}
	return prefix + "." + events.DeploymentShort(deployment) + "." + context
}

func newQueueNames(prefix, deployment string, q QueueConfig) queueNames {
	main := QueueName(prefix, deployment, q.Context)
	n := queueNames{QueueConfig: q, main: main, dlq: main + ".dlq"}
	for _, d := range q.RetryDelays {
		n.retry = append(n.retry, main+".retry."+d.String())
	}
	return n
}

// target returns the queue a message goes to after its attempts-th failed
// attempt: a retry queue, or the dead-letter queue when no attempt is left.
func (n *queueNames) target(attempts int) string {
	if attempts >= n.MaxAttempts || len(n.retry) == 0 {
		return n.dlq
	}
	return n.retry[min(attempts, len(n.retry))-1]
}

// declareExchange declares the topic exchange.
func declareExchange(ch *amqp.Channel, exchange string) error {
	if err := ch.ExchangeDeclare(exchange, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("rabbitmq: declare exchange %s: %w", exchange, err)
	}
	return nil
}

// declareQueues declares the queues of one context and binds its queue to
// the exchange. It is idempotent.
func declareQueues(ch *amqp.Channel, exchange string, n *queueNames) error {
	quorum := func(extra amqp.Table) amqp.Table {
		t := amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
		for k, v := range extra {
			t[k] = v
		}
		return t
	}
	// deadLetterTo routes dead letters through the default exchange, which
	// delivers to the queue whose name is the routing key and to no other.
	deadLetterTo := func(queue string) amqp.Table {
		return amqp.Table{
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": queue,
			"x-dead-letter-strategy":    "at-least-once",
			amqp.QueueOverflowArg:       amqp.QueueOverflowRejectPublish,
		}
	}
	declare := func(name string, args amqp.Table) error {
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			return fmt.Errorf("rabbitmq: declare queue %s: %w", name, err)
		}
		return nil
	}
	if err := declare(n.dlq, quorum(nil)); err != nil {
		return err
	}
	for i, name := range n.retry {
		args := quorum(deadLetterTo(n.main))
		args[amqp.QueueMessageTTLArg] = n.RetryDelays[i].Milliseconds()
		if err := declare(name, args); err != nil {
			return err
		}
	}
	args := quorum(deadLetterTo(n.dlq))
	args["x-delivery-limit"] = deliveryLimit
	if err := declare(n.main, args); err != nil {
		return err
	}
	for _, key := range n.EventTypes {
		if err := ch.QueueBind(n.main, key, exchange, false, nil); err != nil {
			return fmt.Errorf("rabbitmq: bind queue %s to %s with %s: %w", n.main, exchange, key, err)
		}
	}
	return nil
}
