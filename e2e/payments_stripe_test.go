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

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe/stripetest"
	"github.com/bookworm-store/bookworm/internal/core/id"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// The Stripe secrets of the shops below: the server takes them from its
// environment; the double accepts only the key, the webhook only the
// secret.
const (
	e2eStripeKey      = "sk_test_e2eBookWormSecretKey51Hx0123456789"
	e2eWebhookSecret  = "whsec_e2eBookWormEndpointSecret0123456789"
	chargeRoute       = "POST /v1/payment_intents"
	metaOrderID       = "bookworm_order_id"
	stripeWebhookPath = "/webhooks/stripe"
)

// stripeShop is a BookWorm deployment paying through Stripe, where Stripe
// is a stripetest double: the real server binary on a database of its own
// (so its queues are its own too: no other server takes its saga's events).
type stripeShop struct {
	name   string
	dbURL  string
	env    []string
	double *stripetest.Server
	pool   *pgxpool.Pool

	mu     sync.Mutex
	srv    *server
	runs   []*server // every server started, killed or not
	killed map[*server]bool
}

// newStripeShop starts a shop with env added to the server's environment.
func newStripeShop(t *testing.T, name string, env ...string) *stripeShop {
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
	pool, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	double := stripetest.NewServer()
	double.SecretKey = e2eStripeKey
	t.Cleanup(double.Close)
	sh := &stripeShop{name: name, dbURL: dbURL, double: double, pool: pool, killed: map[*server]bool{}}
	sh.env = append(append(append(issuerEnv(), "BOOKWORM_RATE_LIMIT=false"), orderingEnv()...),
		"BOOKWORM_PAYMENT_GATEWAY=stripe",
		"BOOKWORM_STRIPE_API_URL="+double.URL,
		"BOOKWORM_STRIPE_SECRET_KEY="+e2eStripeKey,
		"BOOKWORM_STRIPE_WEBHOOK_SECRET="+e2eWebhookSecret,
		// One Stripe call may take long (the holds below); the sweeper's
		// patience is short.
		"BOOKWORM_PAYMENT_GATEWAY_TIMEOUT=60s",
		"BOOKWORM_ORDER_PAYMENT_TIMEOUT=3s",
	)
	sh.env = append(sh.env, env...) // later settings win
	t.Cleanup(func() {
		sh.mu.Lock()
		defer sh.mu.Unlock()
		for _, s := range sh.runs {
			if !sh.killed[s] {
				if err := s.stop(); err != nil {
					t.Errorf("%s server: %v", name, err)
					s.dumpLogs()
				}
			}
			checkShopLogs(t, s, !sh.killed[s])
		}
		if t.Failed() {
			for _, s := range sh.runs {
				s.dumpLogs()
			}
		}
	})
	sh.start(t)
	return sh
}

// start starts the shop's server (again, after a kill).
func (sh *stripeShop) start(t *testing.T) {
	t.Helper()
	sh.mu.Lock()
	logPath := filepath.Join(serverTmp, fmt.Sprintf("%s-%d.log", sh.name, len(sh.runs)+1))
	sh.mu.Unlock()
	s, err := startServer(context.Background(), serverBin, sh.dbURL, logPath, sh.env...)
	if err != nil {
		if s != nil {
			s.stop()
			s.dumpLogs()
		}
		t.Fatalf("starting %s: %v", sh.name, err)
	}
	sh.mu.Lock()
	sh.srv = s
	sh.runs = append(sh.runs, s)
	sh.mu.Unlock()
}

// kill ends the server with SIGKILL: no drain, no flush, nothing after.
func (sh *stripeShop) kill(t *testing.T) {
	t.Helper()
	sh.mu.Lock()
	s := sh.srv
	sh.killed[s] = true
	sh.mu.Unlock()
	if err := s.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-s.done
}

