package catalog

import (
	"errors"
	"fmt"

	"github.com/bookworm-store/bookworm/internal/core/failure"

	coreid "github.com/bookworm-store/bookworm/internal/core/id"
)

// The catalog keeps each book's rating as two exact integers, the sum of the
// stars and the number of reviews (BookRecord.RatingSum and RatingCount),
// from the rating context's review events. Those arrive at least once and in
// any order, so the catalog remembers, per review, what it counted (a
// ReviewTally) and the version of the last event it applied, and
// ApplyReviewEvent turns each event into a change of the sums. Applying every
// event of a review's history, in any order and any number of times, leaves
// the sums as if each change had been applied once, in order.

// ReviewChange is the kind of a review event.
type ReviewChange int

// The review events the catalog reads.
const (
	ReviewCreated ReviewChange = iota + 1
	ReviewUpdated
	ReviewDeleted
)

// ReviewEvent is what the catalog reads from a review event.
type ReviewEvent struct {
	Change   ReviewChange
	ReviewID string
	BookID   string
	// Version is the review's version after the change (1 when created).
	Version int64
	// Stars is the review's stars after the change; for ReviewDeleted the
	// stars it had (the rule subtracts what it counted instead).
	Stars int32
}

// Validate checks what the rule relies on; an event that fails it can never
// be applied.
func (e ReviewEvent) Validate() error {
	var v failure.Violations
	if e.Change < ReviewCreated || e.Change > ReviewDeleted {
		v.Add("type", "unknown review change")
	}
	if !coreid.Valid(e.ReviewID) {
		v.Add("review_id", "must be a UUID")
	}
	if !coreid.Valid(e.BookID) {
		v.Add("book_id", "must be a UUID")
	}
	if e.Version < 1 {
		v.Add("version", "must be at least 1")
	}
	if e.Change != ReviewDeleted && (e.Stars < 1 || e.Stars > 5) {
		v.Add("stars", "must be between 1 and 5")
	}
	return v.Err()
}

// TallyState says how a review stands in its book's rating.
type TallyState int

// The states.
const (
	// TallyUnseen: no event of the review was applied yet.
	TallyUnseen TallyState = iota
	// TallyCounted: the review's stars are in its book's sums.
	TallyCounted
	// TallyRemoved: the review was deleted; it is not counted, and the
	// tally stays so that a late event of it is recognised as stale.
	TallyRemoved
	// TallyRejected: the book was gone when the review arrived; the review
	// was never counted and the rating context was asked to remove it.
	TallyRejected
)

// ReviewTally is what the catalog remembers of one review.
type ReviewTally struct {
	ReviewID string
	BookID   string
	State    TallyState
	// Stars are the stars counted while State is TallyCounted, else 0.
	Stars int32
	// Version is the version of the last event applied.
	Version int64
}

// BookPresence is the state of a review's book when its event is applied.
type BookPresence int

// The presences: no such book, a live book, a deleted one.
const (
	BookMissing BookPresence = iota
	BookLive
	BookGone
)

// RejectReason says why the catalog rejects a review.
type RejectReason int

// The reasons.
const (
	// NotRejected: the review is not rejected.
	NotRejected RejectReason = iota
	// RejectedBookDeleted: the book was deleted.
	RejectedBookDeleted
)

// ErrUnknownBook reports a review event about a book the catalog never
// heard of. Reviews are written only for books the catalog had (the rating
// context asks it), and books are only ever soft-deleted, so this is an
// anomaly (an event from another deployment, a corrupted or replayed
// message): rejecting the review would delete data on the premise that the
// book is gone, which the catalog cannot vouch for. It changes nothing.
var ErrUnknownBook = errors.New("review of a book the catalog never had")

// TallyOutcome is the effect of one review event.
type TallyOutcome struct {
	// Stale is set when the event is older than (or the same as) what was
	// applied already: nothing changes.
	Stale bool
	// Next is the tally to store.
	Next ReviewTally
	// SumDelta and CountDelta are added to the book's rating sum and count.
	SumDelta   int64
	CountDelta int32
	// Reject is set when the review cannot be counted: the catalog then
	// announces ReviewRejected for it with Next.Version.
	Reject RejectReason
}

// ApplyReviewEvent returns the effect of event e on a review whose tally is
// cur (a zero tally with State TallyUnseen when the catalog has none), given
// the presence of the review's book. A review is counted only when the
// catalog first hears of it while its book is live; one that stands counted
// keeps being adjusted (and can be subtracted) even after its book is
// deleted, just as the rating context keeps it.
func ApplyReviewEvent(cur ReviewTally, e ReviewEvent, book BookPresence) (TallyOutcome, error) {
	if err := e.Validate(); err != nil {
		return TallyOutcome{}, err
	}
	if cur.State != TallyUnseen {
		if cur.ReviewID != e.ReviewID || cur.BookID != e.BookID {
			return TallyOutcome{}, failure.Invalid("book_id", "differs from the book the review was counted for")
		}
		if e.Version <= cur.Version {
			return TallyOutcome{Stale: true, Next: cur}, nil
		}
	}
	out := TallyOutcome{Next: ReviewTally{ReviewID: e.ReviewID, BookID: e.BookID, State: cur.State, Stars: cur.Stars, Version: e.Version}}
	switch e.Change {
	case ReviewCreated, ReviewUpdated:
		switch cur.State {
		case TallyCounted:
			out.SumDelta = int64(e.Stars - cur.Stars)
			out.Next.Stars = e.Stars
		case TallyUnseen:
			switch book {
			case BookLive:
				out.Next.State, out.Next.Stars = TallyCounted, e.Stars
				out.SumDelta, out.CountDelta = int64(e.Stars), 1
			case BookGone:
				out.Next.State, out.Reject = TallyRejected, RejectedBookDeleted
			default:
				// A destructive compensation needs its premise proven:
				// only a book known to be deleted rejects a review.
				return TallyOutcome{}, fmt.Errorf("review %s, book %s: %w", e.ReviewID, e.BookID, ErrUnknownBook)
			}
		}
		// A rejected review stays rejected (its removal is on its way); a
		// removed one cannot change again.
	case ReviewDeleted:
		if cur.State == TallyCounted {
			out.SumDelta, out.CountDelta = -int64(cur.Stars), -1
		}
		out.Next.State, out.Next.Stars = TallyRemoved, 0
	}
	return out, nil
}
