// Package stripe is the PaymentGateway (internal/core/ordering) that takes
// real payments through Stripe's PaymentIntents API (stripe-go), and the
// handler of Stripe's webhook (/webhooks/stripe) that resumes a checkout
// after the customer's 3-D Secure step.
//
// Card data never reaches BookWorm: the payment token is a PaymentMethod id
// (pm_...) the browser got from Stripe.js. The token and the secret key are
// never logged nor put in an error: Stripe's own error messages can echo a
// token ("No such PaymentMethod: 'pm_...'"), so errors carry only Stripe's
// type, code, parameter name and request id, and stripe-go's own logger is
// silenced.
//
// How the port maps onto Stripe (one Stripe idempotency key per operation,
// derived from the port's key, so a repeated call is answered by Stripe's
// idempotency layer instead of charging again):
//
//	Charge   POST /v1/payment_intents (confirm=true, automatic capture)    key "<charge key>/create"
//	         a replayed answer that is not final is re-read:   GET /v1/payment_intents/{id}
//	         a PaymentIntent waiting for capture is captured:  POST .../capture  key "<charge key>/capture"
//	Void     the PaymentIntent of the charge key (remembered, else found by
//	         Search on its metadata), then POST .../cancel  key "<charge key>/cancel",
//	         or, once it succeeded, POST /v1/refunds        key "<charge key>/void-refund"
//	Refund   POST /v1/refunds                                              key "<refund key>/refund"
//
// Outcomes: succeeded → ChargeSucceeded; requires_action → ChargeRequiresAction
// with the client secret; a card error (or requires_payment_method after the
// confirmation) → ChargeDeclined, or ChargeInsufficientFunds for the decline
// code insufficient_funds; 5xx, 409 (a concurrent request with the same key),
// 429 and network errors → ordering.ErrGatewayTemporary; any other invalid
// request → ordering.ErrGatewayPermanent.
//
// After a Void the gateway refuses the key (ErrGatewayPermanent) without
// asking Stripe, which would replay a success the void refunded. What it
// remembers (keys voided, PaymentIntents by key) lives in the process; after
// a restart Void finds the PaymentIntent with Search, which is eventually
// consistent (a payment created seconds ago may be missed). A charge that
// lands after the saga gave up on it (its answer lost, or missed by that
// search) is still not lost money: Stripe reports it through the webhook,
// and the order (already failed) owes a refund (ordering.Order.ApplyCharge).
package stripe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/ordering"
	sg "github.com/stripe/stripe-go/v82"
)

// Metadata keys the gateway writes on every PaymentIntent: the webhook finds
// the order by them, and Void finds a PaymentIntent by its charge key.
const (
	MetaOrderID   = "bookworm_order_id"
	MetaChargeKey = "bookworm_charge_key"
)

// Config configures a Gateway.
type Config struct {
	// SecretKey is the Stripe secret key (sk_... or a restricted rk_...).
	SecretKey string
	// APIURL overrides Stripe's API address (stripe-mock in tests); empty
	// for https://api.stripe.com.
	APIURL string
	// HTTPClient makes the requests; nil for a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// on the network or with a retryable status (with the same idempotency
	// key). The saga retries too, so the default is 0.
	MaxNetworkRetries int64
	// Logger receives the gateway's own (token-free) log lines; nil discards.
	Logger *slog.Logger
}

// Gateway is the Stripe PaymentGateway. It is safe for concurrent use.
type Gateway struct {
	client *sg.Client
	log    *slog.Logger

	mu      sync.Mutex
	intents map[string]string   // charge key → PaymentIntent id, seen by this process
	voided  map[string]struct{} // charge keys voided by this process
}

var _ ordering.PaymentGateway = (*Gateway)(nil)

// ErrConfig is returned by New for an unusable configuration.
var ErrConfig = errors.New("stripe: invalid configuration")

