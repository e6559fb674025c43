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

// Reconnect is the one reconnect loop of every long-lived connection
// (RabbitMQ's connection and subscriptions, the LISTEN connections): it
// runs session, and runs it again after it returns, until ctx ends. The
// wait between runs is Backoff(lo, hi, n) after n failures in a row; a
// session that got as far as being live (it reports live true) starts the
// count over. lost, when not nil, hears each end of a session with its
// error, whether the session had been live (a connection lost, which logs
// should say, rather than one that could not be made) and the wait before
// the next run; it is not called once ctx has ended.
func Reconnect(ctx context.Context, lo, hi time.Duration, session func(ctx context.Context) (live bool, err error),
	lost func(err error, wasLive bool, retryIn time.Duration)) {
	failures := 0
	for {
		live, err := session(ctx)
		if ctx.Err() != nil {
			return
		}
		if live {
			failures = 0
		}
		failures++
		d := Backoff(lo, hi, failures)
		if lost != nil {
			lost(err, live, d)
		}
		if !Sleep(ctx, d) {
			return
		}
	}
}
