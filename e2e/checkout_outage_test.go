package e2e

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/id"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
)

// outageSettle bounds how long the orders of TestCheckoutsSurviveABrokerOutage
// may take to settle once RabbitMQ is back: the saga's messages waited in
// the outbox and the consumers reconnect with backoff.
const outageSettle = 3 * time.Minute

// outageOrder is one order placed by TestCheckoutsSurviveABrokerOutage.
type outageOrder struct {
	shopper shopper
	token   string
	id      string
	placed  time.Time // when PlaceOrder answered
	retries int       // calls cut by the outage and retried
	err     error
}

// TestCheckoutsSurviveABrokerOutage places orders before, while and after
// the run's RabbitMQ container is stopped: PlaceOrder only writes the order
// and its outbox in Postgres, so once the broker is back every order ends
// CONFIRMED (charged exactly once) or FAILED (declined, nothing charged),
// none stuck, and the book's copies add up. Not parallel: the broker is the
// run's, and the package's parallel tests wait until the sequential ones are
// done.
func TestCheckoutsSurviveABrokerOutage(t *testing.T) {
	needOwnContainers(t)
	const copies, perPhase = 100, 10
	book := stockedBook(t, copies)

	// Every basket is filled while the broker is up: the outage is the
	// checkout's, not the basket's.
	orders := make([]*outageOrder, 3*perPhase)
	for i := range orders {
		o := &outageOrder{shopper: newShopper(t, connectProto), token: "tok_success"}
		if i%4 == 3 {
			o.token = "tok_declined"
		}
		o.shopper.add(t, book.GetId(), 1)
		orders[i] = o
	}
	var mu sync.Mutex // guards the orders' results while calls are out
	placeOne := func(o *outageOrder) {
		// A call cut by the outage is retried with the same request id:
		// PlaceOrder is idempotent, so a retry never makes a second order.
		reqID := id.New()
		for attempt := 0; ; attempt++ {
			placed, err := o.shopper.place(reqID, o.token)
			if err == nil || attempt == 20 {
				mu.Lock()
				defer mu.Unlock()
				o.err, o.retries = err, attempt
				if err == nil {
					o.id, o.placed = placed.GetId(), time.Now()
				}
				return
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	place := func(batch []*outageOrder) {
		var wg sync.WaitGroup
		for _, o := range batch {
			wg.Go(func() { placeOne(o) })
		}
		wg.Wait()
	}

	// Before: two shoppers at a time check out, a few a second; once a few
	// orders are in, the broker goes while the others are being placed and
	// the sagas of the first are under way.
	var answered atomic.Int32
	var before sync.WaitGroup
	for w := range 2 {
		before.Go(func() {
			for i := w; i < perPhase; i += 2 {
				placeOne(orders[i])
				answered.Add(1)
				time.Sleep(400 * time.Millisecond)
			}
		})
	}
	pollUntil(t, "the first orders placed", func() bool { return answered.Load() >= 3 })
	stopping := time.Now()
	start := stopBroker(t)
	stopped := time.Now()
	pollUntil(t, "/readyz reporting the outage", func() bool { return readyz(t, srv) == http.StatusServiceUnavailable })
	before.Wait()
	// During: the server takes orders with no broker.
	place(orders[perPhase : 2*perPhase])
	// The orders the outage holds: answered, their sagas waiting for the
	// broker.
	held := 0
	for _, o := range orders[:2*perPhase] {
		if o.err != nil {
			continue // reported below
		}
		got, err := getOrder(o.shopper.orders, o.id)
		if err != nil {
			t.Fatalf("GetOrder %s: %v", o.id, err)
		}
		if !terminal(got.GetStatus()) {
			held++
		}
	}
	start()
	restart := time.Now()
	down := restart.Sub(stopping)
	pollUntil(t, "/readyz ready again", func() bool { return readyz(t, srv) == http.StatusOK })
	// After.
	place(orders[2*perPhase:])
	restarted := time.Now()

	beforeStop, whileDown, retries := 0, 0, 0
	for i, o := range orders {
		if o.err != nil {
			t.Fatalf("PlaceOrder %d (%s): %v", i, o.token, o.err)
		}
		switch {
		case o.placed.Before(stopping):
			beforeStop++
		case o.placed.Before(restart):
			whileDown++
		}
		retries += o.retries
	}
	if whileDown < perPhase {
		t.Fatalf("only %d orders were placed while RabbitMQ was down, want at least %d", whileDown, perPhase)
	}

	// Every order settles: polls, bounded by one generous deadline.
	status := make([]*orderingv1.Order, len(orders))
	deadline := time.Now().Add(outageSettle)
	for {
		pending := 0
		for i, o := range orders {
			if status[i] != nil {
				continue
			}
			got, err := getOrder(o.shopper.orders, o.id)
			if err != nil {
				t.Fatalf("GetOrder %s: %v", o.id, err)
			}
			if terminal(got.GetStatus()) {
				status[i] = got
				continue
			}
			pending++
			if time.Now().After(deadline) {
				t.Errorf("order %s (%s) stuck %s", o.id, o.token, got.GetStatus())
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d orders not settled %s after the restart", pending, len(orders), outageSettle)
		}
		time.Sleep(200 * time.Millisecond)
	}
	settled, sinceRestart := time.Since(restarted), time.Since(restart)

	confirmed := 0
	for i, o := range orders {
		got := status[i]
		p := payments(t, srv.baseURL, o.id)
		switch o.token {
		case "tok_success":
			if got.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
				t.Errorf("order %s (tok_success) ended %s %v, want CONFIRMED", o.id, got.GetStatus(), got.GetFailure())
			}
			if p.Charges != 1 {
				t.Errorf("order %s (tok_success): %d charges, want exactly 1 (%+v)", o.id, p.Charges, p)
			}
			confirmed++
		case "tok_declined":
			if got.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_FAILED ||
				got.GetFailure().GetReason() != orderingv1.FailureReason_FAILURE_REASON_PAYMENT_DECLINED {
				t.Errorf("order %s (tok_declined) ended %s %v, want FAILED payment declined", o.id, got.GetStatus(), got.GetFailure())
			}
			if p.Charges != 0 {
				t.Errorf("order %s (tok_declined): %d charges, want none (%+v)", o.id, p.Charges, p)
			}
		}
	}

	// The copies add up: the confirmed orders' commits and the failed ones'
	// releases reach the catalog after the orders settle.
	pool := serverPool(t)
	var available, reserved, sold int64
	stockDeadline := time.Now().Add(outageSettle)
	for {
		if err := pool.QueryRow(context.Background(), `SELECT stock, stock_reserved, stock_sold FROM catalog.books WHERE id = $1`,
			book.GetId()).Scan(&available, &reserved, &sold); err != nil {
			t.Fatal(err)
		}
		if available+reserved+sold != copies {
			t.Fatalf("stock: available %d + reserved %d + sold %d != %d loaded", available, reserved, sold, copies)
		}
		if reserved == 0 && sold == int64(confirmed) {
			break
		}
		if time.Now().After(stockDeadline) {
			t.Fatalf("stock ended available %d, reserved %d, sold %d; want %d sold", available, reserved, sold, confirmed)
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("%d orders placed before the stop, %d while RabbitMQ was going or down (%s, stop took %s), %d after (%d retried calls); "+
		"%d orders unsettled when it came back; "+
		"%d confirmed, %d failed; all settled %s after the restart (%s after the last order); stock available %d, sold %d",
		beforeStop, whileDown, down.Round(time.Millisecond), stopped.Sub(stopping).Round(time.Millisecond),
		len(orders)-beforeStop-whileDown, retries, held,
		confirmed, len(orders)-confirmed, sinceRestart.Round(time.Millisecond), settled.Round(time.Millisecond), available, sold)
}
