package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/connectclient"
	bwevents "github.com/bookworm-store/bookworm/internal/adapters/events"
	"github.com/bookworm-store/bookworm/internal/adapters/inproc"
	"github.com/bookworm-store/bookworm/internal/adapters/payment/simulated"
	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
	"github.com/bookworm-store/bookworm/internal/adapters/postgres/orderingstore"
	"github.com/bookworm-store/bookworm/internal/adapters/rpc"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// orderingConfig is the ordering context's settings: the payment gateway,
// the saga's patience and its sweeper.
type orderingConfig struct {
	// PaymentGateway names the gateway adapter (a key of paymentGateways).
	PaymentGateway string
	// SimulatedLatency is the simulated gateway's answer time.
	SimulatedLatency time.Duration
	StockTimeout     time.Duration
	StockAttempts    int
	PaymentTimeout   time.Duration
	PaymentAttempts  int
	PaymentBackoff   time.Duration
	GatewayTimeout   time.Duration
	ActionTimeout    time.Duration
	// SweepInterval is how often the sweeper looks for stuck sagas;
	// SweepBatch how many orders it takes per look, SweepParallelism how many
	// it resumes at once.
	SweepInterval    time.Duration
	SweepBatch       int
	SweepParallelism int
	// WatchKeepAlive is the interval of WatchOrder's keep-alives.
	WatchKeepAlive time.Duration
}

// paymentGateways are the payment gateway adapters by name; an adapter
// (stripe) registers itself here with one entry.
var paymentGateways = map[string]func(*infra) (ordering.PaymentGateway, error){
	"simulated": func(in *infra) (ordering.PaymentGateway, error) {
		return simulated.New(simulated.WithLatency(in.cfg.Ordering.SimulatedLatency)), nil
	},
	"stripe": func(in *infra) (ordering.PaymentGateway, error) { return newStripeGateway(in.cfg.Stripe, in.log) },
}

func gatewayNames() []string {
	names := make([]string, 0, len(paymentGateways))
	for n := range paymentGateways {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func orderingFlags(o *orderingConfig, str func(*string, string, string, string), integer func(*int, string, int, string),
	duration func(*time.Duration, string, time.Duration, string)) {
	str(&o.PaymentGateway, "payment-gateway", "simulated", "payment gateway: "+strings.Join(gatewayNames(), " or "))
	duration(&o.SimulatedLatency, "simulated-payment-latency", 0, "how long the simulated gateway takes to answer")
	duration(&o.StockTimeout, "order-stock-timeout", 30*time.Second, "how long an order waits for the catalog's stock answer before asking again")
	integer(&o.StockAttempts, "order-stock-attempts", 3, "how often an order asks the catalog before it fails")
	duration(&o.PaymentTimeout, "order-payment-timeout", 30*time.Second, "how long an order waits for its charge's answer before charging again")
	integer(&o.PaymentAttempts, "order-payment-attempts", 4, "how many temporary gateway errors a charge survives before the order fails")
	duration(&o.PaymentBackoff, "order-payment-backoff", time.Second, "first wait before a charge is tried again (doubling)")
	duration(&o.GatewayTimeout, "payment-gateway-timeout", 10*time.Second, "deadline of one payment gateway call")
	duration(&o.ActionTimeout, "order-action-timeout", 15*time.Minute, "how long a customer has for a 3-D Secure step")
	duration(&o.SweepInterval, "order-sweep-interval", 5*time.Second, "how often the sweeper resumes stuck sagas")
	integer(&o.SweepBatch, "order-sweep-batch", 100, "most orders one sweep takes")
	integer(&o.SweepParallelism, "order-sweep-parallelism", 4, "most orders the sweeper resumes at once")
	duration(&o.WatchKeepAlive, "watch-keepalive", rpc.DefaultKeepAlive, "interval of WatchOrder's keep-alive messages")
}

func (o orderingConfig) finish() []error {
	var errs []error
	if _, ok := paymentGateways[o.PaymentGateway]; !ok {
		errs = append(errs, fmt.Errorf("payment-gateway %q must be one of %s", o.PaymentGateway, strings.Join(gatewayNames(), ", ")))
	}
	positive := map[string]time.Duration{
		"order-stock-timeout": o.StockTimeout, "order-payment-timeout": o.PaymentTimeout, "order-payment-backoff": o.PaymentBackoff,
		"payment-gateway-timeout": o.GatewayTimeout, "order-action-timeout": o.ActionTimeout, "order-sweep-interval": o.SweepInterval,
		"watch-keepalive": o.WatchKeepAlive,
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range positive {
			if !yield(k) {
				return
			}
		}
	}) {
		if positive[name] <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive", name))
		}
	}
	if o.SimulatedLatency < 0 {
		errs = append(errs, errors.New("simulated-payment-latency must not be negative"))
	}
	for name, v := range map[string]int{"order-stock-attempts": o.StockAttempts, "order-payment-attempts": o.PaymentAttempts,
		"order-sweep-parallelism": o.SweepParallelism} {
		if v < 1 || v > 100 {
			errs = append(errs, fmt.Errorf("%s must be between 1 and 100", name))
		}
	}
	if o.SweepBatch < 1 || o.SweepBatch > 10000 {
		errs = append(errs, errors.New("order-sweep-batch must be between 1 and 10000"))
	}
	return errs
}

