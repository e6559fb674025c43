package stripe

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
	sg "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"
)

// WebhookPath is where Stripe's webhook endpoint is mounted.
const WebhookPath = "/webhooks/stripe"

// PaymentUpdates receives what Stripe reports about a payment on its own.
// *ordering.Service implements it (OnPaymentUpdate); the wiring connects the
// two. It must be idempotent: Stripe delivers an event at least once, in any
// order, and ordering's state machine makes a repeated or stale update a
// no-op (a success reported for an order that already failed makes the money
// due for a refund, once).
type PaymentUpdates interface {
	OnPaymentUpdate(ctx context.Context, orderID string, r ordering.ChargeResult) error
}

// WebhookConfig configures a WebhookHandler.
type WebhookConfig struct {
	// Secret is the endpoint's signing secret (whsec_...).
	Secret string
	// Updates receives the payment updates.
	Updates PaymentUpdates
	// Gateway, when set, re-reads a payment an event says failed before
	// reporting it: Stripe does not order its deliveries, and a failed
	// attempt may already have been followed by a successful one.
	Gateway *Gateway
	// Tolerance is how old a signature may be (replay protection); 0 for
	// stripe-go's default of 5 minutes.
	Tolerance time.Duration
	// MaxBodyBytes bounds the request body; 0 for 256 KiB (Stripe's events
	// are far smaller).
	MaxBodyBytes int64
	// Logger receives the handler's log lines; nil discards.
	Logger *slog.Logger
}

// WebhookHandler is the http.Handler of Stripe's webhook: it verifies the
// signature, maps payment_intent.succeeded, payment_intent.payment_failed and
// payment_intent.canceled onto ordering.ChargeResult and hands them to
// PaymentUpdates with the order id the gateway put in the PaymentIntent's
// metadata. Other event types, and payments that are not BookWorm's, are
// acknowledged and ignored. A client mistake (bad signature, bad body) is a
// 4xx; only a failure of ours (the order store) is a 503, which Stripe
// retries.
type WebhookHandler struct {
	cfg WebhookConfig
	log *slog.Logger
}