// New returns a Gateway.
func New(cfg Config) (*Gateway, error) {
	if err := ValidateSecretKey(cfg.SecretKey); err != nil {
		return nil, err
	}
	if cfg.APIURL != "" {
		if err := ValidateAPIURL(cfg.APIURL); err != nil {
			return nil, err
		}
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	bc := &sg.BackendConfig{
		HTTPClient:        hc,
		MaxNetworkRetries: sg.Int64(cfg.MaxNetworkRetries),
		// stripe-go logs Stripe's error messages, which may echo a token.
		LeveledLogger: &sg.LeveledLogger{Level: sg.LevelNull},
	}
	if cfg.APIURL != "" {
		bc.URL = sg.String(strings.TrimRight(cfg.APIURL, "/"))
	}
	backend := sg.GetBackendWithConfig(sg.APIBackend, bc)
	client := sg.NewClient(cfg.SecretKey, sg.WithBackends(&sg.Backends{API: backend, Connect: backend, Uploads: backend, MeterEvents: backend}))
	return &Gateway{client: client, log: log, intents: map[string]string{}, voided: map[string]struct{}{}}, nil
}

// ValidateSecretKey checks the shape of a Stripe secret key without ever
// repeating it.
func ValidateSecretKey(key string) error {
	switch {
	case key == "":
		return fmt.Errorf("%w: the secret key is empty", ErrConfig)
	case !strings.HasPrefix(key, "sk_") && !strings.HasPrefix(key, "rk_"):
		return fmt.Errorf("%w: the secret key must start with sk_ or rk_", ErrConfig)
	case strings.ContainsAny(key, " \t\r\n"):
		return fmt.Errorf("%w: the secret key contains white space", ErrConfig)
	}
	return nil
}

// ValidateAPIURL checks an API address override.
func ValidateAPIURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: the API URL %q must be an absolute http(s) URL", ErrConfig, raw)
	}
	return nil
}

// Charge implements ordering.PaymentGateway.
func (g *Gateway) Charge(ctx context.Context, r ordering.ChargeRequest) (ordering.ChargeResult, error) {
	if r.IdempotencyKey == "" {
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: an idempotency key is required", ordering.ErrGatewayPermanent)
	}
	if r.Amount.IsZero() || r.Amount.Minor() <= 0 {
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: the amount must be positive", ordering.ErrGatewayPermanent)
	}
	if r.PaymentToken == "" {
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: a payment method is required", ordering.ErrGatewayPermanent)
	}
	g.mu.Lock()
	_, voided := g.voided[r.IdempotencyKey]
	g.mu.Unlock()
	if voided {
		// Stripe would replay a success the void refunded since.
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: the payment was voided", ordering.ErrGatewayPermanent)
	}
	params := &sg.PaymentIntentCreateParams{
		Amount:             sg.Int64(r.Amount.Minor()),
		Currency:           sg.String(strings.ToLower(r.Amount.Currency())),
		PaymentMethod:      sg.String(r.PaymentToken),
		PaymentMethodTypes: []*string{sg.String("card")},
		Confirm:            sg.Bool(true),
		CaptureMethod:      sg.String(string(sg.PaymentIntentCaptureMethodAutomatic)),
		Description:        sg.String("BookWorm order " + r.OrderID),
	}
	params.Context = ctx
	params.IdempotencyKey = sg.String(r.IdempotencyKey + "/create")
	params.Metadata = map[string]string{MetaOrderID: r.OrderID, MetaChargeKey: r.IdempotencyKey}
	pi, err := g.client.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		var se *sg.Error
		if errors.As(err, &se) && (se.Type == sg.ErrorTypeCard || se.Code == sg.ErrorCodePaymentIntentAuthenticationFailure) {
			// A refusal of the card (or of its authentication), not an error.
			res := declined(se.DeclineCode, se.Code)
			if se.PaymentIntent != nil {
				res.PaymentID = se.PaymentIntent.ID
				g.remember(r.IdempotencyKey, se.PaymentIntent.ID)
			}
			g.log.InfoContext(ctx, "stripe: charge declined", "order_id", r.OrderID, "payment_id", res.PaymentID, "code", string(se.Code), "decline_code", string(se.DeclineCode))
			return res, nil
		}
		return ordering.ChargeResult{}, g.fail(ctx, "charge", r.OrderID, err)
	}
	g.remember(r.IdempotencyKey, pi.ID)
	if replayed(pi.LastResponse) && pi.Status != sg.PaymentIntentStatusSucceeded && pi.Status != sg.PaymentIntentStatusCanceled {
		// Stripe replays the first answer to a repeated key; the payment may
		// have moved on since (the customer's 3-D Secure step).
		rp := &sg.PaymentIntentRetrieveParams{}
		rp.Context = ctx
		if pi, err = g.client.V1PaymentIntents.Retrieve(ctx, pi.ID, rp); err != nil {
			return ordering.ChargeResult{}, g.fail(ctx, "charge: read payment", r.OrderID, err)
		}
	}
	if pi.Status == sg.PaymentIntentStatusRequiresCapture {
		cp := &sg.PaymentIntentCaptureParams{}
		cp.Context = ctx
		cp.IdempotencyKey = sg.String(r.IdempotencyKey + "/capture")
		if pi, err = g.client.V1PaymentIntents.Capture(ctx, pi.ID, cp); err != nil {
			return ordering.ChargeResult{}, g.fail(ctx, "charge: capture", r.OrderID, err)
		}
	}
	res, err := result(pi)
	if err != nil {
		g.log.WarnContext(ctx, "stripe: charge not taken", "order_id", r.OrderID, "payment_id", pi.ID, "status", string(pi.Status))
		return ordering.ChargeResult{}, err
	}
	g.log.InfoContext(ctx, "stripe: charge answered", "order_id", r.OrderID, "payment_id", pi.ID, "status", string(pi.Status))
	return res, nil
}

