package rating

import "slices"

// Event is a domain event the rating context raises: what a change to a
// review tells the other contexts (the catalog counts reviews from them).
// The core decides which events a change raises (Review collects them as
// NewReview, Apply and Remove run, see Review.Events); adapters only
// serialize them to the contract's messages and enqueue them in the
// transaction that stores the change.
type Event interface{ ratingEvent() }

// ReviewCreated: a review was written. Review is its state as created.
type ReviewCreated struct{ Review ReviewRecord }

// ReviewUpdated: a review changed from OldStars to Review.Stars (which may
// be equal when only its text changed). Review is its state after.
type ReviewUpdated struct {
	Review   ReviewRecord
	OldStars int32
}

// ReviewDeleted: a review was removed for Reason. Review is its last state,
// with the version and time of the removal; OldStars are the stars it had.
type ReviewDeleted struct {
	Review   ReviewRecord
	OldStars int32
	Reason   RemoveReason
}

func (ReviewCreated) ratingEvent() {}
func (ReviewUpdated) ratingEvent() {}
func (ReviewDeleted) ratingEvent() {}

// Events returns the events the review raised since NewReview made it or
// RestoreReview restored it, oldest first.
func (r *Review) Events() []Event { return slices.Clone(r.events) }
