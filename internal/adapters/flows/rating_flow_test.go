package flows

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/pgtest"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rabbitmq"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// ratingFlow is a ratingFixture whose events travel for real: the relay
// publishes the outbox to RabbitMQ, and the catalog's and the rating
// context's consumers take them from their own queues, as in the server.
type ratingFlow struct {
	*ratingFixture
	broker *rabbitmq.Broker
	cfg    rabbitmq.Config

	mu        sync.Mutex
	delivered map[string]int // catalog deliveries by event id
}

func newRatingFlow(t *testing.T) *ratingFlow {
	t.Helper()
	f := &ratingFlow{ratingFixture: newRatingFixture(t), delivered: map[string]int{}}
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "test-ratings-" + hex.EncodeToString(b[:])
	f.cfg = rabbitmq.Config{
		URL:               testAMQPURL(),
		ConnectionName:    prefix,
		Exchange:          prefix + ".events",
		QueuePrefix:       prefix,
		ReconnectMinDelay: 20 * time.Millisecond,
		ReconnectMaxDelay: 500 * time.Millisecond,
		Logger:            slog.New(slog.NewTextHandler(io.Discard, nil)),
		Queues: []rabbitmq.QueueConfig{
			{Context: "catalog", EventTypes: f.ratings.EventTypes(), RetryDelays: []time.Duration{50 * time.Millisecond}, MaxAttempts: 5},
			{Context: "rating", EventTypes: f.rejects.EventTypes(), RetryDelays: []time.Duration{50 * time.Millisecond}, MaxAttempts: 5},
		},
	}
	t.Cleanup(func() { deleteBrokerTopology(t, f.cfg) })
	f.broker = startTestBroker(t, f.cfg)
	runRelay(t, outbox.NewRelay(f.pool, f.broker, outbox.RelayConfig{BatchSize: 100, PollInterval: 50 * time.Millisecond, Logger: pgtest.DiscardLog()}))
	f.consume("catalog", func(ctx context.Context, m events.Message) error {
		err := f.ratings.Handle(ctx, m)
		if err == nil {
			f.mu.Lock()
			f.delivered[m.ID]++
			f.mu.Unlock()
		}
		return err
	})
	f.consume("rating", f.rejects.Handle)
	return f
}

// consume runs h on the queue of contextName until the test ends.
func (f *ratingFlow) consume(contextName string, h rabbitmq.Handler) *rabbitmq.Consumer {
	f.t.Helper()
	c, err := f.broker.Consume(context.Background(), contextName, h, rabbitmq.ConsumeOptions{Concurrency: 4})
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), relayWait)
		defer cancel()
		if err := c.Shutdown(ctx); err != nil {
			f.t.Errorf("consumer shutdown: %v", err)
		}
	})
	return c
}

// settled waits until the catalog has applied every review event written
// so far, counts want reviews of bookID and agrees with the rating context.
// Figures that agree while events are still on their way are no proof: the
// pending ones can cancel out and then arrive one at a time (unapplied).
func (f *ratingFlow) settled(bookID string, want int64) {
	f.t.Helper()
	deadline := time.Now().Add(relayWait)
	for {
		pending := f.unapplied()
		s := f.summary(bookID)
		sum, count := f.bookRating(bookID)
		if pending == 0 && s.Count() == want && int64(count) == want && sum == s.Sum() {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("not settled after %s: catalog sum %d count %d, rating context sum %d count %d, want count %d, %d events not applied",
				relayWait, sum, count, s.Sum(), s.Count(), want, pending)
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.agree(bookID)
}

// TestRatingFlowOverRabbitMQ: 100 users review one book at once, some change
// or delete their review; once the events settle the catalog's figures are
// exactly the rating context's. Then a review written while its book is
// being deleted is rejected and removed, and events delivered again by the
// broker change nothing.
func TestRatingFlowOverRabbitMQ(t *testing.T) {
	f := newRatingFlow(t)
	bookID := f.book()
	const users = 100
	var wg sync.WaitGroup
	errs := make(chan error, users)
	for i := range users {
		wg.Go(func() {
			p := user(i)
			r, err := f.svc.CreateReview(f.ctx, p, bookID, rating.ReviewFields{Stars: int32(1 + i%5), Title: "Review"})
			if err == nil && i%4 == 0 {
				_, err = f.svc.UpdateReview(f.ctx, p, r.ID(), "", rating.ReviewFields{Stars: int32(5 - i%5)}, []string{"stars"})
			}
			if err == nil && i%10 == 1 {
				err = f.svc.DeleteReview(f.ctx, p, r.ID())
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	f.settled(bookID, users-users/10)

	// Every event again, as a broker redelivers after a lost ack: the inbox
	// drops them all.
	var again []events.Message
	for _, r := range pgtest.Outbox(t, f.pool) {
		if r.Type == events.TypeOf(&ratingv1.ReviewCreated{}) || r.Type == events.TypeOf(&ratingv1.ReviewUpdated{}) || r.Type == events.TypeOf(&ratingv1.ReviewDeleted{}) {
			again = append(again, events.Message{ID: r.ID, Type: r.Type, Source: r.Source, Time: r.Time, ContentType: r.ContentType, Data: r.Data})
		}
	}
	if _, err := f.broker.PublishBatch(f.ctx, again); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(relayWait)
	for {
		f.mu.Lock()
		twice := 0
		for _, m := range again {
			if f.delivered[m.ID] >= 2 {
				twice++
			}
		}
		f.mu.Unlock()
		if twice == len(again) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d copies handled", twice, len(again))
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.settled(bookID, users-users/10)
	f.review(user(500), bookID, 3)
	f.settled(bookID, users-users/10+1)

	// The compensation path: the book is deleted while a review of it is
	// being written (the store is called directly, past the use case's
	// check), so the catalog sees the review only after the deletion.
	if err := f.books.DeleteBook(f.ctx, bookID, f.now()); err != nil {
		t.Fatal(err)
	}
	late, err := rating.NewReview(coreid.New(), bookID, identity.Principal{Subject: "late-user"}, rating.ReviewFields{Stars: 1}, f.now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ratingstore.NewReviews(f.pool).CreateReview(f.ctx, late); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(relayWait)
	for {
		page, err := f.svc.ListReviews(f.ctx, rating.ListReviewsQuery{BookID: bookID, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		if page.Reviews[0].ID() != late.ID() {
			break // the newest review is gone: removed by the rejection
		}
		if time.Now().After(deadline) {
			t.Fatal("the review of the deleted book was not removed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	f.settled(bookID, users-users/10+1)
}
