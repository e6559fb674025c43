package rabbitmq

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/testenv"
)

// testType is the event type the tests publish and consume.
const testType = "bookworm.test.v1.ThingHappened"

// testContext names the consuming context of the tests.
const testContext = "svc"

// waitLimit bounds every wait of the tests: conditions are polled until they
// hold, and a test fails only when one never does within this time.
const waitLimit = 60 * time.Second

// testBroker is the package's RabbitMQ: a container of its own (testenv),
// or the machine's shared broker when no container engine answers, which is
// why every test still uses exchange and queue names of its own.
var testBroker *testenv.RabbitMQServer

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(func() int {
		var err error
		if testBroker, err = testenv.PackageRabbitMQ(context.Background()); err != nil {
			fmt.Fprintln(os.Stderr, "rabbitmq tests:", err)
			return 1
		}
		return m.Run()
	}))
}

func amqpURL() string { return testBroker.URL }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// testConfig returns a config whose exchange and queues are unique to the
// test (other tests share the broker) and removes them at cleanup.
func testConfig(t *testing.T) Config {
	t.Helper()
	prefix := "test-" + randomHex(6)
	cfg := Config{
		URL:               amqpURL(),
		ConnectionName:    prefix,
		Exchange:          prefix + ".events",
		QueuePrefix:       prefix,
		ReconnectMinDelay: 20 * time.Millisecond,
		ReconnectMaxDelay: 500 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelError})),
		Queues: []QueueConfig{{
			Context:     testContext,
			EventTypes:  []string{testType},
			RetryDelays: []time.Duration{20 * time.Millisecond, 50 * time.Millisecond},
			MaxAttempts: 3,
		}},
	}
	t.Cleanup(func() { deleteTopology(t, cfg) })
	return cfg
}

// testWriter sends log lines to the test's log, and drops them once the
// test has finished (goroutines may still log while they stop).
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }()
	w.t.Log(string(p))
	return len(p), nil
}

// deleteTopology removes the exchange and every queue cfg declares.
func deleteTopology(tb testing.TB, cfg Config) {
	tb.Helper()
	cfg, err := cfg.withDefaults()
	if err != nil {
		tb.Errorf("cleanup: %v", err)
		return
	}
	conn, err := amqp.Dial(amqpURL())
	if err != nil {
		tb.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		tb.Errorf("cleanup: %v", err)
		return
	}
	for _, q := range cfg.Queues {
		n := newQueueNames(cfg.QueuePrefix, cfg.Deployment, q)
		for _, name := range append([]string{n.main, n.dlq}, n.retry...) {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				tb.Errorf("cleanup: delete queue %s: %v", name, err)
				return
			}
		}
	}
	if err := ch.ExchangeDelete(cfg.Exchange, false, false); err != nil {
		tb.Errorf("cleanup: delete exchange %s: %v", cfg.Exchange, err)
	}
}

// admins holds the admin connection of each running test.
var admins sync.Map // *testing.T -> *amqp.Connection

// adminChannel returns a new channel on the test's own connection (opened
// once per test and closed at cleanup), to inspect and disturb the broker.
// A channel that a failed operation closed is simply not used again.
func adminChannel(t *testing.T) *amqp.Channel {
	t.Helper()
	var conn *amqp.Connection
	if c, ok := admins.Load(t); ok && !c.(*amqp.Connection).IsClosed() {
		conn = c.(*amqp.Connection)
	} else {
		var err error
		conn, err = amqp.Dial(amqpURL())
		if err != nil {
			t.Fatalf("admin connection: %v", err)
		}
		admins.Store(t, conn)
		t.Cleanup(func() {
			admins.Delete(t)
			_ = conn.Close()
		})
	}
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("admin channel: %v", err)
	}
	return ch
}

// queueDepth returns the number of ready messages and of consumers of a
// queue.
func queueDepth(t *testing.T, name string) (messages, consumers int) {
	t.Helper()
	messages, consumers, err := inspectQueue(t, name)
	if err != nil {
		t.Fatalf("inspect queue %s: %v", name, err)
	}
	return messages, consumers
}

// inspectQueue is queueDepth that returns an error, for example when the
// queue does not exist.
func inspectQueue(t *testing.T, name string) (messages, consumers int, err error) {
	t.Helper()
	ch := adminChannel(t)
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
	return q.Messages, q.Consumers, err
}

// startBroker starts a broker on cfg, waits until it is ready and closes it
// at cleanup.
func startBroker(t *testing.T, cfg Config) *Broker {
	t.Helper()
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	waitReady(t, b)
	return b
}

func waitReady(t *testing.T, b *Broker) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
}

// eventually polls cond until it holds; the test fails when it never does
// within waitLimit.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// testMessages returns n messages of testType with distinct ids and data.
func testMessages(n int) []Message {
	msgs := make([]Message, n)
	for i := range msgs {
		msgs[i] = events.NewMessage(testType, "test", fmt.Appendf(nil, "payload %d", i))
	}
	return msgs
}

// publishAll publishes msgs and fails the test unless all are confirmed.
func publishAll(t *testing.T, b *Broker, msgs []Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	confirmed, err := b.PublishBatch(ctx, msgs)
	if err != nil {
		t.Fatalf("PublishBatch: %v", err)
	}
	for i, ok := range confirmed {
		if !ok {
			t.Fatalf("PublishBatch: message %d not confirmed without an error", i)
		}
	}
}

// recorder is a handler that records what it received.
type recorder struct {
	mu    sync.Mutex
	count map[string]int // handled successfully, by message id
	seen  map[string]int // handler calls, by message id
	msgs  map[string]Message
	fail  func(Message) error // nil: succeed
}

func newRecorder(fail func(Message) error) *recorder {
	return &recorder{count: map[string]int{}, seen: map[string]int{}, msgs: map[string]Message{}, fail: fail}
}

func (r *recorder) handle(_ context.Context, m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[m.ID]++
	if r.fail != nil {
		if err := r.fail(m); err != nil {
			return err
		}
	}
	r.count[m.ID]++
	r.msgs[m.ID] = m
	return nil
}

// handled returns how many distinct messages were handled successfully.
func (r *recorder) handled() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

func (r *recorder) calls(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.seen[id]
}

// consume starts a consumer of testContext and shuts it down at cleanup.
func consume(t *testing.T, b *Broker, h Handler, opts ConsumeOptions) *Consumer {
	t.Helper()
	c, err := b.Consume(context.Background(), testContext, h, opts)
	if err != nil {
		t.Fatalf("Consume: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return c
}

// cuttableDialer dials like amqp091 and lets the test cut every socket it
// opened, as a network failure would (no AMQP close handshake).
type cuttableDialer struct {
	mu    sync.Mutex
	conns []net.Conn
}

func (d *cuttableDialer) dial(network, addr string) (net.Conn, error) {
	c, err := amqp.DefaultDial(10*time.Second)(network, addr)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *cuttableDialer) cut() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		_ = c.Close()
	}
	n := len(d.conns)
	d.conns = nil
	return n
}
