package e2e

import (
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// completeAction plays the customer's bank for a tok_3ds payment of the
// suite server's simulated gateway and returns the answer's status.
func completeAction(t *testing.T, orderID, outcome string) int {
	t.Helper()
	res, err := http.Post(srv.baseURL+"/debug/simulated-payments/complete-action?"+
		url.Values{"order_id": {orderID}, "outcome": {outcome}}.Encode(), "", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// awaitStatus polls the order until it is in status want and returns it.
func awaitStatus(t *testing.T, c orderingv1connect.OrderingServiceClient, orderID string, want orderingv1.OrderStatus) *orderingv1.Order {
	t.Helper()
	deadline := time.Now().Add(settleTimeout)
	for {
		o, err := getOrder(c, orderID)
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		if o.GetStatus() == want {
			return o
		}
		if terminal(o.GetStatus()) || time.Now().After(deadline) {
			t.Fatalf("order %s is %s %v, want %s", orderID, o.GetStatus(), o.GetFailure(), want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSimulatedThreeDSecure: with the simulated gateway, tok_3ds waits in
// AWAITING_PAYMENT with a client secret on the order until the developer
// (here the test) completes the customer's step through
// POST /debug/simulated-payments/complete-action, which feeds the order the
// same update Stripe's webhook does: success confirms it with one charge,
// failure fails it, voids the payment and releases the copies.
func TestSimulatedThreeDSecure(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		outcome string
		want    orderingv1.OrderStatus
	}{
		{"succeeded", orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED},
		{"failed", orderingv1.OrderStatus_ORDER_STATUS_FAILED},
	} {
		t.Run(tc.outcome, func(t *testing.T) {
			t.Parallel()
			book := stockedBook(t, 3)
			s := newShopper(t, connectProto)
			s.add(t, book.GetId(), 2)
			placed := s.mustPlace(t, "tok_3ds")
			o := awaitStatus(t, s.orders, placed.GetId(), orderingv1.OrderStatus_ORDER_STATUS_AWAITING_PAYMENT)
			if o.GetPaymentAction().GetClientSecret() == "" || !o.GetPaymentAction().GetExpireTime().AsTime().After(time.Now()) {
				t.Fatalf("awaiting order without its action: %v", o.GetPaymentAction())
			}
			// The reservation is committed before the order waits; the
			// catalog's book cache learns of it by its notification, so
			// allow that a moment (2 of 3 copies reserved).
			awaitCatalogStock(t, book.GetId(), 1)
			if st := completeAction(t, o.GetId(), tc.outcome); st != http.StatusOK {
				t.Fatalf("complete-action answered %d", st)
			}
			o = settle(t, s.orders, o.GetId())
			if o.GetStatus() != tc.want {
				t.Fatalf("order ended %s %v, want %s", o.GetStatus(), o.GetFailure(), tc.want)
			}
			if o.GetPaymentAction() != nil {
				t.Fatalf("a settled order still shows its payment action")
			}
			p := payments(t, srv.baseURL, o.GetId())
			switch tc.want {
			case orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED:
				if p.Charges != 1 {
					t.Fatalf("payments %+v, want one charge", p)
				}
				pollUntil(t, "the copies sold", func() bool {
					return getBook(t, catalogClient(t, connectProto), book.GetId()).GetStockQuantity() == 1
				})
			default:
				if o.GetFailure().GetReason() != orderingv1.FailureReason_FAILURE_REASON_PAYMENT_ACTION_FAILED {
					t.Fatalf("failure %v, want PAYMENT_ACTION_FAILED", o.GetFailure())
				}
				stockBack(t, book.GetId(), 3)
				pollUntil(t, "the payment voided", func() bool { return payments(t, srv.baseURL, o.GetId()).Voided })
				if p := payments(t, srv.baseURL, o.GetId()); p.Charges != 0 {
					t.Fatalf("payments %+v, want no charge", p)
				}
			}
			// Completing again, or an order that waits for nothing, is a
			// conflict that changes nothing.
			if st := completeAction(t, o.GetId(), "succeeded"); st != http.StatusConflict {
				t.Fatalf("completing twice answered %d, want 409", st)
			}
			if again, err := getOrder(s.orders, o.GetId()); err != nil || again.GetVersion() != o.GetVersion() {
				t.Fatalf("after a second completion: %v, %v (version was %d)", again, err, o.GetVersion())
			}
		})
	}
	t.Run("bad requests", func(t *testing.T) {
		t.Parallel()
		for _, q := range []struct{ id, outcome string }{{"not-a-uuid", "succeeded"}, {"0190a000-0000-7000-8000-000000000000", "maybe"}} {
			if st := completeAction(t, q.id, q.outcome); st != http.StatusBadRequest {
				t.Fatalf("complete-action %+v answered %d, want 400", q, st)
			}
		}
		res, err := http.Get(srv.baseURL + "/debug/simulated-payments/complete-action?order_id=0190a000-0000-7000-8000-000000000000&outcome=succeeded")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed && res.StatusCode != http.StatusNotFound {
			t.Fatalf("GET complete-action answered %d", res.StatusCode)
		}
	})
}