// NewWebhookHandler returns the handler.
func NewWebhookHandler(cfg WebhookConfig) (*WebhookHandler, error) {
	if err := ValidateWebhookSecret(cfg.Secret); err != nil {
		return nil, err
	}
	if cfg.Updates == nil {
		return nil, fmt.Errorf("%w: the webhook needs a PaymentUpdates", ErrConfig)
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = webhook.DefaultTolerance
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = 256 << 10
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &WebhookHandler{cfg: cfg, log: log}, nil
}

// ValidateWebhookSecret checks the shape of an endpoint signing secret
// without ever repeating it.
func ValidateWebhookSecret(secret string) error {
	if len(secret) < len("whsec_")+8 || secret[:len("whsec_")] != "whsec_" {
		return fmt.Errorf("%w: the webhook secret must be a whsec_ signing secret", ErrConfig)
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	payload, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request body too large", http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "could not read the request body", http.StatusBadRequest)
		return
	}
	if err := webhook.ValidatePayloadWithTolerance(payload, r.Header.Get("Stripe-Signature"), h.cfg.Secret, h.cfg.Tolerance); err != nil {
		h.log.WarnContext(r.Context(), "stripe webhook: signature refused", "err", err.Error())
		http.Error(w, "invalid signature", http.StatusBadRequest)
		return
	}
	var ev sg.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ID == "" || ev.Data == nil {
		http.Error(w, "the body is not a Stripe event", http.StatusBadRequest)
		return
	}
	update, orderID, ok, err := h.update(r.Context(), ev)
	if err != nil {
		if errors.Is(err, errBadEvent) {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.log.ErrorContext(r.Context(), "stripe webhook: could not read the payment", "event_id", ev.ID, "err", err.Error())
		w.Header().Set("Retry-After", "30")
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	if !ok {
		h.log.DebugContext(r.Context(), "stripe webhook: event ignored", "event_id", ev.ID, "type", string(ev.Type))
		w.WriteHeader(http.StatusOK)
		return
	}
	for attempt := 0; ; attempt++ {
		err = h.cfg.Updates.OnPaymentUpdate(r.Context(), orderID, update)
		// Lost a race with the saga or the sweeper on the same order: the
		// update reads the order again, so trying at once is safe.
		if !errors.Is(err, failure.ErrConflict) || attempt == conflictRetries || r.Context().Err() != nil {
			break
		}
	}
	switch {
	case err == nil:
		h.log.InfoContext(r.Context(), "stripe webhook: payment update applied", "event_id", ev.ID, "type", string(ev.Type), "order_id", orderID, "payment_id", update.PaymentID)
	case errors.Is(err, failure.ErrNotFound), errors.Is(err, failure.ErrFailedPrecondition), errors.Is(err, failure.ErrInvalid):
		// Not an order this deployment can apply it to: redelivering would
		// not change that.
		h.log.WarnContext(r.Context(), "stripe webhook: payment update not applicable", "event_id", ev.ID, "type", string(ev.Type), "order_id", orderID, "err", err.Error())
	default:
		h.log.ErrorContext(r.Context(), "stripe webhook: payment update failed", "event_id", ev.ID, "type", string(ev.Type), "order_id", orderID, "err", err.Error())
		w.Header().Set("Retry-After", "30")
		http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

var errBadEvent = errors.New("the event's payment intent cannot be read")

// conflictRetries is how often an update that lost a race on its order is
// tried again before Stripe is asked to deliver it later.
const conflictRetries = 3

// update maps an event onto the update to apply; ok is false for events
// that are not ours to apply.
func (h *WebhookHandler) update(ctx context.Context, ev sg.Event) (res ordering.ChargeResult, orderID string, ok bool, err error) {
	switch ev.Type {
	case sg.EventTypePaymentIntentSucceeded, sg.EventTypePaymentIntentPaymentFailed, sg.EventTypePaymentIntentCanceled:
	default:
		return res, "", false, nil
	}
	var pi sg.PaymentIntent
	if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil || pi.ID == "" {
		return res, "", false, errBadEvent
	}
	orderID = pi.Metadata[MetaOrderID]
	if orderID == "" {
		// Another integration's payment on the same Stripe account.
		return res, "", false, nil
	}
	switch ev.Type {
	case sg.EventTypePaymentIntentSucceeded:
		return ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: pi.ID}, orderID, true, nil
	case sg.EventTypePaymentIntentCanceled:
		return ordering.ChargeResult{Outcome: ordering.ChargeFailed, PaymentID: pi.ID, Detail: "the payment was cancelled"}, orderID, true, nil
	}
	// payment_failed: the PaymentIntent is back to requires_payment_method.
	// The customer may have tried again since and succeeded.
	current := &pi
	if h.cfg.Gateway != nil {
		rp := &sg.PaymentIntentRetrieveParams{}
		rp.Context = ctx
		cur, err := h.cfg.Gateway.client.V1PaymentIntents.Retrieve(ctx, pi.ID, rp)
		switch err := h.cfgErr(ctx, orderID, err); {
		case err == nil:
			current = cur
		case errors.Is(err, ordering.ErrGatewayPermanent):
			// Stripe will not say more (a payment of another account or
			// mode): the event's own copy decides.
		default:
			return res, "", false, err
		}
	}
	switch current.Status {
	case sg.PaymentIntentStatusSucceeded:
		return ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: pi.ID}, orderID, true, nil
	case sg.PaymentIntentStatusCanceled:
		return ordering.ChargeResult{Outcome: ordering.ChargeFailed, PaymentID: pi.ID, Detail: "the payment was cancelled"}, orderID, true, nil
	case sg.PaymentIntentStatusRequiresPaymentMethod:
		var decline sg.DeclineCode
		var code sg.ErrorCode
		if e := current.LastPaymentError; e != nil {
			decline, code = e.DeclineCode, e.Code
		}
		d := declined(decline, code)
		d.PaymentID = pi.ID
		return d, orderID, true, nil
	}
	// Being retried by the customer (requires_action, processing): the
	// event it ends with decides.
	return res, "", false, nil
}

// cfgErr classifies an error of the gateway's client (nil stays nil).
func (h *WebhookHandler) cfgErr(ctx context.Context, orderID string, err error) error {
	if err == nil {
		return nil
	}
	return h.cfg.Gateway.fail(ctx, "webhook: read payment", orderID, err)
}
