package observability

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/adapters/events"
)

// eventDurationBuckets span a handler's one short transaction (a
// millisecond) to one waiting on locks or a slow database (seconds).
var eventDurationBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}

// eventLagBuckets are placed around the "event processing < 1 s" objective:
// fine below a second, coarse above (a backlog, a broker outage, retries).
var eventLagBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 10, 30, 60, 300}

// EventMetrics are the consumers' metrics: handled deliveries by outcome,
// handling time and end-to-end lag per event type. It is the
// events.HandlingObserver the consumers report to (rabbitmq.Config's
// Telemetry), so that the broker adapter knows nothing of Prometheus.
type EventMetrics struct {
	handled  *prometheus.CounterVec
	duration *prometheus.HistogramVec
	lag      *prometheus.HistogramVec
}

var _ events.HandlingObserver = (*EventMetrics)(nil)

// NewEventMetrics returns the consumers' metrics; register them with
// Metrics.Register.
func NewEventMetrics() *EventMetrics {
	return &EventMetrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Subsystem: "events",
			Name:      "handled_total",
			Help:      "Deliveries consumers handled, by queue, event type and outcome (applied, duplicate, retried, dead-lettered, interrupted).",
		}, []string{"queue", "type", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Subsystem: "events",
			Name:      "handling_duration_seconds",
			Help:      "Time from delivery to settlement of a message (handler, ack or move to a retry or dead-letter queue), by queue and event type.",
			Buckets:   eventDurationBuckets,
		}, []string{"queue", "type"}),
		lag: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace,
			Subsystem: "events",
			Name:      "lag_seconds",
			Help:      "End-to-end lag of the events consumers applied: from the event's time (ce-time) to its handling, by queue and event type. The objective is under 1 s.",
			Buckets:   eventLagBuckets,
		}, []string{"queue", "type"}),
	}
}

// Handled implements events.HandlingObserver.
func (m *EventMetrics) Handled(h events.Handled) {
	typ := h.Type
	if typ == "" {
		typ = "unknown" // a malformed message
	}
	m.handled.WithLabelValues(h.Queue, typ, string(h.Outcome)).Inc()
	m.duration.WithLabelValues(h.Queue, typ).Observe(h.Duration.Seconds())
	// Only applied events: a duplicate may be a copy replayed long after
	// the event took effect, which says nothing of the pipeline's lag.
	if h.Lag > 0 && h.Outcome == events.OutcomeApplied {
		m.lag.WithLabelValues(h.Queue, typ).Observe(h.Lag.Seconds())
	}
}

// Describe implements prometheus.Collector.
func (m *EventMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.handled.Describe(ch)
	m.duration.Describe(ch)
	m.lag.Describe(ch)
}

// Collect implements prometheus.Collector.
func (m *EventMetrics) Collect(ch chan<- prometheus.Metric) {
	m.handled.Collect(ch)
	m.duration.Collect(ch)
	m.lag.Collect(ch)
}
