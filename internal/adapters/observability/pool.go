package observability

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStater is what PoolCollector reads: *pgxpool.Pool has it.
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// PoolCollector exports the statistics of a pgx pool, read once per scrape.
// Its metrics carry a "pool" label so that several pools can be told apart.
type PoolCollector struct {
	pool PoolStater

	acquired, idle, constructing, total, max  *prometheus.Desc
	acquires, acquireSeconds, emptyAcquires   *prometheus.Desc
	emptyAcquireWaitSeconds, canceledAcquires *prometheus.Desc
	newConns, lifetimeDestroys, idleDestroys  *prometheus.Desc
}

// NewPoolCollector returns a collector of pool's statistics labelled
// pool=name.
func NewPoolCollector(name string, pool PoolStater) *PoolCollector {
	desc := func(metric, help string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(namespace, "db_pool", metric), help, nil, prometheus.Labels{"pool": name})
	}
	return &PoolCollector{
		pool:                    pool,
		acquired:                desc("acquired_conns", "Connections currently in use."),
		idle:                    desc("idle_conns", "Connections currently idle in the pool."),
		constructing:            desc("constructing_conns", "Connections being opened."),
		total:                   desc("total_conns", "Connections in the pool: acquired, idle and being opened."),
		max:                     desc("max_conns", "Largest number of connections the pool opens."),
		acquires:                desc("acquires_total", "Successful acquisitions of a connection from the pool."),
		acquireSeconds:          desc("acquire_duration_seconds_total", "Time spent acquiring connections, summed over successful acquisitions."),
		emptyAcquires:           desc("empty_acquires_total", "Successful acquisitions that had to wait for a connection because none was idle."),
		emptyAcquireWaitSeconds: desc("empty_acquire_wait_seconds_total", "Time spent waiting in acquisitions that found no idle connection."),
		canceledAcquires:        desc("canceled_acquires_total", "Acquisitions given up because their context ended."),
		newConns:                desc("new_conns_total", "Connections opened."),
		lifetimeDestroys:        desc("max_lifetime_destroys_total", "Connections closed for reaching their maximum lifetime."),
		idleDestroys:            desc("max_idle_destroys_total", "Connections closed for staying idle too long."),
	}
}

// Describe implements prometheus.Collector.
func (c *PoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.acquired, c.idle, c.constructing, c.total, c.max,
		c.acquires, c.acquireSeconds, c.emptyAcquires, c.emptyAcquireWaitSeconds, c.canceledAcquires,
		c.newConns, c.lifetimeDestroys, c.idleDestroys,
	} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *PoolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(c.acquired, float64(s.AcquiredConns()))
	gauge(c.idle, float64(s.IdleConns()))
	gauge(c.constructing, float64(s.ConstructingConns()))
	gauge(c.total, float64(s.TotalConns()))
	gauge(c.max, float64(s.MaxConns()))
	counter(c.acquires, float64(s.AcquireCount()))
	counter(c.acquireSeconds, s.AcquireDuration().Seconds())
	counter(c.emptyAcquires, float64(s.EmptyAcquireCount()))
	counter(c.emptyAcquireWaitSeconds, s.EmptyAcquireWaitTime().Seconds())
	counter(c.canceledAcquires, float64(s.CanceledAcquireCount()))
	counter(c.newConns, float64(s.NewConnsCount()))
	counter(c.lifetimeDestroys, float64(s.MaxLifetimeDestroyCount()))
	counter(c.idleDestroys, float64(s.MaxIdleDestroyCount()))
}
