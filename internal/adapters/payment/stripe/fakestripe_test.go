package stripe_test

import (
	"testing"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe/stripetest"
)

// The scripted answers of these tests come from stripetest, the Stripe API
// double the e2e suite runs too: On scripts what stripe-mock (stateless,
// canned) cannot answer (declines, 3-D Secure, outages, timeouts).

// reply is one scripted answer.
type reply = stripetest.Reply

// newFakeStripe starts a double for the test.
func newFakeStripe(t *testing.T) *stripetest.Server {
	t.Helper()
	f := stripetest.NewServer()
	t.Cleanup(f.Close)
	return f
}

// paymentIntent is a PaymentIntent of this package's order o1, paid with
// token (which the gateway and the webhook must never echo).
func paymentIntent(id, status string, mod func(map[string]any)) map[string]any {
	return stripetest.PaymentIntentObject(id, status, func(pi map[string]any) {
		pi["metadata"] = map[string]any{"bookworm_order_id": "o1", "bookworm_charge_key": "bookworm-order-o1-charge"}
		pi["payment_method"] = token
		if mod != nil {
			mod(pi)
		}
	})
}

var (
	stripeError  = stripetest.ErrorObject
	searchResult = stripetest.SearchResult
)

func refundObject(id, pi string, amount int64) map[string]any {
	return stripetest.RefundObject(id, pi, "eur", amount)
}