// orderingConsumers: the saga hears the catalog's stock answers. The
// handler reaches the service built later, when this process serves
// ordering (only then does it consume).
func orderingConsumers(in *infra) []eventConsumer {
	types := orderingstore.NewSaga(nil).EventTypes()
	return []eventConsumer{{context: "ordering", eventTypes: types, handler: func(ctx context.Context, msg bwevents.Message) error {
		if in.orderingSaga == nil {
			return errors.New("ordering saga: the ordering context is not built")
		}
		return in.orderingSaga.Handle(ctx, msg)
	}}}
}

// buildOrdering: the ordering use cases over the order store, the catalog
// and the basket in process, the configured payment gateway and the
// LISTEN change feed; its loops are the feed's listener and the sweeper.
func buildOrdering(ctx context.Context, in *infra) (*servedContext, error) {
	// Prices come from the catalog: in process when served here, over gRPC
	// otherwise (stock is reserved by the catalog's consumer either way).
	var prices ordering.Catalog
	if in.catalog != nil {
		prices = inproc.NewOrderingCatalog(in.catalog)
	} else {
		remote, err := connectclient.NewOrderingCatalog(in.catalogClientConfig())
		if err != nil {
			return nil, fmt.Errorf("catalog client: %w", err)
		}
		prices = remote
	}
	var baskets ordering.Baskets = noBaskets{}
	if in.basket != nil {
		baskets = inproc.NewOrderingBaskets(in.basket)
	} else {
		in.log.Warn("ordering: no basket context in this process; PlaceOrder answers Unavailable")
	}
	gw, err := paymentGateways[in.cfg.Ordering.PaymentGateway](in)
	if err != nil {
		return nil, fmt.Errorf("payment gateway %s: %w", in.cfg.Ordering.PaymentGateway, err)
	}
	oc := in.cfg.Ordering
	feed := orderingstore.NewFeed(in.pool, in.log)
	svc := ordering.NewService(ordering.Deps{
		Store:   orderingstore.NewOrders(in.pool),
		Baskets: baskets,
		Catalog: prices,
		Gateway: gw,
		Feed:    feed,
		Policy: ordering.Policy{StockTimeout: oc.StockTimeout, StockAttempts: oc.StockAttempts, GatewayCallTimeout: oc.GatewayTimeout,
			PaymentTimeout: oc.PaymentTimeout, PaymentAttempts: oc.PaymentAttempts, PaymentBackoff: oc.PaymentBackoff,
			ActionTimeout: oc.ActionTimeout, SweepParallelism: oc.SweepParallelism},
	})
	in.ordering, in.paymentGateway = svc, gw
	in.orderingSaga = orderingstore.NewSaga(svc)
	s := &servedContext{
		services:     []rpc.Service{rpc.OrderingService(svc, oc.WatchKeepAlive)},
		dependencies: []string{"postgres", "rabbitmq"},
		loops: []loop{
			{name: "order change feed", run: feed.Run},
			{name: "order sweeper", run: func(ctx context.Context) error { return sweep(ctx, svc, oc, in.log) }},
		},
	}
	switch g := gw.(type) {
	case *simulated.Gateway:
		s.handlers = map[string]http.Handler{
			simulatedPaymentsPath:         simulatedPayments(g),
			"POST " + simulatedActionPath: simulatedAction(g, svc, in.log),
		}
	case *stripe.Gateway:
		// Stripe's webhook resumes payments that waited for the customer;
		// its signature stands in for a bearer token.
		h, err := newStripeWebhook(in.cfg.Stripe, svc, g, in.log)
		if err != nil {
			return nil, fmt.Errorf("stripe webhook: %w", err)
		}
		s.handlers = map[string]http.Handler{"POST " + stripe.WebhookPath: h}
	}
	return s, nil
}

