package simulated_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/adapters/payment/simulated"
	"github.com/bookworm-store/bookworm/internal/core/money"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

func eur(t *testing.T, minor int64) money.Money {
	t.Helper()
	m, err := money.New("EUR", minor)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func charge(t *testing.T, g *simulated.Gateway, key, token string) (ordering.ChargeResult, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	return g.Charge(ctx, ordering.ChargeRequest{IdempotencyKey: key, OrderID: "o1", Amount: eur(t, 2599), PaymentToken: token})
}

func TestTokens(t *testing.T) {
	tests := []struct {
		token       string
		want        ordering.ChargeOutcome
		wantErr     error
		wantCharges int
	}{
		{simulated.TokenSuccess, ordering.ChargeSucceeded, nil, 1},
		{simulated.TokenDeclined, ordering.ChargeDeclined, nil, 0},
		{simulated.TokenInsufficientFunds, ordering.ChargeInsufficientFunds, nil, 0},
		{simulated.Token3DS, ordering.ChargeRequiresAction, nil, 0},
		{simulated.TokenFlaky, 0, ordering.ErrGatewayTemporary, 0},
		{simulated.TokenTimeout, 0, ordering.ErrGatewayTemporary, 0},
		{"tok_unknown_secret", 0, ordering.ErrGatewayPermanent, 0},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			g := simulated.New()
			res, err := charge(t, g, "k1", tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), tt.token) {
					t.Fatalf("error %q names the token", err)
				}
			} else if err != nil || res.Outcome != tt.want || res.PaymentID == "" {
				t.Fatalf("Charge = %+v, %v; want outcome %v", res, err, tt.want)
			}
			if tt.want == ordering.ChargeRequiresAction && !strings.Contains(res.ClientSecret, "_secret_") {
				t.Fatalf("client secret %q", res.ClientSecret)
			}
			if c := g.Charges("k1"); c != tt.wantCharges {
				t.Fatalf("Charges = %d, want %d", c, tt.wantCharges)
			}
		})
	}
}

func TestFlakySucceedsOnRetry(t *testing.T) {
	g := simulated.New()
	if _, err := charge(t, g, "k", simulated.TokenFlaky); !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("first = %v", err)
	}
	res, err := charge(t, g, "k", simulated.TokenFlaky)
	if err != nil || res.Outcome != ordering.ChargeSucceeded {
		t.Fatalf("retry = %+v, %v", res, err)
	}
	if g.Charges("k") != 1 || g.Attempts("k") != 2 {
		t.Fatalf("charges %d attempts %d", g.Charges("k"), g.Attempts("k"))
	}
	// Another key fails once again: flakiness is per key.
	if _, err := charge(t, g, "k2", simulated.TokenFlaky); !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("new key = %v", err)
	}
}

func TestTimeoutAnswersOnlyAtTheDeadline(t *testing.T) {
	g := simulated.New()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	_, err := g.Charge(ctx, ordering.ChargeRequest{IdempotencyKey: "k", Amount: eur(t, 1), PaymentToken: simulated.TokenTimeout})
	if !errors.Is(err, ordering.ErrGatewayTemporary) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	if d := time.Since(start); d < 80*time.Millisecond {
		t.Fatalf("answered after %v, before the deadline", d)
	}
}

// TestSameKeyChargesOnce: 50 concurrent charges with one key capture once
// and all see the same payment.
func TestSameKeyChargesOnce(t *testing.T) {
	g := simulated.New(simulated.WithLatency(time.Millisecond))
	var wg sync.WaitGroup
	ids := make([]string, 50)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := charge(t, g, "k", simulated.TokenSuccess)
			if err != nil || res.Outcome != ordering.ChargeSucceeded {
				t.Errorf("Charge = %+v, %v", res, err)
			}
			ids[i] = res.PaymentID
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("payment ids differ: %v", ids)
		}
	}
	if g.Charges("k") != 1 || g.TotalCharges() != 1 || g.Attempts("k") != 50 {
		t.Fatalf("charges %d total %d attempts %d", g.Charges("k"), g.TotalCharges(), g.Attempts("k"))
	}
}

