package observability

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// ConsumerStater is what ConsumerCollector reads: the events.Guard in front
// of every consumer has it.
type ConsumerStater interface {
	Stats() events.ConsumerStats
}

// ConsumerCollector exports the counters of the deployment's event
// consumers: events dropped because another deployment published them, and
// anomalies dead-lettered at once. Either growing deserves an alert: the
// first means a broker shared with another deployment (harmless, but
// traffic), the second a message that contradicts this deployment's data.
type ConsumerCollector struct {
	consumers          ConsumerStater
	foreign, permanent *prometheus.Desc
}

// NewConsumerCollector returns a collector of the consumers' counters.
func NewConsumerCollector(consumers ConsumerStater) *ConsumerCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "events", metric), help, nil, nil)
	}
	return &ConsumerCollector{
		consumers: consumers,
		foreign:   desc("foreign_dropped_total", "Events dropped unhandled because another deployment published them (their ce-source names another deployment identity, or none)."),
		permanent: desc("permanent_failures_total", "Events whose handler found an anomaly no retry cures (a review of a book never known, a rejection that does not match its review); each went to the dead-letter queue."),
	}
}

// Describe implements prometheus.Collector.
func (c *ConsumerCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.foreign
	ch <- c.permanent
}

// Collect implements prometheus.Collector.
func (c *ConsumerCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.consumers.Stats()
	ch <- prometheus.MustNewConstMetric(c.foreign, prometheus.CounterValue, float64(s.Foreign))
	ch <- prometheus.MustNewConstMetric(c.permanent, prometheus.CounterValue, float64(s.Permanent))
}
