package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	"github.com/stripe/stripe-go/v82/webhook"
)

const (
	testStripeKey     = "sk_test_51CmdServerSecretKeyNeverPrinted"
	testWebhookSecret = "whsec_CmdServerWebhookSecretNeverPrinted"
)

func stripeEnv(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func noSecrets(t *testing.T, what, s string) {
	t.Helper()
	for _, sec := range []string{testStripeKey, testWebhookSecret, "CmdServerSecretKey", "CmdServerWebhookSecret"} {
		if strings.Contains(s, sec) {
			t.Errorf("%s names a secret: %s", what, s)
		}
	}
}

func TestStripeConfig(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     func(string) string
		wantErr string
	}{
		{name: "nothing set (simulated gateway)", env: stripeEnv()},
		{name: "secrets from the environment", env: stripeEnv(envStripeSecretKey, testStripeKey, envStripeWebhookSecret, testWebhookSecret, "BOOKWORM_STRIPE_API_URL", "http://127.0.0.1:12111")},
		{name: "API URL as a flag", args: []string{"--stripe-api-url", "http://127.0.0.1:12111"}, env: stripeEnv(envStripeSecretKey, testStripeKey)},
		{name: "publishable key", env: stripeEnv(envStripeSecretKey, "pk_test_51CmdServerSecretKeyNeverPrinted"), wantErr: envStripeSecretKey},
		{name: "webhook secret of the wrong kind", env: stripeEnv(envStripeSecretKey, testStripeKey, envStripeWebhookSecret, "sk_CmdServerWebhookSecretNeverPrinted"), wantErr: envStripeWebhookSecret},
		{name: "webhook secret without key", env: stripeEnv(envStripeWebhookSecret, testWebhookSecret), wantErr: "without " + envStripeSecretKey},
		{name: "API URL without key", env: stripeEnv("BOOKWORM_STRIPE_API_URL", "http://127.0.0.1:12111"), wantErr: "without " + envStripeSecretKey},
		{name: "API URL not a URL", env: stripeEnv(envStripeSecretKey, testStripeKey, "BOOKWORM_STRIPE_API_URL", "127.0.0.1:12111"), wantErr: "stripe-api-url"},
		{name: "no secret-key flag", args: []string{"--stripe-secret-key", testStripeKey}, env: stripeEnv(), wantErr: "flag provided but not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var usage bytes.Buffer
			c, err := parseConfig(tt.args, tt.env, &usage)
			noSecrets(t, "the usage output", usage.String())
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one naming %q", err, tt.wantErr)
				}
				noSecrets(t, "the error", err.Error())
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			noSecrets(t, "the printed config", fmt.Sprintf("%v %+v %#v %s", c, c, c, c.Stripe.SecretKey))
			var logs bytes.Buffer
			slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "stripe", c.Stripe, "key", c.Stripe.SecretKey, "config", c)
			slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "stripe", c.Stripe, "key", c.Stripe.SecretKey, "config", c)
			noSecrets(t, "the logged config", logs.String())
			if tt.env(envStripeSecretKey) != "" && string(c.Stripe.SecretKey) != tt.env(envStripeSecretKey) {
				t.Fatalf("secret key not read")
			}
		})
	}
}

func TestStripeGatewayNeedsBothSecrets(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for name, s := range map[string]stripeConfig{
		"none":          {},
		"no webhook":    {SecretKey: testStripeKey},
		"no secret key": {WebhookSecret: testWebhookSecret},
	} {
		if _, err := newStripeGateway(s, log); err == nil {
			t.Errorf("%s: gateway built", name)
		}
		if _, err := newStripeWebhook(s, &updatesFunc{}, nil, log); err == nil {
			t.Errorf("%s: webhook built", name)
		}
	}
}

// updatesFunc records the updates the webhook hands on.
type updatesFunc struct {
	orderIDs []string
	results  []ordering.ChargeResult
}

func (u *updatesFunc) OnPaymentUpdate(_ context.Context, orderID string, r ordering.ChargeResult) error {
	u.orderIDs = append(u.orderIDs, orderID)
	u.results = append(u.results, r)
	return nil
}

// TestStripeConstructors builds the gateway and the webhook as the ordering
// context will: the gateway's errors and logs never name the key, and the
// webhook hands a signed event to the updates.
func TestStripeConstructors(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := stripeConfig{SecretKey: testStripeKey, WebhookSecret: testWebhookSecret, APIURL: "http://127.0.0.1:1"}
	gw, err := newStripeGateway(s, log)
	if err != nil {
		t.Fatal(err)
	}
	amount, _ := money.New("EUR", 1000)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = gw.Charge(ctx, ordering.ChargeRequest{IdempotencyKey: ordering.ChargeKey("o1"), OrderID: "o1", Amount: amount, PaymentToken: "pm_card_visa"})
	if err == nil {
		t.Fatal("a charge to a closed port succeeded")
	}
	noSecrets(t, "the gateway error", err.Error())

	updates := &updatesFunc{}
	h, err := newStripeWebhook(s, updates, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte(`{"id":"evt_1","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","object":"payment_intent","status":"succeeded","metadata":{"bookworm_order_id":"o1"}}}}`)
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: payload, Secret: testWebhookSecret})
	req := httptest.NewRequest(http.MethodPost, stripe.WebhookPath, bytes.NewReader(payload))
	req.Header.Set("Stripe-Signature", signed.Header)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || len(updates.orderIDs) != 1 || updates.orderIDs[0] != "o1" || updates.results[0].Outcome != ordering.ChargeSucceeded {
		t.Fatalf("status %d, updates %+v", rec.Code, updates)
	}
	noSecrets(t, "the logs", logs.String())
}

// TestStripeGatewaySelectedNeedsItsSecrets: --payment-gateway stripe
// without the secrets stops the server at start, naming what is missing;
// with them it parses.
func TestStripeGatewaySelectedNeedsItsSecrets(t *testing.T) {
	noEnv := func(string) string { return "" }
	_, err := parseConfig([]string{"--payment-gateway", "stripe"}, noEnv, io.Discard)
	if err == nil || !strings.Contains(err.Error(), envStripeSecretKey) || !strings.Contains(err.Error(), envStripeWebhookSecret) {
		t.Fatalf("err = %v, want one naming both Stripe secrets", err)
	}
	withSecrets := func(k string) string {
		switch k {
		case envStripeSecretKey:
			return testStripeKey
		case envStripeWebhookSecret:
			return testWebhookSecret
		}
		return ""
	}
	c, err := parseConfig([]string{"--payment-gateway", "stripe"}, withSecrets, io.Discard)
	if err != nil {
		t.Fatalf("with both secrets: %v", err)
	}
	if c.Ordering.PaymentGateway != "stripe" {
		t.Fatalf("gateway %q", c.Ordering.PaymentGateway)
	}
}
