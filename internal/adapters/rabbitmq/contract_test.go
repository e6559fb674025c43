package rabbitmq

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// TestPubSubContract is the contract every publisher and consumer of BookWorm
// events must keep, run against the real broker. Each case gets an exchange
// and queues of its own.
func TestPubSubContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		run  func(t *testing.T, cfg Config)
	}{
		{"published messages arrive with their envelope intact", testEnvelopeIntact},
		{"publish batch reports each message's confirm", testBatchConfirms},
		{"a handler error redelivers after a delay", testRedeliveryAfterError},
		{"a poison message goes to the DLQ while others flow on", testPoisonToDLQ},
		{"a malformed message goes straight to the DLQ", testMalformedToDLQ},
		{"a permanent failure goes straight to the DLQ", testPermanentToDLQ},
		{"a handler returning nil acks exactly once", testAckExactlyOnce},
		{"a panicking handler counts as a failure", testHandlerPanic},
		{"shutdown finishes in-flight handlers", testShutdownFinishesInFlight},
		{"shutdown out of time cancels handlers and requeues", testShutdownTimeout},
		{"concurrent publishers", testConcurrentPublishers},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, testConfig(t))
		})
	}
}

func testEnvelopeIntact(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	msgs := testMessages(200)
	for i := range msgs {
		if i%2 == 0 {
			msgs[i].TraceParent = fmt.Sprintf("00-%032x-%016x-01", i+1, i+1)
			msgs[i].TraceState = "bw=1"
		}
		if i%3 == 0 {
			msgs[i].ContentType = events.ContentTypeJSON
			msgs[i].Data = fmt.Appendf(nil, `{"n":%d}`, i)
		}
		msgs[i].Time = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.FixedZone("x", 3600)).Add(time.Duration(i) * time.Second)
	}
	publishAll(t, b, msgs)
	rec := newRecorder(nil)
	consume(t, b, rec.handle, ConsumeOptions{})
	eventually(t, "every message handled", func() bool { return rec.handled() == len(msgs) })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, want := range msgs {
		got, ok := rec.msgs[want.ID]
		switch {
		case !ok:
			t.Errorf("message %s never arrived", want.ID)
			continue
		case got.Type != want.Type, got.Source != want.Source, got.TraceParent != want.TraceParent,
			got.TraceState != want.TraceState, string(got.Data) != string(want.Data):
			t.Errorf("message %s arrived as %+v, want %+v", want.ID, got, want)
		case !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC:
			t.Errorf("message %s time = %v, want %v in UTC", want.ID, got.Time, want.Time)
		case got.Attempt != 1:
			t.Errorf("message %s attempt = %d, want 1", want.ID, got.Attempt)
		}
		wantCT := want.ContentType
		if wantCT == "" {
			wantCT = events.ContentTypeProtobuf
		}
		if got.ContentType != wantCT {
			t.Errorf("message %s content type = %q, want %q", want.ID, got.ContentType, wantCT)
		}
	}
}

// testBatchConfirms checks the per-message results of PublishBatch, and that
// a confirmed message really is in the queue.
func testBatchConfirms(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	queue := cfg.QueuePrefix + "." + testContext
	msgs := testMessages(1000)
	msgs[10].Type = ""
	msgs[20].Source = ""
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	confirmed, err := b.PublishBatch(ctx, msgs)
	if !errors.Is(err, ErrInvalidMessage) {
		t.Fatalf("PublishBatch error = %v, want ErrInvalidMessage", err)
	}
	if len(confirmed) != len(msgs) {
		t.Fatalf("PublishBatch returned %d results for %d messages", len(confirmed), len(msgs))
	}
	n := 0
	for i, ok := range confirmed {
		want := i != 10 && i != 20
		if ok != want {
			t.Errorf("confirmed[%d] = %v, want %v", i, ok, want)
		}
		if ok {
			n++
		}
	}
	eventually(t, "the confirmed messages in the queue", func() bool {
		m, _ := queueDepth(t, queue)
		return m == n
	})

	// An empty batch and a one-message Publish.
	if confirmed, err := b.PublishBatch(ctx, nil); err != nil || len(confirmed) != 0 {
		t.Errorf("PublishBatch(nil) = %v, %v", confirmed, err)
	}
	if err := b.Publish(ctx, testMessages(1)[0]); err != nil {
		t.Errorf("Publish: %v", err)
	}
	if err := b.Publish(ctx, Message{Type: testType, Source: "/x"}); !errors.Is(err, ErrInvalidMessage) {
		t.Errorf("Publish without id = %v, want ErrInvalidMessage", err)
	}
	done, cancelDone := context.WithCancel(ctx)
	cancelDone()
	if _, err := b.PublishBatch(done, testMessages(3)); !errors.Is(err, context.Canceled) {
		t.Errorf("PublishBatch with a cancelled context = %v, want context.Canceled", err)
	}
}

