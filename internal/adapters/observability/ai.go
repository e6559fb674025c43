package observability

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ModelStats exports the calls of an AI model adapter (Ollama): calls by
// operation, model and outcome, their latency, the tokens the model counted
// and whether each operation's circuit breaker is open. Its methods match
// the adapter's neutral stats interface, so the composition root passes it
// without either adapter knowing the other.
type ModelStats struct {
	calls    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
	open     *prometheus.GaugeVec
}

// NewModelStats registers the model metrics on m.
func NewModelStats(m *Metrics) (*ModelStats, error) {
	s := &ModelStats{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "model", Name: "calls_total",
			Help: "Calls to the AI model by operation (embed, chat), model and outcome (ok, error, open: refused by the breaker, canceled)."},
			[]string{"op", "model", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: namespace, Subsystem: "model", Name: "call_seconds",
			Help: "Latency of calls to the AI model (a streamed chat: the whole answer).", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)},
			[]string{"op"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: namespace, Subsystem: "model", Name: "tokens_total",
			Help: "Tokens the AI model counted, by operation, model and kind (prompt, answer)."}, []string{"op", "model", "kind"}),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{Namespace: namespace, Subsystem: "model", Name: "breaker_open",
			Help: "1 while the circuit breaker of the operation is open (calls fail at once)."}, []string{"op"}),
	}
	if err := m.Register(s.calls, s.duration, s.tokens, s.open); err != nil {
		return nil, err
	}
	return s, nil
}

// ObserveCall records one call.
func (s *ModelStats) ObserveCall(op, model, outcome string, d time.Duration) {
	s.calls.WithLabelValues(op, model, outcome).Inc()
	s.duration.WithLabelValues(op).Observe(d.Seconds())
}

// AddTokens adds counted tokens.
func (s *ModelStats) AddTokens(op, model, kind string, n int) {
	if n > 0 {
		s.tokens.WithLabelValues(op, model, kind).Add(float64(n))
	}
}

// SetBreakerOpen records a breaker opening or closing.
func (s *ModelStats) SetBreakerOpen(op string, open bool) {
	v := 0.0
	if open {
		v = 1
	}
	s.open.WithLabelValues(op).Set(v)
}
