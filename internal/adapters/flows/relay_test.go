package flows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	"github.com/bookworm-store/bookworm/internal/testenv"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// The relay tests run on the real broker too: the package's own RabbitMQ
// container (internal/testenv). Each test declares an exchange and queues of its own (other
// suites share the broker) and deletes them at cleanup.

// relayWait bounds every wait of the relay tests; conditions are polled, a
// test only fails when one never holds.
const relayWait = 60 * time.Second

// relayContext is the consuming context of the relay tests.
const relayContext = "relaytest"

var deletedType = string((&catalogv1.BookDeleted{}).ProtoReflect().Descriptor().FullName())

// testAMQPURL is the package's own broker (internal/testenv).
func testAMQPURL() string {
	mq, err := testenv.PackageRabbitMQ(context.Background())
	if err != nil {
		panic(fmt.Sprintf("test RabbitMQ: %v", err))
	}
	return mq.URL
}

// testBrokerConfig returns a broker config whose exchange and queues are
// unique to the test, with one consuming context for eventTypes, and removes
// them at cleanup.
func testBrokerConfig(t testing.TB, eventTypes ...string) rabbitmq.Config {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test-relay-" + hex.EncodeToString(b[:])
	cfg := rabbitmq.Config{
		URL:               testAMQPURL(),
		ConnectionName:    prefix,
		Exchange:          prefix + ".events",
		QueuePrefix:       prefix,
		ReconnectMinDelay: 20 * time.Millisecond,
		ReconnectMaxDelay: 500 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues: []rabbitmq.QueueConfig{{
			Context:     relayContext,
			EventTypes:  eventTypes,
			RetryDelays: []time.Duration{50 * time.Millisecond},
			MaxAttempts: 3,
		}},
	}
	t.Cleanup(func() { deleteBrokerTopology(t, cfg) })
	return cfg
}

// deleteBrokerTopology removes the exchange and queues of cfg.
func deleteBrokerTopology(t testing.TB, cfg rabbitmq.Config) {
	t.Helper()
	// Dial again for a while: another suite may be restarting the broker.
	var conn *amqp.Connection
	var err error
	for deadline := time.Now().Add(relayWait); ; time.Sleep(100 * time.Millisecond) {
		if conn, err = amqp.Dial(cfg.URL); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	for _, q := range cfg.Queues {
		main := cfg.QueuePrefix + "." + q.Context
		names := []string{main, main + ".dlq"}
		for _, d := range q.RetryDelays {
			names = append(names, main+".retry."+d.String())
		}
		for _, name := range names {
			if _, err := ch.QueueDelete(name, false, false, false); err != nil {
				t.Errorf("cleanup: delete queue %s: %v", name, err)
				return
			}
		}
	}
	if err := ch.ExchangeDelete(cfg.Exchange, false, false); err != nil {
		t.Errorf("cleanup: delete exchange %s: %v", cfg.Exchange, err)
	}
}

// startTestBroker starts a broker on cfg, waits until it is ready and closes
// it at cleanup.
func startTestBroker(t testing.TB, cfg rabbitmq.Config) *rabbitmq.Broker {
	t.Helper()
	b, err := rabbitmq.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), relayWait)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatalf("broker not ready: %v", err)
	}
	return b
}

// received records what a consumer got, by event id.
type received struct {
	mu    sync.Mutex
	count map[string]int
	msgs  map[string]events.Message
}

func newReceived() *received {
	return &received{count: map[string]int{}, msgs: map[string]events.Message{}}
}

func (r *received) handle(_ context.Context, m events.Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.count[m.ID]++
	r.msgs[m.ID] = m
	return nil
}

// distinct returns how many distinct events arrived.
func (r *received) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.count)
}

// duplicates returns how many deliveries were duplicates.
func (r *received) duplicates() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.count {
		n += c - 1
	}
	return n
}

// consumeInto consumes the test context of b into r until cleanup.
func consumeInto(t testing.TB, b *rabbitmq.Broker, r *received) {
	t.Helper()
	c, err := b.Consume(context.Background(), relayContext, r.handle, rabbitmq.ConsumeOptions{Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), relayWait)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			t.Errorf("consumer shutdown: %v", err)
		}
	})
}

// runRelay runs r until cleanup, which waits for it to return.
func runRelay(t testing.TB, r *outbox.Relay) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := r.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// committedIDs returns the ids of every event in the outbox.
func committedIDs(t testing.TB, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT event_id::text FROM events.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out
}