// testRedeliveryAfterError fails a message twice and checks that it comes
// back through the retry queues with the attempt counted, then is acked.
func testRedeliveryAfterError(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	var mu sync.Mutex
	attempts := map[string][]int{}
	rec := newRecorder(func(m Message) error {
		mu.Lock()
		defer mu.Unlock()
		attempts[m.ID] = append(attempts[m.ID], m.Attempt)
		if len(attempts[m.ID]) < 3 {
			return fmt.Errorf("transient failure %d", len(attempts[m.ID]))
		}
		return nil
	})
	consume(t, b, rec.handle, ConsumeOptions{})
	msgs := testMessages(20)
	publishAll(t, b, msgs)
	eventually(t, "every message handled after two failures", func() bool { return rec.handled() == len(msgs) })

	mu.Lock()
	defer mu.Unlock()
	for _, m := range msgs {
		if got := fmt.Sprint(attempts[m.ID]); got != "[1 2 3]" {
			t.Errorf("message %s attempts = %s, want [1 2 3]", m.ID, got)
		}
	}
	for _, q := range []string{cfg.QueuePrefix + "." + testContext, cfg.QueuePrefix + "." + testContext + ".dlq"} {
		if n, _ := queueDepth(t, q); n != 0 {
			t.Errorf("queue %s holds %d messages, want 0", q, n)
		}
	}
}

// testPermanentToDLQ: a handler error marked events.Permanent (an anomaly
// no retry cures) sends the message to the DLQ after that one attempt.
func testPermanentToDLQ(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	msgs := testMessages(3)
	anomaly := msgs[0]
	rec := newRecorder(func(m Message) error {
		if m.ID == anomaly.ID {
			return events.Permanent(fmt.Errorf("review of a book never known %s", m.ID))
		}
		return nil
	})
	consume(t, b, rec.handle, ConsumeOptions{})
	publishAll(t, b, msgs)
	dlq := cfg.QueuePrefix + "." + testContext + ".dlq"
	eventually(t, "the anomaly in the DLQ", func() bool {
		n, _ := queueDepth(t, dlq)
		return rec.handled() == len(msgs)-1 && n == 1
	})
	if got := rec.calls(anomaly.ID); got != 1 {
		t.Errorf("anomaly handled %d times, want 1 (no retry)", got)
	}
	d, ok, err := adminChannel(t).Get(dlq, true)
	if err != nil || !ok {
		t.Fatalf("get from DLQ: ok=%v err=%v", ok, err)
	}
	if d.MessageId != anomaly.ID || !strings.Contains(headerString(d.Headers, headerError), "never known") {
		t.Errorf("dead letter %s with error %q", d.MessageId, headerString(d.Headers, headerError))
	}
}

// testPoisonToDLQ sends a message that always fails among good ones: the good
// ones are all handled, and the poison ends in the DLQ after MaxAttempts
// attempts with its envelope and the last error.
func testPoisonToDLQ(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	msgs := testMessages(101)
	poison := msgs[0]
	rec := newRecorder(func(m Message) error {
		if m.ID == poison.ID {
			return fmt.Errorf("cannot handle %s", m.ID)
		}
		return nil
	})
	consume(t, b, rec.handle, ConsumeOptions{Concurrency: 2})
	publishAll(t, b, msgs)

	dlq := cfg.QueuePrefix + "." + testContext + ".dlq"
	eventually(t, "the good messages handled and the poison in the DLQ", func() bool {
		n, _ := queueDepth(t, dlq)
		return rec.handled() == len(msgs)-1 && n == 1
	})
	if got := rec.calls(poison.ID); got != cfg.Queues[0].MaxAttempts {
		t.Errorf("poison handled %d times, want %d", got, cfg.Queues[0].MaxAttempts)
	}
	d, ok, err := adminChannel(t).Get(dlq, true)
	if err != nil || !ok {
		t.Fatalf("get from DLQ: ok=%v err=%v", ok, err)
	}
	dead, err := decode(&d)
	if err != nil {
		t.Fatalf("decode the dead letter: %v", err)
	}
	if dead.ID != poison.ID || dead.Type != poison.Type || string(dead.Data) != string(poison.Data) {
		t.Errorf("dead letter = %+v, want the poison %+v", dead, poison)
	}
	if got := headerInt(d.Headers, headerAttempts); got != cfg.Queues[0].MaxAttempts {
		t.Errorf("dead letter %s = %d, want %d", headerAttempts, got, cfg.Queues[0].MaxAttempts)
	}
	if got := headerString(d.Headers, headerError); !strings.Contains(got, "cannot handle") {
		t.Errorf("dead letter %s = %q, want the handler's error", headerError, got)
	}
	if d.MessageId != poison.ID || d.DeliveryMode != amqp.Persistent {
		t.Errorf("dead letter message-id %q delivery mode %d, want %q persistent", d.MessageId, d.DeliveryMode, poison.ID)
	}
}

