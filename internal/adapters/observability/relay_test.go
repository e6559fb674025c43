package observability

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// fixedRelay reports the stats it is given; the relay's own tests cover how
// it counts.
type fixedRelay struct{ stats events.RelayStats }

func (r *fixedRelay) Stats() events.RelayStats { return r.stats }

func TestRelayCollector(t *testing.T) {
	relay := &fixedRelay{}
	reg := prometheus.NewRegistry()
	if err := reg.Register(NewRelayCollector(relay)); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		stats events.RelayStats
		want  map[string]float64
	}{
		{
			name:  "before anything",
			stats: events.RelayStats{},
			want: map[string]float64{
				"bookworm_outbox_published_total": 0, "bookworm_outbox_backlog": 0,
				"bookworm_outbox_backlog_measured_timestamp_seconds": 0,
			},
		},
		{
			name: "busy",
			stats: events.RelayStats{
				Published: 1200, Batches: 7, FailedBatches: 2, Unconfirmed: 3, Pruned: 40,
				Backlog: 25, OldestPending: 1500 * time.Millisecond, BacklogTime: time.Unix(1_800_000_000, 500_000_000),
			},
			want: map[string]float64{
				"bookworm_outbox_published_total":                    1200,
				"bookworm_outbox_batches_total":                      7,
				"bookworm_outbox_failed_batches_total":               2,
				"bookworm_outbox_unconfirmed_total":                  3,
				"bookworm_outbox_pruned_total":                       40,
				"bookworm_outbox_backlog":                            25,
				"bookworm_outbox_oldest_pending_seconds":             1.5,
				"bookworm_outbox_backlog_measured_timestamp_seconds": 1_800_000_000.5,
			},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			relay.stats = c.stats
			for name, want := range c.want {
				if find(t, reg, name, nil) == nil {
					t.Fatalf("no metric %s", name)
				}
				if got := metricValue(t, reg, name, nil); got != want {
					t.Errorf("%s = %v, want %v", name, got, want)
				}
			}
		})
	}
}
