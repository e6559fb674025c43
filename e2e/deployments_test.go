package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/jackc/pgx/v5/pgxpool"

	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	ratingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/rating/v1/ratingv1connect"
)

// deployment is one BookWorm of TestTwoDeploymentsShareABroker: a server on
// a database of its own.
type deployment struct {
	name    string
	srv     *server
	pool    *pgxpool.Pool
	catalog catalogv1connect.CatalogServiceClient
	books   []*catalogv1.Book
	// reviews are the reviews written, by id, with their stars.
	mu      sync.Mutex
	reviews map[string]*ratingv1.Review
}

// startDeployment starts a server on a new database of the run's Postgres,
// on the run's broker with the run's exchange and queue prefix (the same
// for every deployment: the worst case).
func startDeployment(t *testing.T, name string) *deployment {
	t.Helper()
	dbURL, drop, err := pg.CreateDatabase(t.Context(), "bookworm_"+name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("dropping %s's database: %v", name, err)
		}
	})
	env := append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false")
	s, err := startServer(context.Background(), serverBin, dbURL, filepath.Join(serverTmp, name+".log"), env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting deployment %s: %v", name, err)
	}
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	// Cleanups run last in, first out: the server stops before the pool
	// closes and the database is dropped.
	t.Cleanup(pool.Close)
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("deployment %s: %v", name, err)
			s.dumpLogs()
		}
	})
	return &deployment{
		name: name, srv: s, pool: pool, reviews: map[string]*ratingv1.Review{},
		catalog: catalogv1connect.NewCatalogServiceClient(h2cClient(t), s.baseURL, connect.WithInterceptors(bearer(adminToken))),
	}
}

// ratingClient is a rating client of the deployment for token.
func (d *deployment) ratingClient(t *testing.T, token string) ratingv1connect.RatingServiceClient {
	t.Helper()
	var opts []connect.ClientOption
	if token != "" {
		opts = append(opts, connect.WithInterceptors(bearer(token)))
	}
	return ratingv1connect.NewRatingServiceClient(h2cClient(t), d.srv.baseURL, opts...)
}