// testMalformedToDLQ puts messages without a valid envelope in the queue: they
// reach the DLQ without the handler seeing them.
func testMalformedToDLQ(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	queue := cfg.QueuePrefix + "." + testContext
	good := testMessages(1)[0]
	full := publishing(&good, time.Now())
	tests := []struct {
		name   string
		mutate func(amqp.Table)
		reason string
	}{
		{"no ce-type", func(h amqp.Table) { delete(h, headerType) }, "no ce-type"},
		{"no ce-id", func(h amqp.Table) { delete(h, headerID) }, "no ce-id"},
		{"no ce-source", func(h amqp.Table) { delete(h, headerSource) }, "no ce-source"},
		{"wrong spec version", func(h amqp.Table) { h[headerSpecVersion] = "0.3" }, "ce-specversion"},
		{"bad time", func(h amqp.Table) { h[headerTime] = "yesterday" }, "ce-time"},
	}
	ch := adminChannel(t)
	for _, tt := range tests {
		p := full
		p.Headers = amqp.Table{}
		for k, v := range full.Headers {
			p.Headers[k] = v
		}
		tt.mutate(p.Headers)
		p.Headers["test-case"] = tt.name
		if err := ch.PublishWithContext(context.Background(), "", queue, false, false, p); err != nil {
			t.Fatalf("publish %s: %v", tt.name, err)
		}
	}
	publishAll(t, b, []Message{good})
	rec := newRecorder(nil)
	consume(t, b, rec.handle, ConsumeOptions{})

	dlq := queue + ".dlq"
	eventually(t, "the good message handled and the malformed ones in the DLQ", func() bool {
		n, _ := queueDepth(t, dlq)
		return rec.handled() == 1 && n == len(tests)
	})
	rec.mu.Lock()
	if len(rec.seen) != 1 || rec.count[good.ID] != 1 {
		t.Errorf("handler saw %v, want only %s", rec.seen, good.ID)
	}
	rec.mu.Unlock()
	reasons := map[string]string{}
	for range tests {
		d, ok, err := ch.Get(dlq, true)
		if err != nil || !ok {
			t.Fatalf("get from DLQ: ok=%v err=%v", ok, err)
		}
		reasons[headerString(d.Headers, "test-case")] = headerString(d.Headers, headerError)
	}
	for _, tt := range tests {
		if got := reasons[tt.name]; !strings.Contains(got, tt.reason) {
			t.Errorf("%s: dead letter reason %q, want one mentioning %q", tt.name, got, tt.reason)
		}
	}
}

