package observability

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bookworm-store/bookworm/internal/testenv"
)

// TestMain runs the tests through testenv, which terminates the Postgres
// container the pool test starts.
func TestMain(m *testing.M) { os.Exit(testenv.Run(m)) }

// TestPoolCollector reads the statistics of a real pool while a connection
// is held and after it is released.
func TestPoolCollector(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(testenv.Postgres(t).URL) // it only reads: the maintenance database serves
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 3
	pool, err := pgxpool.NewWithConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	reg := prometheus.NewRegistry()
	if err := reg.Register(NewPoolCollector("main", pool)); err != nil {
		t.Fatal(err)
	}
	value := func(name string) float64 {
		t.Helper()
		if find(t, reg, name, map[string]string{"pool": "main"}) == nil {
			t.Fatalf("no metric %s{pool=main}", name)
		}
		return metricValue(t, reg, name, map[string]string{"pool": "main"})
	}

	conn, err := pool.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var one int
	if err := conn.QueryRow(context.Background(), "SELECT 1").Scan(&one); err != nil {
		t.Fatal(err)
	}
	held := map[string]float64{
		"bookworm_db_pool_acquired_conns":  1,
		"bookworm_db_pool_idle_conns":      0,
		"bookworm_db_pool_total_conns":     1,
		"bookworm_db_pool_max_conns":       3,
		"bookworm_db_pool_acquires_total":  1,
		"bookworm_db_pool_new_conns_total": 1,
	}
	for name, want := range held {
		if got := value(name); got != want {
			t.Errorf("while held: %s = %v, want %v", name, got, want)
		}
	}
	conn.Release()

	if err := pool.Ping(t.Context()); err != nil { // a second acquisition
		t.Fatal(err)
	}
	released := map[string]float64{
		"bookworm_db_pool_acquired_conns":  0,
		"bookworm_db_pool_idle_conns":      1,
		"bookworm_db_pool_total_conns":     1,
		"bookworm_db_pool_acquires_total":  2,
		"bookworm_db_pool_new_conns_total": 1,
	}
	for name, want := range released {
		if got := value(name); got != want {
			t.Errorf("after release: %s = %v, want %v", name, got, want)
		}
	}
	if got := value("bookworm_db_pool_acquire_duration_seconds_total"); got <= 0 {
		t.Errorf("acquire duration %v, want > 0 (the first acquisition opened a connection)", got)
	}
	for _, name := range []string{
		"bookworm_db_pool_constructing_conns", "bookworm_db_pool_empty_acquires_total",
		"bookworm_db_pool_empty_acquire_wait_seconds_total", "bookworm_db_pool_canceled_acquires_total",
		"bookworm_db_pool_max_lifetime_destroys_total", "bookworm_db_pool_max_idle_destroys_total",
	} {
		value(name) // exists
	}
}
