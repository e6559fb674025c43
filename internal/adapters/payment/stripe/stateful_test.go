package stripe_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe/stripetest"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// These tests run the gateway against stripetest's state machine (no
// scripts): what Stripe would remember between calls decides the answers.

// TestStatefulChargeIsIdempotent: the saga asks again with one key (a
// retry, a redelivered event, a restarted process with fresh memory); the
// double replays Stripe's stored answer and charges once.
func TestStatefulChargeIsIdempotent(t *testing.T) {
	f := newFakeStripe(t)
	ctx := ctxTimeout(t, 10*time.Second)
	first, _ := newGateway(t, f.URL)
	res, err := first.Charge(ctx, chargeReq(t))
	if err != nil || res.Outcome != ordering.ChargeSucceeded {
		t.Fatalf("Charge = %+v, %v", res, err)
	}
	restarted, _ := newGateway(t, f.URL) // a new process remembers nothing
	again, err := restarted.Charge(ctx, chargeReq(t))
	if err != nil || again != res {
		t.Fatalf("repeated Charge = %+v, %v; want %+v", again, err, res)
	}
	if n := f.Charges(chargeKey + "/create"); n != 1 {
		t.Fatalf("charges = %d, want 1", n)
	}
	if pis := f.IntentsWith(stripe.MetaChargeKey, chargeKey); len(pis) != 1 || pis[0].AmountReceived != 2599 {
		t.Fatalf("payments of the key = %+v, want one of 2599", pis)
	}
	// The key with another amount is refused, not charged.
	other := chargeReq(t)
	other.Amount = eur(t, 100)
	if _, err := restarted.Charge(ctx, other); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("Charge with other parameters = %v, want permanent", err)
	}
	// Refund twice with one key refunds once.
	refund := ordering.RefundRequest{IdempotencyKey: refundKey, ChargeKey: chargeKey, Amount: eur(t, 2599)}
	for range 2 {
		if err := restarted.Refund(ctx, refund); err != nil {
			t.Fatalf("Refund: %v", err)
		}
	}
	if pi := f.IntentsWith(stripe.MetaChargeKey, chargeKey)[0]; pi.AmountRefunded != 2599 {
		t.Fatalf("refunded %d, want 2599", pi.AmountRefunded)
	}
}

