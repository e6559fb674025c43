package events

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	lo, hi := 100*time.Millisecond, 2*time.Second
	for n := 1; n < 40; n++ {
		want := min(lo<<min(n-1, 20), hi)
		for range 20 {
			if d := Backoff(lo, hi, n); d < want/2 || d > want {
				t.Fatalf("Backoff(%d) = %v, want within [%v, %v]", n, d, want/2, want)
			}
		}
	}
}

func TestReconnect(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var runs, losses int
	var waits []time.Duration
	var lives []bool
	boom := errors.New("boom")
	events := []bool{false, false, true, false} // live of each run
	Reconnect(ctx, time.Millisecond, 8*time.Millisecond, func(context.Context) (bool, error) {
		live := events[runs]
		runs++
		if runs == len(events) {
			cancel()
		}
		return live, boom
	}, func(err error, live bool, d time.Duration) {
		if !errors.Is(err, boom) {
			t.Errorf("lost %v", err)
		}
		losses++
		waits = append(waits, d)
		lives = append(lives, live)
	})
	if runs != 4 || losses != 3 {
		t.Fatalf("%d runs, %d losses; want 4 and 3 (none after the context ended)", runs, losses)
	}
	// The loss of a live session is told apart from a failed attempt.
	if want := []bool{false, false, true}; !slices.Equal(lives, want) {
		t.Fatalf("live of each loss %v, want %v", lives, want)
	}
	// Failures 1, 2, then a live session starts over at 1.
	for i, max := range []time.Duration{time.Millisecond, 2 * time.Millisecond, time.Millisecond} {
		if waits[i] > max || waits[i] < max/2 {
			t.Errorf("wait %d = %v, want within [%v, %v]", i, waits[i], max/2, max)
		}
	}
}
