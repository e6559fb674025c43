package flows

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/proto"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
)

// deliver hands each message to the consumer of its type, as the broker
// would.
func (f *ratingFixture) deliver(msgs ...events.Message) {
	f.t.Helper()
	for _, m := range msgs {
		h := f.ratings.Handle
		if m.Type == events.TypeOf(&ratingv1.ReviewRejected{}) {
			h = f.rejects.Handle
		}
		if err := h(f.ctx, m); err != nil {
			f.t.Fatalf("handling %s %s: %v", m.Type, m.ID, err)
		}
	}
}

// settle delivers every pending event, and the events those cause, until
// none is left.
func (f *ratingFixture) settle() {
	f.t.Helper()
	for range 10 {
		evs := f.events()
		if len(evs) == 0 {
			return
		}
		f.deliver(evs...)
	}
	f.t.Fatal("events keep coming")
}

// bookRating reads a book's rating columns from the table.
func (f *ratingFixture) bookRating(id string) (sum int64, count int32) {
	f.t.Helper()
	if err := f.pool.QueryRow(f.ctx, `SELECT rating_sum, rating_count FROM catalog.books WHERE id = $1`, id).Scan(&sum, &count); err != nil {
		f.t.Fatal(err)
	}
	return sum, count
}

// unapplied returns how many of the review events in the outbox the
// catalog's consumer has not applied yet (it records each one it applies in
// its inbox, in the transaction that changes the sums). Figures that agree
// prove nothing while it is above 0: events still on their way can cancel
// out (one review going from 1 to 5 stars, another from 5 to 1) and then
// arrive one at a time.
func (f *ratingFixture) unapplied() int {
	f.t.Helper()
	var n int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM events.outbox o
		WHERE o.type = ANY($1) AND NOT EXISTS (
			SELECT 1 FROM events.inbox i WHERE i.consumer = $2 AND i.event_id = o.event_id::text)`,
		f.ratings.EventTypes(), catalogstore.CatalogRatingsConsumer).Scan(&n); err != nil {
		f.t.Fatal(err)
	}
	return n
}

// agree checks that the catalog's figures of a book equal the rating
// context's summary exactly, average included, and returns the count.
func (f *ratingFixture) agree(bookID string) int64 {
	f.t.Helper()
	s := f.summary(bookID)
	sum, count := f.bookRating(bookID)
	if sum != s.Sum() || int64(count) != s.Count() {
		f.t.Fatalf("book %s: catalog sum %d count %d, rating context sum %d count %d", bookID, sum, count, s.Sum(), s.Count())
	}
	if avg := f.get(bookID).RatingAverage(); avg != s.Average() {
		f.t.Fatalf("book %s: catalog average %v, rating context %v", bookID, avg, s.Average())
	}
	return s.Count()
}

func TestCatalogRatingsFollowReviews(t *testing.T) {
	f := newRatingFixture(t)
	b1, b2 := f.book(), f.book()
	var mine []*rating.Review
	for i := range 12 {
		mine = append(mine, f.review(user(i), b1, int32(1+i%5)))
		f.review(user(i), b2, int32(5-i%5))
	}
	f.settle()
	if n := f.agree(b1); n != 12 {
		t.Fatalf("count %d", n)
	}
	f.agree(b2)

	for i, r := range mine[:6] {
		if i%2 == 0 {
			if _, err := f.svc.UpdateReview(f.ctx, user(i), r.ID(), "", rating.ReviewFields{Stars: 1, Body: "changed"}, []string{"stars", "body"}); err != nil {
				t.Fatal(err)
			}
		} else if err := f.svc.DeleteReview(f.ctx, user(i), r.ID()); err != nil {
			t.Fatal(err)
		}
	}
	f.settle()
	if n := f.agree(b1); n != 9 {
		t.Fatalf("count %d after 3 deletes", n)
	}
	f.agree(b2)
	for _, r := range mine[6:] {
		if err := f.svc.DeleteReview(f.ctx, moderator, r.ID()); err != nil {
			t.Fatal(err)
		}
	}
	f.settle()
	if n := f.agree(b1); n != 3 {
		t.Fatalf("count %d", n)
	}
}

// TestCatalogRatingsCountEachEventOnce delivers every event twice: once
// more after its commit (a consumer that crashed before its ack, or a
// publish whose confirm was lost) and once concurrently with itself.
func TestCatalogRatingsCountEachEventOnce(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	for i := range 8 {
		f.review(user(i), bookID, int32(1+i%5))
	}
	evs := f.events()
	f.deliver(evs...)
	before := f.agree(bookID)
	f.deliver(evs...) // redelivered after commit
	if f.agree(bookID) != before {
		t.Fatal("redelivery changed the count")
	}

	r := f.review(user(100), bookID, 5)
	if _, err := f.svc.UpdateReview(f.ctx, user(100), r.ID(), "", rating.ReviewFields{Stars: 2}, []string{"stars"}); err != nil {
		t.Fatal(err)
	}
	evs = f.events()
	var wg sync.WaitGroup
	for _, m := range evs {
		for range 3 {
			wg.Go(func() {
				if err := f.ratings.Handle(f.ctx, m); err != nil {
					t.Errorf("handle %s: %v", m.ID, err)
				}
			})
		}
	}
	wg.Wait()
	if n := f.agree(bookID); n != 9 {
		t.Fatalf("count %d, want 9", n)
	}
	var inbox int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM events.inbox WHERE consumer = $1`, catalogstore.CatalogRatingsConsumer).Scan(&inbox); err != nil {
		t.Fatal(err)
	}
	if inbox != 10 {
		t.Fatalf("%d inbox rows, want one per event (10)", inbox)
	}
}

