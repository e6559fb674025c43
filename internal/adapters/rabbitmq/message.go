package rabbitmq

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// The AMQP headers of the CloudEvents binary mode and of the retry path.
const (
	headerSpecVersion = "ce-specversion"
	headerID          = "ce-id"
	headerType        = "ce-type"
	headerSource      = "ce-source"
	headerTime        = "ce-time"
	headerTraceParent = "traceparent"
	headerTraceState  = "tracestate"
	// headerAttempts counts the failed handler attempts of a retried or
	// dead-lettered copy.
	headerAttempts = "bookworm-attempts"
	// headerError holds the last handler error (or why the message is
	// malformed) of a retried or dead-lettered copy.
	headerError = "bookworm-error"

	specVersion = "1.0"
	// maxErrorHeader bounds the error text copied into headerError.
	maxErrorHeader = 1024
	// maxRoutingKey is AMQP's limit for a routing key (a short string).
	maxRoutingKey = 255
)

// ErrInvalidMessage reports a message that cannot be sent or that arrived
// without the attributes CloudEvents requires.
var ErrInvalidMessage = errors.New("rabbitmq: invalid message")

// Message is the event envelope this package publishes and delivers: the
// broker-neutral events.Message.
type Message = events.Message

// validate checks what publishing needs.
func validate(m *Message) error {
	switch {
	case m.ID == "":
		return fmt.Errorf("%w: empty id", ErrInvalidMessage)
	case m.Type == "":
		return fmt.Errorf("%w %s: empty type", ErrInvalidMessage, m.ID)
	case len(m.Type) > maxRoutingKey:
		return fmt.Errorf("%w %s: type longer than %d bytes", ErrInvalidMessage, m.ID, maxRoutingKey)
	case m.Source == "":
		return fmt.Errorf("%w %s: empty source", ErrInvalidMessage, m.ID)
	}
	return nil
}

// publishing encodes m in the CloudEvents AMQP binary mode. m must be valid.
func publishing(m *Message, now time.Time) amqp.Publishing {
	t := m.Time
	if t.IsZero() {
		t = now
	}
	t = t.UTC()
	contentType := m.ContentType
	if contentType == "" {
		contentType = events.ContentTypeProtobuf
	}
	h := amqp.Table{
		headerSpecVersion: specVersion,
		headerID:          m.ID,
		headerType:        m.Type,
		headerSource:      m.Source,
		headerTime:        t.Format(time.RFC3339Nano),
	}
	if m.TraceParent != "" {
		h[headerTraceParent] = m.TraceParent
	}
	if m.TraceState != "" {
		h[headerTraceState] = m.TraceState
	}
	return amqp.Publishing{
		Headers:      h,
		ContentType:  contentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    m.ID,
		Timestamp:    t,
		Type:         m.Type,
		Body:         m.Data,
	}
}

// decode reads the CloudEvents envelope of a delivery. It fails with
// ErrInvalidMessage when a required attribute is missing or malformed.
func decode(d *amqp.Delivery) (Message, error) {
	m := Message{
		ID:          headerString(d.Headers, headerID),
		Type:        headerString(d.Headers, headerType),
		Source:      headerString(d.Headers, headerSource),
		TraceParent: headerString(d.Headers, headerTraceParent),
		TraceState:  headerString(d.Headers, headerTraceState),
		ContentType: d.ContentType,
		Data:        d.Body,
		Attempt:     headerInt(d.Headers, headerAttempts) + 1,
	}
	if v := headerString(d.Headers, headerSpecVersion); v != specVersion {
		return m, fmt.Errorf("%w: ce-specversion %q, want %q", ErrInvalidMessage, v, specVersion)
	}
	switch {
	case m.ID == "":
		return m, fmt.Errorf("%w: no ce-id", ErrInvalidMessage)
	case m.Type == "":
		return m, fmt.Errorf("%w: no ce-type", ErrInvalidMessage)
	case m.Source == "":
		return m, fmt.Errorf("%w: no ce-source", ErrInvalidMessage)
	}
	if s := headerString(d.Headers, headerTime); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return m, fmt.Errorf("%w: ce-time %q is not RFC 3339", ErrInvalidMessage, s)
		}
		m.Time = t.UTC()
	}
	return m, nil
}

// headerString returns a header that holds text, whichever AMQP string type
// carried it, or "".
func headerString(h amqp.Table, key string) string {
	switch v := h[key].(type) {
	case string:
		return v
	case []byte:
		return string(v)
	}
	return ""
}

// headerInt returns a header that holds a whole number, or 0.
func headerInt(h amqp.Table, key string) int {
	switch v := h[key].(type) {
	case int8:
		return int(v)
	case int16:
		return int(v)
	case int32:
		return int(v)
	case int64:
		return int(v)
	case int:
		return v
	case uint8:
		return int(v)
	case uint16:
		return int(v)
	case uint32:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// retryPublishing copies a delivery for the retry queue or the dead-letter
// queue, recording the failed attempts and the last error. Headers the broker
// added (x-death, x-delivery-count, ...) are left out.
func retryPublishing(d *amqp.Delivery, attempts int, cause error) amqp.Publishing {
	h := make(amqp.Table, len(d.Headers)+2)
	for k, v := range d.Headers {
		if strings.HasPrefix(k, "x-") {
			continue
		}
		h[k] = v
	}
	h[headerAttempts] = int32(attempts)
	msg := "unknown error"
	if cause != nil {
		msg = cause.Error()
	}
	if len(msg) > maxErrorHeader {
		msg = strings.ToValidUTF8(msg[:maxErrorHeader], "")
	}
	h[headerError] = msg
	return amqp.Publishing{
		Headers:         h,
		ContentType:     d.ContentType,
		ContentEncoding: d.ContentEncoding,
		DeliveryMode:    amqp.Persistent,
		MessageId:       d.MessageId,
		Timestamp:       d.Timestamp,
		Type:            d.Type,
		Body:            d.Body,
	}
}
