package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// The servers of a run publish to an exchange and declare queues of the
// run's own on the run's broker (mq: a container of the package's own, or
// the machine's shared broker when no engine answers, so the names stay
// unique); the harness deletes them when the run ends.

// eventsWait bounds the waits of the event tests: conditions are polled,
// a test fails only when one never holds.
const eventsWait = 90 * time.Second

// runTopology is the prefix of the run's exchange and queues.
var runTopology = sync.OnceValue(func() string { return "e2e-" + strings.ToLower(token(10)) })

// runExchange is the exchange every server of the run publishes to.
func runExchange() string { return runTopology() + ".events" }

// amqpEnv points a server at the broker and at the run's topology.
func amqpEnv() []string {
	return []string{
		"BOOKWORM_AMQP_URL=" + mq.URL,
		"BOOKWORM_AMQP_EXCHANGE=" + runExchange(),
		"BOOKWORM_AMQP_QUEUE_PREFIX=" + runTopology(),
	}
}

// deleteRunTopology deletes the run's queues and exchange (on the shared
// broker of the fallback they would stay; a container goes anyway).
func deleteRunTopology() {
	if mq == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), eventsWait)
	defer cancel()
	if err := mq.DeleteTopology(ctx, runTopology(), runExchange()); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: deleting the run's queues and exchange:", err)
	}
}

// needOwnContainers skips a fault test when the run's servers are the
// machine's shared ones (no container engine): those are never stopped.
func needOwnContainers(t *testing.T) {
	t.Helper()
	if pg.Container == nil || mq.Container == nil {
		t.Skip("no container engine: this fault test stops the run's servers, and the shared ones must never be")
	}
}

// stopBroker stops the run's RabbitMQ container and returns a function that
// starts it again (on the same address) and waits until it answers; the
// test's cleanup starts it in any case, for the tests that follow.
func stopBroker(t *testing.T) (start func()) {
	t.Helper()
	start = sync.OnceFunc(func() {
		if err := mq.Start(context.Background()); err != nil {
			t.Fatalf("starting RabbitMQ again: %v", err)
		}
	})
	t.Cleanup(start)
	if err := mq.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	return start
}

