package e2e

import (
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/bookworm-store/bookworm/internal/adapters/auth/authtest"
	basketv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/basket/v1/basketv1connect"
	catalogv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/catalog/v1/catalogv1connect"
	orderingv1 "github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1"
	"github.com/bookworm-store/bookworm/sdk/go/gen/bookworm/ordering/v1/orderingv1connect"
)

// checkout places an order for a new buyer of one copy of book through
// the real server (basket, then PlaceOrder with the simulated gateway's
// token) and waits until the order reaches a final checkout status. It
// returns the buyer's address and the order.
func checkout(t *testing.T, m *mailServer, bookID, sub, paymentToken string) (string, *orderingv1.Order) {
	t.Helper()
	tok, err := authtest.Sign(issuer.Current(jose.ES256), issuer.Claims(sub, e2eAudience, "user"))
	if err != nil {
		t.Fatal(err)
	}
	opts := connect.WithInterceptors(bearer(tok))
	baskets := basketv1connect.NewBasketServiceClient(http1Client(t), m.baseURL, opts)
	orders := orderingv1connect.NewOrderingServiceClient(http1Client(t), m.baseURL, opts)
	if _, err := baskets.AddItem(t.Context(), connect.NewRequest(&basketv1.AddItemRequest{BookId: bookID, Quantity: 2, RequestId: newID()})); err != nil {
		t.Fatalf("AddItem: %v", err)
	}
	placed, err := orders.PlaceOrder(t.Context(), connect.NewRequest(&orderingv1.PlaceOrderRequest{
		RequestId:          newID(),
		ShippingAddress:    &orderingv1.Address{Name: "User " + sub, Lines: []string{"7 Checkout Row"}, City: "Leeds", PostalCode: "LS1 1AA", CountryCode: "GB"},
		PaymentMethodToken: paymentToken,
	}))
	if err != nil {
		t.Fatalf("PlaceOrder (the ordering context must be served for this test): %v", err)
	}
	id := placed.Msg.GetOrder().GetId()
	deadline := time.Now().Add(mailWait)
	for {
		got, err := orders.GetOrder(t.Context(), connect.NewRequest(&orderingv1.GetOrderRequest{Id: id}))
		if err != nil {
			t.Fatalf("GetOrder: %v", err)
		}
		switch got.Msg.GetOrder().GetStatus() {
		case orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED, orderingv1.OrderStatus_ORDER_STATUS_FAILED:
			return sub + "@example.test", got.Msg.GetOrder()
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %v", id, got.Msg.GetOrder().GetStatus())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// mailsTo returns the messages Mailpit holds for address whose subject
// contains subject.
func mailsTo(m *mailServer, address, subject string) []string {
	var ids []string
	for _, s := range m.mailpit.Messages() {
		if len(s.To) == 1 && s.To[0].Address == address && strings.Contains(s.Subject, subject) {
			ids = append(ids, s.ID)
		}
	}
	return ids
}

// TestCheckoutEmails is the full path: an order placed through the real
// server reaches CONFIRMED and its buyer gets exactly one confirmation
// email; a declined card makes the order FAILED and its buyer gets exactly
// one failure email with the reason in words.
func TestCheckoutEmails(t *testing.T) {
	m := startMailServer(t, "checkout", append(issuerEnv(), "BOOKWORM_ENV=dev", "BOOKWORM_RATE_LIMIT=false")...)
	catalog := catalogv1connect.NewCatalogServiceClient(http1Client(t), m.baseURL, connect.WithInterceptors(bearer(adminToken)))
	book := newFixture(t, catalog, 1).createBook(t, func(in *catalogv1.BookInput) { in.StockQuantity = 50; in.Price = eur(1450) })

	paidTo, paid := checkout(t, m, book.GetId(), "buyer-paid-"+token(6), "tok_success")
	if paid.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("the paid order is %v", paid.GetStatus())
	}
	declinedTo, declined := checkout(t, m, book.GetId(), "buyer-declined-"+token(6), "tok_declined")
	if declined.GetStatus() != orderingv1.OrderStatus_ORDER_STATUS_FAILED {
		t.Fatalf("the declined order is %v", declined.GetStatus())
	}

	deadline := time.Now().Add(mailWait)
	for len(mailsTo(m, paidTo, "is confirmed")) < 1 || len(mailsTo(m, declinedTo, "could not be completed")) < 1 {
		if time.Now().After(deadline) {
			t.Fatalf("the emails did not arrive: %+v", m.mailpit.Messages())
		}
		time.Sleep(100 * time.Millisecond)
	}
	time.Sleep(2 * time.Second) // sender ticks and redeliveries: nothing more arrives
	confirmations := mailsTo(m, paidTo, "is confirmed")
	failures := mailsTo(m, declinedTo, "could not be completed")
	if len(confirmations) != 1 || len(failures) != 1 {
		t.Fatalf("%d confirmations and %d failure emails, want exactly one each", len(confirmations), len(failures))
	}
	if n := len(mailsTo(m, declinedTo, "is confirmed")) + len(mailsTo(m, paidTo, "could not be completed")); n != 0 {
		t.Fatalf("%d emails of the wrong kind", n)
	}
	c := m.mailpit.Message(confirmations[0])
	for _, s := range []string{book.GetTitle(), "€14.50", "€29.00", paid.GetId()} {
		if !strings.Contains(c.Text, s) || !strings.Contains(c.HTML, s) {
			t.Errorf("the confirmation lacks %q:\n%s", s, c.Text)
		}
	}
	f := m.mailpit.Message(failures[0])
	if !strings.Contains(f.Text, "Your card was declined.") || !strings.Contains(f.HTML, "Your card was declined.") ||
		!strings.Contains(f.Text, declined.GetId()) {
		t.Errorf("the failure email:\n%s", f.Text)
	}
}