// checkShopLogs fails when a server log names a payment method, the Stripe
// secrets or a client secret, or (wholeLines: it was not killed mid-line)
// has a line that is not JSON.
func checkShopLogs(t *testing.T, s *server, wholeLines bool) {
	t.Helper()
	b, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"pm_card_", e2eStripeKey, strings.TrimPrefix(e2eStripeKey, "sk_test_"), e2eWebhookSecret, "_secret_"} {
		if strings.Contains(string(b), secret) {
			t.Errorf("the log of %s names a secret (%.12s...)", s.addr, secret)
		}
	}
	if err := checkJSONLogs(s.logPath); err != nil && wholeLines {
		t.Errorf("the log of %s: %v", s.addr, err)
	}
}

// book creates a book with copies on the shop's catalog.
func (sh *stripeShop) book(t *testing.T, copies int32) *catalogv1.Book {
	t.Helper()
	c := catalogv1connect.NewCatalogServiceClient(h2cClient(t), sh.srv.baseURL, connect.WithInterceptors(bearer(adminToken)))
	return newFixture(t, c, 1).createBook(t, func(in *catalogv1.BookInput) { in.StockQuantity = copies })
}

// shopper is a buyer of the shop's current server.
func (sh *stripeShop) shopper(t *testing.T, userID string) shopper {
	t.Helper()
	s := shopper{id: userID, token: userToken(t, userID)}
	s.orders = newOrderingClient(t, clientOptions{Protocol: connectProto, Token: s.token}, sh.srv.baseURL)
	hc, opts := connectOptions(t, clientOptions{Protocol: connectProto, Token: s.token})
	s.basket = basketv1connect.NewBasketServiceClient(hc, sh.srv.baseURL, opts...)
	return s
}

// order fills a new buyer's basket with one copy of the book and places an
// order paid with the payment method pm.
func (sh *stripeShop) order(t *testing.T, bookID, pm string) (shopper, *orderingv1.Order) {
	t.Helper()
	s := sh.shopper(t, "buyer-"+token(10))
	if _, err := s.basket.AddItem(context.Background(), connect.NewRequest(&basketv1.AddItemRequest{
		BookId: bookID, Quantity: 1, RequestId: id.New()})); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	return s, s.mustPlace(t, pm)
}

// stock reads a book's copies; available + reserved + sold must always be
// what was loaded.
func (sh *stripeShop) stock(t *testing.T, bookID string, loaded int64) (available, reserved, sold int64) {
	t.Helper()
	if err := sh.pool.QueryRow(context.Background(), `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`,
		bookID).Scan(&available, &reserved, &sold); err != nil {
		t.Fatal(err)
	}
	if available+reserved+sold != loaded {
		t.Fatalf("stock: available %d + reserved %d + sold %d != %d loaded", available, reserved, sold, loaded)
	}
	return available, reserved, sold
}

