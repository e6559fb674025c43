// Package rabbitmq carries BookWorm's events over RabbitMQ with amqp091-go:
// a publisher with publisher confirms for the outbox relay, consumers that ack
// only after their handler committed, retries with increasing delay, a
// dead-letter queue per consumer, and a connection manager that reconnects.
// It implements the broker-neutral package events (events.Publisher through
// PublishBatch; consumers deliver to events.Handlers) and knows nothing of
// the outbox or Postgres: Message and Handler are the events types.
//
// # Envelope
//
// Every event is a CloudEvents 1.0 message in binary mode: the attributes
// travel as AMQP headers (ce-specversion "1.0", ce-id, ce-type, ce-source,
// ce-time as RFC 3339 in UTC, and the W3C traceparent when there is one), the
// data is the message body, and datacontenttype is the AMQP content-type
// property (application/protobuf by default, application/json allowed). The
// AMQP message-id is the ce-id and messages are persistent.
//
// # Topology
//
// Declared at every (re)connect, idempotently, before the broker reports
// itself ready (so that no event is published before the queues that want it
// exist):
//
//   - the durable topic exchange Config.Exchange (default "bookworm.events");
//     the routing key of an event is its ce-type;
//   - for each QueueConfig: the durable quorum queue
//     "<prefix>.<deployment>.<context>" (default prefix "bookworm", so
//     "bookworm.1b2c3d4e5f60.catalog"), bound to the exchange with each of
//     the context's event types;
//   - one retry queue per delay, "<queue>.retry.<delay>" (for example
//     "bookworm.1b2c3d4e5f60.catalog.retry.5s"): a quorum queue whose message
//     TTL is the delay and which dead-letters expired messages back to the
//     context's queue (through the default exchange, so other contexts never
//     see the retry);
//   - the dead-letter queue "<queue>.dlq".
//
// # Deployments sharing a broker
//
// <deployment> is the last 12 hex digits (the random part) of
// Config.Deployment, the identity of the deployment the broker serves (see
// events.Guard): queue names derive from it, even under an explicitly
// configured prefix, so two deployments on one broker never share a queue.
// A shared queue would be worse than no isolation at all: its competing
// consumers would each drop the other deployment's events as foreign, and
// those would be lost for their owner. The exchange may be shared: every
// deployment's queues then receive every event, and each deployment's Guard
// drops and counts the others'. Without a Deployment (tests, other users of
// the package) the queues are "<prefix>.<context>" as before. Upgrading a
// BookWorm from before deployment identities leaves its old queues
// ("bookworm.catalog", ...) bound and filling up: drain and delete them
// (the README says how).
//
// Dead-lettering between these quorum queues uses the at-least-once strategy,
// so a retried message is not lost when a broker node fails. The context's
// queue also has a delivery limit (x-delivery-limit) as a safety net: a
// message whose handler crashes the process again and again, so that it never
// reaches the retry path, still ends in the dead-letter queue.
//
// # Retries
//
// When a handler returns an error, the consumer republishes a copy of the
// message (with the header bookworm-attempts counting the failed attempts and
// bookworm-error holding the last error) to the retry queue for that attempt,
// waits for the broker's confirm and only then acks the original. After
// QueueConfig.MaxAttempts failed attempts, or at once when the handler's
// error is events.Permanent (an anomaly no retry cures), the copy goes to
// the dead-letter queue instead. A malformed message (no ce-type, no ce-id, ...) goes straight
// to the dead-letter queue. Other messages flow on meanwhile.
//
// # Delivery guarantees
//
// Delivery is at least once: a message is acked only after its handler
// returned nil, so a crash, a lost connection or a lost ack means the message
// is delivered again, and a publish whose confirm was lost is published again
// by the caller. Handlers make the effects exactly once by recording the event
// id (an inbox row) in the same transaction as their writes.
//
// The retry and dead-letter queues are declared at every connect and every
// subscription. Do not delete them while consumers run: a copy sent to a
// queue that does not exist is unroutable, and the broker drops it.
package rabbitmq
