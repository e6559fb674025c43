package events

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff returns the wait after n failures in a row (n >= 1) of anything
// that retries against a broker or a database: exponential from lo, capped
// at hi, the upper half jittered so that replicas retrying the same outage
// spread out instead of arriving in step. The relay, the broker's reconnect
// loop and the LISTEN connections all wait this way.
func Backoff(lo, hi time.Duration, n int) time.Duration {
	d := lo
	for i := 1; i < n && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	half := d / 2
	return half + rand.N(half+1)
}

// Sleep waits for d; it returns false when ctx ends first.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
