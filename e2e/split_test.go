package e2e

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// The suite runs against one of two topologies, chosen by
// BOOKWORM_E2E_TOPOLOGY:
//   - "" or "single": one server process serving every context;
//   - "split": the catalog in one process and the rating and basket
//     contexts in another, of the same binary (--contexts catalog,
//     --contexts rating,basket --catalog-url ...) on the run's database and
//     broker topology, behind a small reverse proxy that routes by service
//     path, so that every test's clients use one base URL unchanged. The
//     second process reaches the catalog over gRPC; events travel between
//     them over RabbitMQ.
//
// scripts/test.sh runs the rating and basket tests (-run
// 'Rating|Review|Basket') in the split topology too.

// topologyEnv chooses the topology.
const topologyEnv = "BOOKWORM_E2E_TOPOLOGY"

func splitTopology() bool { return os.Getenv(topologyEnv) == "split" }

// The split topology's other parts: stopped by stopSuiteCompanions.
var (
	splitCatalog *server
	splitRouter  *http.Server
)

// startSuiteServer starts the suite's server in the chosen topology. In the
// split one the returned server is the rating process, its address that of
// the router in front of both.
func startSuiteServer(ctx context.Context, bin, dbURL, tmp string, env ...string) (*server, error) {
	switch os.Getenv(topologyEnv) {
	case "", "single":
		return startServer(ctx, bin, dbURL, filepath.Join(tmp, "server.log"), env...)
	case "split":
	default:
		return nil, fmt.Errorf("%s=%q: want single or split", topologyEnv, os.Getenv(topologyEnv))
	}
	cat, err := startServer(ctx, bin, dbURL, filepath.Join(tmp, "catalog.log"), append(slices.Clone(env), "BOOKWORM_CONTEXTS=catalog")...)
	if err != nil {
		return cat, fmt.Errorf("catalog process: %w", err)
	}
	splitCatalog = cat
	rat, err := startServer(ctx, bin, dbURL, filepath.Join(tmp, "server.log"),
		append(slices.Clone(env), "BOOKWORM_CONTEXTS=rating,basket", "BOOKWORM_CATALOG_URL="+cat.baseURL)...)
	if err != nil {
		return rat, fmt.Errorf("rating process: %w", err)
	}
	addr, err := startRouter(cat, rat)
	if err != nil {
		return rat, err
	}
	fmt.Fprintf(os.Stderr, "e2e: split topology: catalog %s, rating %s, router %s\n", cat.addr, rat.addr, addr)
	rat.addr, rat.baseURL = addr, "http://"+addr
	return rat, nil
}

// startRouter serves a reverse proxy sending the catalog service's calls to
// the catalog process and everything else to the rating process. It
// speaks HTTP/1.1 and h2c to clients and h2c to the processes, flushes
// every write (streams) and passes trailers on (gRPC).
func startRouter(cat, rat *server) (string, error) {
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Proxy: nil, Protocols: &h2c, MaxIdleConnsPerHost: 64}
	proxyTo := func(s *server) http.Handler {
		target, _ := url.Parse(s.baseURL)
		return &httputil.ReverseProxy{
			Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target); r.Out.Host = r.In.Host },
			Transport:     transport,
			FlushInterval: -1,
			ErrorLog:      log.New(os.Stderr, "e2e router: ", 0),
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/"+catalogv1connect.CatalogServiceName+"/", proxyTo(cat))
	mux.Handle("/", proxyTo(rat))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	splitRouter = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, Protocols: new(http.Protocols)}
	splitRouter.Protocols.SetHTTP1(true)
	splitRouter.Protocols.SetUnencryptedHTTP2(true)
	go func() { _ = splitRouter.Serve(ln) }()
	return ln.Addr().String(), nil
}

