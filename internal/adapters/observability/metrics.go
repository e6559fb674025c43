package observability

import (
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// namespace prefixes every metric BookWorm defines itself.
const namespace = "bookworm"

// Metrics is the server's Prometheus registry with the collectors every
// BookWorm process has: the Go runtime, the process, build information and
// the RPC metrics of RPCInterceptor. Further collectors (the Postgres pool,
// the outbox relay) are added with Register.
type Metrics struct {
	reg *prometheus.Registry
	rpc *rpcMetrics
}

// NewMetrics returns a registry holding the standard collectors. version is
// reported by bookworm_build_info.
func NewMetrics(version string) (*Metrics, error) {
	reg := prometheus.NewRegistry()
	buildInfo := prometheus.NewGauge(prometheus.GaugeOpts{
		Namespace:   namespace,
		Name:        "build_info",
		Help:        "Always 1; the labels say which build is running.",
		ConstLabels: prometheus.Labels{"version": version, "goversion": runtime.Version()},
	})
	buildInfo.Set(1)
	rpc := newRPCMetrics()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		rpc.requests,
		rpc.duration,
	} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return &Metrics{reg: reg, rpc: rpc}, nil
}

// Register adds collectors to the registry; it fails when one of them
// describes a metric the registry already has.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// Gatherer is the registry, for tests and for pushing elsewhere.
func (m *Metrics) Gatherer() prometheus.Gatherer { return m.reg }

// Handler serves the registry in the Prometheus text (or OpenMetrics, when
// asked for) exposition format. Errors while gathering are logged to log and
// the metrics that could be gathered are still served.
func (m *Metrics) Handler(log *slog.Logger) http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg, // counts scrapes and their errors
		EnableOpenMetrics:   true,
		MaxRequestsInFlight: 4,
	})
}

// BuildVersion is the version of the running binary: the main module's
// version when it was built from a tagged module, otherwise the VCS revision
// (with "-dirty" when the tree had changes), otherwise "devel".
func BuildVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev == "" {
		return "devel"
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	return rev + dirty
}
