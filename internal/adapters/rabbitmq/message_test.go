package rabbitmq

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"google.golang.org/protobuf/proto"
)

func TestNewProtoMessage(t *testing.T) {
	event := &ratingv1.ReviewCreated{ReviewId: "r1", BookId: "b1", Stars: 4}
	m, err := events.NewProtoMessage("rating", event)
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "bookworm.rating.v1.ReviewCreated" || m.Source != "rating" || m.ContentType != events.ContentTypeProtobuf {
		t.Errorf("message = %+v", m)
	}
	id, err := uuid.Parse(m.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("id %q is not a UUIDv7", m.ID)
	}
	if m.Time.IsZero() || m.Time.Location() != time.UTC {
		t.Errorf("time = %v, want now in UTC", m.Time)
	}
	var got ratingv1.ReviewCreated
	if err := proto.Unmarshal(m.Data, &got); err != nil || !proto.Equal(&got, event) {
		t.Errorf("data decodes to %v (%v), want %v", &got, err, event)
	}
}

func TestEnvelopeRoundTrip(t *testing.T) {
	now := time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		msg  Message
		want Message
	}{
		{
			name: "defaults filled",
			msg:  Message{ID: "id1", Type: "a.b.C", Source: "/s", Data: []byte{1, 2}},
			want: Message{ID: "id1", Type: "a.b.C", Source: "/s", Time: now, ContentType: events.ContentTypeProtobuf, Data: []byte{1, 2}, Attempt: 1},
		},
		{
			name: "everything set, time in another zone",
			msg: Message{ID: "id2", Type: "a.b.D", Source: "/s", Time: time.Date(2026, 1, 1, 12, 0, 0, 5, time.FixedZone("x", -7200)),
				TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v",
				ContentType: events.ContentTypeJSON, Data: []byte(`{}`), Attempt: 9},
			want: Message{ID: "id2", Type: "a.b.D", Source: "/s", Time: time.Date(2026, 1, 1, 14, 0, 0, 5, time.UTC),
				TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", TraceState: "k=v",
				ContentType: events.ContentTypeJSON, Data: []byte(`{}`), Attempt: 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := validate(&tt.msg); err != nil {
				t.Fatal(err)
			}
			p := publishing(&tt.msg, now)
			if p.MessageId != tt.msg.ID || p.DeliveryMode != amqp.Persistent || p.Headers[headerSpecVersion] != "1.0" {
				t.Errorf("publishing = %+v", p)
			}
			if err := p.Headers.Validate(); err != nil {
				t.Errorf("headers: %v", err)
			}
			d := amqp.Delivery{Headers: p.Headers, ContentType: p.ContentType, Body: p.Body, MessageId: p.MessageId}
			got, err := decode(&d)
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want.ID || got.Type != tt.want.Type || got.Source != tt.want.Source ||
				!got.Time.Equal(tt.want.Time) || got.Time.Location() != time.UTC ||
				got.TraceParent != tt.want.TraceParent || got.TraceState != tt.want.TraceState ||
				got.ContentType != tt.want.ContentType || string(got.Data) != string(tt.want.Data) || got.Attempt != tt.want.Attempt {
				t.Errorf("decoded %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		msg  Message
		ok   bool
	}{
		{"valid", Message{ID: "1", Type: "t", Source: "/s"}, true},
		{"no id", Message{Type: "t", Source: "/s"}, false},
		{"no type", Message{ID: "1", Source: "/s"}, false},
		{"type too long", Message{ID: "1", Type: strings.Repeat("t", 256), Source: "/s"}, false},
		{"no source", Message{ID: "1", Type: "t"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validate(&tt.msg)
			if tt.ok != (err == nil) || (err != nil && !errors.Is(err, ErrInvalidMessage)) {
				t.Errorf("validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestRetryPublishing(t *testing.T) {
	d := amqp.Delivery{
		Headers: amqp.Table{
			headerID: "id", headerType: "t", "x-death": []any{amqp.Table{"count": int64(1)}},
			"x-delivery-count": int64(3), headerAttempts: int32(1), headerError: "old",
		},
		ContentType: events.ContentTypeJSON, MessageId: "id", Body: []byte("b"),
	}
	// One byte then two-byte runes: the cut at maxErrorHeader splits a rune.
	p := retryPublishing(&d, 2, errors.New("x"+strings.Repeat("é", maxErrorHeader)))
	if _, ok := p.Headers["x-death"]; ok {
		t.Error("x-death copied")
	}
	if _, ok := p.Headers["x-delivery-count"]; ok {
		t.Error("x-delivery-count copied")
	}
	if p.Headers[headerID] != "id" || p.Headers[headerType] != "t" || p.MessageId != "id" || string(p.Body) != "b" || p.ContentType != events.ContentTypeJSON {
		t.Errorf("envelope not kept: %+v", p)
	}
	if got := headerInt(p.Headers, headerAttempts); got != 2 {
		t.Errorf("attempts = %d, want 2", got)
	}
	msg := headerString(p.Headers, headerError)
	if len(msg) > maxErrorHeader || !strings.HasPrefix(msg, "xé") || !utf8.ValidString(msg) || !strings.HasSuffix(msg, "é") {
		t.Errorf("error header of %d bytes not cut at a rune boundary", len(msg))
	}
	if err := p.Headers.Validate(); err != nil {
		t.Errorf("headers: %v", err)
	}
	// The original delivery keeps its headers.
	if _, ok := d.Headers["x-death"]; !ok {
		t.Error("the delivery's headers were changed")
	}
}

func TestHeaderInt(t *testing.T) {
	for _, v := range []any{int8(3), int16(3), int32(3), int64(3), 3, uint8(3), uint16(3), uint32(3), "3"} {
		if got := headerInt(amqp.Table{"k": v}, "k"); got != 3 {
			t.Errorf("headerInt(%T) = %d, want 3", v, got)
		}
	}
	if got := headerInt(amqp.Table{}, "k"); got != 0 {
		t.Errorf("missing header = %d, want 0", got)
	}
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := Config{URL: "amqp://guest:guest@localhost/", Queues: []QueueConfig{{Context: "catalog", EventTypes: []string{"bookworm.rating.v1.*"}}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Exchange != "bookworm.events" || cfg.QueuePrefix != "bookworm" || cfg.Queues[0].MaxAttempts != DefaultMaxAttempts {
		t.Errorf("defaults = %+v", cfg)
	}
	n := newQueueNames(cfg.QueuePrefix, cfg.Deployment, cfg.Queues[0])
	if n.main != "bookworm.catalog" || n.dlq != "bookworm.catalog.dlq" ||
		strings.Join(n.retry, ",") != "bookworm.catalog.retry.1s,bookworm.catalog.retry.5s,bookworm.catalog.retry.30s" {
		t.Errorf("names = %+v", n)
	}
	// MaxAttempts 5 with 3 delays: the 1st..4th failures retry after 1s,
	// 5s, 30s, 30s; the 5th goes to the DLQ.
	want := []string{"bookworm.catalog.retry.1s", "bookworm.catalog.retry.5s", "bookworm.catalog.retry.30s", "bookworm.catalog.retry.30s", "bookworm.catalog.dlq", "bookworm.catalog.dlq"}
	for i, w := range want {
		if got := n.target(i + 1); got != w {
			t.Errorf("target after %d failures = %s, want %s", i+1, got, w)
		}
	}
}

// TestQueueNamesOfADeployment: a deployment's identity is part of every
// queue name, so that two deployments given the same prefix never share a
// queue; the identity is checked.
func TestQueueNamesOfADeployment(t *testing.T) {
	const dep = "0192F3A4-B5C6-7D8E-9F0A-1B2C3D4E5F60"
	cfg, err := Config{URL: "amqp://guest:guest@localhost/", QueuePrefix: "e2e", Deployment: dep,
		Queues: []QueueConfig{{Context: "catalog", EventTypes: []string{"t"}}}}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	n := newQueueNames(cfg.QueuePrefix, cfg.Deployment, cfg.Queues[0])
	if n.main != "e2e.1b2c3d4e5f60.catalog" || n.dlq != "e2e.1b2c3d4e5f60.catalog.dlq" ||
		n.retry[0] != "e2e.1b2c3d4e5f60.catalog.retry.1s" {
		t.Errorf("names = %+v", n)
	}
	other := QueueName("e2e", "0192f3a4-b5c6-7d8e-9f0a-aaaaaaaaaaaa", "catalog")
	if other == n.main {
		t.Errorf("two deployments share the queue %s", other)
	}
	if _, err := (Config{URL: "amqp://localhost/", Deployment: "prod"}).withDefaults(); err == nil {
		t.Error("a deployment that is not a UUID was accepted")
	}
}

func TestConfigInvalid(t *testing.T) {
	q := func(mut func(*QueueConfig)) []QueueConfig {
		c := QueueConfig{Context: "catalog", EventTypes: []string{"t"}}
		mut(&c)
		return []QueueConfig{c}
	}
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no URL", Config{}},
		{"not an AMQP URL", Config{URL: "http://secret@example.com/"}},
		{"bad context name", Config{URL: "amqp://h/", Queues: q(func(c *QueueConfig) { c.Context = "Cat alog" })}},
		{"no event types", Config{URL: "amqp://h/", Queues: q(func(c *QueueConfig) { c.EventTypes = nil })}},
		{"empty event type", Config{URL: "amqp://h/", Queues: q(func(c *QueueConfig) { c.EventTypes = []string{""} })}},
		{"sub-millisecond delay", Config{URL: "amqp://h/", Queues: q(func(c *QueueConfig) { c.RetryDelays = []time.Duration{time.Microsecond} })}},
		{"negative attempts", Config{URL: "amqp://h/", Queues: q(func(c *QueueConfig) { c.MaxAttempts = -1 })}},
		{"context twice", Config{URL: "amqp://h/", Queues: append(q(func(*QueueConfig) {}), q(func(*QueueConfig) {})...)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg); err == nil {
				t.Error("New accepted the config")
			} else if strings.Contains(err.Error(), "secret") {
				t.Errorf("error leaks the URL: %v", err)
			}
		})
	}
}