// TestCatalogRatingsInAnyOrder delivers a history of creates, updates and
// deletes shuffled, with duplicates.
func TestCatalogRatingsInAnyOrder(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	rng := rand.New(rand.NewPCG(7, 11))
	var evs []events.Message
	for i := range 15 {
		r := f.review(user(i), bookID, int32(1+rng.IntN(5)))
		for range rng.IntN(3) {
			if _, err := f.svc.UpdateReview(f.ctx, user(i), r.ID(), "", rating.ReviewFields{Stars: int32(1 + rng.IntN(5))}, []string{"stars"}); err != nil {
				t.Fatal(err)
			}
		}
		if rng.IntN(3) == 0 {
			if err := f.svc.DeleteReview(f.ctx, user(i), r.ID()); err != nil {
				t.Fatal(err)
			}
		}
	}
	evs = f.events()
	for _, m := range slices.Clone(evs) {
		if rng.IntN(2) == 0 {
			evs = append(evs, m)
		}
	}
	rng.Shuffle(len(evs), func(i, j int) { evs[i], evs[j] = evs[j], evs[i] })
	f.deliver(evs...)
	f.agree(bookID)
}

// TestCatalogRatingsFailedEventCommitsNothing: an event that cannot be read
// fails (the broker retries it, then dead-letters it) and leaves no inbox
// row, so a good copy of the same id is still applied.
func TestCatalogRatingsFailedEventCommitsNothing(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	f.review(user(1), bookID, 4)
	evs := f.events()
	bad := evs[0]
	bad.Data = []byte{0xff, 0xff, 0xff}
	if err := f.ratings.Handle(f.ctx, bad); err == nil {
		t.Fatal("a malformed event was accepted")
	}
	wrongType := evs[0]
	wrongType.Type = events.TypeOf(&ratingv1.ReviewRejected{})
	if err := f.ratings.Handle(f.ctx, wrongType); err == nil {
		t.Fatal("an event of another type was accepted")
	}
	if sum, count := f.bookRating(bookID); sum != 0 || count != 0 {
		t.Fatalf("failed events counted: %d %d", sum, count)
	}
	f.deliver(evs...)
	if n := f.agree(bookID); n != 1 {
		t.Fatalf("count %d", n)
	}
}