func TestKeyReusedWithOtherParameters(t *testing.T) {
	g := simulated.New()
	if _, err := charge(t, g, "k", simulated.TokenSuccess); err != nil {
		t.Fatal(err)
	}
	_, err := g.Charge(context.Background(), ordering.ChargeRequest{IdempotencyKey: "k", Amount: eur(t, 1), PaymentToken: simulated.TokenSuccess})
	if !errors.Is(err, ordering.ErrGatewayPermanent) || g.Charges("k") != 1 {
		t.Fatalf("err = %v, charges %d", err, g.Charges("k"))
	}
	if _, err := g.Charge(context.Background(), ordering.ChargeRequest{IdempotencyKey: "", Amount: eur(t, 1), PaymentToken: simulated.TokenSuccess}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("no key = %v", err)
	}
	if _, err := g.Charge(context.Background(), ordering.ChargeRequest{IdempotencyKey: "z", Amount: eur(t, 0), PaymentToken: simulated.TokenSuccess}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("zero amount = %v", err)
	}
}

func TestThreeDS(t *testing.T) {
	for _, succeed := range []bool{true, false} {
		g := simulated.New()
		first, err := charge(t, g, "k", simulated.Token3DS)
		if err != nil || first.Outcome != ordering.ChargeRequiresAction {
			t.Fatalf("Charge = %+v, %v", first, err)
		}
		again, _ := charge(t, g, "k", simulated.Token3DS)
		if again != first {
			t.Fatalf("asking again = %+v, want the same pending payment %+v", again, first)
		}
		hook, err := g.CompleteAction("k", succeed)
		if err != nil {
			t.Fatal(err)
		}
		after, err := charge(t, g, "k", simulated.Token3DS)
		if err != nil || after != hook {
			t.Fatalf("after the action: %+v, %v; webhook said %+v", after, err, hook)
		}
		want, charges := ordering.ChargeDeclined, 0
		if succeed {
			want, charges = ordering.ChargeSucceeded, 1
		}
		if after.Outcome != want || g.Charges("k") != charges {
			t.Fatalf("succeed=%v: outcome %v charges %d", succeed, after.Outcome, g.Charges("k"))
		}
		if _, err := g.CompleteAction("k", true); !errors.Is(err, simulated.ErrNoAction) {
			t.Fatalf("second CompleteAction = %v", err)
		}
	}
}

