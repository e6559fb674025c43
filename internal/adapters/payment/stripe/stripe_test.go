package stripe_test

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe/stripetest"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// Secrets no log line and no error may contain.
const (
	secretKey = "sk_test_51BookWormSecretKeyNeverLogged0000"
	token     = "pm_card_SECRET_TOKEN_4242"
	chargeKey = "bookworm-order-o1-charge"
	refundKey = "bookworm-order-o1-refund"
)

// logBuffer is a concurrency-safe buffer for a logger.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// newGateway returns a gateway talking to apiURL and the buffer its logs
// (at debug level) go to; at cleanup the test fails when they name the
// token or the secret key.
func newGateway(t *testing.T, apiURL string) (*stripe.Gateway, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	g, err := stripe.New(stripe.Config{
		SecretKey: secretKey, APIURL: apiURL,
		HTTPClient: &http.Client{Timeout: 10 * time.Second},
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { assertNoSecrets(t, "log", logs.String()) })
	return g, logs
}

func assertNoSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, secret := range []string{token, secretKey, strings.TrimPrefix(secretKey, "sk_test_")} {
		if strings.Contains(s, secret) {
			t.Errorf("the %s names a secret (%.12s...): %s", what, secret, s)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func chargeReq(t *testing.T) ordering.ChargeRequest {
	return ordering.ChargeRequest{IdempotencyKey: chargeKey, OrderID: "o1", Amount: eur(t, 2599), PaymentToken: token}
}

// wantCall checks one recorded call.
func wantCall(t *testing.T, c stripetest.Call, method, path, idemKey string, form map[string]string) {
	t.Helper()
	if c.Method != method || c.Path != path {
		t.Errorf("call = %s %s, want %s %s", c.Method, c.Path, method, path)
	}
	if c.IdempotencyKey != idemKey {
		t.Errorf("%s %s: Idempotency-Key = %q, want %q", c.Method, c.Path, c.IdempotencyKey, idemKey)
	}
	if c.Authorization != "Bearer "+secretKey {
		t.Errorf("%s %s: not authorized with the secret key", c.Method, c.Path)
	}
	for k, v := range form {
		if got := c.Form.Get(k); got != v {
			t.Errorf("%s %s: form %s = %q, want %q", c.Method, c.Path, k, got, v)
		}
	}
}

// TestStripeMockCharge sends a charge to stripe-mock, which validates every
// parameter against Stripe's OpenAPI spec, and maps its canned answer (a
// PaymentIntent back in requires_payment_method: a declined attempt).
func TestStripeMockCharge(t *testing.T) {
	api, rec := recordingProxy(t, startStripeMock(t))
	g, _ := newGateway(t, api)
	res, err := g.Charge(ctxTimeout(t, 10*time.Second), chargeReq(t))
	assertNoSecrets(t, "error", errText(err))
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	if res.Outcome != ordering.ChargeDeclined || !strings.HasPrefix(res.PaymentID, "pi_") {
		t.Fatalf("Charge = %+v, want declined with a pi_ id (stripe-mock's canned requires_payment_method)", res)
	}
	calls := rec.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls = %+v, want one create", calls)
	}
	wantCall(t, calls[0], "POST", "/v1/payment_intents", chargeKey+"/create", map[string]string{
		"amount": "2599", "currency": "eur", "confirm": "true", "payment_method": token,
		"payment_method_types[0]": "card", "capture_method": "automatic",
		"metadata[bookworm_order_id]": "o1", "metadata[bookworm_charge_key]": chargeKey,
	})
	if calls[0].Status != http.StatusOK {
		t.Fatalf("stripe-mock answered %d: a parameter is not Stripe's", calls[0].Status)
	}
}

// TestStripeMockVoidAndRefund cancels and refunds through stripe-mock.
func TestStripeMockVoidAndRefund(t *testing.T) {
	api, rec := recordingProxy(t, startStripeMock(t))
	g, _ := newGateway(t, api)
	ctx := ctxTimeout(t, 10*time.Second)
	res, err := g.Charge(ctx, chargeReq(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Void(ctx, chargeKey); err != nil {
		t.Fatalf("Void: %v", err)
	}
	err = g.Refund(ctx, ordering.RefundRequest{IdempotencyKey: refundKey, ChargeKey: chargeKey, PaymentID: res.PaymentID, Amount: eur(t, 2599)})
	if err != nil {
		t.Fatalf("Refund: %v", err)
	}
	calls := rec.Calls()
	if len(calls) != 4 {
		t.Fatalf("calls = %+v, want create, read, cancel, refund", calls)
	}
	wantCall(t, calls[1], "GET", "/v1/payment_intents/"+res.PaymentID, "", nil)
	wantCall(t, calls[2], "POST", "/v1/payment_intents/"+res.PaymentID+"/cancel", chargeKey+"/cancel", map[string]string{"cancellation_reason": "abandoned"})
	wantCall(t, calls[3], "POST", "/v1/refunds", refundKey+"/refund", map[string]string{"payment_intent": res.PaymentID, "amount": "2599"})
	for _, c := range calls {
		if c.Status != http.StatusOK {
			t.Errorf("%s %s: stripe-mock answered %d", c.Method, c.Path, c.Status)
		}
	}
}

// TestStripeMockVoidUnknownKey looks a charge key up with Search (after a
// restart the gateway has not seen it): stripe-mock answers a canned page
// whose payment belongs to no charge key, and nothing is cancelled.
func TestStripeMockVoidUnknownKey(t *testing.T) {
	api, rec := recordingProxy(t, startStripeMock(t))
	g, _ := newGateway(t, api)
	if err := g.Void(ctxTimeout(t, 10*time.Second), "bookworm-order-o9-charge"); err != nil {
		t.Fatalf("Void: %v", err)
	}
	calls := rec.Calls()
	if len(calls) != 1 || calls[0].Path != "/v1/payment_intents/search" || calls[0].Status != http.StatusOK {
		t.Fatalf("calls = %+v, want one search", calls)
	}
	if q := calls[0].Form.Get("query"); q != "" || !strings.Contains(calls[0].Query, "bookworm_charge_key") {
		t.Errorf("search query = %q", calls[0].Query)
	}
}

func TestChargeOutcomes(t *testing.T) {
	declinedPI := paymentIntent("pi_declined", "requires_payment_method", func(pi map[string]any) {
		pi["last_payment_error"] = map[string]any{"type": "card_error", "code": "card_declined", "decline_code": "generic_decline", "message": "Your card was declined."}
	})
	tests := []struct {
		name        string
		create      reply
		want        ordering.ChargeResult
		wantErr     error
		wantCalls   int
		wantCapture bool
	}{
		{name: "succeeded", create: reply{Status: 200, Body: paymentIntent("pi_ok", "succeeded", nil)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pi_ok"}, wantCalls: 1},
		{name: "requires action", create: reply{Status: 200, Body: paymentIntent("pi_3ds", "requires_action", nil)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "pi_3ds", ClientSecret: "pi_3ds_secret_AbCdEf123"}, wantCalls: 1},
		{name: "card declined", create: reply{Status: 402, Body: stripeError("card_error", "card_declined", "generic_decline", "Your card was declined.", declinedPI)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeDeclined, PaymentID: "pi_declined", Detail: "the card was declined"}, wantCalls: 1},
		{name: "insufficient funds", create: reply{Status: 402, Body: stripeError("card_error", "card_declined", "insufficient_funds", "Your card has insufficient funds.", declinedPI)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeInsufficientFunds, PaymentID: "pi_declined", Detail: "the card has insufficient funds"}, wantCalls: 1},
		{name: "expired card", create: reply{Status: 402, Body: stripeError("card_error", "expired_card", "", "Your card has expired.", nil)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeDeclined, Detail: "the card was declined"}, wantCalls: 1},
		{name: "authentication failed at once", create: reply{Status: 400, Body: stripeError("invalid_request_error", "payment_intent_authentication_failure", "", "We are unable to authenticate your payment method.", declinedPI)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeDeclined, PaymentID: "pi_declined", Detail: "the payment was not authenticated"}, wantCalls: 1},
		{name: "declined without an error (requires_payment_method)", create: reply{Status: 200, Body: declinedPI},
			want: ordering.ChargeResult{Outcome: ordering.ChargeDeclined, PaymentID: "pi_declined", Detail: "the card was declined"}, wantCalls: 1},
		{name: "requires capture is captured", create: reply{Status: 200, Body: paymentIntent("pi_cap", "requires_capture", nil)},
			want: ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pi_cap"}, wantCalls: 2, wantCapture: true},
		{name: "processing is temporary", create: reply{Status: 200, Body: paymentIntent("pi_p", "processing", nil)}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
		{name: "cancelled is permanent", create: reply{Status: 200, Body: paymentIntent("pi_c", "canceled", nil)}, wantErr: ordering.ErrGatewayPermanent, wantCalls: 1},
		{name: "api error 500 is temporary", create: reply{Status: 500, Body: stripeError("api_error", "", "", "An unknown error occurred", nil)}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
		{name: "503 is temporary", create: reply{Status: 503, Body: "<html>unavailable</html>"}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
		{name: "rate limit is temporary", create: reply{Status: 429, Body: stripeError("invalid_request_error", "rate_limit", "", "Too many requests hit the API too quickly.", nil)}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
		{name: "key in use is temporary", create: reply{Status: 409, Body: stripeError("idempotency_error", "idempotency_key_in_use", "", "There is currently another in-progress request using this Stripe-Idempotency-Key.", nil)}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
		{name: "unknown payment method is permanent", create: reply{Status: 400, Body: stripeError("invalid_request_error", "resource_missing", "", "No such PaymentMethod: '"+token+"'", nil)}, wantErr: ordering.ErrGatewayPermanent, wantCalls: 1},
		{name: "key reused with other parameters is permanent", create: reply{Status: 400, Body: stripeError("idempotency_error", "", "", "Keys for idempotent requests can only be used with the same parameters they were first used with.", nil)}, wantErr: ordering.ErrGatewayPermanent, wantCalls: 1},
		{name: "bad secret key is permanent", create: reply{Status: 401, Body: stripeError("invalid_request_error", "", "", "Invalid API Key provided: "+secretKey, nil)}, wantErr: ordering.ErrGatewayPermanent, wantCalls: 1},
		{name: "undecodable answer is temporary", create: reply{Status: 200, Body: "{not json"}, wantErr: ordering.ErrGatewayTemporary, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t)
			f.On("POST /v1/payment_intents", tt.create)
			f.On("POST /v1/payment_intents/pi_cap/capture", reply{Status: 200, Body: paymentIntent("pi_cap", "succeeded", nil)})
			g, _ := newGateway(t, f.URL)
			res, err := g.Charge(ctxTimeout(t, 5*time.Second), chargeReq(t))
			assertNoSecrets(t, "error", errText(err))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Charge = %+v, %v; want %v", res, err, tt.wantErr)
				}
			} else if err != nil || res != tt.want {
				t.Fatalf("Charge = %+v, %v; want %+v", res, err, tt.want)
			}
			calls := f.Calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("calls = %+v, want %d", calls, tt.wantCalls)
			}
			if tt.wantCapture {
				wantCall(t, calls[1], "POST", "/v1/payment_intents/pi_cap/capture", chargeKey+"/capture", nil)
			}
		})
	}
}

// TestChargeAfterCustomerAction asks again after 3-D Secure: Stripe replays
// the first answer (requires_action) for the key, so the gateway reads the
// payment's current state.
func TestChargeAfterCustomerAction(t *testing.T) {
	tests := []struct {
		name    string
		current map[string]any
		want    ordering.ChargeResult
	}{
		{"authenticated", paymentIntent("pi_3ds", "succeeded", nil), ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pi_3ds"}},
		{"authentication failed", paymentIntent("pi_3ds", "requires_payment_method", func(pi map[string]any) {
			pi["last_payment_error"] = map[string]any{"type": "invalid_request_error", "code": "payment_intent_authentication_failure", "message": "We are unable to authenticate your payment method."}
		}), ordering.ChargeResult{Outcome: ordering.ChargeDeclined, PaymentID: "pi_3ds", Detail: "the payment was not authenticated"}},
		{"still waiting", paymentIntent("pi_3ds", "requires_action", nil), ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "pi_3ds", ClientSecret: "pi_3ds_secret_AbCdEf123"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t)
			first := paymentIntent("pi_3ds", "requires_action", nil)
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: first}, reply{Status: 200, Body: first, Header: map[string]string{"Idempotent-Replayed": "true"}})
			f.On("GET /v1/payment_intents/pi_3ds", reply{Status: 200, Body: tt.current})
			g, _ := newGateway(t, f.URL)
			ctx := ctxTimeout(t, 5*time.Second)
			if res, err := g.Charge(ctx, chargeReq(t)); err != nil || res.Outcome != ordering.ChargeRequiresAction {
				t.Fatalf("first Charge = %+v, %v", res, err)
			}
			res, err := g.Charge(ctx, chargeReq(t))
			if err != nil || res != tt.want {
				t.Fatalf("second Charge = %+v, %v; want %+v", res, err, tt.want)
			}
			calls := f.Calls()
			if len(calls) != 3 || calls[0].IdempotencyKey != calls[1].IdempotencyKey || calls[2].Method != "GET" {
				t.Fatalf("calls = %+v, want create, create (same key), read", calls)
			}
		})
	}
}

// TestChargeTimeout: Stripe does not answer before the saga's call timeout.
func TestChargeTimeout(t *testing.T) {
	f := newFakeStripe(t)
	f.On("POST /v1/payment_intents", reply{Hang: true})
	g, _ := newGateway(t, f.URL)
	start := time.Now()
	_, err := g.Charge(ctxTimeout(t, 200*time.Millisecond), chargeReq(t))
	if !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("err = %v, want temporary", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Charge took %v after its context ended", d)
	}
	assertNoSecrets(t, "error", err.Error())
}

// TestChargeNetworkError: nobody listens at the API address.
func TestChargeNetworkError(t *testing.T) {
	g, _ := newGateway(t, "http://127.0.0.1:1")
	_, err := g.Charge(ctxTimeout(t, 5*time.Second), chargeReq(t))
	if !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("err = %v, want temporary", err)
	}
	assertNoSecrets(t, "error", err.Error())
}

func TestChargeRefusesBadRequests(t *testing.T) {
	f := newFakeStripe(t)
	g, _ := newGateway(t, f.URL)
	for name, r := range map[string]ordering.ChargeRequest{
		"no key":    {OrderID: "o1", Amount: eur(t, 100), PaymentToken: token},
		"no amount": {IdempotencyKey: chargeKey, OrderID: "o1", PaymentToken: token},
		"no token":  {IdempotencyKey: chargeKey, OrderID: "o1", Amount: eur(t, 100)},
	} {
		if _, err := g.Charge(ctxTimeout(t, time.Second), r); !errors.Is(err, ordering.ErrGatewayPermanent) {
			t.Errorf("%s: err = %v, want permanent", name, err)
		}
	}
	if n := len(f.Calls()); n != 0 {
		t.Fatalf("%d calls reached Stripe", n)
	}
}

func TestVoid(t *testing.T) {
	mine := func(id, status string) map[string]any { return paymentIntent(id, status, nil) }
	tests := []struct {
		name   string
		script func(f *stripetest.Server)
		// charged: Charge ran first in this process (the key is known).
		charged bool
		want    []string // "METHOD path idempotency-key" after the charge
	}{
		{"waiting for the customer is cancelled", func(f *stripetest.Server) {
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: mine("pi_1", "requires_action")})
			f.On("GET /v1/payment_intents/pi_1", reply{Status: 200, Body: mine("pi_1", "requires_action")})
			f.On("POST /v1/payment_intents/pi_1/cancel", reply{Status: 200, Body: mine("pi_1", "canceled")})
		}, true, []string{"GET /v1/payment_intents/pi_1 ", "POST /v1/payment_intents/pi_1/cancel " + chargeKey + "/cancel"}},
		{"captured is refunded in full", func(f *stripetest.Server) {
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: mine("pi_1", "succeeded")})
			f.On("GET /v1/payment_intents/pi_1", reply{Status: 200, Body: mine("pi_1", "succeeded")})
			f.On("POST /v1/refunds", reply{Status: 200, Body: refundObject("re_1", "pi_1", 2599)})
		}, true, []string{"GET /v1/payment_intents/pi_1 ", "POST /v1/refunds " + chargeKey + "/void-refund"}},
		{"succeeded while cancelling is refunded", func(f *stripetest.Server) {
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: mine("pi_1", "requires_action")})
			f.On("GET /v1/payment_intents/pi_1", reply{Status: 200, Body: mine("pi_1", "requires_action")}, reply{Status: 200, Body: mine("pi_1", "succeeded")})
			f.On("POST /v1/payment_intents/pi_1/cancel", reply{Status: 400, Body: stripeError("invalid_request_error", "payment_intent_unexpected_state", "", "You cannot cancel this PaymentIntent because it has a status of succeeded.", nil)})
			f.On("POST /v1/refunds", reply{Status: 200, Body: refundObject("re_1", "pi_1", 2599)})
		}, true, []string{"GET /v1/payment_intents/pi_1 ", "POST /v1/payment_intents/pi_1/cancel " + chargeKey + "/cancel", "GET /v1/payment_intents/pi_1 ", "POST /v1/refunds " + chargeKey + "/void-refund"}},
		{"already cancelled", func(f *stripetest.Server) {
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: mine("pi_1", "requires_action")})
			f.On("GET /v1/payment_intents/pi_1", reply{Status: 200, Body: mine("pi_1", "canceled")})
		}, true, []string{"GET /v1/payment_intents/pi_1 "}},
		{"already refunded", func(f *stripetest.Server) {
			f.On("POST /v1/payment_intents", reply{Status: 200, Body: mine("pi_1", "succeeded")})
			f.On("GET /v1/payment_intents/pi_1", reply{Status: 200, Body: mine("pi_1", "succeeded")})
			f.On("POST /v1/refunds", reply{Status: 400, Body: stripeError("invalid_request_error", "charge_already_refunded", "", "Charge ch_1 has already been refunded.", nil)})
		}, true, []string{"GET /v1/payment_intents/pi_1 ", "POST /v1/refunds " + chargeKey + "/void-refund"}},
		{"never charged (search finds nothing)", func(f *stripetest.Server) {
			f.On("GET /v1/payment_intents/search", reply{Status: 200, Body: searchResult()})
		}, false, []string{"GET /v1/payment_intents/search "}},
		{"after a restart (search finds it)", func(f *stripetest.Server) {
			f.On("GET /v1/payment_intents/search", reply{Status: 200, Body: searchResult(mine("pi_1", "requires_action"))})
			f.On("POST /v1/payment_intents/pi_1/cancel", reply{Status: 200, Body: mine("pi_1", "canceled")})
		}, false, []string{"GET /v1/payment_intents/search ", "POST /v1/payment_intents/pi_1/cancel " + chargeKey + "/cancel"}},
		{"search answers another key's payment", func(f *stripetest.Server) {
			f.On("GET /v1/payment_intents/search", reply{Status: 200, Body: searchResult(paymentIntent("pi_2", "requires_action", func(pi map[string]any) {
				pi["metadata"] = map[string]any{"bookworm_charge_key": "bookworm-order-o2-charge"}
			}))})
		}, false, []string{"GET /v1/payment_intents/search "}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeStripe(t)
			tt.script(f)
			g, _ := newGateway(t, f.URL)
			ctx := ctxTimeout(t, 5*time.Second)
			skip := 0
			if tt.charged {
				if _, err := g.Charge(ctx, chargeReq(t)); err != nil {
					t.Fatal(err)
				}
				skip = 1
			}
			if err := g.Void(ctx, chargeKey); err != nil {
				t.Fatalf("Void: %v", err)
			}
			n := len(f.Calls())
			if _, err := g.Charge(ctx, chargeReq(t)); !errors.Is(err, ordering.ErrGatewayPermanent) {
				t.Fatalf("Charge after Void = %v, want permanent", err)
			}
			if len(f.Calls()) != n {
				t.Fatalf("Charge after Void called Stripe")
			}
			var got []string
			for _, c := range f.Calls()[skip:] {
				got = append(got, c.Method+" "+c.Path+" "+c.IdempotencyKey)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestVoidErrors(t *testing.T) {
	f := newFakeStripe(t)
	f.On("GET /v1/payment_intents/search", reply{Status: 500, Body: stripeError("api_error", "", "", "boom", nil)})
	g, _ := newGateway(t, f.URL)
	if err := g.Void(ctxTimeout(t, 5*time.Second), chargeKey); !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("Void = %v, want temporary", err)
	}
}

func TestRefund(t *testing.T) {
	f := newFakeStripe(t)
	f.On("POST /v1/refunds", reply{Status: 200, Body: refundObject("re_1", "pi_1", 1000)})
	g, _ := newGateway(t, f.URL)
	ctx := ctxTimeout(t, 5*time.Second)
	r := ordering.RefundRequest{IdempotencyKey: refundKey, ChargeKey: chargeKey, PaymentID: "pi_1", Amount: eur(t, 1000)}
	if err := g.Refund(ctx, r); err != nil {
		t.Fatal(err)
	}
	calls := f.Calls()
	if len(calls) != 1 {
		t.Fatalf("calls = %+v", calls)
	}
	wantCall(t, calls[0], "POST", "/v1/refunds", refundKey+"/refund", map[string]string{"payment_intent": "pi_1", "amount": "1000"})

	f.On("POST /v1/refunds", reply{Status: 400, Body: stripeError("invalid_request_error", "amount_too_large", "", "Refund amount is greater than unrefunded amount on charge", nil)})
	if err := g.Refund(ctx, r); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("Refund = %v, want permanent", err)
	}
	if err := g.Refund(ctx, ordering.RefundRequest{ChargeKey: chargeKey, PaymentID: "pi_1", Amount: eur(t, 1000)}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("Refund without key = %v, want permanent", err)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]stripe.Config{
		"no key":           {},
		"publishable key":  {SecretKey: "pk_test_123"},
		"key with a space": {SecretKey: "sk_test_12 3"},
		"relative URL":     {SecretKey: secretKey, APIURL: "localhost:12111"},
		"ftp URL":          {SecretKey: secretKey, APIURL: "ftp://localhost"},
	} {
		_, err := stripe.New(cfg)
		if !errors.Is(err, stripe.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
			continue
		}
		assertNoSecrets(t, "error", err.Error())
		if cfg.SecretKey != "" && strings.Contains(err.Error(), cfg.SecretKey) {
			t.Errorf("%s: the error repeats the key", name)
		}
	}
}