// sampleStock checks the book's copies add up every 20 ms, in the
// background (across kills: the pool is the test's), until the returned
// stop, which reports how many samples it took.
func (sh *stripeShop) sampleStock(t *testing.T, bookID string, loaded int64) (stop func() int) {
	t.Helper()
	done, finished := make(chan struct{}), make(chan int)
	go func() {
		n := 0
		for {
			var available, reserved, sold int64
			err := sh.pool.QueryRow(context.Background(), `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`,
				bookID).Scan(&available, &reserved, &sold)
			switch {
			case err != nil:
				t.Errorf("sampling the stock: %v", err)
			case available+reserved+sold != loaded:
				t.Errorf("stock sample: available %d + reserved %d + sold %d != %d loaded", available, reserved, sold, loaded)
			}
			n++
			select {
			case <-done:
				finished <- n
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	return sync.OnceValue(func() int { close(done); return <-finished })
}

// awaitStock polls until the book has want reserved and sold copies.
func (sh *stripeShop) awaitStock(t *testing.T, bookID string, loaded, reserved, sold int64) {
	t.Helper()
	pollUntil(t, fmt.Sprintf("%d copies reserved and %d sold", reserved, sold), func() bool {
		_, r, s := sh.stock(t, bookID, loaded)
		return r == reserved && s == sold
	})
}

// charges returns how often the double captured money for the order: the
// charges of its charge's idempotency key, and those of every
// PaymentIntent naming the order (a second PaymentIntent would be a second
// charge under another key).
func (sh *stripeShop) charges(orderID string) (byKey, byOrder int) {
	byKey = sh.double.Charges(ordering.ChargeKey(orderID) + "/create")
	for _, pi := range sh.double.IntentsWith(metaOrderID, orderID) {
		byOrder += pi.Charges
	}
	return byKey, byOrder
}

// TestStripeCrashBetweenReservationAndPayment places orders on a server
// paying through Stripe (the stripetest double), holds the charge requests
// at the double so that the server is provably between the stock
// reservation and the payment (the copies reserved in the catalog, every
// order STOCK_RESERVED, the charge request at Stripe), kills the server
// with SIGKILL and starts it again on the same database and broker. The
// sweeper (or the redelivered StockReserved) charges again with the same
// idempotency key: every order ends CONFIRMED with exactly one charge, and
// the copies add up at every sample.
//
// Two kill points: the request held before it takes effect (as if lost on
// the way: Stripe never charged) and held after it took effect (Stripe
// captured, the answer lost: BookWorm never recorded it, and Stripe's
// idempotency layer replays the capture to the restarted server).
func TestStripeCrashBetweenReservationAndPayment(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		db       string
		stage    stripetest.Stage
		captured bool
	}{
		{"before the charge takes effect at Stripe", "crash_before", stripetest.BeforeApply, false},
		{"after Stripe captured, before BookWorm recorded it", "crash_after", stripetest.AfterApply, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const copies, orders = 10, 3
			sh := newStripeShop(t, tc.db)
			book := sh.book(t, copies)
			stopSampling := sh.sampleStock(t, book.GetId(), copies)
			t.Cleanup(func() { stopSampling() })
			hold := sh.double.Hold(chargeRoute, tc.stage)
			placed := map[string]shopper{}
			for range orders {
				s, o := sh.order(t, book.GetId(), stripetest.PMSucceeds)
				placed[o.GetId()] = s
			}
			// Every order's charge request is at the double and held.
			arrived := map[string]bool{}
			timeout := time.After(settleTimeout)
			for len(arrived) < orders {
				select {
				case c := <-hold.Arrived():
					arrived[c.Form.Get("metadata["+metaOrderID+"]")] = true
				case <-timeout:
					t.Fatalf("charge requests of %d orders reached Stripe, want %d", len(arrived), orders)
				}
			}
			for orderID, s := range placed {
				if !arrived[orderID] {
					t.Fatalf("no charge request for order %s", orderID)
				}
				o, err := getOrder(s.orders, orderID)
				if err != nil || o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_STOCK_RESERVED {
					t.Fatalf("order %s before the kill: %v, %v; want STOCK_RESERVED", orderID, o.GetStatus(), err)
				}
				byKey, byOrder := sh.charges(orderID)
				if want := map[bool]int{true: 1, false: 0}[tc.captured]; byKey != want || byOrder != want {
					t.Fatalf("order %s before the kill: %d charges (%d by order), want %d", orderID, byKey, byOrder, want)
				}
			}
			if available, reserved, sold := sh.stock(t, book.GetId(), copies); reserved != orders || sold != 0 {
				t.Fatalf("before the kill: available %d, reserved %d, sold %d; want %d reserved", available, reserved, sold, orders)
			}

			sh.kill(t)
			hold.Release()
			sh.start(t)

			for orderID, s := range placed {
				s = sh.shopper(t, s.id) // the restarted server listens elsewhere
				o := settle(t, s.orders, orderID)
				if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
					t.Errorf("order %s ended %s %v, want CONFIRMED", orderID, o.GetStatus(), o.GetFailure())
				}
				if byKey, byOrder := sh.charges(orderID); byKey != 1 || byOrder != 1 {
					t.Errorf("order %s: %d charges under its key, %d PaymentIntent charges; want exactly 1", orderID, byKey, byOrder)
				}
			}
			sh.awaitStock(t, book.GetId(), copies, 0, orders)
			if n := len(sh.double.Intents()); n != orders {
				t.Errorf("%d PaymentIntents at Stripe, want %d", n, orders)
			}
			t.Logf("the copies added up in each of %d samples", stopSampling())
		})
	}
}

