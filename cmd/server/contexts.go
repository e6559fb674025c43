package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/bookworm-store/bookworm/internal/adapters/connectclient"
	"github.com/bookworm-store/bookworm/internal/adapters/inproc"
	"github.com/bookworm-store/bookworm/internal/adapters/ollama"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/assistantstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/basketstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/catalogstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/notificationstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/orderingstore"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/outbox"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/ratingstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	"github.com/bookworm-store/bookworm/internal/core/assistant"
	"github.com/bookworm-store/bookworm/internal/core/basket"
	"github.com/bookworm-store/bookworm/internal/core/catalog"
	"github.com/bookworm-store/bookworm/internal/core/notification"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/bookworm-store/bookworm/internal/core/rating"
)

// registry is every bounded context the binary can serve, in build order:
// a context that calls another in process comes after it. Adding a context
// is one entry here (and its build function below).
var registry = []contextEntry{
	{name: "catalog", migrations: catalogstore.Migrations, consumers: catalogConsumers, build: buildCatalog},
	{name: "rating", migrations: ratingstore.Migrations, consumers: ratingConsumers, build: buildRating, calls: []string{"catalog"}},
	{name: "basket", migrations: basketstore.Migrations, consumers: basketConsumers, build: buildBasket, calls: []string{"catalog"}},
	{name: "ordering", migrations: orderingstore.Migrations, consumers: orderingConsumers, build: buildOrdering, calls: []string{"catalog"}},
	{name: "notification", migrations: notificationstore.Migrations, consumers: notificationConsumers, build: buildNotification},
	{name: "assistant", migrations: assistantstore.Migrations, consumers: assistantConsumers, build: buildAssistant},
}

// contextEntry is how the server builds one context.
type contextEntry struct {
	name string
	// migrations create and evolve the context's own schema; a process
	// applies those of the contexts it serves.
	migrations postgres.Migrations
	// consumers builds the context's event consumers. It must be cheap and
	// free of side effects: every process declares every context's queue,
	// served here or not, so that no event is routed before its queue
	// exists; only the served contexts consume.
	consumers func(*infra) []eventConsumer
	// build builds the rest of the context when this process serves it.
	build func(context.Context, *infra) (*servedContext, error)
	// calls names the contexts it reaches through ports: in process when
	// served here, over gRPC at the configured URL otherwise.
	calls []string
}

// servedContext is what one context, built, hands to serve.
type servedContext struct {
	// services are its Connect services; their names are its gRPC health
	// and reflection names.
	services []rpc.Service
	// dependencies name the shared dependencies /readyz pings for it
	// (keys of infra.pingers).
	dependencies []string
	// loops run in the background until shutdown; one that ends early
	// stops the server.
	loops []loop
	// close releases what the context holds, after the last request.
	close func()
	// handlers are extra HTTP handlers by path (development aids).
	handlers map[string]http.Handler
}

// loop is a named background loop of a context.
type loop struct {
	name string
	run  func(context.Context) error
}

// infra is the shared infrastructure contexts are built from, and the
// in-process ports of the contexts built so far.
type infra struct {
	cfg  config
	pool *pgxpool.Pool
	log  *slog.Logger
	obs  obsSetup
	// catalog is the catalog's use cases when this process serves it.
	catalog *catalog.Service
	// basket is the basket's use cases when this process serves it.
	basket *basket.Service
	// mail counts the notification context's emails (notification.go).
	mail *notification.Counters
	// ordering, its saga consumer and payment gateway, when served here.
	ordering       *ordering.Service
	orderingSaga   *orderingstore.Saga
	paymentGateway ordering.PaymentGateway
	// ollama is the AI model adapter, nil when the AI features are off;
	// embedIndexer keeps the books' embeddings, nil without semantic search.
	ollama       *ollama.Client
	embedIndexer *catalog.Indexer
	// rating is the rating use cases when this process serves them.
	rating *rating.Service
	// authn verifies bearer tokens and limits call rates.
	authn authSetup
	// tools is the store's toolbox, built once by storeToolbox (mcp.go).
	tools *assistant.StoreToolbox
}

// contextNames lists the registry's names, in order.
func contextNames() []string {
	names := make([]string, len(registry))
	for i, e := range registry {
		names[i] = e.name
	}
	return names
}

