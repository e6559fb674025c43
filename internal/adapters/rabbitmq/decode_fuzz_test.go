package rabbitmq

import (
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// FuzzDecode feeds the consumer's envelope decoding whatever headers a
// producer on a shared broker could send: it fails with ErrInvalidMessage
// or returns a message with every required attribute, never panics; and
// what it accepts, published again, decodes to the same message.
func FuzzDecode(f *testing.F) {
	f.Add("1.0", "0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60", "bookworm.rating.v1.ReviewCreated",
		"bookworm://0192f3a4-b5c6-7d8e-9f0a-1b2c3d4e5f60/rating", "2026-12-01T10:00:00.123Z", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", int64(2), []byte{8, 1}, false)
	f.Add("1.0", "id", "t", "/bookworm/catalog", "", "", int64(0), []byte(nil), true)
	f.Add("0.3", "id", "t", "s", "yesterday", "", int64(-5), []byte("x"), true)
	f.Add("1.0", "", "", "", "2026-13-45T99:00:00Z", "", int64(1<<40), []byte{}, false)
	f.Fuzz(func(t *testing.T, spec, id, typ, source, ceTime, traceparent string, attempts int64, body []byte, asBytes bool) {
		str := func(s string) any {
			if asBytes {
				return []byte(s)
			}
			return s
		}
		d := &amqp.Delivery{
			Headers: amqp.Table{
				headerSpecVersion: str(spec), headerID: str(id), headerType: str(typ), headerSource: str(source),
				headerTime: str(ceTime), headerTraceParent: str(traceparent), headerAttempts: attempts,
			},
			ContentType: "application/protobuf",
			Body:        body,
		}
		m, err := decode(d)
		if err != nil {
			return
		}
		if m.ID == "" || m.Type == "" || m.Source == "" {
			t.Fatalf("decoded without a required attribute: %+v", m)
		}
		if err := validate(&m); err != nil {
			return // decodable but not publishable (a type too long for a routing key)
		}
		p := publishing(&m, time.Now())
		back, err := decode(&amqp.Delivery{Headers: p.Headers, ContentType: p.ContentType, Body: p.Body})
		if err != nil {
			t.Fatalf("republished message does not decode: %v", err)
		}
		if back.ID != m.ID || back.Type != m.Type || back.Source != m.Source || back.TraceParent != m.TraceParent ||
			(!m.Time.IsZero() && !back.Time.Equal(m.Time)) || string(back.Data) != string(m.Data) {
			t.Fatalf("round trip changed the message:\n%+v\n%+v", m, back)
		}
	})
}
