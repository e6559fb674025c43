// Package simulated is a PaymentGateway (internal/core/ordering) that takes
// no real money: the payment method token decides what happens, so that
// development, the tests and the benchmark can walk every path of the
// checkout saga without a payment provider. It is the default gateway.
//
// The test tokens:
//
//	tok_success             the charge is captured at once.
//	tok_declined            the card is declined (FAILED, PAYMENT_DECLINED).
//	tok_insufficient_funds  the card has insufficient funds (FAILED, INSUFFICIENT_FUNDS).
//	tok_timeout             the gateway never answers: Charge blocks until its
//	                        context ends and returns a temporary error, so the
//	                        saga retries, then fails the order (PAYMENT_TIMEOUT)
//	                        and voids the payment.
//	tok_flaky               the first Charge of an idempotency key fails with a
//	                        temporary error; the next one is captured.
//	tok_3ds                 the payment requires customer action (3-D Secure):
//	                        Charge answers RequiresAction with a client secret
//	                        and the order waits (AWAITING_PAYMENT) until
//	                        CompleteAction decides the outcome, as the
//	                        customer's bank would.
//
// Any other token is a permanent error (an invalid payment method).
//
// Like a real gateway it is idempotent by key: a key is charged at most once
// however often Charge is called, repeated calls answer the payment's current
// state, a voided key never charges, and Refund refunds a key once. Charges,
// Attempts, Refunded and Voided expose what happened per key, so tests can
// assert "exactly one charge". Error messages never contain a token. It is
// safe for concurrent use; its state lives in memory and is lost with the
// process (a restarted server meets a fresh gateway; crash tests that count
// charges across a restart must run it out of process or keep the Gateway).
package simulated

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

// The test tokens.
const (
	TokenSuccess           = "tok_success"
	TokenDeclined          = "tok_declined"
	TokenInsufficientFunds = "tok_insufficient_funds"
	TokenTimeout           = "tok_timeout"
	TokenFlaky             = "tok_flaky"
	Token3DS               = "tok_3ds"
)

// Gateway is the simulated payment gateway.
type Gateway struct {
	latency time.Duration

	mu       sync.Mutex
	payments map[string]*payment
	refunds  map[string]string // refund key → charge key
	seq      int
}

// payment is the state of one idempotency key.
type payment struct {
	id       string
	token    string
	amount   money.Money
	attempts int
	state    state
	secret   string
	refunded money.Money
}

type state int

const (
	stateNew state = iota
	stateCaptured
	stateRequiresAction
	stateDeclined
	stateInsufficientFunds
	stateFailed
	stateVoided
)

// Option configures a Gateway.
type Option func(*Gateway)

// WithLatency makes every answer take d, like a network round trip.
func WithLatency(d time.Duration) Option { return func(g *Gateway) { g.latency = d } }

// New returns an empty gateway.
func New(opts ...Option) *Gateway {
	g := &Gateway{payments: map[string]*payment{}, refunds: map[string]string{}}
	for _, o := range opts {
		o(g)
	}
	return g
}

var _ ordering.PaymentGateway = (*Gateway)(nil)

func (g *Gateway) wait(ctx context.Context) error {
	if g.latency <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(g.latency)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("%w: %w", ordering.ErrGatewayTemporary, ctx.Err())
	}
}

// Charge implements ordering.PaymentGateway.
func (g *Gateway) Charge(ctx context.Context, r ordering.ChargeRequest) (ordering.ChargeResult, error) {
	if r.IdempotencyKey == "" {
		return ordering.ChargeResult{}, fmt.Errorf("%w: an idempotency key is required", ordering.ErrGatewayPermanent)
	}
	if r.Amount.IsZero() || r.Amount.Minor() <= 0 {
		return ordering.ChargeResult{}, fmt.Errorf("%w: the amount must be positive", ordering.ErrGatewayPermanent)
	}
	if err := g.wait(ctx); err != nil {
		return ordering.ChargeResult{}, err
	}
	g.mu.Lock()
	p, ok := g.payments[r.IdempotencyKey]
	if !ok {
		g.seq++
		p = &payment{id: fmt.Sprintf("sim_pi_%d", g.seq), token: r.PaymentToken, amount: r.Amount}
		g.payments[r.IdempotencyKey] = p
	}
	if p.state == stateVoided {
		g.mu.Unlock()
		return p.result()
	}
	if p.token != r.PaymentToken || p.amount != r.Amount {
		g.mu.Unlock()
		return ordering.ChargeResult{}, fmt.Errorf("%w: idempotency key reused with different parameters", ordering.ErrGatewayPermanent)
	}
	p.attempts++
	if p.state != stateNew {
		res, err := p.result()
		g.mu.Unlock()
		return res, err
	}
	switch p.token {
	case TokenSuccess:
		p.state = stateCaptured
	case TokenDeclined:
		p.state = stateDeclined
	case TokenInsufficientFunds:
		p.state = stateInsufficientFunds
	case TokenFlaky:
		if p.attempts == 1 {
			g.mu.Unlock()
			return ordering.ChargeResult{}, fmt.Errorf("%w: simulated outage, try again", ordering.ErrGatewayTemporary)
		}
		p.state = stateCaptured
	case Token3DS:
		p.state = stateRequiresAction
		p.secret = p.id + "_secret_" + randomHex()
	case TokenTimeout:
		g.mu.Unlock()
		<-ctx.Done()
		return ordering.ChargeResult{}, fmt.Errorf("%w: no answer: %w", ordering.ErrGatewayTemporary, ctx.Err())
	default:
		p.state = stateFailed
	}
	res, err := p.result()
	g.mu.Unlock()
	return res, err
}