// result maps a PaymentIntent's state onto the answer to a charge. A
// cancelled payment is a permanent error (a voided charge key charges no
// more); one still processing a temporary one (ask again later).
func result(pi *sg.PaymentIntent) (ordering.ChargeResult, error) {
	res := ordering.ChargeResult{PaymentID: pi.ID}
	switch pi.Status {
	case sg.PaymentIntentStatusSucceeded:
		res.Outcome = ordering.ChargeSucceeded
	case sg.PaymentIntentStatusRequiresAction:
		if pi.ClientSecret == "" {
			return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: payment %s requires action but came without a client secret", ordering.ErrGatewayPermanent, pi.ID)
		}
		res.Outcome, res.ClientSecret = ordering.ChargeRequiresAction, pi.ClientSecret
	case sg.PaymentIntentStatusRequiresPaymentMethod:
		// After a confirmation this is a failed attempt: a declined card or
		// a failed authentication.
		var decline sg.DeclineCode
		var code sg.ErrorCode
		if e := pi.LastPaymentError; e != nil {
			decline, code = e.DeclineCode, e.Code
		}
		d := declined(decline, code)
		d.PaymentID = pi.ID
		return d, nil
	case sg.PaymentIntentStatusProcessing:
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: payment %s is still processing", ordering.ErrGatewayTemporary, pi.ID)
	case sg.PaymentIntentStatusCanceled:
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: payment %s was cancelled", ordering.ErrGatewayPermanent, pi.ID)
	default:
		// requires_confirmation, requires_capture after a capture: Stripe
		// did not do what was asked.
		return ordering.ChargeResult{}, fmt.Errorf("%w: stripe: payment %s is in the unexpected state %q", ordering.ErrGatewayPermanent, pi.ID, pi.Status)
	}
	return res, nil
}

// declined is the refusal a decline code stands for.
func declined(decline sg.DeclineCode, code sg.ErrorCode) ordering.ChargeResult {
	if decline == sg.DeclineCodeInsufficientFunds || code == "insufficient_funds" {
		return ordering.ChargeResult{Outcome: ordering.ChargeInsufficientFunds, Detail: "the card has insufficient funds"}
	}
	if code == sg.ErrorCodePaymentIntentAuthenticationFailure {
		return ordering.ChargeResult{Outcome: ordering.ChargeDeclined, Detail: "the payment was not authenticated"}
	}
	return ordering.ChargeResult{Outcome: ordering.ChargeDeclined, Detail: "the card was declined"}
}

