package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/stripe"
)

// secret is a configuration value that must never be printed: %v, %+v,
// %#v, encoding/json and slog all show it as [redacted].
type secret string

// String implements fmt.Stringer.
func (s secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// GoString implements fmt.GoStringer.
func (s secret) GoString() string { return `"` + s.String() + `"` }

// LogValue implements slog.LogValuer.
func (s secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// MarshalText implements encoding.TextMarshaler, which encoding/json (and
// slog's JSON handler, for a struct holding a secret) uses.
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// stripeConfig configures the Stripe payment gateway and its webhook. The
// secret key and the webhook signing secret are read from the environment
// only (a flag would show in the process list) and are never printed.
type stripeConfig struct {
	// SecretKey is BOOKWORM_STRIPE_SECRET_KEY (sk_... or rk_...).
	SecretKey secret
	// WebhookSecret is BOOKWORM_STRIPE_WEBHOOK_SECRET (whsec_...), the
	// signing secret of the /webhooks/stripe endpoint.
	WebhookSecret secret
	// APIURL overrides Stripe's API address (stripe-mock); empty for Stripe.
	APIURL string
}

// The environment variables of the Stripe secrets.
const (
	envStripeSecretKey     = envPrefix + "STRIPE_SECRET_KEY"
	envStripeWebhookSecret = envPrefix + "STRIPE_WEBHOOK_SECRET"
)

// stripeFlags reads the Stripe settings.
func stripeFlags(s *stripeConfig, getenv func(string) string, str func(*string, string, string, string)) {
	s.SecretKey = secret(getenv(envStripeSecretKey))
	s.WebhookSecret = secret(getenv(envStripeWebhookSecret))
	str(&s.APIURL, "stripe-api-url", "", "Stripe API base URL, e.g. a local stripe-mock; empty for Stripe itself. The secret key and the webhook signing secret are read from "+envStripeSecretKey+" and "+envStripeWebhookSecret+" only")
}

// finish validates stripeConfig after parsing. Every setting is optional
// (the simulated gateway is the default); what is set must be usable.
func (s *stripeConfig) finish() []error {
	var errs []error
	if s.SecretKey != "" {
		if err := stripe.ValidateSecretKey(string(s.SecretKey)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", envStripeSecretKey, err))
		}
	}
	if s.WebhookSecret != "" {
		if err := stripe.ValidateWebhookSecret(string(s.WebhookSecret)); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", envStripeWebhookSecret, err))
		}
		if s.SecretKey == "" {
			errs = append(errs, fmt.Errorf("%s is set without %s", envStripeWebhookSecret, envStripeSecretKey))
		}
	}
	if s.APIURL != "" {
		if err := stripe.ValidateAPIURL(s.APIURL); err != nil {
			errs = append(errs, fmt.Errorf("stripe-api-url: %w", err))
		}
		if s.SecretKey == "" {
			errs = append(errs, fmt.Errorf("stripe-api-url is set without %s", envStripeSecretKey))
		}
	}
	return errs
}

// requireStripe is the check of --payment-gateway stripe: both secrets are
// needed (the webhook resumes payments that wait for the customer).
func (s *stripeConfig) requireStripe() error {
	var errs []error
	if s.SecretKey == "" {
		errs = append(errs, fmt.Errorf("the stripe payment gateway needs %s", envStripeSecretKey))
	}
	if s.WebhookSecret == "" {
		errs = append(errs, fmt.Errorf("the stripe payment gateway needs %s", envStripeWebhookSecret))
	}
	return errors.Join(errs...)
}

// Wiring: "stripe" in paymentGateways (ordering.go) builds the gateway;
// buildOrdering mounts the webhook at POST /webhooks/stripe in the
// processes that serve the ordering context. The webhook is a plain handler
// on the routes' mux: Connect's auth interceptors do not apply (Stripe signs
// instead); the server's request size limit and the handler's own (256 KiB)
// do.

// newStripeGateway builds the Stripe PaymentGateway (--payment-gateway
// stripe). The ordering context's build passes it to ordering.NewService.
func newStripeGateway(s stripeConfig, log *slog.Logger) (*stripe.Gateway, error) {
	if err := s.requireStripe(); err != nil {
		return nil, err
	}
	return stripe.New(stripe.Config{
		SecretKey:  string(s.SecretKey),
		APIURL:     s.APIURL,
		HTTPClient: &http.Client{Timeout: 30 * time.Second},
		// One retry of a lost request, with the same idempotency key; the
		// saga retries beyond that.
		MaxNetworkRetries: 1,
		Logger:            log.With("component", "stripe"),
	})
}

// newStripeWebhook builds the /webhooks/stripe handler (stripe.WebhookPath)
// that hands Stripe's payment updates to updates: the ordering context's
// *ordering.Service. The ordering context's build mounts it on the routes.
func newStripeWebhook(s stripeConfig, updates stripe.PaymentUpdates, gw *stripe.Gateway, log *slog.Logger) (http.Handler, error) {
	if err := s.requireStripe(); err != nil {
		return nil, err
	}
	return stripe.NewWebhookHandler(stripe.WebhookConfig{
		Secret:  string(s.WebhookSecret),
		Updates: updates,
		Gateway: gw,
		Logger:  log.With("component", "stripe-webhook"),
	})
}
