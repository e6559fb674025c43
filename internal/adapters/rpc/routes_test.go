package rpc

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	healthv1 "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/bookworm-store/bookworm/internal/core/catalog"
	coreid "github.com/bookworm-store/bookworm/internal/core/id"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// catalogOnly serves the catalog over nil ports.
func catalogOnly() []Service {
	return []Service{CatalogService(catalog.NewService(nil, nil, nil))}
}

func TestPanicsBecomeInternalErrors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	// A service over nil ports panics (nil interface call) when a request
	// reaches them: the server must answer Internal, log the cause and live on.
	routes, err := NewRoutes(Options{Log: log, Services: catalogOnly(), MaxRequestBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	client := catalogv1connect.NewCatalogServiceClient(srv.Client(), srv.URL)
	for range 2 { // the second call shows the server survived the first
		_, err := client.GetBook(t.Context(), connect.NewRequest(&catalogv1.GetBookRequest{Id: coreid.New()}))
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeInternal {
			t.Fatalf("err = %v, want Internal", err)
		}
		if ce.Message() != internalMessage || len(ce.Details()) != 0 {
			t.Fatalf("the client learned more than it should: %q %v", ce.Message(), ce.Details())
		}
	}
	if !strings.Contains(logs.String(), "panic") {
		t.Fatalf("the panic was not logged: %s", logs.String())
	}
}

func TestRequestSizeLimit(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), Services: catalogOnly(), MaxRequestBytes: 1024})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1024))
	defer srv.Close()
	client := catalogv1connect.NewCatalogServiceClient(srv.Client(), srv.URL)
	_, err = client.SearchBooks(t.Context(), connect.NewRequest(&catalogv1.SearchBooksRequest{Query: strings.Repeat("x", 4096)}))
	if connect.CodeOf(err) != connect.CodeResourceExhausted {
		t.Fatalf("err = %v, want ResourceExhausted for an oversized request", err)
	}
	res, err := http.Post(srv.URL+"/bookworm.catalog.v1.CatalogService/SearchBooks", "application/json", strings.NewReader(`{"query":"`+strings.Repeat("y", 200_000)+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusOK {
		t.Fatal("an oversized JSON body was served")
	}
}

func TestValidationInterceptor(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), Services: catalogOnly(), MaxRequestBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	client := catalogv1connect.NewCatalogServiceClient(srv.Client(), srv.URL)
	// The rules of the contract reject these before any port is called (the
	// nil ports would panic into Internal otherwise).
	_, err = client.ListBooks(t.Context(), connect.NewRequest(&catalogv1.ListBooksRequest{PageSize: 101, OrderBy: 42}))
	var ce *connect.Error
	if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
	for _, field := range []string{"page_size", "order_by"} {
		if !strings.Contains(ce.Message(), field) {
			t.Errorf("message %q does not name %s", ce.Message(), field)
		}
	}
}

// TestRoutesServeTheListedServicesOnly: a process serving one context
// mounts that context's service alone, and gRPC health knows exactly the
// services mounted, so a load balancer never routes a call to a process
// that cannot answer it.
func TestRoutesServeTheListedServicesOnly(t *testing.T) {
	routes, err := NewRoutes(Options{Log: slog.Default(), Services: catalogOnly(), MaxRequestBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if got := routes.ServiceNames(); !slices.Equal(got, []string{catalogv1connect.CatalogServiceName}) {
		t.Fatalf("ServiceNames() = %v", got)
	}
	srv := httptest.NewServer(routes.Handler(1 << 20))
	defer srv.Close()
	rating := ratingv1connect.NewRatingServiceClient(srv.Client(), srv.URL)
	_, err = rating.GetRatingSummary(t.Context(), connect.NewRequest(&ratingv1.GetRatingSummaryRequest{BookId: coreid.New()}))
	if connect.CodeOf(err) != connect.CodeUnimplemented {
		t.Fatalf("rating call on a catalog-only server: %v, want Unimplemented", err)
	}
	health := connect.NewClient[healthv1.HealthCheckRequest, healthv1.HealthCheckResponse](srv.Client(), srv.URL+"/grpc.health.v1.Health/Check")
	check := func(name string) (healthv1.HealthCheckResponse_ServingStatus, error) {
		res, err := health.CallUnary(t.Context(), connect.NewRequest(&healthv1.HealthCheckRequest{Service: name}))
		if err != nil {
			return 0, err
		}
		return res.Msg.GetStatus(), nil
	}
	if st, err := check(catalogv1connect.CatalogServiceName); err != nil || st != healthv1.HealthCheckResponse_SERVING {
		t.Errorf("health of the catalog: %v %v, want SERVING", st, err)
	}
	if st, err := check(ratingv1connect.RatingServiceName); connect.CodeOf(err) != connect.CodeNotFound {
		t.Errorf("health of the rating service: %v %v, want NotFound", st, err)
	}
	routes.Drain()
	if st, err := check(catalogv1connect.CatalogServiceName); err != nil || st != healthv1.HealthCheckResponse_NOT_SERVING {
		t.Errorf("health after Drain: %v %v, want NOT_SERVING", st, err)
	}
}

func TestRoutesRefuseAServiceListedTwice(t *testing.T) {
	_, err := NewRoutes(Options{Log: slog.Default(), Services: append(catalogOnly(), catalogOnly()...), MaxRequestBytes: 1 << 20})
	if err == nil || !strings.Contains(err.Error(), catalogv1connect.CatalogServiceName) {
		t.Fatalf("err = %v, want one naming the service listed twice", err)
	}
}