// Void implements ordering.PaymentGateway.
func (g *Gateway) Void(ctx context.Context, chargeKey string) error {
	if chargeKey == "" {
		return fmt.Errorf("%w: stripe: a charge key is required", ordering.ErrGatewayPermanent)
	}
	// From now on this process charges the key no more (Stripe would replay
	// a success the void refunds); a charge already on its way to Stripe is
	// reported by the webhook and refunded by the saga.
	g.mu.Lock()
	g.voided[chargeKey] = struct{}{}
	g.mu.Unlock()
	return g.void(ctx, chargeKey)
}

func (g *Gateway) void(ctx context.Context, chargeKey string) error {
	pi, err := g.find(ctx, chargeKey)
	if err != nil {
		return g.fail(ctx, "void: find payment", "", err)
	}
	if pi == nil {
		// Never charged (as far as Stripe's search knows): a charge landing
		// later is reported by the webhook and refunded by the saga.
		g.log.InfoContext(ctx, "stripe: void: no payment for the charge key", "charge_key", chargeKey)
		return nil
	}
	for range 2 {
		switch pi.Status {
		case sg.PaymentIntentStatusCanceled:
			return nil
		case sg.PaymentIntentStatusSucceeded:
			return g.refund(ctx, pi.ID, 0, chargeKey+"/void-refund")
		}
		cp := &sg.PaymentIntentCancelParams{CancellationReason: sg.String(string(sg.PaymentIntentCancellationReasonAbandoned))}
		cp.Context = ctx
		cp.IdempotencyKey = sg.String(chargeKey + "/cancel")
		_, err := g.client.V1PaymentIntents.Cancel(ctx, pi.ID, cp)
		var se *sg.Error
		if err == nil {
			g.log.InfoContext(ctx, "stripe: payment cancelled", "payment_id", pi.ID)
			return nil
		}
		if !errors.As(err, &se) || se.Code != sg.ErrorCodePaymentIntentUnexpectedState {
			return g.fail(ctx, "void: cancel", "", err)
		}
		// It moved on (succeeded, or already cancelled) meanwhile: look again.
		rp := &sg.PaymentIntentRetrieveParams{}
		rp.Context = ctx
		if pi, err = g.client.V1PaymentIntents.Retrieve(ctx, pi.ID, rp); err != nil {
			return g.fail(ctx, "void: read payment", "", err)
		}
	}
	return fmt.Errorf("%w: stripe: payment %s could not be cancelled (status %q)", ordering.ErrGatewayTemporary, pi.ID, pi.Status)
}

// Refund implements ordering.PaymentGateway.
func (g *Gateway) Refund(ctx context.Context, r ordering.RefundRequest) error {
	if r.IdempotencyKey == "" {
		return fmt.Errorf("%w: stripe: an idempotency key is required", ordering.ErrGatewayPermanent)
	}
	if r.Amount.IsZero() || r.Amount.Minor() <= 0 {
		return fmt.Errorf("%w: stripe: the refund amount must be positive", ordering.ErrGatewayPermanent)
	}
	id := r.PaymentID
	if id == "" {
		pi, err := g.find(ctx, r.ChargeKey)
		if err != nil {
			return g.fail(ctx, "refund: find payment", "", err)
		}
		if pi == nil {
			return fmt.Errorf("%w: stripe: no payment to refund", ordering.ErrGatewayPermanent)
		}
		id = pi.ID
	}
	return g.refund(ctx, id, r.Amount.Minor(), r.IdempotencyKey+"/refund")
}

// refund refunds amount (0: all that is left) of a payment. Money already
// refunded in full is no error: the refund owed is done.
func (g *Gateway) refund(ctx context.Context, paymentID string, amount int64, key string) error {
	p := &sg.RefundCreateParams{PaymentIntent: sg.String(paymentID)}
	if amount > 0 {
		p.Amount = sg.Int64(amount)
	}
	p.Context = ctx
	p.IdempotencyKey = sg.String(key)
	_, err := g.client.V1Refunds.Create(ctx, p)
	var se *sg.Error
	if errors.As(err, &se) && se.Code == sg.ErrorCodeChargeAlreadyRefunded {
		return nil
	}
	if err != nil {
		return g.fail(ctx, "refund", "", err)
	}
	g.log.InfoContext(ctx, "stripe: payment refunded", "payment_id", paymentID, "amount_minor", amount)
	return nil
}