// TestTwoDeploymentsShareABroker runs two BookWorms, each on a database of
// its own, on the run's one RabbitMQ with the same exchange and the same
// queue prefix, and writes books and reviews to both at once. Before
// deployments had identities, each consumed the other's review events,
// rejected the reviews of books it did not know, and the other then
// deleted its users' reviews. Now each deployment's queues are its own and
// each drops (and counts) the events of the other: nothing of either is lost
// or changed, and each one's catalog figures equal its rating summaries.
func TestTwoDeploymentsShareABroker(t *testing.T) {
	const (
		booksEach = 3
		reviewers = 20
	)
	deps := []*deployment{startDeployment(t, "deployment_a"), startDeployment(t, "deployment_b")}
	ids := map[string]string{}
	for _, d := range deps {
		var id string
		if err := d.pool.QueryRow(t.Context(), `SELECT id::text FROM events.deployment`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids[d.name] = id
		f := newFixture(t, d.catalog, 1)
		for range booksEach {
			d.books = append(d.books, f.createBook(t))
		}
	}
	if ids["deployment_a"] == ids["deployment_b"] {
		t.Fatalf("both deployments have the identity %s", ids["deployment_a"])
	}

	// Both deployments at once: every reviewer reviews every book of its
	// deployment, then a third of them change their minds.
	var wg sync.WaitGroup
	errs := make(chan error, 2*reviewers)
	for _, d := range deps {
		for i := range reviewers {
			c := d.ratingClient(t, userToken(t, fmt.Sprintf("%s-reader-%02d-%s", d.name, i, token(6))))
			wg.Go(func() {
				for j, b := range d.books {
					r, err := createReview(c, b.GetId(), int32(1+(i+j)%5), "Review", "")
					if err != nil {
						errs <- fmt.Errorf("%s: CreateReview: %w", d.name, err)
						return
					}
					if i%3 == 0 {
						if r, err = updateReview(c, r.GetId(), "", &ratingv1.ReviewInput{Stars: 5}, "stars"); err != nil {
							errs <- fmt.Errorf("%s: UpdateReview: %w", d.name, err)
							return
						}
					}
					d.mu.Lock()
					d.reviews[r.GetId()] = r
					d.mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, d := range deps {
		t.Run(d.name, func(t *testing.T) {
			// Each one's catalog figures equal its rating summaries, for
			// every book of its database.
			deploymentAgrees(t, d)
			ratings := d.ratingClient(t, "")
			for _, b := range d.books {
				var wantSum int64
				for _, r := range d.reviews {
					if r.GetBookId() == b.GetId() {
						wantSum += int64(r.GetStars())
					}
				}
				s := summary(t, ratings, b.GetId())
				if s.GetCount() != reviewers || s.GetStarSum() != wantSum {
					t.Fatalf("book %s: summary count %d sum %d, want %d and %d", b.GetId(), s.GetCount(), s.GetStarSum(), reviewers, wantSum)
				}
				got := getBook(t, d.catalog, b.GetId())
				if int64(got.GetRatingCount()) != s.GetCount() || got.GetRatingAverage() != s.GetAverage() {
					t.Fatalf("book %s: catalog count %d average %v, rating %d %v", b.GetId(), got.GetRatingCount(), got.GetRatingAverage(), s.GetCount(), s.GetAverage())
				}
			}
			// Nothing lost, nothing changed: every review stands as its
			// author left it, and no other.
			listed := 0
			for _, b := range d.books {
				for _, got := range listReviews(t, ratings, b.GetId(), 0, 100) {
					listed++
					want, ok := d.reviews[got.GetId()]
					if !ok || got.GetStars() != want.GetStars() || got.GetEtag() != want.GetEtag() {
						t.Fatalf("review %s: %v, want %v", got.GetId(), got, want)
					}
				}
			}
			if listed != len(d.reviews) {
				t.Fatalf("%d reviews listed, want %d", listed, len(d.reviews))
			}
			var rejected int
			if err := d.pool.QueryRow(t.Context(), `SELECT count(*) FROM events.outbox WHERE type = 'bookworm.rating.v1.ReviewRejected'`).Scan(&rejected); err != nil {
				t.Fatal(err)
			}
			if rejected != 0 {
				t.Fatalf("%d reviews rejected", rejected)
			}
		})
	}

	// They share an exchange, so each saw the other's events: dropped,
	// counted, logged at WARN; never handled (no anomaly, no ERROR).
	for _, d := range deps {
		var other string
		for _, o := range deps {
			if o != d {
				other = ids[o.name]
			}
		}
		pollUntil(t, d.name+" counting the other's events", func() bool {
			return metricValue(t, d.srv, "bookworm_events_foreign_dropped_total") > 0
		})
		if n := metricValue(t, d.srv, "bookworm_events_permanent_failures_total"); n != 0 {
			t.Errorf("%s: %v permanent failures, want 0", d.name, n)
		}
		t.Logf("%s (%s): %d reviews kept, %v foreign events dropped", d.name, ids[d.name], len(d.reviews),
			metricValue(t, d.srv, "bookworm_events_foreign_dropped_total"))
		logs, err := os.ReadFile(d.srv.logPath)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(logs), "event from another deployment dropped") || !strings.Contains(string(logs), other) {
			t.Errorf("%s did not log the other deployment's (%s) events", d.name, other)
		}
		if strings.Contains(string(logs), `"level":"ERROR"`) {
			t.Errorf("%s logged errors", d.name)
			d.srv.dumpLogs()
		}
	}
}

// deploymentAgrees polls until, for every book of d's database, the
// catalog's rating sum and count equal the rating context's star counts.
func deploymentAgrees(t *testing.T, d *deployment) {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		var differ, books int
		err := d.pool.QueryRow(t.Context(), `
			WITH s AS (
				SELECT book_id, stars_1 + stars_2 + stars_3 + stars_4 + stars_5 AS n,
				       stars_1 + 2*stars_2 + 3*stars_3 + 4*stars_4 + 5*stars_5 AS sum
				  FROM rating.summaries)
			SELECT count(*) FILTER (WHERE coalesce(b.rating_count, 0) <> coalesce(s.n, 0) OR coalesce(b.rating_sum, 0) <> coalesce(s.sum, 0)),
			       count(b.id)
			  FROM catalog.books b FULL JOIN s ON s.book_id = b.id`).Scan(&differ, &books)
		if err != nil {
			t.Fatal(err)
		}
		if differ == 0 && books == len(d.books) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d books' ratings differ between the catalog and the rating context", d.name, differ, books)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricValue is the value of an unlabelled metric of s, or -1 when s does
// not export it.
func metricValue(t *testing.T, s *server, name string) float64 {
	t.Helper()
	for _, m := range scrape(t, s.metricsAddr) {
		if m.name == name {
			return m.value
		}
	}
	return -1
}
