package rabbitmq

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	typev1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/type/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// BenchmarkPublishBatch measures publishing with confirms, as the outbox relay
// does it: batches of realistic BookUpdated events, persistent, routed to a
// durable quorum queue, each batch waiting for all its confirms. "parallel"
// runs several batches at once on one Broker, as several relay workers
// would. Reported: msgs/s.
//
//	go test -run '^$' -bench PublishBatch -benchtime 100000x ./internal/adapters/rabbitmq
func BenchmarkPublishBatch(b *testing.B) {
	for _, bc := range []struct {
		batch, parallel int
	}{
		{100, 1}, {500, 1}, {1000, 1}, {500, 4},
	} {
		b.Run(fmt.Sprintf("batch=%d/parallel=%d", bc.batch, bc.parallel), func(b *testing.B) {
			benchmarkPublishBatch(b, bc.batch, bc.parallel)
		})
	}
}

func benchmarkPublishBatch(b *testing.B, batch, parallel int) {
	prefix := "bench-" + randomHex(6)
	cfg := Config{
		URL:            amqpURL(),
		ConnectionName: prefix,
		Exchange:       prefix + ".events",
		QueuePrefix:    prefix,
		Logger:         slog.New(slog.DiscardHandler),
		Queues: []QueueConfig{{
			Context:    "bench",
			EventTypes: []string{string((&catalogv1.BookUpdated{}).ProtoReflect().Descriptor().FullName())},
		}},
	}
	broker, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	if err := broker.WaitReady(ctx); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { deleteTopology(b, cfg) })
	b.Cleanup(func() { _ = broker.Close() })

	event := &catalogv1.BookUpdated{
		BookId:         "01a211f1-45a9-7162-8018-fe7bd0f3101d",
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
	template, err := events.NewProtoMessage("catalog", event)
	if err != nil {
		b.Fatal(err)
	}
	template.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	b.SetBytes(int64(len(template.Data)))

	// Each worker publishes its share of b.N messages in batches.
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	b.ResetTimer()
	start := time.Now()
	for w := range parallel {
		share := b.N / parallel
		if w == 0 {
			share += b.N % parallel
		}
		wg.Go(func() {
			msgs := make([]Message, 0, batch)
			for sent := 0; sent < share; sent += len(msgs) {
				msgs = msgs[:0]
				for range min(batch, share-sent) {
					m := template
					m.ID = events.NewMessage("", "", nil).ID
					msgs = append(msgs, m)
				}
				if _, err := broker.PublishBatch(context.Background(), msgs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
}
