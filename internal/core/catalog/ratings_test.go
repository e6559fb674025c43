package catalog_test

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

const (
	ratedBook = "0195f3a0-0000-7000-8000-0000000000b1"
	reviewA   = "0195f3a0-0000-7000-8000-0000000000a1"
)

func ev(change catalog.ReviewChange, version int64, stars int32) catalog.ReviewEvent {
	return catalog.ReviewEvent{Change: change, ReviewID: reviewA, BookID: ratedBook, Version: version, Stars: stars}
}

func tally(state catalog.TallyState, version int64, stars int32) catalog.ReviewTally {
	return catalog.ReviewTally{ReviewID: reviewA, BookID: ratedBook, State: state, Version: version, Stars: stars}
}

// TestApplyReviewEventOfAnUnknownBook: a review of a book the catalog never
// had is not rejected (which would delete it) but refused as an anomaly,
// whatever event first names it.
func TestApplyReviewEventOfAnUnknownBook(t *testing.T) {
	for _, change := range []catalog.ReviewChange{catalog.ReviewCreated, catalog.ReviewUpdated} {
		e := ev(change, 1, 3)
		out, err := catalog.ApplyReviewEvent(catalog.ReviewTally{}, e, catalog.BookMissing)
		if !errors.Is(err, catalog.ErrUnknownBook) || out.Reject != catalog.NotRejected {
			t.Fatalf("%v: %+v, %v; want ErrUnknownBook and no rejection", change, out, err)
		}
	}
}

