package ordering_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bookworm-store/bookworm/internal/core/failure"
	"github.com/bookworm-store/bookworm/internal/core/ordering"
)

func TestNewAddress(t *testing.T) {
	ok := homeAddress
	with := func(f func(*ordering.AddressFields)) ordering.AddressFields {
		a := ok
		a.Lines = append([]string(nil), ok.Lines...)
		f(&a)
		return a
	}
	tests := []struct {
		name      string
		in        ordering.AddressFields
		wantField string
	}{
		{"valid", ok, ""},
		{"three lines and a region", with(func(a *ordering.AddressFields) { a.Lines = []string{"a", "b", "c"}; a.Region = "Berlin" }), ""},
		{"lower-case postal code is upper-cased", with(func(a *ordering.AddressFields) { a.PostalCode = "sw1a 1aa"; a.Country = "GB" }), ""},
		{"empty name", with(func(a *ordering.AddressFields) { a.Name = "  " }), "name"},
		{"long name", with(func(a *ordering.AddressFields) { a.Name = strings.Repeat("n", 101) }), "name"},
		{"control character in name", with(func(a *ordering.AddressFields) { a.Name = "Al\nice" }), "name"},
		{"no lines", with(func(a *ordering.AddressFields) { a.Lines = nil }), "lines"},
		{"four lines", with(func(a *ordering.AddressFields) { a.Lines = []string{"a", "b", "c", "d"} }), "lines"},
		{"empty second line", with(func(a *ordering.AddressFields) { a.Lines = []string{"a", ""} }), "lines[1]"},
		{"long line", with(func(a *ordering.AddressFields) { a.Lines = []string{strings.Repeat("l", 101)} }), "lines[0]"},
		{"empty city", with(func(a *ordering.AddressFields) { a.City = "" }), "city"},
		{"long region", with(func(a *ordering.AddressFields) { a.Region = strings.Repeat("r", 101) }), "region"},
		{"empty postal code", with(func(a *ordering.AddressFields) { a.PostalCode = "" }), "postal_code"},
		{"postal code with symbols", with(func(a *ordering.AddressFields) { a.PostalCode = "10115;" }), "postal_code"},
		{"long postal code", with(func(a *ordering.AddressFields) { a.PostalCode = strings.Repeat("1", 17) }), "postal_code"},
		{"lower-case country", with(func(a *ordering.AddressFields) { a.Country = "de" }), "country_code"},
		{"unassigned country", with(func(a *ordering.AddressFields) { a.Country = "XX" }), "country_code"},
		{"alpha-3 country", with(func(a *ordering.AddressFields) { a.Country = "DEU" }), "country_code"},
		{"no country", with(func(a *ordering.AddressFields) { a.Country = "" }), "country_code"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ordering.NewAddress(tt.in)
			if tt.wantField == "" {
				if err != nil {
					t.Fatalf("NewAddress: %v", err)
				}
				if a.IsZero() {
					t.Fatal("valid address IsZero")
				}
				return
			}
			var ve *failure.ValidationError
			if !errors.As(err, &ve) || ve.Violations[0].Field != tt.wantField {
				t.Fatalf("NewAddress err = %v, want a violation of %q", err, tt.wantField)
			}
		})
	}
}

func TestNewLine(t *testing.T) {
	tests := []struct {
		name    string
		qty     int
		price   int64
		want    int64
		wantErr error
	}{
		{"one", 1, 1299, 1299, nil},
		{"max", 99, 1299, 128601, nil},
		{"zero", 0, 1299, 0, failure.ErrInvalid},
		{"hundred", 100, 1299, 0, failure.ErrInvalid},
		{"free book", 1, 0, 0, failure.ErrFailedPrecondition},
		{"overflow", 99, int64(1) << 50, 0, failure.ErrFailedPrecondition},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := ordering.NewLine(bookA, "A", tt.qty, eur(t, tt.price))
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && l.LineTotal.Minor() != tt.want {
				t.Fatalf("line total %v, want %d", l.LineTotal, tt.want)
			}
		})
	}
}

