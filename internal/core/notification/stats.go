package notification

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counters count what the context did since the process started; metrics
// read them through Stats. The zero value is ready; safe for concurrent
// use.
type Counters struct {
	queued, sent, retried, failed atomic.Uint64

	mu          sync.Mutex
	pending     int64
	oldest      time.Time
	measured    time.Time
	hasMeasured bool
}

// Stats is a snapshot of Counters.
type Stats struct {
	// Queued counts emails queued; Sent emails the server accepted;
	// Retried temporary failures scheduled for another attempt; Failed
	// emails given up.
	Queued, Sent, Retried, Failed uint64
	// Pending is the number of unsent (pending) emails at MeasureTime, and
	// OldestPending the age of the oldest of them then (0 when none).
	Pending       int64
	OldestPending time.Duration
	MeasureTime   time.Time
}

// Stats returns a consistent snapshot.
func (c *Counters) Stats() Stats {
	s := Stats{Queued: c.queued.Load(), Sent: c.sent.Load(), Retried: c.retried.Load(), Failed: c.failed.Load()}
	c.mu.Lock()
	defer c.mu.Unlock()
	s.Pending, s.MeasureTime = c.pending, c.measured
	if !c.oldest.IsZero() {
		s.OldestPending = max(0, c.measured.Sub(c.oldest))
	}
	return s
}

func (c *Counters) setBacklog(pending int64, oldest, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pending, c.oldest, c.measured, c.hasMeasured = pending, oldest, at, true
}

// measuredSince reports whether the backlog was measured at or after t.
func (c *Counters) measuredSince(t time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.hasMeasured && !c.measured.Before(t)
}
