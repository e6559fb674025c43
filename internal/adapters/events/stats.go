package events

import "time"

// RelayStats are the counters of an outbox relay since it was made: a plain
// value that metrics read (observability exports them) without knowing
// where the outbox lives.
type RelayStats struct {
	// Published counts events the broker confirmed and the relay marked
	// published.
	Published uint64
	// Batches counts batches that claimed at least one event.
	Batches uint64
	// FailedBatches counts batches that failed: the database failed, the
	// broker was unavailable, or not every event was confirmed.
	FailedBatches uint64
	// Unconfirmed counts events sent whose confirm did not come (nacked,
	// lost with the channel, or timed out); each is published again.
	Unconfirmed uint64
	// Pruned counts published events deleted after the retention.
	Pruned uint64
	// Backlog is the number of unpublished events at BacklogTime, and
	// OldestPending the age of the oldest of them then (0 when none).
	Backlog       int64
	OldestPending time.Duration
	BacklogTime   time.Time
}