func TestPlaceRefusesBadOrders(t *testing.T) {
	addr, _ := ordering.NewAddress(homeAddress)
	a, _ := ordering.NewLine(bookA, "A", 1, eur(t, 100))
	usd, _ := ordering.NewLine(bookB, "B", 1, mustUSD(t, 100))
	many := make([]ordering.Line, 101)
	for i := range many {
		many[i], _ = ordering.NewLine(fmt.Sprintf("b%03d", i), "x", 1, eur(t, 1))
	}
	base := ordering.PlaceInput{ID: "o", Buyer: ordering.Buyer{UserID: "alice"}, RequestID: "r", Address: addr, PaymentToken: "tok", Now: t0}
	tests := []struct {
		name    string
		lines   []ordering.Line
		wantErr error
	}{
		{"no lines", nil, failure.ErrFailedPrecondition},
		{"two currencies", []ordering.Line{a, usd}, failure.ErrFailedPrecondition},
		{"101 lines", many, failure.ErrInvalid},
		{"the same book twice", []ordering.Line{a, a}, failure.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := base
			in.Lines = tt.lines
			if _, _, err := ordering.Place(in); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Place = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestCanTransition(t *testing.T) {
	allowed := map[[2]ordering.Status]bool{}
	for _, p := range [][2]ordering.Status{
		{ordering.StatusUnspecified, ordering.StatusPending},
		{ordering.StatusPending, ordering.StatusStockReserved},
		{ordering.StatusPending, ordering.StatusFailed},
		{ordering.StatusPending, ordering.StatusCancelled},
		{ordering.StatusStockReserved, ordering.StatusAwaitingPayment},
		{ordering.StatusStockReserved, ordering.StatusConfirmed},
		{ordering.StatusStockReserved, ordering.StatusFailed},
		{ordering.StatusStockReserved, ordering.StatusCancelled},
		{ordering.StatusAwaitingPayment, ordering.StatusConfirmed},
		{ordering.StatusAwaitingPayment, ordering.StatusFailed},
		{ordering.StatusAwaitingPayment, ordering.StatusCancelled},
		{ordering.StatusConfirmed, ordering.StatusShipped},
		{ordering.StatusConfirmed, ordering.StatusCancelled},
		{ordering.StatusShipped, ordering.StatusCompleted},
	} {
		allowed[p] = true
	}
	all := append([]ordering.Status{ordering.StatusUnspecified}, ordering.Statuses...)
	for _, from := range all {
		for _, to := range all {
			if got := ordering.CanTransition(from, to); got != allowed[[2]ordering.Status{from, to}] {
				t.Errorf("CanTransition(%v, %v) = %v", from, to, got)
			}
		}
	}
}

// orderIn returns a fresh order driven into status through the real
// transitions.
func orderIn(t *testing.T, status ordering.Status) *ordering.Order {
	t.Helper()
	addr, _ := ordering.NewAddress(homeAddress)
	l, _ := ordering.NewLine(bookA, "A", 2, eur(t, 1299))
	o, _, err := ordering.Place(ordering.PlaceInput{ID: "o1", Buyer: ordering.Buyer{UserID: "alice"}, RequestID: "r", Lines: []ordering.Line{l}, Address: addr, PaymentToken: "tok", Now: t0})
	if err != nil {
		t.Fatal(err)
	}
	customer := ordering.Actor{Kind: ordering.ActorCustomer, ID: "alice"}
	adm := ordering.Actor{Kind: ordering.ActorAdmin, ID: "root"}
	must := func(_ []ordering.Event, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	ok := ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "p"}
	switch status {
	case ordering.StatusPending:
	case ordering.StatusStockReserved:
		o.ReserveStock(t0, t0)
	case ordering.StatusAwaitingPayment:
		o.ReserveStock(t0, t0)
		must(o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "p", ClientSecret: "s"}, t0, t0))
	case ordering.StatusConfirmed, ordering.StatusShipped, ordering.StatusCompleted:
		o.ReserveStock(t0, t0)
		must(o.ApplyCharge(ok, t0, t0))
		if status != ordering.StatusConfirmed {
			must(o.Ship(adm, "", t0))
		}
		if status == ordering.StatusCompleted {
			must(o.Complete(adm, t0))
		}
	case ordering.StatusFailed:
		o.RejectStock(ordering.ReasonOutOfStock, []string{bookA}, t0)
	case ordering.StatusCancelled:
		must(o.Cancel(customer, "", t0))
	}
	if o.Status() != status {
		t.Fatalf("setup reached %v, want %v", o.Status(), status)
	}
	return o
}

// TestTransitions applies every operation to an order in every status: it
// either moves the order as the state machine says (one history entry, the
// version one up), changes nothing (an idempotent repeat or a late saga
// answer), or is refused with FailedPrecondition and changes nothing.
func TestTransitions(t *testing.T) {
	customer := ordering.Actor{Kind: ordering.ActorCustomer, ID: "alice"}
	adm := ordering.Actor{Kind: ordering.ActorAdmin, ID: "root"}
	later := t0.Add(time.Minute)
	type op struct {
		name string
		do   func(*ordering.Order) ([]ordering.Event, error)
	}
	ops := []op{
		{"reserve", func(o *ordering.Order) ([]ordering.Event, error) { return o.ReserveStock(later, later), nil }},
		{"reject", func(o *ordering.Order) ([]ordering.Event, error) {
			return o.RejectStock(ordering.ReasonOutOfStock, []string{bookA}, later), nil
		}},
		{"paid", func(o *ordering.Order) ([]ordering.Event, error) {
			return o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeSucceeded, PaymentID: "p"}, later, later)
		}},
		{"action", func(o *ordering.Order) ([]ordering.Event, error) {
			return o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeRequiresAction, PaymentID: "p", ClientSecret: "s"}, later, later)
		}},
		{"declined", func(o *ordering.Order) ([]ordering.Event, error) {
			return o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeDeclined}, later, later)
		}},
		{"timeout", func(o *ordering.Order) ([]ordering.Event, error) { return o.TimeOut(later), nil }},
		{"cancel by customer", func(o *ordering.Order) ([]ordering.Event, error) { return o.Cancel(customer, "", later) }},
		{"cancel by admin", func(o *ordering.Order) ([]ordering.Event, error) { return o.Cancel(adm, "", later) }},
		{"ship", func(o *ordering.Order) ([]ordering.Event, error) { return o.Ship(adm, "T1", later) }},
		{"complete", func(o *ordering.Order) ([]ordering.Event, error) { return o.Complete(adm, later) }},
	}
	const (
		P  = ordering.StatusPending
		R  = ordering.StatusStockReserved
		A  = ordering.StatusAwaitingPayment
		C  = ordering.StatusConfirmed
		S  = ordering.StatusShipped
		D  = ordering.StatusCompleted
		F  = ordering.StatusFailed
		X  = ordering.StatusCancelled
		no = ordering.StatusUnspecified // no change
		rf = ordering.Status(-1)        // refused
	)
	// want[status][op] is the status after the op.
	want := map[ordering.Status][]ordering.Status{
		//     reserve reject paid action declined timeout cancelC cancelA ship complete
		P: {R, F, rf, rf, rf, F, X, X, rf, rf},
		R: {no, no, C, A, F, F, rf, X, rf, rf},
		A: {no, no, C, no, F, F, X, X, rf, rf},
		C: {no, no, no, no, no, no, X, X, S, rf},
		S: {no, no, no, no, no, no, rf, rf, no, D},
		D: {no, no, no, no, no, no, rf, rf, rf, no},
		F: {no, no, no, no, no, no, rf, rf, rf, rf},
		X: {no, no, no, no, no, no, no, no, rf, rf},
	}
	for _, from := range ordering.Statuses {
		for i, op := range ops {
			t.Run(from.String()+"/"+op.name, func(t *testing.T) {
				o := orderIn(t, from)
				before := o.Snapshot()
				evs, err := op.do(o)
				after := o.Snapshot()
				switch w := want[from][i]; w {
				case rf:
					if !errors.Is(err, failure.ErrFailedPrecondition) {
						t.Fatalf("err = %v, want FailedPrecondition", err)
					}
					if !reflect.DeepEqual(before, after) || len(evs) != 0 {
						t.Fatal("a refused transition changed the order or raised events")
					}
				case no:
					if err != nil {
						t.Fatalf("err = %v, want a no-op", err)
					}
					if after.Status != from || after.Version != before.Version || len(after.History) != len(before.History) || len(evs) != 0 {
						t.Fatalf("no-op moved the order: %v v%d → %v v%d, %d events", from, before.Version, after.Status, after.Version, len(evs))
					}
				default:
					if err != nil {
						t.Fatalf("err = %v", err)
					}
					if !ordering.CanTransition(from, w) {
						t.Fatalf("table expects %v → %v, which the state machine forbids", from, w)
					}
					if after.Status != w || after.Version != before.Version+1 || len(after.History) != len(before.History)+1 {
						t.Fatalf("got %v v%d (%d entries), want %v v%d", after.Status, after.Version, len(after.History), w, before.Version+1)
					}
					h := after.History[len(after.History)-1]
					if h.From != from || h.To != w || h.Version != after.Version || !h.At.Equal(later) || h.Actor.Kind == ordering.ActorUnspecified {
						t.Fatalf("history entry %+v", h)
					}
					// Every transition but a reservation raises events, each
					// with the new version.
					if w != R && len(evs) == 0 {
						t.Fatal("transition raised no event")
					}
					for _, e := range evs {
						if m := reflect.ValueOf(e).FieldByName("Meta").Interface().(ordering.Meta); m.Version != after.Version || m.OrderID != "o1" {
							t.Fatalf("event %T meta %+v, want version %d", e, m, after.Version)
						}
					}
				}
			})
		}
	}
}