// testAckExactlyOnce handles many messages with several handlers at once and
// checks that each was handled once and nothing is left unacked: a second ack
// of one delivery would close the channel and bring messages back.
func testAckExactlyOnce(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	queue := cfg.QueuePrefix + "." + testContext
	rec := newRecorder(nil)
	c := consume(t, b, rec.handle, ConsumeOptions{Concurrency: 8, Prefetch: 64})
	msgs := testMessages(2000)
	publishAll(t, b, msgs)
	eventually(t, "every message handled", func() bool { return rec.handled() == len(msgs) })
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := c.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Unacked messages return to the queue when the broker has closed the
	// consumer's channel (a moment after Shutdown returned), so an empty
	// queue then means every message was acked.
	eventually(t, "the consumer gone from the queue", func() bool {
		_, consumers := queueDepth(t, queue)
		return consumers == 0
	})
	if n, _ := queueDepth(t, queue); n != 0 {
		t.Errorf("queue holds %d messages after shutdown, want none", n)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, m := range msgs {
		if rec.seen[m.ID] != 1 {
			t.Errorf("message %s handled %d times, want once", m.ID, rec.seen[m.ID])
		}
	}
}

func testHandlerPanic(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	var calls atomic.Int32
	consume(t, b, func(_ context.Context, m Message) error {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		return nil
	}, ConsumeOptions{})
	publishAll(t, b, testMessages(1))
	eventually(t, "the message handled again after the panic", func() bool { return calls.Load() == 2 })
}

// testShutdownFinishesInFlight blocks the handlers, shuts down, and checks
// that the consumer stops receiving but waits for the blocked handlers, whose
// messages are acked; the other messages stay in the queue.
func testShutdownFinishesInFlight(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	queue := cfg.QueuePrefix + "." + testContext
	const concurrency = 3
	release := make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(unblock) // also when the test fails early
	started := make(chan struct{}, 100)
	var finished, cancelled atomic.Int32
	c, err := b.Consume(context.Background(), testContext, func(ctx context.Context, m Message) error {
		started <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			cancelled.Add(1)
			return ctx.Err()
		}
		finished.Add(1)
		return nil
	}, ConsumeOptions{Concurrency: concurrency})
	if err != nil {
		t.Fatal(err)
	}
	msgs := testMessages(20)
	publishAll(t, b, msgs)
	for range concurrency {
		<-started
	}

	shutdown := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
		defer cancel()
		shutdown <- c.Shutdown(ctx)
	}()
	select {
	case <-c.unsubscribed:
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v before the consumer unsubscribed", err)
	}
	// More messages now stay in the queue.
	publishAll(t, b, testMessages(5))
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned %v before the in-flight handlers finished", err)
	default:
	}
	unblock()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if finished.Load() != concurrency || cancelled.Load() != 0 {
		t.Errorf("finished %d handlers and cancelled %d, want %d finished", finished.Load(), cancelled.Load(), concurrency)
	}
	if len(started) != 0 {
		t.Errorf("%d handlers started after shutdown began", len(started))
	}
	// The broker requeues the prefetched messages and drops the consumer
	// as it closes the channel, a moment after Shutdown returned: poll.
	eventually(t, "the queue back to the unhandled messages, without consumers", func() bool {
		n, consumers := queueDepth(t, queue)
		return n == len(msgs)+5-concurrency && consumers == 0
	})
}

// testShutdownTimeout shuts down with a deadline the handler does not meet:
// its context is cancelled and its message goes back to the queue.
func testShutdownTimeout(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	queue := cfg.QueuePrefix + "." + testContext
	started := make(chan struct{}, 1)
	c, err := b.Consume(context.Background(), testContext, func(ctx context.Context, m Message) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}, ConsumeOptions{Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	publishAll(t, b, testMessages(1))
	<-started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Shutdown = %v, want context.Canceled", err)
	}
	select {
	case <-c.Done():
	case <-time.After(waitLimit):
		t.Fatal("consumer goroutines still running after the handler returned")
	}
	eventually(t, "the message back in the queue", func() bool {
		n, _ := queueDepth(t, queue)
		return n == 1
	})
	if n, _ := queueDepth(t, queue+".dlq"); n != 0 {
		t.Errorf("DLQ holds %d messages, want 0: a cancelled handler is not a failure", n)
	}
}

// testConcurrentPublishers publishes from several goroutines at once on one
// Broker.
func testConcurrentPublishers(t *testing.T, cfg Config) {
	b := startBroker(t, cfg)
	rec := newRecorder(nil)
	consume(t, b, rec.handle, ConsumeOptions{Concurrency: 8})
	const publishers, each = 8, 250
	var wg sync.WaitGroup
	errs := make(chan error, publishers)
	for range publishers {
		wg.Go(func() {
			confirmed, err := b.PublishBatch(context.Background(), testMessages(each))
			if err != nil {
				errs <- err
				return
			}
			for _, ok := range confirmed {
				if !ok {
					errs <- errors.New("a message not confirmed")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, "every message handled", func() bool { return rec.handled() == publishers*each })
}
