package events

import (
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
