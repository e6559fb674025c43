package flows

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
)

// The relay benchmarks run on the real Postgres and RabbitMQ, with events of
// a realistic size routed to a durable quorum queue, so that a confirm means
// what it means in production.

var updatedType = string((&catalogv1.BookUpdated{}).ProtoReflect().Descriptor().FullName())

// benchEvent returns a realistic BookUpdated; n goes into its book id.
func benchEvent(n int) *catalogv1.BookUpdated {
	return &catalogv1.BookUpdated{
		BookId:         fmt.Sprintf("01a211f1-45a9-7162-8018-%012d", n),
		Version:        7,
		Title:          "The Left Hand of Darkness",
		Description:    "A lone human ambassador is sent to Winter, an alien world without sexual prejudice, where the inhabitants can change their gender whenever they choose.",
		Isbn:           "9780441478125",
		Price:          &typev1.Money{CurrencyCode: "EUR", Units: 12, Nanos: 990000000},
		EffectivePrice: &typev1.Money{CurrencyCode: "EUR", Units: 12, Nanos: 990000000},
		StockQuantity:  42,
		CategoryId:     "01a211f1-45a9-7162-8018-fe7bd0f31020",
		PublisherId:    "01a211f1-45a9-7162-8018-fe7bd0f31021",
		AuthorIds:      []string{"01a211f1-45a9-7162-8018-fe7bd0f31022"},
		OccurTime:      timestamppb.Now(),
	}
}

// BenchmarkRelayThroughput measures how fast one relay (the server's
// defaults: 2 workers, batches of 500) empties a backlog of 50,000 committed
// events into a quorum queue, with publisher confirms, marking each
// published. Reported: events/s from the relay's start until the last event
// is marked.
//
//	go test -run '^$' -bench RelayThroughput -benchtime 3x ./internal/adapters/postgres
func BenchmarkRelayThroughput(b *testing.B) {
	const events = 50_000
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("workers=%d", workers), func(b *testing.B) {
			pool := pgtest.NewPool(b)
			ctx := context.Background()
			cfg := testBrokerConfig(b, updatedType)
			broker := startTestBroker(b, cfg)
			var total time.Duration
			for range b.N {
				b.StopTimer()
				enqueueBench(b, ctx, pool, events)
				relay := outbox.NewRelay(pool, broker, outbox.RelayConfig{Workers: workers, Logger: pgtest.DiscardLog()})
				rctx, cancel := context.WithCancel(ctx)
				done := make(chan struct{})
				b.StartTimer()
				start := time.Now()
				go func() {
					defer close(done)
					_ = relay.Run(rctx)
				}()
				for relay.Stats().Published < events {
					time.Sleep(time.Millisecond)
				}
				total += time.Since(start)
				b.StopTimer()
				cancel()
				<-done
				if s := relay.Stats(); s.FailedBatches > 0 {
					b.Logf("stats: %+v", s)
				}
				if n := unpublished(b, pool); n != 0 {
					b.Fatalf("%d events left unpublished", n)
				}
				purgeQueue(b, cfg, pool)
			}
			b.ReportMetric(float64(events*b.N)/total.Seconds(), "events/s")
		})
	}
}

