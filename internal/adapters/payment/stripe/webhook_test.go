package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/stripe/stripe-go/v82/webhook"
)

const webhookSecret = "whsec_test_BookWormEndpointSecret0123"

// orderSink applies the updates to real ordering.Orders (the core's state
// machine, as ordering.Service.OnPaymentUpdate does through its store) and
// keeps the events they raised.
type orderSink struct {
	mu      sync.Mutex
	orders  map[string]*ordering.Order
	updates []ordering.ChargeResult
	events  []ordering.Event
	err     error
	// conflicts is how many calls fail with failure.ErrConflict first.
	conflicts int
	calls     int
}

func (s *orderSink) OnPaymentUpdate(_ context.Context, orderID string, r ordering.ChargeResult) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return s.err
	}
	if s.conflicts > 0 {
		s.conflicts--
		return failure.Conflict("order %s was changed concurrently", orderID)
	}
	s.updates = append(s.updates, r)
	o, ok := s.orders[orderID]
	if !ok {
		return failure.NotFound("order %s not found", orderID)
	}
	now := time.Now()
	evs, err := o.ApplyCharge(r, now.Add(time.Hour), now)
	s.events = append(s.events, evs...)
	return err
}

// count returns how many raised events have the type of sample.
func (s *orderSink) count(sample ordering.Event) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.events {
		if fmt.Sprintf("%T", e) == fmt.Sprintf("%T", sample) {
			n++
		}
	}
	return n
}

// awaitingOrder is an order waiting for the customer's 3-D Secure step.
func awaitingOrder(t *testing.T, id string) *ordering.Order {
	t.Helper()
	line, err := ordering.NewLine("b1", "Dune", 1, eur(t, 2599))
	if err != nil {
		t.Fatal(err)
	}
	addr, err := ordering.NewAddress(ordering.AddressFields{Name: "Ada", Lines: []string{"1 Main St"}, City: "Berlin", PostalCode: "10115", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	o, _, err := ordering.Place(ordering.PlaceInput{
		ID: id, Buyer: ordering.Buyer{UserID: "u1", Email: "ada@example.com", Name: "Ada"}, RequestID: "r-" + id,
		Lines: []ordering.Line{line}, Address: addr, PaymentToken: token, Now: now, StockDeadline: now.Add(time.Minute),
	})
	if err != nil {
		t.Fatal(err)
	}
	o.ReserveStock(now, now.Add(time.Minute))
	if _, err := o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "pi_3ds", ClientSecret: "pi_3ds_secret_x"}, now.Add(time.Hour), now); err != nil {
		t.Fatal(err)
	}
	if o.Status() != ordering.StatusAwaitingPayment {
		t.Fatalf("order is %s", o.Status())
	}
	return o
}

// event renders a Stripe event about a PaymentIntent.
func event(t *testing.T, id, typ string, pi map[string]any) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "api_version": "2025-08-27.basil", "created": time.Now().Unix(),
		"type": typ, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": "req_1", "idempotency_key": chargeKey + "/create"},
		"data":    map[string]any{"object": pi},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newWebhook(t *testing.T, sink stripe.PaymentUpdates, gw *stripe.Gateway) (*stripe.WebhookHandler, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	h, err := stripe.NewWebhookHandler(stripe.WebhookConfig{
		Secret: webhookSecret, Updates: sink, Gateway: gw, MaxBodyBytes: 64 << 10,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		assertNoSecrets(t, "log", logs.String())
		if strings.Contains(logs.String(), webhookSecret) {
			t.Errorf("the log names the webhook secret")
		}
	})
	return h, logs
}

// deliver posts payload signed with secret at ts, as Stripe does, over a
// real HTTP connection to h mounted at WebhookPath.
func deliver(t *testing.T, h http.Handler, payload []byte, secret string, ts time.Time) *httptest.ResponseRecorder {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(stripe.WebhookPath, h)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: secret, Timestamp: ts})
	req, err := http.NewRequest(http.MethodPost, srv.URL+stripe.WebhookPath, bytes.NewReader(payload))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rec := httptest.NewRecorder()
	rec.Code = resp.StatusCode
	_, _ = io.Copy(rec.Body, resp.Body)
	assertNoSecrets(t, "the answer", rec.Body.String())
	return rec
}