func TestFailureEvents(t *testing.T) {
	later := t0.Add(time.Minute)
	tests := []struct {
		name        string
		from        ordering.Status
		do          func(*ordering.Order) []ordering.Event
		wantReason  ordering.Reason
		wantRelease bool
		wantComp    ordering.Compensation
		wantBooks   []string
	}{
		{"out of stock", ordering.StatusPending, func(o *ordering.Order) []ordering.Event {
			return o.RejectStock(ordering.ReasonOutOfStock, []string{bookB, bookA, bookA}, later)
		}, ordering.ReasonOutOfStock, false, ordering.CompensationNone, []string{bookA, bookB}},
		{"book gone", ordering.StatusPending, func(o *ordering.Order) []ordering.Event {
			return o.RejectStock(ordering.ReasonBookUnavailable, []string{bookA}, later)
		}, ordering.ReasonBookUnavailable, false, ordering.CompensationNone, []string{bookA}},
		{"stock timeout", ordering.StatusPending, func(o *ordering.Order) []ordering.Event { return o.TimeOut(later) },
			ordering.ReasonStockTimeout, true, ordering.CompensationNone, nil},
		{"payment timeout", ordering.StatusStockReserved, func(o *ordering.Order) []ordering.Event { return o.TimeOut(later) },
			ordering.ReasonPaymentTimeout, true, ordering.CompensationVoidDue, nil},
		{"3-D Secure expired", ordering.StatusAwaitingPayment, func(o *ordering.Order) []ordering.Event { return o.TimeOut(later) },
			ordering.ReasonPaymentActionFailed, true, ordering.CompensationVoidDue, nil},
		{"declined", ordering.StatusStockReserved, func(o *ordering.Order) []ordering.Event {
			evs, _ := o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeDeclined}, later, later)
			return evs
		}, ordering.ReasonPaymentDeclined, true, ordering.CompensationNone, nil},
		{"insufficient funds", ordering.StatusStockReserved, func(o *ordering.Order) []ordering.Event {
			evs, _ := o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeInsufficientFunds}, later, later)
			return evs
		}, ordering.ReasonInsufficientFunds, true, ordering.CompensationNone, nil},
		{"declined after 3-D Secure", ordering.StatusAwaitingPayment, func(o *ordering.Order) []ordering.Event {
			evs, _ := o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeDeclined}, later, later)
			return evs
		}, ordering.ReasonPaymentActionFailed, true, ordering.CompensationVoidDue, nil},
		{"gateway error", ordering.StatusStockReserved, func(o *ordering.Order) []ordering.Event {
			evs, _ := o.ApplyCharge(ordering.ChargeResult{Outcome: ordering.ChargeFailed}, later, later)
			return evs
		}, ordering.ReasonPaymentError, true, ordering.CompensationNone, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := orderIn(t, tt.from)
			evs := tt.do(o)
			var failed *ordering.OrderFailed
			for _, e := range evs {
				if f, ok := e.(ordering.OrderFailed); ok {
					failed = &f
				}
			}
			if failed == nil {
				t.Fatalf("events %#v have no OrderFailed", evs)
			}
			f := o.Failure()
			if o.Status() != ordering.StatusFailed || f.Reason != tt.wantReason || failed.Failure.Reason != tt.wantReason || f.Detail == "" {
				t.Fatalf("status %v failure %+v event %+v; want reason %v", o.Status(), f, failed.Failure, tt.wantReason)
			}
			if failed.ReleaseStock != tt.wantRelease || o.Compensation() != tt.wantComp || !reflect.DeepEqual(f.BookIDs, tt.wantBooks) {
				t.Fatalf("release %v comp %v books %v; want %v %v %v", failed.ReleaseStock, o.Compensation(), f.BookIDs, tt.wantRelease, tt.wantComp, tt.wantBooks)
			}
		})
	}
}

func TestViewHidesSecrets(t *testing.T) {
	o := orderIn(t, ordering.StatusAwaitingPayment)
	if v := o.ViewFor("alice"); v.Action.ClientSecret != "s" {
		t.Fatalf("owner's view lacks the client secret: %+v", v.Action)
	}
	if v := o.ViewFor("root"); v.Action.ClientSecret != "" {
		t.Fatal("another caller sees the client secret")
	}
	if s := fmt.Sprintf("%+v", o.ViewFor("alice")); strings.Contains(s, "tok") {
		t.Fatalf("view carries the payment token: %s", s)
	}
}

func TestRestoreRoundTrip(t *testing.T) {
	o := orderIn(t, ordering.StatusShipped)
	back, err := ordering.Restore(o.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back.Snapshot(), o.Snapshot()) {
		t.Fatal("Restore(Snapshot()) differs")
	}
	if _, err := ordering.Restore(ordering.Snapshot{}); err == nil {
		t.Fatal("Restore accepted an empty snapshot")
	}
}
