package ordering_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/identity"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

func TestPlaceOrder(t *testing.T) {
	w := newWorld(t)
	v, err := w.svc.PlaceOrder(ctxOf(alice), ordering.PlaceOrderInput{RequestID: reqID(1), Address: homeAddress, PaymentToken: "tok_ok"})
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != ordering.StatusPending || v.UserID != "alice" || v.Version != 1 || len(v.Lines) != 2 {
		t.Fatalf("view = %+v", v)
	}
	// 2 × 12.99 + 1 × 7.99 (the sale price the catalog reports).
	if v.Total.Minor() != 2*1299+799 || v.Total.Currency() != "EUR" || v.Lines[1].UnitPrice.Minor() != 799 {
		t.Fatalf("total %v, lines %+v", v.Total, v.Lines)
	}
	if got := w.store.eventNames(); !reflect.DeepEqual(got, []string{"OrderPlaced"}) {
		t.Fatalf("events %v", got)
	}
	placed := w.store.events[0].(ordering.OrderPlaced)
	if placed.Buyer != (ordering.Buyer{UserID: "alice", Email: "alice@example.com", Name: "Alice A"}) || placed.Version != 1 || placed.Total != v.Total {
		t.Fatalf("OrderPlaced = %+v", placed)
	}
	o := w.order(t, v.ID)
	if h := o.History(); len(h) != 1 || h[0].To != ordering.StatusPending || h[0].Actor != (ordering.Actor{Kind: ordering.ActorCustomer, ID: "alice"}) {
		t.Fatalf("history %+v", h)
	}
	if !o.Deadline().Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("deadline %v, want the stock timeout", o.Deadline())
	}
}