func TestWebhookMapsPaymentEvents(t *testing.T) {
	failedPI := paymentIntent("pi_3ds", "requires_payment_method", func(pi map[string]any) {
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds"}
	})
	authFailedPI := paymentIntent("pi_3ds", "requires_payment_method", func(pi map[string]any) {
		pi["last_payment_error"] = map[string]any{"type": "invalid_request_error", "code": "payment_intent_authentication_failure"}
	})
	tests := []struct {
		name       string
		typ        string
		pi         map[string]any
		want       ordering.ChargeResult
		wantStatus ordering.Status
	}{
		{"succeeded", "payment_intent.succeeded", paymentIntent("pi_3ds", "succeeded", nil),
			ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pi_3ds"}, ordering.StatusConfirmed},
		{"failed: insufficient funds", "payment_intent.payment_failed", failedPI,
			ordering.ChargeResult{Outcome: ordering.ChargeInsufficientFunds, PaymentID: "pi_3ds", Detail: "the card has insufficient funds"}, ordering.StatusFailed},
		{"failed: not authenticated", "payment_intent.payment_failed", authFailedPI,
			ordering.ChargeResult{Outcome: ordering.ChargeDeclined, PaymentID: "pi_3ds", Detail: "the payment was not authenticated"}, ordering.StatusFailed},
		{"canceled", "payment_intent.canceled", paymentIntent("pi_3ds", "canceled", nil),
			ordering.ChargeResult{Outcome: ordering.ChargeFailed, PaymentID: "pi_3ds", Detail: "the payment was cancelled"}, ordering.StatusFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}}
			h, _ := newWebhook(t, sink, nil)
			rec := deliver(t, h, event(t, "evt_1", tt.typ, tt.pi), webhookSecret, time.Now())
			if rec.Code != http.StatusOK {
				t.Fatalf("status = %d %s", rec.Code, rec.Body)
			}
			if len(sink.updates) != 1 || sink.updates[0] != tt.want {
				t.Fatalf("updates = %+v, want %+v", sink.updates, tt.want)
			}
			if got := sink.orders["o1"].Status(); got != tt.wantStatus {
				t.Fatalf("order is %s, want %s", got, tt.wantStatus)
			}
		})
	}
}

// TestWebhookReplaysAndDisorderAreHarmless delivers Stripe's events twice
// and out of order: the order is confirmed once, and a stale failure after
// the success changes nothing.
func TestWebhookReplaysAndDisorderAreHarmless(t *testing.T) {
	sink := &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}}
	h, _ := newWebhook(t, sink, nil)
	succeeded := event(t, "evt_ok", "payment_intent.succeeded", paymentIntent("pi_3ds", "succeeded", nil))
	failed := event(t, "evt_fail", "payment_intent.payment_failed", paymentIntent("pi_3ds", "requires_payment_method", func(pi map[string]any) {
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "generic_decline"}
	}))
	for i, p := range [][]byte{succeeded, succeeded, failed, succeeded} {
		if rec := deliver(t, h, p, webhookSecret, time.Now()); rec.Code != http.StatusOK {
			t.Fatalf("delivery %d: status = %d %s", i, rec.Code, rec.Body)
		}
	}
	o := sink.orders["o1"]
	if o.Status() != ordering.StatusConfirmed {
		t.Fatalf("order is %s, want CONFIRMED", o.Status())
	}
	if n := sink.count(ordering.OrderConfirmed{}); n != 1 {
		t.Fatalf("OrderConfirmed raised %d times", n)
	}
	if n := sink.count(ordering.PaymentFailed{}); n != 0 {
		t.Fatalf("PaymentFailed raised %d times", n)
	}
	if o.Compensation().Due() {
		t.Fatalf("a compensation is due: %v", o.Compensation())
	}
}