// find returns the PaymentIntent of a charge key, or nil when Stripe has
// none. It asks Search when this process has not seen the key (after a
// restart); Search is eventually consistent, which the webhook makes up for.
func (g *Gateway) find(ctx context.Context, chargeKey string) (*sg.PaymentIntent, error) {
	g.mu.Lock()
	id, ok := g.intents[chargeKey]
	g.mu.Unlock()
	if ok {
		rp := &sg.PaymentIntentRetrieveParams{}
		rp.Context = ctx
		return g.client.V1PaymentIntents.Retrieve(ctx, id, rp)
	}
	sp := &sg.PaymentIntentSearchParams{}
	sp.Context = ctx
	sp.Query = fmt.Sprintf("metadata['%s']:'%s'", MetaChargeKey, strings.ReplaceAll(chargeKey, "'", `\'`))
	sp.Limit = sg.Int64(10)
	for pi, err := range g.client.V1PaymentIntents.Search(ctx, sp) {
		if err != nil {
			return nil, err
		}
		// The query decides, but never act on a payment of another key.
		if pi.Metadata[MetaChargeKey] == chargeKey {
			g.remember(chargeKey, pi.ID)
			return pi, nil
		}
		break
	}
	return nil, nil
}

func (g *Gateway) remember(chargeKey, paymentID string) {
	if paymentID == "" {
		return
	}
	g.mu.Lock()
	g.intents[chargeKey] = paymentID
	g.mu.Unlock()
}

// replayed reports whether Stripe answered from its idempotency cache.
func replayed(r *sg.APIResponse) bool {
	return r != nil && r.Header.Get("Idempotent-Replayed") == "true"
}

// fail classifies a failed call and returns an error safe to log and return:
// Stripe's message is left out (it may echo the token), its type, code,
// parameter and request id are kept.
func (g *Gateway) fail(ctx context.Context, op, orderID string, err error) error {
	var se *sg.Error
	if !errors.As(err, &se) {
		// Network errors, timeouts, undecodable answers: a retry may cure.
		e := fmt.Errorf("%w: stripe: %s: %s", ordering.ErrGatewayTemporary, op, networkError(err))
		g.log.WarnContext(ctx, "stripe: request failed", "op", op, "order_id", orderID, "err", e.Error())
		return e
	}
	class := ordering.ErrGatewayPermanent
	switch {
	case se.HTTPStatusCode >= 500, se.Type == sg.ErrorTypeAPI,
		se.HTTPStatusCode == http.StatusTooManyRequests,
		se.HTTPStatusCode == http.StatusConflict, se.Code == sg.ErrorCodeIdempotencyKeyInUse,
		se.Code == sg.ErrorCodeLockTimeout:
		class = ordering.ErrGatewayTemporary
	}
	e := fmt.Errorf("%w: stripe: %s: HTTP %d, type %q, code %q, param %q, request %s", class, op, se.HTTPStatusCode, se.Type, se.Code, se.Param, se.RequestID)
	g.log.WarnContext(ctx, "stripe: request failed", "op", op, "order_id", orderID, "err", e.Error())
	return e
}

// networkError describes a transport failure without its request body.
func networkError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		switch {
		case ue.Timeout():
			return "no answer in time"
		case errors.Is(ue.Err, context.Canceled):
			return "request cancelled"
		}
		return "network error: " + ue.Op + " " + redactQuery(ue.URL) + ": " + ue.Err.Error()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "no answer in time"
	}
	if errors.Is(err, context.Canceled) {
		return "request cancelled"
	}
	return "request failed"
}

func redactQuery(raw string) string {
	if i := strings.IndexByte(raw, '?'); i >= 0 {
		return raw[:i]
	}
	return raw
}