// sweep resumes stuck sagas at start and then every interval until ctx
// ends: after a crash of every replica, no order stays mid-way. A full
// batch is followed at once by the next.
func sweep(ctx context.Context, svc *ordering.Service, oc orderingConfig, log *slog.Logger) error {
	t := time.NewTicker(oc.SweepInterval)
	defer t.Stop()
	for {
		for {
			n, err := svc.ResumeStuck(ctx, time.Now(), oc.SweepBatch)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				log.Warn("order sweeper: an order could not be resumed; it is tried again", slog.Any("error", err))
			}
			if n < oc.SweepBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// simulatedPaymentsPath serves, with the simulated gateway only (which
// takes no money), what the gateway did for an order's charge key: tests
// count charges and see refunds through it. A real gateway has its own
// dashboard; nothing is mounted for it.
const simulatedPaymentsPath = "/debug/simulated-payments"

func simulatedPayments(g *simulated.Gateway) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := map[string]any{"total_charges": g.TotalCharges()}
		if id := r.URL.Query().Get("order_id"); id != "" {
			key := ordering.ChargeKey(id)
			out["charges"] = g.Charges(key)
			out["attempts"] = g.Attempts(key)
			out["refunded_minor"] = g.Refunded(key).Minor()
			out["voided"] = g.Voided(key)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
}

// simulatedActionPath finishes, with the simulated gateway only, the
// customer's step of a payment that waits for it (tok_3ds), as the
// customer's bank would: POST ?order_id=<id>&outcome=succeeded|failed. The
// gateway's answer goes to the order through OnPaymentUpdate, the path
// Stripe's webhook takes.
const simulatedActionPath = simulatedPaymentsPath + "/complete-action"

func simulatedAction(g *simulated.Gateway, updates stripe.PaymentUpdates, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		orderID := r.URL.Query().Get("order_id")
		if !id.Valid(orderID) {
			http.Error(w, "order_id must be an order id (a UUID)", http.StatusBadRequest)
			return
		}
		var succeed bool
		switch r.URL.Query().Get("outcome") {
		case "succeeded":
			succeed = true
		case "failed":
		default:
			http.Error(w, "outcome must be succeeded or failed", http.StatusBadRequest)
			return
		}
		res, err := g.CompleteAction(ordering.ChargeKey(orderID), succeed)
		if errors.Is(err, simulated.ErrNoAction) {
			http.Error(w, "the order's payment does not wait for the customer", http.StatusConflict)
			return
		}
		if err == nil {
			for attempt := 0; ; attempt++ {
				// A race with the saga or the sweeper on the same order: the
				// update reads the order again.
				err = updates.OnPaymentUpdate(r.Context(), orderID, res)
				if !errors.Is(err, failure.ErrConflict) || attempt == 3 {
					break
				}
			}
		}
		switch {
		case errors.Is(err, failure.ErrNotFound):
			http.Error(w, "no such order", http.StatusNotFound)
			return
		case errors.Is(err, failure.ErrFailedPrecondition):
			http.Error(w, "the order does not wait for its payment", http.StatusConflict)
			return
		case err != nil:
			// The gateway remembers the outcome: the sweeper applies it when
			// the customer's time is up.
			log.Error("simulated payments: completing an action failed", "order_id", orderID, slog.Any("error", err))
			http.Error(w, "the order could not be updated; the sweeper will", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"order_id": orderID, "payment_id": res.PaymentID, "succeeded": succeed})
	})
}

// noBaskets is ordering's basket port when no basket context runs in the
// process (baskets have no remote port: see inproc.OrderingBaskets).
type noBaskets struct{}

func (noBaskets) Lines(context.Context, string) ([]ordering.BasketLine, error) {
	return nil, fmt.Errorf("%w: baskets are not served by this process", failure.ErrUnavailable)
}