// TestWebhookSuccessAfterTimeoutIsRefunded: the saga gave up waiting (the
// order FAILED), then Stripe reports the payment succeeded: the money is
// owed back, once however often Stripe repeats it.
func TestWebhookSuccessAfterTimeoutIsRefunded(t *testing.T) {
	o := awaitingOrder(t, "o1")
	o.TimeOut(time.Now())
	sink := &orderSink{orders: map[string]*ordering.Order{"o1": o}}
	h, _ := newWebhook(t, sink, nil)
	succeeded := event(t, "evt_ok", "payment_intent.succeeded", paymentIntent("pi_3ds", "succeeded", nil))
	for range 2 {
		if rec := deliver(t, h, succeeded, webhookSecret, time.Now()); rec.Code != http.StatusOK {
			t.Fatalf("status = %d %s", rec.Code, rec.Body)
		}
	}
	if o.Status() != ordering.StatusFailed || o.Compensation() != ordering.CompensationRefundDue {
		t.Fatalf("order is %s with compensation %v, want FAILED with a refund due", o.Status(), o.Compensation())
	}
	if n := sink.count(ordering.OrderConfirmed{}); n != 0 {
		t.Fatalf("a failed order was confirmed")
	}
}

// TestWebhookReReadsAFailure: with the gateway, a payment_failed event is
// checked against the payment's current state, which may be a later success.
func TestWebhookReReadsAFailure(t *testing.T) {
	f := newFakeStripe(t)
	f.On("GET /v1/payment_intents/pi_3ds", reply{Status: 200, Body: paymentIntent("pi_3ds", "succeeded", nil)})
	g, _ := newGateway(t, f.URL)
	sink := &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}}
	h, _ := newWebhook(t, sink, g)
	failed := event(t, "evt_fail", "payment_intent.payment_failed", paymentIntent("pi_3ds", "requires_payment_method", nil))
	if rec := deliver(t, h, failed, webhookSecret, time.Now()); rec.Code != http.StatusOK {
		t.Fatalf("status = %d %s", rec.Code, rec.Body)
	}
	if got := sink.orders["o1"].Status(); got != ordering.StatusConfirmed {
		t.Fatalf("order is %s, want CONFIRMED (the payment succeeded after the failed attempt)", got)
	}
	if calls := f.Calls(); len(calls) != 1 || calls[0].Path != "/v1/payment_intents/pi_3ds" {
		t.Fatalf("calls = %+v", calls)
	}

	// Stripe down: the event is refused with 503 so that Stripe retries.
	f.On("GET /v1/payment_intents/pi_3ds", reply{Status: 500, Body: stripeError("api_error", "", "", "boom", nil)})
	if rec := deliver(t, h, failed, webhookSecret, time.Now()); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
}

