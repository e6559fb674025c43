package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/health/grpc_health_v1"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
)

// Faults injected through the run's containers (testenv): the broker
// frozen, Postgres restarted. The tests are not parallel: the containers are
// the run's, and the package's parallel tests wait until the sequential
// ones are done, so nothing else runs while a server is down. The server
// under test is never restarted: it must recover by itself.

// TestReadinessFollowsAFrozenBroker freezes the run's RabbitMQ (podman
// pause: its sockets stay open, nothing answers, as behind a partition) for
// longer than the AMQP heartbeat: the server notices without any socket
// error, /readyz says 503 meanwhile and gRPC health says NOT_SERVING for
// every served service and for the server as a whole (""), writes go on
// into the outbox, and once the broker thaws the server reconnects, /readyz
// says 200, gRPC health SERVING again, and the events written during the
// freeze arrive.
func TestReadinessFollowsAFrozenBroker(t *testing.T) {
	needOwnContainers(t)
	log, _ := watchCatalogEvents(t)
	f := newFixture(t, catalogClient(t, connectProto), 1)
	before := f.createBook(t)
	want := []eventKey{{"bookworm.catalog.v1.BookCreated", before.GetId()}}
	pollUntil(t, "the first event delivered", func() bool { return len(log.missing(want)) == 0 })

	thaw := sync.OnceFunc(func() {
		if err := mq.Unpause(context.Background()); err != nil {
			t.Errorf("unpausing RabbitMQ: %v", err)
		}
	})
	t.Cleanup(thaw)
	if err := mq.Pause(t.Context()); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	pollUntil(t, "/readyz reporting the frozen broker", func() bool { return readyz(t, srv) == http.StatusServiceUnavailable })
	noticed := time.Since(frozen)
	grpcHealthIs(t, grpc_health_v1.HealthCheckResponse_NOT_SERVING, brokerFree...)
	// Not before the heartbeat could tell (10 s; amqp091 gives up after
	// three missed halves): earlier would mean something else failed.
	if noticed < 5*time.Second {
		t.Errorf("/readyz said 503 %s after the freeze: before a heartbeat could have been missed", noticed)
	}
	during := f.createBook(t)
	want = append(want, eventKey{"bookworm.catalog.v1.BookCreated", during.GetId()})
	thaw()
	thawed := time.Now()
	pollUntil(t, "/readyz ready again after the thaw", func() bool { return readyz(t, srv) == http.StatusOK })
	grpcHealthIs(t, grpc_health_v1.HealthCheckResponse_SERVING, brokerFree...)
	after := f.createBook(t)
	want = append(want, eventKey{"bookworm.catalog.v1.BookCreated", after.GetId()})
	pollUntil(t, "the events written during and after the freeze delivered", func() bool { return len(log.missing(want)) == 0 })
	t.Logf("freeze noticed after %s; ready again %s after the thaw", noticed.Round(time.Millisecond), time.Since(thawed).Round(time.Millisecond))
}

// brokerFree are the services whose context neither publishes nor consumes
// events: their health follows Postgres only, so a frozen broker leaves
// them SERVING (the assistant's conversations are its own rows, its tools
// read the catalog in process).
var brokerFree = []string{"bookworm.assistant.v1.AssistantService"}

// grpcHealthIs polls until grpc.health.v1 Check answers want for the
// server as a whole ("") and for every service it serves (asked through
// reflection, so a service added later is covered), except the services in
// serving, which must answer SERVING throughout: what a gRPC-probing
// orchestrator sees must agree with /readyz and with what each context
// needs.
func grpcHealthIs(t *testing.T, want grpc_health_v1.HealthCheckResponse_ServingStatus, serving ...string) {
	t.Helper()
	client := grpc_health_v1.NewHealthClient(grpcConn(t))
	names := []string{""}
	for _, sd := range servedServices(t, srv) {
		names = append(names, string(sd.FullName()))
	}
	if len(names) < 3 {
		t.Fatalf("health names %q: want the catalog and the rating at least", names)
	}
	for _, service := range names {
		want := want
		if slices.Contains(serving, service) {
			want = grpc_health_v1.HealthCheckResponse_SERVING
		}
		pollUntil(t, fmt.Sprintf("gRPC health of %q %v", service, want), func() bool {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			res, err := client.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: service})
			return err == nil && res.GetStatus() == want
		})
	}
}