func TestVoid(t *testing.T) {
	ctx := context.Background()
	t.Run("before any charge blocks later charges", func(t *testing.T) {
		g := simulated.New()
		for range 2 {
			if err := g.Void(ctx, "k"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := charge(t, g, "k", simulated.TokenSuccess); !errors.Is(err, ordering.ErrGatewayPermanent) || g.Charges("k") != 0 {
			t.Fatalf("charge after void = %v, charges %d", err, g.Charges("k"))
		}
	})
	t.Run("pending 3-D Secure payment", func(t *testing.T) {
		g := simulated.New()
		if _, err := charge(t, g, "k", simulated.Token3DS); err != nil {
			t.Fatal(err)
		}
		if err := g.Void(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, err := g.CompleteAction("k", true); !errors.Is(err, simulated.ErrNoAction) {
			t.Fatalf("completing a voided payment = %v", err)
		}
		if !g.Voided("k") || g.Charges("k") != 0 {
			t.Fatalf("voided %v charges %d", g.Voided("k"), g.Charges("k"))
		}
	})
	t.Run("captured payment is refunded", func(t *testing.T) {
		g := simulated.New()
		if _, err := charge(t, g, "k", simulated.TokenSuccess); err != nil {
			t.Fatal(err)
		}
		if err := g.Void(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if r := g.Refunded("k"); r.Minor() != 2599 {
			t.Fatalf("refunded %v", r)
		}
	})
}

func TestRefund(t *testing.T) {
	ctx := context.Background()
	g := simulated.New()
	if _, err := charge(t, g, "k", simulated.TokenSuccess); err != nil {
		t.Fatal(err)
	}
	req := ordering.RefundRequest{IdempotencyKey: "r", ChargeKey: "k", Amount: eur(t, 2599)}
	for range 3 {
		if err := g.Refund(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if r := g.Refunded("k"); r.Minor() != 2599 {
		t.Fatalf("refunded %v, want once", r)
	}
	if err := g.Refund(ctx, ordering.RefundRequest{IdempotencyKey: "r2", ChargeKey: "k", Amount: eur(t, 1)}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("refund beyond the capture = %v", err)
	}
	if err := g.Refund(ctx, ordering.RefundRequest{IdempotencyKey: "r3", ChargeKey: "nope", Amount: eur(t, 1)}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("refund of nothing = %v", err)
	}
	if err := g.Refund(ctx, ordering.RefundRequest{IdempotencyKey: "r", ChargeKey: "other", Amount: eur(t, 1)}); !errors.Is(err, ordering.ErrGatewayPermanent) {
		t.Fatalf("refund key reused = %v", err)
	}
}

func TestLatencyHonoursCancellation(t *testing.T) {
	g := simulated.New(simulated.WithLatency(time.Hour))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Charge(ctx, ordering.ChargeRequest{IdempotencyKey: "k", Amount: eur(t, 1), PaymentToken: simulated.TokenSuccess}); !errors.Is(err, ordering.ErrGatewayTemporary) {
		t.Fatalf("err = %v", err)
	}
	if g.Charges("k") != 0 {
		t.Fatal("a cancelled call charged")
	}
}

// TestSagaOverTheSimulatedGateway runs ordering's use cases with this
// gateway for the tokens whose outcome needs no customer: the saga ends as
// the package doc promises.
func TestSagaOverTheSimulatedGateway(t *testing.T) {
	tests := []struct {
		token  string
		want   ordering.Status
		reason ordering.Reason
	}{
		{simulated.TokenSuccess, ordering.StatusConfirmed, ordering.ReasonNone},
		{simulated.TokenDeclined, ordering.StatusFailed, ordering.ReasonPaymentDeclined},
		{simulated.TokenInsufficientFunds, ordering.StatusFailed, ordering.ReasonInsufficientFunds},
		{simulated.TokenFlaky, ordering.StatusStockReserved, ordering.ReasonNone},
		{simulated.Token3DS, ordering.StatusAwaitingPayment, ordering.ReasonNone},
		{"tok_nonsense", ordering.StatusFailed, ordering.ReasonPaymentError},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			g := simulated.New()
			o := reservedOrder(t, tt.token)
			res, err := g.Charge(context.Background(), ordering.ChargeRequest{IdempotencyKey: ordering.ChargeKey(o.ID()), Amount: o.Total(), PaymentToken: tt.token})
			switch {
			case errors.Is(err, ordering.ErrGatewayPermanent):
				res = ordering.ChargeResult{Outcome: ordering.ChargeFailed}
			case err != nil:
				o.RetryPaymentLater(time.Now())
			}
			if err == nil || errors.Is(err, ordering.ErrGatewayPermanent) {
				if _, err := o.ApplyCharge(res, time.Now(), time.Now()); err != nil {
					t.Fatal(err)
				}
			}
			if o.Status() != tt.want || o.Failure().Reason != tt.reason {
				t.Fatalf("%v %v, want %v %v", o.Status(), o.Failure().Reason, tt.want, tt.reason)
			}
		})
	}
}

func reservedOrder(t *testing.T, token string) *ordering.Order {
	t.Helper()
	addr, err := ordering.NewAddress(ordering.AddressFields{Name: "A", Lines: []string{"l"}, City: "c", PostalCode: "1", Country: "DE"})
	if err != nil {
		t.Fatal(err)
	}
	l, _ := ordering.NewLine("b1", "B", 1, eur(t, 1000))
	o, _, err := ordering.Place(ordering.PlaceInput{ID: "o1", Buyer: ordering.Buyer{UserID: "u"}, RequestID: "r", Lines: []ordering.Line{l}, Address: addr, PaymentToken: token, Now: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	o.ReserveStock(time.Now(), time.Now())
	return o
}