// TestStripeGoLogsNothing: stripe-go's own logger prints Stripe's error
// messages (which may echo the token) to stderr unless silenced.
func TestStripeGoLogsNothing(t *testing.T) {
	f := newFakeStripe(t)
	f.On("POST /v1/payment_intents", reply{Status: 400, Body: stripeError("invalid_request_error", "resource_missing", "", "No such PaymentMethod: '"+token+"'", nil)})
	g, _ := newGateway(t, f.URL)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr := os.Stdout, os.Stderr
	os.Stdout, os.Stderr = w, w
	_, cerr := g.Charge(ctxTimeout(t, 5*time.Second), chargeReq(t))
	os.Stdout, os.Stderr = stdout, stderr
	_ = w.Close()
	printed, _ := io.ReadAll(r)
	if !errors.Is(cerr, ordering.ErrGatewayPermanent) {
		t.Fatalf("Charge err = %v", cerr)
	}
	if len(printed) > 0 {
		t.Fatalf("stripe-go printed %q", printed)
	}
}

// BenchmarkStripeMockCharge measures a charge's round trip through
// stripe-go to stripe-mock (request encoding, spec validation, decoding).
func BenchmarkStripeMockCharge(b *testing.B) {
	api := startStripeMock(b)
	g, err := stripe.New(stripe.Config{SecretKey: secretKey, APIURL: api})
	if err != nil {
		b.Fatal(err)
	}
	amount, _ := money.New("EUR", 2599)
	ctx := b.Context()
	for i := 0; b.Loop(); i++ {
		r := ordering.ChargeRequest{IdempotencyKey: ordering.ChargeKey(strconv.Itoa(i)), OrderID: strconv.Itoa(i), Amount: amount, PaymentToken: token}
		if _, err := g.Charge(ctx, r); err != nil {
			b.Fatal(err)
		}
	}
}