// stopSuiteCompanions stops what the split topology started besides the
// suite's server, after it: the router, then the catalog process, which
// must shut down gracefully and log only JSON. It sets *code on failure.
func stopSuiteCompanions(code *int) {
	if splitRouter != nil {
		_ = splitRouter.Close()
	}
	if splitCatalog == nil {
		return
	}
	if err := splitCatalog.stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: catalog process: graceful shutdown failed:", err)
		*code = 1
	}
	if err := checkJSONLogs(splitCatalog.logPath); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: catalog process logs:", err)
		*code = 1
	}
	if *code != 0 {
		splitCatalog.dumpLogs()
	}
}

// TestReviewAsksTheCatalogWhereItRuns: a new review makes the rating
// context ask the catalog whether the book exists. In one process that is a
// call of the catalog's use cases, which no RPC metric counts; split, it is
// a CatalogService.GetBook call over gRPC that the catalog process counts.
func TestReviewAsksTheCatalogWhereItRuns(t *testing.T) {
	book := ratedBook(t)
	metricsOf := srv.metricsAddr
	if splitTopology() {
		metricsOf = splitCatalog.metricsAddr
	}
	getBooks := func() int {
		n := 0
		for _, s := range scrape(t, metricsOf) {
			if s.name == "bookworm_rpc_requests_total" && s.labels["procedure"] == "/"+catalogv1connect.CatalogServiceName+"/GetBook" {
				n += int(s.value)
			}
		}
		return n
	}
	before := getBooks()
	r := newReviewers(t, grpcProto)
	if _, err := createReview(r.alice, book.GetId(), 4, "Remote", "Asked across processes"); err != nil {
		t.Fatal(err)
	}
	// A book the catalog never had: the remote NotFound becomes the rating
	// context's own answer, as in process.
	_, err := r.bob.CreateReview(context.Background(), connect.NewRequest(&ratingv1.CreateReviewRequest{
		BookId: "0190a000-0000-7000-8000-000000000000",
		Review: &ratingv1.ReviewInput{Stars: 3, Title: "Ghost", Body: "No such book"},
	}))
	if connect.CodeOf(err) != connect.CodeNotFound {
		t.Fatalf("review of an unknown book: %v, want NotFound", err)
	}
	got := getBooks() - before
	switch {
	case splitTopology() && got < 2:
		t.Fatalf("the catalog process served %d GetBook calls for two new reviews, want at least 2", got)
	case !splitTopology() && got != 0:
		t.Fatalf("%d GetBook RPCs for reviews checked in process, want 0", got)
	}
}

// TestRatingProcessHealthAndReflection: gRPC health and reflection list
// the services of the contexts a process serves, and no others. Through the
// router, health and reflection reach the rating process: split, it knows
// nothing of the catalog.
func TestRatingProcessHealthAndReflection(t *testing.T) {
	conn := grpcConn(t)
	health := grpc_health_v1.NewHealthClient(conn)
	for service, servedHere := range map[string]bool{
		"":                                  true,
		ratingv1connect.RatingServiceName:   true,
		catalogv1connect.CatalogServiceName: !splitTopology(),
	} {
		res, err := health.Check(t.Context(), &grpc_health_v1.HealthCheckRequest{Service: service})
		switch {
		case servedHere && (err != nil || res.GetStatus() != grpc_health_v1.HealthCheckResponse_SERVING):
			t.Errorf("Check(%q) = %v, %v; want SERVING", service, res.GetStatus(), err)
		case !servedHere && status.Code(err) != codes.NotFound:
			t.Errorf("Check(%q) = %v, %v; want NotFound from a process not serving it", service, res.GetStatus(), err)
		}
	}

	stream, err := reflectionv1.NewServerReflectionClient(conn).ServerReflectionInfo(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = stream.CloseSend() }()
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{
		MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range res.GetListServicesResponse().GetService() {
		names = append(names, s.GetName())
	}
	if !slices.Contains(names, ratingv1connect.RatingServiceName) ||
		slices.Contains(names, catalogv1connect.CatalogServiceName) == splitTopology() {
		t.Errorf("reflection lists %v (split topology: %v)", names, splitTopology())
	}
}
