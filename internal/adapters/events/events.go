// Package events is the broker-neutral vocabulary of BookWorm's event
// backbone: the Message every event travels in, the Handler that consumers
// are, the Publisher the outbox relay publishes through, and the few small
// helpers every side needs alike (decoding a message's data, carrying the
// producer's trace, the back-off between retries).
//
// It is the interface package beside its implementations (as buf's storage
// beside storagemem and storageos, or watermill's message beside its
// Pub/Subs): internal/adapters/rabbitmq implements Publisher and delivers to
// Handlers; internal/adapters/postgres/outbox relays the outbox through any
// Publisher and wraps consumers into idempotent Handlers. Neither imports the
// other; both import this package, and any adapter may.
package events

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Content types of the event data.
const (
	// ContentTypeProtobuf marks data that is a binary protobuf message of
	// the type named by Message.Type.
	ContentTypeProtobuf = "application/protobuf"
	// ContentTypeJSON marks data that is the protobuf JSON form of the
	// message.
	ContentTypeJSON = "application/json"
)

// Message is one event in its CloudEvents envelope. Publishers fill it (see
// NewMessage and NewProtoMessage); consumers receive it with every field as
// published, Attempt included.
type Message struct {
	// ID is the event id (ce-id), a UUIDv7. It is unique per event;
	// consumers deduplicate on it. Required.
	ID string
	// Type is the event type (ce-type, and the routing key): the full name
	// of the protobuf message in Data, for example
	// "bookworm.rating.v1.ReviewCreated". Required.
	Type string
	// Source names the context that produced the event (ce-source), for
	// example "bookworm://<deployment>/catalog" (outbox.Enqueue writes it). Required.
	Source string
	// Time is when the event happened (ce-time). Publishing sets it to the
	// current time when it is zero.
	Time time.Time
	// TraceParent is the W3C traceparent of the producing span, carried
	// through unchanged; empty when there is none.
	TraceParent string
	// TraceState is the W3C tracestate that goes with TraceParent, or empty.
	TraceState string
	// ContentType is the media type of Data: ContentTypeProtobuf (the
	// default when empty) or ContentTypeJSON.
	ContentType string
	// Data is the serialized event.
	Data []byte
	// Attempt numbers the handler attempts of the message: 1 the first
	// time, 2 after the handler failed once, and so on up to the consumer's
	// limit. A redelivery after a crash or a lost connection is not a
	// failed attempt and keeps the number. Publishing ignores it.
	Attempt int
}

// NewMessage returns a message with a new UUIDv7 id and the current time, for
// protobuf data.
func NewMessage(typ, source string, data []byte) Message {
	return Message{
		ID:          uuid.Must(uuid.NewV7()).String(),
		Type:        typ,
		Source:      source,
		Time:        time.Now().UTC(),
		ContentType: ContentTypeProtobuf,
		Data:        data,
	}
}

// NewProtoMessage returns a message with a new id whose type is the full name
// of event and whose data is its binary protobuf encoding.
func NewProtoMessage(source string, event proto.Message) (Message, error) {
	data, err := proto.Marshal(event)
	if err != nil {
		return Message{}, fmt.Errorf("events: marshal %s: %w", TypeOf(event), err)
	}
	return NewMessage(TypeOf(event), source, data), nil
}

// TypeOf is the event type (ce-type) of a protobuf event: its full name.
func TypeOf(event proto.Message) string { return string(proto.MessageName(event)) }

// Decode reads the data of msg into m: binary protobuf, or protobuf JSON
// when the content type says so (unknown JSON fields are ignored, as unknown
// binary fields are, so that producers may add fields).
func Decode(msg Message, m proto.Message) error {
	var err error
	if msg.ContentType == ContentTypeJSON {
		err = protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(msg.Data, m)
	} else {
		err = proto.Unmarshal(msg.Data, m)
	}
	if err != nil {
		return fmt.Errorf("event %s: cannot decode %s: %w", msg.ID, msg.Type, err)
	}
	return nil
}

// Handler handles one message. It returns nil only when the message's
// effects are committed (together with the inbox row that records msg.ID):
// the message is then acknowledged. Any other result (an error, a panic)
// sends the message to the retry path, and after the consumer's limit of
// failed attempts to its dead-letter queue. The same message may be handled
// again after a crash or a lost acknowledgement, and copies of one event may
// be handled concurrently, so handlers must be idempotent. ctx is cancelled
// when the consumer stops at once; the message is then handled again later.
type Handler func(ctx context.Context, msg Message) error

// Publisher takes batches of events to the broker.
//
// PublishBatch publishes every message of msgs and reports, for each in
// order, whether the broker confirmed it (took responsibility for it), with
// a nil error only when all were confirmed. A message that was not confirmed
// may or may not have been delivered: the caller publishes it again, and
// consumers drop the duplicate by id. ctx bounds the wait for confirms.
// PublishBatch must be safe for concurrent use.
type Publisher interface {
	PublishBatch(ctx context.Context, msgs []Message) ([]bool, error)
}

// Readiness is what a Publisher may also offer to say whether it can publish
// now, so that a caller waits for the broker instead of trying batches it
// cannot publish. Ready must be cheap; WaitReady returns nil once Ready
// would be true, or ctx's error.
type Readiness interface {
	Ready() bool
	WaitReady(ctx context.Context) error
}
