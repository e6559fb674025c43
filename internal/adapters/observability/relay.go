package observability

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// RelayStater is what RelayCollector reads: the outbox relay has it.
type RelayStater interface {
	Stats() events.RelayStats
}

// RelayCollector exports the counters of the transactional outbox's relay,
// from one consistent Stats snapshot per scrape.
type RelayCollector struct {
	relay RelayStater

	published, batches, failedBatches, unconfirmed, pruned *prometheus.Desc
	backlog, oldestPending, backlogTime                    *prometheus.Desc
}

// NewRelayCollector returns a collector of relay's counters.
func NewRelayCollector(relay RelayStater) *RelayCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "outbox", metric), help, nil, nil)
	}
	return &RelayCollector{
		relay:         relay,
		published:     desc("published_total", "Events the broker confirmed and the relay marked published."),
		batches:       desc("batches_total", "Relay batches that claimed at least one event."),
		failedBatches: desc("failed_batches_total", "Relay batches that failed (database or broker error, or a confirm missing)."),
		unconfirmed:   desc("unconfirmed_total", "Events sent whose confirm did not come; each is published again."),
		pruned:        desc("pruned_total", "Published events deleted after the retention."),
		backlog:       desc("backlog", "Unpublished events at the last measurement."),
		oldestPending: desc("oldest_pending_seconds", "Age of the oldest unpublished event at the last measurement (0 when none)."),
		backlogTime:   desc("backlog_measured_timestamp_seconds", "When the backlog was last measured, as a Unix time (0 before the first measurement)."),
	}
}

// Describe implements prometheus.Collector.
func (c *RelayCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.published, c.batches, c.failedBatches, c.unconfirmed, c.pruned,
		c.backlog, c.oldestPending, c.backlogTime,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *RelayCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.relay.Stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter(c.published, s.Published)
	counter(c.batches, s.Batches)
	counter(c.failedBatches, s.FailedBatches)
	counter(c.unconfirmed, s.Unconfirmed)
	counter(c.pruned, s.Pruned)
	gauge(c.backlog, float64(s.Backlog))
	gauge(c.oldestPending, s.OldestPending.Seconds())
	var measured float64
	if !s.BacklogTime.IsZero() {
		measured = float64(s.BacklogTime.UnixNano()) / 1e9
	}
	gauge(c.backlogTime, measured)
}