// TestWritesSurviveAPostgresRestart restarts the run's Postgres while four
// writers create books through the server and the outbox relay publishes
// their events: the server's pool recovers without a restart of the
// server; every write that failed failed with Unavailable (retryable);
// every book that was committed, and only those, has its BookCreated
// delivered, exactly one event per book however often the relay had to
// publish it again (a batch it published but could not mark published when
// the database went away is published again: the consumer sees the same
// event id twice, which its inbox drops).
func TestWritesSurviveAPostgresRestart(t *testing.T) {
	needOwnContainers(t)
	log, _ := watchCatalogEvents(t)
	c := catalogClient(t, connectProto)
	f := newFixture(t, c, 1)

	var (
		mu       sync.Mutex
		created  []string // ids of the books whose CreateBook succeeded
		failures = map[connect.Code]int{}
		examples = map[connect.Code]error{}
	)
	succeeded := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(created)
	}
	failed := func() int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, v := range failures {
			n += v
		}
		return n
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				res, err := c.CreateBook(ctx, connect.NewRequest(&catalogv1.CreateBookRequest{Book: f.bookInput()}))
				cancel()
				mu.Lock()
				if err == nil {
					created = append(created, res.Msg.GetBook().GetId())
				} else {
					code := connect.CodeOf(err)
					failures[code]++
					examples[code] = err
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond) // a client backing off
				}
			}
		})
	}
	stopWriters := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopWriters)
	pollUntil(t, "the first books written", func() bool { return succeeded() >= 20 })

	pending := 0
	_ = serverPool(t).QueryRow(t.Context(), "SELECT count(*) FROM events.outbox WHERE published_at IS NULL").Scan(&pending)
	start := sync.OnceFunc(func() {
		if err := pg.Start(context.Background()); err != nil {
			t.Fatalf("starting Postgres again: %v", err)
		}
	})
	t.Cleanup(start)
	if err := pg.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	pollUntil(t, "/readyz reporting the database outage", func() bool { return readyz(t, srv) == http.StatusServiceUnavailable })
	pollUntil(t, "writes failing while Postgres is down", func() bool { return failed() >= 4 })
	start()
	down := time.Since(stopped)
	pollUntil(t, "/readyz ready again", func() bool { return readyz(t, srv) == http.StatusOK })
	atStart := succeeded()
	pollUntil(t, "books written after the restart", func() bool { return succeeded() >= atStart+20 })
	stopWriters()

	mu.Lock()
	ok := slices.Clone(created)
	for code, n := range failures {
		if code != connect.CodeUnavailable {
			t.Errorf("%d writes failed with %v, want Unavailable only; for example: %v", n, code, examples[code])
		}
	}
	nFailed := failures[connect.CodeUnavailable]
	mu.Unlock()

	// What the database holds: the committed books of the fixture.
	rows, err := serverPool(t).Query(t.Context(), "SELECT id::text FROM catalog.books WHERE category_id = $1", f.category.GetId())
	if err != nil {
		t.Fatal(err)
	}
	var committed []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		committed = append(committed, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, id := range ok {
		if !slices.Contains(committed, id) {
			t.Errorf("book %s was created (the server said so) but is not in the database", id)
		}
	}
	// Every committed book, including one whose commit went through while
	// its answer was lost, has exactly one event: book and event are one
	// transaction.
	var want []eventKey
	for _, id := range committed {
		want = append(want, eventKey{"bookworm.catalog.v1.BookCreated", id})
	}
	deadline := time.Now().Add(eventsWait)
	for missing := log.missing(want); len(missing) > 0; missing = log.missing(want) {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d committed books never had their BookCreated delivered, for example %+v", len(missing), len(want), missing[0])
		}
		time.Sleep(100 * time.Millisecond)
	}
	log.mu.Lock()
	redelivered := 0
	for _, k := range want {
		if n := len(log.ids[k]); n != 1 {
			t.Errorf("book %s: %d distinct BookCreated events, want one", k.bookID, n)
		}
		redelivered += log.got[k] - 1
	}
	log.mu.Unlock()
	t.Logf("%d books created, %d committed (%d with the answer lost), %d writes failed with Unavailable; Postgres down %s with %d events pending at the stop; %d redeliveries of an event",
		len(ok), len(committed), len(committed)-len(ok), nFailed, down.Round(time.Millisecond), pending, redelivered)
	if nFailed == 0 {
		t.Error("no write failed while Postgres was down: the restart was not observed")
	}
	everyBookAgrees(t)
}