func TestWebhookRefusesAndIgnores(t *testing.T) {
	ok := event(t, "evt_1", "payment_intent.succeeded", paymentIntent("pi_3ds", "succeeded", nil))
	tests := []struct {
		name        string
		payload     []byte
		secret      string
		ts          time.Time
		sinkErr     error
		header      func(*http.Request)
		method      string
		wantStatus  int
		wantUpdates int
	}{
		{name: "unknown event type is ignored", payload: event(t, "evt_2", "charge.refunded", map[string]any{"id": "ch_1", "object": "charge"}), wantStatus: 200},
		{name: "requires_action event is ignored", payload: event(t, "evt_2", "payment_intent.requires_action", paymentIntent("pi_3ds", "requires_action", nil)), wantStatus: 200},
		{name: "another integration's payment is ignored", payload: event(t, "evt_3", "payment_intent.succeeded", paymentIntent("pi_x", "succeeded", func(pi map[string]any) { pi["metadata"] = map[string]any{} })), wantStatus: 200},
		{name: "bad signature", payload: ok, secret: "whsec_another_endpoint_secret", wantStatus: 400},
		{name: "stale signature (replayed capture)", payload: ok, ts: time.Now().Add(-time.Hour), wantStatus: 400},
		{name: "no signature", payload: ok, header: func(r *http.Request) { r.Header.Del("Stripe-Signature") }, wantStatus: 400},
		{name: "garbage signature", payload: ok, header: func(r *http.Request) { r.Header.Set("Stripe-Signature", "t=abc,v1=zz") }, wantStatus: 400},
		{name: "signed but not JSON", payload: []byte("{not json"), wantStatus: 400},
		{name: "signed but no payment intent", payload: event(t, "evt_4", "payment_intent.succeeded", nil), wantStatus: 400},
		{name: "too large", payload: []byte(`{"id":"evt_5","pad":"` + strings.Repeat("x", 70<<10) + `"}`), wantStatus: 413},
		{name: "GET", payload: ok, method: http.MethodGet, wantStatus: 405},
		{name: "unknown order", payload: ok, sinkErr: failure.NotFound("order o1 not found"), wantStatus: 200},
		{name: "store down", payload: ok, sinkErr: errors.New("connection refused"), wantStatus: 503},
		{name: "applied", payload: ok, wantStatus: 200, wantUpdates: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}, err: tt.sinkErr}
			h, _ := newWebhook(t, sink, nil)
			secret := tt.secret
			if secret == "" {
				secret = webhookSecret
			}
			ts := tt.ts
			if ts.IsZero() {
				ts = time.Now()
			}
			signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: tt.payload, Secret: secret, Timestamp: ts})
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			req := httptest.NewRequest(method, stripe.WebhookPath, strings.NewReader(string(tt.payload)))
			req.Header.Set("Stripe-Signature", signed.Header)
			if tt.header != nil {
				tt.header(req)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			assertNoSecrets(t, "the answer", rec.Body.String())
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d %s, want %d", rec.Code, rec.Body, tt.wantStatus)
			}
			if got := len(sink.updates); got != tt.wantUpdates {
				t.Fatalf("updates = %d, want %d", got, tt.wantUpdates)
			}
			if rec.Code >= 500 && tt.sinkErr == nil {
				t.Fatalf("a client mistake answered %d", rec.Code)
			}
		})
	}
}

func TestNewWebhookHandlerRefusesBadConfig(t *testing.T) {
	sink := &orderSink{}
	for name, cfg := range map[string]stripe.WebhookConfig{
		"no secret":       {Updates: sink},
		"not a whsec":     {Secret: "sk_test_123456789", Updates: sink},
		"no updates sink": {Secret: webhookSecret},
	} {
		if _, err := stripe.NewWebhookHandler(cfg); !errors.Is(err, stripe.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		} else if cfg.Secret != "" && strings.Contains(err.Error(), cfg.Secret) {
			t.Errorf("%s: the error repeats the secret", name)
		}
	}
}

// TestWebhookRetriesConflicts: an update that lost a race with the saga on
// its order is tried again at once; a conflict that persists asks Stripe to
// deliver later (503).
func TestWebhookRetriesConflicts(t *testing.T) {
	succeeded := event(t, "evt_ok", "payment_intent.succeeded", paymentIntent("pi_3ds", "succeeded", nil))
	sink := &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}, conflicts: 2}
	h, _ := newWebhook(t, sink, nil)
	if rec := deliver(t, h, succeeded, webhookSecret, time.Now()); rec.Code != http.StatusOK {
		t.Fatalf("status = %d %s", rec.Code, rec.Body)
	}
	if sink.calls != 3 || sink.orders["o1"].Status() != ordering.StatusConfirmed {
		t.Fatalf("calls = %d, order %s; want 3 calls and CONFIRMED", sink.calls, sink.orders["o1"].Status())
	}

	sink = &orderSink{orders: map[string]*ordering.Order{"o1": awaitingOrder(t, "o1")}, conflicts: 100}
	h, _ = newWebhook(t, sink, nil)
	if rec := deliver(t, h, succeeded, webhookSecret, time.Now()); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", rec.Code)
	}
	if sink.calls != 4 {
		t.Fatalf("calls = %d, want 4", sink.calls)
	}
}