// TestStatefulThreeDSecure: a payment that needs the customer answers
// RequiresAction with the PaymentIntent's client secret; after the
// customer's step Charge reads the outcome; a payment never finished is
// cancelled by Void; a success the webhook reports is applied.
func TestStatefulThreeDSecure(t *testing.T) {
	for _, succeed := range []bool{true, false} {
		f := newFakeStripe(t)
		f.RequireAction(token)
		g, _ := newGateway(t, f.URL)
		ctx := ctxTimeout(t, 10*time.Second)
		res, err := g.Charge(ctx, chargeReq(t))
		if err != nil || res.Outcome != ordering.ChargeRequiresAction {
			t.Fatalf("Charge = %+v, %v", res, err)
		}
		pi, _ := f.Intent(res.PaymentID)
		if res.ClientSecret != pi.ClientSecret || pi.Status != "requires_action" {
			t.Fatalf("client secret %q, payment %+v", res.ClientSecret, pi)
		}
		if err := f.CompleteAction(res.PaymentID, succeed); err != nil {
			t.Fatal(err)
		}
		res, err = g.Charge(ctx, chargeReq(t))
		want := ordering.ChargeSucceeded
		if !succeed {
			want = ordering.ChargeDeclined
		}
		if err != nil || res.Outcome != want {
			t.Fatalf("Charge after the customer (succeed %v) = %+v, %v", succeed, res, err)
		}
		if n, wantN := f.Charges(chargeKey+"/create"), map[bool]int{true: 1, false: 0}[succeed]; n != wantN {
			t.Fatalf("charges = %d, want %d", n, wantN)
		}
	}

	f := newFakeStripe(t)
	f.RequireAction(token)
	g, _ := newGateway(t, f.URL)
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := g.Charge(ctx, chargeReq(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Void(ctx, chargeKey); err != nil {
		t.Fatal(err)
	}
	if pi, _ := f.Intent(res.PaymentID); pi.Status != "canceled" || pi.Charges != 0 {
		t.Fatalf("after Void: %+v", pi)
	}
	if err := f.CompleteAction(res.PaymentID, true); err == nil {
		t.Fatal("a cancelled payment completed its action")
	}
}

// TestStatefulWebhook: the double's signed events reach the webhook
// handler; a wrong secret is refused.
func TestStatefulWebhook(t *testing.T) {
	f := newFakeStripe(t)
	f.RequireAction(token)
	g, _ := newGateway(t, f.URL)
	ctx := ctxTimeout(t, 10*time.Second)
	req := chargeReq(t)
	req.OrderID = "o-webhook"
	res, err := g.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	sink := &orderSink{orders: map[string]*ordering.Order{"o-webhook": awaitingOrder(t, "o-webhook")}}
	h, _ := newWebhook(t, sink, g)
	mux := http.NewServeMux()
	mux.Handle(stripe.WebhookPath, h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	if err := f.CompleteAction(res.PaymentID, true); err != nil {
		t.Fatal(err)
	}
	ev, err := f.Event("payment_intent.succeeded", res.PaymentID)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := stripetest.Deliver(context.Background(), srv.URL+stripe.WebhookPath, "whsec_another_endpoint_secret", ev, time.Now()); err != nil || st != http.StatusBadRequest {
		t.Fatalf("wrong secret: %d, %v; want 400", st, err)
	}
	if len(sink.updates) != 0 {
		t.Fatalf("a refused event was applied: %+v", sink.updates)
	}
	for range 2 {
		if st, err := stripetest.Deliver(context.Background(), srv.URL+stripe.WebhookPath, webhookSecret, ev, time.Now()); err != nil || st != http.StatusOK {
			t.Fatalf("delivery: %d, %v", st, err)
		}
	}
	if o := sink.orders["o-webhook"]; o.Status() != ordering.StatusConfirmed || sink.count(ordering.OrderConfirmed{}) != 1 {
		t.Fatalf("order %s after two deliveries, %d confirmations", o.Status(), sink.count(ordering.OrderConfirmed{}))
	}
}

// TestStatefulHold: a request held before it takes effect and abandoned
// by its client leaves nothing; one held after it took effect is replayed
// to the next request with its key.
func TestStatefulHold(t *testing.T) {
	f := newFakeStripe(t)
	g, _ := newGateway(t, f.URL)
	before := f.Hold("POST /v1/payment_intents", stripetest.BeforeApply)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := g.Charge(ctx, chargeReq(t)); done <- err }()
	<-before.Arrived()
	cancel()
	if err := <-done; !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("abandoned Charge = %v, want temporary", err)
	}
	before.Release()
	if len(f.Intents()) != 0 {
		t.Fatalf("an abandoned request created %+v", f.Intents())
	}

	after := f.Hold("POST /v1/payment_intents", stripetest.AfterApply)
	ctx, cancel = context.WithCancel(context.Background())
	go func() { _, err := g.Charge(ctx, chargeReq(t)); done <- err }()
	<-after.Arrived()
	cancel()
	<-done
	if n := f.Charges(chargeKey + "/create"); n != 1 {
		t.Fatalf("charges while the answer is held = %d, want 1", n)
	}
	after.Release()
	res, err := g.Charge(ctxTimeout(t, 10*time.Second), chargeReq(t))
	if err != nil || res.Outcome != ordering.ChargeSucceeded || f.Charges(chargeKey+"/create") != 1 {
		t.Fatalf("Charge after the lost answer = %+v, %v; charges %d", res, err, f.Charges(chargeKey+"/create"))
	}
}