func TestApplyReviewEvent(t *testing.T) {
	unseen := catalog.ReviewTally{}
	tests := []struct {
		name  string
		cur   catalog.ReviewTally
		event catalog.ReviewEvent
		book  catalog.BookPresence
		want  catalog.TallyOutcome
	}{
		{name: "created on a live book is counted", cur: unseen, event: ev(catalog.ReviewCreated, 1, 4), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyCounted, 1, 4), SumDelta: 4, CountDelta: 1}},
		{name: "the same event again is stale", cur: tally(catalog.TallyCounted, 1, 4), event: ev(catalog.ReviewCreated, 1, 4), book: catalog.BookLive,
			want: catalog.TallyOutcome{Stale: true, Next: tally(catalog.TallyCounted, 1, 4)}},
		{name: "update adjusts by the difference", cur: tally(catalog.TallyCounted, 1, 4), event: ev(catalog.ReviewUpdated, 2, 1), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyCounted, 2, 1), SumDelta: -3}},
		{name: "update of the text only", cur: tally(catalog.TallyCounted, 2, 1), event: ev(catalog.ReviewUpdated, 3, 1), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyCounted, 3, 1)}},
		{name: "an older update after a newer one is stale", cur: tally(catalog.TallyCounted, 3, 2), event: ev(catalog.ReviewUpdated, 2, 5), book: catalog.BookLive,
			want: catalog.TallyOutcome{Stale: true, Next: tally(catalog.TallyCounted, 3, 2)}},
		{name: "an update arriving first is counted with its stars", cur: unseen, event: ev(catalog.ReviewUpdated, 2, 5), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyCounted, 2, 5), SumDelta: 5, CountDelta: 1}},
		{name: "the created event after it is stale", cur: tally(catalog.TallyCounted, 2, 5), event: ev(catalog.ReviewCreated, 1, 3), book: catalog.BookLive,
			want: catalog.TallyOutcome{Stale: true, Next: tally(catalog.TallyCounted, 2, 5)}},
		{name: "delete subtracts what was counted, not what the event says", cur: tally(catalog.TallyCounted, 1, 4), event: ev(catalog.ReviewDeleted, 3, 2), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRemoved, 3, 0), SumDelta: -4, CountDelta: -1}},
		{name: "a counted review is still adjusted after its book was deleted", cur: tally(catalog.TallyCounted, 1, 4), event: ev(catalog.ReviewUpdated, 2, 5), book: catalog.BookGone,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyCounted, 2, 5), SumDelta: 1}},
		{name: "and subtracted", cur: tally(catalog.TallyCounted, 2, 5), event: ev(catalog.ReviewDeleted, 3, 5), book: catalog.BookGone,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRemoved, 3, 0), SumDelta: -5, CountDelta: -1}},
		{name: "a delete arriving first leaves a tombstone", cur: unseen, event: ev(catalog.ReviewDeleted, 2, 3), book: catalog.BookLive,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRemoved, 2, 0)}},
		{name: "the created event after the tombstone is stale", cur: tally(catalog.TallyRemoved, 2, 0), event: ev(catalog.ReviewCreated, 1, 3), book: catalog.BookLive,
			want: catalog.TallyOutcome{Stale: true, Next: tally(catalog.TallyRemoved, 2, 0)}},
		{name: "a new review of a deleted book is rejected", cur: unseen, event: ev(catalog.ReviewCreated, 1, 3), book: catalog.BookGone,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRejected, 1, 0), Reject: catalog.RejectedBookDeleted}},
		{name: "a later update of a rejected review is not counted nor rejected again", cur: tally(catalog.TallyRejected, 1, 0), event: ev(catalog.ReviewUpdated, 2, 5), book: catalog.BookGone,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRejected, 2, 0)}},
		{name: "the removal of a rejected review changes no sums", cur: tally(catalog.TallyRejected, 2, 0), event: ev(catalog.ReviewDeleted, 3, 5), book: catalog.BookGone,
			want: catalog.TallyOutcome{Next: tally(catalog.TallyRemoved, 3, 0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := catalog.ApplyReviewEvent(tc.cur, tc.event, tc.book)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestApplyReviewEventRefuses(t *testing.T) {
	tests := []struct {
		name  string
		cur   catalog.ReviewTally
		event catalog.ReviewEvent
	}{
		{name: "unknown change", event: catalog.ReviewEvent{Change: 9, ReviewID: reviewA, BookID: ratedBook, Version: 1, Stars: 3}},
		{name: "zero stars", event: ev(catalog.ReviewCreated, 1, 0)},
		{name: "six stars", event: ev(catalog.ReviewUpdated, 2, 6)},
		{name: "version zero", event: ev(catalog.ReviewCreated, 0, 3)},
		{name: "malformed review id", event: catalog.ReviewEvent{Change: catalog.ReviewCreated, ReviewID: "r", BookID: ratedBook, Version: 1, Stars: 3}},
		{name: "another book than counted", cur: catalog.ReviewTally{ReviewID: reviewA, BookID: coreid.New(), State: catalog.TallyCounted, Version: 1, Stars: 3},
			event: ev(catalog.ReviewUpdated, 2, 3)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := catalog.ApplyReviewEvent(tc.cur, tc.event, catalog.BookLive); !errors.Is(err, failure.ErrInvalid) {
				t.Fatalf("err = %v, want invalid", err)
			}
		})
	}
}

// TestReviewEventsInAnyOrder checks the rule's promise: random histories of
// many reviews, delivered shuffled and with duplicates, leave exactly the
// sums of the reviews that stand at the end.
func TestReviewEventsInAnyOrder(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 42))
		var (
			events    []catalog.ReviewEvent
			wantSum   int64
			wantCount int32
		)
		for range 1 + rng.IntN(8) {
			id := coreid.New()
			stars := int32(1 + rng.IntN(5))
			events = append(events, catalog.ReviewEvent{Change: catalog.ReviewCreated, ReviewID: id, BookID: ratedBook, Version: 1, Stars: stars})
			version := int64(1)
			for range rng.IntN(4) {
				version++
				stars = int32(1 + rng.IntN(5))
				events = append(events, catalog.ReviewEvent{Change: catalog.ReviewUpdated, ReviewID: id, BookID: ratedBook, Version: version, Stars: stars})
			}
			if rng.IntN(3) == 0 {
				events = append(events, catalog.ReviewEvent{Change: catalog.ReviewDeleted, ReviewID: id, BookID: ratedBook, Version: version + 1, Stars: stars})
			} else {
				wantSum += int64(stars)
				wantCount++
			}
		}
		for _, e := range events { // at least once: some twice
			if rng.IntN(3) == 0 {
				events = append(events, e)
			}
		}
		rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

		tallies := map[string]catalog.ReviewTally{}
		var sum int64
		var count int32
		for _, e := range events {
			out, err := catalog.ApplyReviewEvent(tallies[e.ReviewID], e, catalog.BookLive)
			if err != nil {
				t.Fatalf("seed %d: %v", seed, err)
			}
			if out.Reject != catalog.NotRejected {
				t.Fatalf("seed %d: rejected a review of a live book", seed)
			}
			tallies[e.ReviewID] = out.Next
			sum += out.SumDelta
			count += out.CountDelta
			if sum < 0 || count < 0 {
				t.Fatalf("seed %d: sums went negative (%d, %d)", seed, sum, count)
			}
		}
		if sum != wantSum || count != wantCount {
			t.Fatalf("seed %d: sum %d count %d, want %d %d", seed, sum, count, wantSum, wantCount)
		}
	}
}