func unpublished(t testing.TB, pool *pgxpool.Pool) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), `SELECT count(*) FROM events.outbox WHERE published_at IS NULL`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// enqueueDeleted commits n BookDeleted events named prefix-0, prefix-1, ...
// in transactions of per events, and returns n.
func enqueueDeleted(t testing.TB, ctx context.Context, pool *pgxpool.Pool, prefix string, n, per int) int {
	t.Helper()
	for i := 0; i < n; i += per {
		events := make([]proto.Message, 0, per)
		for j := i; j < min(i+per, n); j++ {
			events = append(events, &catalogv1.BookDeleted{BookId: fmt.Sprintf("%s-%d", prefix, j)})
		}
		if err := enqueueIn(ctx, pool, false, events...); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// waitDelivered waits until every committed event arrived and is marked
// published, then checks that nothing else arrived.
func waitDelivered(t testing.TB, pool *pgxpool.Pool, got *received, want int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d events delivered", want), func() bool { return got.distinct() >= want })
	waitFor(t, "every event marked published", func() bool { return unpublished(t, pool) == 0 })
	committed := committedIDs(t, pool)
	if len(committed) != want {
		t.Fatalf("%d events in the outbox, want %d", len(committed), want)
	}
	got.mu.Lock()
	defer got.mu.Unlock()
	for id := range got.count {
		if !committed[id] {
			t.Errorf("event %s delivered but never committed", id)
		}
	}
	for id := range committed {
		if got.count[id] == 0 {
			t.Errorf("event %s committed but never delivered", id)
		}
	}
}

// waitFor polls cond until it holds, failing the test after relayWait.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(relayWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRelayDeliversExactlyTheCommittedEvents(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	b := startTestBroker(t, testBrokerConfig(t, deletedType))
	got := newReceived()
	consumeInto(t, b, got)
	relay := outbox.NewRelay(pool, b, outbox.RelayConfig{BatchSize: 100, Logger: pgtest.DiscardLog()})
	runRelay(t, relay)

	traceID, _ := trace.TraceIDFromHex("0af7651916cd43dd8448eb211c80319c")
	spanID, _ := trace.SpanIDFromHex("b7ad6b7169203331")
	traced := trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: traceID, SpanID: spanID, TraceFlags: trace.FlagsSampled,
	}))
	want := enqueueDeleted(t, ctx, pool, "kept", 1500, 7)
	// Rolled back: never delivered.
	for i := range 50 {
		if err := enqueueIn(ctx, pool, true, &catalogv1.BookDeleted{BookId: fmt.Sprintf("rolled-back-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Enqueue(traced, tx, "catalog", &catalogv1.BookDeleted{BookId: "traced", Version: 4}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	want++

	waitDelivered(t, pool, got, want)
	got.mu.Lock()
	defer got.mu.Unlock()
	var tracedMsg *events.Message
	for _, m := range got.msgs {
		var e catalogv1.BookDeleted
		if err := proto.Unmarshal(m.Data, &e); err != nil {
			t.Fatalf("event %s: %v", m.ID, err)
		}
		if e.GetBookId() == "traced" {
			tracedMsg = &m
		}
		if m.Type != deletedType {
			t.Fatalf("event %s: type %q", m.ID, m.Type)
		}
	}
	if tracedMsg == nil {
		t.Fatal("the traced event did not arrive")
	}
	if _, c, ok := events.ParseSource(tracedMsg.Source); !ok || c != "catalog" ||
		tracedMsg.TraceParent != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" ||
		tracedMsg.ContentType != events.ContentTypeProtobuf || tracedMsg.Time.IsZero() {
		t.Fatalf("envelope = %+v", *tracedMsg)
	}
	// The relay counts a batch just after its commit, which consumers may
	// see first.
	waitFor(t, fmt.Sprintf("the relay to count %d published", want), func() bool { return relay.Stats().Published >= uint64(want) })
}

func TestRelayConcurrentRelaysLoseNothing(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	cfg := testBrokerConfig(t, deletedType)
	b1 := startTestBroker(t, cfg)
	b2 := startTestBroker(t, cfg)
	got := newReceived()
	consumeInto(t, b1, got)
	relays := []*outbox.Relay{
		outbox.NewRelay(pool, b1, outbox.RelayConfig{BatchSize: 50, Workers: 2, Logger: pgtest.DiscardLog()}),
		outbox.NewRelay(pool, b2, outbox.RelayConfig{BatchSize: 50, Workers: 3, Logger: pgtest.DiscardLog()}),
	}
	for _, r := range relays {
		runRelay(t, r)
	}
	// Writers commit while both relays run.
	const writers, perWriter = 6, 400
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() { enqueueDeleted(t, ctx, pool, fmt.Sprintf("w%d", w), perWriter, 1+w%3) })
	}
	wg.Wait()
	waitDelivered(t, pool, got, writers*perWriter)
	var published uint64
	for i, r := range relays {
		s := r.Stats()
		t.Logf("relay %d: %+v", i, s)
		published += s.Published
	}
	if published < writers*perWriter {
		t.Fatalf("relays marked %d events published, want at least %d", published, writers*perWriter)
	}
	t.Logf("%d duplicate deliveries", got.duplicates())
}

func TestRelayWokenByNotification(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	b := startTestBroker(t, testBrokerConfig(t, deletedType))
	got := newReceived()
	consumeInto(t, b, got)
	// Polling would take an hour: only the notification can wake it.
	relay := outbox.NewRelay(pool, b, outbox.RelayConfig{PollInterval: time.Hour, Logger: pgtest.DiscardLog()})
	runRelay(t, relay)
	waitFor(t, "the relay listening", func() bool {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'bookworm-outbox-relay' AND datname = current_database()`).Scan(&n)
		return err == nil && n > 0
	})
	// Every worker is idle by now or soon: each wakes for a new event.
	for i := range 3 {
		enqueueDeleted(t, ctx, pool, fmt.Sprintf("round%d", i), 1, 1)
		waitDelivered(t, pool, got, i+1)
	}
}

func TestRelayPollsWithoutNotification(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	b := startTestBroker(t, testBrokerConfig(t, deletedType))
	got := newReceived()
	consumeInto(t, b, got)
	relay := outbox.NewRelay(pool, b, outbox.RelayConfig{PollInterval: 50 * time.Millisecond, Logger: pgtest.DiscardLog()})
	runRelay(t, relay)
	// Written without Enqueue, so without a notification.
	data, _ := proto.Marshal(&catalogv1.BookDeleted{BookId: "silent"})
	if _, err := pool.Exec(ctx, `INSERT INTO events.outbox (event_id, type, source, occur_time, data)
		VALUES (gen_random_uuid(), $1, '/bookworm/test', now(), $2)`, deletedType, data); err != nil {
		t.Fatal(err)
	}
	waitDelivered(t, pool, got, 1)
}

// flakyPublisher confirms only some messages, or fails, as told.
type flakyPublisher struct {
	mu        sync.Mutex
	calls     int
	down      int             // the first calls that fail outright
	confirmed map[string]int  // confirms, by event id
	refuse    map[string]bool // events nacked on their first publish
	refused   map[string]bool
}

func (p *flakyPublisher) PublishBatch(ctx context.Context, msgs []events.Message) ([]bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	ok := make([]bool, len(msgs))
	if p.calls <= p.down {
		return ok, rabbitmq.ErrUnavailable
	}
	var err error
	for i, m := range msgs {
		if p.refuse[m.ID] && !p.refused[m.ID] {
			p.refused[m.ID] = true
			err = rabbitmq.ErrNotConfirmed
			continue
		}
		ok[i] = true
		p.confirmed[m.ID]++
	}
	return ok, err
}

func TestRelayRetriesUnconfirmedEvents(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	want := enqueueDeleted(t, ctx, pool, "e", 300, 10)
	committed := committedIDs(t, pool)
	pub := &flakyPublisher{down: 3, confirmed: map[string]int{}, refuse: map[string]bool{}, refused: map[string]bool{}}
	n := 0
	for id := range committed {
		if n%7 == 0 {
			pub.refuse[id] = true
		}
		n++
	}
	relay := outbox.NewRelay(pool, pub, outbox.RelayConfig{BatchSize: 64, MinBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond,
		Logger: pgtest.DiscardLog()})
	runRelay(t, relay)
	waitFor(t, "every event marked published", func() bool { return unpublished(t, pool) == 0 })

	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.confirmed) != want {
		t.Fatalf("%d events confirmed, want %d", len(pub.confirmed), want)
	}
	for id, c := range pub.confirmed {
		if !committed[id] {
			t.Fatalf("published %s, which was never committed", id)
		}
		// Confirmed once, so marked at once: never sent again.
		if c != 1 {
			t.Fatalf("event %s confirmed %d times", id, c)
		}
	}
	for id := range pub.refuse {
		if !pub.refused[id] {
			t.Fatalf("event %s was never refused", id)
		}
	}
	s := relay.Stats()
	if s.FailedBatches < 4 || s.Unconfirmed < uint64(len(pub.refuse)) || s.Published != uint64(want) {
		t.Fatalf("stats = %+v: want >= 4 failed batches, >= %d unconfirmed, %d published", s, len(pub.refuse), want)
	}
}

// readyPublisher is a publisher that is down until it is told otherwise.
type readyPublisher struct {
	flakyPublisher
	ready   atomic.Bool
	claimed atomic.Int64
}

func (p *readyPublisher) Ready() bool { return p.ready.Load() }

func (p *readyPublisher) WaitReady(ctx context.Context) error {
	for !p.ready.Load() {
		if !events.Sleep(ctx, time.Millisecond) {
			return ctx.Err()
		}
	}
	return nil
}

func (p *readyPublisher) PublishBatch(ctx context.Context, msgs []events.Message) ([]bool, error) {
	p.claimed.Add(1)
	return p.flakyPublisher.PublishBatch(ctx, msgs)
}

func TestRelayWaitsForTheBroker(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	want := enqueueDeleted(t, ctx, pool, "e", 20, 20)
	pub := &readyPublisher{flakyPublisher: flakyPublisher{confirmed: map[string]int{}}}
	relay := outbox.NewRelay(pool, pub, outbox.RelayConfig{MinBackoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond,
		Logger: pgtest.DiscardLog()})
	runRelay(t, relay)
	// The relay comes back to the broker, again and again, but never
	// sends while it is not ready.
	time.Sleep(100 * time.Millisecond) // lets it try; the assertion does not depend on it
	if n := pub.claimed.Load(); n != 0 {
		t.Fatalf("%d batches sent to a broker that is not ready", n)
	}
	pub.ready.Store(true)
	waitFor(t, "every event marked published", func() bool { return unpublished(t, pool) == 0 })
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.confirmed) != want {
		t.Fatalf("%d events confirmed, want %d", len(pub.confirmed), want)
	}
}

func TestRelayFlushAndStats(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	pub := &flakyPublisher{confirmed: map[string]int{}}
	relay := outbox.NewRelay(pool, pub, outbox.RelayConfig{BatchSize: 7, Logger: pgtest.DiscardLog()})
	want := enqueueDeleted(t, ctx, pool, "e", 50, 50)
	n, oldest, err := relay.Backlog(ctx)
	if err != nil || n != int64(want) || oldest <= 0 {
		t.Fatalf("Backlog = %d, %v, %v; want %d, > 0, nil", n, oldest, err, want)
	}
	if err := relay.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if left := unpublished(t, pool); left != 0 {
		t.Fatalf("%d events left after Flush", left)
	}
	if n, oldest, err = relay.Backlog(ctx); err != nil || n != 0 || oldest != 0 {
		t.Fatalf("Backlog after Flush = %d, %v, %v", n, oldest, err)
	}
	s := relay.Stats()
	if s.Published != uint64(want) || s.Batches != (uint64(want)+6)/7 || s.FailedBatches != 0 || s.Backlog != 0 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestRelayPrune(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	enqueueDeleted(t, ctx, pool, "e", 30, 30)
	// 10 published long ago, 10 published recently, 10 not published (and
	// old: never pruned however old).
	if _, err := pool.Exec(ctx, `UPDATE events.outbox SET published_at = CASE
			WHEN seq % 3 = 0 THEN now() - interval '2 days'
			WHEN seq % 3 = 1 THEN now() - interval '1 hour' END,
		occur_time = now() - interval '3 days'`); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO events.inbox (consumer, event_id, handled_at)
		VALUES ('c', 'old', now() - interval '40 days'), ('c', 'new', now())`); err != nil {
		t.Fatal(err)
	}
	relay := outbox.NewRelay(pool, &flakyPublisher{}, outbox.RelayConfig{Retention: 24 * time.Hour, InboxRetention: 30 * 24 * time.Hour,
		Logger: pgtest.DiscardLog()})
	n, err := relay.Prune(ctx)
	if err != nil || n != 10 {
		t.Fatalf("Prune = %d, %v; want 10", n, err)
	}
	var published, pending, inbox int
	if err := pool.QueryRow(ctx, `SELECT count(published_at), count(*) - count(published_at),
		(SELECT count(*) FROM events.inbox) FROM events.outbox`).Scan(&published, &pending, &inbox); err != nil {
		t.Fatal(err)
	}
	if published != 10 || pending != 10 || inbox != 1 {
		t.Fatalf("left %d published, %d pending events, %d inbox rows; want 10, 10, 1", published, pending, inbox)
	}
	if s := relay.Stats(); s.Pruned != 10 {
		t.Fatalf("stats = %+v, want 10 pruned", s)
	}
}

func TestRelayCrashedClaimIsReleased(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	want := enqueueDeleted(t, ctx, pool, "e", 40, 40)
	// A relay that claimed everything and died: its connection goes away
	// with its transaction.
	conn, err := pgx.ConnectConfig(ctx, pool.Config().ConnConfig)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, `SELECT seq FROM events.outbox WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED`, 1000)
	if err != nil {
		t.Fatal(err)
	}
	rows.Close()
	pub := &flakyPublisher{confirmed: map[string]int{}}
	relay := outbox.NewRelay(pool, pub, outbox.RelayConfig{Logger: pgtest.DiscardLog()})
	// The claimed rows are skipped, not waited for.
	if n, err := relay.RelayBatch(ctx); err != nil || n != 0 {
		t.Fatalf("RelayBatch while another relay holds every row = %d, %v", n, err)
	}
	if err := conn.Close(ctx); err != nil { // the crash
		t.Fatal(err)
	}
	// The server ends the dead session's transaction a moment later.
	waitFor(t, "every event published after the crash", func() bool {
		if err := relay.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		return unpublished(t, pool) == 0
	})
	if len(pub.confirmed) != want {
		t.Fatalf("%d events published after the crash, want %d", len(pub.confirmed), want)
	}
}

func TestRelayBatchReportsDatabaseErrors(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	relay := outbox.NewRelay(pool, &flakyPublisher{}, outbox.RelayConfig{Logger: pgtest.DiscardLog()})
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := relay.RelayBatch(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("RelayBatch with a cancelled context = %v", err)
	}
}

func TestRelayToInboxAppliesEachEventOnce(t *testing.T) {
	pool := pgtest.NewPool(t)
	ctx := pgtest.Ctx(t)
	inboxEffects(t, pool)
	b := startTestBroker(t, testBrokerConfig(t, deletedType))
	var calls atomic.Int64
	traces := make(chan string, 1)
	h := outbox.Handler(pool, "catalog", func(ctx context.Context, tx pgx.Tx, msg events.Message) error {
		calls.Add(1)
		if tp, _ := events.TraceContext(ctx); tp != "" {
			select {
			case traces <- tp:
			default:
			}
		}
		_, err := tx.Exec(ctx, `INSERT INTO effects VALUES ('catalog', $1, 1)`, msg.ID)
		return err
	})
	var deliveries atomic.Int64
	counted := func(ctx context.Context, msg events.Message) error {
		err := h(ctx, msg)
		if err == nil {
			deliveries.Add(1)
		}
		return err
	}
	c, err := b.Consume(context.Background(), relayContext, counted, rabbitmq.ConsumeOptions{Concurrency: 4})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Shutdown(context.Background()) })
	runRelay(t, outbox.NewRelay(pool, b, outbox.RelayConfig{Logger: pgtest.DiscardLog()}))

	tracedCtx := events.ContextWithTraceParent(ctx, "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "")
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := outbox.Enqueue(tracedCtx, tx, "test", &catalogv1.BookDeleted{BookId: "traced"}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	const n = 200
	enqueueDeleted(t, ctx, pool, "e", n, 10)
	effects := func() int {
		var c int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM effects`).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	waitFor(t, "every event applied", func() bool { return effects() == n+1 })
	if tp := <-traces; tp != "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" {
		t.Fatalf("handler saw trace %q", tp)
	}

	// The broker delivers every event again: nothing changes.
	rows, err := pool.Query(ctx, `SELECT event_id::text, type, source, data FROM events.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	again, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (events.Message, error) {
		var m events.Message
		err := row.Scan(&m.ID, &m.Type, &m.Source, &m.Data)
		return m, err
	})
	if err != nil {
		t.Fatal(err)
	}
	before := calls.Load()
	pctx, cancel := context.WithTimeout(ctx, relayWait)
	defer cancel()
	// Until every copy is confirmed (another suite may be restarting the
	// broker); copies sent twice are more duplicates, which is fine.
	for left := again; len(left) > 0; {
		confirmed, err := b.PublishBatch(pctx, left)
		if pctx.Err() != nil {
			t.Fatalf("publishing the duplicates: %v", err)
		}
		var next []events.Message
		for i, ok := range confirmed {
			if !ok {
				next = append(next, left[i])
			}
		}
		left = next
		if len(left) > 0 {
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitFor(t, "the duplicates handled", func() bool { return deliveries.Load() >= 2*(n+1) })
	if calls.Load() != before {
		t.Fatalf("duplicates applied %d times", calls.Load()-before)
	}
	if got := effects(); got != n+1 {
		t.Fatalf("%d effects after the duplicates, want %d", got, n+1)
	}
}