// result answers a Charge from the payment's state; g.mu is held.
func (p *payment) result() (ordering.ChargeResult, error) {
	res := ordering.ChargeResult{PaymentID: p.id}
	switch p.state {
	case stateCaptured:
		res.Outcome = ordering.ChargeSucceeded
	case stateRequiresAction:
		res.Outcome, res.ClientSecret = ordering.ChargeRequiresAction, p.secret
	case stateDeclined:
		res.Outcome, res.Detail = ordering.ChargeDeclined, "the card was declined"
	case stateInsufficientFunds:
		res.Outcome, res.Detail = ordering.ChargeInsufficientFunds, "the card has insufficient funds"
	case stateFailed:
		return ordering.ChargeResult{}, fmt.Errorf("%w: unknown test payment token", ordering.ErrGatewayPermanent)
	case stateVoided:
		return ordering.ChargeResult{}, fmt.Errorf("%w: the payment was voided", ordering.ErrGatewayPermanent)
	default:
		return ordering.ChargeResult{}, errors.New("simulated: payment in an unknown state")
	}
	return res, nil
}

func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrNoAction is returned by CompleteAction for a key that does not wait for
// the customer.
var ErrNoAction = errors.New("simulated: the payment does not wait for customer action")

// CompleteAction decides a payment waiting for the customer (tok_3ds): with
// succeed it is captured, else declined. It returns what Charge answers from
// now on, which is what a webhook would report; the caller hands it to
// ordering.Service.OnPaymentUpdate.
func (g *Gateway) CompleteAction(chargeKey string, succeed bool) (ordering.ChargeResult, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[chargeKey]
	if !ok || p.state != stateRequiresAction {
		return ordering.ChargeResult{}, ErrNoAction
	}
	p.state = stateDeclined
	if succeed {
		p.state = stateCaptured
	}
	return p.result()
}

// Void implements ordering.PaymentGateway.
func (g *Gateway) Void(ctx context.Context, chargeKey string) error {
	if err := g.wait(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[chargeKey]
	if !ok {
		// Never charged: make sure it never will be.
		g.payments[chargeKey] = &payment{id: "sim_void", state: stateVoided}
		return nil
	}
	if p.state == stateCaptured {
		p.refunded = p.amount
	}
	p.state = stateVoided
	return nil
}

// Refund implements ordering.PaymentGateway.
func (g *Gateway) Refund(ctx context.Context, r ordering.RefundRequest) error {
	if r.IdempotencyKey == "" {
		return fmt.Errorf("%w: an idempotency key is required", ordering.ErrGatewayPermanent)
	}
	if err := g.wait(ctx); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if done, ok := g.refunds[r.IdempotencyKey]; ok {
		if done != r.ChargeKey {
			return fmt.Errorf("%w: idempotency key reused with different parameters", ordering.ErrGatewayPermanent)
		}
		return nil
	}
	p, ok := g.payments[r.ChargeKey]
	if !ok || p.state != stateCaptured {
		return fmt.Errorf("%w: nothing captured to refund", ordering.ErrGatewayPermanent)
	}
	if r.Amount.IsZero() || r.Amount.Currency() != p.amount.Currency() || r.Amount.Minor() <= 0 || r.Amount.Minor() > p.amount.Minor()-p.refunded.Minor() {
		return fmt.Errorf("%w: the refund exceeds what was captured", ordering.ErrGatewayPermanent)
	}
	sum, err := p.refunded.Add(r.Amount)
	if err != nil {
		return fmt.Errorf("%w: %w", ordering.ErrGatewayPermanent, err)
	}
	p.refunded = sum
	g.refunds[r.IdempotencyKey] = r.ChargeKey
	return nil
}

// Charges returns how often chargeKey was captured: 0 or 1, never more.
// (A voided key whose capture was refunded still counts its capture.)
func (g *Gateway) Charges(chargeKey string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[chargeKey]
	if !ok {
		return 0
	}
	if p.state == stateCaptured || !p.refunded.IsZero() {
		return 1
	}
	return 0
}

// TotalCharges returns the number of keys captured.
func (g *Gateway) TotalCharges() int {
	g.mu.Lock()
	keys := make([]string, 0, len(g.payments))
	for k := range g.payments {
		keys = append(keys, k)
	}
	g.mu.Unlock()
	n := 0
	for _, k := range keys {
		n += g.Charges(k)
	}
	return n
}

// Attempts returns how often Charge was called with chargeKey.
func (g *Gateway) Attempts(chargeKey string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.payments[chargeKey]; ok {
		return p.attempts
	}
	return 0
}

// Refunded returns the amount refunded for chargeKey (the zero Money when
// none).
func (g *Gateway) Refunded(chargeKey string) money.Money {
	g.mu.Lock()
	defer g.mu.Unlock()
	if p, ok := g.payments[chargeKey]; ok {
		return p.refunded
	}
	return money.Money{}
}

// Voided reports whether chargeKey was voided.
func (g *Gateway) Voided(chargeKey string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.payments[chargeKey]
	return ok && p.state == stateVoided
}