// parseContexts reads a --contexts value: names separated by commas, each
// known, the result in registry order.
func parseContexts(s string) ([]string, error) {
	var unknown []string
	want := map[string]bool{}
	for n := range strings.SplitSeq(s, ",") {
		n = strings.TrimSpace(n)
		switch {
		case n == "":
		case slices.Contains(contextNames(), n):
			want[n] = true
		default:
			unknown = append(unknown, fmt.Sprintf("%q", n))
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("contexts: unknown %s; known contexts: %s", strings.Join(unknown, ", "), strings.Join(contextNames(), ", "))
	}
	if len(want) == 0 {
		return nil, fmt.Errorf("contexts: none given; known contexts: %s", strings.Join(contextNames(), ", "))
	}
	var out []string
	for _, n := range contextNames() {
		if want[n] {
			out = append(out, n)
		}
	}
	return out, nil
}

// migrations are the schema migrations this process applies at start: the
// event plumbing's (every process writes the outbox) and the served
// contexts'.
func (c config) migrations() []postgres.Migrations {
	sets := []postgres.Migrations{outbox.Migrations}
	for _, e := range registry {
		if slices.Contains(c.Contexts, e.name) {
			sets = append(sets, e.migrations)
		}
	}
	return sets
}

// remoteURLs are the base URLs of contexts served elsewhere, by name.
func (c config) remoteURLs() map[string]string {
	return map[string]string{"catalog": c.CatalogURL}
}

// validateContexts checks that every context a served one calls is served
// here or reachable at a configured URL.
func (c config) validateContexts() []error {
	var errs []error
	for _, e := range registry {
		if !slices.Contains(c.Contexts, e.name) {
			continue
		}
		for _, callee := range e.calls {
			if !slices.Contains(c.Contexts, callee) && c.remoteURLs()[callee] == "" {
				errs = append(errs, fmt.Errorf("contexts: %s without %s needs %s-url (%s) to reach it",
					e.name, callee, callee, envName(callee+"-url")))
			}
		}
	}
	if c.Seed && !slices.Contains(c.Contexts, "catalog") {
		errs = append(errs, errors.New("seed loads the catalog: serve the catalog context to use it"))
	}
	return errs
}

// contexts is the set of contexts this process serves, built.
type contexts struct {
	served map[string]*servedContext
	order  []string
	// queues are every registered context's consumers (declared);
	// consumers are the served ones' (consumed).
	queues, consumers []eventConsumer
}

// buildContexts builds the served contexts in registry order, and the
// consumers of all of them.
func buildContexts(ctx context.Context, in *infra) (*contexts, error) {
	cs := &contexts{served: map[string]*servedContext{}}
	for _, e := range registry {
		consumers := e.consumers(in)
		cs.queues = append(cs.queues, consumers...)
		if !slices.Contains(in.cfg.Contexts, e.name) {
			continue
		}
		s, err := e.build(ctx, in)
		if err != nil {
			cs.close()
			return nil, fmt.Errorf("%s: %w", e.name, err)
		}
		cs.served[e.name] = s
		cs.order = append(cs.order, e.name)
		cs.consumers = append(cs.consumers, consumers...)
	}
	mountMCP(in, cs)
	in.log.Info("contexts built", slog.Any("serving", cs.order))
	return cs, nil
}

// each calls fn on every served context in order.
func (cs *contexts) each(fn func(*servedContext)) {
	for _, n := range cs.order {
		fn(cs.served[n])
	}
}

func (cs *contexts) services() (out []rpc.Service) {
	cs.each(func(s *servedContext) {
		for _, svc := range s.services {
			// gRPC health of the service follows the context's readiness.
			svc.Dependencies = s.dependencies
			out = append(out, svc)
		}
	})
	return out
}

func (cs *contexts) handlers() map[string]http.Handler {
	out := map[string]http.Handler{}
	cs.each(func(s *servedContext) { maps.Copy(out, s.handlers) })
	return out
}

func (cs *contexts) loops() (out []loop) {
	cs.each(func(s *servedContext) { out = append(out, s.loops...) })
	return out
}

// dependencies are the readiness checks the served contexts use, each
// once.
func (cs *contexts) dependencies(pingers map[string]rpc.Pinger) (map[string]rpc.Pinger, error) {
	out := map[string]rpc.Pinger{}
	var err error
	cs.each(func(s *servedContext) {
		for _, d := range s.dependencies {
			p, ok := pingers[d]
			if !ok {
				err = errors.Join(err, fmt.Errorf("unknown dependency %q", d))
			}
			out[d] = p
		}
	})
	return out, err
}

// close releases what the contexts hold; safe to call more than once.
func (cs *contexts) close() {
	cs.each(func(s *servedContext) {
		if s.close != nil {
			s.close()
			s.close = nil
		}
	})
}

// catalogConsumers: the catalog counts reviews into its books and keeps
// the stock of orders (reserve, commit, release), and keeps its
// embeddings' bookkeeping from its own book events, all on its one queue.
func catalogConsumers(in *infra) []eventConsumer {
	ratings := catalogstore.NewCatalogRatings(in.pool, nil)
	stock := catalogstore.NewStockOrders(in.pool, nil)
	embeddings := catalogstore.NewEmbeddingEvents(in.pool, in.nudgeIndexer)
	return []eventConsumer{oneQueue("catalog", ratings, stock, embeddings)}
}

// buildCatalog: the catalog's use cases over the cached book store, whose
// LISTEN loop it owns; the demo catalog when asked.
func buildCatalog(ctx context.Context, in *infra) (*servedContext, error) {
	if in.cfg.Seed {
		res, err := catalogstore.Seed(ctx, in.pool, in.cfg.SeedBooks)
		if err != nil {
			return nil, fmt.Errorf("seed: %w", err)
		}
		in.log.Info("demo catalog loaded", slog.Any("added", res))
	}
	books := catalogstore.NewBookCache(catalogstore.NewBooks(in.pool), in.pool, in.cfg.CacheEntries, in.log)
	if !in.cfg.SearchIndex {
		books.SearchIndex().Disable()
	}
	if !in.cfg.SearchVectors {
		books.SearchIndex().DisableVectors()
	}
	in.catalog = catalog.NewService(books, catalogstore.NewEntities(in.pool).WithRenamed(in.nudgeIndexer).WithBooksChanged(books.BooksChanged), nil).WithSimilarBooks(catalogstore.NewBooks(in.pool))
	embedLoops, err := catalogEmbeddings(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("embeddings: %w", err)
	}
	return &servedContext{
		services:     []rpc.Service{rpc.CatalogService(in.catalog)},
		dependencies: []string{"postgres", "rabbitmq"},
		loops:        append([]loop{{name: "book cache listener", run: books.Run}}, embedLoops...),
	}, nil
}

// ratingConsumers: the rating context removes the reviews the catalog
// rejects.
func ratingConsumers(in *infra) []eventConsumer {
	rejections := ratingstore.NewReviewRejections(in.pool, nil)
	return []eventConsumer{{context: "rating", eventTypes: rejections.EventTypes(), handler: rejections.Handle}}
}

// buildRating: the rating use cases, asking the catalog about books in
// process when it is served here and over gRPC otherwise. A remote catalog
// is deliberately not a readiness dependency: while it is down new reviews
// fail with Unavailable, but reads of reviews need only this process, and
// an unready rating process would refuse them too.
func buildRating(_ context.Context, in *infra) (*servedContext, error) {
	s := &servedContext{dependencies: []string{"postgres", "rabbitmq"}}
	var books rating.BookChecker
	if in.catalog != nil {
		books = inproc.NewCatalogBooks(in.catalog)
	} else {
		remote, err := connectclient.NewCatalogBooks(connectclient.Config{
			BaseURL:        in.cfg.CatalogURL,
			TracerProvider: in.obs.tracing.TracerProvider(),
			Propagator:     in.obs.tracing.Propagator(),
			Logger:         in.log,
		})
		if err != nil {
			return nil, err
		}
		books, s.close = remote, remote.Close
		in.log.Info("rating reaches the catalog over gRPC", slog.String("catalog_url", in.cfg.CatalogURL))
	}
	in.rating = reviewSummaries(in, rating.NewService(ratingstore.NewReviews(in.pool), books, nil))
	s.services = []rpc.Service{rpc.RatingService(in.rating)}
	return s, nil
}

// basketConsumers: the basket empties itself when an order placed from it
// is confirmed.
func basketConsumers(in *infra) []eventConsumer {
	orders := basketstore.NewOrderConfirmations(in.pool, nil)
	return []eventConsumer{{context: "basket", eventTypes: orders.EventTypes(), handler: orders.Handle}}
}

// buildBasket: the basket use cases, reading titles and prices from the
// catalog in process when it is served here and over gRPC otherwise. As
// for rating, a remote catalog is not a readiness dependency: while it is
// down, basket calls fail with Unavailable and nothing else does.
func buildBasket(_ context.Context, in *infra) (*servedContext, error) {
	s := &servedContext{dependencies: []string{"postgres", "rabbitmq"}}
	var books basket.Catalog
	if in.catalog != nil {
		books = inproc.NewBasketCatalog(in.catalog)
	} else {
		remote, err := connectclient.NewBasketCatalog(in.catalogClientConfig())
		if err != nil {
			return nil, err
		}
		books, s.close = remote, remote.Close
		in.log.Info("basket reaches the catalog over gRPC", slog.String("catalog_url", in.cfg.CatalogURL))
	}
	in.basket = basket.NewService(basketstore.NewBaskets(in.pool), books, nil)
	s.services = []rpc.Service{rpc.BasketService(in.basket)}
	return s, nil
}

// catalogClientConfig is how every port reaching a remote catalog calls it.
func (in *infra) catalogClientConfig() connectclient.Config {
	return connectclient.Config{
		BaseURL:        in.cfg.CatalogURL,
		TracerProvider: in.obs.tracing.TracerProvider(),
		Propagator:     in.obs.tracing.Propagator(),
		Logger:         in.log,
	}
}
