package rpc

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"connectrpc.com/connect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/rating"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// switchDep is a dependency whose reachability the test decides, counting
// the pings it gets.
type switchDep struct {
	down  atomic.Bool
	pings atomic.Int64
}

func (d *switchDep) Ping(context.Context) error {
	d.pings.Add(1)
	if d.down.Load() {
		return errors.New("connection refused")
	}
	return nil
}

// TestGRPCHealthFollowsReadiness: gRPC health tells what /readyz tells, per
// service: a service is NOT_SERVING while a dependency it needs is down,
// and SERVING again when it is back; a service that does not need it stays
// SERVING; the server as a whole ("") needs everything, as /readyz does.
func TestGRPCHealthFollowsReadiness(t *testing.T) {
	db, broker := &switchDep{}, &switchDep{}
	cat := CatalogService(catalog.NewService(nil, nil, nil))
	cat.Dependencies = []string{"postgres", "rabbitmq"}
	rat := RatingService(rating.NewService(nil, nil, nil))
	rat.Dependencies = []string{"postgres"}
	var logs bytes.Buffer
	routes, err := NewRoutes(Options{
		Log:             slog.New(slog.NewJSONHandler(&logs, nil)),
		Services:        []Service{cat, rat},
		MaxRequestBytes: 1 << 20,
		Dependencies:    map[string]Pinger{"postgres": db, "rabbitmq": broker},
	})
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Unix(1_700_000_000, 0)
	routes.ready.now = func() time.Time { return clock }
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	health := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](srv.Client(), srv.URL+"/grpc.health.v1.Health/Check", connect.WithGRPC())
	check := func(name string) healthv1.HealthCheckResponse_ServingStatus {
		t.Helper()
		res, err := health.CallUnary(t.Context(), connect.NewRequest(&healthv1.HealthCheckRequest{Service: name}))
		if err != nil {
			t.Fatalf("Check(%q): %v", name, err)
		}
		return res.Msg.GetStatus()
	}
	readyz := func() int {
		t.Helper()
		res, err := srv.Client().Get(srv.URL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return res.StatusCode
	}
	const serving, notServing = healthv1.HealthCheckResponse_SERVING, healthv1.HealthCheckResponse_NOT_SERVING
	want := func(step string, all, catalogSt, ratingSt healthv1.HealthCheckResponse_ServingStatus, ready int) {
		t.Helper()
		clock = clock.Add(2 * readinessTTL) // every step sees fresh pings
		if got := check(""); got != all {
			t.Errorf("%s: server health %v, want %v", step, got, all)
		}
		if got := check(catalogv1connect.CatalogServiceName); got != catalogSt {
			t.Errorf("%s: catalog health %v, want %v", step, got, catalogSt)
		}
		if got := check(ratingv1connect.RatingServiceName); got != ratingSt {
			t.Errorf("%s: rating health %v, want %v", step, got, ratingSt)
		}
		if got := readyz(); got != ready {
			t.Errorf("%s: /readyz %d, want %d", step, got, ready)
		}
	}
	want("all up", serving, serving, serving, http.StatusOK)
	broker.down.Store(true)
	want("broker down", notServing, notServing, serving, http.StatusServiceUnavailable)
	db.down.Store(true)
	want("both down", notServing, notServing, notServing, http.StatusServiceUnavailable)
	broker.down.Store(false)
	db.down.Store(false)
	want("both back", serving, serving, serving, http.StatusOK)

	// A burst of probes within the TTL costs one ping per dependency.
	before := db.pings.Load()
	for range 50 {
		check(catalogv1connect.CatalogServiceName)
	}
	if n := db.pings.Load() - before; n > 1 {
		t.Errorf("50 probes within the TTL pinged Postgres %d times, want at most 1", n)
	}
	// Changes are logged once each, not at every probe.
	if n := strings.Count(logs.String(), `"dependency":"rabbitmq"`); n != 2 {
		t.Errorf("rabbitmq readiness changes logged %d times, want 2 (down, back):\n%s", n, logs.String())
	}

	routes.Drain()
	want("draining", notServing, notServing, notServing, http.StatusServiceUnavailable)
}

func TestRoutesRefuseAnUnknownDependency(t *testing.T) {
	cat := CatalogService(catalog.NewService(nil, nil, nil))
	cat.Dependencies = []string{"redis"}
	_, err := NewRoutes(Options{Log: slog.Default(), Services: []Service{cat}, MaxRequestBytes: 1 << 20,
		Dependencies: map[string]Pinger{"postgres": &switchDep{}}})
	if err == nil || !strings.Contains(err.Error(), "redis") {
		t.Fatalf("err = %v, want one naming redis", err)
	}
}
