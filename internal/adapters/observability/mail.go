package observability

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// MailStats are the counters of a process's email outbox, as the
// notification context reports them: a plain value, so that this package
// knows nothing of where the outbox lives or how mail is sent.
type MailStats struct {
	// Queued, Sent, Retried and Failed count emails queued, accepted by
	// the SMTP server, scheduled for another attempt after a temporary
	// failure, and given up, since the process started.
	Queued, Sent, Retried, Failed uint64
	// Pending is the number of unsent emails at MeasureTime, and
	// OldestPending the age of the oldest of them then (0 when none).
	Pending       int64
	OldestPending time.Duration
	MeasureTime   time.Time
}

// MailCollector exports MailStats, from one snapshot per scrape.
type MailCollector struct {
	stats func() MailStats

	queued, sent, retried, failed       *prometheus.Desc
	pending, oldestPending, measureTime *prometheus.Desc
}

// NewMailCollector returns a collector of the snapshots stats returns.
func NewMailCollector(stats func() MailStats) *MailCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "email", metric), help, nil, nil)
	}
	return &MailCollector{
		stats:         stats,
		queued:        desc("queued_total", "Emails queued in the email outbox."),
		sent:          desc("sent_total", "Emails the SMTP server accepted."),
		retried:       desc("retried_total", "Temporary delivery failures scheduled for another attempt."),
		failed:        desc("failed_total", "Emails given up (a permanent failure, or too many attempts)."),
		pending:       desc("pending", "Unsent emails at the last measurement."),
		oldestPending: desc("oldest_pending_seconds", "Age of the oldest unsent email at the last measurement (0 when none)."),
		measureTime:   desc("pending_measured_timestamp_seconds", "When the unsent emails were last measured, as a Unix time (0 before the first measurement)."),
	}
}

// Describe implements prometheus.Collector.
func (c *MailCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.queued, c.sent, c.retried, c.failed, c.pending, c.oldestPending, c.measureTime} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *MailCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.stats()
	counter := func(d *prometheus.Desc, v uint64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter(c.queued, s.Queued)
	counter(c.sent, s.Sent)
	counter(c.retried, s.Retried)
	counter(c.failed, s.Failed)
	gauge(c.pending, float64(s.Pending))
	gauge(c.oldestPending, s.OldestPending.Seconds())
	var measured float64
	if !s.MeasureTime.IsZero() {
		measured = float64(s.MeasureTime.UnixNano()) / 1e9
	}
	gauge(c.measureTime, measured)
}