func TestPlaceOrderRefusals(t *testing.T) {
	tests := []struct {
		name      string
		basket    []ordering.BasketLine
		mod       func(*ordering.PlaceOrderInput)
		ctx       context.Context
		wantErr   error
		wantField string
	}{
		{name: "anonymous", ctx: context.Background(), wantErr: failure.ErrUnauthenticated},
		{name: "empty basket", basket: []ordering.BasketLine{}, wantErr: failure.ErrFailedPrecondition},
		{name: "deleted book", basket: []ordering.BasketLine{{BookID: bookA, Quantity: 1}, {BookID: bookGone, Quantity: 1}}, wantErr: failure.ErrFailedPrecondition},
		{name: "unknown book", basket: []ordering.BasketLine{{BookID: missing, Quantity: 1}}, wantErr: failure.ErrFailedPrecondition},
		{name: "out of stock", basket: []ordering.BasketLine{{BookID: bookOut, Quantity: 1}}, wantErr: failure.ErrFailedPrecondition},
		{name: "two currencies", basket: []ordering.BasketLine{{BookID: bookA, Quantity: 1}, {BookID: bookUSD, Quantity: 1}}, wantErr: failure.ErrFailedPrecondition},
		{name: "request id not a uuid", mod: func(in *ordering.PlaceOrderInput) { in.RequestID = "abc" }, wantErr: failure.ErrInvalid, wantField: "request_id"},
		{name: "bad country", mod: func(in *ordering.PlaceOrderInput) { in.Address.Country = "ZZ" }, wantErr: failure.ErrInvalid, wantField: "shipping_address.country_code"},
		{name: "no address", mod: func(in *ordering.PlaceOrderInput) { in.Address = ordering.AddressFields{} }, wantErr: failure.ErrInvalid, wantField: "shipping_address.name"},
		{name: "no token", mod: func(in *ordering.PlaceOrderInput) { in.PaymentToken = "" }, wantErr: failure.ErrInvalid, wantField: "payment_method_token"},
		{name: "long token", mod: func(in *ordering.PlaceOrderInput) { in.PaymentToken = strings.Repeat("t", 256) }, wantErr: failure.ErrInvalid, wantField: "payment_method_token"},
		{name: "token with a newline", mod: func(in *ordering.PlaceOrderInput) { in.PaymentToken = "tok_\nsecret" }, wantErr: failure.ErrInvalid, wantField: "payment_method_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			if tt.basket != nil {
				w.baskets.lines["alice"] = tt.basket
			}
			in := ordering.PlaceOrderInput{RequestID: reqID(1), Address: homeAddress, PaymentToken: "tok_ok"}
			if tt.mod != nil {
				tt.mod(&in)
			}
			ctx := tt.ctx
			if ctx == nil {
				ctx = ctxOf(alice)
			}
			_, err := w.svc.PlaceOrder(ctx, in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantField != "" {
				var ve *failure.ValidationError
				if !errors.As(err, &ve) || ve.Violations[0].Field != tt.wantField {
					t.Fatalf("err = %v, want a violation of %s", err, tt.wantField)
				}
			}
			if strings.Contains(errString(err), "tok_") || strings.Contains(errString(err), "ttttt") {
				t.Fatalf("error echoes the payment token: %v", err)
			}
			if w.store.count() != 0 {
				t.Fatal("a refused PlaceOrder stored an order")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestPlaceOrderIdempotency(t *testing.T) {
	w := newWorld(t)
	ctx := ctxOf(alice)
	in := ordering.PlaceOrderInput{RequestID: reqID(7), Address: homeAddress, PaymentToken: "tok_ok"}
	first, err := w.svc.PlaceOrder(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	// The saga confirms the order; the retry still gets the original answer.
	if err := w.svc.OnStockReserved(context.Background(), first.ID); err != nil {
		t.Fatal(err)
	}
	w.clock.advance(time.Hour)
	again, err := w.svc.PlaceOrder(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Fatalf("retry answered %+v, first %+v", again, first)
	}
	if w.store.count() != 1 || w.gw.chargesOf(first.ID) != 1 {
		t.Fatalf("%d orders, %d charges; want 1 and 1", w.store.count(), w.gw.chargesOf(first.ID))
	}
	// Same id, another address: refused, clearly.
	other := in
	other.Address.City = "Hamburg"
	if _, err := w.svc.PlaceOrder(ctx, other); !errors.Is(err, ordering.ErrRequestIDReused) || !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("different request = %v, want ErrRequestIDReused", err)
	}
	// Same id, another token: refused too.
	other = in
	other.PaymentToken = "tok_declined"
	if _, err := w.svc.PlaceOrder(ctx, other); !errors.Is(err, ordering.ErrRequestIDReused) {
		t.Fatalf("different token = %v, want ErrRequestIDReused", err)
	}
	// Request ids are per user: bob's order with alice's id is his own.
	bobs, err := w.svc.PlaceOrder(ctxOf(bob), in)
	if err != nil || bobs.ID == first.ID || bobs.UserID != "bob" {
		t.Fatalf("bob's PlaceOrder = %+v, %v", bobs, err)
	}
}

// TestPlaceOrderRace: 20 calls with one request id at once. The fake store
// holds every Create until all 20 passed FindByRequest, so they all race on
// Create, whose uniqueness (the real store's unique key) must pick one.
func TestPlaceOrderRace(t *testing.T) {
	w := newWorld(t)
	gate := make(chan struct{})
	w.store.createGate = gate
	in := ordering.PlaceOrderInput{RequestID: reqID(9), Address: homeAddress, PaymentToken: "tok_ok"}
	const n = 20
	views := make([]ordering.View, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			views[i], errs[i] = w.svc.PlaceOrder(ctxOf(alice), in)
		}()
	}
	// Every caller is past FindByRequest when it blocks on the gate.
	time.Sleep(50 * time.Millisecond)
	close(gate)
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		if !reflect.DeepEqual(views[i], views[0]) {
			t.Fatalf("call %d answered %+v, call 0 %+v", i, views[i], views[0])
		}
	}
	if w.store.count() != 1 {
		t.Fatalf("%d orders, want 1", w.store.count())
	}
	if got := w.store.eventNames(); len(got) != 1 {
		t.Fatalf("events %v, want one OrderPlaced", got)
	}
	for range 3 { // redelivered StockReserved
		if err := w.svc.OnStockReserved(context.Background(), views[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	if c := w.gw.chargesOf(views[0].ID); c != 1 {
		t.Fatalf("%d charges, want 1", c)
	}
}

func statusOf(t *testing.T, w *world, id string) ordering.Status {
	t.Helper()
	return w.order(t, id).Status()
}

// TestSagaPaths drives the saga for each payment token.
func TestSagaPaths(t *testing.T) {
	tests := []struct {
		token       string
		wantStatus  ordering.Status
		wantReason  ordering.Reason
		wantCharges int
		wantEvents  []string
	}{
		{"tok_ok", ordering.StatusConfirmed, ordering.ReasonNone, 1, []string{"OrderPlaced", "PaymentSucceeded", "OrderConfirmed"}},
		{"tok_declined", ordering.StatusFailed, ordering.ReasonPaymentDeclined, 0, []string{"OrderPlaced", "PaymentFailed", "OrderFailed"}},
		{"tok_funds", ordering.StatusFailed, ordering.ReasonInsufficientFunds, 0, []string{"OrderPlaced", "PaymentFailed", "OrderFailed"}},
		{"tok_bad", ordering.StatusFailed, ordering.ReasonPaymentError, 0, []string{"OrderPlaced", "PaymentFailed", "OrderFailed"}},
		{"tok_3ds", ordering.StatusAwaitingPayment, ordering.ReasonNone, 0, []string{"OrderPlaced", "PaymentActionRequired"}},
		// The redelivered StockReserved charges again: the second try works.
		{"tok_flaky", ordering.StatusConfirmed, ordering.ReasonNone, 1, []string{"OrderPlaced", "PaymentSucceeded", "OrderConfirmed"}},
	}
	for _, tt := range tests {
		t.Run(tt.token, func(t *testing.T) {
			w := newWorld(t)
			id := w.place(t, alice, tt.token)
			for range 2 { // once and redelivered
				if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			o := w.order(t, id)
			if o.Status() != tt.wantStatus || o.Failure().Reason != tt.wantReason {
				t.Fatalf("status %v reason %v, want %v %v", o.Status(), o.Failure().Reason, tt.wantStatus, tt.wantReason)
			}
			if c := w.gw.chargesOf(id); c != tt.wantCharges {
				t.Fatalf("%d charges, want %d", c, tt.wantCharges)
			}
			if got := w.store.eventNames(); !reflect.DeepEqual(got, tt.wantEvents) {
				t.Fatalf("events %v, want %v", got, tt.wantEvents)
			}
		})
	}
}

func TestFlakyGatewayIsRetriedBySweeper(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_flaky")
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusStockReserved || o.Attempts() != 1 {
		t.Fatalf("after a temporary error: %v, %d attempts", o.Status(), o.Attempts())
	}
	// Not due yet: the sweeper leaves it alone.
	if n, _ := w.svc.ResumeStuck(context.Background(), w.clock.Now(), 10); n != 0 {
		t.Fatalf("sweeper took %d orders before the deadline", n)
	}
	now := w.clock.advance(5 * time.Second)
	if n, err := w.svc.ResumeStuck(context.Background(), now, 10); n != 1 || err != nil {
		t.Fatalf("ResumeStuck = %d, %v", n, err)
	}
	if s := statusOf(t, w, id); s != ordering.StatusConfirmed || w.gw.chargesOf(id) != 1 {
		t.Fatalf("after the retry: %v, %d charges", s, w.gw.chargesOf(id))
	}
}

func TestGatewayDownFailsAndVoids(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_down")
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10 && statusOf(t, w, id) == ordering.StatusStockReserved; i++ {
		now := w.clock.advance(time.Hour)
		if _, err := w.svc.ResumeStuck(context.Background(), now, 10); err != nil {
			t.Fatal(err)
		}
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusFailed || o.Failure().Reason != ordering.ReasonPaymentTimeout {
		t.Fatalf("%v %v, want FAILED payment_timeout", o.Status(), o.Failure().Reason)
	}
	if o.Compensation() != ordering.CompensationVoided || !w.gw.voided[ordering.ChargeKey(id)] {
		t.Fatalf("compensation %v, voided %v", o.Compensation(), w.gw.voided)
	}
	if !o.Deadline().IsZero() {
		t.Fatal("a settled failed order still has a deadline")
	}
	if got := w.gw.calls[ordering.ChargeKey(id)]; got != 4 {
		t.Fatalf("%d charge attempts, want the policy's 4", got)
	}
}

func TestStockRejected(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_ok")
	for range 2 {
		if err := w.svc.OnStockRejected(context.Background(), id, ordering.ReasonOutOfStock, []string{bookSale}); err != nil {
			t.Fatal(err)
		}
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusFailed || o.Failure().Reason != ordering.ReasonOutOfStock || !reflect.DeepEqual(o.Failure().BookIDs, []string{bookSale}) {
		t.Fatalf("%v %+v", o.Status(), o.Failure())
	}
	if got := w.store.eventNames(); !reflect.DeepEqual(got, []string{"OrderPlaced", "OrderFailed"}) {
		t.Fatalf("events %v", got)
	}
	if w.store.events[1].(ordering.OrderFailed).ReleaseStock {
		t.Fatal("a rejected reservation asks the catalog to release stock")
	}
	// A late, contradictory StockReserved neither revives nor charges it.
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if s := statusOf(t, w, id); s != ordering.StatusFailed || len(w.gw.calls) != 0 {
		t.Fatalf("late reservation: %v, gateway calls %v", s, w.gw.calls)
	}
}

func TestStockTimeout(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_ok")
	var placed int
	for i := 0; i < 10 && statusOf(t, w, id) == ordering.StatusPending; i++ {
		now := w.clock.advance(31 * time.Second)
		if _, err := w.svc.ResumeStuck(context.Background(), now, 10); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range w.store.eventNames() {
		if n == "OrderPlaced" {
			placed++
		}
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusFailed || o.Failure().Reason != ordering.ReasonStockTimeout {
		t.Fatalf("%v %v", o.Status(), o.Failure().Reason)
	}
	if placed != 3 {
		t.Fatalf("OrderPlaced sent %d times, want 3 (the first and 2 retries)", placed)
	}
	last := w.store.events[len(w.store.events)-1].(ordering.OrderFailed)
	if !last.ReleaseStock {
		t.Fatal("a stock timeout must release what the catalog may have reserved late")
	}
}

func TestThreeDSecure(t *testing.T) {
	t.Run("completed, reported by webhook", func(t *testing.T) {
		w := newWorld(t)
		id := w.place(t, alice, "tok_3ds")
		if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		v, err := w.svc.GetOrder(ctxOf(alice), id)
		if err != nil || v.Status != ordering.StatusAwaitingPayment || v.Action.ClientSecret != "pi_3_secret" {
			t.Fatalf("owner's view = %+v, %v", v, err)
		}
		if v, _ := w.svc.GetOrder(ctxOf(admin), id); v.Action.ClientSecret != "" {
			t.Fatal("admin sees the client secret")
		}
		r := w.gw.complete3DS(ordering.ChargeKey(id), true)
		for range 2 { // the webhook is redelivered
			if err := w.svc.OnPaymentUpdate(context.Background(), id, r); err != nil {
				t.Fatal(err)
			}
		}
		if s := statusOf(t, w, id); s != ordering.StatusConfirmed || w.gw.chargesOf(id) != 1 {
			t.Fatalf("%v, %d charges", s, w.gw.chargesOf(id))
		}
	})
	t.Run("completed, webhook lost, sweeper asks", func(t *testing.T) {
		w := newWorld(t)
		id := w.place(t, alice, "tok_3ds")
		if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		w.gw.complete3DS(ordering.ChargeKey(id), true)
		now := w.clock.advance(16 * time.Minute)
		if _, err := w.svc.ResumeStuck(context.Background(), now, 10); err != nil {
			t.Fatal(err)
		}
		if s := statusOf(t, w, id); s != ordering.StatusConfirmed {
			t.Fatalf("%v, want CONFIRMED", s)
		}
	})
	t.Run("abandoned", func(t *testing.T) {
		w := newWorld(t)
		id := w.place(t, alice, "tok_3ds")
		if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		now := w.clock.advance(16 * time.Minute)
		if _, err := w.svc.ResumeStuck(context.Background(), now, 10); err != nil {
			t.Fatal(err)
		}
		o := w.order(t, id)
		if o.Status() != ordering.StatusFailed || o.Failure().Reason != ordering.ReasonPaymentActionFailed || o.Compensation() != ordering.CompensationVoided {
			t.Fatalf("%v %v %v", o.Status(), o.Failure().Reason, o.Compensation())
		}
		if o.PaymentAction().ClientSecret != "" {
			t.Fatal("a failed order keeps its client secret")
		}
	})
	t.Run("authentication failed", func(t *testing.T) {
		w := newWorld(t)
		id := w.place(t, alice, "tok_3ds")
		if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
			t.Fatal(err)
		}
		r := w.gw.complete3DS(ordering.ChargeKey(id), false)
		if err := w.svc.OnPaymentUpdate(context.Background(), id, r); err != nil {
			t.Fatal(err)
		}
		o := w.order(t, id)
		if o.Status() != ordering.StatusFailed || o.Failure().Reason != ordering.ReasonPaymentActionFailed {
			t.Fatalf("%v %v", o.Status(), o.Failure().Reason)
		}
	})
}

func TestCancelOrder(t *testing.T) {
	tests := []struct {
		name       string
		token      string
		step       string // where the order is: pending, reserved, confirmed, shipped
		who        identity.Principal
		wantErr    error
		wantRefund int64
		wantVoid   bool
	}{
		{name: "owner while pending", token: "tok_ok", step: "pending", who: alice},
		{name: "owner while confirmed refunds", token: "tok_ok", step: "confirmed", who: alice, wantRefund: 2*1299 + 799},
		{name: "owner while payment in flight", token: "tok_flaky", step: "reserved", who: alice, wantErr: failure.ErrFailedPrecondition},
		{name: "admin while payment in flight voids", token: "tok_flaky", step: "reserved", who: admin, wantVoid: true},
		{name: "owner while awaiting 3-D Secure voids", token: "tok_3ds", step: "reserved", who: alice, wantVoid: true},
		{name: "admin while confirmed refunds", token: "tok_ok", step: "confirmed", who: admin, wantRefund: 2*1299 + 799},
		{name: "admin after shipping", token: "tok_ok", step: "shipped", who: admin, wantErr: failure.ErrFailedPrecondition},
		{name: "owner after shipping", token: "tok_ok", step: "shipped", who: alice, wantErr: failure.ErrFailedPrecondition},
		{name: "another user", token: "tok_ok", step: "pending", who: bob, wantErr: failure.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			id := w.place(t, alice, tt.token)
			if tt.step != "pending" {
				if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			if tt.step == "shipped" {
				if _, err := w.svc.ShipOrder(ctxOf(admin), id, ""); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // a retried cancel changes nothing more
				v, err := w.svc.CancelOrder(ctxOf(tt.who), id, "changed my mind")
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					return
				}
				if err != nil || v.Status != ordering.StatusCancelled {
					t.Fatalf("CancelOrder = %v, %v", v.Status, err)
				}
			}
			refund := w.gw.refunds[ordering.RefundKey(id)]
			if refund.Minor() != tt.wantRefund || w.gw.voided[ordering.ChargeKey(id)] != tt.wantVoid {
				t.Fatalf("refund %v, voided %v; want %d, %v", refund, w.gw.voided, tt.wantRefund, tt.wantVoid)
			}
			var cancelled int
			for _, e := range w.store.events {
				if c, ok := e.(ordering.OrderCancelled); ok {
					cancelled++
					if !c.ReleaseStock || c.Refund.Minor() != tt.wantRefund {
						t.Fatalf("OrderCancelled = %+v", c)
					}
				}
			}
			if cancelled != 1 {
				t.Fatalf("%d OrderCancelled events, want 1", cancelled)
			}
			if c := w.order(t, id).Compensation(); c.Due() {
				t.Fatalf("compensation still due: %v", c)
			}
		})
	}
}

// TestChargeLandingOnCancelledOrderIsRefunded: an admin cancels while the
// gateway still works on the charge; when the charge lands, it is refunded.
func TestChargeLandingOnCancelledOrderIsRefunded(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_flaky")
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	w.gw.voidErrs = 1 // the void is lost; the charge goes through meanwhile
	if _, err := w.svc.CancelOrder(ctxOf(admin), id, ""); err != nil {
		t.Fatal(err)
	}
	if err := w.svc.OnPaymentUpdate(context.Background(), id, ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "pay_x"}); err != nil {
		t.Fatal(err)
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusCancelled || o.Compensation() != ordering.CompensationRefunded {
		t.Fatalf("%v %v", o.Status(), o.Compensation())
	}
	if r := w.gw.refunds[ordering.RefundKey(id)]; r.Minor() != 2*1299+799 {
		t.Fatalf("refund %v", r)
	}
}

func TestRefundRetriedBySweeper(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_ok")
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	w.gw.refundErrs = 2
	v, err := w.svc.CancelOrder(ctxOf(alice), id, "")
	if err != nil || v.Status != ordering.StatusCancelled {
		t.Fatalf("CancelOrder = %v, %v (a gateway hiccup must not undo the cancellation)", v.Status, err)
	}
	if c := w.order(t, id).Compensation(); c != ordering.CompensationRefundDue {
		t.Fatalf("compensation %v, want refund due", c)
	}
	for range 3 {
		now := w.clock.advance(time.Hour)
		_, _ = w.svc.ResumeStuck(context.Background(), now, 10)
	}
	if c := w.order(t, id).Compensation(); c != ordering.CompensationRefunded || len(w.gw.refunds) != 1 {
		t.Fatalf("compensation %v, refunds %v", c, w.gw.refunds)
	}
}

func TestShipAndComplete(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_ok")
	if _, err := w.svc.ShipOrder(ctxOf(admin), id, ""); !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("ship a pending order = %v", err)
	}
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.ShipOrder(ctxOf(alice), id, ""); !errors.Is(err, failure.ErrPermissionDenied) {
		t.Fatalf("customer ships = %v", err)
	}
	if _, err := w.svc.CompleteOrder(ctxOf(admin), id); !errors.Is(err, failure.ErrFailedPrecondition) {
		t.Fatalf("complete a confirmed order = %v", err)
	}
	for range 2 {
		if v, err := w.svc.ShipOrder(ctxOf(admin), id, "TRACK-1"); err != nil || v.Status != ordering.StatusShipped {
			t.Fatalf("ShipOrder = %v, %v", v.Status, err)
		}
	}
	if _, err := w.svc.CompleteOrder(ctxOf(bob), id); !errors.Is(err, failure.ErrPermissionDenied) {
		t.Fatalf("customer completes = %v", err)
	}
	for range 2 {
		if v, err := w.svc.CompleteOrder(ctxOf(admin), id); err != nil || v.Status != ordering.StatusCompleted {
			t.Fatalf("CompleteOrder = %v, %v", v.Status, err)
		}
	}
	if _, err := w.svc.ShipOrder(ctxOf(admin), missing, ""); !errors.Is(err, failure.ErrNotFound) {
		t.Fatalf("ship a missing order = %v", err)
	}
	if _, err := w.svc.ShipOrder(ctxOf(admin), id, strings.Repeat("t", 101)); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("long tracking number = %v", err)
	}
	h, err := w.svc.GetOrderHistory(ctxOf(alice), id)
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, e := range h {
		path = append(path, e.From.String()+"→"+e.To.String())
	}
	want := []string{"UNSPECIFIED→PENDING", "PENDING→STOCK_RESERVED", "STOCK_RESERVED→CONFIRMED", "CONFIRMED→SHIPPED", "SHIPPED→COMPLETED"}
	if !reflect.DeepEqual(path, want) {
		t.Fatalf("history %v, want %v", path, want)
	}
	if h[3].Actor != (ordering.Actor{Kind: ordering.ActorAdmin, ID: "root"}) || !strings.Contains(h[3].Reason, "TRACK-1") {
		t.Fatalf("ship entry %+v", h[3])
	}
}

// TestAnotherUsersOrderIsNotFound: for every read and write a customer can
// call, another user's order is the same error as a missing one.
func TestAnotherUsersOrderIsNotFound(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_ok")
	calls := map[string]func(string) error{
		"GetOrder":        func(x string) error { _, err := w.svc.GetOrder(ctxOf(bob), x); return err },
		"GetOrderHistory": func(x string) error { _, err := w.svc.GetOrderHistory(ctxOf(bob), x); return err },
		"CancelOrder":     func(x string) error { _, err := w.svc.CancelOrder(ctxOf(bob), x, ""); return err },
		"WatchOrder": func(x string) error {
			return w.svc.WatchOrder(ctxOf(bob), x, func(ordering.View) error { return nil })
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			errOther, errMissing := call(id), call(missing)
			if !errors.Is(errOther, failure.ErrNotFound) || !errors.Is(errMissing, failure.ErrNotFound) {
				t.Fatalf("other: %v, missing: %v", errOther, errMissing)
			}
			if strings.Replace(errOther.Error(), id, "X", 1) != strings.Replace(errMissing.Error(), missing, "X", 1) {
				t.Fatalf("messages differ: %q vs %q", errOther, errMissing)
			}
		})
	}
	if _, err := w.svc.GetOrder(ctxOf(admin), id); err != nil {
		t.Fatalf("admin GetOrder: %v", err)
	}
	if _, err := w.svc.GetOrder(ctxOf(alice), "not-a-uuid"); !errors.Is(err, failure.ErrInvalid) {
		t.Fatalf("bad id: %v", err)
	}
	if _, err := w.svc.GetOrder(context.Background(), id); !errors.Is(err, failure.ErrUnauthenticated) {
		t.Fatalf("anonymous: %v", err)
	}
}

func TestListOrders(t *testing.T) {
	w := newWorld(t)
	var alices []string
	for range 3 {
		alices = append(alices, w.place(t, alice, "tok_ok"))
		w.clock.advance(time.Minute)
	}
	bobs := w.place(t, bob, "tok_ok")
	if err := w.svc.OnStockReserved(context.Background(), alices[0]); err != nil {
		t.Fatal(err)
	}
	ids := func(p ordering.ViewPage) []string {
		var out []string
		for _, v := range p.Orders {
			out = append(out, v.ID)
		}
		return out
	}
	tests := []struct {
		name    string
		who     identity.Principal
		in      ordering.ListOrdersInput
		want    []string
		wantErr error
	}{
		{name: "own, newest first", who: alice, want: []string{alices[2], alices[1], alices[0]}},
		{name: "own, explicitly", who: alice, in: ordering.ListOrdersInput{UserID: "alice"}, want: []string{alices[2], alices[1], alices[0]}},
		{name: "another user's", who: alice, in: ordering.ListOrdersInput{UserID: "bob"}, wantErr: failure.ErrPermissionDenied},
		{name: "by status", who: alice, in: ordering.ListOrdersInput{Statuses: []ordering.Status{ordering.StatusConfirmed}}, want: []string{alices[0]}},
		{name: "page of two", who: alice, in: ordering.ListOrdersInput{PageSize: 2}, want: []string{alices[2], alices[1]}},
		{name: "admin sees all", who: admin, want: []string{bobs, alices[2], alices[1], alices[0]}},
		{name: "admin filters by user", who: admin, in: ordering.ListOrdersInput{UserID: "bob"}, want: []string{bobs}},
		{name: "admin by time range", who: admin, in: ordering.ListOrdersInput{CreatedFrom: t0.Add(time.Minute), CreatedBefore: t0.Add(2 * time.Minute)}, want: []string{alices[1]}},
		{name: "empty range", who: admin, in: ordering.ListOrdersInput{CreatedFrom: t0, CreatedBefore: t0}, wantErr: failure.ErrInvalid},
		{name: "page size 101", who: alice, in: ordering.ListOrdersInput{PageSize: 101}, wantErr: failure.ErrInvalid},
		{name: "negative page size", who: alice, in: ordering.ListOrdersInput{PageSize: -1}, wantErr: failure.ErrInvalid},
		{name: "undefined status", who: alice, in: ordering.ListOrdersInput{Statuses: []ordering.Status{42}}, wantErr: failure.ErrInvalid},
		{name: "long page token", who: alice, in: ordering.ListOrdersInput{PageToken: strings.Repeat("x", 1025)}, wantErr: failure.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := w.svc.ListOrders(ctxOf(tt.who), tt.in)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("ids %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchOrder(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_3ds")
	ctx, cancel := context.WithTimeout(ctxOf(alice), 5*time.Second)
	defer cancel()
	got := make(chan ordering.View, 16)
	done := make(chan error, 1)
	go func() {
		done <- w.svc.WatchOrder(ctx, id, func(v ordering.View) error { got <- v; return nil })
	}()
	next := func() ordering.View {
		t.Helper()
		select {
		case v := <-got:
			return v
		case <-ctx.Done():
			t.Fatal("no update")
		}
		return ordering.View{}
	}
	if v := next(); v.Status != ordering.StatusPending {
		t.Fatalf("first message %v, want the current state", v.Status)
	}
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	// Two changes in quick succession may arrive as one message; versions
	// only grow and the stream ends at a terminal status.
	var statuses []ordering.Status
	for {
		v := next()
		statuses = append(statuses, v.Status)
		if v.Status == ordering.StatusAwaitingPayment {
			if v.Action.ClientSecret == "" {
				t.Fatal("the owner's stream lacks the client secret")
			}
			break
		}
	}
	if _, err := w.svc.CancelOrder(ctxOf(alice), id, ""); err != nil {
		t.Fatal(err)
	}
	if v := next(); v.Status != ordering.StatusCancelled {
		t.Fatalf("last message %v", v.Status)
	}
	if err := <-done; err != nil {
		t.Fatalf("WatchOrder = %v, want nil at a terminal status", err)
	}
	// A client that leaves ends the stream cleanly.
	id2 := w.place(t, alice, "tok_ok")
	ctx2, cancel2 := context.WithCancel(ctxOf(alice))
	done2 := make(chan error, 1)
	go func() { done2 <- w.svc.WatchOrder(ctx2, id2, func(ordering.View) error { return nil }) }()
	time.Sleep(10 * time.Millisecond)
	cancel2()
	select {
	case err := <-done2:
		if err != nil {
			t.Fatalf("WatchOrder after the client left = %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("WatchOrder did not end when the client left")
	}
}

// TestLostVoidIsRetried: the void after an abandoned 3-D Secure payment
// fails once; the sweep that failed the order reports no error (nothing a
// redelivery would cure) and the next sweep voids.
func TestLostVoidIsRetried(t *testing.T) {
	w := newWorld(t)
	id := w.place(t, alice, "tok_3ds")
	if err := w.svc.OnStockReserved(context.Background(), id); err != nil {
		t.Fatal(err)
	}
	w.gw.voidErrs = 1
	now := w.clock.advance(16 * time.Minute)
	if n, err := w.svc.ResumeStuck(context.Background(), now, 10); n != 1 || err != nil {
		t.Fatalf("ResumeStuck = %d, %v", n, err)
	}
	o := w.order(t, id)
	if o.Status() != ordering.StatusFailed || o.Compensation() != ordering.CompensationVoidDue || !o.Deadline().After(now) {
		t.Fatalf("%v %v deadline %v", o.Status(), o.Compensation(), o.Deadline())
	}
	now = w.clock.advance(time.Minute)
	if n, err := w.svc.ResumeStuck(context.Background(), now, 10); n != 1 || err != nil {
		t.Fatalf("second ResumeStuck = %d, %v", n, err)
	}
	if c := w.order(t, id).Compensation(); c != ordering.CompensationVoided {
		t.Fatalf("compensation %v", c)
	}
	// Settled: nothing is due any more.
	if n, _ := w.svc.ResumeStuck(context.Background(), w.clock.advance(24*time.Hour), 10); n != 0 {
		t.Fatalf("a settled order is still due (%d)", n)
	}
}

func TestResumeStuckHonoursLimit(t *testing.T) {
	w := newWorld(t)
	for range 5 {
		w.place(t, alice, "tok_ok")
	}
	now := w.clock.advance(time.Minute)
	if n, err := w.svc.ResumeStuck(context.Background(), now, 2); n != 2 || err != nil {
		t.Fatalf("ResumeStuck = %d, %v; want 2", n, err)
	}
}