// enqueueBench commits n events with Enqueue, 500 per transaction.
func enqueueBench(b *testing.B, ctx context.Context, pool *pgxpool.Pool, n int) {
	b.Helper()
	for i := 0; i < n; i += 500 {
		err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
			events := make([]proto.Message, 0, 500)
			for j := i; j < min(i+500, n); j++ {
				events = append(events, benchEvent(j))
			}
			return outbox.Enqueue(ctx, tx, catalogstore.CatalogSource, events...)
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// purgeQueue empties the benchmark's queue and the outbox between rounds.
func purgeQueue(b *testing.B, cfg rabbitmq.Config, pool *pgxpool.Pool) {
	b.Helper()
	conn, err := amqp.Dial(cfg.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		b.Fatal(err)
	}
	if _, err := ch.QueuePurge(cfg.QueuePrefix+"."+relayContext, false); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(context.Background(), `TRUNCATE events.outbox`); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRelayLatency commits one event per transaction at a steady
// rate (500 events/s for 20 s) while the relay and a consumer run, and
// measures each event's time from the producer's commit returning to the
// consumer's handler (an inbox transaction, HandleOnce) having committed.
// Reported: p50, p95, p99 and max in milliseconds.
//
//	go test -run '^$' -bench RelayLatency -benchtime 1x ./internal/adapters/postgres
func BenchmarkRelayLatency(b *testing.B) {
	const (
		rate     = 500
		duration = 20 * time.Second
	)
	pool := pgtest.NewPool(b)
	ctx := context.Background()
	broker := startTestBroker(b, testBrokerConfig(b, updatedType))
	var (
		mu        sync.Mutex
		committed = map[int]time.Time{}
		confirmed = map[int]time.Time{}
		handled   = map[int]time.Time{}
	)
	relay := outbox.NewRelay(pool, confirmClock{broker, func(n int, at time.Time) {
		mu.Lock()
		if _, dup := confirmed[n]; !dup {
			confirmed[n] = at
		}
		mu.Unlock()
	}}, outbox.RelayConfig{Logger: pgtest.DiscardLog()})
	runRelay(b, relay)
	consumer, err := broker.Consume(ctx, relayContext, func(ctx context.Context, msg events.Message) error {
		n, err := benchEventNumber(msg)
		if err != nil {
			return err
		}
		// Handled means the consumer's inbox transaction committed.
		if _, err := outbox.HandleOnce(ctx, pool, "bench", msg.ID, func(context.Context, pgx.Tx) error { return nil }); err != nil {
			return err
		}
		at := time.Now()
		mu.Lock()
		if _, dup := handled[n]; !dup {
			handled[n] = at
		}
		mu.Unlock()
		return nil
	}, rabbitmq.ConsumeOptions{Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = consumer.Shutdown(context.Background()) })

	total := int(rate * duration / time.Second)
	for range b.N {
		mu.Lock()
		clear(committed)
		clear(confirmed)
		clear(handled)
		mu.Unlock()
		// Producers: each event is committed at its slot of a steady
		// schedule, by whichever producer is free.
		slots := make(chan int)
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() {
				for n := range slots {
					err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
						return outbox.Enqueue(ctx, tx, catalogstore.CatalogSource, benchEvent(n))
					})
					at := time.Now()
					if err != nil {
						b.Error(err)
						continue
					}
					mu.Lock()
					committed[n] = at
					mu.Unlock()
				}
			})
		}
		b.ResetTimer()
		start := time.Now()
		for n := 1; n <= total; n++ {
			time.Sleep(time.Until(start.Add(time.Duration(n) * time.Second / rate)))
			slots <- n
		}
		close(slots)
		wg.Wait()
		deadline := time.Now().Add(relayWait)
		for {
			mu.Lock()
			got := len(handled)
			mu.Unlock()
			if got >= total {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d of %d events handled", got, total)
			}
			time.Sleep(10 * time.Millisecond)
		}
		b.StopTimer()
		sent := time.Since(start)

		mu.Lock()
		lat := make([]time.Duration, 0, total)
		pub := make([]time.Duration, 0, total)
		for n, c := range committed {
			lat = append(lat, max(handled[n].Sub(c), 0))
			pub = append(pub, max(confirmed[n].Sub(c), 0))
		}
		mu.Unlock()
		at := func(d []time.Duration, p float64) float64 {
			return float64(d[int(p*float64(len(d)-1))].Microseconds()) / 1000
		}
		slices.Sort(lat)
		slices.Sort(pub)
		b.ReportMetric(float64(total)/sent.Seconds(), "events/s")
		b.ReportMetric(at(lat, 0.50), "p50-ms")
		b.ReportMetric(at(lat, 0.95), "p95-ms")
		b.ReportMetric(at(lat, 0.99), "p99-ms")
		b.ReportMetric(at(lat, 1), "max-ms")
		// Commit to the broker's confirm: the relay's share.
		b.ReportMetric(at(pub, 0.50), "confirm-p50-ms")
		b.ReportMetric(at(pub, 0.99), "confirm-p99-ms")
	}
}

// benchEventNumber returns the number benchEvent put into an event.
func benchEventNumber(msg events.Message) (int, error) {
	var e catalogv1.BookUpdated
	if err := proto.Unmarshal(msg.Data, &e); err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimLeft(e.GetBookId()[24:], "0"))
}

// confirmClock is a Publisher that tells when each event was confirmed.
type confirmClock struct {
	*rabbitmq.Broker
	at func(n int, t time.Time)
}

func (c confirmClock) PublishBatch(ctx context.Context, msgs []events.Message) ([]bool, error) {
	ok, err := c.Broker.PublishBatch(ctx, msgs)
	now := time.Now()
	for i, m := range msgs {
		if ok[i] {
			if n, err := benchEventNumber(m); err == nil {
				c.at(n, now)
			}
		}
	}
	return ok, err
}