// TestCatalogRatingsNotifyTheCache: a change of a book's rating is
// announced on the cache channel when it commits.
func TestCatalogRatingsNotifyTheCache(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	f.review(user(1), bookID, 4)
	conn, err := f.pool.Acquire(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := conn.Exec(f.ctx, "LISTEN "+pgx.Identifier{catalogstore.CatalogChannel}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	f.settle()
	for {
		n, err := conn.Conn().WaitForNotification(f.ctx)
		if err != nil {
			t.Fatalf("no notification for the rated book: %v", err)
		}
		if n.Channel == catalogstore.CatalogChannel && n.Payload == bookID {
			break
		}
	}
	if _, err := conn.Exec(f.ctx, "UNLISTEN *"); err != nil {
		t.Fatal(err)
	}
}

// TestReviewOfADeletedBookIsCompensated: a review whose event reaches the
// catalog after its book was deleted is not counted; the catalog rejects it,
// the rating context removes it, and the removal (reason rejected) changes
// nothing in the catalog. Reviews counted before the deletion stay counted
// on both sides.
func TestReviewOfADeletedBookIsCompensated(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	counted := f.review(user(1), bookID, 5)
	f.settle()
	late := f.review(user(2), bookID, 1)
	lateEvents := f.events()
	if err := f.books.DeleteBook(f.ctx, bookID, f.now()); err != nil {
		t.Fatal(err)
	}
	f.deliver(lateEvents...)
	if sum, count := f.bookRating(bookID); sum != 5 || count != 1 {
		t.Fatalf("after the late review: sum %d count %d, want 5 1", sum, count)
	}

	rejected := f.events()
	if len(rejected) != 1 || sourceContext(rejected[0].Source) != catalogstore.CatalogSource {
		t.Fatalf("events after the late review: %+v", rejected)
	}
	rej := decode(t, rejected[0], &ratingv1.ReviewRejected{})
	if rej.GetReviewId() != late.ID() || rej.GetBookId() != bookID || rej.GetVersion() != 1 ||
		rej.GetReason() != ratingv1.ReviewRejected_REASON_BOOK_DELETED {
		t.Fatalf("ReviewRejected %v", rej)
	}
	// Rejections that do not match the review (another book; a version
	// it never had) remove nothing: they fail permanently.
	for i, forged := range []*ratingv1.ReviewRejected{
		{ReviewId: late.ID(), BookId: "0195f3a0-0000-7000-8000-00000000b0b0", Version: 1, Reason: ratingv1.ReviewRejected_REASON_BOOK_DELETED},
		{ReviewId: late.ID(), BookId: bookID, Version: 7, Reason: ratingv1.ReviewRejected_REASON_BOOK_DELETED},
	} {
		msg := rejected[0]
		msg.ID = fmt.Sprintf("0195f3a0-0000-7000-8000-0000000000f%d", i)
		msg.Data = mustMarshal(t, forged)
		if err := f.rejects.Handle(f.ctx, msg); !errors.Is(err, events.ErrPermanent) || !errors.Is(err, rating.ErrRejectionMismatch) {
			t.Fatalf("forged rejection %d: %v; want a permanent ErrRejectionMismatch", i, err)
		}
	}
	if evs := f.events(); len(evs) != 0 {
		t.Fatalf("events after forged rejections: %+v", evs)
	}
	f.deliver(rejected...)
	f.deliver(rejected...) // twice: the review is removed once
	removal := f.events()
	if len(removal) != 1 {
		t.Fatalf("%d events after the rejection, want one ReviewDeleted", len(removal))
	}
	del := decode(t, removal[0], &ratingv1.ReviewDeleted{})
	if del.GetReviewId() != late.ID() || del.GetReason() != ratingv1.ReviewDeleted_REASON_REJECTED || del.GetVersion() != 2 ||
		del.GetOldStars() != 1 {
		t.Fatalf("ReviewDeleted %v", del)
	}
	if _, err := f.svc.UpdateReview(f.ctx, user(2), late.ID(), "", rating.ReviewFields{Stars: 2}, []string{"stars"}); err == nil {
		t.Fatal("the rejected review is still there")
	}
	f.deliver(removal...)
	if n := f.agree(bookID); n != 1 {
		t.Fatalf("count %d, want the one review counted before the deletion", n)
	}
	if f.events() != nil {
		t.Fatal("the removal of a rejected review caused more events")
	}

	// The review counted before the deletion can still change and go, on
	// both sides.
	if _, err := f.svc.UpdateReview(f.ctx, user(1), counted.ID(), "", rating.ReviewFields{Stars: 3}, []string{"stars"}); err != nil {
		t.Fatal(err)
	}
	f.settle()
	f.agree(bookID)
	if err := f.svc.DeleteReview(f.ctx, user(1), counted.ID()); err != nil {
		t.Fatal(err)
	}
	f.settle()
	if n := f.agree(bookID); n != 0 {
		t.Fatalf("count %d", n)
	}
}

// TestReviewRaceWithBookDeletion races reviews against the deletion of
// their book: whatever interleaving happens, once events settle the
// catalog and the rating context agree.
func TestReviewRaceWithBookDeletion(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Go(func() {
			_, _ = f.svc.CreateReview(f.ctx, user(i), bookID, rating.ReviewFields{Stars: int32(1 + i%5)})
		})
		if i == 10 {
			wg.Go(func() {
				time.Sleep(time.Millisecond)
				if err := f.books.DeleteBook(f.ctx, bookID, f.now()); err != nil {
					t.Error(err)
				}
			})
		}
	}
	wg.Wait()
	f.settle()
	f.agree(bookID)
}

// TestRatingFiguresCanAgreeWhileEventsArePending is the CI failure of
// TestRatingFlowOverRabbitMQ ("catalog sum 276 count 90, rating context sum
// 280 count 90") replayed step by step: two updates in flight whose changes
// cancel out (one review from 1 to 5 stars, another from 5 to 1) leave the
// catalog's figures equal to the rating context's before either is applied;
// the first to arrive moves the catalog's sum by 4, the second brings it
// back. The rule is right all along; equal figures alone do not say that
// the events have settled, unapplied does.
func TestRatingFiguresCanAgreeWhileEventsArePending(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	up, down := f.review(user(0), bookID, 1), f.review(user(4), bookID, 5)
	f.settle()
	if n := f.unapplied(); n != 0 {
		t.Fatalf("%d events unapplied after settling", n)
	}
	for _, c := range []struct {
		r     *rating.Review
		p     int
		stars int32
	}{{up, 0, 5}, {down, 4, 1}} {
		if _, err := f.svc.UpdateReview(f.ctx, user(c.p), c.r.ID(), "", rating.ReviewFields{Stars: c.stars}, []string{"stars"}); err != nil {
			t.Fatal(err)
		}
	}
	evs := f.events()
	if len(evs) != 2 {
		t.Fatalf("%d events, want the two updates", len(evs))
	}
	f.agree(bookID) // 6 stars over 2 reviews on both sides, the updates not applied
	if n := f.unapplied(); n != 2 {
		t.Fatalf("%d events unapplied, want 2", n)
	}
	f.deliver(evs[1]) // 5 -> 1 arrives first
	if sum, count := f.bookRating(bookID); sum != 2 || count != 2 {
		t.Fatalf("catalog sum %d count %d after the 5 -> 1 update, want 2 and 2", sum, count)
	}
	if s := f.summary(bookID); s.Sum() != 6 {
		t.Fatalf("rating context sum %d, want 6", s.Sum())
	}
	f.deliver(evs[0])
	f.agree(bookID)
	if n := f.unapplied(); n != 0 {
		t.Fatalf("%d events unapplied after delivering both", n)
	}
}

// TestCatalogRatingsOneReviewsEventsAtOnce: events of one review handled
// at the same moment in concurrent transactions (consumers run with
// Concurrency above 1, and a broker reorders) take turns on the review's
// tally row, so each reads what the one before wrote instead of all reading
// the old tally and all adding their change. The test holds the tally
// locked until every handler waits on it, so they really do meet there.
func TestCatalogRatingsOneReviewsEventsAtOnce(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	p := user(1)
	r := f.review(p, bookID, 1)
	f.settle()
	for _, stars := range []int32{5, 2} {
		if _, err := f.svc.UpdateReview(f.ctx, p, r.ID(), "", rating.ReviewFields{Stars: stars}, []string{"stars"}); err != nil {
			t.Fatal(err)
		}
	}
	updates := f.events() // version 2 (5 stars) and version 3 (2 stars)
	f.race(r.ID(), updates, len(updates))
	if sum, count := f.bookRating(bookID); sum != 2 || count != 1 {
		t.Fatalf("after two concurrent updates: catalog sum %d count %d, want 2 and 1", sum, count)
	}
	f.agree(bookID)

	if err := f.svc.DeleteReview(f.ctx, p, r.ID()); err != nil {
		t.Fatal(err)
	}
	deleted := f.events() // version 4
	// The updates again beside the delete: the inbox drops them before
	// they reach the tally, so only the delete waits there.
	f.race(r.ID(), append(deleted, updates...), 1)
	if sum, count := f.bookRating(bookID); sum != 0 || count != 0 {
		t.Fatalf("after the delete: catalog sum %d count %d, want 0 and 0", sum, count)
	}
	f.agree(bookID)
	var version int64
	if err := f.pool.QueryRow(f.ctx, `SELECT version FROM catalog.review_tallies WHERE review_id = $1`, r.ID()).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != 4 {
		t.Fatalf("tally version %d, want 4", version)
	}
}

// race holds the tally of reviewID locked, hands every message of evs to
// the catalog's consumer at once, waits until waiting of them wait on a
// lock (the tally's; without it, one of them would wait on the book's
// after reading the old tally), then lets them all go and waits for them
// to finish.
func (f *ratingFixture) race(reviewID string, evs []events.Message, waiting int) {
	f.t.Helper()
	blocker, err := f.pool.Begin(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	// Runs first on a failure, so that the handlers can finish.
	defer func() { _ = blocker.Rollback(f.ctx) }()
	if _, err := blocker.Exec(f.ctx, `SELECT 1 FROM catalog.review_tallies WHERE review_id = $1 FOR UPDATE`, reviewID); err != nil {
		f.t.Fatal(err)
	}
	for _, m := range evs {
		wg.Go(func() {
			if err := f.ratings.Handle(f.ctx, m); err != nil {
				f.t.Errorf("handle %s: %v", m.ID, err)
			}
		})
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			f.t.Fatal(err)
		}
		if n >= waiting {
			break
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("%d handlers wait on a lock, want %d", n, waiting)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := blocker.Commit(f.ctx); err != nil {
		f.t.Fatal(err)
	}
}

// TestCatalogRatingsUnknownBookIsAnAnomaly: a review of a book the catalog
// never had (another deployment's, say) is not rejected, which would make
// the rating context delete the review: it fails permanently (so the broker
// dead-letters it at once) and commits nothing, no rejection included.
func TestCatalogRatingsUnknownBookIsAnAnomaly(t *testing.T) {
	f := newRatingFixture(t)
	bookID := f.book()
	f.review(user(1), bookID, 4)
	evs := f.events()
	var created ratingv1.ReviewCreated
	decode(t, evs[0], &created)
	created.BookId = "0195f3a0-0000-7000-8000-00000000dead"
	data, err := proto.Marshal(&created)
	if err != nil {
		t.Fatal(err)
	}
	foreign := evs[0]
	foreign.Data = data
	err = f.ratings.Handle(f.ctx, foreign)
	if !errors.Is(err, events.ErrPermanent) || !errors.Is(err, catalog.ErrUnknownBook) {
		t.Fatalf("review of an unknown book: %v; want a permanent ErrUnknownBook", err)
	}
	if rest := f.events(); len(rest) != 0 {
		t.Fatalf("events after the anomaly: %+v; want none (no rejection)", rest)
	}
	var tallies int
	if err := f.pool.QueryRow(f.ctx, `SELECT count(*) FROM catalog.review_tallies`).Scan(&tallies); err != nil {
		t.Fatal(err)
	}
	if tallies != 0 {
		t.Fatalf("%d tallies after the anomaly, want 0", tallies)
	}
}