// watchUntil reads a WatchOrder stream of the order until it shows status
// want, and returns that order.
func watchUntil(t *testing.T, s shopper, orderID string, want orderingv1.OrderStatus) *orderingv1.Order {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	st, err := s.orders.WatchOrder(ctx, connect.NewRequest(&orderingv1.WatchOrderRequest{Id: orderID}))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var seen []orderingv1.OrderStatus
	for st.Receive() {
		o := st.Msg().GetOrder()
		if o == nil {
			continue // a keep-alive
		}
		seen = append(seen, o.GetStatus())
		if o.GetStatus() == want {
			return o
		}
	}
	t.Fatalf("the watch of order %s ended (%v) after %v, before %s", orderID, st.Err(), seen, want)
	return nil
}

// TestStripeThreeDSecure runs the payment that needs the customer end to
// end: the double answers requires_action, the order waits in
// AWAITING_PAYMENT with the PaymentIntent's client secret (read from
// WatchOrder, as a storefront would), and Stripe's signed webhook resumes
// it; an event signed with another secret, replays of an event and an older
// event that arrives late change nothing. Without a webhook the order times
// out, its payment is cancelled at Stripe and its copies are released.
func TestStripeThreeDSecure(t *testing.T) {
	t.Parallel()
	t.Run("webhook", func(t *testing.T) {
		t.Parallel()
		sh := newStripeShop(t, "threeds_webhook", "BOOKWORM_ORDER_ACTION_TIMEOUT=10m")
		const copies = 5
		book := sh.book(t, copies)
		for _, tc := range []struct {
			event string
			want  orderingv1.OrderStatus
		}{
			{"payment_intent.succeeded", orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED},
			{"payment_intent.payment_failed", orderingv1.OrderStatus_ORDER_STATUS_FAILED},
		} {
			t.Run(tc.event, func(t *testing.T) {
				endpoint := sh.srv.baseURL + stripeWebhookPath
				s, placed := sh.order(t, book.GetId(), stripetest.PMAuthRequired)
				awaiting := watchUntil(t, s, placed.GetId(), orderingv1.OrderStatus_ORDER_STATUS_AWAITING_PAYMENT)
				pis := sh.double.IntentsWith(metaOrderID, placed.GetId())
				if len(pis) != 1 || pis[0].Status != "requires_action" {
					t.Fatalf("PaymentIntents of the order: %+v", pis)
				}
				pi := pis[0]
				if got := awaiting.GetPaymentAction().GetClientSecret(); got != pi.ClientSecret {
					t.Fatalf("client secret on the order %q, want the PaymentIntent's", got)
				}
				if got, err := getOrder(s.orders, placed.GetId()); err != nil || got.GetPaymentAction().GetClientSecret() != pi.ClientSecret {
					t.Fatalf("GetOrder: %v, %v", got.GetPaymentAction(), err)
				}
				// An older event, from before the customer's step, that
				// arrives first: the payment is still waiting, nothing moves.
				stale := stripetest.EventPayload("evt_stale_"+token(8), "payment_intent.payment_failed",
					stripetest.PaymentIntentObject(pi.ID, "requires_payment_method", func(o map[string]any) {
						o["metadata"] = map[string]any{metaOrderID: placed.GetId()}
					}))
				deliver(t, endpoint, e2eWebhookSecret, stale, 200)

				if err := sh.double.CompleteAction(pi.ID, tc.want == orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED); err != nil {
					t.Fatal(err)
				}
				ev, err := sh.double.Event(tc.event, pi.ID)
				if err != nil {
					t.Fatal(err)
				}
				// Not signed with the endpoint's secret, or signed too long
				// ago: refused, and the order still waits.
				deliver(t, endpoint, "whsec_someoneElsesEndpointSecret0123", ev, 400)
				deliverAt(t, endpoint, e2eWebhookSecret, ev, time.Now().Add(-time.Hour), 400)
				if got, err := getOrder(s.orders, placed.GetId()); err != nil || got.GetVersion() != awaiting.GetVersion() {
					t.Fatalf("after refused events: %v, %v; want version %d unchanged", got, err, awaiting.GetVersion())
				}

				deliver(t, endpoint, e2eWebhookSecret, ev, 200)
				o := watchUntil(t, s, placed.GetId(), tc.want)
				entries := historyLen(t, s, o.GetId())
				// Replays of the same event, and the stale one again late.
				for range 2 {
					deliver(t, endpoint, e2eWebhookSecret, ev, 200)
				}
				deliver(t, endpoint, e2eWebhookSecret, stale, 200)
				again, err := getOrder(s.orders, o.GetId())
				if err != nil || again.GetVersion() != o.GetVersion() || again.GetStatus() != tc.want {
					t.Fatalf("after replays: %v, %v; want version %d %s", again, err, o.GetVersion(), tc.want)
				}
				if n := historyLen(t, s, o.GetId()); n != entries {
					t.Fatalf("replays added history: %d entries, were %d", n, entries)
				}
				byKey, byOrder := sh.charges(o.GetId())
				if tc.want == orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
					if byKey != 1 || byOrder != 1 {
						t.Fatalf("%d charges (%d by order), want exactly 1", byKey, byOrder)
					}
					return
				}
				if o.GetFailure().GetReason() != orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ACTION_FAILED {
					t.Fatalf("failure %v, want PAYMENT_ACTION_FAILED", o.GetFailure())
				}
				if byKey != 0 || byOrder != 0 {
					t.Fatalf("%d charges for a failed payment", byKey)
				}
				pollUntil(t, "the payment cancelled at Stripe", func() bool {
					p, _ := sh.double.Intent(pi.ID)
					return p.Status == "canceled"
				})
			})
		}
		// One sold, one released.
		sh.awaitStock(t, book.GetId(), copies, 0, 1)
	})

	t.Run("timeout", func(t *testing.T) {
		t.Parallel()
		sh := newStripeShop(t, "threeds_timeout", "BOOKWORM_ORDER_ACTION_TIMEOUT=2s")
		const copies = 2
		book := sh.book(t, copies)
		s, placed := sh.order(t, book.GetId(), stripetest.PMAuthRequired)
		watchUntil(t, s, placed.GetId(), orderingv1.OrderStatus_ORDER_STATUS_AWAITING_PAYMENT)
		o := settle(t, s.orders, placed.GetId())
		if o.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_FAILED ||
			o.GetFailure().GetReason() != orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ACTION_FAILED {
			t.Fatalf("order ended %s %v, want FAILED PAYMENT_ACTION_FAILED", o.GetStatus(), o.GetFailure())
		}
		pis := sh.double.IntentsWith(metaOrderID, o.GetId())
		if len(pis) != 1 {
			t.Fatalf("PaymentIntents of the order: %+v", pis)
		}
		pollUntil(t, "the payment cancelled at Stripe", func() bool {
			p, _ := sh.double.Intent(pis[0].ID)
			return p.Status == "canceled"
		})
		if byKey, byOrder := sh.charges(o.GetId()); byKey != 0 || byOrder != 0 {
			t.Fatalf("%d charges for a payment that timed out", byKey)
		}
		sh.awaitStock(t, book.GetId(), copies, 0, 0)
	})
}

func historyLen(t *testing.T, s shopper, orderID string) int {
	t.Helper()
	res, err := s.orders.GetOrderHistory(context.Background(), connect.NewRequest(&orderingv1.GetOrderHistoryRequest{Id: orderID}))
	if err != nil {
		t.Fatal(err)
	}
	return len(res.Msg.GetEntries())
}

// deliver sends a Stripe-signed event to the webhook and wants status.
func deliver(t *testing.T, endpoint, secret string, payload []byte, want int) {
	t.Helper()
	deliverAt(t, endpoint, secret, payload, time.Now(), want)
}

func deliverAt(t *testing.T, endpoint, secret string, payload []byte, at time.Time, want int) {
	t.Helper()
	st, err := stripetest.Deliver(context.Background(), endpoint, secret, payload, at)
	if err != nil || st != want {
		t.Fatalf("webhook delivery answered %d, %v; want %d", st, err, want)
	}
}