// readyz returns the status of the server's /readyz.
func readyz(t *testing.T, s *server) int {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(s.baseURL + "/readyz")
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// pollUntil polls cond until it holds, failing the test after eventsWait.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventsWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting until %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eventKey names one event about one book. The writer changes each book
// once, so a type and a book name one event.
type eventKey struct {
	typ    string
	bookID string
}

// eventLog records catalog events, by key, as a consumer got them.
type eventLog struct {
	mu  sync.Mutex
	got map[eventKey]int
	// ids are the distinct event ids (ce-id) that arrived for a key: a
	// redelivery repeats one, a second event for the same change would add
	// one.
	ids map[eventKey]map[string]bool
}

func (l *eventLog) handle(_ context.Context, m rabbitmq.Message) error {
	var k eventKey
	switch m.Type {
	case "bookworm.catalog.v1.BookCreated":
		var e catalogv1.BookCreated
		if err := proto.Unmarshal(m.Data, &e); err != nil {
			return err
		}
		k = eventKey{m.Type, e.GetBookId()}
	case "bookworm.catalog.v1.BookUpdated":
		var e catalogv1.BookUpdated
		if err := proto.Unmarshal(m.Data, &e); err != nil {
			return err
		}
		k = eventKey{m.Type, e.GetBookId()}
	default:
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got[k]++
	if l.ids[k] == nil {
		l.ids[k] = map[string]bool{}
	}
	l.ids[k][m.ID] = true
	return nil
}

// missing returns the keys of want that have not arrived.
func (l *eventLog) missing(want []eventKey) []eventKey {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []eventKey
	for _, k := range want {
		if l.got[k] == 0 {
			out = append(out, k)
		}
	}
	return out
}

// watchCatalogEvents consumes BookCreated and BookUpdated from the run's
// exchange through a queue of the test's own, with the broker adapter
// (which reconnects by itself), until the test ends.
func watchCatalogEvents(t *testing.T) (*eventLog, string) {
	t.Helper()
	prefix := runTopology() + "-watch-" + strings.ToLower(token(6))
	b, err := rabbitmq.New(rabbitmq.Config{
		URL:               mq.URL,
		ConnectionName:    prefix,
		Exchange:          runExchange(),
		QueuePrefix:       prefix,
		ReconnectMinDelay: 50 * time.Millisecond,
		ReconnectMaxDelay: time.Second,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues: []rabbitmq.QueueConfig{{
			Context:    "catalog-events",
			EventTypes: []string{"bookworm.catalog.v1.BookCreated", "bookworm.catalog.v1.BookUpdated"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = b.Close()
		ctx, cancel := context.WithTimeout(context.Background(), eventsWait)
		defer cancel()
		if err := mq.DeleteTopology(ctx, prefix); err != nil {
			t.Errorf("deleting the test's queues: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), eventsWait)
	defer cancel()
	if err := b.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	log := &eventLog{got: map[eventKey]int{}, ids: map[eventKey]map[string]bool{}}
	c, err := b.Consume(context.Background(), "catalog-events", log.handle, rabbitmq.ConsumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), eventsWait)
		defer cancel()
		_ = c.Shutdown(ctx)
	})
	return log, prefix
}

// bookWriter creates and updates books through the API, recording the
// events each write must cause.
type bookWriter struct {
	mu    sync.Mutex
	want  []eventKey
	books int
	err   error
}

func (w *bookWriter) written() (books int, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.books, w.err
}

// run writes until stop is closed: a book, then an update of its title
// (and of its price every other time).
func (w *bookWriter) run(f *fixture, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		err := func() error {
			res, err := f.c.CreateBook(ctx, connect.NewRequest(&catalogv1.CreateBookRequest{Book: f.bookInput()}))
			if err != nil {
				return fmt.Errorf("CreateBook: %w", err)
			}
			b := res.Msg.GetBook()
			w.mu.Lock()
			w.want = append(w.want, eventKey{"bookworm.catalog.v1.BookCreated", b.GetId()})
			w.mu.Unlock()
			in, paths := &catalogv1.BookInput{Title: b.GetTitle() + " (revised)"}, []string{"title"}
			if i%2 == 0 {
				in.Price, paths = eur(2999), append(paths, "price")
			}
			if _, err := f.c.UpdateBook(ctx, connect.NewRequest(&catalogv1.UpdateBookRequest{
				Id: b.GetId(), Book: in, UpdateMask: mask(paths...),
			})); err != nil {
				return fmt.Errorf("UpdateBook: %w", err)
			}
			w.mu.Lock()
			w.want = append(w.want, eventKey{"bookworm.catalog.v1.BookUpdated", b.GetId()})
			w.books++
			w.mu.Unlock()
			return nil
		}()
		cancel()
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		time.Sleep(10 * time.Millisecond) // a steady trickle, not a flood
	}
}

// TestEventsSurviveABrokerOutage writes books and reviews through the
// server while the run's RabbitMQ container is stopped and started again:
// every BookCreated and BookUpdated the writes caused reaches a queue bound
// to the server's exchange, none lost, every review counted exactly once,
// and /readyz reports the outage. Not parallel: the broker is the run's, and
// the package's parallel tests wait until the sequential ones are done.
func TestEventsSurviveABrokerOutage(t *testing.T) {
	needOwnContainers(t)
	log, _ := watchCatalogEvents(t)
	f := newFixture(t, catalogClient(t, connectProto), 1)

	w := &bookWriter{}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run(f, stop)
	}()
	stopWriter := sync.OnceFunc(func() { close(stop); <-done })
	t.Cleanup(stopWriter)
	waitBooks := func(what string, n int) {
		t.Helper()
		pollUntil(t, what, func() bool {
			books, err := w.written()
			if err != nil {
				t.Fatalf("writer: %v", err)
			}
			return books >= n
		})
	}

	// Reviews ride the same outbox and broker: the catalog must count every
	// review written before, during and after the outage exactly once.
	reviewed := ratedBook(t)
	var reviews int64
	review := func(n int) {
		t.Helper()
		for range n {
			c := newRatingClient(t, clientOptions{Protocol: connectProto, Token: userToken(t, "outage-"+token(10))})
			mustCreateReview(t, c, reviewed.GetId(), int32(reviews%5)+1)
			reviews++
		}
	}

	// Flowing: the first events arrive.
	review(5)
	waitBooks("the first books written", 5)
	pollUntil(t, "the first events delivered", func() bool {
		w.mu.Lock()
		first := slices.Clone(w.want[:4])
		w.mu.Unlock()
		return len(log.missing(first)) == 0
	})

	// Outage: the server stays up and writes go on; its events wait in
	// the outbox.
	start := stopBroker(t)
	pollUntil(t, "/readyz reporting the outage", func() bool { return readyz(t, srv) == http.StatusServiceUnavailable })
	booksAtStop, _ := w.written()
	review(20)
	waitBooks("books written while RabbitMQ is down", booksAtStop+20)
	booksDuringOutage, _ := w.written()
	start()

	pollUntil(t, "/readyz ready again", func() bool { return readyz(t, srv) == http.StatusOK })
	waitBooks("books written after the restart", booksDuringOutage+10)
	review(5)
	stopWriter()
	books, err := w.written()
	if err != nil {
		t.Fatalf("writer: %v", err)
	}

	w.mu.Lock()
	want := slices.Clone(w.want)
	w.mu.Unlock()
	deadline := time.Now().Add(eventsWait)
	for {
		missing := log.missing(want)
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events never arrived, for example %+v", len(missing), len(want), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.mu.Lock()
	created, updated, duplicates := 0, 0, 0
	for k, n := range log.got {
		duplicates += n - 1
		switch k.typ {
		case "bookworm.catalog.v1.BookCreated":
			created++
		case "bookworm.catalog.v1.BookUpdated":
			updated++
		}
	}
	log.mu.Unlock()
	// Other tests of the run may write books meanwhile; only ours count,
	// and each of ours arrived (checked above).
	if created < books || updated < books {
		t.Fatalf("%d BookCreated and %d BookUpdated arrived for %d books written", created, updated, books)
	}
	t.Logf("%d books written (%d while RabbitMQ was down): %d events expected, all arrived; %d duplicate deliveries",
		books, booksDuringOutage-booksAtStop, len(want), duplicates)
	ratingsAgree(t, reviews, reviewed.GetId())
	everyBookAgrees(t)
}
